//! Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of `M` slots (`M` prime), filled
//! so that every node gets `M / n` slots give or take one, and a key's owner is the slot at
//! `hash(key) % M`.
//!
//! Each node has a permutation of the slots, `(offset + j * skip) % M`, with `offset` and `skip`
//! from two hashes of its name (`skip` in `1..M`, so with `M` prime the permutation visits every
//! slot). Nodes take turns claiming the next slot of their permutation still free until the table
//! is full. Nodes are filled in name order, so the table depends on the set of names only. When
//! a node joins or leaves, most slots keep their owner but, unlike a ring, a few change between
//! nodes that stay (the paper's "minimal disruption" is near-minimal, not minimal).
//!
//! This file owns the table and its population; it must not know about other schemes, and it
//! allocates only when built.

use super::{Node, ShardError};

/// The largest table accepted (a table holds one `u32` a slot: 16 MiB at this size).
pub const MAX_TABLE: u64 = 1 << 22;

/// Seeds of the two name hashes that give a node's offset and skip.
const OFFSET_SEED: u64 = 0x6d61_676c_6576_6f66; // "maglevof"
const SKIP_SEED: u64 = 0x6d61_676c_6576_736b; // "maglevsk"

/// The lookup table: the owning node's index for every slot.
#[derive(Debug, Clone)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Checks the table size and fills the table.
    pub fn build(nodes: &[Node], table: u64) -> Result<Self, ShardError> {
        if table < nodes.len() as u64 || table > MAX_TABLE {
            return Err(ShardError::TableSize { table, nodes: nodes.len(), max: MAX_TABLE });
        }
        if !is_prime(table) {
            return Err(ShardError::TableNotPrime { table });
        }
        Ok(Maglev { table: populate(nodes, table) })
    }

    /// The index of the node owning a key hash.
    pub fn owner(&self, hash: u64) -> usize {
        self.table[(hash % self.table.len() as u64) as usize] as usize
    }

    /// How many slots each node holds, in node-list order.
    pub fn slots(&self, nodes: usize) -> Vec<u64> {
        let mut counts = vec![0u64; nodes];
        for &slot in &self.table {
            counts[slot as usize] += 1;
        }
        counts
    }
}

/// The paper's population: nodes (in name order) take turns claiming their next free slot.
fn populate(nodes: &[Node], size: u64) -> Vec<u32> {
    const FREE: u32 = u32::MAX;
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| nodes[a].cmp(&nodes[b]));
    let walks: Vec<(u64, u64)> = order.iter().map(|&i| offset_and_skip(&nodes[i], size)).collect();
    let mut next = vec![0u64; nodes.len()];
    let mut table = vec![FREE; size as usize];
    let mut filled = 0u64;
    'fill: loop {
        for (turn, &index) in order.iter().enumerate() {
            let (offset, skip) = walks[turn];
            // A permutation of a prime-sized table visits every slot within `size` steps, and a
            // free slot remains while `filled < size`.
            let slot = loop {
                let slot = ((offset + next[turn] % size * skip) % size) as usize;
                next[turn] += 1;
                if table[slot] == FREE {
                    break slot;
                }
            };
            table[slot] = u32::try_from(index).expect("a table holds fewer than 2^32 nodes");
            filled += 1;
            if filled == size {
                break 'fill;
            }
        }
    }
    table
}

/// A node's permutation: where it starts and how far it steps (never 0).
fn offset_and_skip(node: &str, size: u64) -> (u64, u64) {
    let offset = xxhash_rust::xxh3::xxh3_64_with_seed(node.as_bytes(), OFFSET_SEED) % size;
    // `size` is a prime, so at least 2.
    let skip = xxhash_rust::xxh3::xxh3_64_with_seed(node.as_bytes(), SKIP_SEED) % (size - 1) + 1;
    (offset, skip)
}

/// Trial division; table sizes are at most [`MAX_TABLE`], so this takes at most ~1,000 steps.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(count: usize) -> Vec<Node> {
        (0..count).map(|i| Node::from(format!("m{i}"))).collect()
    }

    #[test]
    fn primes_are_told_apart() {
        let primes: Vec<u64> = (0..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]);
        assert!(is_prime(65_537));
        assert!(is_prime(251));
        assert!(!is_prime(65_535));
        assert!(!is_prime(251 * 257));
    }

    #[test]
    fn bad_tables_are_errors() {
        let three = names(3);
        assert_eq!(Maglev::build(&three, 100).unwrap_err(), ShardError::TableNotPrime { table: 100 });
        assert_eq!(Maglev::build(&three, 2).unwrap_err(), ShardError::TableSize { table: 2, nodes: 3, max: MAX_TABLE });
        assert!(matches!(Maglev::build(&three, MAX_TABLE + 1), Err(ShardError::TableSize { .. })));
    }

    proptest! {
        #[test]
        fn every_node_gets_its_share_of_slots_give_or_take_one(count in 1usize..20, table in prop_oneof![Just(251u64), Just(1_009), Just(65_537)]) {
            let nodes = names(count);
            let maglev = Maglev::build(&nodes, table).unwrap();
            let slots = maglev.slots(count);
            prop_assert_eq!(slots.iter().sum::<u64>(), table);
            let (min, max) = (*slots.iter().min().unwrap(), *slots.iter().max().unwrap());
            prop_assert!(max - min <= 1, "slots {:?}", slots);
        }

        #[test]
        fn a_table_as_small_as_the_node_list_is_filled(count in 1usize..12) {
            let nodes = names(count);
            let size = (count as u64..).find(|&n| is_prime(n)).unwrap();
            let maglev = Maglev::build(&nodes, size).unwrap();
            prop_assert!(maglev.slots(count).iter().all(|&s| s >= 1));
        }
    }
}
