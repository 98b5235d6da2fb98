//! Service-level objectives as data. The scenario file declares them; [`crate::report`]
//! judges a run against them.

use serde::{Deserialize, Serialize};

/// What an objective measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SloKind {
    /// The latency at `quantile` (e.g. 0.99) must be at most `max_ns`.
    Latency {
        /// The quantile, in (0, 1].
        quantile: f64,
        /// The bound, nanoseconds.
        max_ns: u64,
    },
    /// The share of requests that succeed must be at least `min_ratio` (e.g. 0.999).
    Availability {
        /// The target, in (0, 1].
        min_ratio: f64,
    },
    /// The sessions the users found lost (a request carrying one answered `401`) must be at
    /// most `max` over the run, end to end (the load generators' count).
    SessionsLost {
        /// The bound.
        max: u64,
    },
    /// The regions of an active-active store must all be caught up (hold every region's
    /// writes, at most a second behind) within `within_ns` of the run's last fault (of the
    /// start, with no fault), and still at the end.
    Converged {
        /// The bound, nanoseconds.
        within_ns: u64,
    },
}

/// One objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Its name in reports.
    pub name: String,
    /// The service it applies to (a host name); `None` means the end-to-end view of the
    /// workload's requests as the load generators saw them.
    pub service: Option<String>,
    /// What it measures.
    pub kind: SloKind,
}
