//! `faultline serve`: a model on real sockets, through the seam's tokio environment, on one
//! thread (as the simulation runs it, and as Redis runs its event loop).
//!
//! This file must not know a model's logic: it parses the options, binds, and serves.

use crate::exit::Exit;
use faultline_models::cache::engine::{EngineConfig, Policy, parse_memory};
use faultline_models::cache::node::L2Node;
use faultline_models::seam::{Env, TokioEnv};
use faultline_models::server::{Capacity, ServiceTime, serve};
use std::io::Write;
use std::net::SocketAddr;

/// Worker slots: more than connections could ever use at once, so none waits for one.
const WORKERS: usize = 1 << 20;

/// Options of `serve cache`.
pub struct CacheOptions {
    pub listen: SocketAddr,
    pub maxmemory: String,
    pub maxmemory_policy: String,
    pub maxclients: usize,
    pub seed: Option<u64>,
}

/// Serves the L2 cache until the listener fails (or the process is killed).
pub fn cache(options: &CacheOptions) -> Exit {
    let Some(maxmemory) = parse_memory(options.maxmemory.trim().as_bytes()) else {
        return super::fail("--maxmemory", format!("{:?} is not a size (e.g. 100mb, 1gb, 4096)", options.maxmemory));
    };
    let Some(policy) = Policy::parse(&options.maxmemory_policy) else {
        return super::fail(
            "--maxmemory-policy",
            format!(
                "{:?} is not one of noeviction, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, \
                 volatile-random, volatile-ttl",
                options.maxmemory_policy
            ),
        );
    };
    let config = EngineConfig { maxmemory, policy, ..EngineConfig::default() };
    let seed = options.seed.unwrap_or_else(clock_seed);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return super::fail("starting the runtime", e),
    };
    let host = options.listen.ip().to_string();
    let env = TokioEnv::new("cache", &host, seed);
    let local = tokio::task::LocalSet::new();
    let served = local.block_on(&runtime, async move {
        let listener = env.bind(options.listen.port()).await?;
        let addr = listener.local_addr()?;
        println!("faultline serve cache: listening on {addr} (maxmemory {maxmemory} bytes, policy {})", policy.name());
        std::io::stdout().flush()?;
        // No service time and no queue: commands run as they arrive, as Redis's event loop runs them.
        let capacity =
            Capacity { max_connections: Some(options.maxclients), ..Capacity::new(WORKERS, 0, ServiceTime::Zero) };
        serve(env.clone(), listener, capacity, L2Node::new(env, config)).await
    });
    match served {
        Ok(()) => Exit::Pass,
        Err(e) => super::fail(&format!("serving on {}", options.listen), e),
    }
}

/// A seed for the eviction sampler when none is given: outside any simulation, the clock.
fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
