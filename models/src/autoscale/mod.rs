//! Horizontal autoscaling after Kubernetes' Horizontal Pod Autoscaler: how many instances a
//! pool should run, from a per-instance metric measured every period.
//!
//! The algorithm, as the HPA controller runs it at each period:
//! - the usage ratio is the mean of the ready instances' metric over the target; within the
//!   tolerance of 1 (10% by default) nothing changes;
//! - on a scale-up, instances not ready yet count as using 0 (they are starting, and will
//!   take their share); on a scale-down they are ignored. If counting them turns the ratio
//!   back within the tolerance, or reverses its direction, nothing changes. The
//!   recommendation is then `ceil(ratio * instances counted)`, which is
//!   `ceil(current * metric / target)` when every instance is ready;
//! - stabilisation: a scale-down takes the highest recommendation of the last `down_window`
//!   (300 s by default), a scale-up the lowest of the last `up_window` (0 s by default: the
//!   newest alone);
//! - rate limits: within any `policy_period` (15 s) the pool grows at most to the larger of
//!   `percent` more (100%: double) and `pods` more (4), and shrinks at most by
//!   `down_percent` (100%: to the minimum at once);
//! - the result stays within `min` and `max`.
//!
//! Owns: [`HpaConfig`] and its checks, [`Hpa`] (the recommendation history and the scale
//! events that the rate limits look back on) and [`Metric`] (what is measured: worker-slot
//! utilisation, requests per second per instance, or queue depth per instance; the queue
//! metric is a hook: whatever queue a host publishes, its waiting count per instance).
//!
//! Must not: do I/O, read a clock (time comes in as `now`) or know how instances start or stop.
//! It is pure: the same calls give the same decisions.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

/// What the autoscaler measures on each ready instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Busy worker slots over slots, a fraction (the HPA's CPU utilisation).
    Cpu,
    /// Requests served per second by one instance.
    RequestRate,
    /// Requests waiting per instance (a queue's depth; the hook a message queue plugs into).
    QueueDepth,
}

impl Metric {
    /// Its name in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::RequestRate => "requests",
            Metric::QueueDepth => "queue",
        }
    }
}

/// The autoscaler's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
    /// The metric's target per instance (a fraction for [`Metric::Cpu`]).
    pub target: f64,
    /// No change while the usage ratio is within this of 1.
    pub tolerance: f64,
    /// A scale-down takes the highest recommendation of this window.
    pub down_window: Duration,
    /// A scale-up takes the lowest recommendation of this window.
    pub up_window: Duration,
    /// The window the rate limits look back on.
    pub policy_period: Duration,
    /// A scale-up adds at most this percent of the instances at the start of the period ...
    pub up_percent: u32,
    /// ... or this many instances, whichever is more.
    pub up_pods: u32,
    /// A scale-down removes at most this percent of the instances at the start of the period.
    pub down_percent: u32,
}

impl Default for HpaConfig {
    /// Kubernetes' defaults, for a pool of 1 to 10 at a target of 1.
    fn default() -> Self {
        Self {
            min: 1,
            max: 10,
            target: 1.0,
            tolerance: 0.1,
            down_window: Duration::from_secs(300),
            up_window: Duration::ZERO,
            policy_period: Duration::from_secs(15),
            up_percent: 100,
            up_pods: 4,
            down_percent: 100,
        }
    }
}

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpaError {
    /// `min` is 0 or above `max`.
    #[error("min {min} and max {max}: expected 1 <= min <= max")]
    Bounds {
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// The target is not a finite number above 0.
    #[error("target {0}: expected a number above 0")]
    Target(String),
    /// The tolerance is not in [0, 1).
    #[error("tolerance {0}: expected a number from 0 up to (not including) 1")]
    Tolerance(String),
    /// The scale-up policies allow no growth.
    #[error("scale-up policies allow no growth: expected percent or pods above 0")]
    NoGrowth,
    /// The scale-down percent is 0 or above 100.
    #[error("scale-down percent {0}: expected 1 to 100")]
    DownPercent(u32),
}

impl HpaConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), HpaError> {
        if self.min == 0 || self.min > self.max {
            return Err(HpaError::Bounds { min: self.min, max: self.max });
        }
        if !(self.target.is_finite() && self.target > 0.0) {
            return Err(HpaError::Target(self.target.to_string()));
        }
        if !(self.tolerance.is_finite() && (0.0..1.0).contains(&self.tolerance)) {
            return Err(HpaError::Tolerance(self.tolerance.to_string()));
        }
        if self.up_percent == 0 && self.up_pods == 0 {
            return Err(HpaError::NoGrowth);
        }
        if self.down_percent == 0 || self.down_percent > 100 {
            return Err(HpaError::DownPercent(self.down_percent));
        }
        Ok(())
    }
}

/// What one period measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation<'a> {
    /// The metric of each ready instance.
    pub ready: &'a [f64],
    /// Instances running but not ready (starting).
    pub not_ready: u32,
}

/// One period's decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The instances the pool should run from now.
    pub desired: u32,
    /// The raw recommendation of this period, before stabilisation, rate limits and bounds.
    pub recommended: u32,
    /// The usage ratio of the ready instances (mean metric over target), if any was ready.
    pub ratio: Option<f64>,
}

/// The autoscaler's state between periods.
#[derive(Debug, Clone)]
pub struct Hpa {
    config: HpaConfig,
    /// (time, recommendation), oldest first, within the longer stabilisation window.
    recommendations: VecDeque<(Duration, u32)>,
    /// (time, change in instances), oldest first, within the policy period.
    events: VecDeque<(Duration, i64)>,
}

impl Hpa {
    /// An autoscaler with `config`, after checking it.
    pub fn new(config: HpaConfig) -> Result<Self, HpaError> {
        config.validate()?;
        Ok(Self { config, recommendations: VecDeque::new(), events: VecDeque::new() })
    }

    /// Its settings.
    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// Decides at `now` how many instances a pool of `current` (ready and starting) should run,
    /// from what it measured, and remembers the recommendation and any change.
    pub fn decide(&mut self, now: Duration, current: u32, observation: Observation<'_>) -> Decision {
        let (recommended, ratio) = recommend(&self.config, current, observation);
        self.forget(now);
        self.recommendations.push_back((now, recommended));
        let stabilized = self.stabilize(current, recommended);
        let desired = self.limit(current, stabilized).clamp(self.config.min, self.config.max);
        if desired != current {
            self.events.push_back((now, i64::from(desired) - i64::from(current)));
        }
        Decision { desired, recommended, ratio }
    }

    /// Drops what has left every window (bounded: the history is at most one entry a call).
    fn forget(&mut self, now: Duration) {
        let keep = self.config.down_window.max(self.config.up_window);
        while self.recommendations.front().is_some_and(|(t, _)| *t + keep < now) {
            self.recommendations.pop_front();
        }
        while self.events.front().is_some_and(|(t, _)| *t + self.config.policy_period <= now) {
            self.events.pop_front();
        }
    }

    /// The recommendation after stabilisation: up to the lowest of the up window, down to the
    /// highest of the down window (the newest recommendation is in both).
    fn stabilize(&self, current: u32, recommended: u32) -> u32 {
        let newest = self.recommendations.back().map_or(Duration::ZERO, |(t, _)| *t);
        let within =
            |window: Duration| self.recommendations.iter().filter(move |(t, _)| *t + window >= newest).map(|(_, r)| *r);
        let up = within(self.config.up_window).min().unwrap_or(recommended);
        let down = within(self.config.down_window).max().unwrap_or(recommended);
        let mut stabilized = current;
        if stabilized < up {
            stabilized = up;
        }
        if stabilized > down {
            stabilized = down;
        }
        stabilized
    }

    /// `wanted` within the rate limits, counted from the instances at the start of the policy
    /// period (the current ones less the changes made within it).
    fn limit(&self, current: u32, wanted: u32) -> u32 {
        let changed: i64 = self.events.iter().map(|(_, d)| d).sum();
        let start = (i64::from(current) - changed).max(0) as u64;
        if wanted > current {
            let by_percent = (start * u64::from(100 + self.config.up_percent)).div_ceil(100);
            let by_pods = start + u64::from(self.config.up_pods);
            let ceiling = by_percent.max(by_pods).min(u64::from(u32::MAX)) as u32;
            wanted.min(ceiling.max(current))
        } else if wanted < current {
            let removable = (start * u64::from(self.config.down_percent)) / 100;
            let floor = start.saturating_sub(removable).min(u64::from(current)) as u32;
            wanted.max(floor)
        } else {
            wanted
        }
    }
}

/// The HPA's raw recommendation for `current` instances, and the ready instances' usage ratio.
/// `current` is at least the ready instances and the starting ones together.
pub fn recommend(config: &HpaConfig, current: u32, observation: Observation<'_>) -> (u32, Option<f64>) {
    let ready = observation.ready;
    if ready.is_empty() {
        return (current, None);
    }
    let sum: f64 = ready.iter().sum();
    let ratio = sum / ready.len() as f64 / config.target;
    if within(ratio, config.tolerance) {
        return (current, Some(ratio));
    }
    if ratio > 1.0 && observation.not_ready > 0 {
        let counted = ready.len() as f64 + f64::from(observation.not_ready);
        let diluted = sum / counted / config.target;
        if within(diluted, config.tolerance) || diluted < 1.0 {
            return (current, Some(ratio));
        }
        return (ceil_count(diluted * counted), Some(ratio));
    }
    (ceil_count(ratio * ready.len() as f64), Some(ratio))
}

/// Whether `ratio` is within `tolerance` of 1, the band's edges in (a mean of 0.55 over a
/// target of 0.5 is 1.1, though floating point makes it a hair more).
fn within(ratio: f64, tolerance: f64) -> bool {
    (ratio - 1.0).abs() <= tolerance + 1e-9
}

/// `x` rounded up to a count, in `u32` (a ratio times a count: finite and not negative). A
/// hair over a whole number (floating error of a sum) stays that number.
fn ceil_count(x: f64) -> u32 {
    let rounded = x.round();
    let up = if (x - rounded).abs() < 1e-9 { rounded } else { x.ceil() };
    up.clamp(0.0, f64::from(u32::MAX)) as u32
}
