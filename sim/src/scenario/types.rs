//! The scenario file's types: the boundary between a user's TOML and the world.
//!
//! These types are the format (documented field by field in `docs/scenario.md`, and exported as
//! a JSON Schema by `faultline schema`). Enums are externally tagged (`{ poisson = { rate = 5 } }`)
//! so that every error keeps its line and column. Values that need checks beyond their type
//! (host names, rates, times) are `Spanned` so that validation can point at them.
//!
//! Adding a field: here (or, for a service kind's settings, in its file in `sim/src/services/`), with a doc
//! comment (it becomes the schema's description), a default, and a row in `docs/scenario.md`.

use super::clock::{Drift, Offset};
pub use super::units::{Dur, Size};
use crate::services::Service;
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// A span-carrying value; the schema is the inner type's.
pub type Sp<T> = Spanned<T>;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports and trace headers.
    pub name: String,
    /// What the scenario shows, for a reader.
    #[serde(default)]
    pub description: String,
    /// Simulated length of the run.
    #[schemars(with = "Dur")]
    pub duration: Sp<Dur>,
    /// The master seed, unless `--seed` overrides it. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Width of a metrics window in the report. Default "1s".
    #[serde(default = "default_window")]
    #[schemars(with = "Dur")]
    pub window: Sp<Dur>,
    /// Simulation step: the resolution of the simulated clock and network. Default "1ms".
    #[serde(default = "default_tick")]
    #[schemars(with = "Dur")]
    pub tick: Sp<Dur>,
    /// Link settings for every pair of hosts not listed in `links`.
    #[serde(default)]
    pub network: LinkSettings,
    /// The hosts and the service each runs.
    #[schemars(with = "Vec<Host>")]
    pub hosts: Vec<Sp<Host>>,
    /// Links whose settings differ from `network`.
    #[serde(default)]
    #[schemars(with = "Vec<Link>")]
    pub links: Vec<Sp<Link>>,
    /// Named places hosts are in, with the settings of the links inside each. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<super::regions::RegionSpec>")]
    pub regions: Vec<Sp<super::regions::RegionSpec>>,
    /// The settings of the links between two regions. Default: none (the network's).
    #[serde(default)]
    #[schemars(with = "Vec<super::regions::RegionLink>")]
    pub region_links: Vec<Sp<super::regions::RegionLink>>,
    /// The traffic the load generators send.
    pub workload: Workload,
    /// Faults applied at given times.
    #[serde(default)]
    #[schemars(with = "Vec<FaultEntry>")]
    pub faults: Vec<Sp<FaultEntry>>,
    /// Objectives the run must meet.
    #[serde(default)]
    #[schemars(with = "Vec<SloEntry>")]
    pub slos: Vec<Sp<SloEntry>>,
    /// Invariants of the data tier the run is judged against.
    #[serde(default)]
    pub checks: ChecksSpec,
    /// A pool of app instances an autoscaler starts and stops. Default: none.
    #[serde(default)]
    pub autoscale: Option<super::autoscale::AutoscaleSpec>,
    /// The checks the scenario is built to fail (a teaching scenario shows a failure on
    /// purpose), each by its name or its first words ("staleness" names "staleness <= 250.0
    /// ms"): `run` and `sweep` pass when they fail, and fail when one holds or another check
    /// fails. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub expected_failures: Vec<Sp<String>>,
    /// A deploy of a new version over a pool of app instances. Default: none.
    #[serde(default)]
    pub deploy: Option<super::deploy::DeploySpec>,
    /// What a swarm run (`--swarm`) may draw from its seed on top of `faults`, and what it
    /// judges. Default: every fault kind the hosts can take, up to 3 faults, judging the
    /// invariants.
    #[serde(default)]
    pub swarm: Option<super::swarm::SwarmSpec>,
    /// Prices per host-hour by service kind, for `faultline compare`'s cost rows. Default: none.
    #[serde(default)]
    pub cost: Option<super::cost::CostSpec>,
}

/// The data-tier checks: lost writes and RPO, read-your-writes, staleness, linearizability,
/// RTO. Lost writes, RPO, staleness, epochs and RTO are always measured when the run has a
/// store; these settings make verdicts of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    /// Acknowledged writes may be lost if none is older than this when lost (the RPO).
    /// Default: no acknowledged write may be lost.
    #[serde(default)]
    pub max_rpo: Option<Dur>,
    /// A user's read after its own acknowledged write must see it (or a newer one). Default false.
    #[serde(default)]
    pub read_your_writes: bool,
    /// A read may return a value at most this stale. Default: measured, not judged.
    #[serde(default)]
    pub max_staleness: Option<Dur>,
    /// Reads and writes per key must be linearizable. Default false.
    #[serde(default)]
    pub linearizable: bool,
    /// After each fault the success rate must recover within this. Default: measured, not judged.
    #[serde(default)]
    pub max_rto: Option<Dur>,
    /// Sliding window over which the success rate is measured for RTO. Default "1s".
    #[serde(default = "default_rto_window")]
    pub rto_window: Dur,
    /// The success rate that counts as recovered, in (0, 1]. Default: the end-to-end
    /// availability SLO's target, else 0.99.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub recovery_ratio: Option<Sp<f64>>,
}

impl Default for ChecksSpec {
    fn default() -> Self {
        Self {
            max_rpo: None,
            read_your_writes: false,
            max_staleness: None,
            linearizable: false,
            max_rto: None,
            rto_window: default_rto_window(),
            recovery_ratio: None,
        }
    }
}

fn default_rto_window() -> Dur {
    Dur(Duration::from_secs(1))
}

fn default_seed() -> u64 {
    1
}
fn default_window() -> Sp<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(1)))
}
fn default_tick() -> Sp<Dur> {
    Spanned::new(0..0, Dur(Duration::from_millis(1)))
}

/// Latency, jitter and loss of a link.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// One-way latency. Default "1ms".
    #[serde(default = "default_latency")]
    pub latency: Dur,
    /// Extra random one-way latency, from 0 up to this. Default "0ms".
    #[serde(default = "zero")]
    pub jitter: Dur,
    /// Probability in [0, 1) that a message is lost once and retransmitted after `rto`. Default 0.
    #[serde(default = "zero_loss")]
    #[schemars(with = "f64")]
    pub loss: Sp<f64>,
    /// Retransmission timeout: the extra delay a lost message pays before it is resent.
    /// Only read from `network`. Default "200ms".
    #[serde(default = "default_rto")]
    pub rto: Dur,
}

fn zero_loss() -> Sp<f64> {
    Spanned::new(0..0, 0.0)
}

fn default_rto() -> Dur {
    Dur(Duration::from_millis(200))
}

fn default_latency() -> Dur {
    Dur(Duration::from_millis(1))
}
pub(crate) fn zero() -> Dur {
    Dur(Duration::ZERO)
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { latency: default_latency(), jitter: zero(), loss: Spanned::new(0..0, 0.0), rto: default_rto() }
    }
}

/// A host and the service it runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique name; other fields refer to the host by it.
    #[schemars(with = "String")]
    pub name: Sp<String>,
    /// The service the host runs.
    pub service: Service,
    /// Tier or region, for grouping in reports and the GUI. Default: the service kind.
    #[serde(default)]
    pub group: Option<String>,
    /// The region the host is in (a `[[regions]]` name): its links to other hosts take the
    /// region's or the region link's settings. Default: none (the network's).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub region: Option<Sp<String>>,
    /// Worker slots serving requests at once. Default 64.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Requests allowed to wait for a worker slot before being shed. Default 10000.
    #[serde(default = "default_queue_limit")]
    pub queue_limit: usize,
    /// Time one request occupies a worker slot. Default "zero".
    #[serde(default)]
    pub service_time: ServiceTimeSpec,
    /// Connections the host accepts at once; one more is refused ("too many connections").
    /// Default: no limit.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Time a new connection takes to set up (process start, authentication) before its first
    /// request is served. Default "0ms".
    #[serde(default = "zero")]
    pub connect_cost: Dur,
    /// A request that waits longer than this for a worker slot is refused as overloaded.
    /// Default: it waits for as long as it takes.
    #[serde(default)]
    pub queue_timeout: Option<Dur>,
    /// How far this host's clock is off, from the start: "-2s" (behind), "+250ms" (ahead).
    /// Its models read it; the trace stays in world time. Default "0s".
    #[serde(default)]
    pub clock_skew: Offset,
}

fn default_workers() -> usize {
    64
}
fn default_queue_limit() -> usize {
    10_000
}

/// The cost of one request at a server.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceTimeSpec {
    /// No cost.
    #[default]
    Zero,
    /// Always this long: `{ fixed = "2ms" }`.
    Fixed(Dur),
    /// Exponentially distributed with this mean: `{ exponential = "2ms" }`.
    Exponential(Dur),
    /// Log-normally distributed with this mean and shape: `{ lognormal = { mean = "2ms", sigma = 1.0 } }`.
    Lognormal {
        /// The mean.
        mean: Dur,
        /// The standard deviation of the underlying normal, >= 0 (1.0 gives a long tail).
        #[schemars(with = "f64")]
        sigma: Sp<f64>,
    },
}

/// A link whose settings differ from the network's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The two hosts it joins.
    #[schemars(with = "[String; 2]")]
    pub between: [Sp<String>; 2],
    /// One-way latency. Default: the network's.
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Extra random latency. Default: the network's.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Loss probability in [0, 1). Default: the network's.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<Sp<f64>>,
}

impl Link {
    /// This link's one-way latency and jitter (nanoseconds) and loss: its own where it sets
    /// them, the network's elsewhere.
    pub(crate) fn settings_ns(&self, net: &LinkSettings) -> (u64, u64, f64) {
        let ns = |d: Dur| crate::services::ns(d.0);
        let loss = self.loss.as_ref().map_or(*net.loss.get_ref(), |l| *l.get_ref());
        (ns(self.latency.unwrap_or(net.latency)), ns(self.jitter.unwrap_or(net.jitter)), loss)
    }
}

/// The traffic sent to the system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Host names the requests go to, spread round-robin over users. Without them, `resolve`
    /// must say how users find their target.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub targets: Vec<Sp<String>>,
    /// Virtual users: each has its own connection to its target.
    #[schemars(with = "u32")]
    pub users: Sp<u32>,
    /// Load-generator hosts the users are multiplexed on. Default 1.
    #[serde(default = "default_loadgens")]
    #[schemars(with = "u32")]
    pub loadgens: Sp<u32>,
    /// How requests arrive.
    pub arrival: Arrival,
    /// Share of requests that are reads, in [0, 1]. Default 0.9.
    #[serde(default = "default_read_ratio")]
    #[schemars(with = "f64")]
    pub read_ratio: Sp<f64>,
    /// Share of requests that are compare-and-sets, in [0, 1], taken from the writes (reads +
    /// CAS at most 1). A user's CAS updates the key it read last, expecting the value it read
    /// there (optimistic concurrency); with no read behind it, a fresh key expected absent.
    /// Default 0.
    #[serde(default = "default_cas_ratio")]
    #[schemars(with = "f64")]
    pub cas_ratio: Sp<f64>,
    /// Share of requests that increment a counter (the drawn key's) by 1, in [0, 1], taken from
    /// the writes (reads + CAS + increments at most 1); every target must be an active-active
    /// store (`geo`), which keeps counters. Default 0.
    #[serde(default = "default_cas_ratio")]
    #[schemars(with = "f64")]
    pub incr_ratio: Sp<f64>,
    /// Share of requests that are checkouts (`POST /checkout` to an HTTP app, which charges
    /// the order through its payment API, then stores it), in [0, 1], taken from the writes.
    /// Default 0.
    #[serde(default = "default_checkout_ratio")]
    #[schemars(with = "f64")]
    pub checkout_ratio: Sp<f64>,
    /// Share of requests that are page views (`GET /page/k{key}` to an HTTP app with a
    /// `page`), in [0, 1], taken from the writes (reads + CAS + checkouts + pages at most 1).
    /// Default 0.
    #[serde(default = "default_page_ratio")]
    #[schemars(with = "f64")]
    pub page_ratio: Sp<f64>,
    /// Number of distinct keys. Default 1000.
    #[serde(default = "default_keys")]
    #[schemars(with = "u64")]
    pub keys: Sp<u64>,
    /// How often each key is chosen. Default "uniform".
    #[serde(default)]
    pub popularity: Popularity,
    /// Size of written values and echo payloads, bytes. Default 64.
    #[serde(default = "default_value_bytes")]
    pub value_bytes: u32,
    /// A request not answered within this counts as a timeout. Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// How a failed request is retried, as a client library does:
    /// `retry = { attempts = 3, backoff = "exponential", budget = 0.1 }`. Default: never.
    #[serde(default)]
    pub retry: Option<super::retry::RetrySpec>,
    /// Each user logs in first (`POST /login` to an HTTP app with `sessions`) and sends its
    /// session cookie with every request; on a `401` it counts a lost session and logs in
    /// again. For HTTP targets only. Default false.
    #[serde(default)]
    pub login: bool,
    /// The tenants the keys belong to, for a multi-tenant product: key `k` becomes
    /// `<tenant>:k<k>` with tenant `tenants[k % len]`, so a sharded database's directory places
    /// it by tenant and the report gives each tenant's availability. Default: none (`k<k>`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tenants: Vec<Sp<String>>,
    /// The regions the users are near: load generator `i` sits in region `near[i % len]`, and
    /// its links to the targets take the regions' settings. Default: none (the network's).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub near: Vec<Sp<String>>,
    /// Users find their target by asking a DNS server for a name, instead of `targets`:
    /// `resolve = { dns = "dns", name = "shop", extend = 0.087, pinned = 0.01 }`. Default: none.
    #[serde(default)]
    pub resolve: Option<super::resolve::Resolve>,
    /// The targets were filled from `resolve`'s record, not written in the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub targets_filled: bool,
}

fn default_loadgens() -> Sp<u32> {
    Spanned::new(0..0, 1)
}
fn default_read_ratio() -> Sp<f64> {
    Spanned::new(0..0, 0.9)
}
fn default_cas_ratio() -> Sp<f64> {
    Spanned::new(0..0, 0.0)
}
fn default_checkout_ratio() -> Sp<f64> {
    Spanned::new(0..0, 0.0)
}
fn default_page_ratio() -> Sp<f64> {
    Spanned::new(0..0, 0.0)
}
fn default_keys() -> Sp<u64> {
    Spanned::new(0..0, 1000)
}
fn default_value_bytes() -> u32 {
    64
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// How requests arrive: open-loop rates (requests per second over all users) or closed loop.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrival {
    /// Evenly spaced: `{ constant = { rate = 100 } }`.
    Constant {
        /// Requests per second.
        #[schemars(with = "f64")]
        rate: Sp<f64>,
    },
    /// Poisson process: `{ poisson = { rate = 100 } }`.
    Poisson {
        /// Mean requests per second.
        #[schemars(with = "f64")]
        rate: Sp<f64>,
    },
    /// Poisson at `from` until `at`, then at `to`.
    Step {
        /// Rate before the step.
        #[schemars(with = "f64")]
        from: Sp<f64>,
        /// Rate after the step.
        #[schemars(with = "f64")]
        to: Sp<f64>,
        /// When the step happens.
        #[schemars(with = "Dur")]
        at: Sp<Dur>,
    },
    /// Poisson at `base`, at `peak` from `at` for `for`.
    Spike {
        /// Rate outside the spike.
        #[schemars(with = "f64")]
        base: Sp<f64>,
        /// Rate during the spike.
        #[schemars(with = "f64")]
        peak: Sp<f64>,
        /// When the spike starts.
        #[schemars(with = "Dur")]
        at: Sp<Dur>,
        /// How long it lasts.
        #[serde(rename = "for")]
        #[schemars(with = "Dur")]
        length: Sp<Dur>,
    },
    /// Poisson at each phase's rate from its `at` until the next phase's: `{ phases = [{ rate =
    /// 100 }, { at = "30s", rate = 400 }] }`. The first phase starts at 0.
    Phases(#[schemars(with = "Vec<RatePhase>")] Sp<Vec<RatePhase>>),
    /// `requests` requests at one instant, `at`, and none after: `{ burst = { requests = 100 }
    /// }`, the clients of a contention experiment all starting together.
    Burst {
        /// How many, 1 to 1,000,000, over all load generators.
        #[schemars(with = "u64")]
        requests: Sp<u64>,
        /// When. Default "0s".
        #[serde(default = "zero_at")]
        #[schemars(with = "Dur")]
        at: Sp<Dur>,
    },
    /// Closed loop: each user sends its next request when the last one ends, after `think`.
    Closed {
        /// Pause between a reply and the next request. Default "0ms".
        #[serde(default = "zero")]
        think: Dur,
    },
}

/// One phase of a phased arrival rate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatePhase {
    /// When the phase starts. Default "0s" (the first phase's must be).
    #[serde(default = "zero_at")]
    #[schemars(with = "Dur")]
    pub at: Sp<Dur>,
    /// Mean requests per second in the phase.
    #[schemars(with = "f64")]
    pub rate: Sp<f64>,
}

fn zero_at() -> Sp<Dur> {
    Sp::new(0..0, Dur(Duration::ZERO))
}

/// Key popularity.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Popularity {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// Zipf with exponent `s` (key 0 the most popular): `{ zipf = { s = 0.99 } }`.
    Zipf {
        /// The exponent, > 0.
        #[schemars(with = "f64")]
        s: Sp<f64>,
    },
}

/// A scripted fault.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// When it is applied.
    #[schemars(with = "Dur")]
    pub at: Sp<Dur>,
    /// If set, the fault is undone this long after `at` (restart, heal, restore, a knob or a
    /// clock back to normal).
    #[serde(default, rename = "for")]
    #[schemars(with = "Option<Dur>")]
    pub length: Option<Sp<Dur>>,
    /// What happens.
    pub fault: FaultSpec,
}

/// The kinds of scripted fault.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Crash a host: `{ kill = "db" }`.
    Kill(#[schemars(with = "String")] Sp<String>),
    /// Start a crashed host again: `{ restart = "db" }`.
    Restart(#[schemars(with = "String")] Sp<String>),
    /// Cut all links between two groups: `{ partition = { a = ["db"], b = ["app"] } }`; with
    /// `oneway = true`, only what `a` sends to `b` is lost (`b` still reaches `a`).
    Partition {
        /// One side (with `oneway`: the senders cut off).
        #[schemars(with = "Vec<String>")]
        a: Vec<Sp<String>>,
        /// The other side (with `oneway`: the receivers that no longer hear them).
        #[schemars(with = "Vec<String>")]
        b: Vec<Sp<String>>,
        /// Cut the direction `a` -> `b` only. Default false (both ways).
        #[serde(default)]
        oneway: bool,
    },
    /// Restore all links between two groups (with `oneway = true`, the direction `a` -> `b`).
    Heal {
        /// One side.
        #[schemars(with = "Vec<String>")]
        a: Vec<Sp<String>>,
        /// The other side.
        #[schemars(with = "Vec<String>")]
        b: Vec<Sp<String>>,
        /// Restore the direction `a` -> `b` only. Default false (both ways).
        #[serde(default)]
        oneway: bool,
    },
    /// A host's clock goes wrong: it jumps (`jump = "-2s"`), drifts (`drift = "-50%"`: runs at
    /// half speed, so its sleeps and timeouts last twice as long), or both:
    /// `{ clock_skew = { host = "db1", drift = "-50%" } }`. With `for`, it is put right again.
    ClockSkew {
        /// The host.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// How far the clock jumps, ahead or (negative) behind. Default "0s".
        #[serde(default)]
        jump: Offset,
        /// How much faster (or, negative, slower) it runs from `at` on. Default "0%".
        #[serde(default)]
        drift: Drift,
    },
    /// Change a link: `{ link = { between = ["app", "db"], latency = "50ms", loss = 0.1 } }`.
    Link(Link),
    /// A replica applies the log `delay` late: `{ replication_delay = { host = "replica", delay = "2s" } }`.
    ReplicationDelay {
        /// The kv replica.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// How late each entry is applied.
        delay: Dur,
        /// How much later still, every second from `at` on (lag that grows, as on a replica
        /// falling behind): `grow = "100ms"`. Default: none.
        #[serde(default)]
        grow: Option<Dur>,
    },
    /// A host's disk gets slow: each log append takes `delay` longer:
    /// `{ disk_delay = { host = "db", delay = "20ms" } }`.
    DiskDelay {
        /// The kv node.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// Extra time per append.
        delay: Dur,
    },
    /// A batch job runs `count` long transactions at once against a store or pool, each
    /// holding its connection for `hold`: `{ long_transactions = { target = "pgbouncer",
    /// count = 10, hold = "3s" } }`. Takes no `for`: `hold` is its length.
    LongTransactions {
        /// The kv primary or pool.
        #[schemars(with = "String")]
        target: Sp<String>,
        /// How many at once, 1 to 10000.
        count: u32,
        /// How long each holds its connection.
        hold: Dur,
    },
    /// A host's queries get slow: service times grow by `percent`:
    /// `{ slowdown = { host = "db", percent = 400 } }`.
    Slowdown {
        /// The host.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// Extra service time, percent (400 makes it five times as long).
        percent: u32,
    },
    /// A gray failure: an HTTP app answers `percent` of its requests `500` without serving
    /// them, while its health check still passes: `{ fail_requests = { host = "app2", percent
    /// = 100 } }`. With `for`, it heals.
    FailRequests {
        /// The app host.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// Share of requests that fail, percent (1 to 100).
        percent: u32,
    },
    /// A cache node drops every key at once (FLUSHALL): `{ cache_flush = "cache1" }`. Takes
    /// no `for`: the keys do not come back.
    CacheFlush(#[schemars(with = "String")] Sp<String>),
    /// A cache node's memory limit drops to `maxmemory` from its next write (evicting by its
    /// policy, or refusing writes with OOM): `{ memory_pressure = { host = "cache1", maxmemory
    /// = "2mb" } }`. With `for`, the configured limit comes back.
    MemoryPressure {
        /// The cache node.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// The limit, as Redis writes it ("2mb"); above 0. It counts the node's baseline of
        /// about 1 MB too.
        maxmemory: Size,
    },
    /// The apps' cache tiers stop routing keys to one of their L2 nodes; its keys go to the
    /// others, cold: `{ shard_leave = { app = ["app1", "app2"], node = "cache2" } }`. With
    /// `for`, it joins again.
    ShardLeave(ShardChange),
    /// The apps' cache tiers route keys to one of their L2 nodes again:
    /// `{ shard_join = { app = ["app1"], node = "cache2" } }`.
    ShardJoin(ShardChange),
    /// A CDN edge drops every stored answer at once (a full purge): `{ cdn_purge = "edge1" }`.
    /// Takes no `for`: the answers do not come back.
    CdnPurge(#[schemars(with = "String")] Sp<String>),
    /// Every host of a region crashes at once, as one fault: `{ region_outage = "eu-west" }`.
    /// With `for`, they all restart.
    RegionOutage(#[schemars(with = "String")] Sp<String>),
    /// Cut every link between the hosts (and users) of two regions: `{ region_partition = { a
    /// = "us-east", b = "eu-west" } }`; with `oneway = true`, only what `a` sends to `b`.
    /// With `for`, they heal.
    RegionPartition(super::regions::RegionPartitionSpec),
    /// Every link between the hosts (and users) of two regions gets these settings:
    /// `{ region_latency = { between = ["us-east", "eu-west"], latency = "300ms" } }`. With
    /// `for`, each goes back to its configured settings.
    RegionLatency(super::regions::RegionLatencySpec),
    /// Every host of a region gets the clock error of a `clock_skew`: `{ region_skew = {
    /// region = "eu-west", jump = "2s", drift = "10%" } }`. With `for`, each is put back to its
    /// configured skew.
    RegionSkew(super::regions::RegionSkewSpec),
    /// A DNS server's answers carry another TTL from now on (a TTL set too long): `{ dns_ttl =
    /// { host = "dns", ttl = "300s" } }`. Answers already cached keep theirs. With `for`, the
    /// configured TTL comes back.
    DnsTtl {
        /// The dns host.
        #[schemars(with = "String")]
        host: Sp<String>,
        /// The TTL, above 0.
        ttl: Dur,
    },
}

/// Which L2 node leaves or joins which apps' cache tiers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardChange {
    /// The app hosts whose tiers change.
    #[schemars(with = "Vec<String>")]
    pub app: Vec<Sp<String>>,
    /// The cache node, one of each app's tier `nodes` (or its `cache`).
    #[schemars(with = "String")]
    pub node: Sp<String>,
}

/// A service-level objective.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloEntry {
    /// Its name in the report. Default: derived from the objective.
    #[serde(default)]
    pub name: Option<String>,
    /// The host it applies to; default: end to end, as the load generators see it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub service: Option<Sp<String>>,
    /// Latency bound at `quantile`, e.g. "50ms".
    #[serde(default)]
    pub latency: Option<Dur>,
    /// The quantile the latency bound applies to, in (0, 1]. Default 0.99.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub quantile: Option<Sp<f64>>,
    /// Minimum share of successful requests, in (0, 1], e.g. 0.999.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub availability: Option<Sp<f64>>,
    /// The most sessions the users may find lost over the run (a request carrying one answered
    /// `401`), end to end; needs the workload's `login = true`. E.g. 0.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_sessions_lost: Option<Sp<u64>>,
    /// The regions of an active-active store (`geo` hosts) must all be caught up within this
    /// of the run's last fault, and still at the end, e.g. "10s".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub converged_within: Option<Sp<Dur>>,
}
