//! What reads returned: read-your-writes and staleness.
//!
//! Owns: [`read_your_writes`] and [`staleness`]. Must not: decide verdicts (see `verdict`).
//!
//! Lineage order: acknowledged writes are ordered by the `(epoch, lsn)` of their `Written`
//! observation, lexicographically. A read returning a write that was never acknowledged (it
//! timed out but took effect) cannot be placed in that order: such a read is neither a
//! read-your-writes violation nor stale (it is counted as `unplaced`).
//!
//! - Read-your-writes: a successful read of key `k` by user `u`, invoked at `t`, must return the
//!   newest (in lineage order) of `u`'s acknowledged writes to `k` that completed before `t`, or
//!   a write newer than it. Absent or older is a violation.
//! - Staleness of a successful read invoked at `t` that returned `w` (or nothing): among the
//!   writes to the same key acknowledged before `t` and newer than `w` (any, when it returned
//!   nothing), the earliest acknowledgement `a`; staleness = `t - a`, 0 when there is none.
//!   The p99 is the nearest-rank 99th percentile of every read's staleness.
//!
//! A write the store lost (not in the final lineage) counts until the epoch that dropped it
//! began and is left out after: a later read that misses it is a durability failure, which the
//! durability check counts once, not a read anomaly.
//!
//! Cost: O(n log n) in the reads and writes. Staleness keeps, per key, only the writes that
//! were the newest in lineage order when acknowledged: the earliest acknowledged write newer
//! than `w` is always one of them, and their order and times rise together.

use super::durability::LISTED;
use super::history::{History, OpEntry};
use super::lineage::Lineage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

/// What the read-your-writes check found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadYourWrites {
    /// Successful reads that followed an acknowledged write of the same user to the same key.
    pub reads_checked: u64,
    /// Of those, reads that returned a write not placed in lineage order (not judged).
    pub unplaced: u64,
    /// Reads that returned nothing or an older write.
    pub violations: u64,
    /// The first violations (by invocation) as (read request, the write it should have seen),
    /// at most [`LISTED`].
    pub first: Vec<(u64, u64)>,
    /// When the first violating read was invoked, ns.
    #[serde(default)]
    pub first_ns: Option<u64>,
}

/// How old the values returned by reads were.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Staleness {
    /// Successful reads measured.
    pub reads: u64,
    /// Of those, reads that returned a write not placed in lineage order (staleness 0).
    pub unplaced: u64,
    /// The largest staleness, ns.
    pub max_ns: u64,
    /// The 99th percentile, ns.
    pub p99_ns: u64,
    /// The read with the largest staleness.
    pub worst_read: Option<u64>,
    /// The bound, ns, when one is set.
    pub bound_ns: Option<u64>,
    /// Reads staler than the bound.
    pub over_bound: u64,
    /// The first reads staler than the bound (by invocation) as (read request, the earliest
    /// acknowledged newer write it missed), at most [`LISTED`].
    #[serde(default)]
    pub over_first: Vec<(u64, u64)>,
    /// When the first read staler than the bound was invoked, ns.
    #[serde(default)]
    pub first_over_ns: Option<u64>,
}

type Order = (u64, u64);
/// Per key, the writes that were the newest in lineage order when acknowledged: order ->
/// (acknowledged at, lost at, request id).
type Stairs = BTreeMap<Order, (u64, u64, u64)>;
/// A user's acknowledged write to a key: (completion time, order, request id, lost at).
type OwnWrite = (u64, Order, u64, u64);

/// Acknowledged writes by request id: their lineage order.
fn orders(history: &History) -> BTreeMap<u64, Order> {
    history.ops.iter().filter_map(|op| op.written().map(|order| (op.req, order))).collect()
}

/// Acknowledged writes as (op, order, lost_ns): `lost_ns` is when the epoch that dropped the
/// write began (`u64::MAX` when it survives, or when no node ever took the primary role).
fn acknowledged(history: &History) -> impl Iterator<Item = (&OpEntry, Order, u64)> {
    let lineage = Lineage::new(&history.epochs);
    let last = lineage.final_epoch();
    history.ops.iter().filter_map(move |op| {
        let (epoch, lsn) = op.written()?;
        let dropped_by = last.and_then(|of| lineage.dropped_by(of, epoch, lsn));
        let lost_ns = dropped_by.and_then(|e| history.epochs.get(&e)).map_or(u64::MAX, |e| e.start_ns);
        Some((op, (epoch, lsn), lost_ns))
    })
}

/// Successful reads with an observation, by invocation time (then request id).
fn reads(history: &History) -> Vec<(&OpEntry, Option<u64>)> {
    let mut reads: Vec<(&OpEntry, Option<u64>)> =
        history.ops.iter().filter_map(|op| op.read().map(|(writer, _)| (op, writer))).collect();
    reads.sort_by_key(|(op, _)| (op.invoke_ns, op.req));
    reads
}

/// Checks that every user reads its own acknowledged writes (or newer ones).
pub fn read_your_writes(history: &History) -> ReadYourWrites {
    let orders = orders(history);
    // Per (user, key): acknowledged writes by completion time.
    let mut own: BTreeMap<(u32, u64), Vec<OwnWrite>> = BTreeMap::new();
    for (op, order, lost_ns) in acknowledged(history) {
        if let Some(done_ns) = op.complete_ns {
            own.entry((op.user, op.key)).or_default().push((done_ns, order, op.req, lost_ns));
        }
    }
    for writes in own.values_mut() {
        writes.sort_unstable();
    }
    let mut out = ReadYourWrites::default();
    for (read, writer) in reads(history) {
        let Some(writes) = own.get(&(read.user, read.key)) else {
            continue;
        };
        let before = writes.partition_point(|&(done_ns, ..)| done_ns < read.invoke_ns);
        // The newest of the user's writes done before the read and not yet lost by then.
        let still_there = writes[..before].iter().filter(|w| w.3 > read.invoke_ns);
        let Some(&(_, needed, needed_req, _)) = still_there.max_by_key(|w| w.1) else {
            continue;
        };
        out.reads_checked += 1;
        let seen = match writer {
            None => None,
            Some(w) if w == needed_req => Some(needed),
            Some(w) => match orders.get(&w) {
                Some(&order) => Some(order),
                None => {
                    out.unplaced += 1;
                    continue;
                }
            },
        };
        if seen.is_none_or(|order| order < needed) {
            out.violations += 1;
            out.first_ns.get_or_insert(read.invoke_ns);
            if out.first.len() < LISTED {
                out.first.push((read.req, needed_req));
            }
        }
    }
    out
}

/// Measures how stale every successful read was; `bound_ns` counts the reads above it.
pub fn staleness(history: &History, bound_ns: Option<u64>) -> Staleness {
    let orders = orders(history);
    // Per key: acknowledged writes by acknowledgement time, with when they were lost.
    let mut writes: BTreeMap<u64, Vec<(u64, Order, u64, u64)>> = BTreeMap::new();
    for (op, order, lost_ns) in acknowledged(history) {
        if let Some(done_ns) = op.complete_ns {
            writes.entry(op.key).or_default().push((done_ns, order, lost_ns, op.req));
        }
    }
    for list in writes.values_mut() {
        list.sort_unstable();
    }
    // Per key: how many writes have been taken in, and the newest-when-acknowledged ones.
    let mut taken: BTreeMap<u64, (usize, Stairs)> = BTreeMap::new();
    let mut out = Staleness { bound_ns, ..Staleness::default() };
    let mut all_ns = Vec::new();
    for (read, writer) in reads(history) {
        out.reads += 1;
        let floor = match writer {
            None => None,
            Some(w) => match orders.get(&w) {
                Some(&order) => Some(order),
                None => {
                    out.unplaced += 1;
                    all_ns.push(0);
                    continue;
                }
            },
        };
        let list = writes.get(&read.key).map_or(&[][..], Vec::as_slice);
        let (next, stairs) = taken.entry(read.key).or_default();
        while *next < list.len() && list[*next].0 < read.invoke_ns {
            let (done_ns, order, lost_ns, req) = list[*next];
            if stairs.last_key_value().is_none_or(|(&newest, _)| order > newest) {
                stairs.insert(order, (done_ns, lost_ns, req));
            }
            *next += 1;
        }
        let lower = floor.map_or(Bound::Unbounded, Bound::Excluded);
        let mut newer = stairs.range((lower, Bound::Unbounded)).map(|(_, &w)| w);
        let first_kept = newer.find(|&(_, lost_ns, _)| lost_ns > read.invoke_ns);
        let stale_ns = first_kept.map_or(0, |(a, ..)| read.invoke_ns - a);
        if stale_ns > out.max_ns || out.worst_read.is_none() {
            out.max_ns = stale_ns;
            out.worst_read = Some(read.req);
        }
        if let Some((.., missed)) = first_kept
            && bound_ns.is_some_and(|bound| stale_ns > bound)
        {
            out.over_bound += 1;
            out.first_over_ns.get_or_insert(read.invoke_ns);
            if out.over_first.len() < LISTED {
                out.over_first.push((read.req, missed));
            }
        }
        all_ns.push(stale_ns);
    }
    if out.max_ns == 0 {
        out.worst_read = None;
    }
    out.p99_ns = nearest_rank(&mut all_ns, 0.99);
    out
}

/// The nearest-rank quantile of `values` (0 when empty).
fn nearest_rank(values: &mut [u64], quantile: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = (quantile * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::{MS, Run, S};
    use proptest::prelude::*;

    #[test]
    fn a_user_reads_its_own_write_or_newer() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 7, 1, Some((1, 1)));
        let w2 = run.write(2 * S, MS, 8, 1, Some((1, 2)));
        run.read(3 * S, MS, 7, 1, Some(w1));
        run.read(3 * S, MS, 7, 1, Some(w2));
        run.read(3 * S, MS, 9, 1, None); // another user: not checked
        run.read(S, MS, 7, 1, None); // before its write completed: not checked
        let found = read_your_writes(&run.history());
        assert_eq!((found.reads_checked, found.violations), (2, 0));
    }

    #[test]
    fn absent_or_older_is_a_violation() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 8, 1, Some((1, 1)));
        let w2 = run.write(2 * S, MS, 7, 1, Some((1, 2)));
        let stale = run.read(3 * S, MS, 7, 1, Some(w1));
        let absent = run.read(4 * S, MS, 7, 1, None);
        let unplaced = run.write(5 * S, MS, 6, 1, None);
        run.read(6 * S, MS, 7, 1, Some(unplaced));
        let found = read_your_writes(&run.history());
        assert_eq!((found.reads_checked, found.violations, found.unplaced), (3, 2, 1));
        assert_eq!(found.first, [(stale, w2), (absent, w2)]);
        assert_eq!(found.first_ns, Some(3 * S), "the stale read's invocation");
    }

    #[test]
    fn lineage_order_puts_a_later_epoch_first() {
        let mut run = Run::with_primary();
        run.primary(5 * S, 3, 2, 12, 1);
        let own = run.write(S, MS, 7, 1, Some((1, 12)));
        let newer = run.write(6 * S, MS, 8, 1, Some((2, 13)));
        run.read(7 * S, MS, 7, 1, Some(newer));
        let older = run.write(S / 2, MS, 8, 1, Some((1, 11)));
        run.read(8 * S, MS, 7, 1, Some(older));
        let found = read_your_writes(&run.history());
        assert_eq!((found.reads_checked, found.violations), (2, 1), "(2, 13) is newer than {own}'s (1, 12)");
    }

    #[test]
    fn writes_the_store_lost_are_not_read_anomalies() {
        // Epoch 2 starts from LSN 10: db1's write at LSN 12 of epoch 1 is lost.
        let mut run = Run::with_primary();
        let kept = run.write(S / 2, MS, 8, 1, Some((1, 9)));
        run.write(S, MS, 7, 1, Some((1, 12)));
        run.primary(5 * S, 3, 2, 10, 1);
        run.read(7 * S, MS, 7, 1, Some(kept));
        let history = run.history();
        let found = read_your_writes(&history);
        assert_eq!((found.reads_checked, found.violations), (0, 0), "the durability check counts it");
        assert_eq!(staleness(&history, None).max_ns, 0, "the lost write never made the read stale");
    }

    #[test]
    fn staleness_exact_values() {
        let mut run = Run::with_primary();
        let w1 = run.write(S, MS, 0, 1, Some((1, 1))); // acknowledged at 1.001 s
        let w2 = run.write(2 * S, MS, 0, 1, Some((1, 2))); // at 2.001 s
        run.write(3 * S, MS, 0, 1, Some((1, 3))); // at 3.001 s
        run.read(2 * S + 500 * MS, MS, 1, 1, Some(w2)); // nothing newer: 0
        run.read(3 * S + 101 * MS, MS, 1, 1, Some(w1)); // w2 is newer, acknowledged at 2.001 s: 1.1 s
        let absent = run.read(3 * S + 1, MS, 1, 1, None); // w1 acknowledged at 1.001 s: 1.999000001 s
        run.read(3 * S + 1, MS, 1, 2, None); // no write to key 2: 0
        let found = staleness(&run.history(), Some(1_500 * MS));
        assert_eq!(found.reads, 4);
        assert_eq!(found.max_ns, 1_999 * MS + 1);
        assert_eq!(found.worst_read, Some(absent));
        assert_eq!(found.p99_ns, found.max_ns, "the 4th of 4");
        assert_eq!(found.over_bound, 1, "1.1 s is within 1.5 s, 1.999 s is not");
        assert_eq!(found.over_first, [(absent, w1)], "it missed w1, the first write newer than nothing");
        assert_eq!(found.first_over_ns, Some(3 * S + 1));
        assert_eq!(staleness(&run.history(), None).over_bound, 0, "no bound, nothing counted");
        let mut values: Vec<u64> = vec![0, 1_100 * MS, 1_999 * MS + 1, 0];
        assert_eq!(nearest_rank(&mut values, 0.5), 0);
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        let mut values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(nearest_rank(&mut values, 0.99), 198);
        assert_eq!(nearest_rank(&mut [5], 0.99), 5);
        assert_eq!(nearest_rank(&mut [], 0.99), 0);
    }

    proptest! {
        /// The staircase agrees with a direct scan of every write (no roles: no write is lost).
        #[test]
        fn staleness_agrees_with_a_scan(
            writes in prop::collection::vec((0u64..100, 1u64..4, 1u64..20), 0..25),
            reads in prop::collection::vec((0u64..120, prop::option::of(any::<prop::sample::Index>())), 1..25),
        ) {
            let mut run = Run::new();
            let mut acked = Vec::new();
            for (i, &(t, epoch, dur)) in writes.iter().enumerate() {
                let req = run.write(t, dur, 0, 0, Some((epoch, i as u64)));
                acked.push((req, t + dur, (epoch, i as u64)));
            }
            let mut expected = 0;
            for &(t, pick) in &reads {
                let writer = pick.filter(|_| !acked.is_empty()).map(|p| acked[p.index(acked.len())]);
                run.read(t, 1, 1, 0, writer.map(|w| w.0));
                let newer = acked.iter().filter(|w| w.1 < t && writer.is_none_or(|r| w.2 > r.2));
                let stale = newer.map(|w| t - w.1).max().unwrap_or(0);
                expected = expected.max(stale);
            }
            prop_assert_eq!(staleness(&run.history(), None).max_ns, expected);
        }
    }
}
