//! Which log entries each epoch's log holds, derived from the primaries' `Role` events alone.
//!
//! Owns: [`Lineage`]. Must not: look at reads or writes (callers ask about `(epoch, lsn)`
//! entries).
//!
//! The store's rules make this exact: a primary of epoch `E` starts from a log whose last entry
//! is at `base` and has epoch `last_epoch`, and appends its own entries (tagged `E`) above
//! `base`. So the log of `E` is the log of `last_epoch` cut at `base`, plus `E`'s entries; and
//! entry `(e, l)` (epoch `e`, LSN `l`) is in the log of `E` iff `e == E`, or `l <= base(E)` and
//! it is in the log of `last_epoch(E)` — recursively, down the chain of `last_epoch` links until
//! the chain reaches `e` (in) or passes below it (out). Two logs that hold the same entry agree
//! on everything before it, so following the epoch of the entry at `base` is the same as
//! following the epoch the promoted node's log came from.
//!
//! Decisions: an epoch with no `Role` primary event ends the chain (what came before it is
//! unknown, so the entry counts as absent); a link that does not go down (`last_epoch >= E`)
//! also ends it. When two hosts claimed the same epoch, the first one's base is used.

use super::history::EpochEntry;
use std::collections::BTreeMap;

/// The epochs of a run and the logs they imply.
#[derive(Debug, Clone, Copy)]
pub struct Lineage<'a> {
    epochs: &'a BTreeMap<u64, EpochEntry>,
}

impl<'a> Lineage<'a> {
    /// The lineage of `epochs` (by number).
    pub fn new(epochs: &'a BTreeMap<u64, EpochEntry>) -> Self {
        Self { epochs }
    }

    /// The highest epoch: its log is the store's log at the end of the run.
    pub fn final_epoch(&self) -> Option<u64> {
        self.epochs.keys().next_back().copied()
    }

    /// Whether the entry `(epoch, lsn)` is in the log of epoch `of`.
    pub fn contains(&self, of: u64, epoch: u64, lsn: u64) -> bool {
        let mut current = of;
        // Each step goes strictly down, so there are at most as many steps as epochs.
        for _ in 0..=self.epochs.len() {
            if current == epoch {
                return true;
            }
            if current < epoch {
                return false;
            }
            let Some(entry) = self.epochs.get(&current) else {
                return false;
            };
            if lsn > entry.base_lsn || entry.last_epoch >= current {
                return false;
            }
            current = entry.last_epoch;
        }
        false
    }

    /// The epoch whose log first lacked the entry `(epoch, lsn)` on the way to the log of `of`:
    /// the lowest epoch above `epoch` on the chain of `last_epoch` links from `of` whose log
    /// does not hold it. `None` when the log of `of` holds it; `of` itself for an entry of a
    /// later epoch than `of`.
    pub fn dropped_by(&self, of: u64, epoch: u64, lsn: u64) -> Option<u64> {
        if self.contains(of, epoch, lsn) {
            return None;
        }
        let mut lacking = of;
        let mut current = of;
        for _ in 0..=self.epochs.len() {
            let Some(entry) = self.epochs.get(&current) else {
                break;
            };
            let next = entry.last_epoch;
            if next >= current || next <= epoch || self.contains(next, epoch, lsn) {
                break;
            }
            lacking = next;
            current = next;
        }
        Some(lacking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn epochs(list: &[(u64, u64, u64)]) -> BTreeMap<u64, EpochEntry> {
        list.iter()
            .enumerate()
            .map(|(i, &(epoch, base_lsn, last_epoch))| {
                let start_ns = i as u64 * 10;
                (epoch, EpochEntry { start_ns, base_lsn, last_epoch, primaries: vec![(2, start_ns)] })
            })
            .collect()
    }

    #[test]
    fn a_failover_cuts_the_unreplicated_tail() {
        // Epoch 1 wrote 1..=12; the replica promoted to epoch 2 had only 1..=10.
        let map = epochs(&[(1, 0, 0), (2, 10, 1), (3, 15, 2)]);
        let lineage = Lineage::new(&map);
        assert_eq!(lineage.final_epoch(), Some(3));
        assert!(lineage.contains(3, 1, 10));
        assert!(!lineage.contains(3, 1, 11));
        assert!(lineage.contains(3, 2, 15));
        assert!(!lineage.contains(3, 2, 16));
        assert!(lineage.contains(3, 3, 99));
        assert_eq!(lineage.dropped_by(3, 1, 11), Some(2));
        assert_eq!(lineage.dropped_by(3, 2, 16), Some(3));
        assert_eq!(lineage.dropped_by(3, 1, 10), None);
    }

    #[test]
    fn a_chain_that_skips_an_epoch_loses_all_of_it() {
        // Epoch 2's primary wrote from 5 on, but epoch 3 came from a node that ended in epoch 1.
        let map = epochs(&[(1, 0, 0), (2, 5, 1), (3, 7, 1)]);
        let lineage = Lineage::new(&map);
        assert!(!lineage.contains(3, 2, 6));
        assert_eq!(lineage.dropped_by(3, 2, 6), Some(3));
        assert!(lineage.contains(3, 1, 7));
        assert!(!lineage.contains(3, 1, 8), "an entry of epoch 1 above 7 is not in epoch 3's log");
    }

    #[test]
    fn unknown_epochs_end_the_chain() {
        let map = epochs(&[(3, 4, 2)]);
        let lineage = Lineage::new(&map);
        assert!(lineage.contains(3, 2, 4), "the entry at base has epoch 2");
        assert!(!lineage.contains(3, 1, 1), "what epoch 2 came from is unknown");
        assert!(!Lineage::new(&epochs(&[(2, 3, 2)])).contains(2, 1, 1), "a link that does not go down");
    }

    /// A random history of epochs: each new epoch starts from a prefix of an earlier epoch's
    /// log and appends its own entries. Returns (epoch number, parent index, cut, appended).
    fn chains() -> impl Strategy<Value = Vec<(u64, usize, usize, usize)>> {
        prop::collection::vec((1u64..4, any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..6), 1..8)
            .prop_map(|steps| {
                let mut out = Vec::new();
                let mut epoch = 0;
                for (i, (gap, parent, cut, appended)) in steps.into_iter().enumerate() {
                    epoch += gap;
                    out.push((epoch, if i == 0 { 0 } else { parent.index(i) }, cut.index(64), appended));
                }
                out
            })
    }

    proptest! {
        #[test]
        fn lineage_agrees_with_replayed_logs(chain in chains()) {
            // Replay: the actual log of each epoch, entry i holding the epoch that wrote LSN i+1.
            let mut logs: Vec<Vec<u64>> = Vec::new();
            let mut map = BTreeMap::new();
            for (i, &(epoch, parent, cut, appended)) in chain.iter().enumerate() {
                let mut log = if i == 0 { Vec::new() } else { logs[parent].clone() };
                log.truncate(cut % (log.len() + 1));
                let base_lsn = log.len() as u64;
                let last_epoch = log.last().copied().unwrap_or(0);
                log.extend(std::iter::repeat_n(epoch, appended));
                map.insert(epoch, EpochEntry { start_ns: i as u64, base_lsn, last_epoch, primaries: vec![(2, 0)] });
                logs.push(log);
            }
            let lineage = Lineage::new(&map);
            for (i, &(of, ..)) in chain.iter().enumerate() {
                for log in &logs {
                    for (at, &epoch) in log.iter().enumerate() {
                        let lsn = at as u64 + 1;
                        let held = logs[i].get(at) == Some(&epoch);
                        prop_assert_eq!(lineage.contains(of, epoch, lsn), held, "entry ({}, {}) in {}", epoch, lsn, of);
                        prop_assert_eq!(lineage.dropped_by(of, epoch, lsn).is_none(), held);
                        if let Some(x) = lineage.dropped_by(of, epoch, lsn) {
                            let lacks = logs[chain.iter().position(|c| c.0 == x).unwrap()].get(at) != Some(&epoch);
                            prop_assert!(lacks, "epoch {} named as dropping ({}, {}) holds it", x, epoch, lsn);
                            prop_assert!(x > epoch || x == of, "{} dropped ({}, {}) for {}", x, epoch, lsn, of);
                        }
                    }
                }
            }
        }
    }
}
