//! The cache kind: an L2 cache node speaking RESP2 (Redis's protocol and semantics), with a
//! memory limit counted in bytes and Redis's eviction policies; its settings and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want};
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Host, Size};
use crate::world::SimEnv;
use faultline_models::cache::engine::{EngineConfig, MAX_SAMPLES, Policy};
use faultline_models::cache::node::L2Node;
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An L2 cache node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheService {
    /// Memory limit, as Redis writes it ("64mb", "1gb", "500kb", or bytes). It counts what
    /// Redis's `used_memory` counts, a baseline of about 1 MB included. Default: no limit.
    #[serde(default)]
    pub maxmemory: Size,
    /// What is evicted at the limit (Redis's `maxmemory-policy`). Default "noeviction":
    /// writes past the limit are refused with Redis's OOM error.
    #[serde(default)]
    pub policy: PolicySpec,
    /// Keys sampled per eviction (Redis's `maxmemory-samples`, 1 to 64). Default 5.
    #[serde(default = "default_samples")]
    pub samples: usize,
}

fn default_samples() -> usize {
    EngineConfig::default().samples
}

/// Redis's eviction policies, by their Redis names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySpec {
    /// Refuse writes past the limit.
    #[default]
    Noeviction,
    /// Evict the least recently used key (sampled).
    AllkeysLru,
    /// Evict the least recently used key with a TTL.
    VolatileLru,
    /// Evict the least frequently used key (sampled, logarithmic counter).
    AllkeysLfu,
    /// Evict the least frequently used key with a TTL.
    VolatileLfu,
    /// Evict a random key.
    AllkeysRandom,
    /// Evict a random key with a TTL.
    VolatileRandom,
    /// Evict the key with a TTL closest to expiry (sampled).
    VolatileTtl,
}

impl PolicySpec {
    fn policy(self) -> Policy {
        match self {
            PolicySpec::Noeviction => Policy::NoEviction,
            PolicySpec::AllkeysLru => Policy::AllKeysLru,
            PolicySpec::VolatileLru => Policy::VolatileLru,
            PolicySpec::AllkeysLfu => Policy::AllKeysLfu,
            PolicySpec::VolatileLfu => Policy::VolatileLfu,
            PolicySpec::AllkeysRandom => Policy::AllKeysRandom,
            PolicySpec::VolatileRandom => Policy::VolatileRandom,
            PolicySpec::VolatileTtl => Policy::VolatileTtl,
        }
    }
}

/// A cache node in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CachePlan {
    /// Memory limit in bytes; 0: none.
    pub maxmemory: u64,
    /// The eviction policy.
    pub policy: PolicySpec,
    /// Keys sampled per eviction.
    pub samples: usize,
}

impl Kind for CacheService {
    type Plan = CachePlan;
    /// Load generators may read and write it directly, with GET and SET.
    const LOAD: Option<LoadApi> = Some(LoadApi::Resp);

    fn kind(&self) -> &'static str {
        "cache"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Cache => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Store
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        if !(1..=MAX_SAMPLES).contains(&self.samples) {
            let path =
                [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("cache"), Seg::Key("samples")];
            let span = c.span_at(&path, host.name.span());
            let message =
                format!("a cache's `samples` is {}; expected 1 to {MAX_SAMPLES} (Redis's default is 5)", self.samples);
            c.report(span, "out of range", message);
        }
    }

    fn compile(&self, _name: &str, _cx: &PlanContext) -> CachePlan {
        CachePlan { maxmemory: self.maxmemory.0, policy: self.policy, samples: self.samples }
    }
}

impl CachePlan {
    /// The engine's configuration.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig { maxmemory: self.maxmemory, policy: self.policy.policy(), samples: self.samples }
    }

    /// Serves the cache on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        serve(env.clone(), super::SERVICE_PORT, capacity, L2Node::new(env, self.engine())).await
    }
}

impl Start for CachePlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
