//! Client retries: how many, how long to wait before each, and a budget that keeps them a small
//! share of the traffic.
//!
//! Owns the pure parts of a client library's retry policy: [`RetryPolicy`] (retries after the
//! first attempt, exponential backoff with or without jitter) and [`Bucket`], the token bucket
//! of a retry [`Budget`]. Must not: read a clock, draw randomness of its own, sleep, or decide
//! whether a failure is worth retrying (the caller knows its protocol); time and a random
//! stream are passed in, so the same inputs give the same answers.
//!
//! Backoff, as Brooker writes it ("Exponential Backoff And Jitter", AWS Architecture Blog,
//! 2015): before retry `n` (1 for the first) the ceiling is `min(cap, base * 2^(n - 1))`; no
//! jitter waits the ceiling, full jitter a uniform draw in `[0, ceiling]`, equal jitter half the
//! ceiling plus a uniform draw in `[0, ceiling / 2]`. Decorrelated jitter forgets the ceiling and
//! grows from the previous wait instead: `min(cap, uniform(base, prev * 3))`, `prev` being the
//! wait before the previous retry and `base` before the first, so a request's waits are state
//! its caller keeps ([`Waits`], from [`RetryPolicy::waits`]). With [`Backoff::None`] a retry
//! leaves at once, whatever the jitter.
//!
//! The budget is Finagle's `RetryBudget` (a token bucket over a sliding window): each first
//! attempt deposits `ratio` tokens, each retry withdraws one, and a retry is allowed only while
//! the balance holds a whole token. Deposits and withdrawals expire after [`BUDGET_TTL`] (10 s,
//! Finagle's default), counted in [`SLICES`] slices of a second: the window is the current
//! slice and the nine before it. A reserve of `min_per_sec * 10` tokens is always in the
//! balance, so with no traffic to earn from, `min_per_sec` retries a second on average still go
//! (Finagle's default is 10 a second with a ratio of 0.2; gRPC's retry throttling earns per
//! success instead, a different model). Tokens are counted in thousandths, as Finagle does, so
//! the arithmetic is exact: whatever the sequence, the retries allowed up to a time `t` never
//! exceed `ratio * first attempts + min_per_sec * 10 * (floor(t / 10 s) + 1)`, the deposits plus
//! one reserve per window (the tests hold it to that bound).

use rand::Rng;
use std::time::Duration;

/// How long a budget's deposits and withdrawals count (Finagle's default TTL).
pub const BUDGET_TTL: Duration = Duration::from_secs(10);
/// The slices the budget's window is counted in.
pub const SLICES: usize = 10;
/// A token, in the thousandths the budget counts in.
const TOKEN: i64 = 1_000;

/// How long to wait before a retry, before jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Retry at once.
    None,
    /// Wait `min(cap, base * 2^(n - 1))` before retry `n`.
    Exponential {
        /// The wait before the first retry.
        base: Duration,
        /// The longest wait.
        cap: Duration,
    },
}

impl Backoff {
    /// The wait before retry `retry` (1 for the first) without jitter: the jitter's ceiling.
    pub fn ceiling(&self, retry: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Exponential { base, cap } => {
                let doublings = retry.saturating_sub(1);
                let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
                base.checked_mul(factor).map_or(cap, |wait| wait.min(cap))
            }
        }
    }
}

/// How the wait is spread, so that clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Wait the ceiling exactly.
    None,
    /// A uniform draw in `[0, ceiling]`.
    Full,
    /// Half the ceiling plus a uniform draw in `[0, ceiling / 2]`.
    Equal,
    /// `min(cap, uniform(base, prev * 3))`, `prev` the previous wait (`base` before the first
    /// retry): the waits grow from the last draw rather than from the retry's number.
    Decorrelated,
}

/// A uniform draw in `[0, ceiling]`: full jitter under `ceiling` (the load generators' retries
/// and the queue worker's redeliveries both draw it here).
pub fn full_jitter<R: Rng + ?Sized>(ceiling: Duration, rng: &mut R) -> Duration {
    let ceiling_ns = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=ceiling_ns))
}

/// One request's retries so far: the state its next wait depends on (the retry's number, and
/// for decorrelated jitter the previous wait). A fresh one comes from [`RetryPolicy::waits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Retries whose wait was drawn.
    retries: u32,
    /// The wait before the last of them; the policy's `base` before the first.
    prev: Duration,
}

impl Waits {
    /// Retries whose wait was drawn so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before the last retry drawn (the policy's `base`, or zero without backoff,
    /// before the first).
    pub fn prev(&self) -> Duration {
        self.prev
    }
}

/// A retry budget: what the [`Bucket`] earns and keeps in reserve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Tokens a first attempt deposits (0.1: one retry for every ten requests), 0 to
    /// [`Budget::MAX_RATIO`].
    pub ratio: f64,
    /// Retries a second allowed whatever the deposits, up to [`Budget::MAX_MIN_PER_SEC`].
    pub min_per_sec: u32,
}

impl Budget {
    /// The largest ratio (Finagle's bound on `percentCanRetry`).
    pub const MAX_RATIO: f64 = 1_000.0;
    /// The largest `min_per_sec`.
    pub const MAX_MIN_PER_SEC: u32 = 1_000_000;

    /// What is wrong with this budget, if anything.
    pub fn problem(&self) -> Option<String> {
        if !(self.ratio.is_finite() && (0.0..=Self::MAX_RATIO).contains(&self.ratio)) {
            return Some(format!("a retry budget's ratio is in [0, {}], found {}", Self::MAX_RATIO, self.ratio));
        }
        if self.min_per_sec > Self::MAX_MIN_PER_SEC {
            let max = Self::MAX_MIN_PER_SEC;
            return Some(format!("at most {max} retries a second in reserve, found {}", self.min_per_sec));
        }
        None
    }
}

/// A client's retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, at most.
    pub attempts: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// How the wait is spread.
    pub jitter: Jitter,
    /// The budget retries draw on; `None`: every retry the policy allows goes.
    pub budget: Option<Budget>,
}

impl RetryPolicy {
    /// A request's retry state before its first retry.
    pub fn waits(&self) -> Waits {
        let prev = match self.backoff {
            Backoff::None => Duration::ZERO,
            Backoff::Exponential { base, .. } => base,
        };
        Waits { retries: 0, prev }
    }

    /// The wait before the request's next retry, drawn from `rng`; `waits` moves on to it.
    pub fn next_wait<R: Rng + ?Sized>(&self, waits: &mut Waits, rng: &mut R) -> Duration {
        waits.retries = waits.retries.saturating_add(1);
        let wait = self.delay(waits.retries, waits.prev, rng);
        waits.prev = wait;
        wait
    }

    /// The wait before retry `retry` (1 for the first), `prev` being the wait before the
    /// previous one (`base` for the first; only decorrelated jitter reads it), jittered with a
    /// draw from `rng` (none when the jitter is [`Jitter::None`] or the wait is zero).
    pub fn delay<R: Rng + ?Sized>(&self, retry: u32, prev: Duration, rng: &mut R) -> Duration {
        let ceiling = self.backoff.ceiling(retry);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        let ceiling_ns = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => full_jitter(ceiling, rng),
            Jitter::Equal => {
                let half = ceiling_ns / 2;
                Duration::from_nanos(half + rng.random_range(0..=ceiling_ns - half))
            }
            Jitter::Decorrelated => self.decorrelated(prev, rng),
        }
    }

    /// `min(cap, uniform(base, prev * 3))` (zero without backoff).
    fn decorrelated<R: Rng + ?Sized>(&self, prev: Duration, rng: &mut R) -> Duration {
        let Backoff::Exponential { base, cap } = self.backoff else {
            return Duration::ZERO;
        };
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let low = ns(base);
        let high = ns(prev).saturating_mul(3).max(low);
        Duration::from_nanos(rng.random_range(low..=high)).min(cap)
    }

    /// A fresh bucket for the policy's budget, if it has one.
    pub fn bucket(&self) -> Option<Bucket> {
        self.budget.map(Bucket::new)
    }
}

/// A retry budget's balance over a sliding window of [`BUDGET_TTL`].
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Thousandths of a token a first attempt deposits.
    deposit: i64,
    /// Thousandths of a token always in the balance.
    reserve: i64,
    /// Deposits minus withdrawals per slice, thousandths; slice `s` at `s % SLICES`.
    slices: [i64; SLICES],
    /// The newest slice counted, since time zero.
    newest: u64,
    /// Retries allowed and refused so far.
    allowed: u64,
    refused: u64,
}

impl Bucket {
    /// An empty bucket (only the reserve in it) for `budget`, which must have no
    /// [`Budget::problem`].
    pub fn new(budget: Budget) -> Self {
        assert!(budget.problem().is_none(), "an invalid retry budget: {budget:?}");
        let ttl_s = BUDGET_TTL.as_secs() as i64;
        Bucket {
            deposit: (budget.ratio * TOKEN as f64).round() as i64,
            reserve: i64::from(budget.min_per_sec) * ttl_s * TOKEN,
            slices: [0; SLICES],
            newest: 0,
            allowed: 0,
            refused: 0,
        }
    }

    /// A first attempt at `now` (time since any fixed start) earns its deposit.
    pub fn deposit(&mut self, now: Duration) {
        let slot = self.advance(now);
        self.slices[slot] += self.deposit;
    }

    /// Asks for a retry at `now`: true, and one token withdrawn, if the balance holds one.
    pub fn try_withdraw(&mut self, now: Duration) -> bool {
        let slot = self.advance(now);
        if self.balance_milli() >= TOKEN {
            self.slices[slot] -= TOKEN;
            self.allowed += 1;
            true
        } else {
            self.refused += 1;
            false
        }
    }

    /// The balance at `now`, in tokens (the reserve included). It can fall below the reserve,
    /// as Finagle's does: deposits that paid for retries may leave the window before them.
    pub fn balance(&mut self, now: Duration) -> f64 {
        self.advance(now);
        self.balance_milli() as f64 / TOKEN as f64
    }

    /// Retries allowed so far.
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// Retries refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn balance_milli(&self) -> i64 {
        self.reserve + self.slices.iter().sum::<i64>()
    }

    /// Moves the window to `now`'s slice, clearing the slices that left it; the index of
    /// `now`'s slice. A time before the newest slice counts in the newest.
    fn advance(&mut self, now: Duration) -> usize {
        let slice_ns = BUDGET_TTL.as_nanos() / SLICES as u128;
        let slice = u64::try_from(now.as_nanos() / slice_ns).unwrap_or(u64::MAX);
        if slice > self.newest {
            if slice - self.newest >= SLICES as u64 {
                self.slices = [0; SLICES];
            } else {
                for left in self.newest + 1..=slice {
                    self.slices[(left % SLICES as u64) as usize] = 0;
                }
            }
            self.newest = slice;
        }
        (self.newest % SLICES as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(backoff: Backoff, jitter: Jitter) -> RetryPolicy {
        RetryPolicy { attempts: 3, backoff, jitter, budget: None }
    }

    fn exponential(base_ms: u64, cap_ms: u64) -> Backoff {
        Backoff::Exponential { base: ms(base_ms), cap: ms(cap_ms) }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let backoff = exponential(10, 1_000);
        let ceilings: Vec<u64> = (1..=9).map(|n| backoff.ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 640, 1_000, 1_000]);
        assert_eq!(backoff.ceiling(0), ms(10), "retry 0 is taken as the first");
        assert_eq!(backoff.ceiling(40), ms(1_000), "2^39 overflows to the cap");
        assert_eq!(backoff.ceiling(u32::MAX), ms(1_000));
        assert_eq!(Backoff::None.ceiling(5), Duration::ZERO);
    }

    #[test]
    fn no_jitter_waits_the_ceiling_and_no_backoff_waits_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fixed = policy(exponential(10, 1_000), Jitter::None);
        assert_eq!(fixed.delay(1, ms(10), &mut rng), ms(10));
        assert_eq!(fixed.delay(3, ms(10), &mut rng), ms(40));
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            assert_eq!(policy(Backoff::None, jitter).delay(2, ms(10), &mut rng), Duration::ZERO);
            let p = policy(Backoff::None, jitter);
            let mut waits = p.waits();
            assert_eq!(p.next_wait(&mut waits, &mut rng), Duration::ZERO);
            assert_eq!((waits.retries(), waits.prev()), (1, Duration::ZERO));
        }
    }

    /// The mean of `n` draws of the delay before retry `retry`, milliseconds, and their range.
    fn draws(p: &RetryPolicy, retry: u32, n: u32) -> (f64, Duration, Duration) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut sum, mut lo, mut hi) = (0.0, Duration::MAX, Duration::ZERO);
        for _ in 0..n {
            let d = p.delay(retry, p.waits().prev(), &mut rng);
            sum += d.as_secs_f64() * 1e3;
            lo = lo.min(d);
            hi = hi.max(d);
        }
        (sum / f64::from(n), lo, hi)
    }

    #[test]
    fn full_jitter_averages_half_the_ceiling() {
        // Retry 4: a ceiling of 80 ms; 20,000 uniform draws have a mean within 1% of 40 ms.
        let (mean, lo, hi) = draws(&policy(exponential(10, 1_000), Jitter::Full), 4, 20_000);
        assert!((mean - 40.0).abs() < 0.4, "mean {mean} ms");
        assert!(lo < ms(2), "draws reach near zero: {lo:?}");
        assert!(hi > ms(78), "draws reach near the ceiling: {hi:?}");
        assert!(hi <= ms(80), "{hi:?}");
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half() {
        let (mean, lo, hi) = draws(&policy(exponential(10, 1_000), Jitter::Equal), 4, 20_000);
        assert!((mean - 60.0).abs() < 0.4, "mean {mean} ms: three quarters of the ceiling");
        assert!(lo >= ms(40), "{lo:?}");
        assert!(lo < ms(42), "{lo:?}");
        assert!(hi > ms(78), "{hi:?}");
        assert!(hi <= ms(80), "{hi:?}");
    }

    #[test]
    fn decorrelated_waits_grow_from_the_last_draw() {
        // Brooker's: `sleep = min(cap, uniform(base, sleep * 3))`, sleep starting at base.
        let p = policy(exponential(10, 1_000), Jitter::Decorrelated);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut waits = p.waits();
        assert_eq!((waits.retries(), waits.prev()), (0, ms(10)), "prev starts at base");
        let mut prev = ms(10);
        for retry in 1..=40 {
            let wait = p.next_wait(&mut waits, &mut rng);
            assert!(wait >= ms(10) && wait <= ms(1_000), "retry {retry}: {wait:?}");
            assert!(wait <= prev * 3, "retry {retry}: {wait:?} after {prev:?}");
            assert_eq!((waits.retries(), waits.prev()), (retry, wait));
            prev = wait;
        }
        // The first wait is uniform in [base, 3 * base]: a mean of 2 * base.
        let (mean, lo, hi) = draws(&p, 1, 20_000);
        assert!((mean - 20.0).abs() < 0.2, "mean {mean} ms");
        assert!(lo >= ms(10) && lo < ms(11), "{lo:?}");
        assert!(hi <= ms(30) && hi > ms(29), "{hi:?}");
        // Near the cap, the draw is capped: from a previous 900 ms, [10 ms, 2.7 s] capped at 1 s.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let capped = (0..1_000).filter(|_| p.delay(9, ms(900), &mut rng) == ms(1_000)).count();
        assert!((560..=680).contains(&capped), "{capped} of 1000 draws at the cap: about 63%");
    }

    #[test]
    fn full_jitter_draws_up_to_its_ceiling_inclusive() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        assert_eq!(full_jitter(Duration::ZERO, &mut rng), Duration::ZERO);
        let draws: Vec<Duration> = (0..2_000).map(|_| full_jitter(Duration::from_nanos(3), &mut rng)).collect();
        for ns in 0..=3 {
            assert!(draws.contains(&Duration::from_nanos(ns)), "{ns} ns is drawn");
        }
        assert!(draws.iter().all(|d| *d <= Duration::from_nanos(3)));
    }

    #[test]
    fn an_empty_bucket_holds_only_its_reserve() {
        let mut bucket = Bucket::new(Budget { ratio: 0.1, min_per_sec: 2 });
        assert_eq!(bucket.balance(Duration::ZERO), 20.0, "2 a second over 10 s");
        let t = Duration::from_millis(500);
        assert_eq!((0..25).filter(|_| bucket.try_withdraw(t)).count(), 20);
        assert_eq!((bucket.allowed(), bucket.refused()), (20, 5));
        // The withdrawals of slice 0 leave the window at 10 s, and the reserve is whole again.
        assert!(!bucket.try_withdraw(Duration::from_millis(9_999)));
        assert!(bucket.try_withdraw(Duration::from_secs(10)));
        assert_eq!(bucket.balance(Duration::from_secs(10)), 19.0);
    }

    #[test]
    fn deposits_earn_a_share_of_retries_and_expire() {
        let mut bucket = Bucket::new(Budget { ratio: 0.1, min_per_sec: 0 });
        for i in 0..100 {
            bucket.deposit(ms(i * 10));
        }
        assert!((bucket.balance(Duration::from_secs(1)) - 10.0).abs() < 1e-9);
        assert_eq!((0..15).filter(|_| bucket.try_withdraw(Duration::from_secs(2))).count(), 10);
        // Nine deposits earn 0.9 of a token: not a retry.
        let mut bucket = Bucket::new(Budget { ratio: 0.1, min_per_sec: 0 });
        (0..9).for_each(|_| bucket.deposit(Duration::ZERO));
        assert!(!bucket.try_withdraw(Duration::ZERO));
        bucket.deposit(Duration::ZERO);
        assert!(bucket.try_withdraw(Duration::ZERO));
        // A deposit counts for 10 s: made at 0.5 s, it is gone in the slice that starts at 10 s.
        let mut bucket = Bucket::new(Budget { ratio: 1.0, min_per_sec: 0 });
        bucket.deposit(ms(500));
        assert_eq!(bucket.balance(Duration::from_millis(9_999)), 1.0);
        assert_eq!(bucket.balance(Duration::from_secs(10)), 0.0);
    }

    #[test]
    fn under_steady_traffic_retries_follow_the_ratio() {
        // 100 first attempts a second for 60 s, every one failing and asking for a retry: a
        // budget of 10% with a reserve of 1 a second lets about 11 a second through.
        let mut bucket = Bucket::new(Budget { ratio: 0.1, min_per_sec: 1 });
        for i in 0..6_000u64 {
            let now = ms(i * 10);
            bucket.deposit(now);
            bucket.try_withdraw(now);
        }
        let allowed = bucket.allowed();
        assert!((600..=670).contains(&allowed), "{allowed} retries in 60 s");
        assert_eq!(allowed + bucket.refused(), 6_000);
    }

    #[test]
    fn a_large_gap_clears_the_whole_window() {
        let mut bucket = Bucket::new(Budget { ratio: 1.0, min_per_sec: 0 });
        (0..5).for_each(|i| bucket.deposit(ms(i * 1_000)));
        assert_eq!(bucket.balance(Duration::from_secs(4)), 5.0);
        assert_eq!(bucket.balance(Duration::from_secs(3_600)), 0.0);
        // Time going back counts in the newest slice.
        bucket.deposit(Duration::from_secs(1));
        assert_eq!(bucket.balance(Duration::from_secs(3_600)), 1.0);
    }

    #[test]
    fn budgets_out_of_range_are_problems() {
        assert!(Budget { ratio: 0.1, min_per_sec: 10 }.problem().is_none());
        assert!(Budget { ratio: -0.1, min_per_sec: 10 }.problem().unwrap().contains("[0, 1000]"));
        assert!(Budget { ratio: f64::NAN, min_per_sec: 10 }.problem().is_some());
        assert!(Budget { ratio: 0.1, min_per_sec: 2_000_000 }.problem().unwrap().contains("at most 1000000"));
    }

    /// One step of a client: a first attempt, or a retry asked for, after `gap_ms`.
    #[derive(Debug, Clone)]
    struct Step {
        gap_ms: u64,
        first: bool,
    }

    fn step() -> impl Strategy<Value = Step> {
        (prop_oneof![0u64..5, 0u64..500, 0u64..15_000], any::<bool>())
            .prop_map(|(gap_ms, first)| Step { gap_ms, first })
    }

    proptest! {
        #[test]
        fn retries_never_exceed_the_deposits_and_one_reserve_per_window(
            ratio_milli in 0u32..2_000,
            min_per_sec in 0u32..20,
            steps in proptest::collection::vec(step(), 1..600),
        ) {
            let ratio = f64::from(ratio_milli) / 1_000.0;
            let mut bucket = Bucket::new(Budget { ratio, min_per_sec });
            let (mut now, mut firsts, mut asked) = (Duration::ZERO, 0u64, 0u64);
            for step in steps {
                now += ms(step.gap_ms);
                if step.first {
                    bucket.deposit(now);
                    firsts += 1;
                } else {
                    let before = bucket.balance(now);
                    prop_assert_eq!(bucket.try_withdraw(now), before >= 1.0, "a retry goes while a token is left");
                    asked += 1;
                }
                let windows = now.as_nanos() as u64 / BUDGET_TTL.as_nanos() as u64 + 1;
                let bound_milli = u64::from(ratio_milli) * firsts
                    + u64::from(min_per_sec) * BUDGET_TTL.as_secs() * 1_000 * windows;
                prop_assert!(bucket.allowed() * 1_000 <= bound_milli,
                    "{} retries allowed after {} firsts by {:?}", bucket.allowed(), firsts, now);
                prop_assert_eq!(bucket.allowed() + bucket.refused(), asked);
            }
        }

        #[test]
        fn delays_never_pass_the_cap(
            base_ms in 1u64..100, cap_ms in 1u64..5_000, retry in 0u32..64, seed in any::<u64>(),
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let backoff = exponential(base_ms, cap_ms);
            for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
                let delay = policy(backoff, jitter).delay(retry, ms(base_ms), &mut rng);
                prop_assert!(delay <= backoff.ceiling(retry));
                prop_assert!(delay <= ms(cap_ms));
                if jitter == Jitter::Equal {
                    prop_assert!(delay * 2 >= backoff.ceiling(retry) - Duration::from_nanos(1));
                }
            }
        }

        #[test]
        fn decorrelated_waits_stay_in_base_to_cap_and_within_three_times_the_last(
            base_ms in 1u64..100, extra_ms in 0u64..5_000, retries in 1usize..30, seed in any::<u64>(),
        ) {
            let (base, cap) = (ms(base_ms), ms(base_ms + extra_ms));
            let p = policy(exponential(base_ms, base_ms + extra_ms), Jitter::Decorrelated);
            let run = |seed: u64| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut waits = p.waits();
                (0..retries).map(|_| p.next_wait(&mut waits, &mut rng)).collect::<Vec<_>>()
            };
            let waits = run(seed);
            let mut prev = base;
            for wait in &waits {
                prop_assert!(*wait >= base, "{:?} below base {:?}", wait, base);
                prop_assert!(*wait <= cap, "{:?} above cap {:?}", wait, cap);
                prop_assert!(*wait <= prev * 3, "{:?} more than three times {:?}", wait, prev);
                prev = *wait;
            }
            prop_assert_eq!(run(seed), waits, "the same stream, the same waits");
        }
    }
}
