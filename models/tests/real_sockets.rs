//! The proof that the models run on real sockets: a kv primary, a replica of it, an L2 cache and
//! an app, each with its own `TokioEnv` on 127.0.0.1, driven through a `Client`.
//!
//! The app reads through the replica, so the test first waits (bounded polling on the
//! environment's clock) until replication delivered every write, then checks cache-aside:
//! a first read pass misses and fills the cache, a second one hits. Gauges are observed
//! through a recording wrapper around `TokioEnv`. This file must not sleep a fixed time or
//! assert anything about wall-clock durations.

use faultline_models::app::{App, AppConfig, DbRoute};
use faultline_models::cache::aside::{Stampede, TierConfig, WritePolicy};
use faultline_models::cache::engine::EngineConfig;
use faultline_models::cache::l1::{Admission, L1Config};
use faultline_models::cache::node::L2Node;
use faultline_models::client::Client;
use faultline_models::kv::api::Msg;
use faultline_models::kv::{FsyncPolicy, KvConfig, KvNode};
use faultline_models::proto::ErrorCode;
use faultline_models::seam::{Disk, Env, Knob, RequestKind, RoleChange, TokioEnv, TokioListener};
use faultline_models::server::{Capacity, serve};
use faultline_models::shard::Scheme;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

const KEYS: u64 = 50;
const LIMIT: Duration = Duration::from_secs(2);

/// `TokioEnv` that also records the latest value of every gauge and state it is told.
#[derive(Clone)]
struct Observed {
    inner: TokioEnv,
    gauges: Rc<RefCell<BTreeMap<&'static str, i64>>>,
    states: Rc<RefCell<BTreeMap<&'static str, String>>>,
}

impl Observed {
    fn new(name: &str) -> Self {
        Self { inner: TokioEnv::new(name, "127.0.0.1", 11), gauges: Rc::default(), states: Rc::default() }
    }

    fn gauge_value(&self, name: &str) -> Option<i64> {
        self.gauges.borrow().get(name).copied()
    }

    fn state_value(&self, key: &str) -> Option<String> {
        self.states.borrow().get(key).cloned()
    }

    /// Binds port 0; the listener and "127.0.0.1:port".
    async fn listen(&self) -> (TokioListener, String) {
        let listener = self.bind(0).await.expect("bind on loopback");
        let addr = listener.local_addr().expect("a bound address").to_string();
        (listener, addr)
    }
}

impl Env for Observed {
    type Stream = <TokioEnv as Env>::Stream;
    type Listener = TokioListener;

    fn host_name(&self) -> &str {
        self.inner.host_name()
    }
    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        self.inner.connect(addr).await
    }
    async fn bind(&self, port: u16) -> io::Result<Self::Listener> {
        self.inner.bind(port).await
    }
    fn now(&self) -> Duration {
        self.inner.now()
    }
    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await
    }
    fn rng(&self, purpose: &str) -> ChaCha8Rng {
        self.inner.rng(purpose)
    }
    fn disk(&self) -> Rc<dyn Disk> {
        self.inner.disk()
    }
    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.inner.spawn(task)
    }
    fn gauge(&self, name: &'static str, value: i64) {
        self.gauges.borrow_mut().insert(name, value);
    }
    fn state(&self, key: &'static str, value: &str) {
        self.states.borrow_mut().insert(key, value.to_string());
    }
    fn served(&self, kind: RequestKind, latency: Duration, ok: bool) {
        self.inner.served(kind, latency, ok)
    }
    fn role(&self, change: RoleChange) {
        self.inner.role(change)
    }
    fn knob(&self, knob: Knob) -> u64 {
        self.inner.knob(knob)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("user:{i}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    format!("profile of user {i}").into_bytes()
}

async fn call(client: &Client<Observed, Msg>, msg: Msg) -> Msg {
    client.call(msg, LIMIT).await.expect("a reply in time")
}

/// Polls the replica until every key reads its value; at most 100 polls, 20 ms apart (~2 s).
async fn wait_for_replication(env: &Observed, replica: &Client<Observed, Msg>) -> bool {
    for _ in 0..100 {
        let last = call(replica, Msg::Get { key: key(KEYS), min_lsn: 0 }).await;
        if last == (Msg::Value { value: Some(value(KEYS)), lsn: KEYS }) {
            return true;
        }
        env.sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Polls until the primary's replica lag gauge reads 0; at most ~2 s.
async fn wait_for_zero_lag(primary: &Observed) -> bool {
    for _ in 0..100 {
        if primary.gauge_value("replica_lag_lsn") == Some(0) {
            return true;
        }
        primary.sleep(Duration::from_millis(20)).await;
    }
    false
}

struct Hosts {
    primary: Observed,
    replica: Observed,
    cache: Observed,
    app: Observed,
    app_addr: String,
    replica_addr: String,
}

/// Starts the four hosts on loopback.
async fn start() -> Hosts {
    let (primary, replica, cache, app) =
        (Observed::new("db-primary"), Observed::new("db-replica"), Observed::new("cache"), Observed::new("app"));
    let kv = KvConfig { fsync: FsyncPolicy::Always, ..KvConfig::default() };
    let (listener, primary_addr) = primary.listen().await;
    let store = KvNode::primary(primary.clone(), kv).expect("a fresh store opens");
    tokio::task::spawn_local(serve(primary.clone(), listener, Capacity::default(), store));
    let (listener, replica_addr) = replica.listen().await;
    let store = KvNode::replica(replica.clone(), kv, primary_addr.clone()).expect("a fresh store opens");
    tokio::task::spawn_local(serve(replica.clone(), listener, Capacity::default(), store));
    let (listener, cache_addr) = cache.listen().await;
    tokio::task::spawn_local(serve(
        cache.clone(),
        listener,
        Capacity::default(),
        L2Node::new(cache.clone(), EngineConfig::default()),
    ));
    let (listener, app_addr) = app.listen().await;
    let db = DbRoute::Fixed { write_addr: primary_addr, read_addr: replica_addr.clone() };
    let config = AppConfig {
        cache: Some(TierConfig {
            nodes: vec![("cache".into(), cache_addr)],
            scheme: Scheme::ring(),
            ttl: Some(Duration::from_secs(600)),
            l1: Some(L1Config {
                capacity: 10,
                ttl: Some(Duration::from_secs(1)),
                admission: Admission::TinyLfu,
                seed: 1,
            }),
            stampede: Stampede::SingleFlight,
            early_refresh: None,
            write: WritePolicy::Invalidate,
            timeout: LIMIT,
            eject: None,
        }),
        ..AppConfig::new(db, LIMIT)
    };
    tokio::task::spawn_local(serve(
        app.clone(),
        listener,
        Capacity::default(),
        App::new(app.clone(), &config).expect("a valid tier"),
    ));
    Hosts { primary, replica, cache, app, app_addr, replica_addr }
}

async fn scenario() {
    let hosts = start().await;
    let user = Observed::new("user");
    let app = Client::new(user.clone(), hosts.app_addr.clone(), LIMIT);
    for i in 1..=KEYS {
        assert_eq!(call(&app, Msg::Put { key: key(i), value: value(i) }).await, Msg::Written { lsn: i, epoch: 1 });
    }
    assert_eq!(hosts.primary.gauge_value("lsn"), Some(KEYS as i64));

    let replica = Client::new(user.clone(), hosts.replica_addr.clone(), LIMIT);
    assert!(wait_for_replication(&user, &replica).await, "the replica never caught up");
    assert_eq!(hosts.replica.gauge_value("lsn"), Some(KEYS as i64));
    assert!(wait_for_zero_lag(&hosts.primary).await, "the primary never saw the replica's acknowledgement");

    for i in 1..=KEYS {
        let first = call(&app, Msg::Get { key: key(i), min_lsn: 0 }).await;
        assert_eq!(
            first,
            Msg::Value { value: Some(value(i)), lsn: KEYS },
            "first read of key {i}: a miss, from the replica"
        );
    }
    for i in 1..=KEYS {
        let second = call(&app, Msg::Get { key: key(i), min_lsn: 0 }).await;
        assert_eq!(second, Msg::Value { value: Some(value(i)), lsn: 0 }, "second read of key {i}: a cache hit");
    }
    assert_eq!(hosts.app.gauge_value("cache_misses"), Some(KEYS as i64));
    assert_eq!(hosts.app.gauge_value("cache_hits"), Some(KEYS as i64));
    // The app's small L1 answered some second reads; the L2 node answered the rest.
    let l1_hits = hosts.app.gauge_value("l1_hits").expect("the app publishes its L1 hits");
    assert!((1..=10).contains(&l1_hits), "an L1 of 10 entries answered {l1_hits} reads");
    assert_eq!(hosts.cache.gauge_value("hits"), Some(KEYS as i64 - l1_hits));
    assert_eq!(hosts.cache.gauge_value("entries"), Some(KEYS as i64));

    let refused = call(&replica, Msg::Put { key: key(1), value: b"sneaky".to_vec() }).await;
    assert!(
        matches!(refused, Msg::Error { code: ErrorCode::NotPrimary, .. }),
        "the replica accepted a write: {refused:?}"
    );
    assert_eq!(hosts.primary.state_value("role").as_deref(), Some("primary"));
    assert_eq!(hosts.replica.state_value("role").as_deref(), Some("replica"));
}

#[test]
fn the_tiers_run_on_real_sockets() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, scenario());
}
