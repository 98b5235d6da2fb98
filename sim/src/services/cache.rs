//! The cache kind: an in-memory cache node with LRU eviction by entry count and an optional
//! time to live, its settings and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, ns};
use crate::scenario::Dur;
use crate::world::SimEnv;
use faultline_models::cache;
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A cache node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheService {
    /// Entries held before the least recently used is evicted. Default 10000.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// Time to live of an entry. Default: none.
    #[serde(default)]
    pub ttl: Option<Dur>,
}

fn default_capacity() -> usize {
    10_000
}

/// A cache node in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CachePlan {
    /// Entries held before the least recently used is evicted.
    pub capacity: usize,
    /// Time to live of an entry, nanoseconds; `None`: entries live until evicted.
    pub ttl_ns: Option<u64>,
}

impl Kind for CacheService {
    type Plan = CachePlan;
    /// Load generators may read and write it directly.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    fn kind(&self) -> &'static str {
        "cache"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Cache => true,
            Want::KvPrimary | Want::Kv | Want::Store => false,
        }
    }

    fn compile(&self, _name: &str, _cx: &PlanContext) -> CachePlan {
        CachePlan { capacity: self.capacity, ttl_ns: self.ttl.map(|d| ns(d.0)) }
    }
}

impl CachePlan {
    /// Serves the cache on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let config = cache::CacheConfig { capacity: self.capacity, ttl: self.ttl_ns.map(Duration::from_nanos) };
        serve(env.clone(), super::SERVICE_PORT, capacity, cache::CacheNode::new(env, config)).await
    }
}

impl Start for CachePlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
