//! The application server: composes the tiers the way the scaling guides do, over the framed
//! protocol.
//!
//! - Read (`Get`), cache-aside: ask the cache; a hit is answered at once (`lsn: 0`, the cache
//!   keeps no log position). A miss, or any cache failure, reads from `read_addr` (a replica or
//!   the primary), fills the cache with a found value (a failed fill does not fail the read;
//!   absent keys are not cached) and answers with the store's LSN.
//! - Write (`Put` / `Delete`): to the primary at `db_addr`, then delete the key from the cache
//!   (invalidation), then `Written { lsn }`. A failed invalidation does not fail the write,
//!   which is durable by then; it is counted in the gauge "cache_invalidation_failures".
//! - When reads go to a replica (`read_addr` differs from `db_addr`), a failed replica read is
//!   retried once on the primary (counted in the gauge "read_fallbacks"), as read/write routers
//!   do; only when both fail is the read an error.
//! - A failed or slow dependency (each call bounded by `timeout`) is answered with
//!   `Error { code: Upstream, detail }`, the detail naming the dependency, its address and why.
//!
//! Gauges: "cache_hits" and "cache_misses" (cumulative; every read that went to the store
//! counts as a miss, including those with no cache configured or a failing cache).
//!
//! Known, deliberate race (cache-aside's classic one, for the checkers to find): a read that
//! misses, reads an old value from a lagging replica and fills the cache after a write's
//! invalidation leaves the old value cached until eviction or TTL.
//!
//! This file must not know how the tiers store data: it only speaks the protocol to them.

use crate::client::{CallError, Client};
use crate::kv::msg_name;
use crate::proto::{ErrorCode, Msg};
use crate::seam::Env;
use crate::server::{Capacity, Handler, Replier, serve_on};
use std::cell::Cell;
use std::io;
use std::time::Duration;

/// Configuration of an app server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// The primary database ("host:port"): every write goes here.
    pub db_addr: String,
    /// Where reads that miss the cache go: a replica or the primary.
    pub read_addr: String,
    /// The cache node, if any.
    pub cache_addr: Option<String>,
    /// The longest any one call to a dependency (connect included) may take.
    pub timeout: Duration,
}

/// Why a dependency did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The dependency could not be reached, or did not answer in time.
    #[error("{dependency}: {source}")]
    Transport {
        /// Which dependency ("db", "read store", "cache").
        dependency: &'static str,
        /// The transport failure (it names the address).
        source: CallError,
    },
    /// The dependency answered with an error.
    #[error("{dependency} at {addr} answered {code:?}: {detail}")]
    Refused {
        /// Which dependency.
        dependency: &'static str,
        /// Its address.
        addr: String,
        /// Its error code.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// The dependency answered with a message that does not fit the request.
    #[error("{dependency} at {addr} answered an unexpected {got}")]
    Unexpected {
        /// Which dependency.
        dependency: &'static str,
        /// Its address.
        addr: String,
        /// The kind of message it sent.
        got: &'static str,
    },
}

impl UpstreamError {
    fn reply(&self) -> Msg {
        Msg::Error { code: ErrorCode::Upstream, detail: self.to_string() }
    }
}

/// One dependency: a multiplexed client and the name errors give it.
struct Dependency<E: Env> {
    name: &'static str,
    client: Client<E>,
}

impl<E: Env> Dependency<E> {
    fn new(env: &E, name: &'static str, addr: &str, timeout: Duration) -> Self {
        Self { name, client: Client::new(env.clone(), addr, timeout) }
    }

    /// Calls the dependency; an `Error` reply becomes [`UpstreamError::Refused`].
    async fn call(&self, msg: Msg, limit: Duration) -> Result<Msg, UpstreamError> {
        match self.client.call(msg, limit).await {
            Ok(Msg::Error { code, detail }) => Err(UpstreamError::Refused {
                dependency: self.name,
                addr: self.client.addr().to_string(),
                code,
                detail,
            }),
            Ok(reply) => Ok(reply),
            Err(source) => Err(UpstreamError::Transport { dependency: self.name, source }),
        }
    }

    fn unexpected(&self, reply: &Msg) -> UpstreamError {
        UpstreamError::Unexpected { dependency: self.name, addr: self.client.addr().to_string(), got: msg_name(reply) }
    }

    /// Reads `key`: the value and the LSN the store answered with.
    async fn get(&self, key: &[u8], limit: Duration) -> Result<(Option<Vec<u8>>, u64), UpstreamError> {
        match self.call(Msg::Get { key: key.to_vec(), min_lsn: 0 }, limit).await? {
            Msg::Value { value, lsn } => Ok((value, lsn)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Sends a write (`Put` or `Delete`): the LSN it got.
    async fn write(&self, msg: Msg, limit: Duration) -> Result<u64, UpstreamError> {
        match self.call(msg, limit).await? {
            Msg::Written { lsn, .. } => Ok(lsn),
            other => Err(self.unexpected(&other)),
        }
    }
}

/// The app server's handler.
pub(crate) struct App<E: Env> {
    env: E,
    timeout: Duration,
    db: Dependency<E>,
    read: Dependency<E>,
    cache: Option<Dependency<E>>,
    /// Reads go to a different host than writes (a replica): a failed read falls back to `db`.
    read_is_replica: bool,
    hits: Cell<u64>,
    misses: Cell<u64>,
    read_fallbacks: Cell<u64>,
    invalidation_failures: Cell<u64>,
}

impl<E: Env> App<E> {
    /// An app over the dependencies in `config`; connections open lazily.
    pub(crate) fn new(env: E, config: &AppConfig) -> Self {
        let dependency = |name, addr: &str| Dependency::new(&env, name, addr, config.timeout);
        Self {
            timeout: config.timeout,
            db: dependency("db", &config.db_addr),
            read: dependency("read store", &config.read_addr),
            cache: config.cache_addr.as_deref().map(|addr| dependency("cache", addr)),
            read_is_replica: config.read_addr != config.db_addr,
            hits: Cell::new(0),
            misses: Cell::new(0),
            read_fallbacks: Cell::new(0),
            invalidation_failures: Cell::new(0),
            env,
        }
    }

    fn publish(&self) {
        self.env.gauge("cache_hits", self.hits.get() as i64);
        self.env.gauge("cache_misses", self.misses.get() as i64);
        self.env.gauge("cache_invalidation_failures", self.invalidation_failures.get() as i64);
        self.env.gauge("read_fallbacks", self.read_fallbacks.get() as i64);
    }

    fn bump(&self, counter: &Cell<u64>) {
        counter.set(counter.get() + 1);
        self.publish();
    }

    /// Serves a read, cache-aside.
    pub(crate) async fn get(&self, key: Vec<u8>) -> Msg {
        if let Some(cache) = &self.cache {
            // A cache failure is a miss: the store still answers.
            if let Ok((Some(value), _)) = cache.get(&key, self.timeout).await {
                self.bump(&self.hits);
                return Msg::Value { value: Some(value), lsn: 0 };
            }
        }
        self.bump(&self.misses);
        let (value, lsn) = match self.read.get(&key, self.timeout).await {
            Ok(found) => found,
            // A failed replica read falls back to the primary, as read/write routers do.
            Err(first) if self.read_is_replica => {
                self.bump(&self.read_fallbacks);
                match self.db.get(&key, self.timeout).await {
                    Ok(found) => found,
                    Err(e) => {
                        let detail = format!("{first}; then, falling back: {e}");
                        return Msg::Error { code: ErrorCode::Upstream, detail };
                    }
                }
            }
            Err(e) => return e.reply(),
        };
        if let (Some(cache), Some(value)) = (&self.cache, &value) {
            // A failed fill costs a later miss, not this read.
            let _ = cache.write(Msg::Put { key, value: value.clone() }, self.timeout).await;
        }
        Msg::Value { value, lsn }
    }

    /// Serves a write (`Put` or `Delete` of `key`): primary first, then invalidation.
    pub(crate) async fn write(&self, key: Vec<u8>, msg: Msg) -> Msg {
        let lsn = match self.db.write(msg, self.timeout).await {
            Ok(lsn) => lsn,
            Err(e) => return e.reply(),
        };
        let invalidated = match &self.cache {
            Some(cache) => cache.write(Msg::Delete { key }, self.timeout).await.is_ok(),
            None => true,
        };
        if !invalidated {
            self.bump(&self.invalidation_failures);
        }
        Msg::Written { lsn, epoch: 1 }
    }

    /// Cumulative (hits, misses).
    #[cfg(test)]
    pub(crate) fn hit_counts(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }
}

impl<E: Env> Handler<E> for App<E> {
    async fn handle(&self, msg: Msg, _replier: Replier<E>) -> Option<Msg> {
        Some(match msg {
            Msg::Get { key, .. } => self.get(key).await,
            Msg::Put { key, value } => self.write(key.clone(), Msg::Put { key, value }).await,
            Msg::Delete { key } => self.write(key.clone(), Msg::Delete { key }).await,
            Msg::Applied { .. } => return None,
            other => {
                let detail = format!("the app serves Get, Put and Delete, not {}", msg_name(&other));
                Msg::Error { code: ErrorCode::BadRequest, detail }
            }
        })
    }
}

/// Binds `port` and serves the app until the listener fails.
pub async fn run_app<E: Env>(env: E, port: u16, capacity: Capacity, config: AppConfig) -> io::Result<()> {
    let listener = env.bind(port).await?;
    run_app_on(env, listener, capacity, config).await
}

/// Like [`run_app`], on an already bound listener.
pub async fn run_app_on<E: Env>(
    env: E,
    listener: E::Listener,
    capacity: Capacity,
    config: AppConfig,
) -> io::Result<()> {
    let app = App::new(env.clone(), &config);
    app.publish();
    serve_on(env, listener, capacity, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheConfig, run_cache_on};
    use crate::kv::{KvConfig, run_primary_on};
    use crate::seam::TokioEnv;
    use std::future::Future;
    use tokio::task::LocalSet;

    const LIMIT: Duration = Duration::from_secs(2);

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        LocalSet::new().block_on(&rt, f)
    }

    fn env() -> TokioEnv {
        TokioEnv::new("app", "127.0.0.1", 3)
    }

    /// Starts a kv primary and a cache on loopback; their addresses.
    async fn tiers(env: &TokioEnv) -> (String, String) {
        let db = env.bind(0).await.expect("bind");
        let db_addr = db.local_addr().expect("an address").to_string();
        tokio::task::spawn_local(run_primary_on(env.clone(), db, Capacity::default(), KvConfig::default()));
        let cache = env.bind(0).await.expect("bind");
        let cache_addr = cache.local_addr().expect("an address").to_string();
        let config = CacheConfig { capacity: 100, ttl: None };
        tokio::task::spawn_local(run_cache_on(env.clone(), cache, Capacity::default(), config));
        (db_addr, cache_addr)
    }

    /// An address where nothing listens.
    async fn dead_addr(env: &TokioEnv) -> String {
        let listener = env.bind(0).await.expect("bind");
        listener.local_addr().expect("an address").to_string()
    }

    fn config(db_addr: &str, read_addr: &str, cache_addr: Option<String>, timeout: Duration) -> AppConfig {
        AppConfig { db_addr: db_addr.into(), read_addr: read_addr.into(), cache_addr, timeout }
    }

    fn put(key: &str, value: &str) -> Msg {
        Msg::Put { key: key.into(), value: value.into() }
    }

    fn value(value: Option<&str>, lsn: u64) -> Msg {
        Msg::Value { value: value.map(Into::into), lsn }
    }

    fn assert_upstream(reply: &Msg, needles: &[&str]) {
        let Msg::Error { code: ErrorCode::Upstream, detail } = reply else {
            panic!("expected an Upstream error, got {reply:?}");
        };
        for needle in needles {
            assert!(detail.contains(needle), "{detail:?} should mention {needle:?}");
        }
    }

    #[test]
    fn reads_fill_the_cache_and_writes_invalidate_it() {
        block_on(async {
            let env = env();
            let (db, cache) = tiers(&env).await;
            let app = App::new(env.clone(), &config(&db, &db, Some(cache), LIMIT));
            assert_eq!(app.write(b"k".to_vec(), put("k", "v1")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v1"), 1));
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v1"), 0), "the second read hits the cache");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v2")).await, Msg::Written { lsn: 2, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v2"), 2), "the write invalidated the cache");
            assert_eq!(
                app.write(b"k".to_vec(), Msg::Delete { key: b"k".to_vec() }).await,
                Msg::Written { lsn: 3, epoch: 1 }
            );
            assert_eq!(app.get(b"k".to_vec()).await, value(None, 3));
            assert_eq!(app.get(b"k".to_vec()).await, value(None, 3), "absent keys are not cached");
            assert_eq!(app.hit_counts(), (1, 4));
            assert_eq!(app.invalidation_failures.get(), 0);
        });
    }

    #[test]
    fn a_dead_replica_falls_back_to_the_primary() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let app = App::new(env.clone(), &config(&db, &dead_addr(&env).await, None, LIMIT));
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v"), 1));
            assert_eq!(app.read_fallbacks.get(), 1);
        });
    }

    #[test]
    fn a_dead_cache_falls_back_to_the_store() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let app = App::new(env.clone(), &config(&db, &db, Some(dead_addr(&env).await), LIMIT));
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.invalidation_failures.get(), 1);
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v"), 1));
            assert_eq!(app.get(b"k".to_vec()).await, value(Some("v"), 1));
            assert_eq!(app.hit_counts(), (0, 2));
        });
    }

    #[test]
    fn a_dead_db_and_a_silent_store_are_upstream_errors_that_name_them() {
        block_on(async {
            let env = env();
            let dead = dead_addr(&env).await;
            let silent = env.bind(0).await.expect("bind");
            let silent_addr = silent.local_addr().expect("an address").to_string();
            let app = App::new(env.clone(), &config(&dead, &silent_addr, None, Duration::from_millis(100)));
            assert_upstream(&app.write(b"k".to_vec(), put("k", "v")).await, &["db", &dead]);
            assert_upstream(&app.get(b"k".to_vec()).await, &["read store", &silent_addr, "in time"]);
            drop(silent);
        });
    }

    #[test]
    fn a_refusing_store_is_named_with_its_code() {
        block_on(async {
            let env = env();
            let (_, cache) = tiers(&env).await;
            // A cache is no database: it answers writes with lsn 0 but refuses an Echo.
            let app = App::new(env.clone(), &config(&cache, &cache, None, LIMIT));
            let refused = app.read.call(Msg::Echo { payload: vec![] }, LIMIT).await.expect_err("refused");
            assert!(matches!(refused, UpstreamError::Refused { code: ErrorCode::BadRequest, .. }));
            assert!(refused.to_string().starts_with("read store at "), "{refused}");
        });
    }
}
