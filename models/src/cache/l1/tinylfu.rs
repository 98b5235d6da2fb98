//! W-TinyLFU, as Caffeine lays it out: a small LRU window in front of a segmented LRU main area,
//! with a frequency sketch deciding who may enter the main area.
//!
//! - The window takes ~1% of the capacity (at least one entry); every new entry starts there, so
//!   a burst of fresh keys can hit before the sketch has seen them often.
//! - The main area is a segmented LRU: probation (20% of it) and protected (80%). A hit in
//!   probation promotes the entry to protected; protected past its share demotes its least
//!   recent entry back to probation's most recent end.
//! - When the window overflows, its least recent entry is the candidate. If the main area has
//!   room it joins probation. Otherwise it duels the victim, probation's least recent entry (or
//!   protected's if probation is empty): the candidate is admitted, and the victim evicted, only
//!   if the sketch says the candidate is strictly more frequent. Ties and losses reject the
//!   candidate, except Caffeine's guard against hash flooding: a candidate of frequency 6 or more
//!   that does not win is still admitted with chance 1/128, drawn from a SplitMix64 stream seeded
//!   by the configuration (deterministic).
//! - The window size is fixed; Caffeine's hill climber that resizes it is not modelled.
//!
//! Every operation is O(1): three intrusive lists over the cache's slab and a side table of
//! which list a slot is in. This file must not know about keys, values or time; it sees slots
//! and their hashes.

use super::lru::{Deque, Lane, Node, Removal};
use super::sketch::Sketch;

/// A candidate at least this frequent gets the small random admission when it does not win.
const WARM_FREQUENCY: u8 = 6;
/// The random admission's odds: one in this many (a power of two, so a mask draws it).
const RANDOM_ADMISSION_ODDS: u64 = 128;

/// Which of the three lists a slot is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Window,
    Probation,
    Protected,
}

/// The W-TinyLFU policy over the cache's slots.
#[derive(Debug, Clone)]
pub(crate) struct TinyLfu {
    window: Deque,
    probation: Deque,
    protected: Deque,
    /// The list of each slot (stale for free slots), indexed by slot.
    regions: Vec<Region>,
    window_capacity: usize,
    main_capacity: usize,
    protected_capacity: usize,
    sketch: Sketch,
    /// SplitMix64 state for the random admission.
    random: u64,
}

impl TinyLfu {
    /// An empty policy for `capacity` entries (at least 1; the cache handles 0 itself).
    pub(crate) fn new(capacity: usize, seed: u64) -> Self {
        let capacity = capacity.max(1);
        let main_capacity = capacity - capacity.div_ceil(100);
        Self {
            window: Deque::new(Lane::Access),
            probation: Deque::new(Lane::Access),
            protected: Deque::new(Lane::Access),
            regions: Vec::new(),
            window_capacity: capacity - main_capacity,
            main_capacity,
            protected_capacity: main_capacity / 5 * 4 + main_capacity % 5 * 4 / 5,
            sketch: Sketch::new(capacity),
            random: seed,
        }
    }

    /// Counts an access to the key (hit or miss) in the sketch.
    pub(crate) fn record(&mut self, hash: u64) {
        self.sketch.increment(hash);
    }

    /// A hit or an overwrite: recency within the slot's list, promotion out of probation.
    pub(crate) fn on_hit(&mut self, nodes: &mut [Node], slot: u32) {
        match self.regions[slot as usize] {
            Region::Window => self.window.move_to_back(nodes, slot),
            Region::Protected => self.protected.move_to_back(nodes, slot),
            Region::Probation => {
                self.probation.unlink(nodes, slot);
                self.protected.push_back(nodes, slot);
                self.regions[slot as usize] = Region::Protected;
                if self.protected.len() > self.protected_capacity {
                    let demoted = self.protected.front().expect("protected over its share is not empty");
                    self.protected.unlink(nodes, demoted);
                    self.probation.push_back(nodes, demoted);
                    self.regions[demoted as usize] = Region::Probation;
                }
            }
        }
    }

    /// A new slot enters the window; the window's overflow is admitted to the main area or not.
    pub(crate) fn on_insert(&mut self, nodes: &mut [Node], slot: u32) -> Option<Removal> {
        let index = slot as usize;
        if self.regions.len() <= index {
            self.regions.resize(index + 1, Region::Window);
        }
        self.window.push_back(nodes, slot);
        self.regions[index] = Region::Window;
        if self.window.len() <= self.window_capacity {
            return None;
        }
        let candidate = self.window.front().expect("a window over capacity is not empty");
        self.window.unlink(nodes, candidate);
        if self.probation.len() + self.protected.len() < self.main_capacity {
            self.join_probation(nodes, candidate);
            return None;
        }
        let Some(victim) = self.probation.front().or(self.protected.front()) else {
            // No main area at all (a capacity of 1): the window's overflow has nowhere to go.
            return Some(Removal::Rejected(candidate));
        };
        if !self.admit(nodes[candidate as usize].hash, nodes[victim as usize].hash) {
            return Some(Removal::Rejected(candidate));
        }
        self.on_remove(nodes, victim);
        self.join_probation(nodes, candidate);
        Some(Removal::Evicted(victim))
    }

    fn join_probation(&mut self, nodes: &mut [Node], slot: u32) {
        self.probation.push_back(nodes, slot);
        self.regions[slot as usize] = Region::Probation;
    }

    /// Whether the candidate may replace the victim.
    fn admit(&mut self, candidate_hash: u64, victim_hash: u64) -> bool {
        let candidate = self.sketch.frequency(candidate_hash);
        let victim = self.sketch.frequency(victim_hash);
        if candidate > victim {
            return true;
        }
        if candidate < WARM_FREQUENCY {
            return false;
        }
        self.next_random() & (RANDOM_ADMISSION_ODDS - 1) == 0
    }

    /// SplitMix64: a tiny deterministic stream, enough for a 1-in-128 coin.
    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A slot removed by the cache (invalidated, expired, or evicted here).
    pub(crate) fn on_remove(&mut self, nodes: &mut [Node], slot: u32) {
        match self.regions[slot as usize] {
            Region::Window => self.window.unlink(nodes, slot),
            Region::Probation => self.probation.unlink(nodes, slot),
            Region::Protected => self.protected.unlink(nodes, slot),
        }
    }

    /// Forgets every slot and every frequency.
    pub(crate) fn clear(&mut self) {
        self.window.clear();
        self.probation.clear();
        self.protected.clear();
        self.sketch.clear();
    }

    /// The (window, probation, protected) lengths (tests only).
    #[cfg(test)]
    pub(crate) fn lengths(&self) -> (usize, usize, usize) {
        (self.window.len(), self.probation.len(), self.protected.len())
    }

    /// The (window, main, protected) capacities (tests only).
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize, usize) {
        (self.window_capacity, self.main_capacity, self.protected_capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<Node> {
        (0..n as u64).map(|i| Node::new(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect()
    }

    #[test]
    fn splits_the_capacity_as_caffeine() {
        assert_eq!(TinyLfu::new(1000, 0).capacities(), (10, 990, 792));
        assert_eq!(TinyLfu::new(10_000, 0).capacities(), (100, 9900, 7920));
        assert_eq!(TinyLfu::new(50, 0).capacities(), (1, 49, 39));
        assert_eq!(TinyLfu::new(1, 0).capacities(), (1, 0, 0));
    }

    #[test]
    fn a_frequent_candidate_replaces_a_rare_victim_and_a_rare_one_is_rejected() {
        // Capacity 3: window 1, main 2.
        let mut nodes = nodes(5);
        let mut policy = TinyLfu::new(3, 0);
        for slot in 0..3 {
            assert_eq!(policy.on_insert(&mut nodes, slot), None);
        }
        assert_eq!(policy.lengths(), (1, 2, 0));
        // Slot 3 pushes slot 2 out of the window; neither was ever read, so 2 loses the tie.
        assert_eq!(policy.on_insert(&mut nodes, 3), Some(Removal::Rejected(2)));
        // Slot 3 read twice: when slot 4 pushes it out it beats probation's front (slot 0).
        policy.record(nodes[3].hash);
        policy.record(nodes[3].hash);
        assert_eq!(policy.on_insert(&mut nodes, 4), Some(Removal::Evicted(0)));
        assert_eq!(policy.lengths(), (1, 2, 0));
    }

    #[test]
    fn a_probation_hit_promotes_and_protected_overflow_demotes() {
        // Capacity 100: window 1, main 99, protected 79.
        let mut nodes = nodes(101);
        let mut policy = TinyLfu::new(100, 0);
        for slot in 0..100 {
            assert_eq!(policy.on_insert(&mut nodes, slot), None);
        }
        assert_eq!(policy.lengths(), (1, 99, 0));
        for slot in 0..80 {
            policy.on_hit(&mut nodes, slot);
        }
        // 80 promoted, one demoted back: protected holds its 79.
        assert_eq!(policy.lengths(), (1, 20, 79));
        assert_eq!(policy.regions[0], Region::Probation);
        assert_eq!(policy.regions[79], Region::Protected);
        policy.on_remove(&mut nodes, 79);
        assert_eq!(policy.lengths(), (1, 20, 78));
    }

    #[test]
    fn a_warm_tie_is_admitted_about_once_in_128() {
        let mut policy = TinyLfu::new(100, 42);
        for _ in 0..7 {
            policy.record(1);
            policy.record(2);
        }
        let admitted = (0..128_000).filter(|_| policy.admit(1, 2)).count();
        assert!((800..1200).contains(&admitted), "admitted {admitted} of 128000");
        // A cold tie never is.
        assert!((0..10_000).all(|_| !policy.admit(3, 4)));
    }
}
