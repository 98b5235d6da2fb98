//! A rate limiter's settings ([`LimitConfig`]), their validation with errors that say which
//! setting is wrong and why, and the conversion of a rate into a GCRA [`Quota`].
//!
//! A rate is given either per second (`Rate::PerSecond(2.5)`) or as a count per period
//! (`Rate::Every { count: 5, period: 2 s }`). A per-second rate becomes the smallest whole
//! count per whole seconds (up to an hour) that equals it within a billionth, else the nearest
//! count per hour, which must be within 1%: 2.5/s is 5 per 2 s, 1/3 per second is 1 per 3 s.
//! Whole seconds because a shared limiter asks `CL.THROTTLE`, whose period is whole seconds, and
//! a local and a shared limiter built from one setting must agree to the nanosecond.
//!
//! Every span the GCRA keeps (the period, `burst + 1` emission intervals) must stay below 2^62
//! ns (about 146 years), so its arithmetic on `u64` nanoseconds cannot overflow before the
//! clock reaches 2^63 ns.
//!
//! This file must not do I/O or keep state: it is data and checks.

use super::gcra::Quota;
use std::time::Duration;

/// The longest span, in nanoseconds, a quota may make the GCRA keep.
pub const MAX_SPAN_NS: u128 = 1 << 62;
/// The longest period tried when turning a per-second rate into a count per whole seconds.
const MAX_PERIOD_S: u64 = 3600;
/// Keys a local limiter remembers at most, unless told otherwise.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// How fast requests may come, in the long run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Requests a second (need not be whole: 0.5 is one every two seconds).
    PerSecond(f64),
    /// `count` requests every `period`.
    Every {
        /// Requests a period.
        count: u64,
        /// The period.
        period: Duration,
    },
}

/// What a shared limiter does when its cache node cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Admit the request: availability over the limit.
    Open,
    /// Refuse the request: the limit over availability.
    Closed,
}

/// Where a limiter keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// In this instance's memory: each instance enforces the limit on its own.
    Local {
        /// Keys remembered at most (keys whose state lies in the past are dropped first).
        max_keys: usize,
    },
    /// On an L2 cache node (`CL.THROTTLE`), shared by every instance that asks it.
    Shared {
        /// The node's "host:port".
        addr: String,
        /// What to do when the node is down or slow.
        fail: FailMode,
        /// The longest a check may wait for the node (connect included).
        timeout: Duration,
    },
}

/// A rate limiter's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitConfig {
    /// The steady rate.
    pub rate: Rate,
    /// Requests allowed at once beyond the steady rate.
    pub burst: u64,
    /// Where the state lives.
    pub scope: Scope,
}

/// Why a limiter's settings cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// A per-second rate that is zero, negative, infinite or not a number.
    #[error("rate must be a finite number of requests a second above zero, not {0}")]
    BadRate(f64),
    /// A count or a period of zero.
    #[error("rate must be above zero, not {count} requests every {period:?}")]
    ZeroRate {
        /// The count given.
        count: u64,
        /// The period given.
        period: Duration,
    },
    /// A per-second rate no whole count per whole seconds up to an hour matches within 1%.
    #[error(
        "rate {0} a second is not a whole count per whole seconds (up to an hour) within 1%; give a count and a period instead"
    )]
    InexactRate(f64),
    /// Less than a nanosecond between requests.
    #[error("rate of {count} requests every {period:?} leaves less than a nanosecond between them")]
    TooFast {
        /// The count.
        count: u64,
        /// The period.
        period: Duration,
    },
    /// The period, or the burst's span, is longer than the GCRA keeps.
    #[error("{what} spans more than 2^62 ns (about 146 years)")]
    TooLong {
        /// "the period" or "burst + 1 emission intervals".
        what: &'static str,
    },
    /// A shared limiter's period that is not whole seconds.
    #[error("a shared limiter's period must be whole seconds (CL.THROTTLE counts in seconds), not {0:?}")]
    FractionalPeriod(Duration),
    /// A local limiter that may remember no key.
    #[error("a local limiter's max_keys must be at least 1")]
    NoKeys,
    /// A shared limiter without its node's address.
    #[error("a shared limiter needs its cache node's address (host:port)")]
    NoAddress,
    /// A shared limiter whose checks may not wait at all.
    #[error("a shared limiter's timeout must be above zero")]
    ZeroTimeout,
}

impl Rate {
    /// The rate as a count per period, checked.
    pub fn count_per_period(&self) -> Result<(u64, Duration), LimitError> {
        let (count, period) = match *self {
            Rate::PerSecond(rate) => per_second(rate)?,
            Rate::Every { count, period } => (count, period),
        };
        if count == 0 || period.is_zero() {
            return Err(LimitError::ZeroRate { count, period });
        }
        if period.as_nanos() > MAX_SPAN_NS {
            return Err(LimitError::TooLong { what: "the period" });
        }
        if period.as_nanos() < u128::from(count) {
            return Err(LimitError::TooFast { count, period });
        }
        Ok((count, period))
    }
}

/// The smallest whole count per whole seconds equal to `rate` within a billionth, else the
/// nearest count per [`MAX_PERIOD_S`], when it is within 1%.
fn per_second(rate: f64) -> Result<(u64, Duration), LimitError> {
    if !rate.is_finite() || rate <= 0.0 {
        return Err(LimitError::BadRate(rate));
    }
    if rate > 1e9 {
        let count = rate.min(u64::MAX as f64) as u64;
        return Err(LimitError::TooFast { count, period: Duration::from_secs(1) });
    }
    for period_s in 1..=MAX_PERIOD_S {
        let exact = rate * period_s as f64;
        let whole = exact.round();
        if whole >= 1.0 && (exact - whole).abs() <= 1e-9 * exact {
            return Ok((whole as u64, Duration::from_secs(period_s)));
        }
    }
    let exact = rate * MAX_PERIOD_S as f64;
    let whole = exact.round();
    if whole < 1.0 || (exact - whole).abs() > 0.01 * exact {
        return Err(LimitError::InexactRate(rate));
    }
    Ok((whole as u64, Duration::from_secs(MAX_PERIOD_S)))
}

impl LimitConfig {
    /// A local limiter of `rate` with `burst`, remembering up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn local(rate: Rate, burst: u64) -> Self {
        Self { rate, burst, scope: Scope::Local { max_keys: DEFAULT_MAX_KEYS } }
    }

    /// A limiter on the cache node at `addr`.
    pub fn shared(rate: Rate, burst: u64, addr: impl Into<String>, fail: FailMode, timeout: Duration) -> Self {
        Self { rate, burst, scope: Scope::Shared { addr: addr.into(), fail, timeout } }
    }

    /// Checks every setting; the error names the one that is wrong and why.
    pub fn validate(&self) -> Result<(), LimitError> {
        self.quota().map(drop)
    }

    /// The GCRA quota these settings describe, checked as [`LimitConfig::validate`] does.
    pub fn quota(&self) -> Result<Quota, LimitError> {
        let quota = quota(self.rate, self.burst)?;
        match &self.scope {
            Scope::Local { max_keys } => {
                if *max_keys == 0 {
                    return Err(LimitError::NoKeys);
                }
            }
            Scope::Shared { addr, fail: _, timeout } => {
                if quota.period.subsec_nanos() != 0 {
                    return Err(LimitError::FractionalPeriod(quota.period));
                }
                if addr.trim().is_empty() {
                    return Err(LimitError::NoAddress);
                }
                if timeout.is_zero() {
                    return Err(LimitError::ZeroTimeout);
                }
            }
        }
        Ok(quota)
    }
}

/// The quota of `rate` with `burst`, checked so the GCRA's spans stay within [`MAX_SPAN_NS`].
pub(crate) fn quota(rate: Rate, burst: u64) -> Result<Quota, LimitError> {
    let (count, period) = rate.count_per_period()?;
    let emission = period.as_nanos() / u128::from(count);
    let span = emission.checked_mul(u128::from(burst) + 1);
    if span.is_none_or(|span| span > MAX_SPAN_NS) {
        return Err(LimitError::TooLong { what: "burst + 1 emission intervals" });
    }
    Ok(Quota { burst, count, period })
}
