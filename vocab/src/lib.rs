//! The names both sides of the seam must agree on: a leaf crate that `models` (which publishes
//! them) and `chaos` (which reads them back from a trace) both import, since neither may import
//! the other.
//!
//! - [`Knob`]: the settings chaos turns while a model runs (their names, units and text).
//! - [`gauge`]: the names of the gauges models publish through `Env::gauge`.
//! - [`state`]: the keys of the state changes models report through `Env::state`, and the
//!   values a reader matches on ([`role`], [`failover`]).
//! - [`error_code`]: the wire protocol's error codes, which a trace's `Outcome::Error` carries.
//!
//! Owns: names and their text. Must not: depend on any crate but serde, or know what a model
//! does with a knob. The serialized names are part of the trace format: a trace hash depends on
//! them, so they never change (the tests here pin them).

use serde::{Deserialize, Serialize};

/// A host setting that chaos can turn while the run goes on; a model reads it where it applies.
///
/// The variants' order is part of the trace format (the binary codec writes the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Knob {
    /// A replica applies each shipped log entry this long after it received it (nanoseconds).
    ApplyDelay,
    /// Every write-ahead log append takes this much longer (nanoseconds): a slow disk.
    DiskDelay,
    /// Every request's service time is multiplied by (100 + value) / 100: slow queries.
    Slowdown,
    /// A cache node's flush generation: each time it changes, the node drops every key
    /// (FLUSHALL). A count, not a setting: chaos bumps it, never puts it back.
    CacheFlush,
    /// A cache node's memory limit in bytes, in force from its next write; 0: the limit it was
    /// configured with (memory pressure).
    MaxMemory,
    /// The L2 nodes an app's cache tier keeps out of its routing: bit i set = node i of the
    /// tier's configured list is out (a shard left); 0: every node in.
    ShardMask,
    /// Percent of an HTTP app's requests answered `500` without being served, while its health
    /// check still passes: a gray failure.
    FailRequests,
    /// A CDN edge's purge generation: each time it changes, the edge drops every stored
    /// response. A count, not a setting: chaos bumps it, never puts it back.
    CdnPurge,
    /// The backends a load balancer keeps out of its endpoint set: bit i set = backend i of its
    /// configured list is out (an autoscaled instance not ready yet, draining, or stopped); 0:
    /// every backend in.
    LbOut,
    /// Nonzero: an HTTP app's `GET /health` answers `503` (a version whose health check fails;
    /// set by a deploy when it starts an instance on such a version). 0: health as the store
    /// makes it.
    FailHealth,
    /// A DNS server's answer TTL in milliseconds (a TTL set too long); 0: the TTL it was
    /// configured with.
    DnsTtl,
}

impl Knob {
    /// Every knob, in a fixed order (an index into per-host knob tables).
    pub const ALL: [Knob; 11] = [
        Knob::ApplyDelay,
        Knob::DiskDelay,
        Knob::Slowdown,
        Knob::CacheFlush,
        Knob::MaxMemory,
        Knob::ShardMask,
        Knob::FailRequests,
        Knob::CdnPurge,
        Knob::LbOut,
        Knob::FailHealth,
        Knob::DnsTtl,
    ];

    /// The knob's position in [`Knob::ALL`].
    pub fn index(self) -> usize {
        match self {
            Knob::ApplyDelay => 0,
            Knob::DiskDelay => 1,
            Knob::Slowdown => 2,
            Knob::CacheFlush => 3,
            Knob::MaxMemory => 4,
            Knob::ShardMask => 5,
            Knob::FailRequests => 6,
            Knob::CdnPurge => 7,
            Knob::LbOut => 8,
            Knob::FailHealth => 9,
            Knob::DnsTtl => 10,
        }
    }

    /// The knob's name in scenario files and traces.
    pub fn name(self) -> &'static str {
        match self {
            Knob::ApplyDelay => "replication_delay",
            Knob::DiskDelay => "disk_delay",
            Knob::Slowdown => "slowdown",
            Knob::CacheFlush => "cache_flush",
            Knob::MaxMemory => "maxmemory",
            Knob::ShardMask => "shard_mask",
            Knob::FailRequests => "fail_requests",
            Knob::CdnPurge => "cdn_purge",
            Knob::LbOut => "lb_out",
            Knob::FailHealth => "fail_health",
            Knob::DnsTtl => "dns_ttl",
        }
    }

    /// `value` in the knob's unit, for people.
    pub fn show(self, value: u64) -> String {
        match self {
            Knob::ApplyDelay | Knob::DiskDelay => format!("{:.3}ms", value as f64 / 1e6),
            Knob::Slowdown => format!("+{value}%"),
            Knob::FailRequests => format!("{value}% of requests fail"),
            Knob::CacheFlush => format!("flush #{value}"),
            Knob::CdnPurge => format!("purge #{value}"),
            Knob::MaxMemory if value == 0 => "the configured limit".to_string(),
            Knob::MaxMemory => human_bytes(value),
            Knob::ShardMask if value == 0 => "every node in".to_string(),
            Knob::ShardMask => format!("nodes {} out", bits(value)),
            Knob::LbOut if value == 0 => "every backend in".to_string(),
            Knob::LbOut => format!("backends {} out", bits(value)),
            Knob::FailHealth if value == 0 => "health as the store makes it".to_string(),
            Knob::FailHealth => "health checks fail".to_string(),
            Knob::DnsTtl if value == 0 => "the configured TTL".to_string(),
            Knob::DnsTtl if value.is_multiple_of(1000) => format!("TTL {}s", value / 1000),
            Knob::DnsTtl => format!("TTL {value}ms"),
        }
    }
}

/// The set bits of a mask, "#1,#3".
fn bits(value: u64) -> String {
    let set: Vec<String> = (0..64).filter(|i| value >> i & 1 == 1).map(|i| format!("#{i}")).collect();
    set.join(",")
}

/// Bytes as Redis's `used_memory_human` writes them: "512B", "1.50K", "2.00M", "1.00G".
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    match UNITS.iter().find(|(size, _)| bytes >= *size) {
        Some((size, unit)) => format!("{:.2}{unit}", bytes as f64 / *size as f64),
        None => format!("{bytes}B"),
    }
}

/// Gauge names (`Env::gauge`), as the trace's `Sample` events carry them.
pub mod gauge {
    /// Requests a server is working on now (`server`).
    pub const INFLIGHT: &str = "inflight";
    /// Requests waiting for a worker slot (`server`).
    pub const QUEUE: &str = "queue";
    /// Open client connections, when the server limits them (`server`).
    pub const CONNECTIONS: &str = "connections";
    /// Entries held by a cache node (`cache`).
    pub const ENTRIES: &str = "entries";
    /// Reads a cache node answered from memory, since start (`cache`).
    pub const HITS: &str = "hits";
    /// Reads a cache node did not have, since start (`cache`).
    pub const MISSES: &str = "misses";
    /// Bytes a cache node counts as used, as its INFO reports them (`cache`).
    pub const USED_MEMORY: &str = "used_memory";
    /// Keys a cache node evicted under its memory limit, since start (`cache`).
    pub const EVICTED: &str = "evicted";
    /// Keys a cache node dropped because their time to live passed, since start (`cache`).
    pub const EXPIRED: &str = "expired";
    /// Reads an app served from its cache, since start (`app`).
    pub const CACHE_HITS: &str = "cache_hits";
    /// Reads an app had to take to the store, since start (`app`).
    pub const CACHE_MISSES: &str = "cache_misses";
    /// Reads an app served from its in-process L1 cache, since start (`app`).
    pub const L1_HITS: &str = "l1_hits";
    /// Loads an app ran against its store for a cache miss, since start (`app`).
    pub const DB_LOADS: &str = "db_loads";
    /// Cached values an app refreshed before they expired (XFetch), since start (`app`).
    pub const EARLY_REFRESHES: &str = "early_refreshes";
    /// Misses that found another's load lock and waited for its fill, since start (`app`).
    pub const LOCK_WAITS: &str = "lock_waits";
    /// Calls to an L2 cache node that failed, since start (`app`).
    pub const CACHE_ERRORS: &str = "cache_errors";
    /// The most loads of one key an app had running at once (`app`).
    pub const KEY_LOADS_PEAK: &str = "key_loads_peak";
    /// The most reads of one stored key a kv node held at once, queued or in service: the
    /// stampede as the database sees it (`kv`, behind a cache tier only).
    pub const KEY_READS_PEAK: &str = "key_reads_peak";
    /// Times an app's cache tier ejected an L2 node after consecutive failures, since start
    /// (`app`).
    pub const L2_EJECTIONS: &str = "l2_ejections";
    /// Cache invalidations after a write that failed (`app`).
    pub const CACHE_INVALIDATION_FAILURES: &str = "cache_invalidation_failures";
    /// Reads an app took to the primary because its replica failed (`app`).
    pub const READ_FALLBACKS: &str = "read_fallbacks";
    /// Reads a router sent to the primary (`router`).
    pub const READS_PRIMARY: &str = "reads_primary";
    /// Reads a router sent to a replica (`router`).
    pub const READS_REPLICA: &str = "reads_replica";
    /// Replicas a router keeps out of rotation for lag (`router`).
    pub const REPLICAS_EXCLUDED: &str = "replicas_excluded";
    /// Server connections a pool holds open (`pool`).
    pub const SERVER_CONNS: &str = "server_conns";
    /// Server connections lent to a client now (`pool`).
    pub const SERVER_CONNS_BUSY: &str = "server_conns_busy";
    /// Clients waiting for a server connection (`pool`).
    pub const CLIENTS_WAITING: &str = "clients_waiting";
    /// Clients that gave up waiting for a connection, since start (`pool`).
    pub const POOL_TIMEOUTS: &str = "pool_timeouts";
    /// The epoch a kv node or failover controller knows (`kv`, `failover`).
    pub const EPOCH: &str = "epoch";
    /// The last LSN in a kv node's log (`kv`).
    pub const LSN: &str = "lsn";
    /// How far behind the primary a replica applies, milliseconds (`kv` replica).
    pub const LAG_MS: &str = "lag_ms";
    /// How many entries the slowest replica lacks (`kv` primary).
    pub const REPLICA_LAG_LSN: &str = "replica_lag_lsn";
    /// Bytes of a torn log tail dropped at recovery (`kv`).
    pub const WAL_DROPPED_BYTES: &str = "wal_dropped_bytes";
    /// Writes a semi-sync primary acknowledged without a replica, since start (`kv` primary).
    pub const SEMISYNC_FALLBACKS: &str = "semisync_fallbacks";
    /// Calls a circuit breaker rejected without making them, since start (`breaker`).
    pub const BREAKER_REJECTED: &str = "breaker_rejected";
    /// Requests a rate limiter admitted, since start (`ratelimit`).
    pub const RATE_ADMITTED: &str = "rate_admitted";
    /// Requests a rate limiter refused, since start (`ratelimit`).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Checks a shared rate limiter decided without its cache node (down or slow), failing
    /// open or closed, since start (`ratelimit`).
    pub const LIMITER_FALLBACKS: &str = "limiter_fallbacks";
    /// Backends a load balancer has ejected by outlier detection now (`lb`).
    pub const LB_EJECTED: &str = "lb_ejected";
    /// Backends a load balancer's active health checks hold unhealthy now (`lb`).
    pub const LB_UNHEALTHY: &str = "lb_unhealthy";
    /// Retries a load balancer has sent, since start (`lb`).
    pub const LB_RETRIES: &str = "lb_retries";
    /// Requests a load balancer answered `503` for want of an eligible backend, since start (`lb`).
    pub const LB_NO_BACKEND: &str = "lb_no_backend";

    /// Distinct charges a payment API made, since start (`payment`).
    pub const CHARGES: &str = "charges";
    /// Charge calls a payment API answered from an earlier charge of the same idempotency key,
    /// since start (`payment`).
    pub const CHARGE_REPEATS: &str = "charge_repeats";
    /// Checkouts an app completed (payment made, order stored), since start (`app`).
    pub const CHECKOUTS: &str = "checkouts";
    /// Sessions a load generator's users logged in to, since start (load generators).
    pub const SESSIONS_CREATED: &str = "sessions_created";
    /// Sessions a load generator's users found lost (a request carrying the session's cookie
    /// answered `401`), since start (load generators).
    pub const SESSIONS_LOST: &str = "sessions_lost";

    /// Pages an app composed and served, whole or degraded, since start (`app`).
    pub const PAGES: &str = "pages";
    /// Pages an app served without an optional part that failed, since start (`app`).
    pub const PAGES_DEGRADED: &str = "pages_degraded";

    /// Requests a CDN edge answered from a fresh stored response, since start (`cdn`).
    pub const CDN_HITS: &str = "cdn_hits";
    /// Requests a CDN edge could not answer from its store and took to the origin (alone or
    /// collapsed onto another request's fetch), since start (`cdn`).
    pub const CDN_MISSES: &str = "cdn_misses";
    /// Requests a CDN edge answered with a stale stored response (while revalidating, or
    /// because the origin failed), since start (`cdn`).
    pub const CDN_STALE: &str = "cdn_stale";
    /// Requests a CDN edge sent its origin (fetches, background refreshes, pass-through),
    /// since start (`cdn`).
    pub const ORIGIN_REQUESTS: &str = "origin_requests";
    /// Instances of an autoscaled pool that are ready (in the balancers' endpoint sets),
    /// published by the autoscaler on the pool's first balancer, only when a pool exists.
    pub const POOL_READY: &str = "pool_ready";
    /// Instances of an autoscaled pool started but not ready yet (autoscaler, as above).
    pub const POOL_STARTING: &str = "pool_starting";
    /// The pool's metric at the last period (mean over ready instances), times 1000: busy
    /// worker slots per slot, requests per second, or waiting requests (autoscaler, as above).
    pub const POOL_METRIC_MILLI: &str = "pool_metric_milli";
    /// An HTTP app's last `GET /health` answer: 1 passed, 0 failed or none since it started
    /// (`app`). The readiness probe of a deploy reads it; the trace carries it only when the
    /// run has a deploy.
    pub const HEALTH: &str = "health";
    /// Instances of a deployed pool on the new version and ready (the deploy controller, on
    /// the pool's first balancer, only when a deploy exists).
    pub const DEPLOY_NEW_READY: &str = "deploy_new_ready";
    /// Instances of a deployed pool on the old (stable) version and ready (as above).
    pub const DEPLOY_OLD_READY: &str = "deploy_old_ready";

    /// Messages a queue broker holds waiting to be received, visible or delayed (`queue`).
    pub const QUEUE_DEPTH: &str = "queue_depth";
    /// Messages a queue broker has leased to consumers, their visibility not run out (`queue`).
    pub const QUEUE_INFLIGHT: &str = "queue_inflight";
    /// Age in milliseconds of the oldest message a queue broker holds (`queue`).
    pub const QUEUE_OLDEST_AGE_MS: &str = "queue_oldest_age_ms";
    /// Messages in a queue broker's dead-letter queues (`queue`).
    pub const QUEUE_DLQ: &str = "queue_dlq";
    /// Messages a queue broker accepted, as its log holds them: a crash that lost unsynced
    /// messages takes them off (`queue`).
    pub const QUEUE_ACCEPTED: &str = "queue_accepted";
    /// Messages a queue broker deleted on an acknowledgement, as its log holds them (`queue`).
    pub const QUEUE_DELETED: &str = "queue_deleted";
    /// Receives of a message received before, since start (`queue`).
    pub const QUEUE_REDELIVERIES: &str = "queue_redeliveries";
    /// Sends a queue broker refused because the queue was full, since start (`queue`).
    pub const QUEUE_FULL: &str = "queue_full";
    /// Distinct messages a worker processed, as its processed-ids store holds them (`worker`).
    pub const WORKER_PROCESSED: &str = "worker_processed";
    /// Processings of a message a worker had processed before: duplicate effects (`worker`).
    pub const WORKER_DUPLICATES: &str = "worker_duplicates";
    /// Deliveries of a message already processed that a worker's idempotency key absorbed
    /// (acknowledged without processing again), since start (`worker`).
    pub const WORKER_ABSORBED: &str = "worker_absorbed";
    /// Messages a worker failed to process and gave back, since start (`worker`).
    pub const WORKER_FAILED: &str = "worker_failed";

    /// Writes an active-active store node discarded on arrival since start, because the key
    /// held a write with a higher last-writer-wins version (`geo`).
    pub const LWW_DISCARDED: &str = "lww_discarded";
    /// Batches an active-active store node refused since start because their sender's clock
    /// was too far ahead of its own (`geo`).
    pub const GEO_REFUSED: &str = "geo_refused";
    /// How far behind an active-active store node is: its clock minus the oldest point up to
    /// which it holds every peer's writes, milliseconds (`geo`).
    pub const GEO_BEHIND_MS: &str = "geo_behind_ms";
    /// The sum of every counter's value at an active-active store node (`geo`).
    pub const GEO_COUNTERS: &str = "geo_counters";

    /// Every gauge a model (or the autoscaler) publishes.
    pub const ALL: [&str; 75] = [
        INFLIGHT,
        QUEUE,
        CONNECTIONS,
        ENTRIES,
        HITS,
        MISSES,
        USED_MEMORY,
        EVICTED,
        EXPIRED,
        CACHE_HITS,
        CACHE_MISSES,
        L1_HITS,
        DB_LOADS,
        EARLY_REFRESHES,
        LOCK_WAITS,
        CACHE_ERRORS,
        KEY_LOADS_PEAK,
        KEY_READS_PEAK,
        CACHE_INVALIDATION_FAILURES,
        READ_FALLBACKS,
        READS_PRIMARY,
        READS_REPLICA,
        REPLICAS_EXCLUDED,
        SERVER_CONNS,
        SERVER_CONNS_BUSY,
        CLIENTS_WAITING,
        POOL_TIMEOUTS,
        EPOCH,
        LSN,
        LAG_MS,
        REPLICA_LAG_LSN,
        WAL_DROPPED_BYTES,
        SEMISYNC_FALLBACKS,
        BREAKER_REJECTED,
        RATE_ADMITTED,
        RATE_LIMITED,
        LIMITER_FALLBACKS,
        CHARGES,
        CHARGE_REPEATS,
        CHECKOUTS,
        PAGES,
        PAGES_DEGRADED,
        LB_EJECTED,
        LB_UNHEALTHY,
        LB_RETRIES,
        LB_NO_BACKEND,
        L2_EJECTIONS,
        SESSIONS_CREATED,
        SESSIONS_LOST,
        CDN_HITS,
        CDN_MISSES,
        CDN_STALE,
        ORIGIN_REQUESTS,
        POOL_READY,
        POOL_STARTING,
        POOL_METRIC_MILLI,
        HEALTH,
        DEPLOY_NEW_READY,
        DEPLOY_OLD_READY,
        QUEUE_DEPTH,
        QUEUE_INFLIGHT,
        QUEUE_OLDEST_AGE_MS,
        QUEUE_DLQ,
        QUEUE_ACCEPTED,
        QUEUE_DELETED,
        QUEUE_REDELIVERIES,
        QUEUE_FULL,
        WORKER_PROCESSED,
        WORKER_DUPLICATES,
        WORKER_ABSORBED,
        WORKER_FAILED,
        LWW_DISCARDED,
        GEO_REFUSED,
        GEO_BEHIND_MS,
        GEO_COUNTERS,
    ];
}

/// State keys (`Env::state`), as the trace's `State` events carry them.
pub mod state {
    /// A kv node's role (a value of [`super::role`]).
    pub const ROLE: &str = "role";
    /// A failover controller's action (its text starts with a word of [`super::failover`]).
    pub const FAILOVER: &str = "failover";
    /// A replica dropped a divergent log tail when it rejoined.
    pub const TRUNCATED: &str = "truncated";
    /// A circuit breaker changed state: "<breaker name>:<closed|open|half_open>".
    pub const BREAKER: &str = "breaker";
    /// A load balancer's view of a backend changed, "<backend>:<unhealthy|healthy|returned>" or
    /// "<backend>:ejected <duration>", or it entered or left panic mode, "panic:<on|off>".
    pub const LB: &str = "lb";
    /// An app's cache tier took an L2 node out of its routing after consecutive failures,
    /// "<node>:ejected", or put it back on trial when its retry time was over,
    /// "<node>:returned".
    pub const TIER: &str = "tier";
    /// An autoscaled instance changed phase (on the instance's host): "starting", "ready",
    /// "draining" or "stopped" (the autoscaler's, only when a pool exists).
    pub const INSTANCE: &str = "instance";
    /// The autoscaler of a pool (on the pool's first balancer): its target once at the start,
    /// "target:<metric> <value>", then each change it decides, "scale:<from>-><to>".
    pub const AUTOSCALE: &str = "autoscale";
    /// A deploy's progress (on the pool's first balancer, only when a deploy exists): "start
    /// <version> <strategy>", "step <i>/<n> weight <w>%", "switch", then one end: "complete",
    /// "halted: <why>", "aborted: <why>", "rolled back".
    pub const DEPLOY: &str = "deploy";

    /// An active-active store node discarded a write on arrival (last writer wins):
    /// "<key> <loser> <winner>", the key in hex, each write named by the first 8 bytes of its
    /// value in hex ("-" for a delete).
    pub const LWW_DISCARD: &str = "lww_discard";
    /// An active-active store node holds every region's writes stamped within a window of its
    /// hybrid logical clock: "<window index> <digest of the window's writes, 16 hex digits>".
    /// Nodes that applied the same writes report the same digest.
    pub const GEO_WINDOW: &str = "geo_window";
    /// A DNS server's view changed: an endpoint's health, "<endpoint>:unhealthy" or
    /// "<endpoint>:healthy", or what a record answers, "answer <name> <endpoint>" (a nearest
    /// record: "answer <name>@<region> <endpoint>", one per region).
    pub const DNS: &str = "dns";

    /// Every state key a model (or the autoscaler) reports.
    pub const ALL: [&str; 12] =
        [ROLE, FAILOVER, TRUNCATED, BREAKER, LB, TIER, INSTANCE, AUTOSCALE, DEPLOY, LWW_DISCARD, GEO_WINDOW, DNS];
}

/// The roles of a node in a replicated group (the values of [`state::ROLE`] and of `Role` events).
pub mod role {
    /// Accepts writes in its epoch.
    pub const PRIMARY: &str = "primary";
    /// Follows a primary's log.
    pub const REPLICA: &str = "replica";
    /// Neither: it waits to be told whom to follow.
    pub const FENCED: &str = "fenced";

    /// Every role.
    pub const ALL: [&str; 3] = [PRIMARY, REPLICA, FENCED];
}

/// The first word of a failover controller's actions (values of [`state::FAILOVER`]).
pub mod failover {
    /// The controller declared the primary down: "detected <host> down after <n> ms".
    pub const DETECTED: &str = "detected";
    /// The controller promoted a replica: "promoted <host> epoch <n> at lsn <lsn>".
    pub const PROMOTED: &str = "promoted";
}

/// The wire protocol's error codes (a failed reply's code; a trace's `Outcome::Error(code)`).
pub mod error_code {
    /// The server cannot serve this (e.g. a replica asked to write).
    pub const NOT_PRIMARY: u8 = 1;
    /// A dependency of the server failed or timed out.
    pub const UPSTREAM: u8 = 2;
    /// The server is overloaded and shed the request.
    pub const OVERLOADED: u8 = 3;
    /// The request was malformed.
    pub const BAD_REQUEST: u8 = 4;
    /// The write's epoch is older than the server's (fenced).
    pub const FENCED: u8 = 5;
    /// The server's storage failed.
    pub const STORAGE: u8 = 6;
    /// A connection pool had no server connection free within its wait timeout.
    pub const POOL_TIMEOUT: u8 = 7;
    /// The server is at its connection limit and refused a new connection.
    pub const TOO_MANY_CONNECTIONS: u8 = 8;
    /// A compare-and-set found another value than the one expected, and wrote nothing.
    pub const CAS_MISMATCH: u8 = 9;
    /// A rate limiter refused the request (HTTP 429): the service working as configured.
    pub const RATE_LIMITED: u8 = 10;
    /// The request's session is unknown or expired (HTTP 401): the user must log in again.
    pub const UNAUTHORIZED: u8 = 11;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn knob_names_and_serialized_forms_never_change() {
        let names: Vec<&str> = Knob::ALL.iter().map(|k| k.name()).collect();
        let expected_names = [
            "replication_delay",
            "disk_delay",
            "slowdown",
            "cache_flush",
            "maxmemory",
            "shard_mask",
            "fail_requests",
            "cdn_purge",
            "lb_out",
            "fail_health",
            "dns_ttl",
        ];
        assert_eq!(names, expected_names);
        let json: Vec<String> = Knob::ALL.iter().map(|k| serde_json::to_string(k).expect("a knob")).collect();
        let expected = [
            "ApplyDelay",
            "DiskDelay",
            "Slowdown",
            "CacheFlush",
            "MaxMemory",
            "ShardMask",
            "FailRequests",
            "CdnPurge",
            "LbOut",
            "FailHealth",
            "DnsTtl",
        ];
        assert_eq!(json, expected.map(|name| format!("\"{name}\"")));
        for (i, knob) in Knob::ALL.iter().enumerate() {
            assert_eq!(knob.index(), i, "{knob:?}");
        }
        assert_eq!(Knob::DiskDelay.show(30_000_000), "30.000ms");
        assert_eq!(Knob::Slowdown.show(400), "+400%");
        assert_eq!(Knob::FailRequests.show(30), "30% of requests fail");
        assert_eq!(Knob::CacheFlush.show(3), "flush #3");
        assert_eq!(Knob::CdnPurge.show(2), "purge #2");
        assert_eq!(Knob::MaxMemory.show(2 << 20), "2.00M");
        assert_eq!(Knob::MaxMemory.show(1536), "1.50K");
        assert_eq!(Knob::MaxMemory.show(100), "100B");
        assert_eq!(Knob::MaxMemory.show(0), "the configured limit");
        assert_eq!(Knob::ShardMask.show(0b1010), "nodes #1,#3 out");
        assert_eq!(Knob::ShardMask.show(0), "every node in");
        assert_eq!(Knob::LbOut.show(0b101), "backends #0,#2 out");
        assert_eq!(Knob::LbOut.show(0), "every backend in");
        assert_eq!(Knob::FailHealth.show(1), "health checks fail");
        assert_eq!((Knob::DnsTtl.show(300_000), Knob::DnsTtl.show(1_500)), ("TTL 300s".into(), "TTL 1500ms".into()));
        assert_eq!(Knob::DnsTtl.show(0), "the configured TTL");
    }

    #[test]
    fn names_are_unique_and_pinned() {
        for list in [&gauge::ALL[..], &state::ALL[..], &role::ALL[..]] {
            let unique: BTreeSet<&str> = list.iter().copied().collect();
            assert_eq!(unique.len(), list.len(), "{list:?}");
            assert!(list.iter().all(|n| n.starts_with(|c: char| c.is_ascii_lowercase())
                && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        }
        assert_eq!(gauge::INFLIGHT, "inflight");
        assert_eq!(gauge::REPLICA_LAG_LSN, "replica_lag_lsn");
        assert_eq!(
            [gauge::RATE_ADMITTED, gauge::RATE_LIMITED, gauge::LIMITER_FALLBACKS],
            ["rate_admitted", "rate_limited", "limiter_fallbacks"]
        );
        assert_eq!([gauge::SESSIONS_CREATED, gauge::SESSIONS_LOST], ["sessions_created", "sessions_lost"]);
        assert_eq!(state::ROLE, "role");
        assert_eq!((state::BREAKER, gauge::BREAKER_REJECTED), ("breaker", "breaker_rejected"));
        assert_eq!(
            [state::LB, gauge::LB_EJECTED, gauge::LB_UNHEALTHY, gauge::LB_RETRIES, gauge::LB_NO_BACKEND],
            ["lb", "lb_ejected", "lb_unhealthy", "lb_retries", "lb_no_backend"]
        );
        assert_eq!((state::TIER, gauge::L2_EJECTIONS), ("tier", "l2_ejections"));
        assert_eq!(
            [state::INSTANCE, state::AUTOSCALE, gauge::POOL_READY, gauge::POOL_STARTING, gauge::POOL_METRIC_MILLI],
            ["instance", "autoscale", "pool_ready", "pool_starting", "pool_metric_milli"]
        );
        assert_eq!(
            [state::DEPLOY, gauge::HEALTH, gauge::DEPLOY_NEW_READY, gauge::DEPLOY_OLD_READY],
            ["deploy", "health", "deploy_new_ready", "deploy_old_ready"]
        );
        assert_eq!(
            [gauge::CDN_HITS, gauge::CDN_MISSES, gauge::CDN_STALE, gauge::ORIGIN_REQUESTS],
            ["cdn_hits", "cdn_misses", "cdn_stale", "origin_requests"]
        );
        assert_eq!(
            [gauge::QUEUE_DEPTH, gauge::QUEUE_OLDEST_AGE_MS, gauge::QUEUE_ACCEPTED, gauge::WORKER_PROCESSED],
            ["queue_depth", "queue_oldest_age_ms", "queue_accepted", "worker_processed"]
        );
        assert_eq!(role::PRIMARY, "primary");
        assert_eq!((failover::DETECTED, failover::PROMOTED), ("detected", "promoted"));
        let codes = [
            error_code::NOT_PRIMARY,
            error_code::UPSTREAM,
            error_code::OVERLOADED,
            error_code::BAD_REQUEST,
            error_code::FENCED,
            error_code::STORAGE,
            error_code::POOL_TIMEOUT,
            error_code::TOO_MANY_CONNECTIONS,
            error_code::CAS_MISMATCH,
            error_code::RATE_LIMITED,
            error_code::UNAUTHORIZED,
        ];
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "the wire format's codes never change");
    }
}
