//! `CL.THROTTLE key max_burst count_per_period period [quantity]`: redis-cell's GCRA rate limiter.
//!
//! One theoretical arrival time (TAT) a key, stored under the key as the decimal nanoseconds
//! since the engine's epoch (redis-cell stores Unix nanoseconds the same way, so `GET` on a
//! limiter key returns that integer, never WRONGTYPE). With `emission = period / count`,
//! `tolerance = emission * (max_burst + 1)` and `increment = emission * quantity`:
//! `new_tat = max(tat, now) + increment`; the request is limited when
//! `now < new_tat - tolerance`. An admitted request stores `new_tat` with a TTL of
//! `new_tat - now` (rounded up to the millisecond so the state never expires before its TAT).
//! The reply is `[limited, max_burst + 1, remaining, retry_after, reset_after]`, the two times in
//! whole seconds rounded up, `retry_after` -1 when admitted, as redis-cell.
//!
//! Errors are redis-cell's, code and all (`Cell error: Usage: ...`, `Cell error: Zero rates are
//! not supported`, `Cell error: Couldn't parse as integer: x`). Arguments must be non-negative
//! integers (redis-cell accepts negative ones and misbehaves: here they are an error), and a
//! stored value that is not a TAT, or arithmetic that would overflow, is
//! `Cell error: value is not an integer or out of range`. This file must not know the keyspace: the caller loads and stores
//! the TAT.

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

/// Runs the GCRA for one request at `now_ns`, given the stored TAT if any. Arithmetic that
/// would overflow (absurd periods, bursts or stored TATs) is an error, never a panic.
pub(crate) fn gcra(quota: Quota, stored_tat: Option<i128>, now_ns: i128) -> Result<Verdict, String> {
    let period_ns = i128::from(quota.period_s) * 1_000_000_000;
    if quota.count == 0 || period_ns == 0 {
        return Err(ZERO_RATE.into());
    }
    let emission = period_ns / i128::from(quota.count);
    if emission == 0 {
        return Err(ZERO_RATE.into());
    }
    let out_of_range = || OUT_OF_RANGE.to_string();
    let tolerance = emission.checked_mul(i128::from(quota.max_burst) + 1).ok_or_else(out_of_range)?;
    let increment = emission.checked_mul(i128::from(quota.quantity)).ok_or_else(out_of_range)?;
    let tat = stored_tat.unwrap_or(now_ns).max(now_ns);
    let new_tat = tat.checked_add(increment).ok_or_else(out_of_range)?;
    let allow_at = new_tat.checked_sub(tolerance).ok_or_else(out_of_range)?;
    let diff = now_ns - allow_at;
    let (limited, ttl, retry_ns, store) = if diff < 0 {
        let retry = if increment <= tolerance { -diff } else { -1_000_000_000 };
        (true, tat - now_ns, retry, None)
    } else {
        let ttl = new_tat - now_ns;
        (false, ttl, -1_000_000_000, (ttl > 0).then_some((new_tat, ttl)))
    };
    let next = tolerance - ttl;
    let remaining = if next > -emission { i64::try_from(next / emission).unwrap_or(i64::MAX) } else { 0 };
    Ok(Verdict {
        limited,
        limit: quota.max_burst.saturating_add(1),
        remaining,
        retry_after_s: ceil_seconds(retry_ns),
        reset_after_s: ceil_seconds(ttl),
        store,
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
