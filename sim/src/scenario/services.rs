//! The scenario file's service kinds and their settings: what each host runs (echo, a kv
//! node and its replication, a cache, an app and its routing, a failover controller, a
//! connection pool). Part of the format, like `types.rs` (which owns the rest of the file and
//! the shared value types); documented in `docs/scenario.md`.

use super::types::{Dur, Sp, zero};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// The services a host can run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Service {
    /// Replies to echo requests (the benchmark's server): `"echo"`.
    Echo,
    /// A replicated key-value store node: `{ kv = { role = "primary" } }`.
    Kv(KvService),
    /// An in-memory cache node with LRU eviction: `{ cache = { capacity = 10000 } }`.
    Cache(CacheService),
    /// An application server doing cache-aside reads and write-through-invalidate writes:
    /// `{ app = { db = "db", cache = "cache" } }`.
    App(AppService),
    /// A failover controller for a group of kv nodes:
    /// `{ failover = { members = ["db1", "db2", "db3"] } }`.
    Failover(FailoverService),
    /// A connection pooler in front of a store, like PgBouncer:
    /// `{ pool = { backend = "db", max_server_conns = 20 } }`.
    Pool(PoolService),
}

impl Service {
    /// The kind's name as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Kv(k) => match k.role {
                KvRole::Primary => "kv-primary",
                KvRole::Replica => "kv-replica",
            },
            Service::Cache(_) => "cache",
            Service::App(_) => "app",
            Service::Failover(_) => "failover",
            Service::Pool(_) => "pool",
        }
    }
}

/// A key-value store node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvService {
    /// "primary" or "replica".
    pub role: KvRole,
    /// For a replica: the host name of its primary.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub primary: Option<Sp<String>>,
    /// When the write-ahead log is fsynced. Default "always".
    #[serde(default)]
    pub fsync: Fsync,
    /// For a primary: what a write waits for before it is acknowledged. Default "async".
    #[serde(default)]
    pub replication: ReplicationSpec,
    /// For a replica: time to apply one log entry. Apply is single-threaded, so lag grows
    /// without bound once writes arrive faster than 1 / apply_cost. Default "0ms".
    #[serde(default = "zero")]
    pub apply_cost: Dur,
}

/// What a primary's write waits for before it is acknowledged.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplicationSpec {
    /// Nothing: acknowledged once in the primary's log; a failover can lose it.
    #[default]
    Async,
    /// One replica's acknowledgement, or `timeout`, whichever comes first (then it degrades
    /// to async for that write): `{ semi_sync = { timeout = "1s" } }`.
    SemiSync {
        /// How long a write waits for a replica.
        timeout: Dur,
    },
    /// `replicas` replicas' acknowledgements, however long it takes: `{ sync = { replicas = 1 } }`.
    Sync {
        /// How many replicas must have the write. Default 1.
        #[serde(default = "one")]
        #[schemars(with = "usize")]
        replicas: Sp<usize>,
    },
}

fn one() -> Sp<usize> {
    Spanned::new(0..0, 1)
}

/// A failover controller: health-checks the primary, grants it a write lease, promotes the
/// most caught-up replica when the primary has failed for `fail_after`, and makes the others
/// (and a returning old primary) follow the new one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverService {
    /// The kv nodes it manages: a primary and its replicas.
    #[schemars(with = "Vec<String>")]
    pub members: Vec<Sp<String>>,
    /// Interval between health checks. Default "500ms".
    #[serde(default = "default_check_every")]
    pub check_every: Dur,
    /// The primary is declared failed after failing its checks for this long. Must be at least
    /// `lease` + `check_every`, so a deposed primary's lease has run out before another is
    /// promoted. Default "3s".
    #[serde(default = "default_fail_after")]
    pub fail_after: Dur,
    /// Write lease granted to the primary by each successful check. Default "2s".
    #[serde(default = "default_lease")]
    pub lease: Dur,
    /// Timeout of each check. Default "250ms".
    #[serde(default = "default_check_timeout")]
    pub timeout: Dur,
}

fn default_check_every() -> Dur {
    Dur(Duration::from_millis(500))
}
fn default_fail_after() -> Dur {
    Dur(Duration::from_secs(3))
}
fn default_lease() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_check_timeout() -> Dur {
    Dur(Duration::from_millis(250))
}

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolModeSpec {
    /// For the length of one request.
    #[default]
    Transaction,
    /// For the life of a client connection.
    Session,
}

/// The role of a key-value node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KvRole {
    /// Accepts writes, ships its log.
    Primary,
    /// Applies the primary's log, serves reads.
    Replica,
}

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Before acknowledging each write.
    #[default]
    Always,
    /// Never explicitly: a crash loses everything since the last checkpoint.
    Never,
}

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
    /// Host name of the cache. Default: no cache.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cache: Option<Sp<String>>,
    /// Timeout of each call to a dependency. Default "100ms".
    #[serde(default = "default_dep_timeout")]
    pub timeout: Dur,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
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

fn default_dep_timeout() -> Dur {
    Dur(Duration::from_millis(100))
}
