//! Consistent hashing with virtual nodes (ketama style): each node gets `vnodes` points on a
//! 64-bit circle, hashed from `"name#i"`; a key belongs to the first point at or clockwise after
//! its hash, wrapping past the top.
//!
//! Points depend only on node names, so the ring is the same for any order of the node list:
//! two points on the same spot are ordered by node name, the smaller first. With `v` points a
//! node, a node's share of the circle has a coefficient of variation of about `1 / sqrt(v)`.
//!
//! This file owns the ring's points and its lookup; it must not know about other schemes, and
//! it allocates only when built.

use super::{Node, ShardError};

/// The most virtual nodes a ring node may have.
pub const MAX_VNODES: u32 = 100_000;
/// The most points a ring may hold in all (16 bytes each: 256 MiB at this size).
pub const MAX_POINTS: usize = 1 << 24;

/// Seed of the point hash, distinct from the key hash's.
const POINT_SEED: u64 = 0x7269_6e67_706f_696e; // "ringpoin"

/// The ring: points sorted by position, each naming its node's index in the node list.
#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// Places `vnodes` points for every node.
    pub fn build(nodes: &[Node], vnodes: u32) -> Result<Self, ShardError> {
        let max = max_vnodes(nodes.len());
        if vnodes == 0 || vnodes > max {
            return Err(ShardError::Vnodes { vnodes, nodes: nodes.len(), max });
        }
        let mut points = Vec::with_capacity(nodes.len() * vnodes as usize);
        let mut label = String::new();
        for (index, node) in nodes.iter().enumerate() {
            let index = u32::try_from(index).expect("a ring holds fewer than 2^32 nodes");
            for i in 0..vnodes {
                points.push((point(&mut label, node, i), index));
            }
        }
        // Ties on position go to the smaller name, whatever the list order.
        points.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| nodes[a.1 as usize].cmp(&nodes[b.1 as usize])));
        Ok(Ring { points })
    }

    /// The index of the node owning a key hash: the first point at or after it, else the first.
    pub fn owner(&self, hash: u64) -> usize {
        let at = self.points.partition_point(|p| p.0 < hash);
        let (_, index) = self.points.get(at).unwrap_or(&self.points[0]);
        *index as usize
    }

    /// How many points the ring holds.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring holds no points (never, once built).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The most virtual nodes each of `nodes` nodes may have: [`MAX_VNODES`], or fewer if the ring
/// would pass [`MAX_POINTS`].
pub fn max_vnodes(nodes: usize) -> u32 {
    let by_points = u32::try_from(MAX_POINTS / nodes.max(1)).unwrap_or(u32::MAX);
    MAX_VNODES.min(by_points)
}

/// The position of a node's `i`-th point: the hash of `"name#i"`, built in a reused buffer.
fn point(label: &mut String, node: &str, i: u32) -> u64 {
    use std::fmt::Write;
    label.clear();
    write!(label, "{node}#{i}").expect("writing to a String cannot fail");
    xxhash_rust::xxh3::xxh3_64_with_seed(label.as_bytes(), POINT_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(names: &[&str]) -> Vec<Node> {
        names.iter().map(|n| Node::from(*n)).collect()
    }

    /// The owner by brute force: the point with the smallest clockwise distance from the hash.
    fn brute_force(ring: &Ring, nodes: &[Node], hash: u64) -> Node {
        let best = ring
            .points
            .iter()
            .min_by(|a, b| {
                let (da, db) = (a.0.wrapping_sub(hash), b.0.wrapping_sub(hash));
                da.cmp(&db).then_with(|| nodes[a.1 as usize].cmp(&nodes[b.1 as usize]))
            })
            .expect("a built ring has points");
        nodes[best.1 as usize].clone()
    }

    #[test]
    fn a_ring_has_vnodes_points_a_node() {
        let ring = Ring::build(&nodes(&["a", "b", "c"]), 160).unwrap();
        assert_eq!(ring.len(), 480);
        assert!(!ring.is_empty());
    }

    #[test]
    fn vnodes_out_of_range_are_errors() {
        let two = nodes(&["a", "b"]);
        assert_eq!(Ring::build(&two, 0).unwrap_err(), ShardError::Vnodes { vnodes: 0, nodes: 2, max: MAX_VNODES });
        assert!(matches!(Ring::build(&two, MAX_VNODES + 1), Err(ShardError::Vnodes { .. })));
        // 1,000 nodes of 100,000 points would be 1.6 GB: the cap is the total.
        let many: Vec<Node> = (0..1_000).map(|i| Node::from(format!("n{i}"))).collect();
        assert_eq!(max_vnodes(1_000), 16_777);
        assert_eq!(
            Ring::build(&many, 20_000).unwrap_err(),
            ShardError::Vnodes { vnodes: 20_000, nodes: 1_000, max: 16_777 }
        );
    }

    #[test]
    fn a_hash_past_the_last_point_wraps_to_the_first() {
        let names = nodes(&["a", "b", "c"]);
        let ring = Ring::build(&names, 4).unwrap();
        let (last, _) = *ring.points.last().unwrap();
        if last < u64::MAX {
            assert_eq!(ring.owner(last + 1), ring.points[0].1 as usize);
        }
        // u64::MAX is past every point unless one sits exactly there: either way, brute force agrees.
        assert_eq!(names[ring.owner(u64::MAX)], brute_force(&ring, &names, u64::MAX));
    }

    proptest! {
        #[test]
        fn the_binary_search_matches_a_brute_force_owner_search(
            count in 1usize..8, vnodes in 1u32..40, hashes in proptest::collection::vec(any::<u64>(), 1..64),
        ) {
            let names: Vec<Node> = (0..count).map(|i| Node::from(format!("node{i}"))).collect();
            let ring = Ring::build(&names, vnodes).unwrap();
            for hash in hashes {
                prop_assert_eq!(&names[ring.owner(hash)], &brute_force(&ring, &names, hash));
            }
        }

        #[test]
        fn exact_point_positions_belong_to_that_point(count in 1usize..6, vnodes in 1u32..20) {
            let names: Vec<Node> = (0..count).map(|i| Node::from(format!("n{i}"))).collect();
            let ring = Ring::build(&names, vnodes).unwrap();
            for &(position, _) in &ring.points {
                // The first point at this position wins (the smaller name on a tie).
                let first = ring.points.iter().find(|p| p.0 == position).unwrap();
                prop_assert_eq!(ring.owner(position), first.1 as usize);
            }
        }
    }
}
