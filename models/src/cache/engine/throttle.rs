//! `CL.THROTTLE key max_burst count_per_period period [quantity]`: redis-cell's GCRA rate limiter.
//!
//! One theoretical arrival time (TAT) a key, stored under the key as the decimal nanoseconds
//! since the engine's epoch (redis-cell stores Unix nanoseconds the same way, so `GET` on a
//! limiter key returns that integer, never WRONGTYPE). The arithmetic is
//! [`crate::ratelimit::gcra`]'s (with `emission = period / count`,
//! `tolerance = emission * (max_burst + 1)` and `increment = emission * quantity`:
//! `new_tat = max(tat, now) + increment`; the request is limited when
//! `now < new_tat - tolerance`). An admitted request stores `new_tat` with a TTL of
//! `new_tat - now` (rounded up to the millisecond so the state never expires before its TAT).
//! The reply is `[limited, max_burst + 1, remaining, retry_after, reset_after]`, the two times in
//! whole seconds rounded up, `retry_after` -1 when admitted, as redis-cell.
//!
//! Errors are redis-cell's, code and all (`Cell error: Usage: ...`, `Cell error: Zero rates are
//! not supported`, `Cell error: Couldn't parse as integer: x`). Arguments must be non-negative
//! integers (redis-cell accepts negative ones and misbehaves: here they are an error), and a
//! stored value that is not a TAT, or arithmetic that would overflow (a TAT past 2^64 ns
//! included), is `Cell error: value is not an integer or out of range`. This file owns the
//! arguments, the reply's shape and rounding, and the error texts; it must not know the
//! keyspace (the caller loads and stores the TAT) nor compute the GCRA itself.

use crate::ratelimit::gcra::{self, GcraError};
use std::time::Duration;

/// The parsed arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Requests allowed at once beyond the steady rate.
    pub max_burst: i64,
    /// Requests a period.
    pub count: i64,
    /// The period, in seconds.
    pub period_s: i64,
    /// Units this request costs (0 peeks).
    pub quantity: i64,
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the request is refused.
    pub limited: bool,
    /// `max_burst + 1`.
    pub limit: i64,
    /// Requests still allowed now.
    pub remaining: i64,
    /// Seconds until a retry can pass (-1 when admitted).
    pub retry_after_s: i64,
    /// Seconds until the limiter is back to its full burst.
    pub reset_after_s: i64,
    /// The TAT to store and its TTL in ns, when admitted with something to remember.
    pub store: Option<(i128, i128)>,
}

/// Why a quota cannot be used.
pub(crate) const ZERO_RATE: &str = "Cell error: Zero rates are not supported";
/// Arguments or a stored TAT too large to compute with, or a stored value that is no TAT.
pub(crate) const OUT_OF_RANGE: &str = "Cell error: value is not an integer or out of range";

/// Parses the four or five numeric arguments; the error is the reply text.
pub(crate) fn parse_quota(args: &[&[u8]]) -> Result<Quota, String> {
    let mut values = [0i64; 4];
    values[3] = 1;
    for (slot, arg) in values.iter_mut().zip(args) {
        let text = String::from_utf8_lossy(arg);
        *slot = match text.parse::<i64>() {
            Ok(v) if v >= 0 => v,
            Ok(_) => return Err(format!("Cell error: value must not be negative: {text}")),
            Err(_) => return Err(format!("Cell error: Couldn't parse as integer: {text}")),
        };
    }
    Ok(Quota { max_burst: values[0], count: values[1], period_s: values[2], quantity: values[3] })
}

/// Whole seconds of a nanosecond span, rounded up when a millisecond part remains (redis-cell).
fn ceil_seconds(ns: i128) -> i64 {
    let whole = ns / 1_000_000_000;
    let ms = (ns % 1_000_000_000) / 1_000_000;
    let secs = if ms > 0 { whole + 1 } else { whole };
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Runs the GCRA ([`crate::ratelimit::gcra`]) for one request at `now_ns`, given the stored
/// TAT if any, and shapes its answer as redis-cell replies. Arithmetic that would overflow
/// (absurd periods, bursts or stored TATs) is an error, never a panic; a negative stored TAT
/// is in the past, as redis-cell reads it.
pub(crate) fn gcra(quota: Quota, stored_tat: Option<i128>, now_ns: i128) -> Result<Verdict, String> {
    let out_of_range = || OUT_OF_RANGE.to_string();
    let unsigned = |v: i64| u64::try_from(v).map_err(|_| out_of_range());
    let limits = gcra::Quota {
        burst: unsigned(quota.max_burst)?,
        count: unsigned(quota.count)?,
        period: Duration::from_secs(unsigned(quota.period_s)?),
    };
    let text = |e: GcraError| match e {
        GcraError::ZeroRate => ZERO_RATE.to_string(),
        GcraError::OutOfRange => OUT_OF_RANGE.to_string(),
    };
    limits.emission().map_err(text)?;
    let now = u64::try_from(now_ns).map_err(|_| out_of_range())?;
    let tat = stored_tat.map(|tat| u64::try_from(tat.max(0)).map_err(|_| out_of_range())).transpose()?;
    let verdict = gcra::decide(limits, tat, now, unsigned(quota.quantity)?).map_err(text)?;
    let ns = |d: Duration| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
    Ok(Verdict {
        limited: verdict.limited,
        limit: i64::try_from(verdict.limit).unwrap_or(i64::MAX),
        remaining: i64::try_from(verdict.remaining).unwrap_or(i64::MAX),
        retry_after_s: verdict.retry_after.map_or(-1, |d| ceil_seconds(ns(d))),
        reset_after_s: ceil_seconds(ns(verdict.reset_after)),
        store: verdict.new_tat.map(|tat| (i128::from(tat), i128::from(tat) - now_ns)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(max_burst: i64, count: i64, period_s: i64, quantity: i64) -> Quota {
        Quota { max_burst, count, period_s, quantity }
    }

    #[test]
    fn absurd_arguments_are_errors_not_panics() {
        let max = i64::MAX;
        assert_eq!(gcra(quota(max, 1, max, 1), None, 0), Err(OUT_OF_RANGE.to_string()));
        assert_eq!(gcra(quota(1, 1, max, max), None, 0), Err(OUT_OF_RANGE.to_string()));
        assert_eq!(gcra(quota(1, 1, 1, 1), Some(i128::MAX), 0), Err(OUT_OF_RANGE.to_string()));
        assert_eq!(gcra(quota(1, 2, 1, 1), None, 0).map(|v| v.limited), Ok(false));
        assert_eq!(gcra(quota(1, max, 1, 1), None, 0), Err(ZERO_RATE.to_string()));
    }

    #[test]
    fn partial_seconds_round_up() {
        assert_eq!(ceil_seconds(1_000_000_000), 1);
        assert_eq!(ceil_seconds(1_001_000_000), 2);
        assert_eq!(ceil_seconds(1_000_999_999), 1, "below a millisecond is dropped, as redis-cell");
        assert_eq!(ceil_seconds(-1_000_000_000), -1);
    }
}
