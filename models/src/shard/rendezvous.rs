//! Rendezvous hashing (highest random weight, Thaler & Ravishankar): every node scores the key
//! with `xxh3(key)` seeded by the node's own name hash, and the highest score wins; a tie goes to
//! the smaller name.
//!
//! A node's score for a key does not depend on the other nodes, so adding a node moves only the
//! keys it now wins, and removing one moves only the keys it held; owners depend on the set of
//! names, not their order. A lookup costs one hash a node. This file must not know about other
//! schemes, and allocates only when built.

use super::Node;

/// Seed of the node-name hash, which in turn seeds each node's key scores.
const NODE_SEED: u64 = 0x7265_6e64_657a_766f; // "rendezvo"

/// Each node's score seed, in node-list order.
#[derive(Debug, Clone)]
pub struct Rendezvous {
    seeds: Vec<u64>,
    /// Node indices by ascending name, to break ties by name whatever the list order.
    by_name: Vec<usize>,
}

impl Rendezvous {
    /// Hashes every node's name into its score seed.
    pub fn build(nodes: &[Node]) -> Self {
        let seeds = nodes.iter().map(|n| xxhash_rust::xxh3::xxh3_64_with_seed(n.as_bytes(), NODE_SEED)).collect();
        let mut by_name: Vec<usize> = (0..nodes.len()).collect();
        by_name.sort_by(|&a, &b| nodes[a].cmp(&nodes[b]));
        Rendezvous { seeds, by_name }
    }

    /// The index of the node with the highest score for `key` (the smaller name on a tie).
    pub fn owner(&self, key: &[u8]) -> usize {
        let mut best = (0u64, usize::MAX);
        for &index in &self.by_name {
            let score = score(self.seeds[index], key);
            // Strictly greater: on a tie the earlier, smaller name keeps the key.
            if best.1 == usize::MAX || score > best.0 {
                best = (score, index);
            }
        }
        best.1
    }
}

/// A node's score for a key.
fn score(seed: u64, key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(count: usize) -> Vec<Node> {
        (0..count).map(|i| Node::from(format!("r{i}"))).collect()
    }

    proptest! {
        #[test]
        fn the_owner_has_the_highest_score(count in 1usize..10, key in proptest::collection::vec(any::<u8>(), 0..24)) {
            let nodes = names(count);
            let rendezvous = Rendezvous::build(&nodes);
            let owner = rendezvous.owner(&key);
            let top = rendezvous.seeds.iter().map(|&s| score(s, &key)).max().unwrap();
            prop_assert_eq!(score(rendezvous.seeds[owner], &key), top);
        }
    }

    #[test]
    fn a_tie_goes_to_the_smaller_name() {
        // Force a tie: two nodes with the same seed.
        let nodes: Vec<Node> = vec!["b".into(), "a".into()];
        let rendezvous = Rendezvous { seeds: vec![7, 7], by_name: vec![1, 0] };
        assert_eq!(&*nodes[rendezvous.owner(b"k")], "a");
    }
}
