//! The app kind: an application server doing cache-aside reads and write-then-invalidate
//! writes over a store, fixed (`db`, `read_from`) or routed over a replicated group (`router`:
//! read/write splitting, lag bounds, read-your-writes tokens). Its settings, their checks and
//! its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, members, ns};
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::app::http::{HttpFront, serve_http};
use faultline_models::cache::aside;
use faultline_models::cache::l1::{Admission, L1Config};
use faultline_models::seam::Env;
use faultline_models::server::{Capacity, serve};
use faultline_models::shard::{Node, Scheme, Sharder, measure};
use faultline_models::{app, router};
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An application server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppService {
    /// Host name of the primary database (or of a pool in front of it): writes go there.
    /// Give `db` or `router`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub db: Option<Sp<String>>,
    /// Route to a replicated store by probing its nodes: writes to the primary, reads by
    /// policy. Give `db` or `router`.
    #[serde(default)]
    pub router: Option<RouterSpec>,
    /// Open a new connection for every call to the store, as an app without a connection
    /// pool does. Default false.
    #[serde(default)]
    pub connect_per_request: bool,
    /// Host name to read from on a cache miss. Default: `db`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_from: Option<Sp<String>>,
    /// Host name of the cache (one L2 node, read cache-aside, invalidated on write). Default:
    /// no cache. For several L2 nodes, an L1 or stampede protection, give `tier` instead.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cache: Option<Sp<String>>,
    /// The cache tier in full. Give `cache` or `tier`, not both.
    #[serde(default)]
    pub tier: Option<Box<TierSpec>>,
    /// Timeout of each call to a dependency. Default "100ms".
    #[serde(default = "default_dep_timeout")]
    pub timeout: Dur,
    /// What the app speaks to its clients: "framed" (Faultline's own protocol) or "http"
    /// (HTTP/1.1: `GET`/`PUT`/`DELETE /items/{key}`, `GET /health`). Default "framed".
    #[serde(default)]
    pub protocol: ProtocolSpec,
    /// With `protocol = "http"`: the longest a request's work may take once it has a worker;
    /// past it the answer is `504`. Default "1s".
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Dur,
}

fn default_request_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// What an app speaks to its clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolSpec {
    /// Faultline's framed protocol, the store's API.
    #[default]
    Framed,
    /// HTTP/1.1, keep-alive.
    Http,
}

fn default_dep_timeout() -> Dur {
    Dur(Duration::from_millis(100))
}

/// An app's cache tier: an optional in-process L1, then L2 cache nodes (keys spread over
/// them by `shard`), then the store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// The L2 cache hosts.
    #[schemars(with = "Vec<String>")]
    pub nodes: Vec<Sp<String>>,
    /// How keys are spread over `nodes`. Default "ring".
    #[serde(default)]
    pub shard: ShardSpec,
    /// Points per node on the ring (ketama uses 160). Default 160.
    #[serde(default = "default_vnodes")]
    pub vnodes: u32,
    /// Time to live of what the app stores in L2. Default: none (until evicted).
    #[serde(default)]
    pub ttl: Option<Dur>,
    /// An in-process L1 cache on each app host. Default: none.
    #[serde(default)]
    pub l1: Option<L1Spec>,
    /// How concurrent misses of one key are kept from all reaching the store. Default "none".
    #[serde(default)]
    pub stampede: StampedeSpec,
    /// With `stampede = "lock"`: how long the load lock lives, and the longest a miss waits
    /// for another's fill. Default "200ms".
    #[serde(default = "default_lock_lease")]
    pub lock_lease: Dur,
    /// With `stampede = "lock"`: how often a waiting miss looks again. Default "5ms".
    #[serde(default = "default_lock_retry")]
    pub lock_retry: Dur,
    /// XFetch's beta: refresh a cached value early, with a probability that grows as it nears
    /// expiry (1.0 is the paper's choice). Default: off.
    #[serde(default)]
    pub early_refresh: Option<f64>,
    /// What a write does to the caches once the store acknowledged it. Default "invalidate".
    #[serde(default)]
    pub on_write: OnWriteSpec,
    /// With `on_write = "lease"`: how long fills are refused after a write. Longer than a
    /// store read can take, and than replicas lag. Default "1s".
    #[serde(default = "default_write_lease")]
    pub write_lease: Dur,
}

fn default_write_lease() -> Dur {
    Dur(Duration::from_secs(1))
}

/// The most L2 nodes a tier may list: the shard mask knob (`Knob::ShardMask`) has a bit each.
pub const MAX_TIER_NODES: usize = 64;

fn default_vnodes() -> u32 {
    160
}
fn default_lock_lease() -> Dur {
    Dur(Duration::from_millis(200))
}
fn default_lock_retry() -> Dur {
    Dur(Duration::from_millis(5))
}

/// How keys are spread over L2 nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShardSpec {
    /// Consistent hashing with virtual nodes.
    #[default]
    Ring,
    /// Jump consistent hash.
    Jump,
    /// Highest random weight.
    Rendezvous,
    /// Maglev's lookup table (65,537 entries).
    Maglev,
    /// Hash modulo the node count (moves most keys when a node comes or goes).
    HashMod,
}

/// The in-process cache of an app host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct L1Spec {
    /// Entries held.
    pub capacity: usize,
    /// How long an entry lives. Default: until evicted.
    #[serde(default)]
    pub ttl: Option<Dur>,
    /// Which entries it keeps: "tinylfu" (W-TinyLFU) or "lru". Default "tinylfu".
    #[serde(default)]
    pub admission: AdmissionSpec,
}

/// An L1's admission policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionSpec {
    /// W-TinyLFU: a new entry displaces a resident one only if it is used more often.
    #[default]
    Tinylfu,
    /// Least recently used.
    Lru,
}

/// Stampede protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StampedeSpec {
    /// Every miss loads from the store.
    #[default]
    None,
    /// One load per key in flight on each app host.
    SingleFlight,
    /// A lock in L2 (SET NX PX): one load per key across app hosts, with single-flight on
    /// each host.
    Lock,
}

/// What a write does to the caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnWriteSpec {
    /// Delete the key from L2 (and the writing host's L1).
    #[default]
    Invalidate,
    /// Store the new value in L2.
    WriteThrough,
    /// Leave a marker in L2 for `write_lease` that refuses fills (`SET NX`): a miss that read
    /// an old value cannot put it back.
    Lease,
}

/// Read/write routing over a replicated store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// The kv nodes: a primary and its replicas.
    #[schemars(with = "Vec<String>")]
    pub members: Vec<Sp<String>>,
    /// Where reads go: "primary", "round_robin" or "least_lag" over the replicas. Default
    /// "round_robin".
    #[serde(default)]
    pub reads: ReadsSpec,
    /// Replicas lagging more than this are not read from. Default: no bound.
    #[serde(default)]
    pub max_lag: Option<Dur>,
    /// A read carrying a user's LSN token goes to a replica that has applied it, or to the
    /// primary. Default false.
    #[serde(default)]
    pub read_your_writes: bool,
    /// How often the router asks every node for its role and position. Default "200ms".
    #[serde(default = "default_probe_every")]
    pub probe_every: Dur,
}

fn default_probe_every() -> Dur {
    Dur(Duration::from_millis(200))
}

/// Where a router sends reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadsSpec {
    /// Always the primary.
    Primary,
    /// The eligible replicas in turn.
    #[default]
    RoundRobin,
    /// The eligible replica with the least lag.
    LeastLag,
}

/// An app in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppPlan {
    /// Where its store calls go.
    pub store: StorePlan,
    /// Its cache tier, if it has one.
    pub cache: Option<TierPlan>,
    /// Timeout of each call to a dependency, nanoseconds.
    pub timeout_ns: u64,
    /// A new connection for every call to the store.
    pub connect_per_request: bool,
    /// What it speaks to its clients.
    pub protocol: ProtocolSpec,
    /// With HTTP: the longest a request's work may take, nanoseconds.
    pub request_timeout_ns: u64,
}

/// An app's cache tier, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierPlan {
    /// The L2 nodes: (host name, "host:port").
    pub nodes: Vec<(String, String)>,
    /// How keys are spread over them.
    pub shard: ShardSpec,
    /// Points per node on a ring.
    pub vnodes: u32,
    /// Time to live in L2, nanoseconds.
    pub ttl_ns: Option<u64>,
    /// The L1: capacity, time to live in nanoseconds, admission.
    pub l1: Option<(usize, Option<u64>, AdmissionSpec)>,
    /// Stampede protection.
    pub stampede: StampedeSpec,
    /// Lock lease and retry, nanoseconds.
    pub lock_ns: (u64, u64),
    /// XFetch's beta.
    pub early_refresh: Option<f64>,
    /// What writes do.
    pub on_write: OnWriteSpec,
    /// How long fills are refused after a write (with `Lease`), nanoseconds.
    pub write_lease_ns: u64,
}

/// Where an app's store calls go, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorePlan {
    /// Writes to one address, reads (on a cache miss) to another (or the same).
    Fixed {
        /// "host:port" writes go to.
        write: String,
        /// "host:port" reads go to.
        read: String,
    },
    /// Routed over a replicated group.
    Routed {
        /// "host:port" of each member.
        members: Vec<String>,
        /// Where reads go.
        reads: ReadsSpec,
        /// Replicas lagging more than this are not read from, nanoseconds.
        max_lag_ns: Option<u64>,
        /// Reads carrying a token go where it has been applied.
        read_your_writes: bool,
        /// How often the router probes the members, nanoseconds.
        probe_every_ns: u64,
    },
}

impl Kind for AppService {
    type Plan = AppPlan;
    /// Load generators read and write through it.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    /// The store's API over the framed protocol, or the app's HTTP API.
    fn load(&self) -> Option<LoadApi> {
        Some(match self.protocol {
            ProtocolSpec::Framed => LoadApi::Store,
            ProtocolSpec::Http => LoadApi::Http,
        })
    }

    fn kind(&self) -> &'static str {
        "app"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::KvPrimary | Want::Kv | Want::Cache | Want::Store => false,
        }
    }

    /// Its tier's nodes, or its one `cache`.
    fn shards(&self) -> &[Sp<String>] {
        match (&self.tier, &self.cache) {
            (Some(tier), _) => &tier.nodes,
            (None, Some(cache)) => std::slice::from_ref(cache),
            (None, None) => &[],
        }
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        match (&self.db, &self.router) {
            (Some(db), None) => expect(c, db, Want::Store, "an app's `db`"),
            (None, Some(router)) => members(c, &router.members, host.name.span(), "a router"),
            (None, None) => {
                let message = format!(
                    "app {:?} has neither `db` nor `router`; expected db = \"<a kv primary or pool>\" or a `router`",
                    host.name.get_ref()
                );
                c.report(host.name.span(), "no store", message);
            }
            (Some(db), Some(_)) => {
                let message = "an app has both `db` and `router`; expected one of them".to_string();
                c.report(db.span(), "both db and router", message);
            }
        }
        if let Some(read_from) = &self.read_from {
            if self.router.is_some() {
                let message = "`read_from` has no effect with a `router`; expected the router's `reads`".into();
                c.report(read_from.span(), "with a router", message);
            }
            expect(c, read_from, Want::Kv, "an app's `read_from`");
        }
        if let Some(cache) = &self.cache {
            expect(c, cache, Want::Cache, "an app's `cache`");
        }
        if let Some(tier) = &self.tier {
            tier.validate(c, index, host, self.cache.is_some());
        }
        if self.request_timeout.0.is_zero() {
            let path = [
                Seg::Key("hosts"),
                Seg::Index(index),
                Seg::Key("service"),
                Seg::Key("app"),
                Seg::Key("request_timeout"),
            ];
            let span = c.span_at(&path, host.name.span());
            let message = "an app's `request_timeout` is 0; expected a duration above 0, e.g. \"1s\"".into();
            c.report(span, "zero", message);
        }
        if self.timeout.0.is_zero() {
            let path =
                [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("app"), Seg::Key("timeout")];
            let span = c.span_at(&path, host.name.span());
            let message = "an app's `timeout` is 0; expected a timeout longer than 0, e.g. \"100ms\"".into();
            c.report(span, "zero", message);
        }
    }

    /// The plan of a validated app (it has `db` or `router`).
    fn compile(&self, _name: &str, cx: &PlanContext) -> AppPlan {
        let store = match (&self.router, &self.db) {
            (Some(r), _) => StorePlan::Routed {
                members: cx.addrs(&r.members),
                reads: r.reads,
                max_lag_ns: r.max_lag.map(|d| ns(d.0)),
                read_your_writes: r.read_your_writes,
                probe_every_ns: ns(r.probe_every.0),
            },
            (None, db) => {
                let db = db.as_ref().expect("validated: an app has `db` or `router`");
                let read = self.read_from.as_ref().unwrap_or(db);
                StorePlan::Fixed { write: cx.addr(db), read: cx.addr(read) }
            }
        };
        let cache = match (&self.tier, &self.cache) {
            (Some(tier), _) => Some(tier.compile(cx)),
            (None, Some(node)) => Some(TierPlan {
                nodes: vec![(node.get_ref().clone(), cx.addr(node))],
                shard: ShardSpec::Ring,
                vnodes: default_vnodes(),
                ttl_ns: None,
                l1: None,
                stampede: StampedeSpec::None,
                lock_ns: (ns(default_lock_lease().0), ns(default_lock_retry().0)),
                early_refresh: None,
                on_write: OnWriteSpec::Invalidate,
                write_lease_ns: ns(default_write_lease().0),
            }),
            (None, None) => None,
        };
        AppPlan {
            store,
            cache,
            timeout_ns: ns(self.timeout.0),
            connect_per_request: self.connect_per_request,
            protocol: self.protocol,
            request_timeout_ns: ns(self.request_timeout.0),
        }
    }
}

impl AppPlan {
    fn config(&self, seed: u64) -> app::AppConfig {
        let db = match &self.store {
            StorePlan::Fixed { write, read } => {
                app::DbRoute::Fixed { write_addr: write.clone(), read_addr: read.clone() }
            }
            StorePlan::Routed { members, reads, max_lag_ns, read_your_writes, probe_every_ns } => {
                app::DbRoute::Routed(router::RouterConfig {
                    members: members.clone(),
                    reads: match reads {
                        ReadsSpec::Primary => router::ReadPolicy::Primary,
                        ReadsSpec::RoundRobin => router::ReadPolicy::RoundRobin,
                        ReadsSpec::LeastLag => router::ReadPolicy::LeastLag,
                    },
                    max_lag: max_lag_ns.map(Duration::from_nanos),
                    read_your_writes: *read_your_writes,
                    probe_every: Duration::from_nanos(*probe_every_ns),
                })
            }
        };
        let timeout = Duration::from_nanos(self.timeout_ns);
        app::AppConfig {
            db,
            cache: self.cache.as_ref().map(|tier| tier.config(timeout, seed)),
            timeout,
            connect_per_request: self.connect_per_request,
        }
    }

    /// Serves the app on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let seed = env.rng("l1-admission").next_u64();
        let app = app::App::new(env.clone(), &self.config(seed)).map_err(std::io::Error::other)?;
        match self.protocol {
            ProtocolSpec::Framed => serve(env, super::SERVICE_PORT, capacity, app).await,
            ProtocolSpec::Http => {
                let front = HttpFront {
                    request_timeout: Duration::from_nanos(self.request_timeout_ns),
                    ..HttpFront::default()
                };
                serve_http(env, super::SERVICE_PORT, capacity, app, front).await
            }
        }
    }
}

impl Start for AppPlan {
    fn shards(&self) -> Vec<&str> {
        self.cache.iter().flat_map(|tier| tier.nodes.iter().map(|(name, _)| name.as_str())).collect()
    }

    fn notes(&self, keys: u64) -> Vec<String> {
        self.cache.iter().filter_map(|tier| tier.spread_note(keys)).collect()
    }

    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}

impl TierSpec {
    fn validate(&self, c: &mut Checker, index: usize, host: &Host, with_cache: bool) {
        let path = |key: &'static str| {
            [
                Seg::Key("hosts"),
                Seg::Index(index),
                Seg::Key("service"),
                Seg::Key("app"),
                Seg::Key("tier"),
                Seg::Key(key),
            ]
        };
        if with_cache {
            let span = c.span_at(&path("nodes")[..5], host.name.span());
            let message = "an app has both `cache` and `tier`; expected one of them (a tier lists its nodes)".into();
            c.report(span, "both cache and tier", message);
        }
        if self.nodes.is_empty() {
            let span = c.span_at(&path("nodes"), host.name.span());
            c.report(span, "no nodes", "a cache tier has no `nodes`; expected at least one cache host".into());
        }
        if self.nodes.len() > MAX_TIER_NODES {
            let span = c.span_at(&path("nodes"), host.name.span());
            let message = format!(
                "a cache tier has {} `nodes`; expected at most {MAX_TIER_NODES} (a shard leaving or joining is one bit of a 64-bit mask)",
                self.nodes.len()
            );
            c.report(span, "too many nodes", message);
        }
        let mut seen = std::collections::BTreeSet::new();
        for node in &self.nodes {
            expect(c, node, Want::Cache, "a cache tier's node");
            if !seen.insert(node.get_ref().as_str()) {
                let message = format!("{:?} is listed twice; expected each cache node once", node.get_ref());
                c.report(node.span(), "listed twice", message);
            }
        }
        if self.shard == ShardSpec::Ring && !(1..=100_000).contains(&self.vnodes) {
            let span = c.span_at(&path("vnodes"), host.name.span());
            let message =
                format!("`vnodes` is {}; expected 1 to 100000 points per node (ketama uses 160)", self.vnodes);
            c.report(span, "out of range", message);
        }
        if let Some(l1) = &self.l1
            && l1.capacity == 0
        {
            let span = c.span_at(&path("l1"), host.name.span());
            c.report(span, "zero", "an L1's `capacity` is 0; expected at least 1 entry".into());
        }
        if let Some(beta) = self.early_refresh
            && !(beta.is_finite() && beta > 0.0)
        {
            let span = c.span_at(&path("early_refresh"), host.name.span());
            let message = format!("`early_refresh` is {beta}; expected XFetch's beta, a number above 0 (1.0 is usual)");
            c.report(span, "not above 0", message);
        }
        for (key, value) in
            [("lock_lease", self.lock_lease), ("lock_retry", self.lock_retry), ("write_lease", self.write_lease)]
        {
            if value.0.is_zero() {
                let span = c.span_at(&path(key), host.name.span());
                c.report(span, "zero", format!("`{key}` is 0; expected a duration above 0"));
            }
        }
    }

    fn compile(&self, cx: &PlanContext) -> TierPlan {
        TierPlan {
            nodes: self.nodes.iter().map(|n| (n.get_ref().clone(), cx.addr(n))).collect(),
            shard: self.shard,
            vnodes: self.vnodes,
            ttl_ns: self.ttl.map(|d| ns(d.0)),
            l1: self.l1.as_ref().map(|l1| (l1.capacity, l1.ttl.map(|d| ns(d.0)), l1.admission)),
            stampede: self.stampede,
            lock_ns: (ns(self.lock_lease.0), ns(self.lock_retry.0)),
            early_refresh: self.early_refresh,
            on_write: self.on_write,
            write_lease_ns: ns(self.write_lease.0),
        }
    }
}

/// The most workload keys the plan's shard note measures (it walks each once per sharder).
const NOTE_KEYS_MAX: u64 = 100_000;

impl TierPlan {
    fn scheme(&self) -> Scheme {
        match self.shard {
            ShardSpec::Ring => Scheme::Ring { vnodes: self.vnodes },
            ShardSpec::Jump => Scheme::Jump,
            ShardSpec::Rendezvous => Scheme::Rendezvous,
            ShardSpec::Maglev => Scheme::maglev(),
            ShardSpec::HashMod => Scheme::HashMod,
        }
    }

    /// How the tier spreads the workload's keys (`k0` ..) over its nodes, and what share of
    /// them a node leaving (the last) or one joining would move: the keys that go cold.
    fn spread_note(&self, keys: u64) -> Option<String> {
        let names: Vec<Node> = self.nodes.iter().map(|(name, _)| Node::from(name.as_str())).collect();
        let sharder = Sharder::new(self.scheme(), names.clone()).ok()?;
        let keys: Vec<Vec<u8>> = (0..keys.min(NOTE_KEYS_MAX)).map(|k| format!("k{k}").into_bytes()).collect();
        let spread = measure::spread(&sharder, keys.iter().map(Vec::as_slice));
        let mut note = format!(
            "tier: {} over {} L2 node(s); {} workload keys, busiest node max/mean {:.2} (cv {:.2})",
            sharder.scheme_name(),
            names.len(),
            keys.len(),
            spread.max_over_mean,
            spread.cv
        );
        let mut joined = sharder.clone();
        if joined.add(Node::from("(a new node)")).is_ok() {
            let moved = measure::moved_fraction(&sharder, &joined, keys.iter().map(Vec::as_slice));
            note += &format!("; a node joining moves {:.1}% of them", moved * 100.0);
        }
        let mut left = sharder.clone();
        if names.len() > 1 && left.remove(&names[names.len() - 1]).is_ok() {
            let moved = measure::moved_fraction(&sharder, &left, keys.iter().map(Vec::as_slice));
            note += &format!(", {} leaving {:.1}%", names[names.len() - 1], moved * 100.0);
        }
        Some(note)
    }

    /// The model's configuration; `seed` seeds the L1's admission.
    fn config(&self, timeout: Duration, seed: u64) -> aside::TierConfig {
        let scheme = self.scheme();
        let (lease, retry) = (Duration::from_nanos(self.lock_ns.0), Duration::from_nanos(self.lock_ns.1));
        aside::TierConfig {
            nodes: self.nodes.clone(),
            scheme,
            ttl: self.ttl_ns.map(Duration::from_nanos),
            l1: self.l1.map(|(capacity, ttl_ns, admission)| L1Config {
                capacity,
                ttl: ttl_ns.map(Duration::from_nanos),
                admission: match admission {
                    AdmissionSpec::Tinylfu => Admission::TinyLfu,
                    AdmissionSpec::Lru => Admission::Lru,
                },
                seed,
            }),
            stampede: match self.stampede {
                StampedeSpec::None => aside::Stampede::None,
                StampedeSpec::SingleFlight => aside::Stampede::SingleFlight,
                StampedeSpec::Lock => aside::Stampede::Lock { lease, retry, single_flight: true },
            },
            early_refresh: self.early_refresh,
            write: match self.on_write {
                OnWriteSpec::Invalidate => aside::WritePolicy::Invalidate,
                OnWriteSpec::WriteThrough => aside::WritePolicy::WriteThrough,
                OnWriteSpec::Lease => {
                    aside::WritePolicy::InvalidateWithLease { lease: Duration::from_nanos(self.write_lease_ns) }
                }
            },
            timeout,
        }
    }
}
