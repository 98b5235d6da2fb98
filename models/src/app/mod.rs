//! The application server: composes the tiers the way the scaling guides do, over the framed
//! protocol.
//!
//! - Read (`Get { key, min_lsn }`), cache-aside: ask the cache; a hit is answered at once
//!   (`lsn: 0`, the cache keeps no log position). A miss, or any cache failure, reads from the
//!   store, fills the cache with a found value (a failed fill does not fail the read; absent
//!   keys are not cached) and answers `Value { value, lsn }` with the store's LSN.
//! - Write (`Put` / `Delete`): to the primary, then delete the key from the cache
//!   (invalidation), then the primary's `Written { lsn, epoch }` exactly as it said it. A failed
//!   invalidation does not fail the write, which is durable by then; it is counted in the gauge
//!   "cache_invalidation_failures".
//! - How the store is reached is [`DbRoute`] (see `store.rs`): fixed addresses (a failed
//!   replica read retried once on the primary, counted in the gauge "read_fallbacks"; the read
//!   token is not forwarded), a [`Router`](crate::router::Router) over one replicated group
//!   (with `read_your_writes`, the request's `min_lsn` goes along as the read token), or a
//!   sharded database: a router per group, each key's tenant placed by a directory.
//! - `connect_per_request`: every store call opens its own connection, sends, reads the reply
//!   and closes (an app without a connection pool); otherwise each store node gets one
//!   long-lived multiplexed connection. The cache always keeps its long-lived connection.
//! - A failed or slow dependency (each call bounded by `timeout`) is answered with
//!   `Error { code: Upstream, detail }`, the detail naming the dependency, its address and why.
//!
//! Gauges: "cache_hits" and "cache_misses" (cumulative; every read that went to the store
//! counts as a miss, including those with no cache configured or a failing cache), and the
//! router's gauges in routed mode.
//!
//! Known, deliberate race (cache-aside's classic one, for the checkers to find): a read that
//! misses, reads an old value from a lagging replica and fills the cache after a write's
//! invalidation leaves the old value cached until eviction or TTL. A cache hit also ignores the
//! read token: the cache keeps no log position.
//!
//! A rate limit ([`AppConfig::rate_limit`], local or shared on an L2 node, see
//! [`crate::ratelimit`]) is asked by the HTTP front before its worker queue; the framed front
//! does not limit.
//!
//! The app answers over the framed protocol ([`Handler`], served by `server::serve`) or over
//! HTTP/1.1 ([`http::serve_http`]): one app, two fronts.
//!
//! This file must not know how the tiers store data: it only speaks the protocol to them.

mod checkout;
pub mod enqueue;
pub mod http;
#[cfg(test)]
mod http_tests;
mod page;
pub mod session;
mod store;
#[cfg(test)]
mod store_tests;

pub use page::{DEGRADED, Fanout, PageConfig, PartAt, PartConfig};
use store::Store;
pub use store::{DbRoute, ShardedDb};

use crate::breaker::{Breaker, BreakerConfig, ConfigError};
use crate::cache::aside::{CacheTier, TierConfig};
use crate::kv::api::Msg;
use crate::proto::{ErrorCode, Framed};
use crate::ratelimit::{Decision, LimitConfig, LimitError, RateLimiter};
use crate::router::Connections;
use crate::seam::Env;
use crate::server::{Handler, Replier};
use crate::shard::ShardError;
use faultline_vocab::gauge;
use std::cell::Cell;
use std::time::Duration;

/// The key a health check reads.
const HEALTH_KEY: &[u8] = b"__health";

/// Configuration of an app server.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// How the store is reached.
    pub db: DbRoute,
    /// The cache tier (L1, the L2 nodes, stampede protection), if any.
    pub cache: Option<TierConfig>,
    /// The longest any one call to a dependency (connect included) may take.
    pub timeout: Duration,
    /// Every store call opens and closes its own connection (no pool).
    pub connect_per_request: bool,
    /// A circuit breaker around reads from a replica (`DbRoute::Fixed` with a `read_addr` other
    /// than the primary): while it is open, reads go straight to the primary.
    pub replica_breaker: Option<BreakerConfig>,
    /// The third-party payment API a checkout calls, if any.
    pub payment: Option<PaymentConfig>,
    /// A rate limit on the HTTP front's `/items/*` and `/checkout`, and what it is keyed by.
    pub rate_limit: Option<(LimitConfig, LimitKey)>,
    /// The page `GET /page/{key}` composes from its parts, if any.
    pub page: Option<PageConfig>,
    /// The queue a successful write or checkout sends a message to, if any.
    pub enqueue: Option<enqueue::EnqueueConfig>,
    /// A bug planted on purpose, for chaos tests only (default off): a write updates the cache
    /// tier (deletes the key) *before* the store commits it, so a read that misses in between
    /// loads the old value and puts it back, to stay until the TTL or the next write.
    #[doc(hidden)]
    pub plant_invalidate_before_write: bool,
}

impl AppConfig {
    /// An app over the store at `db`, each dependency call bounded by `timeout`: no cache, a
    /// pooled connection, no breaker, no payment API, no rate limit, no page.
    pub fn new(db: DbRoute, timeout: Duration) -> Self {
        Self {
            db,
            cache: None,
            timeout,
            connect_per_request: false,
            replica_breaker: None,
            payment: None,
            rate_limit: None,
            page: None,
            enqueue: None,
            plant_invalidate_before_write: false,
        }
    }
}

/// What a rate limit counts requests against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKey {
    /// The `x-user` request header (absent: the user "anonymous").
    User,
    /// One key for every request.
    Global,
}

/// The payment API behind an app's checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentConfig {
    /// Its address ("host:port").
    pub addr: String,
    /// The longest a charge may take (connect included).
    pub timeout: Duration,
    /// A circuit breaker around its calls, if any.
    pub breaker: Option<BreakerConfig>,
}

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Its cache tier's nodes do not suit the tier's shard scheme.
    #[error("cache tier: {0}")]
    Shard(#[from] ShardError),
    /// The sharded database's directory names a group it does not have, or a bad tenant.
    #[error("sharded db: {0}")]
    Directory(ShardError),
    /// A breaker's settings are wrong.
    #[error("breaker: {0}")]
    Breaker(#[from] ConfigError),
    /// The rate limit's settings are wrong.
    #[error("rate limit: {0}")]
    Limit(#[from] LimitError),
}

/// The application server: build it with [`App::new`] and serve it with [`crate::server::serve`].
pub struct App<E: Env> {
    env: E,
    timeout: Duration,
    store: Store<E>,
    cache: Option<CacheTier<E, Msg>>,
    replica_breaker: Option<Breaker<E>>,
    payment: Option<checkout::Payment<E>>,
    rate_limit: Option<(RateLimiter<E>, LimitKey)>,
    page: Option<page::Page<E>>,
    enqueue: Option<enqueue::Enqueue<E>>,
    /// Reads without a cache tier (each one a miss: it went to the store).
    misses: Cell<u64>,
    invalidation_failures: Cell<u64>,
    /// [`AppConfig::plant_invalidate_before_write`].
    invalidate_first: bool,
}

impl<E: Env> App<E> {
    /// An app over the dependencies in `config`; connections open lazily (a router starts
    /// probing at once). Publishes its gauges. Errors: the cache tier's nodes do not suit its
    /// shard scheme, or a breaker's settings are wrong.
    pub fn new(env: E, config: &AppConfig) -> Result<Self, AppError> {
        let connections = if config.connect_per_request { Connections::PerRequest } else { Connections::Shared };
        let store = Store::new(&env, &config.db, config.timeout, connections)?;
        let cache = config.cache.clone().map(|tier| CacheTier::new(env.clone(), tier)).transpose()?;
        let replica_breaker =
            config.replica_breaker.clone().map(|b| Breaker::new(env.clone(), "replica", b)).transpose()?;
        let payment = config.payment.as_ref().map(|p| checkout::Payment::new(&env, p)).transpose()?;
        let rate_limit = match &config.rate_limit {
            Some((limit, key)) => Some((RateLimiter::new(env.clone(), limit)?, *key)),
            None => None,
        };
        let page = config.page.as_ref().map(|p| page::Page::new(&env, p)).transpose()?;
        let app = Self {
            timeout: config.timeout,
            store,
            cache,
            replica_breaker,
            payment,
            rate_limit,
            page,
            enqueue: config.enqueue.as_ref().map(|q| enqueue::Enqueue::new(&env, q, config.timeout)),
            misses: Cell::new(0),
            invalidation_failures: Cell::new(0),
            invalidate_first: config.plant_invalidate_before_write,
            env,
        };
        app.publish();
        Ok(app)
    }

    fn publish(&self) {
        // With a cache tier, the tier publishes the hits and misses.
        if self.cache.is_none() {
            self.env.gauge(gauge::CACHE_HITS, 0);
            self.env.gauge(gauge::CACHE_MISSES, self.misses.get() as i64);
        }
        self.env.gauge(gauge::CACHE_INVALIDATION_FAILURES, self.invalidation_failures.get() as i64);
        self.env.gauge(gauge::READ_FALLBACKS, self.store.read_fallbacks() as i64);
    }

    fn bump(&self, counter: &Cell<u64>) {
        counter.set(counter.get() + 1);
        self.publish();
    }

    /// Serves a read with read token `min_lsn`, cache-aside through the tier when there is one.
    pub(crate) async fn get(&self, key: Vec<u8>, min_lsn: u64) -> Msg {
        let Some(tier) = &self.cache else {
            self.bump(&self.misses);
            return match self.store_get(&key, min_lsn).await {
                Ok((value, lsn)) => Msg::Value { value, lsn },
                Err(reply) => reply,
            };
        };
        match tier.read(&key, || self.store_get(&key, min_lsn)).await {
            Ok(((value, lsn), _from)) => Msg::Value { value, lsn },
            Err(reply) => reply,
        }
    }

    /// Reads `key` from the store: the value and its LSN, or the error reply to send.
    async fn store_get(&self, key: &[u8], min_lsn: u64) -> Result<(Option<Vec<u8>>, u64), Msg> {
        self.store.get(key, min_lsn, self.replica_breaker.as_ref()).await
    }

    /// Serves a write (`Put`, `Delete` or `Cas` of `key`): primary first, then the cache tier
    /// (invalidation or write-through).
    pub(crate) async fn write(&self, key: Vec<u8>, msg: Msg) -> Msg {
        let value = match &msg {
            Msg::Put { value, .. } | Msg::Cas { value, .. } => Some(value.clone()),
            _ => None,
        };
        if self.invalidate_first {
            self.update_cache(&key, value.as_deref()).await;
        }
        let written = match self.store.write(&key, msg).await {
            written @ Msg::Written { .. } => written,
            refused => return refused,
        };
        if !self.invalidate_first {
            self.update_cache(&key, value.as_deref()).await;
        }
        if let Some(q) = self.enqueue.as_ref().filter(|q| q.on == enqueue::EnqueueOn::Write)
            && let Err(failed) = q.send(&key, value.unwrap_or_default()).await
        {
            return failed;
        }
        written
    }

    /// Invalidates (or writes through) `key` in the cache tier, if any, counting a failure.
    async fn update_cache(&self, key: &[u8], value: Option<&[u8]>) {
        let invalidated = match &self.cache {
            Some(tier) => tier.written(key, value).await,
            None => true,
        };
        if !invalidated {
            self.bump(&self.invalidation_failures);
        }
    }

    /// Asks the rate limit, if there is one, about a request of `user`: `None` to go ahead, or
    /// how long to wait before a retry can pass.
    pub(crate) async fn limit(&self, user: &[u8]) -> Option<Duration> {
        let (limiter, key) = self.rate_limit.as_ref()?;
        let key = match key {
            LimitKey::User => user,
            LimitKey::Global => b"global".as_slice(),
        };
        match limiter.check(key).await {
            Decision::Allowed { .. } => None,
            Decision::Limited { retry_after } => Some(retry_after),
        }
    }

    /// Checks that the store answers a read (of a key kept for health checks; sharded, in any
    /// group): `Err` names what failed.
    pub(crate) async fn health(&self) -> Result<(), String> {
        self.store.health(HEALTH_KEY, self.replica_breaker.as_ref()).await
    }

    /// The cache tier, if any.
    pub fn cache(&self) -> Option<&CacheTier<E, Msg>> {
        self.cache.as_ref()
    }

    /// Cumulative (reads a cache answered, reads that went to the store).
    #[cfg(test)]
    pub(crate) fn hit_counts(&self) -> (u64, u64) {
        match &self.cache {
            Some(tier) => tier.hits_and_misses(),
            None => (0, self.misses.get()),
        }
    }
}

impl<E: Env> Handler<E> for App<E> {
    type Codec = Framed<Msg>;

    async fn handle(&self, msg: Msg, _replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        Some(match msg {
            Msg::Get { key, min_lsn } => self.get(key, min_lsn).await,
            Msg::Put { key, value } => self.write(key.clone(), Msg::Put { key, value }).await,
            Msg::Delete { key } => self.write(key.clone(), Msg::Delete { key }).await,
            Msg::Cas { key, expected, value } => self.write(key.clone(), Msg::Cas { key, expected, value }).await,
            Msg::Applied { .. } => return None,
            other => {
                let detail = format!("the app serves Get, Put, Delete and Cas, not {}", other.name());
                Msg::Error { code: ErrorCode::BadRequest, detail }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::engine::EngineConfig;
    use crate::cache::node::L2Node;
    use crate::failover::test_nodes::{FakeNode, status};
    use crate::kv::api::NodeRole;
    use crate::kv::{KvConfig, KvNode};
    use crate::router::{Link, ReadPolicy, RouterConfig};
    use crate::seam::TokioEnv;
    use crate::server::{Capacity, serve};
    use crate::testenv::block_on;
    use store::UpstreamError;

    const LIMIT: Duration = Duration::from_secs(2);

    fn env() -> TokioEnv {
        TokioEnv::new("app", "127.0.0.1", 3)
    }

    /// Starts a kv primary and a cache on loopback; their addresses.
    pub(super) async fn tiers(env: &TokioEnv) -> (String, String) {
        let db = env.bind(0).await.expect("bind");
        let db_addr = db.local_addr().expect("an address").to_string();
        let store = KvNode::primary(env.clone(), KvConfig::default()).expect("a fresh store opens");
        tokio::task::spawn_local(serve(env.clone(), db, Capacity::default(), store));
        let cache = env.bind(0).await.expect("bind");
        let cache_addr = cache.local_addr().expect("an address").to_string();
        let node = L2Node::new(env.clone(), EngineConfig::default());
        tokio::task::spawn_local(serve(env.clone(), cache, Capacity::default(), node));
        (db_addr, cache_addr)
    }

    /// An address where nothing listens.
    async fn dead_addr(env: &TokioEnv) -> String {
        let listener = env.bind(0).await.expect("bind");
        listener.local_addr().expect("an address").to_string()
    }

    /// A tier of one L2 node, no L1, no stampede protection, invalidation on write.
    fn tier(cache_addr: Option<String>, timeout: Duration) -> Option<TierConfig> {
        cache_addr.map(|addr| TierConfig::new(vec![("cache".into(), addr)], timeout))
    }

    fn config(db_addr: &str, read_addr: &str, cache_addr: Option<String>, timeout: Duration) -> AppConfig {
        let db = DbRoute::Fixed { write_addr: db_addr.into(), read_addr: read_addr.into() };
        AppConfig { cache: tier(cache_addr, timeout), ..AppConfig::new(db, timeout) }
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
            let app = App::new(env.clone(), &config(&db, &db, Some(cache), LIMIT)).expect("a valid tier");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v1")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v1"), 1));
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v1"), 0), "the second read hits the cache");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v2")).await, Msg::Written { lsn: 2, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v2"), 2), "the write invalidated the cache");
            assert_eq!(
                app.write(b"k".to_vec(), Msg::Delete { key: b"k".to_vec() }).await,
                Msg::Written { lsn: 3, epoch: 1 }
            );
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(None, 3));
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(None, 3), "absent keys are not cached");
            assert_eq!(app.hit_counts(), (1, 4));
            assert_eq!(app.invalidation_failures.get(), 0);
        });
    }

    #[test]
    fn the_planted_bug_invalidates_before_the_store_commits() {
        for planted in [false, true] {
            block_on(async move {
                let env = env();
                let (db, cache) = tiers(&env).await;
                let good = App::new(env.clone(), &config(&db, &db, Some(cache.clone()), LIMIT)).expect("a valid tier");
                good.write(b"k".to_vec(), put("k", "v1")).await;
                assert_eq!(good.get(b"k".to_vec(), 0).await, value(Some("v1"), 1), "fills the cache");
                // A write the store never commits (its primary is down) shows the order.
                let down = dead_addr(&env).await;
                let config =
                    AppConfig { plant_invalidate_before_write: planted, ..config(&down, &db, Some(cache), LIMIT) };
                let app = App::new(env.clone(), &config).expect("a valid tier");
                assert_upstream(&app.write(b"k".to_vec(), put("k", "v2")).await, &[]);
                let lsn = if planted { 1 } else { 0 };
                let why = if planted { "deleted before the failed write: a miss" } else { "untouched: a hit" };
                assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v1"), lsn), "{why}");
            });
        }
    }

    #[test]
    fn a_compare_and_set_passes_through_and_a_mismatch_stays_a_mismatch() {
        block_on(async {
            let env = env();
            let (db, cache) = tiers(&env).await;
            let app = App::new(env.clone(), &config(&db, &db, Some(cache), LIMIT)).expect("a valid tier");
            let cas = |expected: Option<&str>, new: &str| Msg::Cas {
                key: b"k".to_vec(),
                expected: expected.map(Into::into),
                value: new.into(),
            };
            assert_eq!(app.write(b"k".to_vec(), cas(None, "v1")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v1"), 1), "fills the cache");
            assert_eq!(app.write(b"k".to_vec(), cas(Some("v1"), "v2")).await, Msg::Written { lsn: 2, epoch: 1 });
            match app.write(b"k".to_vec(), cas(Some("v1"), "v3")).await {
                Msg::Error { code: ErrorCode::CasMismatch, detail } => assert!(detail.contains("db at"), "{detail}"),
                other => panic!("a stale CAS should be a mismatch, got {other:?}"),
            }
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v2"), 2), "the CAS invalidated the cache");
        });
    }

    #[test]
    fn a_dead_replica_falls_back_to_the_primary() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let app = App::new(env.clone(), &config(&db, &dead_addr(&env).await, None, LIMIT)).expect("a valid tier");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v"), 1));
            assert_eq!(app.store.read_fallbacks(), 1);
        });
    }

    #[test]
    fn an_open_replica_breaker_sends_reads_straight_to_the_primary() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let mut guarded = config(&db, &dead_addr(&env).await, None, LIMIT);
            guarded.replica_breaker = Some(crate::breaker::BreakerConfig {
                window: crate::breaker::Window::Count(4),
                minimum_calls: 4,
                ..crate::breaker::BreakerConfig::default()
            });
            let app = App::new(env.clone(), &guarded).expect("a valid config");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 1, epoch: 1 });
            for _ in 0..10 {
                assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v"), 1));
            }
            let breaker = app.replica_breaker.as_ref().expect("configured");
            let counters = breaker.counters();
            assert_eq!((counters.admitted, counters.rejected), (4, 6), "four failed reads opened it");
            assert_eq!(app.store.read_fallbacks(), 10, "every read fell back, the last six without trying");
        });
    }

    #[test]
    fn a_dead_cache_falls_back_to_the_store() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let app =
                App::new(env.clone(), &config(&db, &db, Some(dead_addr(&env).await), LIMIT)).expect("a valid tier");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.invalidation_failures.get(), 1);
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v"), 1));
            assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some("v"), 1));
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
            let app = App::new(env.clone(), &config(&dead, &silent_addr, None, Duration::from_millis(100)))
                .expect("a valid tier");
            assert_upstream(&app.write(b"k".to_vec(), put("k", "v")).await, &["db", &dead]);
            assert_upstream(&app.get(b"k".to_vec(), 0).await, &["read store", &silent_addr, "in time"]);
            drop(silent);
        });
    }

    #[test]
    fn a_refusing_store_is_named_with_its_code() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            // Another app is no database: it serves reads and writes but refuses a health check.
            let front = env.bind(0).await.expect("bind");
            let front_addr = front.local_addr().expect("an address").to_string();
            let other = App::new(env.clone(), &config(&db, &db, None, LIMIT)).expect("a valid tier");
            tokio::task::spawn_local(serve(env.clone(), front, Capacity::default(), other));
            let app = App::new(env.clone(), &config(&front_addr, &front_addr, None, LIMIT)).expect("a valid tier");
            let store::Route::Fixed { read, .. } = &app.store.route else { panic!("a fixed route") };
            let refused = read.call(Msg::Check { epoch: 1, lease_ms: 0 }, LIMIT).await.expect_err("refused");
            assert!(matches!(refused, UpstreamError::Refused { code: ErrorCode::BadRequest, .. }));
            assert!(refused.to_string().starts_with("read store at "), "{refused}");
        });
    }

    fn routed(nodes: &[&FakeNode], read_your_writes: bool, cache_addr: Option<String>) -> AppConfig {
        let routes = RouterConfig {
            members: nodes.iter().map(|n| n.addr.clone()).collect(),
            reads: ReadPolicy::RoundRobin,
            max_lag: None,
            read_your_writes,
            probe_every: Duration::from_secs(3600),
        };
        AppConfig { cache: tier(cache_addr, LIMIT), ..AppConfig::new(DbRoute::Routed(routes), LIMIT) }
    }

    fn gets(node: &FakeNode) -> Vec<u64> {
        let received = node.received().into_iter();
        received.filter_map(|m| if let Msg::Get { min_lsn, .. } = m { Some(min_lsn) } else { None }).collect()
    }

    #[test]
    fn routed_writes_answer_as_the_primary_did_and_reads_forward_the_token() {
        block_on(async {
            let env = env();
            let primary = FakeNode::start(121, status(NodeRole::Primary, 3, 10)).await;
            let replica = FakeNode::start(122, status(NodeRole::Replica, 3, 10)).await;
            let app = App::new(env.clone(), &routed(&[&primary, &replica], true, None)).expect("a valid tier");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v")).await, Msg::Written { lsn: 11, epoch: 3 });
            assert_eq!(app.get(b"k".to_vec(), 11).await, value(Some("v"), 11), "the replica is behind lsn 11");
            assert_eq!(gets(&primary), [11]);
            assert_eq!(app.get(b"k".to_vec(), 5).await, value(None, 10), "the replica has no data yet");
            assert_eq!(gets(&replica), [5], "the token went along");
            assert_eq!(app.hit_counts(), (0, 2));
        });
    }

    #[test]
    fn routed_reads_ignore_tokens_without_read_your_writes() {
        block_on(async {
            let env = env();
            let primary = FakeNode::start(123, status(NodeRole::Primary, 1, 10)).await;
            let replica = FakeNode::start(124, status(NodeRole::Replica, 1, 4)).await;
            let app = App::new(env.clone(), &routed(&[&primary, &replica], false, None)).expect("a valid tier");
            assert_eq!(app.get(b"k".to_vec(), 9).await, value(None, 4));
            assert_eq!((gets(&primary), gets(&replica)), (vec![], vec![0]));
        });
    }

    #[test]
    fn a_routed_store_without_a_primary_is_an_upstream_error_that_says_so() {
        block_on(async {
            let env = env();
            let replica = FakeNode::start(125, status(NodeRole::Replica, 2, 4)).await;
            let app = App::new(env.clone(), &routed(&[&replica], true, None)).expect("a valid tier");
            let reply = app.write(b"k".to_vec(), put("k", "v")).await;
            assert_upstream(&reply, &["db: no primary known", &replica.addr, "replica epoch 2"]);
        });
    }

    #[test]
    fn routed_writes_invalidate_the_cache() {
        block_on(async {
            let env = env();
            let (_, cache) = tiers(&env).await;
            let primary = FakeNode::start(126, status(NodeRole::Primary, 1, 0)).await;
            let app = App::new(env.clone(), &routed(&[&primary], true, Some(cache))).expect("a valid tier");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v1")).await, Msg::Written { lsn: 1, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 1).await, value(Some("v1"), 1));
            assert_eq!(app.get(b"k".to_vec(), 1).await, value(Some("v1"), 0), "a hit");
            assert_eq!(app.write(b"k".to_vec(), put("k", "v2")).await, Msg::Written { lsn: 2, epoch: 1 });
            assert_eq!(app.get(b"k".to_vec(), 2).await, value(Some("v2"), 2));
            assert_eq!(app.hit_counts(), (1, 2));
        });
    }

    #[test]
    fn connections_per_request_reach_the_store_every_time() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let mut shared = config(&db, &db, None, LIMIT);
            shared.connect_per_request = true;
            let app = App::new(env.clone(), &shared).expect("a valid tier");
            let store::Route::Fixed { db: dependency, .. } = &app.store.route else { panic!("a fixed route") };
            assert!(matches!(dependency.link, Link::PerRequest { .. }));
            for (i, v) in ["v1", "v2", "v3"].into_iter().enumerate() {
                let lsn = i as u64 + 1;
                assert_eq!(app.write(b"k".to_vec(), put("k", v)).await, Msg::Written { lsn, epoch: 1 });
                assert_eq!(app.get(b"k".to_vec(), 0).await, value(Some(v), lsn));
            }
            let dead = dead_addr(&env).await;
            let mut unreachable = config(&dead, &dead, None, Duration::from_millis(200));
            unreachable.connect_per_request = true;
            let app = App::new(env.clone(), &unreachable).expect("a valid tier");
            assert_upstream(&app.write(b"k".to_vec(), put("k", "v")).await, &["db", &dead]);
        });
    }
}
