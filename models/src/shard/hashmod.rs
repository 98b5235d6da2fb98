//! Hash-mod sharding: a key belongs to node `hash(key) % n`.
//!
//! The naive scheme, kept as the contrast: when `n` becomes `n + 1`, a key stays only if
//! `hash % n == hash % (n + 1)`, which holds for about `1 / (n + 1)` of the keys, so about
//! `n / (n + 1)` of them move. Nodes are positions in the list. This file must not know node
//! names, and allocates nothing.

/// The bucket in `0..buckets` of a key hash. `buckets` must be at least 1.
pub fn bucket(hash: u64, buckets: usize) -> usize {
    assert!(buckets > 0, "a sharder always has a node");
    (hash % buckets as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_is_the_remainder() {
        assert_eq!(bucket(10, 3), 1);
        assert_eq!(bucket(u64::MAX, 1), 0);
        assert_eq!(bucket(u64::MAX, 10), 5);
    }
}
