//! An automated analysis as Argo Rollouts runs one: a measurement per interval over what the
//! canary (or the new active) instances served in it, judged against thresholds; the run aborts
//! once `failures` measurements failed (in all, not in a row, as Argo's `failureLimit` counts).
//! A window that served fewer than `min_requests` is inconclusive and counts neither way.
//!
//! Owns: [`Window`], [`Analysis`] and its verdicts. Must not: know where the numbers come from.

use std::fmt;
use std::time::Duration;

/// The thresholds and the failure limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisConfig {
    /// The highest error rate that passes (failed over served), if judged.
    pub max_error_rate: Option<f64>,
    /// The highest p99 latency that passes, if judged.
    pub max_p99: Option<Duration>,
    /// Failed measurements that abort.
    pub failures: u32,
    /// Fewest requests a window needs to be judged.
    pub min_requests: u64,
}

/// What the judged instances served in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    /// Requests served.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// The 99th percentile of their latencies (nearest rank), if any.
    pub p99: Option<Duration>,
}

impl Window {
    /// The window of these latencies (nanoseconds) and this many errors among them.
    pub fn of(mut latencies_ns: Vec<u64>, errors: u64) -> Window {
        latencies_ns.sort_unstable();
        let n = latencies_ns.len();
        let p99 = (n > 0).then(|| {
            let rank = (n * 99).div_ceil(100).max(1);
            Duration::from_nanos(latencies_ns[rank - 1])
        });
        Window { requests: n as u64, errors: errors.min(n as u64), p99 }
    }

    /// Failed over served (0 when nothing was served).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.errors as f64 / self.requests as f64 }
    }
}

/// Why a measurement failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Breach {
    /// The error rate was over its limit.
    ErrorRate {
        /// Measured.
        rate: f64,
        /// The limit.
        max: f64,
    },
    /// The p99 latency was over its limit.
    Latency {
        /// Measured.
        p99: Duration,
        /// The limit.
        max: Duration,
    },
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::ErrorRate { rate, max } => write!(f, "error rate {rate:.2} > {max}"),
            Breach::Latency { p99, max } => write!(f, "p99 {}ms > {}ms", p99.as_millis(), max.as_millis()),
        }
    }
}

/// One measurement's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Within every threshold.
    Pass,
    /// Over one (the error rate is judged first).
    Fail(Breach),
    /// Too few requests to judge.
    Inconclusive,
}

/// What the analysis says after a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Go on; the measurement's verdict.
    Continue(Verdict),
    /// The failure limit is reached: abort, for this breach.
    Abort(Breach),
}

/// A running analysis: the failed measurements so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    config: AnalysisConfig,
    failed: u32,
}

impl Analysis {
    /// A fresh analysis (a `failures` of 0 is taken as 1).
    pub fn new(config: AnalysisConfig) -> Self {
        Self { config: AnalysisConfig { failures: config.failures.max(1), ..config }, failed: 0 }
    }

    /// The verdict on one window.
    pub fn judge(&self, window: &Window) -> Verdict {
        if window.requests == 0 || window.requests < self.config.min_requests {
            return Verdict::Inconclusive;
        }
        if let Some(max) = self.config.max_error_rate {
            let rate = window.error_rate();
            if rate > max {
                return Verdict::Fail(Breach::ErrorRate { rate, max });
            }
        }
        if let (Some(max), Some(p99)) = (self.config.max_p99, window.p99)
            && p99 > max
        {
            return Verdict::Fail(Breach::Latency { p99, max });
        }
        Verdict::Pass
    }

    /// Judges `window` and counts it: an abort once `failures` measurements failed.
    pub fn measure(&mut self, window: &Window) -> Outcome {
        let verdict = self.judge(window);
        if let Verdict::Fail(breach) = verdict {
            self.failed += 1;
            if self.failed >= self.config.failures {
                return Outcome::Abort(breach);
            }
        }
        Outcome::Continue(verdict)
    }

    /// Failed measurements so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }
}
