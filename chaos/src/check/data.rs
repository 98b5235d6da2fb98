//! Every data-tier measurement of a run in one [`DataReport`], from its [`History`].
//!
//! Owns: [`evaluate`] and the report's data section types. Must not: decide verdicts (see
//! `verdict`), or format for people (see `report`).

use super::CheckConfig;
use super::durability::{Durability, OnePrimary, durability, one_primary};
use super::history::History;
use super::linear::{Linearizability, linearizability};
use super::reads::{ReadYourWrites, Staleness, read_your_writes, staleness};
use super::rto::{Recovery, recovery};
use crate::lin::Budget;
use serde::{Deserialize, Serialize};

/// One epoch of the replicated store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch.
    pub epoch: u64,
    /// The hosts that took the primary role in it, by name (more than one: split brain).
    pub primaries: Vec<String>,
    /// When it began, ns.
    pub start_ns: u64,
    /// The last LSN its first primary's log held when it began.
    pub base_lsn: u64,
    /// The epoch of that entry (0: an empty log).
    pub last_epoch: u64,
    /// The replication group it belongs to, in a sharded database (each has its own epochs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The data tier's measurements: what the store kept, what reads saw, how fast service came
/// back. Times and durations in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataReport {
    /// Successful reads that said what they returned.
    pub reads: u64,
    /// Writes acknowledged with an epoch and LSN.
    pub acknowledged_writes: u64,
    /// Epochs by number.
    pub epochs: Vec<EpochReport>,
    /// Failover controller actions left out of the RTO breakdown (past the history's cap).
    pub failovers_omitted: u64,
    /// Lost acknowledged writes and RPO; `None` when no node took the primary role.
    pub durability: Option<Durability>,
    /// Epochs with several primaries and writes to deposed ones; `None` without `Role` events.
    pub one_primary: Option<OnePrimary>,
    /// Reads after the same user's acknowledged writes.
    pub read_your_writes: ReadYourWrites,
    /// How old the values read were.
    pub staleness: Staleness,
    /// The linearizability check, when the run is judged on it.
    pub linearizability: Option<Linearizability>,
    /// The recovery after each fault.
    pub recovery: Vec<Recovery>,
    /// Faults left out of `recovery` (past the history's cap).
    pub faults_omitted: u64,
}

/// The data tier's measurements, or `None` when the run has no data-tier event (`Role`,
/// `Observed`) and no fault to measure recovery from. `names` are the hosts' names by id.
pub fn evaluate(history: &History, config: &CheckConfig, names: &[String]) -> Option<DataReport> {
    let recovery = recovery(history, config, names);
    if !history.has_data() && recovery.is_empty() {
        return None;
    }
    let name = |h: u16| names.get(h as usize).cloned().unwrap_or_else(|| format!("host#{h}"));
    let epochs = match &history.groups {
        Some(groups) => groups.histories.iter().flat_map(|(group, h)| epochs(h, Some(group), &name)).collect(),
        None => epochs(history, None, &name),
    };
    let (durability, one_primary) = match &history.groups {
        Some(groups) => (groups.durability(), history.has_roles.then(|| groups.one_primary(names))),
        None => (durability(history), history.has_roles.then(|| one_primary(history, names))),
    };
    Some(DataReport {
        reads: history.ops.iter().filter(|op| op.read().is_some()).count() as u64,
        acknowledged_writes: history.ops.iter().filter(|op| op.written().is_some()).count() as u64,
        epochs,
        failovers_omitted: history.failovers_omitted,
        durability,
        one_primary,
        read_your_writes: read_your_writes(history),
        staleness: staleness(history, config.max_staleness_ns),
        linearizability: config.linearizable.then(|| linearizability(history, Budget::default())),
        recovery,
        faults_omitted: history.faults_omitted,
    })
}

/// The epochs of one history, labelled with their group.
fn epochs(history: &History, group: Option<&String>, name: &impl Fn(u16) -> String) -> Vec<EpochReport> {
    history
        .epochs
        .iter()
        .map(|(&epoch, e)| EpochReport {
            epoch,
            primaries: e.primaries.iter().map(|&(h, _)| name(h)).collect(),
            start_ns: e.start_ns,
            base_lsn: e.base_lsn,
            last_epoch: e.last_epoch,
            group: group.cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{MS, Run, S};
    use crate::fault::Fault;

    #[test]
    fn a_failover_run_measured_end_to_end() {
        let run = Run::lossy_failover();
        let config = CheckConfig { linearizable: true, ..CheckConfig::default() };
        let data = evaluate(&run.history(), &config, &Run::names()).expect("data events");
        assert_eq!((data.reads, data.acknowledged_writes), (1, 2));
        assert_eq!(data.epochs.len(), 2);
        assert_eq!(data.epochs[1].primaries, ["db2"]);
        assert_eq!(data.durability.as_ref().map(|d| d.lost), Some(1));
        assert!(data.one_primary.as_ref().is_some_and(OnePrimary::holds));
        assert_eq!(data.read_your_writes.violations, 1);
        assert_eq!(data.staleness.max_ns, 999 * MS);
        assert_eq!(data.linearizability.as_ref().map(|l| l.verdict.as_str()), Some("illegal"));
        assert_eq!(data.recovery.len(), 1);
    }

    #[test]
    fn nothing_to_measure_is_no_section() {
        let mut run = Run::new();
        run.other(S, crate::trace::Outcome::Ok);
        assert_eq!(evaluate(&run.history(), &CheckConfig::default(), &Run::names()), None);
        run.fault(2 * S, Fault::Kill { host: 1 });
        let data = evaluate(&run.history(), &CheckConfig::default(), &Run::names()).expect("a fault to measure");
        assert_eq!((data.durability, data.one_primary, data.linearizability), (None, None, None));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::check::LinVerdict;
    use crate::check::testkit::{DB1, MS, Run};
    use proptest::prelude::*;

    /// A correct register on one key: operations one after another (never overlapping), each
    /// read returning the latest write. Returns the run and, per read, (request, the writes
    /// before it).
    fn sequential(ops: &[(bool, u32)]) -> (Run, Vec<(u64, Vec<u64>)>) {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for (i, &(write, user)) in ops.iter().enumerate() {
            let t = (i as u64 + 1) * 10 * MS;
            if write {
                writes.push(run.write(t, MS, user, 1, Some((1, writes.len() as u64 + 1))));
            } else {
                let req = run.read(t, MS, user, 1, writes.last().copied());
                reads.push((req, writes.clone()));
            }
        }
        (run, reads)
    }

    fn config() -> CheckConfig {
        CheckConfig { linearizable: true, read_your_writes: true, ..CheckConfig::default() }
    }

    proptest! {
        #[test]
        fn a_correct_register_passes_every_check(ops in prop::collection::vec((any::<bool>(), 0u32..3), 1..40)) {
            let (run, _) = sequential(&ops);
            let data = evaluate(&run.history(), &config(), &Run::names()).expect("data");
            prop_assert_eq!(data.read_your_writes.violations, 0);
            prop_assert_eq!(data.staleness.max_ns, 0);
            prop_assert_eq!(data.linearizability.map(|l| l.verdict), Some(LinVerdict::Ok));
            prop_assert_eq!(data.durability.map(|d| d.lost), Some(0));
        }

        /// The same with one read turned stale (it returns an older write, or nothing): the
        /// linearizability and staleness checks see it.
        #[test]
        fn a_stale_read_is_caught(
            ops in prop::collection::vec((any::<bool>(), 0u32..3), 1..40),
            pick in any::<prop::sample::Index>(),
            back in any::<prop::sample::Index>(),
        ) {
            let (run, reads) = sequential(&ops);
            let candidates: Vec<&(u64, Vec<u64>)> = reads.iter().filter(|(_, w)| !w.is_empty()).collect();
            prop_assume!(!candidates.is_empty());
            let (read, before) = candidates[pick.index(candidates.len())];
            let stale = back.index(before.len()); // 0 = absent, k = the k-th write
            let writer = stale.checked_sub(1).map(|k| before[k]);
            let mut records = run.records();
            for record in &mut records {
                if let crate::trace::Event::Observed { req, what } = &mut record.event
                    && req == read
                {
                    *what = crate::trace::Observation::Read { writer, lsn: 0 };
                }
            }
            let mut history = History::new();
            for record in &records {
                history.observe(record.t_ns, &record.event);
            }
            history.finish(records.last().map_or(0, |r| r.t_ns));
            let data = evaluate(&history, &config(), &Run::names()).expect("data");
            prop_assert_eq!(data.linearizability.map(|l| l.verdict), Some(LinVerdict::Illegal));
            prop_assert!(data.staleness.max_ns > 0);
            prop_assert_eq!(data.staleness.worst_read, Some(*read));
        }
    }
}
