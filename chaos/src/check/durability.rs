//! Lost acknowledged writes and the RPO, and at most one primary per epoch.
//!
//! Owns: [`durability`] and [`one_primary`]. Must not: decide verdicts (see `verdict`).
//!
//! Definitions:
//! - An acknowledged write is a write that completed `Ok` with a `Written{lsn, epoch}`
//!   observation. It is lost when the final lineage (the log of the highest epoch at the end of
//!   the run) does not hold `(epoch, lsn)`.
//! - The epoch that dropped it is the lowest epoch on the final lineage's chain whose log lacks
//!   it (see `lineage`).
//! - The RPO is the span of time whose acknowledged writes were lost, the way an operator means
//!   it: per epoch, from the last acknowledgement that survived (before the oldest lost one; the
//!   epoch's start if none did) to the newest lost acknowledgement; the largest over epochs. A
//!   primary that crashes at 10 s after its replicas stopped receiving its log at 9 s has an
//!   RPO of about 1 s, however long the failover then takes. Writes a deposed primary
//!   acknowledged after its successor's epoch began extend that span (they are lost too); the
//!   one-primary check reports them as well.
//! - One primary per epoch fails when two hosts took the primary role in the same epoch, or when
//!   a write acknowledged in epoch `e` was invoked after an epoch above `e` had begun.

use super::history::History;
use super::lineage::Lineage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The most request ids a finding lists (what a check's evidence keeps).
pub const LISTED: usize = crate::report::MAX_EVIDENCE_REQUESTS;

/// Acknowledged writes the final lineage lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durability {
    /// Writes acknowledged with an epoch and LSN.
    pub acknowledged_writes: u64,
    /// The epoch whose log is the store's log at the end.
    pub final_epoch: u64,
    /// Acknowledged writes not in that log.
    pub lost: u64,
    /// The request ids of the first lost writes (by acknowledgement time), at most [`LISTED`].
    pub lost_first: Vec<u64>,
    /// The longest span of lost acknowledged writes, ns; 0 when none was lost.
    pub rpo_ns: u64,
    /// The oldest lost write of the span that set the RPO.
    pub worst: Option<LostWrite>,
    /// When the first acknowledged write was lost: the earliest start of an epoch that dropped
    /// one, ns; `None` when none was lost.
    #[serde(default)]
    pub first_loss_ns: Option<u64>,
    /// The primaries (host indices, ascending) of the epochs that acknowledged a lost write and
    /// of the epochs that dropped one.
    #[serde(default)]
    pub hosts: Vec<u16>,
}

/// One lost write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostWrite {
    /// Its request id.
    pub req: u64,
    /// Its epoch and LSN.
    pub epoch: u64,
    /// Its LSN.
    pub lsn: u64,
    /// When it was acknowledged, ns.
    pub acked_ns: u64,
    /// The epoch that dropped it.
    pub dropped_by: u64,
    /// When that epoch began, ns: the moment the write was lost.
    #[serde(default)]
    pub dropped_ns: u64,
    /// The last acknowledgement of its epoch that survived before it (the epoch's start if
    /// none), ns: where the span of lost writes begins.
    pub durable_ns: u64,
    /// The newest lost acknowledgement of its epoch, ns: where the span ends.
    pub lost_ns: u64,
}

/// Lost acknowledged writes; `None` when no node ever took the primary role.
pub fn durability(history: &History) -> Option<Durability> {
    let lineage = Lineage::new(&history.epochs);
    let final_epoch = lineage.final_epoch()?;
    let mut acked: Vec<(u64, u64, u64, u64)> = history
        .ops
        .iter()
        .filter_map(|op| op.written().map(|(epoch, lsn)| (op.complete_ns.unwrap_or(0), op.req, epoch, lsn)))
        .collect();
    acked.sort_unstable();
    let mut out = Durability {
        acknowledged_writes: acked.len() as u64,
        final_epoch,
        lost: 0,
        lost_first: Vec::new(),
        rpo_ns: 0,
        worst: None,
        first_loss_ns: None,
        hosts: Vec::new(),
    };
    let mut epochs_involved = BTreeSet::new();
    // Per epoch: the last surviving acknowledgement so far, and the span of lost ones.
    let mut durable_ns: BTreeMap<u64, u64> = BTreeMap::new();
    let mut spans: BTreeMap<u64, LostWrite> = BTreeMap::new();
    for (acked_ns, req, epoch, lsn) in acked {
        let Some(dropped_by) = lineage.dropped_by(final_epoch, epoch, lsn) else {
            if !spans.contains_key(&epoch) {
                durable_ns.insert(epoch, acked_ns);
            }
            continue;
        };
        out.lost += 1;
        if out.lost_first.len() < LISTED {
            out.lost_first.push(req);
        }
        let start_ns = history.epochs.get(&epoch).map_or(0, |e| e.start_ns);
        let dropped_ns = history.epochs.get(&dropped_by).map_or(0, |e| e.start_ns);
        out.first_loss_ns = Some(out.first_loss_ns.map_or(dropped_ns, |t| t.min(dropped_ns)));
        epochs_involved.extend([epoch, dropped_by]);
        let durable_ns = durable_ns.get(&epoch).copied().unwrap_or(start_ns);
        let lost = LostWrite { req, epoch, lsn, acked_ns, dropped_by, dropped_ns, durable_ns, lost_ns: 0 };
        let span = spans.entry(epoch).or_insert(lost);
        span.lost_ns = acked_ns;
    }
    let primaries = epochs_involved.iter().filter_map(|e| history.epochs.get(e)).flat_map(|e| &e.primaries);
    out.hosts = primaries.map(|&(host, _)| host).collect::<BTreeSet<u16>>().into_iter().collect();
    for span in spans.into_values() {
        let rpo_ns = span.lost_ns.saturating_sub(span.durable_ns);
        if out.worst.is_none() || rpo_ns > out.rpo_ns {
            out.rpo_ns = rpo_ns;
            out.worst = Some(span);
        }
    }
    Some(out)
}

/// What the one-primary-per-epoch check found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OnePrimary {
    /// Epochs in which more than one host took the primary role.
    pub shared_epochs: Vec<SharedEpoch>,
    /// Writes accepted by a deposed primary.
    pub deposed_writes: u64,
    /// The first of them (by invocation).
    pub first_deposed: Option<DeposedWrite>,
    /// The request ids of the first of them (by invocation), at most [`LISTED`].
    #[serde(default)]
    pub deposed_first: Vec<u64>,
    /// When it first broke: the earliest of a shared epoch's second primary taking the role and
    /// the first deposed write's invocation, ns; `None` when nothing was found.
    #[serde(default)]
    pub broke_ns: Option<u64>,
    /// The hosts involved (indices, ascending): the primaries of shared epochs, and of the
    /// epochs a deposed write was acknowledged in and superseded by.
    #[serde(default)]
    pub hosts: Vec<u16>,
}

/// An epoch claimed by several hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedEpoch {
    /// The epoch.
    pub epoch: u64,
    /// The hosts, by name, in the order they took the role.
    pub hosts: Vec<String>,
    /// When the epoch began, ns.
    #[serde(default)]
    pub start_ns: u64,
    /// When the second host took the primary role in it, ns.
    #[serde(default)]
    pub split_ns: u64,
}

/// A write acknowledged in an epoch that had already been superseded when it was invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeposedWrite {
    /// Its request id.
    pub req: u64,
    /// When it was invoked, ns.
    pub invoke_ns: u64,
    /// The epoch it was acknowledged in.
    pub epoch: u64,
    /// That epoch's primaries, by name.
    pub hosts: Vec<String>,
    /// The newer epoch that had begun.
    pub newer_epoch: u64,
    /// When the newer epoch began, ns.
    pub newer_start_ns: u64,
}

impl OnePrimary {
    /// Whether nothing was found.
    pub fn holds(&self) -> bool {
        self.shared_epochs.is_empty() && self.deposed_writes == 0
    }
}

/// Epochs with several primaries, and writes accepted by deposed primaries; `names` are the
/// hosts' names by id.
pub fn one_primary(history: &History, names: &[String]) -> OnePrimary {
    let name = |h: u16| names.get(h as usize).cloned().unwrap_or_else(|| format!("host#{h}"));
    let hosts_of = |epoch: u64| -> Vec<String> {
        history.epochs.get(&epoch).map(|e| e.primaries.iter().map(|&(h, _)| name(h)).collect()).unwrap_or_default()
    };
    let mut involved = BTreeSet::new();
    let shared_epochs: Vec<SharedEpoch> = history
        .epochs
        .iter()
        .filter(|(_, e)| e.primaries.len() > 1)
        .map(|(&epoch, e)| {
            involved.insert(epoch);
            SharedEpoch { epoch, hosts: hosts_of(epoch), start_ns: e.start_ns, split_ns: e.primaries[1].1 }
        })
        .collect();
    // Epochs ascending, each with the earliest-starting epoch at or above it.
    let mut suffix: Vec<(u64, (u64, u64))> = Vec::with_capacity(history.epochs.len());
    for (&epoch, entry) in history.epochs.iter().rev() {
        let here = (entry.start_ns, epoch);
        let earliest = suffix.last().map_or(here, |&(_, found)| found.min(here));
        suffix.push((epoch, earliest));
    }
    suffix.reverse();
    // The earliest-starting epoch above `epoch`, as (start, epoch).
    let newer = |epoch: u64| suffix.get(suffix.partition_point(|&(e, _)| e <= epoch)).map(|&(_, found)| found);
    let mut out = OnePrimary { shared_epochs, ..OnePrimary::default() };
    let mut deposed: Vec<(u64, u64)> = Vec::new();
    for op in &history.ops {
        let Some((epoch, _)) = op.written() else {
            continue;
        };
        let Some((newer_start_ns, newer_epoch)) = newer(epoch).filter(|&(start_ns, _)| op.invoke_ns > start_ns) else {
            continue;
        };
        out.deposed_writes += 1;
        deposed.push((op.invoke_ns, op.req));
        involved.extend([epoch, newer_epoch]);
        let earlier = out.first_deposed.as_ref().is_none_or(|d| (op.invoke_ns, op.req) < (d.invoke_ns, d.req));
        if earlier {
            let hosts = hosts_of(epoch);
            out.first_deposed =
                Some(DeposedWrite { req: op.req, invoke_ns: op.invoke_ns, epoch, hosts, newer_epoch, newer_start_ns });
        }
    }
    deposed.sort_unstable();
    out.deposed_first = deposed.iter().take(LISTED).map(|&(_, req)| req).collect();
    let split = out.shared_epochs.iter().map(|s| s.split_ns);
    out.broke_ns = split.chain(out.first_deposed.as_ref().map(|d| d.invoke_ns)).min();
    let primaries = involved.iter().filter_map(|e| history.epochs.get(e)).flat_map(|e| &e.primaries);
    out.hosts = primaries.map(|&(host, _)| host).collect::<BTreeSet<u16>>().into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{DB1, DB2, MS, Run, S};

    /// Async replication: db1 acknowledges writes at LSNs 1..=12 of epoch 1 (one every 100 ms
    /// from t = 1 s, acknowledged 2 ms after they are issued); db2 has applied up to `replicated`
    /// when it is promoted at t = 5 s.
    fn failover(replicated: u64) -> (Run, Vec<u64>) {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        run.role(0, DB2, "replica", 1, 0, 0);
        let writes: Vec<u64> =
            (1..=12).map(|lsn| run.write(S + lsn * 100 * MS, 2 * MS, 0, lsn, Some((1, lsn)))).collect();
        run.primary(5 * S, DB2, 2, replicated, 1);
        run.write(6 * S, 2 * MS, 0, 1, Some((2, replicated + 1)));
        (run, writes)
    }

    #[test]
    fn a_failover_with_async_replication_loses_the_tail() {
        let (run, writes) = failover(10);
        let found = durability(&run.history()).expect("roles present");
        assert_eq!(found.acknowledged_writes, 13);
        assert_eq!(found.final_epoch, 2);
        assert_eq!(found.lost, 2);
        assert_eq!(found.lost_first, [writes[10], writes[11]]);
        // LSN 10, the last to survive, was acknowledged at 1 s + 1000 ms + 2 ms = 2.002 s; the
        // lost LSNs 11 and 12 at 2.102 s and 2.202 s: 200 ms of writes were lost.
        assert_eq!(found.rpo_ns, 200 * MS);
        assert_eq!(found.first_loss_ns, Some(5 * S), "db2's promotion dropped them");
        assert_eq!(found.hosts, [DB1, DB2], "the primary that acknowledged them, the one that dropped them");
        let worst = found.worst.expect("a lost write");
        assert_eq!((worst.req, worst.lsn, worst.dropped_by, worst.dropped_ns), (writes[10], 11, 2, 5 * S));
        assert_eq!((worst.durable_ns, worst.lost_ns), (2_002 * MS, 2_202 * MS));
    }

    #[test]
    fn a_failover_with_everything_replicated_loses_nothing() {
        let (run, _) = failover(12);
        let found = durability(&run.history()).expect("roles present");
        assert_eq!((found.lost, found.rpo_ns, found.worst), (0, 0, None));
        assert_eq!((found.first_loss_ns, found.hosts.len()), (None, 0));
        assert!(one_primary(&run.history(), &Run::names()).holds());
    }

    #[test]
    fn no_primary_no_measure() {
        let mut run = Run::new();
        run.role(0, DB1, "replica", 1, 0, 0);
        assert_eq!(durability(&run.history()), None);
    }

    #[test]
    fn two_primaries_in_one_epoch() {
        let (mut run, _) = failover(12);
        run.primary(7 * S, DB1, 2, 12, 1);
        let found = one_primary(&run.history(), &Run::names());
        let shared =
            SharedEpoch { epoch: 2, hosts: vec!["db2".into(), "db1".into()], start_ns: 5 * S, split_ns: 7 * S };
        assert_eq!(found.shared_epochs, [shared]);
        assert!(!found.holds());
        assert_eq!(found.broke_ns, Some(7 * S), "when db1 took the role db2 already held");
        assert_eq!(found.hosts, [DB1, DB2]);
        assert!(found.deposed_first.is_empty());
    }

    #[test]
    fn a_deposed_primary_accepting_a_write() {
        let (mut run, _) = failover(12);
        let late = run.write(5 * S + 300 * MS, MS, 3, 9, Some((1, 13)));
        run.write(5 * S + 400 * MS, MS, 3, 9, Some((1, 14)));
        let found = one_primary(&run.history(), &Run::names());
        assert_eq!(found.deposed_writes, 2);
        let first = found.first_deposed.expect("found");
        assert_eq!((first.req, first.epoch, first.newer_epoch, first.newer_start_ns), (late, 1, 2, 5 * S));
        assert_eq!(first.hosts, ["db1"]);
        assert_eq!(found.deposed_first.len(), 2);
        assert_eq!(found.deposed_first[0], late);
        assert_eq!(found.broke_ns, Some(5 * S + 300 * MS), "the deposed write's invocation");
        assert_eq!(found.hosts, [DB1, DB2], "the deposed primary and its successor");
        let lost = durability(&run.history()).expect("roles");
        assert_eq!(lost.lost, 2);
        assert_eq!(lost.lost_first[0], late);
        assert_eq!(lost.first_loss_ns, Some(5 * S), "lost when epoch 2 began without them");
        assert_eq!(lost.rpo_ns, 5_401 * MS - 2_202 * MS, "from the last replicated write to the last deposed one");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::check::testkit::{DB1, DB2, MS, Run, S};
    use proptest::prelude::*;

    proptest! {
        /// Async replication: `n` writes acknowledged in epoch 1, the replica promoted after
        /// applying `applied` of them. Exactly the unapplied ones are lost, and the RPO is the time
        /// from the last applied one (or the start) to the newest lost one.
        #[test]
        fn exactly_the_unreplicated_writes_are_lost(
            gaps in prop::collection::vec(1u64..50, 1..30),
            applied in any::<prop::sample::Index>(),
            deposed in any::<bool>(),
        ) {
            let mut run = Run::new();
            run.primary(0, DB1, 1, 0, 0);
            let mut t = 0;
            let mut writes = Vec::new();
            for (i, gap) in gaps.iter().enumerate() {
                t += gap * MS;
                writes.push((run.write(t, MS, 0, 1, Some((1, i as u64 + 1))), t + MS));
            }
            let applied = applied.index(writes.len() + 1);
            let promoted_ns = t + S;
            run.primary(promoted_ns, DB2, 2, applied as u64, if applied == 0 { 0 } else { 1 });
            let late = deposed.then(|| run.write(promoted_ns + MS, MS, 0, 1, Some((1, writes.len() as u64 + 1))));
            let history = run.history();
            let found = durability(&history).expect("roles");
            let lost: Vec<u64> = writes[applied..].iter().map(|w| w.0).chain(late).collect();
            prop_assert_eq!(found.lost, lost.len() as u64);
            prop_assert_eq!(&found.lost_first[..], &lost[..lost.len().min(LISTED)]);
            let newest_lost = if deposed { Some(promoted_ns + 2 * MS) } else { writes[applied..].last().map(|w| w.1) };
            let durable = if applied == 0 { 0 } else { writes[applied - 1].1 };
            let rpo = newest_lost.map_or(0, |t| t - durable);
            prop_assert_eq!(found.rpo_ns, rpo);
            let primaries = one_primary(&history, &Run::names());
            prop_assert_eq!(primaries.holds(), !deposed);
        }
    }
}
