//! A circuit breaker (closed / open / half-open), with resilience4j's semantics and defaults.
//!
//! - [`BreakerCore`] ([`core`]): the pure state machine. No I/O, no clock: every call passes
//!   `now`, the time since the engine's epoch. It admits or rejects a call
//!   ([`BreakerCore::acquire`]), counts its outcome in a sliding window
//!   ([`BreakerCore::record`]), and says when it changes state ([`Transition`]).
//! - [`window`]: the sliding windows the closed state judges over: the last n calls (a ring) or
//!   the last d of time (buckets aged by `now`; the granularity is documented there).
//! - [`Breaker`] ([`call`]): the async wrapper on the seam. It times each call with
//!   `Env::now`, reports every transition as the state `breaker` = `"<name>:<state>"` and the
//!   rejected calls as the gauge `breaker_rejected`.
//! - [`BreakerLayer`] / [`BreakerService`] ([`layer`]): the same breaker as a tower layer, with
//!   an optional classifier that counts some responses (an HTTP 5xx) as failures.
//!
//! The semantics follow resilience4j's `CircuitBreakerStateMachine`:
//! - Closed admits every call. Once the window holds at least `minimum_calls` calls (for a
//!   count window, at most its size: resilience4j caps it so), it opens when the failure rate
//!   or the slow-call rate reaches its threshold (`>=`).
//! - Open rejects every call until `open_for` has passed since it opened; the first look at the
//!   breaker after that makes it half-open.
//! - Half-open admits `half_open_probes` calls in all and judges over them alone once every one
//!   has finished: both rates under their thresholds close it (with an empty window), otherwise
//!   it opens again.
//! - Every transition starts a new generation; a result recorded for a permit of an earlier
//!   generation is ignored (it was judged, or refused, under another state).
//!
//! One difference from resilience4j, on purpose: a call is slow when it took *at least*
//! `slow_call_duration` (resilience4j: strictly more).
//!
//! Owns: breaker configuration, state, windows and the wrappers around a call. Must not: do
//! I/O, read a clock but the seam's, spawn tasks, or know what the calls it guards are.

pub mod call;
pub mod core;
pub mod layer;
pub mod window;

#[cfg(test)]
mod async_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use self::core::{BreakerCore, Counters, Permit, Rejected, Transition};
pub use call::{Breaker, BreakerError};
pub use layer::{BreakerFuture, BreakerLayer, BreakerService, Classify, ErrorsOnly};
pub use window::Tally;

/// What the closed state judges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last n calls (resilience4j's count-based window).
    Count(u32),
    /// The calls of the last d of time, in buckets (resilience4j's time-based window; see
    /// [`window`] for the bucket width).
    Time(Duration),
}

/// A circuit breaker's settings. [`Default`] is resilience4j's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// The sliding window the closed state judges over (default: the last 100 calls).
    pub window: Window,
    /// The share of failed calls, 0..=1, at or above which the breaker opens (default 0.5).
    pub failure_rate: f64,
    /// The share of slow calls, 0..=1, at or above which the breaker opens (default 1.0: only
    /// when every call in the window is slow, which with the default 60 s duration is never in
    /// practice).
    pub slow_call_rate: f64,
    /// A call that took this long or longer is slow (default 60 s).
    pub slow_call_duration: Duration,
    /// No verdict before the window holds this many calls (default 100; a count window caps it
    /// at its size).
    pub minimum_calls: u32,
    /// How long the breaker stays open before it lets probes through (default 60 s).
    pub open_for: Duration,
    /// How many probe calls half-open admits before it decides (default 10).
    pub half_open_probes: u32,
    /// A bug planted on purpose, for chaos tests only (default off): an open breaker never
    /// half-opens, so a dependency that came back is never called again.
    #[doc(hidden)]
    pub plant_never_half_open: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Window::Count(100),
            failure_rate: 0.5,
            slow_call_rate: 1.0,
            slow_call_duration: Duration::from_secs(60),
            minimum_calls: 100,
            open_for: Duration::from_secs(60),
            half_open_probes: 10,
            plant_never_half_open: false,
        }
    }
}

/// The shortest time window: shorter ones would have buckets of a few nanoseconds.
pub const MIN_TIME_WINDOW: Duration = Duration::from_millis(1);

impl BreakerConfig {
    /// Checks the settings; the error says which one is wrong and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.window {
            Window::Count(0) => return Err(ConfigError::EmptyCountWindow),
            Window::Count(_) => {}
            Window::Time(d) if d < MIN_TIME_WINDOW => return Err(ConfigError::ShortTimeWindow { window: d }),
            Window::Time(_) => {}
        }
        check_rate("failure_rate", self.failure_rate)?;
        check_rate("slow_call_rate", self.slow_call_rate)?;
        if self.minimum_calls == 0 {
            return Err(ConfigError::NoMinimumCalls);
        }
        if self.half_open_probes == 0 {
            return Err(ConfigError::NoProbes);
        }
        if self.open_for.is_zero() {
            return Err(ConfigError::NeverOpen);
        }
        Ok(())
    }
}

fn check_rate(name: &'static str, rate: f64) -> Result<(), ConfigError> {
    match (0.0..=1.0).contains(&rate) {
        true => Ok(()),
        false => Err(ConfigError::RateOutOfRange { name, rate }),
    }
}

/// A setting of [`BreakerConfig`] that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A rate is outside 0..=1 (or not a number).
    #[error("{name} must be a share between 0 and 1 (0.5 = 50%), not {rate}")]
    RateOutOfRange {
        /// The setting's name.
        name: &'static str,
        /// The value given.
        rate: f64,
    },
    /// A count window of zero calls can never judge anything.
    #[error("a count window must hold at least 1 call, not 0")]
    EmptyCountWindow,
    /// A time window shorter than [`MIN_TIME_WINDOW`].
    #[error("a time window must be at least 1ms long, not {window:?}")]
    ShortTimeWindow {
        /// The length given.
        window: Duration,
    },
    /// `minimum_calls` of 0 would judge an empty window.
    #[error("minimum_calls must be at least 1, not 0")]
    NoMinimumCalls,
    /// Half-open with no probe could never close again.
    #[error("half_open_probes must be at least 1, not 0: with no probe the breaker never closes again")]
    NoProbes,
    /// An open time of zero would let every call through at once: no breaker at all.
    #[error("open_for must be longer than 0")]
    NeverOpen,
}

/// Where a circuit breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through; their outcomes are counted.
    Closed,
    /// Calls are rejected without being made.
    Open,
    /// A few probe calls go through; their outcomes decide.
    HalfOpen,
}

impl State {
    /// The state's name in state reports: "closed", "open", "half_open".
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
