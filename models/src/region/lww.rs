//! A last-writer-wins map: each key holds the value of the write with the highest
//! [`Version`] (its hybrid logical stamp, then its origin region to break ties), whichever
//! order the writes arrive in. It is a state-based CRDT: two maps that applied the same writes
//! hold the same values, so replicas that exchange every write converge.
//!
//! What it costs: a write that arrives with a lower version than the key's is discarded
//! ([`Merged::Discarded`]): if it was concurrent with the winner, or later in real time but
//! stamped by a clock running behind, it is lost although it was acknowledged. The map counts
//! what it discarded; the node reports each discard so a check can tell the two causes apart.
//!
//! This module owns the merge rule and the map; it must not stamp writes (that is
//! [`super::hlc`]) or ship them.

use super::hlc::Stamp;
use std::collections::BTreeMap;

/// The total order LWW resolves conflicts by: the stamp, then the origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// When it was written, on the hybrid logical clock of its origin.
    pub stamp: Stamp,
    /// The index of the node (region) that accepted it.
    pub origin: u16,
}

/// A key's value (`None`: deleted, a tombstone) and the version that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The value; `None` after a delete.
    pub value: Option<Vec<u8>>,
    /// The winning write's version.
    pub version: Version,
}

/// What merging one write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// It is the key's value now; `replaced` is what it overwrote (if anything).
    Applied { replaced: Option<Cell> },
    /// The key holds a higher version: the write is lost here.
    Discarded { winner: Cell },
    /// The key holds exactly this version already (a write delivered twice).
    Duplicate,
}

/// The map.
#[derive(Debug, Clone, Default)]
pub struct LwwMap {
    cells: BTreeMap<Vec<u8>, Cell>,
    discarded: u64,
}

impl LwwMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key` (`None`: absent or deleted).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.cells.get(key).and_then(|c| c.value.as_deref())
    }

    /// The cell of `key`, tombstones included.
    pub fn cell(&self, key: &[u8]) -> Option<&Cell> {
        self.cells.get(key)
    }

    /// Writes discarded so far because the key held a higher version.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Keys held, tombstones included.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Merges a write of `value` to `key` at `version`.
    pub fn merge(&mut self, key: &[u8], value: Option<Vec<u8>>, version: Version) -> Merged {
        match self.cells.get_mut(key) {
            None => {
                self.cells.insert(key.to_vec(), Cell { value, version });
                Merged::Applied { replaced: None }
            }
            Some(cell) if cell.version == version => Merged::Duplicate,
            Some(cell) if cell.version > version => {
                self.discarded += 1;
                Merged::Discarded { winner: cell.clone() }
            }
            Some(cell) => {
                let replaced = std::mem::replace(cell, Cell { value, version });
                Merged::Applied { replaced: Some(replaced) }
            }
        }
    }

    /// Every cell, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Cell)> {
        self.cells.iter().map(|(k, c)| (k.as_slice(), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(wall_ns: u64, origin: u16) -> Version {
        Version { stamp: Stamp { wall_ns, logical: 0 }, origin }
    }

    #[test]
    fn the_highest_version_wins_whatever_the_order() {
        let mut a = LwwMap::new();
        assert_eq!(a.merge(b"k", Some(b"x".to_vec()), v(5, 1)), Merged::Applied { replaced: None });
        let old = a.merge(b"k", Some(b"y".to_vec()), v(3, 2));
        assert!(matches!(old, Merged::Discarded { ref winner } if winner.version == v(5, 1)));
        assert_eq!(a.get(b"k"), Some(&b"x"[..]));
        assert_eq!(a.discarded(), 1);
        assert_eq!(a.merge(b"k", Some(b"x".to_vec()), v(5, 1)), Merged::Duplicate);
        assert!(matches!(a.merge(b"k", None, v(5, 2)), Merged::Applied { replaced: Some(_) }), "origin breaks the tie");
        assert_eq!(a.get(b"k"), None, "a delete is a tombstone that wins like a write");
        assert_eq!(a.len(), 1);
    }

    proptest! {
        /// Two maps that merge the same writes, each in its own order and with repeats, hold
        /// the same cells: the merge is commutative, associative and idempotent.
        #[test]
        fn replicas_that_see_the_same_writes_converge(
            writes in prop::collection::vec((0u8..4, prop::option::of(0u8..8), 0u64..6, 0u16..3), 1..60),
            order in prop::collection::vec(any::<prop::sample::Index>(), 1..120),
        ) {
            // Distinct versions: one write per (stamp, origin) pair, as real stamps are.
            let mut seen = std::collections::BTreeSet::new();
            let writes: Vec<_> = writes.into_iter().filter(|(_, _, t, o)| seen.insert((*t, *o))).collect();
            let mut a = LwwMap::new();
            for (k, val, t, o) in &writes {
                a.merge(&[*k], val.map(|x| vec![x]), v(*t, *o));
            }
            let mut b = LwwMap::new();
            for i in order.iter().map(|i| i.index(writes.len())).chain(0..writes.len()).collect::<Vec<_>>().into_iter().rev() {
                let (k, val, t, o) = &writes[i];
                b.merge(&[*k], val.map(|x| vec![x]), v(*t, *o));
            }
            prop_assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
            for (k, cell) in a.iter() {
                let best = writes.iter().filter(|w| [w.0] == k).map(|w| v(w.2, w.3)).max().unwrap();
                prop_assert_eq!(cell.version, best);
            }
        }
    }
}
