//! The active-active section of the report: whether the regions of an active-active store
//! hold the same writes, how far behind each one fell and how soon they caught up after the
//! last fault, and which acknowledged writes last-writer-wins threw away.
//!
//! Owns: the fold of the `geo_window` and `lww_discard` state changes and the `geo_behind_ms`
//! and `geo_counters` gauges into a [`GeoReport`], the agreement and counters checks, and the
//! convergence objective's verdict.
//! Must not: look at other events beyond faults and power, or know how the nodes replicate.
//!
//! Definitions:
//! - A window's digest is the XOR of hashes of the writes stamped in it that a node holds;
//!   each node reports it once it holds every region's writes up to the window's end. Two
//!   nodes that report different digests for one window hold different writes: the regions
//!   have diverged for good (the agreement check fails).
//! - A node is caught up when it is at most [`CAUGHT_UP_MS`] behind (its clock minus the
//!   oldest point up to which it holds every peer's writes). The regions have converged after
//!   the last fault at the first gauge sample from which every node that is up is caught up
//!   (and they are at the end of the run); never, if not.
//! - A write lost to LWW is one a node discarded on arrival because the key held a higher
//!   version, counted once whatever the number of nodes that discarded it. It was lost to
//!   clock skew when it was issued after the winning write had been acknowledged (the winner
//!   came first in real time, yet its stamp was higher): the order users saw was reversed.
//!   Writes are named by the first 8 bytes of their values, which the workload makes its
//!   request ids.
//! - Counters lose no increment when every node up at the end holds at least the acknowledged
//!   increments and at most those plus the ones whose outcome is unknown (each adds 1). The
//!   values are read at the end, so the check needs the traffic to stop [`SETTLE_NS`] before
//!   it (as Jepsen's final reads wait for quiet); if not, a shortfall is Unknown, not Fail.

use super::{Check, Evidence, Verdict};
use crate::check::History;
use crate::trace::{Op, Outcome};
use faultline_vocab::{gauge, state};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A node at most this far behind is caught up, milliseconds.
pub const CAUGHT_UP_MS: i64 = 1_000;
/// The counters are judged on their values at the end only when the last increment was sent
/// at least this long before it (replication and the gauges' publication take that long).
pub const SETTLE_NS: u64 = 2_000_000_000;
/// Disagreements listed in the report.
const LISTED: usize = 5;
const NS_PER_S: f64 = 1e9;

/// One active-active node's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoNodeReport {
    /// Its host.
    pub host: String,
    /// Writes it discarded on arrival.
    pub discarded: u64,
    /// Batches it refused because their sender's clock was too far ahead.
    pub refused: u64,
    /// The furthest behind it fell, milliseconds.
    pub max_behind_ms: i64,
    /// How far behind it was at the end, milliseconds.
    pub behind_at_end_ms: i64,
    /// Windows it reported holding in full.
    pub windows: u64,
    /// The sum of its counters' values at the end.
    pub counters: i64,
    /// Whether it was up at the end.
    pub up_at_end: bool,
}

/// Two nodes that reported different digests for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// The window's index.
    pub window: u64,
    /// The first node to report it, and its digest.
    pub first: (String, String),
    /// A node that reported another digest, and that digest.
    pub other: (String, String),
    /// When the other reported it, seconds.
    pub at_s: f64,
}

/// The active-active section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoReport {
    /// Each node, by host.
    pub nodes: Vec<GeoNodeReport>,
    /// Windows reported by at least two nodes (compared).
    pub windows_compared: u64,
    /// Windows whose digests differed.
    pub disagreements: u64,
    /// The first of them.
    pub disagreements_listed: Vec<Disagreement>,
    /// Distinct writes lost to last-writer-wins.
    pub lww_lost: u64,
    /// Of those, issued after the winner was acknowledged (the clocks reversed real time).
    pub lww_lost_to_skew: u64,
    /// The last fault, seconds (convergence is measured from it); `None`: no fault.
    pub last_fault_s: Option<f64>,
    /// Seconds from the last fault (or the start) until every node was caught up; `None`:
    /// not caught up at the end.
    pub converged_after_s: Option<f64>,
    /// Counter increments (by 1) acknowledged.
    pub increments_acked: u64,
    /// Counter increments whose outcome is unknown (timed out, or outstanding at the end): each
    /// may or may not have been applied.
    pub increments_unknown: u64,
}

#[derive(Debug, Clone, Default)]
struct NodeAcc {
    discarded: u64,
    refused: u64,
    behind_ms: i64,
    max_behind_ms: i64,
    windows: u64,
    counters: i64,
    up: bool,
}

/// A window two nodes reported with different digests: (host, digest) of each, and when the
/// second reported it.
#[derive(Debug, Clone, Copy)]
struct Found {
    window: u64,
    first: (u16, u64),
    other: (u16, u64),
    t_ns: u64,
}

/// Folds the active-active events of a run.
#[derive(Debug, Clone, Default)]
pub struct GeoAcc {
    nodes: BTreeMap<u16, NodeAcc>,
    /// Per window: the first report (host, digest).
    windows: BTreeMap<u64, (u16, u64)>,
    compared: BTreeSet<u64>,
    /// Windows whose digests differed, in the order found (each window once).
    disagreements: Vec<Found>,
    disagreeing: BTreeSet<u64>,
    /// Writes discarded: (key, loser) -> winner, as named in the reports.
    lost: BTreeMap<(String, String), String>,
    last_fault_ns: Option<u64>,
    /// When every node that is up was last found caught up from a state of not all caught up.
    caught_up_since_ns: Option<u64>,
}

impl GeoAcc {
    /// Takes in a state change; returns whether it was an active-active one (the report's list
    /// of state changes leaves those out: they are many, and summed up here).
    pub fn change(&mut self, t_ns: u64, host: u16, key: &str, value: &str) -> bool {
        if key == state::GEO_WINDOW {
            self.window(t_ns, host, value);
            true
        } else if key == state::LWW_DISCARD {
            let mut words = value.split(' ');
            if let (Some(k), Some(loser), Some(winner)) = (words.next(), words.next(), words.next()) {
                self.lost.entry((k.to_string(), loser.to_string())).or_insert_with(|| winner.to_string());
            }
            self.node(host).discarded += 1;
            true
        } else {
            false
        }
    }

    fn node(&mut self, host: u16) -> &mut NodeAcc {
        self.nodes.entry(host).or_insert(NodeAcc { up: true, ..NodeAcc::default() })
    }

    fn window(&mut self, t_ns: u64, host: u16, value: &str) {
        let Some((k, digest)) = value.split_once(' ') else { return };
        let (Ok(k), Ok(digest)) = (k.parse::<u64>(), u64::from_str_radix(digest, 16)) else { return };
        self.node(host).windows += 1;
        match self.windows.get(&k) {
            None => {
                self.windows.insert(k, (host, digest));
            }
            Some(&(first, d)) if first != host => {
                self.compared.insert(k);
                if d != digest && self.disagreeing.insert(k) {
                    self.disagreements.push(Found { window: k, first: (first, d), other: (host, digest), t_ns });
                }
            }
            Some(_) => {}
        }
    }

    /// Takes in a gauge sample; only the active-active gauges count.
    pub fn sample(&mut self, t_ns: u64, host: u16, name: &str, last: i64) {
        if name == gauge::GEO_BEHIND_MS {
            let node = self.node(host);
            node.behind_ms = last;
            node.max_behind_ms = node.max_behind_ms.max(last);
            self.settle(t_ns);
        } else if name == gauge::GEO_REFUSED {
            self.node(host).refused = u64::try_from(last).unwrap_or(0);
        } else if name == gauge::GEO_COUNTERS {
            self.node(host).counters = last;
        }
    }

    /// A host went up or down.
    pub fn power(&mut self, t_ns: u64, host: u16, up: bool) {
        if let Some(node) = self.nodes.get_mut(&host) {
            node.up = up;
            self.settle(t_ns);
        }
    }

    /// A fault was applied: convergence is measured again from it.
    pub fn fault(&mut self, t_ns: u64) {
        self.last_fault_ns = Some(t_ns);
        self.caught_up_since_ns = None;
        self.settle(t_ns);
    }

    fn settle(&mut self, t_ns: u64) {
        let all = self.nodes.values().filter(|n| n.up).all(|n| n.behind_ms <= CAUGHT_UP_MS);
        match (all, self.caught_up_since_ns) {
            (true, None) => self.caught_up_since_ns = Some(t_ns.max(self.last_fault_ns.unwrap_or(0))),
            (false, Some(_)) => self.caught_up_since_ns = None,
            _ => {}
        }
    }

    /// The section (`None` when the run had no active-active node), with the agreement check
    /// and, when the workload incremented counters, the counters check.
    pub fn finish(self, history: &History, hosts: &[String], end_ns: u64) -> Option<(GeoReport, Vec<Check>)> {
        if self.nodes.is_empty() {
            return None;
        }
        let name = |h: u16| hosts.get(usize::from(h)).cloned().unwrap_or_else(|| format!("#{h}"));
        let (lww_lost, lww_lost_to_skew) = lost_to_skew(&self.lost, history);
        let adds = history.ops.iter().filter(|op| op.op == Op::Add);
        let increments_acked = adds.clone().filter(|op| op.outcome == Outcome::Ok).count() as u64;
        let increments_unknown = adds.clone().filter(|op| op.outcome == Outcome::Timeout).count() as u64;
        let last_increment_ns = adds.map(|op| op.invoke_ns).max();
        let from_ns = self.last_fault_ns.unwrap_or(0);
        let report = GeoReport {
            nodes: self
                .nodes
                .iter()
                .map(|(h, n)| GeoNodeReport {
                    host: name(*h),
                    discarded: n.discarded,
                    refused: n.refused,
                    max_behind_ms: n.max_behind_ms,
                    behind_at_end_ms: n.behind_ms,
                    windows: n.windows,
                    counters: n.counters,
                    up_at_end: n.up,
                })
                .collect(),
            windows_compared: self.compared.len() as u64,
            disagreements: self.disagreements.len() as u64,
            disagreements_listed: self
                .disagreements
                .iter()
                .take(LISTED)
                .map(|f| Disagreement {
                    window: f.window,
                    first: (name(f.first.0), format!("{:016x}", f.first.1)),
                    other: (name(f.other.0), format!("{:016x}", f.other.1)),
                    at_s: f.t_ns as f64 / NS_PER_S,
                })
                .collect(),
            lww_lost,
            lww_lost_to_skew,
            last_fault_s: self.last_fault_ns.map(|t| t as f64 / NS_PER_S),
            converged_after_s: self.caught_up_since_ns.map(|t| t.saturating_sub(from_ns) as f64 / NS_PER_S),
            increments_acked,
            increments_unknown,
        };
        // A store of one region has nothing to agree with.
        let mut checks: Vec<Check> = Vec::new();
        if report.nodes.len() > 1 {
            checks.push(agreement_check(&report, self.disagreements.first()));
        }
        let settled = last_increment_ns.is_none_or(|t| t.saturating_add(SETTLE_NS) <= end_ns);
        checks.extend(counters_check(&report, settled));
        Some((report, checks))
    }
}

/// Distinct writes lost, and those of them issued after their winner was acknowledged.
fn lost_to_skew(lost: &BTreeMap<(String, String), String>, history: &History) -> (u64, u64) {
    let req = |name: &str| u64::from_str_radix(name, 16).ok().filter(|_| name.len() == 16);
    let wanted: BTreeSet<u64> = lost.iter().flat_map(|((_, l), w)| [req(l), req(w)]).flatten().collect();
    let times: BTreeMap<u64, (u64, Option<u64>)> = history
        .ops
        .iter()
        .filter(|op| wanted.contains(&op.req))
        .map(|op| (op.req, (op.invoke_ns, op.complete_ns)))
        .collect();
    let skewed = lost
        .iter()
        .filter(|((_, loser), winner)| {
            let (Some(l), Some(w)) = (req(loser).and_then(|r| times.get(&r)), req(winner).and_then(|r| times.get(&r)))
            else {
                return false;
            };
            matches!(w.1, Some(acked) if l.0 > acked)
        })
        .count();
    (lost.len() as u64, skewed as u64)
}

fn agreement_check(report: &GeoReport, first: Option<&Found>) -> Check {
    const NAME: &str = "active-active regions agree";
    if let (Some(found), Some(d)) = (first, report.disagreements_listed.first()) {
        let detail = format!(
            "{} of {} windows differ; first window {}: {} holds {}, {} holds {}",
            report.disagreements, report.windows_compared, d.window, d.first.0, d.first.1, d.other.0, d.other.1
        );
        let evidence = Evidence::at(Some(found.t_ns)).with_hosts([found.first.0, found.other.0]);
        return Check::new(NAME, Verdict::Fail, detail).with(evidence);
    }
    if report.windows_compared == 0 {
        return Check::new(NAME, Verdict::Unknown, "no window was held by two regions: nothing to compare");
    }
    let detail =
        format!("{} windows compared across {} regions, all equal", report.windows_compared, report.nodes.len());
    Check::new(NAME, Verdict::Pass, detail)
}

/// Whether every node up at the end holds every acknowledged increment and no more than were
/// sent: `None` when the workload incremented nothing.
fn counters_check(report: &GeoReport, settled: bool) -> Option<Check> {
    const NAME: &str = "counters lose no increment";
    let (acked, unknown) = (report.increments_acked, report.increments_unknown);
    if acked + unknown == 0 {
        return None;
    }
    let (low, high) = (acked as i64, (acked + unknown) as i64);
    let up: Vec<&GeoNodeReport> = report.nodes.iter().filter(|n| n.up_at_end).collect();
    let wrong: Vec<&&GeoNodeReport> = up.iter().filter(|n| n.counters < low || n.counters > high).collect();
    let expected = if unknown == 0 { format!("{acked}") } else { format!("{low} to {high}") };
    let values = up.iter().map(|n| format!("{} {}", n.host, n.counters)).collect::<Vec<_>>().join(", ");
    let detail = format!("{acked} acknowledged, {unknown} unknown; expected {expected} at every region: {values}");
    Some(match (up.is_empty(), wrong.is_empty(), settled) {
        (true, _, _) => Check::new(NAME, Verdict::Unknown, "no region was up at the end"),
        (false, true, _) => Check::new(NAME, Verdict::Pass, detail),
        (false, false, true) => Check::new(NAME, Verdict::Fail, detail),
        (false, false, false) => {
            let why = format!(
                "{detail}; increments went on until less than {} s before the end, so replication had no time to \
                 settle: end the traffic earlier (e.g. a `step` to rate 0) to judge",
                SETTLE_NS / 1_000_000_000
            );
            Check::new(NAME, Verdict::Unknown, why)
        }
    })
}

/// The convergence objective's verdict: caught up within `within_ns` of the last fault.
pub fn converged_verdict(report: Option<&GeoReport>, within_ns: u64) -> (Verdict, String) {
    let Some(report) = report else {
        return (Verdict::Unknown, "the run has no active-active store".into());
    };
    let bound = within_ns as f64 / NS_PER_S;
    let since = match report.last_fault_s {
        Some(t) => format!("the last fault at {t:.3} s"),
        None => "the start".into(),
    };
    match report.converged_after_s {
        Some(s) => {
            (Verdict::of(s <= bound), format!("every region caught up {s:.3} s after {since} (bound {bound:.3} s)"))
        }
        None => {
            let worst = report.nodes.iter().max_by_key(|n| n.behind_at_end_ms);
            let who = worst
                .map(|n| format!("; {} was {} ms behind at the end", n.host, n.behind_at_end_ms))
                .unwrap_or_default();
            (Verdict::Fail, format!("the regions had not caught up by the end, after {since}{who}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Event, Observation, Op, Outcome};

    const S: u64 = 1_000_000_000;

    fn hosts() -> Vec<String> {
        vec!["us".into(), "eu".into()]
    }

    fn invoke(history: &mut History, req: u64, t_ns: u64) {
        history.observe(t_ns, &Event::Invoke { req, user: 0, client: 9, service: 0, op: Op::Write, key: 1 });
        history.observe(t_ns, &Event::Observed { req, what: Observation::Written { lsn: 0, epoch: 0 } });
    }

    fn complete(history: &mut History, req: u64, t_ns: u64) {
        history.observe(t_ns, &Event::Complete { req, outcome: Outcome::Ok });
    }

    #[test]
    fn equal_digests_agree_and_a_different_one_fails_the_check() {
        let mut acc = GeoAcc::default();
        assert!(acc.change(S, 0, state::GEO_WINDOW, "7 00000000000000aa"));
        acc.change(S, 1, state::GEO_WINDOW, "7 00000000000000aa");
        let (report, checks) = acc.clone().finish(&History::new(), &hosts(), 100 * S).unwrap();
        assert_eq!((report.windows_compared, checks[0].verdict, checks.len()), (1, Verdict::Pass, 1));
        acc.change(2 * S, 0, state::GEO_WINDOW, "8 0000000000000001");
        acc.change(3 * S, 1, state::GEO_WINDOW, "8 0000000000000002");
        let (report, checks) = acc.finish(&History::new(), &hosts(), 100 * S).unwrap();
        let check = &checks[0];
        assert_eq!((report.disagreements, check.verdict), (1, Verdict::Fail));
        assert_eq!(check.evidence.t_ns, Some(3 * S));
        assert!(
            check.detail.contains("first window 8: us holds 0000000000000001, eu holds 0000000000000002"),
            "{}",
            check.detail
        );
        assert!(!GeoAcc::default().change(0, 0, state::BREAKER, "x:open"), "other keys are not its own");
    }

    #[test]
    fn nothing_compared_is_unknown_and_no_geo_node_is_no_section() {
        let mut acc = GeoAcc::default();
        acc.change(S, 0, state::GEO_WINDOW, "7 00000000000000aa");
        assert!(
            acc.clone().finish(&History::new(), &hosts(), 100 * S).unwrap().1.is_empty(),
            "one region agrees with nobody"
        );
        acc.sample(S, 1, gauge::GEO_BEHIND_MS, 0);
        assert_eq!(acc.finish(&History::new(), &hosts(), 100 * S).unwrap().1[0].verdict, Verdict::Unknown);
        assert!(GeoAcc::default().finish(&History::new(), &hosts(), 100 * S).is_none());
    }

    #[test]
    fn convergence_counts_from_the_last_fault_and_ignores_a_node_that_is_down() {
        let mut acc = GeoAcc::default();
        acc.sample(S, 0, gauge::GEO_BEHIND_MS, 50);
        acc.sample(S, 1, gauge::GEO_BEHIND_MS, 50);
        acc.fault(10 * S);
        acc.sample(12 * S, 0, gauge::GEO_BEHIND_MS, 2_000);
        acc.sample(13 * S, 0, gauge::GEO_BEHIND_MS, 300);
        acc.sample(13 * S, 1, gauge::GEO_BEHIND_MS, 5_000);
        acc.power(14 * S, 1, false);
        let (report, _) = acc.finish(&History::new(), &hosts(), 100 * S).unwrap();
        assert_eq!(report.converged_after_s, Some(4.0), "caught up when the lagging node went down");
        assert_eq!(report.nodes[1].max_behind_ms, 5_000);
        let (verdict, detail) = converged_verdict(Some(&report), 3 * S);
        assert_eq!(verdict, Verdict::Fail, "{detail}");
        assert_eq!(converged_verdict(Some(&report), 4 * S).0, Verdict::Pass);
        assert_eq!(converged_verdict(None, S).0, Verdict::Unknown);
    }

    fn counted(acked: u64, unknown: u64, values: [i64; 2], up: [bool; 2]) -> GeoReport {
        let mut acc = GeoAcc::default();
        for (h, v) in values.iter().enumerate() {
            acc.sample(S, h as u16, gauge::GEO_COUNTERS, *v);
        }
        let (mut report, _) = acc.finish(&History::new(), &hosts(), 100 * S).unwrap();
        for (n, up) in report.nodes.iter_mut().zip(up) {
            n.up_at_end = up;
        }
        report.increments_acked = acked;
        report.increments_unknown = unknown;
        report
    }

    #[test]
    fn counters_hold_every_acknowledged_increment_and_no_more_than_were_sent() {
        let verdict = |r: &GeoReport, settled| counters_check(r, settled).map(|c| c.verdict);
        assert_eq!(verdict(&counted(10, 0, [10, 10], [true, true]), true), Some(Verdict::Pass));
        assert_eq!(verdict(&counted(10, 2, [11, 12], [true, true]), true), Some(Verdict::Pass));
        assert_eq!(verdict(&counted(10, 0, [10, 9], [true, true]), true), Some(Verdict::Fail), "one lost");
        assert_eq!(verdict(&counted(10, 2, [10, 13], [true, true]), true), Some(Verdict::Fail), "one too many");
        assert_eq!(
            verdict(&counted(10, 0, [10, 3], [true, false]), true),
            Some(Verdict::Pass),
            "a node down is not read"
        );
        assert_eq!(verdict(&counted(10, 0, [10, 9], [true, true]), false), Some(Verdict::Unknown), "not settled");
        assert_eq!(verdict(&counted(0, 0, [0, 0], [true, true]), true), None, "no increment, no check");
        let detail = counters_check(&counted(10, 0, [10, 9], [true, true]), true).unwrap().detail;
        assert_eq!(detail, "10 acknowledged, 0 unknown; expected 10 at every region: us 10, eu 9");
    }

    #[test]
    fn a_write_lost_to_one_acknowledged_before_it_was_issued_is_lost_to_skew() {
        let mut history = History::new();
        invoke(&mut history, 1, S); // the winner
        invoke(&mut history, 3, S + 5); // overlapping the winner: a plain conflict
        complete(&mut history, 1, S + 10);
        complete(&mut history, 3, S + 20);
        invoke(&mut history, 2, 2 * S); // issued after the winner's acknowledgement: lost to skew
        complete(&mut history, 2, 2 * S + 10);
        let mut acc = GeoAcc::default();
        let name = |r: u64| format!("{r:016x}");
        acc.change(3 * S, 0, state::LWW_DISCARD, &format!("6b31 {} {}", name(2), name(1)));
        acc.change(3 * S, 1, state::LWW_DISCARD, &format!("6b31 {} {}", name(2), name(1)));
        acc.change(3 * S, 0, state::LWW_DISCARD, &format!("6b31 {} {}", name(3), name(1)));
        acc.change(3 * S, 0, state::LWW_DISCARD, &format!("6b31 - {}", name(1)));
        let (report, _) = acc.finish(&history, &hosts(), 100 * S).unwrap();
        assert_eq!((report.lww_lost, report.lww_lost_to_skew), (3, 1), "one write discarded twice counts once");
        assert_eq!(report.nodes[0].discarded, 3);
    }
}
