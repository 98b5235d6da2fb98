//! Rate limiting with the GCRA (one theoretical arrival time a key, as redis-cell and the
//! `governor` crate): a key may make `burst + 1` requests at once, then one every
//! `period / count`.
//!
//! - `gcra`: the arithmetic, pure; the L2 engine's `CL.THROTTLE` calls it too.
//! - `config`: [`LimitConfig`] (rate, burst, scope) and its validation.
//! - `local`: [`LocalLimiter`], the state in one instance's memory, bounded in keys.
//! - `shared`: [`SharedLimiter`], the state on an L2 cache node, asked over RESP, failing open
//!   or closed on purpose when the node cannot answer.
//! - [`RateLimiter`]: either one behind one `check(key) -> Decision`, counting what it admits
//!   and refuses (gauges "rate_admitted" and "rate_limited", cumulative; a shared limiter's
//!   fallbacks count among them as what they decided).
//!
//! The classic failure this module shows: N instances each with a local limit of R admit N x R;
//! a shared limiter admits R between them, and becomes a dependency that must fail one way or
//! the other.
//!
//! This module must not know the simulation or a wire format other than RESP; the clock and the
//! network come through [`crate::seam::Env`].

pub mod config;
pub mod gcra;
pub mod local;
pub mod shared;

#[cfg(test)]
mod tests;

pub use config::{DEFAULT_MAX_KEYS, FailMode, LimitConfig, LimitError, Rate, Scope};
pub use gcra::{GcraError, Quota, Verdict, decide};
pub use local::LocalLimiter;
pub use shared::SharedLimiter;

use crate::seam::Env;
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// A limiter's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more requests of the key would pass now (0 when a shared
    /// limiter failed open and does not know).
    Allowed {
        /// Requests still allowed now.
        remaining: u64,
    },
    /// Refused; a retry after `retry_after` can pass.
    Limited {
        /// How long to wait (whole seconds, rounded up, from a shared limiter).
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The decision a local verdict makes. A refusal that can never pass (a request costing
    /// more than the limit, which a check of one unit is not) waits for the reset.
    pub fn from_verdict(verdict: &Verdict) -> Self {
        if verdict.limited {
            Decision::Limited { retry_after: verdict.retry_after.unwrap_or(verdict.reset_after) }
        } else {
            Decision::Allowed { remaining: verdict.remaining }
        }
    }
}

/// Where a [`RateLimiter`] keeps its state.
enum Kind<E: Env> {
    Local(RefCell<LocalLimiter>),
    Shared(SharedLimiter<E>),
}

/// A rate limiter, local or shared, that counts its decisions.
pub struct RateLimiter<E: Env> {
    env: E,
    kind: Kind<E>,
    admitted: Cell<u64>,
    limited: Cell<u64>,
}

impl<E: Env> RateLimiter<E> {
    /// The limiter `config` describes, after validating it.
    pub fn new(env: E, config: &LimitConfig) -> Result<Self, LimitError> {
        let quota = config.quota()?;
        let kind = match &config.scope {
            Scope::Local { max_keys } => Kind::Local(RefCell::new(LocalLimiter::with_quota(quota, *max_keys)?)),
            Scope::Shared { addr, fail, timeout } => {
                Kind::Shared(SharedLimiter::new(env.clone(), addr.clone(), config.rate, config.burst, *fail, *timeout)?)
            }
        };
        Ok(Self::with_kind(env, kind))
    }

    /// A limiter over `limiter`, on `env`'s clock.
    pub fn local(env: E, limiter: LocalLimiter) -> Self {
        Self::with_kind(env, Kind::Local(RefCell::new(limiter)))
    }

    /// A limiter over `limiter`.
    pub fn shared(env: E, limiter: SharedLimiter<E>) -> Self {
        Self::with_kind(env, Kind::Shared(limiter))
    }

    fn with_kind(env: E, kind: Kind<E>) -> Self {
        env.gauge(gauge::RATE_ADMITTED, 0);
        env.gauge(gauge::RATE_LIMITED, 0);
        Self { env, kind, admitted: Cell::new(0), limited: Cell::new(0) }
    }

    /// Decides one request of `key` now.
    pub async fn check(&self, key: &[u8]) -> Decision {
        let decision = match &self.kind {
            Kind::Local(limiter) => Decision::from_verdict(&limiter.borrow_mut().check(key, self.env.now())),
            Kind::Shared(limiter) => limiter.check(key).await,
        };
        let (counter, name) = match decision {
            Decision::Allowed { .. } => (&self.admitted, gauge::RATE_ADMITTED),
            Decision::Limited { .. } => (&self.limited, gauge::RATE_LIMITED),
        };
        counter.set(counter.get() + 1);
        self.env.gauge(name, i64::try_from(counter.get()).unwrap_or(i64::MAX));
        decision
    }

    /// Requests admitted since start.
    pub fn admitted(&self) -> u64 {
        self.admitted.get()
    }

    /// Requests refused since start.
    pub fn limited(&self) -> u64 {
        self.limited.get()
    }

    /// Checks a shared limiter answered without its node, since start (0 for a local one).
    pub fn fallbacks(&self) -> u64 {
        match &self.kind {
            Kind::Local(_) => 0,
            Kind::Shared(limiter) => limiter.fallbacks(),
        }
    }
}
