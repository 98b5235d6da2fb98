//! Recovery time after each fault: how long until the workload's success rate was back.
//!
//! Owns: [`recovery`]. Must not: decide verdicts (see `verdict`).
//!
//! Definitions:
//! - The success rate at time `t` is ok / ended over the workload requests that ended in the
//!   window `(t - rto_window, t]` (by completion time; a request outstanding at the end of the
//!   run ends then, failed). A window with no request has no rate: it neither drops nor
//!   recovers.
//! - Faults measured: those that may disrupt service ([`Fault::disrupts`]: kill, partitions,
//!   link degradation, a knob turned, long transactions, a clock skewed, a cache flushed, a
//!   shard leaving), not the repairs (restart, heal, link restore, a knob or a clock put back to
//!   normal, a shard joining).
//! - After a fault at `f`, the rate dropped if it fell below `recovery_ratio` at some time in
//!   `[f, g)`, where `g` is the time of the next measured fault (a drop after that is the next
//!   fault's). If it did not drop, RTO = 0. Otherwise RTO = `r - f`, where `r` is the earliest
//!   time after the drop at which the rate is at least the ratio and does not fall below it for
//!   one window (`[r, r + rto_window)`, ending by the end of the run); with no such `r`, the
//!   run did not recover.
//! - Detection = the first failover controller "detected" action, or DNS server finding an
//!   endpoint unhealthy, in `[f, g)` minus `f`; promotion = the first "promoted" action at or
//!   after it minus the detection. Absent when nothing detected or promoted.
//! - DNS switch = the first change of what a DNS name answers in `[f, g)` minus `f`. With one,
//!   the rest of the RTO after detection and promotion is the DNS part: health checks, TTLs
//!   running out in clients' caches, clients reconnecting.
//! - Replication lag at the loss = the largest lag, as last sampled before `f` (every 100 ms),
//!   of the replicas promoted in `[f, g)`: how long the oldest entry a new primary had heard of
//!   and not applied had waited, so what the promotion put at risk (entries still on the link,
//!   up to one link latency, are not counted). The RPO, the durability check's, is the span
//!   of the acknowledged writes among them, which were lost. Absent when nothing was promoted
//!   or the promoted replicas publish no lag.
//!
//! Cost: the rate is piecewise constant between the times requests enter and leave the window;
//! [`Segments`] holds one entry per change of class (O(n) to build), each fault walks them.

use super::CheckConfig;
use super::history::{FailoverKind, History};
use crate::fault::Fault;
use serde::{Deserialize, Serialize};

/// The recovery after one fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// The fault, hosts by name.
    pub fault: String,
    /// When it was applied, ns.
    pub t_ns: u64,
    /// Whether the success rate fell below the ratio after it.
    pub dropped: bool,
    /// Time to recovery, ns; `None`: not recovered by the end of the run.
    pub rto_ns: Option<u64>,
    /// Time from the fault to the controller's detection, ns.
    pub detection_ns: Option<u64>,
    /// Time from the detection to the controller's promotion, ns.
    pub promotion_ns: Option<u64>,
    /// Time from the fault to a DNS server's first change of an answer, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_switch_ns: Option<u64>,
    /// The largest replication lag of the replicas promoted after the fault, just before it, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_at_loss_ms: Option<u64>,
    /// The hosts the fault touched (indices, ascending).
    #[serde(default)]
    pub hosts: Vec<u16>,
    /// The longest RTO the run could show after this fault, ns: from the fault to one window
    /// before the end of the run (a recovery must hold for a window). An RTO bound above it
    /// cannot be judged when the run did not recover.
    #[serde(default)]
    pub observable_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No request ended in the window.
    Empty,
    /// The rate is at least the ratio.
    Good,
    /// The rate is below the ratio.
    Bad,
}

/// The success rate's class over time: `(start, class)`, each holding until the next start.
struct Segments(Vec<(u64, Class)>);

impl Segments {
    fn new(completions: &[(u64, bool)], window_ns: u64, ratio: f64) -> Self {
        let classify = |ok: u64, total: u64| match total {
            0 => Class::Empty,
            _ if ok as f64 / total as f64 >= ratio => Class::Good,
            _ => Class::Bad,
        };
        let mut out: Vec<(u64, Class)> = vec![(0, Class::Empty)];
        let (mut enter, mut leave, mut ok, mut total) = (0, 0, 0u64, 0u64);
        let n = completions.len();
        while leave < n {
            let next_in = completions.get(enter).map_or(u64::MAX, |c| c.0);
            let next_out = completions[leave].0.saturating_add(window_ns);
            let p = next_in.min(next_out);
            while enter < n && completions[enter].0 == p {
                (ok, total) = (ok + u64::from(completions[enter].1), total + 1);
                enter += 1;
            }
            while leave < n && completions[leave].0.saturating_add(window_ns) == p {
                (ok, total) = (ok - u64::from(completions[leave].1), total - 1);
                leave += 1;
            }
            let class = classify(ok, total);
            let last = out.last_mut().expect("never empty");
            if last.0 == p {
                last.1 = class;
            } else if last.1 != class {
                out.push((p, class));
            }
        }
        Self(out)
    }

    /// The index of the segment holding time `t`.
    fn at(&self, t: u64) -> usize {
        self.0.partition_point(|&(start, _)| start <= t).saturating_sub(1)
    }

    /// The RTO after a fault at `f_ns` whose drop must start before `next_ns`: `(dropped, rto)`.
    fn rto(&self, f_ns: u64, next_ns: u64, window_ns: u64, end_ns: u64) -> (bool, Option<u64>) {
        let segments = &self.0;
        let from = self.at(f_ns);
        let drop =
            (from..segments.len()).take_while(|&i| segments[i].0 < next_ns).find(|&i| segments[i].1 == Class::Bad);
        let Some(drop) = drop else {
            return (false, Some(0));
        };
        let mut i = drop + 1;
        while i < segments.len() {
            let (start, class) = segments[i];
            if start.saturating_add(window_ns) > end_ns {
                break;
            }
            if class != Class::Good {
                i += 1;
                continue;
            }
            match (i + 1..segments.len()).find(|&j| segments[j].1 == Class::Bad) {
                Some(bad) if segments[bad].0 < start + window_ns => i = bad + 1,
                _ => return (true, Some(start - f_ns)),
            }
        }
        (true, None)
    }
}

/// The recovery after every measured fault, in time order; `names` are the hosts' names by id.
pub fn recovery(history: &History, config: &CheckConfig, names: &[String]) -> Vec<Recovery> {
    let faults: Vec<(usize, &(u64, Fault))> =
        history.faults.iter().enumerate().filter(|(_, (_, f))| f.disrupts()).collect();
    if faults.is_empty() {
        return Vec::new();
    }
    let mut completions: Vec<(u64, bool)> = history.completions().collect();
    completions.sort_unstable();
    let window_ns = config.rto_window_ns.max(1);
    let segments = Segments::new(&completions, window_ns, config.recovery_ratio);
    let mut out = Vec::with_capacity(faults.len());
    for &(index, (f_ns, fault)) in &faults {
        let next_ns = faults.iter().map(|(_, (t, _))| *t).find(|t| t > f_ns).unwrap_or(u64::MAX);
        let (dropped, rto_ns) = segments.rto(*f_ns, next_ns, window_ns, history.end_ns);
        let within = |kinds: &[FailoverKind]| {
            history
                .failovers
                .iter()
                .find(|a| kinds.contains(&a.kind) && a.t_ns >= *f_ns && a.t_ns < next_ns)
                .map(|a| a.t_ns)
        };
        let detected = within(&[FailoverKind::Detected, FailoverKind::DnsDown]);
        let promoted = detected.and_then(|d| {
            history.failovers.iter().find(|a| a.kind == FailoverKind::Promoted && a.t_ns >= d).map(|a| a.t_ns - d)
        });
        out.push(Recovery {
            fault: fault.describe(names),
            t_ns: *f_ns,
            dropped,
            rto_ns,
            detection_ns: detected.map(|d| d - f_ns),
            promotion_ns: promoted,
            dns_switch_ns: within(&[FailoverKind::DnsAnswer]).map(|t| t - f_ns),
            lag_at_loss_ms: lag_at_loss(history, index, (*f_ns, next_ns), names),
            hosts: fault_hosts(fault),
            observable_ns: history.end_ns.saturating_sub(window_ns).saturating_sub(*f_ns),
        });
    }
    out
}

/// The largest lag, just before fault `index`, of the replicas promoted in `[f, next)`.
fn lag_at_loss(history: &History, index: usize, (f_ns, next_ns): (u64, u64), names: &[String]) -> Option<u64> {
    let lags = history.fault_lags.get(index)?;
    history
        .failovers
        .iter()
        .filter(|a| a.kind == FailoverKind::Promoted && a.t_ns >= f_ns && a.t_ns < next_ns)
        .filter_map(|a| {
            let name = a.text.strip_prefix(faultline_vocab::failover::PROMOTED)?.split_whitespace().next()?;
            let host = names.iter().position(|n| n == name)?;
            let (_, lag) = lags.iter().find(|(h, _)| usize::from(*h) == host)?;
            u64::try_from(*lag).ok()
        })
        .max()
}

/// Every host `fault` touches, ascending.
fn fault_hosts(fault: &Fault) -> Vec<u16> {
    let mut hosts = fault.hosts();
    hosts.sort_unstable();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{DB1, DB2, MS, Run, S};
    use crate::trace::{Event, Outcome};
    use proptest::prelude::*;

    fn config() -> CheckConfig {
        CheckConfig { rto_window_ns: S, recovery_ratio: 0.9, ..CheckConfig::default() }
    }

    /// One request every 10 ms for 20 s (each ends 1 ms later); those issued in `[from, to)` fail.
    fn traffic(run: &mut Run, from: u64, to: u64) {
        for i in 0..2_000 {
            let t = i * 10 * MS;
            run.other(t, if t >= from && t < to { Outcome::Unreachable } else { Outcome::Ok });
        }
        run.end_ns = 20 * S;
    }

    #[test]
    fn a_kill_with_a_failover_controller() {
        let mut run = Run::new();
        traffic(&mut run, 10 * S, 14 * S);
        run.fault(10 * S, Fault::Kill { host: DB1 });
        run.detected(13 * S + 10 * MS, DB1);
        run.promoted(13 * S + 30 * MS, DB2, 2, 10);
        let found = recovery(&run.history(), &config(), &Run::names());
        assert_eq!(found.len(), 1);
        let kill = &found[0];
        assert_eq!(kill.fault, "kill db1");
        assert!(kill.dropped);
        // Failures end from 10.001 s on; the first ok ends at 14.001 s. With a 1 s window and
        // 100 requests in it, the rate is back to 90% once 90 of the window's requests are ok:
        // at the 90th ok completion, 14.891 s.
        assert_eq!(kill.rto_ns, Some(4_891 * MS));
        assert_eq!(kill.detection_ns, Some(3_010 * MS));
        assert_eq!(kill.promotion_ns, Some(20 * MS));
        assert_eq!(kill.hosts, [DB1]);
        assert_eq!(kill.observable_ns, 9 * S, "the run ends at 20 s, one 1 s window after 19 s");
    }

    #[test]
    fn the_lag_at_the_loss_is_the_promoted_replica_s_last_sample_before_it() {
        let lag = |run: &mut Run, t_ns: u64, host: u16, ms: i64| {
            let gauge = faultline_vocab::gauge::LAG_MS.to_string();
            run.push(t_ns, Event::Sample { host, gauge, last: ms, mean: ms as f64 });
        };
        let mut run = Run::new();
        traffic(&mut run, 10 * S, 14 * S);
        lag(&mut run, 9_800 * MS, DB2, 55);
        lag(&mut run, 9_900 * MS, DB2, 38);
        run.fault(10 * S, Fault::Kill { host: DB1 });
        lag(&mut run, 10 * S, DB2, 900);
        run.detected(13 * S, DB1);
        run.promoted(13 * S + 30 * MS, DB2, 2, 10);
        run.fault(16 * S, Fault::Kill { host: DB2 });
        let found = recovery(&run.history(), &config(), &Run::names());
        assert_eq!(found[0].lag_at_loss_ms, Some(38), "the sample just before the kill, of the replica promoted");
        assert_eq!(found[1].lag_at_loss_ms, None, "nothing promoted after the second kill");
        let mut quiet = Run::new();
        traffic(&mut quiet, 10 * S, 14 * S);
        quiet.fault(10 * S, Fault::Kill { host: DB1 });
        quiet.promoted(13 * S, DB2, 2, 10);
        let found = recovery(&quiet.history(), &config(), &Run::names());
        assert_eq!(found[0].lag_at_loss_ms, None, "a replica that publishes no lag");
    }

    #[test]
    fn a_dns_server_detects_and_switches() {
        let mut run = Run::new();
        traffic(&mut run, 10 * S, 14 * S);
        let dns = |run: &mut Run, t_ns: u64, value: &str| {
            let value = value.to_string();
            run.push(t_ns, Event::State { host: 3, key: faultline_vocab::state::DNS.into(), value });
        };
        dns(&mut run, 0, "answer shop app-us");
        run.fault(5 * S, Fault::Tune { host: 3, knob: crate::fault::Knob::DnsTtl, value: 300_000, grow_per_s: 0 });
        run.fault(10 * S, Fault::Kill { host: DB1 });
        dns(&mut run, 12 * S, "app-us:unhealthy");
        dns(&mut run, 12 * S, "answer shop app-eu");
        dns(&mut run, 18 * S, "answer shop app-us");
        let found = recovery(&run.history(), &config(), &Run::names());
        assert_eq!(found[0].dns_switch_ns, None, "the first answer at start is no change");
        assert_eq!(found[1].detection_ns, Some(2 * S), "the DNS health check detected it");
        assert_eq!(found[1].promotion_ns, None);
        assert_eq!(found[1].dns_switch_ns, Some(2 * S), "the first change after the fault, not the failback");
    }

    #[test]
    fn without_a_controller_there_is_no_breakdown() {
        let mut run = Run::new();
        traffic(&mut run, 5 * S, 6 * S);
        run.fault(5 * S, Fault::Partition { a: vec![1], b: vec![DB1] });
        let found = recovery(&run.history(), &config(), &Run::names());
        assert_eq!(found[0].rto_ns, Some(1_891 * MS));
        assert_eq!((found[0].detection_ns, found[0].promotion_ns), (None, None));
        assert_eq!(found[0].hosts, [1, DB1], "both sides of the partition");
    }

    #[test]
    fn never_recovered() {
        let mut run = Run::new();
        traffic(&mut run, 5 * S, 30 * S);
        run.fault(5 * S, Fault::Kill { host: DB1 });
        let found = recovery(&run.history(), &config(), &Run::names());
        assert!(found[0].dropped);
        assert_eq!(found[0].rto_ns, None);
    }

    #[test]
    fn a_harmless_fault_has_rto_zero_and_repairs_are_not_measured() {
        let mut run = Run::new();
        traffic(&mut run, 12 * S, 13 * S);
        run.fault(3 * S, Fault::Tune { host: DB1, knob: crate::fault::Knob::Slowdown, value: 50, grow_per_s: 0 });
        run.fault(12 * S, Fault::Kill { host: DB1 });
        run.fault(15 * S, Fault::Restart { host: DB1 });
        let found = recovery(&run.history(), &config(), &Run::names());
        assert_eq!(found.len(), 2, "the restart is a repair");
        assert_eq!((found[0].dropped, found[0].rto_ns), (false, Some(0)), "the drop after 12 s is the kill's");
        assert_eq!(found[1].rto_ns, Some(1_891 * MS));
    }

    #[test]
    fn undoing_a_knob_or_a_clock_is_a_repair() {
        let mut run = Run::new();
        traffic(&mut run, 12 * S, 13 * S);
        let knob = crate::fault::Knob::DiskDelay;
        run.fault(3 * S, Fault::ClockSkew { host: DB1, offset_ns: -(S as i64), drift_ppm: 0 });
        run.fault(5 * S, Fault::Tune { host: DB1, knob, value: 0, grow_per_s: 0 });
        run.fault(6 * S, Fault::ClockSkew { host: DB1, offset_ns: 0, drift_ppm: 0 });
        run.fault(12 * S, Fault::PartitionOneWay { from: vec![DB1], to: vec![1] });
        let found = recovery(&run.history(), &config(), &Run::names());
        let measured: Vec<&str> = found.iter().map(|r| r.fault.as_str()).collect();
        assert_eq!(measured, ["clock of db1 jumps by -1.000s", "partition [db1] -> [app] one way"]);
        assert_eq!(found[1].rto_ns, Some(1_891 * MS));
    }

    proptest! {
        /// Against a brute-force evaluation of the rate on a 1 ms grid.
        #[test]
        fn rto_agrees_with_a_grid(outcomes in prop::collection::vec(any::<bool>(), 1..60), f in 0u64..60) {
            let window = 5;
            let completions: Vec<(u64, bool)> = outcomes.iter().enumerate().map(|(i, &ok)| (i as u64, ok)).collect();
            let end = completions.len() as u64 + 3;
            let rate = |t: u64| {
                let inside: Vec<bool> = completions.iter().filter(|c| c.0 <= t && c.0 + window > t).map(|c| c.1).collect();
                if inside.is_empty() { None } else { Some(inside.iter().filter(|&&ok| ok).count() * 4 >= inside.len() * 3) }
            };
            let drop = (f..end + window).find(|&t| rate(t) == Some(false));
            let expected = match drop {
                None => Some(0),
                Some(d) => (d..=end.saturating_sub(window))
                    .find(|&r| rate(r) == Some(true) && (r..r + window).all(|t| rate(t) != Some(false)))
                    .map(|r| r - f),
            };
            let segments = Segments::new(&completions, window, 0.75);
            prop_assert_eq!(segments.rto(f, u64::MAX, window, end).1, expected);
        }
    }
}
