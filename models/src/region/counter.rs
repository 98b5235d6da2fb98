//! A PN-counter: a counter every region may increment and decrement at once without
//! coordination, that never loses an update. Each region keeps its own running totals of
//! increments (P) and decrements (N); the value is the sum of every region's P minus the sum
//! of every region's N. Merging takes each region's larger total, so a total delivered twice,
//! late or out of order changes nothing it should not: replicas converge on the sum of every
//! update any of them accepted.
//!
//! This module owns the counter state and its merge; it must not ship totals (the node does).

use std::collections::BTreeMap;

/// One region's running totals for one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of its increments.
    pub p: u64,
    /// Sum of its decrements (as a positive number).
    pub n: u64,
}

impl Totals {
    /// These totals after adding `delta` (negative: a decrement), saturating.
    pub fn plus(self, delta: i64) -> Totals {
        if delta >= 0 {
            Totals { p: self.p.saturating_add(delta as u64), n: self.n }
        } else {
            Totals { p: self.p, n: self.n.saturating_add(delta.unsigned_abs()) }
        }
    }
}

/// A PN-counter: every region's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnCounter {
    totals: BTreeMap<u16, Totals>,
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter's value: increments minus decrements, over every region.
    pub fn value(&self) -> i64 {
        let (p, n) = self.totals.values().fold((0u64, 0u64), |(p, n), t| (p.wrapping_add(t.p), n.wrapping_add(t.n)));
        p.wrapping_sub(n) as i64
    }

    /// Region `origin` adds `delta` (negative: subtracts); returns its totals after.
    pub fn add(&mut self, origin: u16, delta: i64) -> Totals {
        let t = self.totals.entry(origin).or_default();
        *t = t.plus(delta);
        *t
    }

    /// Merges region `origin`'s totals as another replica knows them. Returns whether
    /// anything changed here.
    pub fn merge_totals(&mut self, origin: u16, totals: Totals) -> bool {
        let t = self.totals.entry(origin).or_default();
        let merged = Totals { p: t.p.max(totals.p), n: t.n.max(totals.n) };
        let changed = merged != *t;
        *t = merged;
        changed
    }

    /// Merges every region's totals of `other`.
    pub fn merge(&mut self, other: &PnCounter) {
        for (origin, totals) in &other.totals {
            self.merge_totals(*origin, *totals);
        }
    }

    /// Region `origin`'s totals.
    pub fn totals(&self, origin: u16) -> Totals {
        self.totals.get(&origin).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn increments_and_decrements_of_every_region_add_up() {
        let mut us = PnCounter::new();
        let mut eu = PnCounter::new();
        us.add(0, 5);
        us.add(0, -2);
        eu.add(1, 7);
        let eu_totals = eu.totals(1);
        assert!(us.merge_totals(1, eu_totals));
        assert!(!us.merge_totals(1, eu_totals), "a total delivered twice changes nothing");
        assert!(!us.merge_totals(1, Totals { p: 3, n: 0 }), "an older total changes nothing");
        eu.merge(&us);
        assert_eq!(us.value(), 10);
        assert_eq!(eu, us);
    }

    proptest! {
        /// Updates spread over regions, each region's totals delivered to the others any
        /// number of times in any order (old ones included): every replica ends at the sum.
        #[test]
        fn no_update_is_lost_whatever_the_delivery(
            updates in prop::collection::vec((0u16..3, -50i64..50), 1..80),
            deliveries in prop::collection::vec((0usize..80, 0u16..3), 0..200),
        ) {
            let mut replicas = vec![PnCounter::new(); 3];
            let mut history: Vec<(u16, Totals)> = Vec::new();
            for (origin, delta) in &updates {
                let t = replicas[*origin as usize].add(*origin, *delta);
                history.push((*origin, t));
            }
            for (i, to) in deliveries {
                let (origin, totals) = history[i % history.len()];
                replicas[to as usize].merge_totals(origin, totals);
            }
            // Anti-entropy at the end: everyone gets everyone's latest totals.
            let all = replicas.clone();
            for r in replicas.iter_mut() {
                for other in &all {
                    r.merge(other);
                }
            }
            let sum: i64 = updates.iter().map(|(_, d)| d).sum();
            for r in &replicas {
                prop_assert_eq!(r.value(), sum);
            }
        }
    }
}
