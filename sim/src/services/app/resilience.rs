//! An app's circuit breakers in a scenario (around its replica reads and its payment calls):
//! their settings with resilience4j's defaults, their checks, their plan and the model's
//! configuration built from it.
//!
//! Must not: know what the calls it guards are.

use super::super::{PlanContext, ns};
use crate::plant::Plant;
use crate::scenario::Dur;
use crate::scenario::validate::Checker;
use faultline_models::breaker::{BreakerConfig, Window};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::Duration;

/// A circuit breaker: closed, open (calls fail fast), half-open (a few probes decide).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Judge over the last this many calls. Default 100 (give `window` or `window_time`).
    #[serde(default)]
    pub window: Option<u32>,
    /// Judge over the calls of the last this long, instead of a count.
    #[serde(default)]
    pub window_time: Option<Dur>,
    /// Open when at least this share of the calls in the window failed. Default 0.5.
    #[serde(default = "default_rate")]
    pub failure_rate: f64,
    /// A call at least this long is slow. Default "60s".
    #[serde(default = "default_slow_call")]
    pub slow_call: Dur,
    /// Open when at least this share of the calls in the window were slow. Default 1.0.
    #[serde(default = "default_slow_rate")]
    pub slow_rate: f64,
    /// No verdict before the window holds this many calls. Default 100.
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
    /// How long it stays open before probing. Default "60s".
    #[serde(default = "default_open_for")]
    pub open_for: Dur,
    /// Calls let through half-open to decide. Default 10.
    #[serde(default = "default_probes")]
    pub probes: u32,
}

fn default_rate() -> f64 {
    0.5
}
fn default_slow_call() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_slow_rate() -> f64 {
    1.0
}
fn default_minimum_calls() -> u32 {
    100
}
fn default_open_for() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_probes() -> u32 {
    10
}

/// A breaker in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerPlan {
    /// The window: a count of calls, or a time in nanoseconds.
    pub window: WindowPlan,
    /// Failure-rate threshold.
    pub failure_rate: f64,
    /// Slow-call duration, nanoseconds.
    pub slow_call_ns: u64,
    /// Slow-call-rate threshold.
    pub slow_rate: f64,
    /// Minimum calls before a verdict.
    pub minimum_calls: u32,
    /// Open time, nanoseconds.
    pub open_for_ns: u64,
    /// Half-open probes.
    pub probes: u32,
    /// Planted bug (tests of the checks only): it never half-opens.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plant_never_half_open: bool,
}

/// A breaker's window in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPlan {
    /// The last n calls.
    Count(u32),
    /// The calls of the last n nanoseconds.
    TimeNs(u64),
}

impl BreakerSpec {
    /// Checks the settings; `span` locates the breaker in the file, `what` names it.
    pub(super) fn validate(&self, c: &mut Checker, span: Range<usize>, what: &str) {
        if self.window.is_some() && self.window_time.is_some() {
            let message = format!("{what} has both `window` and `window_time`; expected one of them");
            c.report(span, "two windows", message);
            return;
        }
        if let Err(e) = self.config().validate() {
            c.report(span, "not a valid breaker", format!("{what}: {e}"));
        }
    }

    /// The breaker's plan.
    pub(super) fn compile(&self) -> BreakerPlan {
        let window = match (self.window, self.window_time) {
            (_, Some(d)) => WindowPlan::TimeNs(ns(d.0)),
            (count, None) => WindowPlan::Count(count.unwrap_or(100)),
        };
        BreakerPlan {
            window,
            failure_rate: self.failure_rate,
            slow_call_ns: ns(self.slow_call.0),
            slow_rate: self.slow_rate,
            minimum_calls: self.minimum_calls,
            open_for_ns: ns(self.open_for.0),
            probes: self.probes,
            plant_never_half_open: false,
        }
    }

    fn config(&self) -> BreakerConfig {
        self.compile().config()
    }
}

impl BreakerPlan {
    /// The plan with the bug [`Plant::BreakerNeverHalfOpens`] switched on when the run plants it.
    pub(super) fn planted(self, cx: &PlanContext) -> Self {
        Self { plant_never_half_open: cx.plants(Plant::BreakerNeverHalfOpens), ..self }
    }

    /// The model's configuration.
    pub(super) fn config(&self) -> BreakerConfig {
        BreakerConfig {
            window: match self.window {
                WindowPlan::Count(n) => Window::Count(n),
                WindowPlan::TimeNs(t) => Window::Time(Duration::from_nanos(t)),
            },
            failure_rate: self.failure_rate,
            slow_call_rate: self.slow_rate,
            slow_call_duration: Duration::from_nanos(self.slow_call_ns),
            minimum_calls: self.minimum_calls,
            open_for: Duration::from_nanos(self.open_for_ns),
            half_open_probes: self.probes,
            plant_never_half_open: self.plant_never_half_open,
        }
    }
}
