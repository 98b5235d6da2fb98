//! The load balancer's settings and what a bad one is: one struct per part, each with Envoy's
//! defaults and a `validate()` that names the field at fault.
//!
//! This file owns only plain data and its checks; it must not hold state that changes while
//! requests flow (that is `balance`, `health`, `outlier`, `retry` and `backends`).

use std::time::Duration;

use crate::shard::{Node, ShardError};

/// How a backend is chosen among the eligible ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    /// Each eligible backend in turn; weights are ignored (use [`Algorithm::Weighted`]).
    RoundRobin,
    /// A uniformly random eligible backend; weights are ignored.
    Random,
    /// Envoy's least request: with equal weights, draw `choices` backends at random (with
    /// replacement, as Envoy does) and take the one with the fewest active requests (power of
    /// `choices` choices); with unequal weights, draw one backend with probability proportional
    /// to `weight / (active + 1)` (Envoy walks an earliest-deadline-first schedule over those
    /// effective weights; a draw by the same weights gives the same long-run shares without the
    /// schedule's state).
    LeastRequest {
        /// Backends drawn a pick (Envoy's `choice_count`, default 2).
        choices: u32,
    },
    /// Smooth weighted round robin (nginx's): deterministic, and over any run of `sum(weights)`
    /// picks over an unchanged eligible set each backend gets exactly its weight.
    Weighted,
    /// Consistent hashing on a request key over [`crate::shard`]: a key stays on its backend while
    /// that backend stays eligible; a request without a key goes to a random eligible backend
    /// (Envoy's ring hash does the same when a request yields no hash). Weights are ignored:
    /// every backend gets the same share of the ring or table.
    ConsistentHash {
        /// The hashing scheme: [`HashScheme::Ring`] or [`HashScheme::Maglev`].
        scheme: HashScheme,
    },
}

impl Algorithm {
    /// Envoy's least request with its default of two choices.
    pub fn least_request() -> Self {
        Algorithm::LeastRequest { choices: 2 }
    }

    /// Consistent hashing on a ketama ring of [`crate::shard::DEFAULT_VNODES`] points a backend.
    pub fn ring_hash() -> Self {
        Algorithm::ConsistentHash { scheme: HashScheme::Ring { vnodes: crate::shard::DEFAULT_VNODES } }
    }

    /// Consistent hashing on a Maglev table of [`crate::shard::DEFAULT_MAGLEV_TABLE`] slots.
    pub fn maglev() -> Self {
        Algorithm::ConsistentHash { scheme: HashScheme::Maglev { table: crate::shard::DEFAULT_MAGLEV_TABLE } }
    }

    /// The algorithm's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Random => "random",
            Algorithm::LeastRequest { .. } => "least_request",
            Algorithm::Weighted => "weighted",
            Algorithm::ConsistentHash { scheme: HashScheme::Ring { .. } } => "ring_hash",
            Algorithm::ConsistentHash { scheme: HashScheme::Maglev { .. } } => "maglev",
        }
    }

    /// Checks the algorithm's own settings (the hash scheme's are checked when it is built).
    pub fn validate(&self) -> Result<(), LbError> {
        match self {
            Algorithm::LeastRequest { choices: 0 } => Err(LbError::ZeroChoices),
            Algorithm::LeastRequest { .. }
            | Algorithm::RoundRobin
            | Algorithm::Random
            | Algorithm::Weighted
            | Algorithm::ConsistentHash { .. } => Ok(()),
        }
    }
}

impl Default for Algorithm {
    /// Envoy's default policy, round robin.
    fn default() -> Self {
        Algorithm::RoundRobin
    }
}

/// The consistent-hashing schemes a balancer can route keys by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// A ketama ring: removing a backend moves exactly that backend's keys.
    Ring {
        /// Points a backend gets on the circle.
        vnodes: u32,
    },
    /// A Maglev table: removing a backend moves its keys and, by design, a few others.
    Maglev {
        /// Slots in the table (a prime).
        table: u64,
    },
}

/// One backend: its name (which consistent hashing routes on) and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec {
    /// A non-empty name, distinct among the backends (e.g. `"app2"`).
    pub name: Node,
    /// The backend's share relative to the others (Envoy: 1..=128; here at least 1).
    pub weight: u32,
    /// Its priority level: 0 takes the traffic, higher levels what 0 cannot (Envoy's
    /// priorities; see [`super::priority`]).
    pub priority: u32,
}

impl BackendSpec {
    /// A backend of weight 1, priority 0.
    pub fn new(name: &str) -> Self {
        BackendSpec { name: Node::from(name), weight: 1, priority: 0 }
    }

    /// A backend of the given weight, priority 0.
    pub fn weighted(name: &str, weight: u32) -> Self {
        BackendSpec { name: Node::from(name), weight, priority: 0 }
    }

    /// The same backend at priority level `priority`.
    pub fn at_priority(self, priority: u32) -> Self {
        BackendSpec { priority, ..self }
    }
}

/// Checks a backend list: non-empty, named, distinct, every weight at least 1.
pub fn validate_backends(backends: &[BackendSpec]) -> Result<(), LbError> {
    if backends.is_empty() {
        return Err(LbError::NoBackends);
    }
    for (index, backend) in backends.iter().enumerate() {
        if backend.name.is_empty() {
            return Err(LbError::EmptyName { index });
        }
        if backend.weight == 0 {
            return Err(LbError::ZeroWeight { backend: backend.name.to_string() });
        }
        if backends[..index].iter().any(|b| b.name == backend.name) {
            return Err(LbError::DuplicateName { backend: backend.name.to_string() });
        }
    }
    Ok(())
}

/// How a new backend starts before its first health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialHealth {
    /// In service from the start; failures must reach `unhealthy_threshold` to take it out.
    Healthy,
    /// Out of service until `healthy_threshold` consecutive checks pass.
    Unhealthy,
    /// Envoy's behaviour for a cluster with active health checking: out of service until its
    /// first check, and a single passing first check brings it in (Envoy marks new hosts
    /// `FAILED_ACTIVE_HC` and needs only one success at startup).
    Pending,
}

/// Active health checking (Envoy's `HealthCheck`).
///
/// Envoy requires `interval`, `timeout` and both thresholds; the defaults here are the values
/// of Envoy's own examples (every 5 s, 1 s timeout, 3 failures out, 2 successes in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between two checks of a backend.
    pub interval: Duration,
    /// How long a check may take before it counts as a failure (the caller enforces it).
    pub timeout: Duration,
    /// Consecutive passing checks for an unhealthy backend to become healthy.
    pub healthy_threshold: u32,
    /// Consecutive failed checks (timeouts, refused connections) for a healthy backend to become
    /// unhealthy; an answer with a bad status ([`crate::lb::health::Probe::Rejected`]) needs one.
    pub unhealthy_threshold: u32,
    /// How a backend starts. The default is [`InitialHealth::Healthy`], not Envoy's
    /// [`InitialHealth::Pending`]: a balancer started at time zero would otherwise have nothing
    /// eligible (and so be in panic mode) until the first round of checks comes back.
    pub initial: InitialHealth,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            initial: InitialHealth::Healthy,
        }
    }
}

impl HealthConfig {
    /// Checks that the interval and timeout are positive, the timeout no longer than the
    /// interval (so a backend has at most one check in flight), and both thresholds at least 1.
    pub fn validate(&self) -> Result<(), LbError> {
        positive("health.interval", self.interval)?;
        positive("health.timeout", self.timeout)?;
        if self.timeout > self.interval {
            return Err(LbError::TimeoutPastInterval { timeout: self.timeout, interval: self.interval });
        }
        at_least_one("health.healthy_threshold", self.healthy_threshold)?;
        at_least_one("health.unhealthy_threshold", self.unhealthy_threshold)
    }
}

/// Passive outlier detection on consecutive 5xx (Envoy's `OutlierDetection`, with its defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Consecutive 5xx or connection failures that eject a backend (default 5).
    pub consecutive_5xx: u32,
    /// How long a backend back in service must stay clean for its ejection multiplier to drop
    /// by one (Envoy's sweep `interval`, default 10 s).
    pub interval: Duration,
    /// The first ejection's length; the `k`-th in a row lasts `k` times as long (default 30 s).
    pub base_ejection_time: Duration,
    /// The cap on an ejection's length (default 300 s); at least `base_ejection_time`.
    pub max_ejection_time: Duration,
    /// The most backends ejected at once, as a percentage of all (default 10). Envoy ejects while
    /// the share *already* ejected is below this, so one backend can always be ejected (if the
    /// percentage is above 0) and the cap is `ceil(n * percent / 100)` backends.
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: 5,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
        }
    }
}

impl OutlierConfig {
    /// Checks that the count is at least 1, the times positive, the cap at least the base, and
    /// the percentage at most 100.
    pub fn validate(&self) -> Result<(), LbError> {
        at_least_one("outlier.consecutive_5xx", self.consecutive_5xx)?;
        positive("outlier.interval", self.interval)?;
        positive("outlier.base_ejection_time", self.base_ejection_time)?;
        if self.max_ejection_time < self.base_ejection_time {
            return Err(LbError::MaxEjectionBelowBase { max: self.max_ejection_time, base: self.base_ejection_time });
        }
        percent("outlier.max_ejection_percent", self.max_ejection_percent)
    }
}

/// Envoy's retry budget: retries in flight are capped at a share of the active requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryBudgetConfig {
    /// Retries in flight may be at most this percentage of active requests (default 20).
    pub budget_percent: u32,
    /// Retries in flight allowed whatever the active count (default 3), so that a quiet backend
    /// set can still retry.
    pub min_retry_concurrency: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig { budget_percent: 20, min_retry_concurrency: 3 }
    }
}

impl RetryBudgetConfig {
    /// Checks that the percentage is at most 100.
    pub fn validate(&self) -> Result<(), LbError> {
        percent("retry.budget_percent", self.budget_percent)
    }
}

/// Everything a [`crate::lb::Backends`] needs besides its backend list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbConfig {
    /// How a backend is chosen among the eligible ones.
    pub algorithm: Algorithm,
    /// Active health checking; `None` treats every backend as healthy (as Envoy does without
    /// health checks).
    pub health: Option<HealthConfig>,
    /// Passive outlier detection; `None` never ejects.
    pub outlier: Option<OutlierConfig>,
    /// Below this percentage of eligible backends, balance over all of them (Envoy's panic
    /// threshold, default 50; 0 disables panic mode).
    pub panic_threshold_percent: u32,
    /// Whether a passing health check returns an ejected backend to service at once (Envoy's
    /// `successful_active_health_check_uneject_host`, default true).
    pub health_check_uneject: bool,
    /// The retry budget.
    pub retry: RetryBudgetConfig,
}

impl Default for LbConfig {
    fn default() -> Self {
        LbConfig {
            algorithm: Algorithm::default(),
            health: Some(HealthConfig::default()),
            outlier: Some(OutlierConfig::default()),
            panic_threshold_percent: 50,
            health_check_uneject: true,
            retry: RetryBudgetConfig::default(),
        }
    }
}

impl LbConfig {
    /// Checks every part.
    pub fn validate(&self) -> Result<(), LbError> {
        self.algorithm.validate()?;
        if let Some(health) = &self.health {
            health.validate()?;
        }
        if let Some(outlier) = &self.outlier {
            outlier.validate()?;
        }
        percent("panic_threshold_percent", self.panic_threshold_percent)?;
        self.retry.validate()
    }
}

fn positive(field: &'static str, value: Duration) -> Result<(), LbError> {
    if value.is_zero() { Err(LbError::ZeroDuration { field }) } else { Ok(()) }
}

fn at_least_one(field: &'static str, value: u32) -> Result<(), LbError> {
    if value == 0 { Err(LbError::ZeroCount { field }) } else { Ok(()) }
}

fn percent(field: &'static str, value: u32) -> Result<(), LbError> {
    if value > 100 { Err(LbError::Percent { field, value }) } else { Ok(()) }
}

/// What a bad load balancer configuration or backend list can be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbError {
    /// The backend list is empty.
    #[error("a load balancer needs at least one backend")]
    NoBackends,
    /// A backend's name is empty.
    #[error("backend {index} has an empty name")]
    EmptyName {
        /// The backend's position in the list.
        index: usize,
    },
    /// Two backends share a name (consistent hashing routes on names).
    #[error("backend `{backend}` appears twice")]
    DuplicateName {
        /// The repeated name.
        backend: String,
    },
    /// A backend has weight 0, so it could never be picked.
    #[error("backend `{backend}` has weight 0; weights start at 1")]
    ZeroWeight {
        /// The backend's name.
        backend: String,
    },
    /// Least request was asked to draw no backends.
    #[error("least_request needs choices >= 1 (Envoy's default is 2)")]
    ZeroChoices,
    /// A duration that must be positive is zero.
    #[error("`{field}` must be greater than zero")]
    ZeroDuration {
        /// The setting's name.
        field: &'static str,
    },
    /// A count that must be at least 1 is zero.
    #[error("`{field}` must be at least 1")]
    ZeroCount {
        /// The setting's name.
        field: &'static str,
    },
    /// A health check's timeout is longer than its interval.
    #[error("health.timeout ({timeout:?}) must not exceed health.interval ({interval:?})")]
    TimeoutPastInterval {
        /// The timeout given.
        timeout: Duration,
        /// The interval given.
        interval: Duration,
    },
    /// The ejection cap is shorter than a single ejection.
    #[error("outlier.max_ejection_time ({max:?}) must be at least outlier.base_ejection_time ({base:?})")]
    MaxEjectionBelowBase {
        /// The cap given.
        max: Duration,
        /// The base given.
        base: Duration,
    },
    /// A percentage is above 100.
    #[error("`{field}` is a percentage (0..=100), got {value}")]
    Percent {
        /// The setting's name.
        field: &'static str,
        /// The value given.
        value: u32,
    },
    /// The consistent-hashing scheme rejected its settings.
    #[error("consistent hashing: {0}")]
    Hash(#[from] ShardError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_envoys_and_valid() {
        let config = LbConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.panic_threshold_percent, 50);
        let outlier = config.outlier.unwrap();
        assert_eq!(outlier.consecutive_5xx, 5);
        assert_eq!(outlier.base_ejection_time, Duration::from_secs(30));
        assert_eq!(outlier.max_ejection_time, Duration::from_secs(300));
        assert_eq!(outlier.max_ejection_percent, 10);
        assert_eq!(config.retry, RetryBudgetConfig { budget_percent: 20, min_retry_concurrency: 3 });
        assert_eq!(Algorithm::least_request(), Algorithm::LeastRequest { choices: 2 });
    }

    #[test]
    fn bad_settings_name_their_field() {
        let check = |config: LbConfig, expected: LbError| assert_eq!(config.validate(), Err(expected));
        let health = |h: HealthConfig| LbConfig { health: Some(h), ..LbConfig::default() };
        let outlier = |o: OutlierConfig| LbConfig { outlier: Some(o), ..LbConfig::default() };
        check(
            LbConfig { algorithm: Algorithm::LeastRequest { choices: 0 }, ..LbConfig::default() },
            LbError::ZeroChoices,
        );
        check(
            health(HealthConfig { interval: Duration::ZERO, ..HealthConfig::default() }),
            LbError::ZeroDuration { field: "health.interval" },
        );
        check(
            health(HealthConfig { timeout: Duration::from_secs(6), ..HealthConfig::default() }),
            LbError::TimeoutPastInterval { timeout: Duration::from_secs(6), interval: Duration::from_secs(5) },
        );
        check(
            health(HealthConfig { unhealthy_threshold: 0, ..HealthConfig::default() }),
            LbError::ZeroCount { field: "health.unhealthy_threshold" },
        );
        check(
            outlier(OutlierConfig { max_ejection_time: Duration::from_secs(10), ..OutlierConfig::default() }),
            LbError::MaxEjectionBelowBase { max: Duration::from_secs(10), base: Duration::from_secs(30) },
        );
        check(
            outlier(OutlierConfig { max_ejection_percent: 101, ..OutlierConfig::default() }),
            LbError::Percent { field: "outlier.max_ejection_percent", value: 101 },
        );
        check(
            LbConfig { panic_threshold_percent: 150, ..LbConfig::default() },
            LbError::Percent { field: "panic_threshold_percent", value: 150 },
        );
        let message = LbError::ZeroCount { field: "outlier.consecutive_5xx" }.to_string();
        assert_eq!(message, "`outlier.consecutive_5xx` must be at least 1");
    }

    #[test]
    fn bad_backend_lists_are_errors() {
        assert_eq!(validate_backends(&[]), Err(LbError::NoBackends));
        assert_eq!(validate_backends(&[BackendSpec::new("")]), Err(LbError::EmptyName { index: 0 }));
        assert_eq!(
            validate_backends(&[BackendSpec::new("a"), BackendSpec::new("a")]),
            Err(LbError::DuplicateName { backend: "a".into() })
        );
        assert_eq!(
            validate_backends(&[BackendSpec::weighted("a", 0)]),
            Err(LbError::ZeroWeight { backend: "a".into() })
        );
        assert_eq!(validate_backends(&[BackendSpec::new("a"), BackendSpec::weighted("b", 3)]), Ok(()));
    }
}
