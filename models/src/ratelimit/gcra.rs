//! The generic cell rate algorithm (GCRA) as pure arithmetic: the one implementation, which the
//! in-memory limiter and the L2 engine's `CL.THROTTLE` both call.
//!
//! One theoretical arrival time (TAT) a key. With `emission = period / count` (integer
//! nanoseconds, rounded down, as redis-cell), `tolerance = emission * (burst + 1)` and
//! `increment = emission * quantity`: `new_tat = max(tat, now) + increment`, and the request is
//! limited when `now < new_tat - tolerance`. So a fresh key admits `burst + 1` requests at once,
//! then one every `emission`; in any span `T` between two admitted requests at most
//! `burst + 1 + T / emission` pass. The answer carries redis-cell's figures (limit, remaining,
//! retry after, reset after) at nanosecond precision; rounding them to the whole seconds of
//! redis-cell's reply is the caller's business.
//!
//! This file must not know clocks, keys, storage or wire formats: the caller passes `now` and
//! the stored TAT, and keeps the new one. Arithmetic that would overflow is an error, never a
//! panic or a wrapped value.

use std::time::Duration;

/// How many requests a key may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed at once beyond the steady rate.
    pub burst: u64,
    /// Requests a period.
    pub count: u64,
    /// The period `count` is spread over.
    pub period: Duration,
}

impl Quota {
    /// The steady spacing between requests, `period / count` rounded down to the nanosecond.
    pub fn emission(&self) -> Result<Duration, GcraError> {
        Ok(from_ns(self.emission_ns()?))
    }

    fn emission_ns(&self) -> Result<i128, GcraError> {
        let period_ns = i128::try_from(self.period.as_nanos()).map_err(|_| GcraError::OutOfRange)?;
        if self.count == 0 || period_ns == 0 {
            return Err(GcraError::ZeroRate);
        }
        let emission = period_ns / i128::from(self.count);
        if emission == 0 {
            return Err(GcraError::ZeroRate);
        }
        Ok(emission)
    }
}

/// The limiter's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request is refused.
    pub limited: bool,
    /// `burst + 1`: requests a fresh key may make at once.
    pub limit: u64,
    /// Requests still allowed now, after this one.
    pub remaining: u64,
    /// When a retry of a refused request can pass; `None` when admitted, or when it never can
    /// (it costs more than `limit`).
    pub retry_after: Option<Duration>,
    /// When the key is back to its full burst.
    pub reset_after: Duration,
    /// The TAT to store, in nanoseconds on the caller's clock: `Some` only when admitted with
    /// something to remember (a TAT after `now`). `None` leaves the stored TAT as it was.
    pub new_tat: Option<u64>,
}

/// Why a quota cannot be computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GcraError {
    /// The count, the period, or `period / count` in nanoseconds is zero.
    #[error("zero rates are not supported")]
    ZeroRate,
    /// The quota, the quantity or the stored TAT is too large to compute with.
    #[error("the quota or the stored time is too large to compute with")]
    OutOfRange,
}

/// A non-negative span in nanoseconds as a `Duration`, saturating at `Duration::MAX`.
fn from_ns(ns: i128) -> Duration {
    let ns = ns.max(0);
    match u64::try_from(ns / 1_000_000_000) {
        Ok(secs) => Duration::new(secs, (ns % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

/// Runs the GCRA for a request of `quantity` units (0 peeks) at `now_ns`, given the key's
/// stored TAT if any.
pub fn decide(quota: Quota, tat: Option<u64>, now_ns: u64, quantity: u64) -> Result<Verdict, GcraError> {
    let out_of_range = || GcraError::OutOfRange;
    let emission = quota.emission_ns()?;
    let tolerance = emission.checked_mul(i128::from(quota.burst) + 1).ok_or_else(out_of_range)?;
    let increment = emission.checked_mul(i128::from(quantity)).ok_or_else(out_of_range)?;
    let now = i128::from(now_ns);
    let tat = i128::from(tat.unwrap_or(now_ns)).max(now);
    let new_tat = tat.checked_add(increment).ok_or_else(out_of_range)?;
    // Both are within i128 (new_tat >= 0, tolerance >= 0), and `diff <= tolerance`.
    let allow_at = new_tat - tolerance;
    let diff = now - allow_at;
    let (limited, ttl, retry_after, store) = if diff < 0 {
        let retry = (increment <= tolerance).then(|| from_ns(-diff));
        (true, tat - now, retry, None)
    } else {
        let ttl = new_tat - now;
        let store = if ttl > 0 { Some(u64::try_from(new_tat).map_err(|_| out_of_range())?) } else { None };
        (false, ttl, None, store)
    };
    let next = tolerance - ttl;
    let remaining = if next > -emission { u64::try_from(next / emission).unwrap_or(u64::MAX) } else { 0 };
    Ok(Verdict {
        limited,
        limit: quota.burst.saturating_add(1),
        remaining,
        retry_after,
        reset_after: from_ns(ttl),
        new_tat: store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn quota(burst: u64, count: u64, period_s: u64) -> Quota {
        Quota { burst, count, period: Duration::from_secs(period_s) }
    }

    /// Runs `decide` and asserts (limited, remaining, retry_after, reset_after, new_tat).
    fn check(
        quota: Quota,
        tat: Option<u64>,
        now_ns: u64,
        quantity: u64,
        expected: (bool, u64, Option<Duration>, Duration, Option<u64>),
    ) {
        let v = decide(quota, tat, now_ns, quantity).expect("a usable quota");
        assert_eq!(v.limit, quota.burst + 1);
        assert_eq!((v.limited, v.remaining, v.retry_after, v.reset_after, v.new_tat), expected, "{quota:?} {tat:?}");
    }

    #[test]
    fn a_fresh_key_spends_its_burst_then_waits_one_emission() {
        let q = quota(2, 1, 1);
        check(q, None, 10 * S, 1, (false, 2, None, Duration::from_secs(1), Some(11 * S)));
        check(q, Some(11 * S), 10 * S, 1, (false, 1, None, Duration::from_secs(2), Some(12 * S)));
        check(q, Some(12 * S), 10 * S, 1, (false, 0, None, Duration::from_secs(3), Some(13 * S)));
        let wait = Some(Duration::from_secs(1));
        check(q, Some(13 * S), 10 * S, 1, (true, 0, wait, Duration::from_secs(3), None));
        let wait = Some(Duration::from_millis(250));
        check(q, Some(13 * S), 10 * S + 3 * S / 4, 1, (true, 0, wait, Duration::from_millis(2250), None));
        check(q, Some(13 * S), 11 * S, 1, (false, 0, None, Duration::from_secs(3), Some(14 * S)));
    }

    #[test]
    fn a_peek_stores_nothing_and_a_too_large_request_never_passes() {
        let q = quota(1, 2, 1);
        check(q, None, 5 * S, 0, (false, 2, None, Duration::ZERO, None));
        check(q, Some(5 * S + S / 2), 5 * S, 0, (false, 1, None, Duration::from_millis(500), Some(5 * S + S / 2)));
        check(q, None, 5 * S, 3, (true, 2, None, Duration::ZERO, None));
        check(q, None, 5 * S, 2, (false, 0, None, Duration::from_secs(1), Some(6 * S)));
    }

    #[test]
    fn overflow_and_zero_rates_are_errors() {
        let max = u64::MAX;
        assert_eq!(decide(quota(1, 0, 1), None, 0, 1), Err(GcraError::ZeroRate));
        assert_eq!(decide(quota(1, 1, 0), None, 0, 1), Err(GcraError::ZeroRate));
        let too_fast = Quota { burst: 1, count: 2, period: Duration::from_nanos(1) };
        assert_eq!(decide(too_fast, None, 0, 1), Err(GcraError::ZeroRate));
        assert_eq!(too_fast.emission(), Err(GcraError::ZeroRate));
        assert_eq!(decide(quota(max, 1, max), None, 0, 1), Err(GcraError::OutOfRange));
        assert_eq!(decide(quota(1, 1, max), None, 0, max), Err(GcraError::OutOfRange));
        assert_eq!(decide(quota(1, 1, 1), Some(max), max, 1), Err(GcraError::OutOfRange), "a TAT past u64");
        let limited = decide(quota(1, 1, 1), Some(max), 0, 1).expect("limited, nothing to store");
        assert!(limited.limited);
        assert_eq!(quota(0, 3, 1).emission(), Ok(Duration::from_nanos(333_333_333)));
    }
}
