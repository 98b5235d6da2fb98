//! Jump consistent hash (Lamping & Veach, 2014) over a 64-bit key hash.
//!
//! Follow one key as the bucket count grows from 1: it starts in bucket 0, and when the count
//! goes from `n` to `n + 1` it jumps to the new bucket `n` with probability `1 / (n + 1)`, else
//! stays. Rather than walk every count, the algorithm jumps straight to the next count at which
//! the key moves: after a jump to bucket `b`, the key stays put through count `i` with
//! probability `(b + 1) / i`, so with `r` uniform in (0, 1] the next jump lands at
//! `floor((b + 1) / r)`. The draws are a pseudo-random sequence seeded by the key hash (here
//! splitmix64), so they are the same for every bucket count; a key therefore only ever moves to
//! the newest bucket, and exactly `1 / (n + 1)` of the keys move in expectation.
//!
//! Buckets are positions in the node list: only the last may leave. This file must not know
//! node names, and allocates nothing.

/// The bucket in `0..buckets` of a key hash. `buckets` must be at least 1.
pub fn bucket(hash: u64, buckets: usize) -> usize {
    assert!(buckets > 0, "a sharder always has a node");
    let buckets = buckets as u64;
    let mut state = hash;
    let mut bucket = 0u64;
    loop {
        let r = unit(splitmix64(&mut state));
        // (bucket + 1) / r >= bucket + 1, so every step moves forward; `as` saturates.
        let next = ((bucket + 1) as f64 / r).floor() as u64;
        if next >= buckets {
            return bucket as usize;
        }
        bucket = next;
    }
}

/// The next value of a splitmix64 sequence (Steele, Lea & Flood's generator).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in (0, 1] from the top 53 bits (never 0, so the division above is finite).
fn unit(bits: u64) -> f64 {
    ((bits >> 11) + 1) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_bucket_holds_every_key() {
        for hash in [0, 1, 42, u64::MAX] {
            assert_eq!(bucket(hash, 1), 0);
        }
    }

    #[test]
    fn unit_is_in_the_half_open_interval() {
        assert!(unit(0) > 0.0);
        assert_eq!(unit(u64::MAX), 1.0);
    }

    #[test]
    fn buckets_fill_evenly() {
        let mut counts = [0u32; 7];
        for i in 0..70_000u64 {
            counts[bucket(crate::shard::key_hash(&i.to_le_bytes()), 7)] += 1;
        }
        // 10,000 expected each; the binomial standard deviation is ~93.
        for count in counts {
            assert!((9_500..=10_500).contains(&count), "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn growing_by_one_bucket_moves_keys_only_to_the_new_bucket(hash in any::<u64>(), n in 1usize..2_000) {
            let before = bucket(hash, n);
            let after = bucket(hash, n + 1);
            prop_assert!(before < n);
            prop_assert!(after == before || after == n, "moved from {} to {} of {}", before, after, n + 1);
        }
    }
}
