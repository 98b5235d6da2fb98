//! Retry delays for a message that failed: exponential backoff with full jitter (Brooker,
//! "Exponential Backoff And Jitter", AWS Architecture Blog, 2015): the `n`-th retry waits a
//! uniform draw in `[0, min(cap, base * 2^n)]`.
//!
//! The ceiling is the retry policy's exponential backoff ([`crate::retry::Backoff`]) and the
//! draw its full jitter ([`crate::retry::full_jitter`]), so a client's retries and a message's
//! redeliveries wait alike; this file only counts a message's retries from 0. Pure arithmetic
//! over a stream the caller hands in (the seam's seeded stream): must not read a clock or own
//! randomness.

use crate::retry;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's ceiling.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Backoff {
    /// The ceiling of retry `attempt` (0 for the first): `min(cap, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // The retry policy counts retries from 1.
        retry::Backoff::Exponential { base: self.base, cap: self.cap }.ceiling(attempt.saturating_add(1))
    }

    /// The delay of retry `attempt`: uniform in `[0, ceiling]`, drawn from `rng`.
    pub fn delay(&self, attempt: u32, rng: &mut ChaCha8Rng) -> Duration {
        retry::full_jitter(self.ceiling(attempt), rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(100) };
        let ceilings: Vec<u64> = (0..6).map(|n| b.ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 100, 100]);
        assert_eq!(b.ceiling(200), Duration::from_millis(100), "no overflow far out");
    }

    proptest! {
        #[test]
        fn a_delay_stays_under_its_ceiling(seed in any::<u64>(), attempt in 0u32..40) {
            let b = Backoff { base: Duration::from_millis(5), cap: Duration::from_secs(2) };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            prop_assert!(b.delay(attempt, &mut rng) <= b.ceiling(attempt));
        }
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..1000).map(|_| b.delay(0, &mut rng)).collect();
        let mean = draws.iter().sum::<Duration>() / 1000;
        assert!(mean > Duration::from_millis(45) && mean < Duration::from_millis(55), "mean {mean:?}");
        assert!(draws.iter().any(|d| *d < Duration::from_millis(5)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(95)));
    }
}
