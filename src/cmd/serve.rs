//! `faultline serve`: a model on real sockets, through the seam's tokio environment, on one
//! thread (as the simulation runs it, and as Redis runs its event loop): the L2 cache node
//! (`serve cache`), and the app over HTTP with its store and cache (`serve app`), the
//! dependencies it is not given an address for running in the same process.
//!
//! This file must not know a model's logic: it parses the options, binds, and serves.

use crate::cli::AppFlags;
use crate::exit::Exit;
use anyhow::Context;
use faultline_models::app::http::{HttpFront, serve_http};
use faultline_models::app::{App, AppConfig, DbRoute};
use faultline_models::cache::aside::TierConfig;
use faultline_models::cache::engine::{EngineConfig, Policy, parse_memory};
use faultline_models::cache::node::L2Node;
use faultline_models::kv::{KvConfig, KvNode};
use faultline_models::seam::{Env, TokioEnv};
use faultline_models::server::{Capacity, ServiceTime, serve};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;

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
        outln!("faultline serve cache: listening on {addr} (maxmemory {maxmemory} bytes, policy {})", policy.name());
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

/// Requests of `serve app` allowed to wait for a worker; past this they are shed with `503`.
const APP_QUEUE: usize = 10_000;

/// Serves the app until a listener fails (or the process is killed).
pub fn app(flags: &AppFlags) -> Exit {
    let seed = flags.seed.unwrap_or_else(clock_seed);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return super::fail("starting the runtime", e),
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, serve_app(flags, seed)) {
        Ok(()) => Exit::Pass,
        Err(e) => super::fail("serve app", format!("{e:#}")),
    }
}

/// A server running until its listener fails.
type Serving = Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

/// A dependency of the app: where it is, what serves it in this process (forever pending for
/// one that runs elsewhere), and the words that say so.
struct Dependency {
    addr: SocketAddr,
    serving: Serving,
    text: String,
}

impl Dependency {
    fn elsewhere(addr: SocketAddr, what: &str) -> Self {
        Self { addr, serving: Box::pin(std::future::pending()), text: format!("{what} at {addr}") }
    }
}

async fn serve_app(flags: &AppFlags, seed: u64) -> anyhow::Result<()> {
    let env = TokioEnv::new("app", &flags.listen.ip().to_string(), seed);
    let listener = env.bind(flags.listen.port()).await.with_context(|| format!("listening on {}", flags.listen))?;
    let addr = listener.local_addr().context("reading the listening address")?;
    let db = match flags.db {
        Some(db) => Dependency::elsewhere(db, "kv primary"),
        None => embedded_db(seed).await?,
    };
    let cache = match flags.cache {
        Some(cache) => Dependency::elsewhere(cache, "L2 cache node"),
        None => embedded_cache(seed).await?,
    };
    let timeout = flags.request_timeout;
    let db_addr = db.addr.to_string();
    let db_route = DbRoute::Fixed { write_addr: db_addr.clone(), read_addr: db_addr };
    let cache_tier = Some(TierConfig::new(vec![("cache".into(), cache.addr.to_string())], timeout));
    let config = AppConfig { cache: cache_tier, ..AppConfig::new(db_route, timeout) };
    let app = App::new(env.clone(), &config).context("building the app")?;
    let workers = flags.workers as usize;
    let max_connections = flags.max_connections.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let capacity = Capacity { max_connections, ..Capacity::new(workers, APP_QUEUE, ServiceTime::Zero) };
    outln!(
        "faultline serve app: listening on {addr} (db: {}; cache: {}; {workers} workers, request timeout {timeout:?}, \
         max body {} bytes)",
        db.text,
        cache.text,
        flags.max_body
    );
    std::io::stdout().flush()?;
    let front = HttpFront { request_timeout: timeout, max_body: flags.max_body, ..HttpFront::default() };
    tokio::select! {
        biased;
        served = serve_http(env, listener, capacity, app, front) => served.with_context(|| format!("serving on {addr}")),
        served = db.serving => served,
        served = cache.serving => served,
    }
}

/// A kv primary on a free loopback port of this process, its log on an in-memory disk.
async fn embedded_db(seed: u64) -> anyhow::Result<Dependency> {
    let env = TokioEnv::new("db", "127.0.0.1", seed);
    let listener = env.bind(0).await.context("binding the kv store")?;
    let addr = listener.local_addr().context("reading the kv store's address")?;
    let store = KvNode::primary(env.clone(), KvConfig::default()).context("opening the kv store")?;
    let capacity = Capacity::new(WORKERS, 0, ServiceTime::Zero);
    let serving = Box::pin(async move { serve(env, listener, capacity, store).await.context("the kv store") });
    Ok(Dependency { addr, serving, text: format!("kv primary in this process on {addr}, log in memory") })
}

/// An L2 cache node (no memory limit) on a free loopback port of this process.
async fn embedded_cache(seed: u64) -> anyhow::Result<Dependency> {
    let env = TokioEnv::new("cache", "127.0.0.1", seed);
    let listener = env.bind(0).await.context("binding the cache node")?;
    let addr = listener.local_addr().context("reading the cache node's address")?;
    let node = L2Node::new(env.clone(), EngineConfig::default());
    let capacity = Capacity::new(WORKERS, 0, ServiceTime::Zero);
    let serving = Box::pin(async move { serve(env, listener, capacity, node).await.context("the cache node") });
    Ok(Dependency { addr, serving, text: format!("L2 cache node in this process on {addr}") })
}

/// A seed for the eviction sampler when none is given: outside any simulation, the clock.
fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
