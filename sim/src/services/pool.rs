//! The pool kind: a connection pooler in front of a store, like PgBouncer (transaction or
//! session mode, a cap on server connections, wait and server timeouts), its settings, their
//! checks and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::pool;
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A connection pooler.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolService {
    /// The store it pools connections to (a kv primary).
    #[schemars(with = "String")]
    pub backend: Sp<String>,
    /// "transaction" (a server connection per request) or "session" (per client connection).
    /// Default "transaction".
    #[serde(default)]
    pub mode: PoolModeSpec,
    /// The most connections it opens to the backend. Default 20.
    #[serde(default = "default_pool_size")]
    pub max_server_conns: usize,
    /// A request waiting longer than this for a server connection fails. Default "1s".
    #[serde(default = "default_wait_timeout")]
    pub wait_timeout: Dur,
    /// Timeout of each request at the backend. Default "1s".
    #[serde(default = "default_wait_timeout")]
    pub server_timeout: Dur,
}

fn default_pool_size() -> usize {
    20
}
fn default_wait_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// How a pool lends server connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolModeSpec {
    /// For the length of one request.
    #[default]
    Transaction,
    /// For the life of a client connection.
    Session,
}

/// A pool in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPlan {
    /// "host:port" of the store it pools connections to.
    pub backend: String,
    /// How it lends server connections.
    pub mode: PoolModeSpec,
    /// The most connections it opens to the backend.
    pub max_server_conns: usize,
    /// How long a request may wait for a server connection, nanoseconds.
    pub wait_timeout_ns: u64,
    /// Timeout of each request at the backend, nanoseconds.
    pub server_timeout_ns: u64,
}

impl Kind for PoolService {
    type Plan = PoolPlan;
    /// Load generators read and write through it.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    fn kind(&self) -> &'static str {
        "pool"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Store => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        expect(c, &self.backend, Want::KvPrimary, "a pool's `backend`");
        if self.max_server_conns == 0 {
            let message = "a pool's max_server_conns = 0; expected at least 1 server connection".into();
            c.report(host.name.span(), "zero", message);
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> PoolPlan {
        PoolPlan {
            backend: cx.addr(&self.backend),
            mode: self.mode,
            max_server_conns: self.max_server_conns,
            wait_timeout_ns: ns(self.wait_timeout.0),
            server_timeout_ns: ns(self.server_timeout.0),
        }
    }
}

impl PoolPlan {
    /// Serves the pool on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let config = pool::PoolConfig {
            backend: self.backend,
            mode: match self.mode {
                PoolModeSpec::Session => pool::PoolMode::Session,
                PoolModeSpec::Transaction => pool::PoolMode::Transaction,
            },
            max_server_conns: self.max_server_conns,
            wait_timeout: Duration::from_nanos(self.wait_timeout_ns),
            server_timeout: Duration::from_nanos(self.server_timeout_ns),
        };
        serve(env.clone(), super::SERVICE_PORT, capacity, pool::Pooler::new(env, config)).await
    }
}

impl Start for PoolPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
