//! Range sharding over raw key bytes (compared lexicographically, as `[u8]` orders): with split
//! points `bounds`, a key below `bounds[0]` belongs to node 0, a key in `bounds[i - 1]..bounds[i]`
//! to node `i`, and a key at or above the last bound to the last node. There is one fewer bound
//! than nodes, strictly ascending.
//!
//! Membership changes: removing node `i` merges its range into the one before it (node 0's into
//! node 1's), so only the removed node's keys move. Adding is refused: where a new range starts
//! depends on the data, so ranges are resplit by configuration (build a new sharder).
//!
//! This file owns the bounds and their lookup; it must not hash, and allocates only when built.

use super::{Node, ShardError};

/// The split points.
#[derive(Debug, Clone)]
pub struct Range {
    bounds: Vec<Vec<u8>>,
}

impl Range {
    /// Checks the bounds against the nodes.
    pub fn build(nodes: &[Node], bounds: &[Vec<u8>]) -> Result<Self, ShardError> {
        if bounds.len() + 1 != nodes.len() {
            return Err(ShardError::RangeBoundCount { bounds: bounds.len(), nodes: nodes.len() });
        }
        if let Some(index) = (1..bounds.len()).find(|&i| bounds[i - 1] >= bounds[i]) {
            return Err(ShardError::RangeUnsorted { index });
        }
        Ok(Range { bounds: bounds.to_vec() })
    }

    /// The index of the node whose range holds `key`: the number of bounds at or below it.
    pub fn owner(&self, key: &[u8]) -> usize {
        self.bounds.partition_point(|b| b.as_slice() <= key)
    }
}

/// The bounds once node `index` leaves: its range joins the one before it (the first joins the
/// second), which drops the bound where the removed range started (the first range's end).
pub fn without(bounds: &[Vec<u8>], index: usize) -> Vec<Vec<u8>> {
    let mut bounds = bounds.to_vec();
    if !bounds.is_empty() {
        bounds.remove(index.saturating_sub(1).min(bounds.len() - 1));
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(count: usize) -> Vec<Node> {
        (0..count).map(|i| Node::from(format!("r{i}"))).collect()
    }

    fn check(bounds: &[&str], key: &str, expected: usize) {
        let bounds: Vec<Vec<u8>> = bounds.iter().map(|b| b.as_bytes().to_vec()).collect();
        let range = Range::build(&nodes(bounds.len() + 1), &bounds).unwrap();
        assert_eq!(range.owner(key.as_bytes()), expected, "key {key:?} over {bounds:?}");
    }

    #[test]
    fn keys_go_to_their_range() {
        check(&[], "anything", 0);
        check(&["g", "p"], "", 0);
        check(&["g", "p"], "apple", 0);
        check(&["g", "p"], "g", 1);
        check(&["g", "p"], "kiwi", 1);
        check(&["g", "p"], "p", 2);
        check(&["g", "p"], "zebra", 2);
    }

    #[test]
    fn bad_bounds_are_errors() {
        let b = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            Range::build(&nodes(3), &[b("a")]).unwrap_err(),
            ShardError::RangeBoundCount { bounds: 1, nodes: 3 }
        );
        assert_eq!(Range::build(&nodes(3), &[b("m"), b("c")]).unwrap_err(), ShardError::RangeUnsorted { index: 1 });
        assert_eq!(Range::build(&nodes(3), &[b("m"), b("m")]).unwrap_err(), ShardError::RangeUnsorted { index: 1 });
    }

    #[test]
    fn removing_a_range_drops_the_bound_it_started_at() {
        let b = |s: &str| s.as_bytes().to_vec();
        let bounds = vec![b("g"), b("p")];
        assert_eq!(without(&bounds, 0), [b("p")]);
        assert_eq!(without(&bounds, 1), [b("p")]);
        assert_eq!(without(&bounds, 2), [b("g")]);
    }

    proptest! {
        #[test]
        fn the_owner_matches_a_linear_scan(
            mut bounds in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..4), 0..8)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            key in proptest::collection::vec(any::<u8>(), 0..5),
        ) {
            let range = Range::build(&nodes(bounds.len() + 1), &bounds).unwrap();
            let expected = bounds.iter().position(|b| key.as_slice() < b.as_slice()).unwrap_or(bounds.len());
            prop_assert_eq!(range.owner(&key), expected);
            bounds.reverse();
            if bounds.len() > 1 {
                prop_assert!(Range::build(&nodes(bounds.len() + 1), &bounds).is_err());
            }
        }
    }
}
