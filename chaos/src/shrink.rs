//! Shrinking a failing fault schedule: the smallest schedule found that still makes the same
//! check fail, so a failure drawn by a swarm reads as a short script a person can follow.
//!
//! Owns: [`shrink`], a greedy delta-debugging loop over a schedule ([`Scripted`] faults) with a
//! caller's oracle: drop faults (halves, then one at a time), shorten what lasts (halving),
//! start faults later (halfway to the end), and strike fewer hosts (one host off a group side
//! at a time), each change kept only when the oracle still says "fails", until no change helps
//! or the run budget is spent. Deterministic: the order of attempts depends only on the
//! schedule. Must not: run anything itself (the oracle does) or know scenario files.

use crate::fault::Fault;
use crate::nemesis::Scripted;

const MS: u64 = 1_000_000;

/// The smallest schedule found, and what finding it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Shrunk {
    /// The schedule: the oracle said it fails (or, with no attempt accepted, the input).
    pub faults: Vec<Scripted>,
    /// How many times the oracle was asked.
    pub runs: u32,
    /// Whether the budget ran out before no change helped: the result may shrink further.
    pub exhausted: bool,
}

/// Shrinks `faults`, which fail, asking `fails` about at most `max_runs` candidates; no fault
/// is moved to start at or after `end_ns` (the end of the run's traffic).
pub fn shrink(faults: Vec<Scripted>, end_ns: u64, max_runs: u32, fails: impl FnMut(&[Scripted]) -> bool) -> Shrunk {
    let mut s = Shrinker { best: faults, runs: 0, max_runs, fails };
    loop {
        let before = s.best.clone();
        s.drop_faults();
        s.shorten();
        s.later(end_ns);
        s.fewer_hosts();
        if s.best == before || s.spent() {
            break;
        }
    }
    Shrunk { exhausted: s.spent(), faults: s.best, runs: s.runs }
}

struct Shrinker<F> {
    best: Vec<Scripted>,
    runs: u32,
    max_runs: u32,
    fails: F,
}

impl<F: FnMut(&[Scripted]) -> bool> Shrinker<F> {
    fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Asks the oracle about `candidate`, and keeps it when it fails.
    fn try_keep(&mut self, candidate: Vec<Scripted>) -> bool {
        if self.spent() || candidate == self.best {
            return false;
        }
        self.runs += 1;
        if (self.fails)(&candidate) {
            self.best = candidate;
            return true;
        }
        false
    }

    /// Drops runs of faults, halves first, then smaller runs, down to single faults.
    fn drop_faults(&mut self) {
        let mut chunk = self.best.len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < self.best.len() && !self.spent() {
                let mut candidate = self.best.clone();
                candidate.drain(start..(start + chunk).min(candidate.len()));
                if !self.try_keep(candidate) {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    /// Halves each lasting fault's length while it still fails (to whole milliseconds).
    fn shorten(&mut self) {
        for i in 0..self.best.len() {
            while let Some(length) = self.best[i].length_ns {
                let shorter = (length / 2 / MS) * MS;
                if shorter == 0 || self.spent() {
                    break;
                }
                let mut candidate = self.best.clone();
                candidate[i].length_ns = Some(shorter);
                if let Fault::LongTransactions { hold_ns, .. } = &mut candidate[i].fault {
                    *hold_ns = shorter;
                }
                if !self.try_keep(candidate) {
                    break;
                }
            }
        }
    }

    /// Moves each fault halfway to `end_ns` while it still fails (to whole milliseconds); the
    /// schedule stays in time order.
    fn later(&mut self, end_ns: u64) {
        for i in 0..self.best.len() {
            loop {
                let at = self.best[i].at_ns;
                let later = (at + end_ns.saturating_sub(at) / 2) / MS * MS;
                if later <= at || later >= end_ns || self.spent() {
                    break;
                }
                let mut candidate = self.best.clone();
                candidate[i].at_ns = later;
                candidate.sort_by_key(|f| f.at_ns);
                if !self.try_keep(candidate) {
                    break;
                }
            }
        }
    }

    /// Takes hosts off a fault's group sides, one at a time, keeping each side non-empty.
    fn fewer_hosts(&mut self) {
        for i in 0..self.best.len() {
            let mut h = 0;
            while h < side_hosts(&self.best[i].fault) && !self.spent() {
                let mut candidate = self.best.clone();
                if !without_host(&mut candidate[i].fault, h) || !self.try_keep(candidate) {
                    h += 1;
                }
            }
        }
    }
}

/// The group sides of a fault that hosts can be taken off: a partition's or heal's two sides,
/// a shard change's apps; none for a fault that strikes one host or a link.
fn groups(fault: &mut Fault) -> Vec<&mut Vec<u16>> {
    match fault {
        Fault::Partition { a, b }
        | Fault::Heal { a, b }
        | Fault::PartitionOneWay { from: a, to: b }
        | Fault::HealOneWay { from: a, to: b } => vec![a, b],
        Fault::ShardLeave { apps, .. } | Fault::ShardJoin { apps, .. } => vec![apps],
        Fault::Kill { .. }
        | Fault::Restart { .. }
        | Fault::LinkDegrade { .. }
        | Fault::LinkRestore { .. }
        | Fault::Tune { .. }
        | Fault::LongTransactions { .. }
        | Fault::ClockSkew { .. }
        | Fault::CacheFlush { .. }
        | Fault::CdnPurge { .. }
        // A region fault strikes its region whole: its hosts are the region's, not a choice.
        | Fault::RegionOutage { .. }
        | Fault::RegionRestore { .. }
        | Fault::RegionPartition { .. }
        | Fault::RegionHeal { .. }
        | Fault::RegionLatency { .. }
        | Fault::RegionLatencyRestore { .. }
        | Fault::RegionSkew { .. } => Vec::new(),
    }
}

/// How many hosts a fault's group sides hold.
fn side_hosts(fault: &Fault) -> usize {
    groups(&mut fault.clone()).iter().map(|g| g.len()).sum()
}

/// Removes the `h`-th host of the fault's group sides (counting them in order), unless that
/// would leave a side empty; whether it did.
fn without_host(fault: &mut Fault, mut h: usize) -> bool {
    for side in groups(fault) {
        if h < side.len() {
            if side.len() == 1 {
                return false;
            }
            side.remove(h);
            return true;
        }
        h -= side.len();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn kill(host: u16, at_s: u64, for_s: u64) -> Scripted {
        Scripted { at_ns: at_s * S, fault: Fault::Kill { host }, length_ns: Some(for_s * S) }
    }

    fn killed(faults: &[Scripted], host: u16) -> Option<&Scripted> {
        faults.iter().find(|f| f.fault == Fault::Kill { host })
    }

    #[test]
    fn it_keeps_only_the_faults_the_failure_needs() {
        // Fails when host 3 is killed for at least 2 s: the other faults are noise.
        let faults = vec![kill(1, 2, 4), kill(2, 3, 4), kill(3, 5, 8), kill(4, 6, 1), kill(5, 9, 2)];
        let oracle = |f: &[Scripted]| killed(f, 3).is_some_and(|k| k.length_ns.unwrap() >= 2 * S);
        let shrunk = shrink(faults, 30 * S, 500, oracle);
        assert_eq!(shrunk.faults.len(), 1, "{:?}", shrunk.faults);
        let k = &shrunk.faults[0];
        assert_eq!(k.fault, Fault::Kill { host: 3 });
        assert!((2 * S..4 * S).contains(&k.length_ns.unwrap()), "shortened to {:?}", k.length_ns);
        assert!(k.at_ns > 5 * S, "moved later: {}", k.at_ns);
        assert!(!shrunk.exhausted);
    }

    #[test]
    fn two_faults_that_fail_only_together_both_stay() {
        let faults = vec![kill(1, 1, 10), kill(2, 2, 10), kill(3, 3, 10), kill(4, 4, 10)];
        let oracle = |f: &[Scripted]| killed(f, 1).is_some() && killed(f, 4).is_some();
        let shrunk = shrink(faults, 30 * S, 500, oracle);
        let mut hosts: Vec<u16> = shrunk.faults.iter().flat_map(|f| f.fault.hosts()).collect();
        hosts.sort();
        assert_eq!(hosts, vec![1, 4]);
        assert!(shrunk.faults.windows(2).all(|w| w[0].at_ns <= w[1].at_ns), "still in time order");
    }

    #[test]
    fn a_partition_loses_the_hosts_it_does_not_need() {
        let cut =
            Scripted { at_ns: S, fault: Fault::Partition { a: vec![0, 1], b: vec![2, 3, 4] }, length_ns: Some(5 * S) };
        let oracle = |f: &[Scripted]| {
            f.iter().any(|s| matches!(&s.fault, Fault::Partition { a, b } if a.contains(&1) && b.contains(&4)))
        };
        let shrunk = shrink(vec![cut], 30 * S, 500, oracle);
        assert_eq!(shrunk.faults[0].fault, Fault::Partition { a: vec![1], b: vec![4] });
    }

    #[test]
    fn the_budget_bounds_the_runs_and_says_so() {
        let faults: Vec<Scripted> = (0..20).map(|h| kill(h, 1 + u64::from(h), 5)).collect();
        let mut asked = 0;
        let shrunk = shrink(faults.clone(), 30 * S, 7, |f| {
            asked += 1;
            !f.is_empty()
        });
        assert_eq!((shrunk.runs, asked), (7, 7));
        assert!(shrunk.exhausted);
        assert!(shrunk.faults.len() < faults.len(), "it still made progress");
    }

    #[test]
    fn shrinking_is_deterministic_and_never_returns_a_passing_schedule() {
        let faults = vec![kill(1, 2, 4), kill(2, 3, 6), kill(3, 4, 8)];
        let oracle = |f: &[Scripted]| f.iter().map(|s| s.length_ns.unwrap_or(0)).sum::<u64>() >= 5 * S;
        let a = shrink(faults.clone(), 20 * S, 300, oracle);
        let b = shrink(faults, 20 * S, 300, oracle);
        assert_eq!(a, b);
        assert!(oracle(&a.faults), "the result still fails");
        assert!(a.faults.len() <= 2);
    }
}
