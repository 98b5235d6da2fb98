//! The search's memory: the set of operations linearized so far, and the (set, model state)
//! pairs already explored.
//!
//! Owns: [`Linearized`] (a bitset that keeps track of its all-ones prefix and its last non-zero
//! word, so its canonical form is short: operations are numbered in invocation order, and a
//! search linearizes them roughly in that order, so the set is "everything below a frontier,
//! plus a few concurrent ones") and [`Memo`] (exact membership: a key is the state and the
//! trimmed words, never a hash alone). Must not: iterate the hash set (its order would be
//! arbitrary; only membership is asked).

use super::model::ValueId;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// A set of operation indices `0..n`.
#[derive(Debug, Clone)]
pub(crate) struct Linearized {
    words: Vec<u64>,
    /// `words[..full]` are all ones, and `words[full]` is not (or `full == words.len()`).
    full: usize,
    /// `words[used..]` are all zero, and `words[used - 1]` is not (or `used == 0`).
    used: usize,
}

impl Linearized {
    /// The empty set over `0..n`.
    pub(crate) fn new(n: usize) -> Linearized {
        Linearized { words: vec![0; n.div_ceil(64)], full: 0, used: 0 }
    }

    /// Adds `i` (which must not be in the set).
    pub(crate) fn insert(&mut self, i: usize) {
        let w = i / 64;
        debug_assert_eq!(self.words[w] & (1 << (i % 64)), 0, "{i} inserted twice");
        self.words[w] |= 1 << (i % 64);
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
        self.used = self.used.max(w + 1);
    }

    /// Removes `i` (which must be in the set).
    pub(crate) fn remove(&mut self, i: usize) {
        let w = i / 64;
        debug_assert_ne!(self.words[w] & (1 << (i % 64)), 0, "{i} removed but absent");
        self.words[w] &= !(1 << (i % 64));
        self.full = self.full.min(w);
        while self.used > 0 && self.words[self.used - 1] == 0 {
            self.used -= 1;
        }
    }

    /// Writes the canonical key of (this set, `state`) into `buf`: equal keys iff equal pairs.
    fn key_into(&self, state: ValueId, buf: &mut Vec<u64>) {
        buf.clear();
        let full = u32::try_from(self.full).expect("fewer than 2^38 operations in one key");
        buf.push(u64::from(state) | u64::from(full) << 32);
        if self.used > self.full {
            buf.extend_from_slice(&self.words[self.full..self.used]);
        }
    }
}

/// The explored (set, state) pairs.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    seen: HashSet<Box<[u64]>, BuildHasherDefault<WordHasher>>,
    /// Words held, counting a per-entry overhead of [`ENTRY_OVERHEAD_WORDS`].
    words: u64,
    buf: Vec<u64>,
}

/// What one memo entry costs besides its key words (box pointer and length, table slot,
/// allocator header), in 8-byte words: used to keep the memory budget honest.
pub(crate) const ENTRY_OVERHEAD_WORDS: u64 = 5;

impl Memo {
    /// Records (`set`, `state`); true if it was not already there.
    pub(crate) fn insert(&mut self, set: &Linearized, state: ValueId) -> bool {
        set.key_into(state, &mut self.buf);
        if self.seen.contains(self.buf.as_slice()) {
            return false;
        }
        self.words += self.buf.len() as u64 + ENTRY_OVERHEAD_WORDS;
        self.seen.insert(self.buf.as_slice().into());
        true
    }

    /// How many pairs are recorded.
    pub(crate) fn len(&self) -> u64 {
        self.seen.len() as u64
    }

    /// The memory held, in 8-byte words (approximate, see [`ENTRY_OVERHEAD_WORDS`]).
    pub(crate) fn words(&self) -> u64 {
        self.words
    }
}

/// A fast, deterministic hasher for word slices (multiply-rotate, with a final mix).
#[derive(Debug, Default)]
pub(crate) struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }

    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(set: &Linearized, state: ValueId) -> Vec<u64> {
        let mut buf = Vec::new();
        set.key_into(state, &mut buf);
        buf
    }

    #[test]
    fn memo_remembers_pairs_exactly() {
        let mut set = Linearized::new(130);
        let mut memo = Memo::default();
        assert!(memo.insert(&set, 0));
        assert!(!memo.insert(&set, 0));
        assert!(memo.insert(&set, 1), "same set, other state");
        set.insert(129);
        assert!(memo.insert(&set, 0));
        assert_eq!(memo.len(), 3);
        assert!(memo.words() >= 3 * ENTRY_OVERHEAD_WORDS);
    }

    proptest! {
        /// The trimmed key is canonical: the same set reached by different insert/remove paths
        /// gives the same key, and different sets give different keys.
        #[test]
        fn key_is_canonical(n in 1usize..300, ops in prop::collection::vec((any::<bool>(), 0usize..300), 0..200)) {
            let mut set = Linearized::new(n);
            let mut reference = std::collections::BTreeSet::new();
            for (add, i) in ops {
                let i = i % n;
                match (add, reference.contains(&i)) {
                    (true, false) => { set.insert(i); reference.insert(i); }
                    (false, true) => { set.remove(i); reference.remove(&i); }
                    _ => {}
                }
            }
            let mut fresh = Linearized::new(n);
            for &i in &reference { fresh.insert(i); }
            prop_assert_eq!(key(&set, 7), key(&fresh, 7));
            let mut other = fresh.clone();
            let probe = (reference.len() * 7) % n;
            if reference.contains(&probe) { other.remove(probe) } else { other.insert(probe) }
            prop_assert_ne!(key(&other, 7), key(&fresh, 7));
        }
    }
}
