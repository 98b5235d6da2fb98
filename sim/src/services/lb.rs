//! The lb kind: an L7 load balancer (an HTTP proxy) in front of HTTP apps, with Envoy's
//! balancing algorithms, active health checks, passive outlier ejection, panic mode and retries
//! within a budget. Its settings, their checks, its plan and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::lb::config::validate_backends;
use faultline_models::lb::proxy::{ProxyConfig, RetryOn, serve_proxy};
use faultline_models::lb::{
    Algorithm, BackendSpec, HealthConfig, InitialHealth, LbConfig, OutlierConfig, RetryBudgetConfig,
};
use faultline_models::server::Capacity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A load balancer's settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LbService {
    /// The backends: apps with protocol = "http".
    #[schemars(with = "Vec<String>")]
    pub backends: Vec<Sp<String>>,
    /// Each backend's weight, in order (for "weighted" and weighted least request). Default: all 1.
    #[serde(default)]
    pub weights: Option<Vec<u32>>,
    /// Each backend's priority level, in order: level 0 takes the traffic while healthy enough,
    /// the next level what it cannot (Envoy's priorities). Default: all 0.
    #[serde(default)]
    pub priorities: Option<Vec<u32>>,
    /// How a backend is chosen. Default "round_robin".
    #[serde(default)]
    pub algorithm: AlgorithmSpec,
    /// With a hash algorithm: the request header whose value is the key. Default: none (a
    /// request without a key goes to a random backend).
    #[serde(default)]
    pub hash_header: Option<String>,
    /// How long one attempt may take. Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Attempts beyond the first (another backend; idempotent methods on 5xx, resets and
    /// timeouts, any method when the connection failed). Default 1.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Active health checks (`GET /health`). Default: none.
    #[serde(default)]
    pub health: Option<HealthSpec>,
    /// Passive outlier detection (consecutive 5xx). Default: none.
    #[serde(default)]
    pub outlier: Option<OutlierSpec>,
    /// Below this share of healthy backends (percent), balance over all of them. Default 50.
    #[serde(default = "default_panic")]
    pub panic_threshold: u32,
    /// Retries in flight at most this percent of active requests. Default 20.
    #[serde(default = "default_budget")]
    pub retry_budget: u32,
    /// ... but always allow this many retries in flight. Default 3.
    #[serde(default = "default_min_retries")]
    pub min_retry_concurrency: u32,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_retries() -> u32 {
    1
}
fn default_panic() -> u32 {
    50
}
fn default_budget() -> u32 {
    20
}
fn default_min_retries() -> u32 {
    3
}

/// How a load balancer chooses a backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmSpec {
    /// Each backend in turn.
    #[default]
    RoundRobin,
    /// A random backend.
    Random,
    /// Power of two choices: the less busy of two random backends.
    LeastRequest,
    /// Smooth weighted round robin.
    Weighted,
    /// Consistent hashing on `hash_header` over a ring.
    RingHash,
    /// Consistent hashing on `hash_header` over Maglev's table.
    Maglev,
}

/// Active health checking.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Time between checks of a backend. Default "5s".
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// A check not answered within this failed. Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Consecutive passes that bring a backend back. Default 2.
    #[serde(default = "default_healthy")]
    pub healthy: u32,
    /// Consecutive failures that take it out. Default 3.
    #[serde(default = "default_unhealthy")]
    pub unhealthy: u32,
}

fn default_interval() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_healthy() -> u32 {
    2
}
fn default_unhealthy() -> u32 {
    3
}

/// Passive outlier detection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlierSpec {
    /// Consecutive failures (5xx, resets) that eject a backend. Default 5.
    #[serde(default = "default_consecutive")]
    pub consecutive_5xx: u32,
    /// How long a first ejection lasts, times the number of ejections. Default "30s".
    #[serde(default = "default_base_ejection")]
    pub base_ejection: Dur,
    /// The longest an ejection lasts. Default "300s".
    #[serde(default = "default_max_ejection")]
    pub max_ejection: Dur,
    /// The most backends ejected at once, percent (at least one may always be). Default 10.
    #[serde(default = "default_max_percent")]
    pub max_percent: u32,
    /// A passing active health check ends an ejection, as Envoy does by default. Default true.
    #[serde(default = "default_uneject")]
    pub uneject_on_health: bool,
}

fn default_uneject() -> bool {
    true
}

fn default_consecutive() -> u32 {
    5
}
fn default_base_ejection() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_max_ejection() -> Dur {
    Dur(Duration::from_secs(300))
}
fn default_max_percent() -> u32 {
    10
}

/// A load balancer in the run plan: its proxy's settings, times in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LbPlan {
    /// (name, "host:port", weight) of each backend.
    pub backends: Vec<(String, String, u32)>,
    /// Each backend's priority level, when any is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priorities: Option<Vec<u32>>,
    /// The algorithm.
    pub algorithm: AlgorithmSpec,
    /// The hash header.
    pub hash_header: Option<String>,
    /// Per-attempt timeout.
    pub timeout_ns: u64,
    /// Retries.
    pub retries: u32,
    /// Health checks: interval, timeout, healthy, unhealthy.
    pub health: Option<(u64, u64, u32, u32)>,
    /// Outlier detection: consecutive failures, base and max ejection, max percent.
    pub outlier: Option<(u32, u64, u64, u32)>,
    /// A passing health check ends an ejection.
    pub uneject_on_health: bool,
    /// Panic threshold, percent.
    pub panic_threshold: u32,
    /// Retry budget: percent, minimum concurrency.
    pub retry_budget: (u32, u32),
}

impl Kind for LbService {
    type Plan = LbPlan;
    /// Load generators send it the app's HTTP API.
    const LOAD: Option<LoadApi> = Some(LoadApi::Http);

    fn kind(&self) -> &'static str {
        "lb"
    }

    /// A balancer passes the app's API through, so it stands in for an HTTP app.
    fn provides(&self, want: Want) -> bool {
        match want {
            Want::HttpApp => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn backends(&self) -> &[Sp<String>] {
        &self.backends
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        let mut seen = std::collections::BTreeSet::new();
        for backend in &self.backends {
            expect(c, backend, Want::HttpApp, "a load balancer's backend");
            if backend.get_ref() == host.name.get_ref() || !seen.insert(backend.get_ref().as_str()) {
                let message = format!("{:?} is listed twice or is the balancer itself", backend.get_ref());
                c.report(backend.span(), "not a backend", message);
            }
        }
        let per_backend =
            [("weights", "one weight", &self.weights), ("priorities", "one priority level", &self.priorities)];
        for (key, one, list) in per_backend {
            if let Some(list) = list
                && list.len() != self.backends.len()
            {
                let message =
                    format!("{} {key} for {} backends; expected {one} a backend", list.len(), self.backends.len());
                c.report(host.name.span(), key, message);
            }
        }
        let config = self.plan(|name| format!("{name}:0")).config();
        let checked = validate_backends(&backends(&config)).and_then(|()| config.lb.validate());
        if let Err(e) = checked {
            c.report(
                host.name.span(),
                "not a valid load balancer",
                format!("load balancer {:?}: {e}", host.name.get_ref()),
            );
        }
        if self.timeout.0.is_zero() {
            c.report(host.name.span(), "zero", "a load balancer's `timeout` is 0; expected a duration above 0".into());
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> LbPlan {
        self.plan(|name| cx.addr(name))
    }
}

fn backends(config: &ProxyConfig) -> Vec<BackendSpec> {
    config.backends.iter().map(|(name, _, weight)| BackendSpec::weighted(name, *weight)).collect()
}

impl LbService {
    fn plan(&self, addr: impl Fn(&Sp<String>) -> String) -> LbPlan {
        let weight = |i: usize| self.weights.as_ref().and_then(|w| w.get(i).copied()).unwrap_or(1);
        LbPlan {
            backends: self
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| (b.get_ref().clone(), addr(b), weight(i)))
                .collect(),
            priorities: self.priorities.clone(),
            algorithm: self.algorithm,
            hash_header: self.hash_header.clone(),
            timeout_ns: ns(self.timeout.0),
            retries: self.retries,
            health: self.health.as_ref().map(|h| (ns(h.interval.0), ns(h.timeout.0), h.healthy, h.unhealthy)),
            outlier: self
                .outlier
                .as_ref()
                .map(|o| (o.consecutive_5xx, ns(o.base_ejection.0), ns(o.max_ejection.0), o.max_percent)),
            uneject_on_health: self.outlier.as_ref().is_none_or(|o| o.uneject_on_health),
            panic_threshold: self.panic_threshold,
            retry_budget: (self.retry_budget, self.min_retry_concurrency),
        }
    }
}

impl LbPlan {
    /// The proxy's configuration.
    fn config(&self) -> ProxyConfig {
        let algorithm = match self.algorithm {
            AlgorithmSpec::RoundRobin => Algorithm::RoundRobin,
            AlgorithmSpec::Random => Algorithm::Random,
            AlgorithmSpec::LeastRequest => Algorithm::least_request(),
            AlgorithmSpec::Weighted => Algorithm::Weighted,
            AlgorithmSpec::RingHash => Algorithm::ring_hash(),
            AlgorithmSpec::Maglev => Algorithm::maglev(),
        };
        let ms = Duration::from_nanos;
        let lb = LbConfig {
            algorithm,
            health: self.health.map(|(interval, timeout, healthy, unhealthy)| HealthConfig {
                interval: ms(interval),
                timeout: ms(timeout),
                healthy_threshold: healthy,
                unhealthy_threshold: unhealthy,
                initial: InitialHealth::Healthy,
            }),
            outlier: self.outlier.map(|(consecutive, base, max, percent)| OutlierConfig {
                consecutive_5xx: consecutive,
                base_ejection_time: ms(base),
                max_ejection_time: ms(max),
                max_ejection_percent: percent,
                ..OutlierConfig::default()
            }),
            panic_threshold_percent: self.panic_threshold,
            health_check_uneject: self.uneject_on_health,
            retry: RetryBudgetConfig {
                budget_percent: self.retry_budget.0,
                min_retry_concurrency: self.retry_budget.1,
            },
        };
        ProxyConfig {
            backends: self.backends.clone(),
            priorities: self.priorities.clone().unwrap_or_default(),
            lb,
            timeout: ms(self.timeout_ns),
            hash_header: self.hash_header.clone(),
            retries: self.retries,
            retry_on: RetryOn::default(),
        }
    }
}

impl Start for LbPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(serve_proxy(env, super::SERVICE_PORT, capacity.max_connections, self.config()))
    }
}
