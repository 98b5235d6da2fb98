//! Envoy's retry budget, and where a retry goes.
//!
//! A retry may start while the retries in flight are fewer than `budget_percent` of the active
//! requests (rounded down), or fewer than `min_retry_concurrency` whatever the load. Envoy counts
//! active and pending requests to the cluster; the caller passes that count in, retries
//! included. A budget scales with load, unlike a fixed retry cap, so a failing backend set
//! cannot be buried under a retry storm three times its normal traffic.
//!
//! This file owns the count of retries in flight and the retry's choice of eligible set; it must
//! not decide whether a failure is worth retrying (the caller's retry policy) or pick the backend
//! itself (the balancer does, over [`retry_set`]).

use super::config::RetryBudgetConfig;

/// Counts of what the budget did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// Retries allowed.
    pub granted: u64,
    /// Retries refused because the budget was spent (Envoy's `upstream_rq_retry_overflow`).
    pub refused: u64,
}

/// The retries in flight against a budget.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    in_flight: u32,
    stats: RetryStats,
}

impl RetryBudget {
    /// An empty budget. The config must have passed [`RetryBudgetConfig::validate`].
    pub fn new(config: RetryBudgetConfig) -> Self {
        RetryBudget { config, in_flight: 0, stats: RetryStats::default() }
    }

    /// The most retries that may be in flight with `active` requests active.
    pub fn limit(&self, active: u64) -> u64 {
        let share = active.saturating_mul(u64::from(self.config.budget_percent)) / 100;
        share.max(u64::from(self.config.min_retry_concurrency))
    }

    /// Asks to start a retry while `active` requests are active. If it returns true, the retry
    /// is counted in flight until [`RetryBudget::retry_done`].
    pub fn try_retry(&mut self, active: u64) -> bool {
        if u64::from(self.in_flight) < self.limit(active) {
            self.in_flight += 1;
            self.stats.granted += 1;
            true
        } else {
            self.stats.refused += 1;
            false
        }
    }

    /// A retry granted by [`RetryBudget::try_retry`] has finished, however it ended.
    pub fn retry_done(&mut self) {
        assert!(self.in_flight > 0, "retry_done without a retry in flight");
        self.in_flight -= 1;
    }

    /// Retries in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// What the budget has done so far.
    pub fn stats(&self) -> RetryStats {
        self.stats
    }
}

/// The eligible set a retry is balanced over: `eligible` without the backend that failed, unless
/// that would leave nothing (a single eligible backend is retried on itself).
pub fn retry_set(eligible: &[usize], failed: usize) -> Vec<usize> {
    let others: Vec<usize> = eligible.iter().copied().filter(|&b| b != failed).collect();
    if others.is_empty() { eligible.to_vec() } else { others }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_limit_is_a_share_of_active_with_a_floor() {
        let budget = RetryBudget::new(RetryBudgetConfig::default());
        assert_eq!(budget.limit(0), 3);
        assert_eq!(budget.limit(19), 3);
        assert_eq!(budget.limit(20), 4);
        assert_eq!(budget.limit(100), 20);
        assert_eq!(budget.limit(104), 20);
    }

    #[test]
    fn retries_are_refused_once_the_budget_is_spent() {
        let mut budget = RetryBudget::new(RetryBudgetConfig::default());
        assert!((0..3).all(|_| budget.try_retry(5)));
        assert!(!budget.try_retry(5));
        budget.retry_done();
        assert!(budget.try_retry(5));
        assert_eq!(budget.stats(), RetryStats { granted: 4, refused: 1 });
        // Under more load the share grows: 50 active allow 10.
        assert!((3..10).all(|_| budget.try_retry(50)));
        assert_eq!(budget.in_flight(), 10);
        assert!(!budget.try_retry(50));
    }

    #[test]
    fn a_retry_avoids_the_failed_backend_when_it_can() {
        assert_eq!(retry_set(&[0, 2, 5], 2), vec![0, 5]);
        assert_eq!(retry_set(&[0, 2, 5], 3), vec![0, 2, 5]);
        assert_eq!(retry_set(&[4], 4), vec![4]);
        assert_eq!(retry_set(&[], 4), Vec::<usize>::new());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Start,
        Finish,
        Retry,
        RetryDone,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![Just(Op::Start), Just(Op::Finish), Just(Op::Retry), Just(Op::RetryDone)]
    }

    proptest! {
        #[test]
        fn retries_in_flight_never_exceed_the_budget(
            percent in 0u32..=100, min in 0u32..6, ops in proptest::collection::vec(op(), 1..400),
        ) {
            let mut budget = RetryBudget::new(RetryBudgetConfig { budget_percent: percent, min_retry_concurrency: min });
            // First requests active, and retries in flight (a retry is itself an active request).
            let (mut firsts, mut retries) = (0u64, 0u32);
            let mut most_active = 0u64;
            for op in ops {
                match op {
                    Op::Start => firsts += 1,
                    Op::Finish => firsts = firsts.saturating_sub(1),
                    Op::Retry => {
                        let active = firsts + u64::from(retries);
                        let allowed = u64::from(retries) < (active * u64::from(percent) / 100).max(u64::from(min));
                        prop_assert_eq!(budget.try_retry(active), allowed);
                        if allowed {
                            retries += 1;
                            let bound = ((active * u64::from(percent)) / 100).max(u64::from(min));
                            prop_assert!(u64::from(retries) <= bound, "{} retries against a bound of {}", retries, bound);
                        }
                    }
                    Op::RetryDone => {
                        if retries > 0 {
                            retries -= 1;
                            budget.retry_done();
                        }
                    }
                }
                prop_assert_eq!(budget.in_flight(), retries);
                // Whatever the order of events, retries never pass the budget of the busiest moment.
                most_active = most_active.max(firsts + u64::from(retries));
                let ceiling = (most_active * u64::from(percent) / 100).max(u64::from(min));
                prop_assert!(u64::from(retries) <= ceiling, "{} retries, ceiling {}", retries, ceiling);
            }
        }
    }
}
