//! The judgement of a run, computed from its trace alone: the [`Report`] and its parts, and
//! the [`Analyzer`] that builds it from records fed in time order.
//!
//! Owns: the report's data types (a boundary: JSON for tools, read by the GUI), in
//! deterministic field order (no `HashMap` anywhere). Must not: read files or the clock.
//!
//! Layout: `analyzer` folds records into counters, `metrics` holds the HDR histograms and
//! per-window series, `cache` folds the cache tier's gauges into its section, `assemble` resolves the end of the run and lays out the report, `checks`
//! turns counters into SLO, error-budget and Little's law verdicts (the data tier's measurements
//! and verdicts come from [`crate::check`]), `verdict` is what a check is ([`Check`]: a
//! [`Verdict`] of pass, fail or unknown, the words, and the [`Evidence`]), `render` writes the
//! terminal report, `testkit` (tests only) builds synthetic record streams.
//!
//! JSON: every check is `{"name", "verdict": "pass" | "fail" | "unknown", "detail", "evidence":
//! {"t_ns", "hosts", "requests", "requests_total"}}`; evidence hosts index the report's `hosts`
//! (the trace header's host names). The run's verdict folds the checks: fail beats unknown
//! beats pass ([`Report::verdict`]).
//!
//! Memory: bounded by the outstanding requests, the windows still open (a window closes once
//! time has passed it and its requests have all ended), one closed-window summary per window
//! (at most 10,000 windows per series: a longer run gets wider windows), and the capped fault
//! (10,000) and change (1,000) lists, the cache section's counts (a few per cache host, one
//! small entry per app host and window); and the data tier's history, which grows with the
//! workload's reads and writes (72 bytes each) and its requests (8 bytes each), see
//! `check::history`.
//!
//! Definitions (the same in JSON and text):
//! - End to end: one request per `Invoke`, ended by its `Complete`; a request still
//!   outstanding when the run ends counts as a timeout. Availability = ok / (requests ended -
//!   limited): a request a rate limiter refused (`RATE_LIMITED`, HTTP 429) is the system working
//!   as configured, as SLO practice treats it, so it counts in neither the numerator nor the
//!   denominator, of the end-to-end figure and of the objectives alike; it is counted apart
//!   (`limited`), not among the errors (a window still counts it among its failed requests).
//!   A request answered `UNAUTHORIZED` (HTTP 401, the user's session was unknown or expired)
//!   is likewise out of availability and counted apart (`unauthorized`): what a lost session
//!   costs is judged by the sessions lost (the `sessions` section, from the load generators'
//!   gauges; see [`sessions`]) and the `max_sessions_lost` objective.
//!   Latency = `Complete.t_ns - Invoke.t_ns` over answered requests (ok or server error);
//!   unreachable and timed-out requests have no latency, they count against availability.
//!   A window holds the requests *issued* in it (`Invoke.t_ns / window_ns`).
//! - Per service (per host with `Served` records): every served request, latency as the
//!   server measured it; a window holds the requests *finished* in it.
//! - Rates are per simulated second: over the run's length (the `End` record's time, or the
//!   header's duration when the trace has no `End`), or over a window's width (the last window
//!   may be cut short by the end of the run).
//! - Cache (the `cache` section, only when the trace has a cache tier's or an L2 node's
//!   gauges): reads, L1 and L2 hits, loads and their rates per app host, in total and per
//!   window, and each L2 node's counters and peaks, from the cumulative gauges' increments;
//!   see [`cache`] for every definition.
//! - Circuit breakers (the `breakers` section, only when a model reported a breaker's state):
//!   per breaker, times opened, time open and half-open, the state at the end; see
//!   [`breakers`].
//! - Active-active (the `geo` section, only when the run had `geo` nodes): whether the regions
//!   hold the same writes (with a check), how far behind each fell, when they caught up after
//!   the last fault, and the writes last-writer-wins discarded; see [`geo`].
//! - Deploys (the `deploy` section, only when the run had a deploy): the strategy, version,
//!   start, end, outcome, failed requests, time to roll back and ready instances per version
//!   over time, with a check (a healthy version completes with no failed request, a bad one
//!   does not complete); see [`deploy`].
//! - Autoscaling (the `autoscale` section, only when the run had an autoscaled pool): the
//!   instance count over time, scale events and flaps, the time to absorb a load step, the
//!   mean metric against the target; see [`autoscale`] for every definition.
//! - Retries (the `retry` section, only when the trace has a `Retry` record): retries sent and
//!   refused by the clients' budgets, and attempts per request over the run and per window;
//!   see `retry` for every definition.
//! - Tenants (the `tenants` section, only when the workload has tenants): each tenant's
//!   requests, availability, latency and worst window; see `tenants`.

mod analyzer;
mod assemble;
pub mod autoscale;
pub mod breakers;
pub mod cache;
mod checks;
pub mod deploy;
pub mod dns;
mod expect;
pub mod geo;
mod judged;
mod metrics;
pub mod queue;
mod regions;
mod render;
mod retry;
pub mod sessions;
mod tenants;
#[cfg(test)]
mod testkit;
mod verdict;

pub use crate::check::DataReport;
pub use analyzer::{Analyzer, INFLIGHT_GAUGE};
pub use expect::matches;
pub use judged::SwarmReport;
pub use regions::RegionReport;
pub use verdict::{Check, Evidence, MAX_EVIDENCE_REQUESTS, Verdict};

use serde::{Deserialize, Serialize};

/// Latency percentiles of a set of requests, milliseconds (HDR precision: 3 significant
/// digits; `max_ms` and `mean_ms` are exact). All zero when `count` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// How many latencies were recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// The workload's requests as the load generators saw them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndToEnd {
    /// Requests issued.
    pub requests: u64,
    /// Requests that succeeded (a compare-and-set refused for a mismatch included: the
    /// service answered correctly, see [`crate::trace::Outcome::is_success`]).
    pub ok: u64,
    /// Requests the server answered with an error.
    pub errors: u64,
    /// Requests whose transport failed.
    pub unreachable: u64,
    /// Requests that timed out, including those still outstanding at the end.
    pub timeouts: u64,
    /// Requests a rate limiter refused (`RATE_LIMITED`, HTTP 429): neither ok nor errors.
    #[serde(default)]
    pub limited: u64,
    /// Requests answered `UNAUTHORIZED` (HTTP 401: the user's session was unknown or expired):
    /// neither ok nor errors, as `limited`; the sessions lost are in [`Report::sessions`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unauthorized: u64,
    /// Of the timeouts, requests still outstanding when the run ended.
    pub outstanding_at_end: u64,
    /// ok / (requests ended - limited - unauthorized); `None` when no other request was issued.
    pub availability: Option<f64>,
    /// Successful requests per simulated second.
    pub throughput_rps: f64,
    /// Requests issued per simulated second.
    pub offered_rps: f64,
    /// Latency of answered requests.
    pub latency: LatencySummary,
}

/// One time window of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Start of the window, seconds since the start of the run.
    pub start_s: f64,
    /// Width of the window, seconds.
    pub width_s: f64,
    /// Requests in the window.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// Of which did not (errors, unreachable, timeouts).
    pub failed: u64,
    /// Requests per second.
    pub rps: f64,
    /// Successful requests per second.
    pub ok_rps: f64,
    /// Latency in the window.
    pub latency: LatencySummary,
}

/// One host's served requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The host's name.
    pub name: String,
    /// The host's id in the trace.
    pub host: u16,
    /// The service it runs, from the header.
    pub service: String,
    /// Requests served.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// Of which failed.
    pub errors: u64,
    /// Requests served per second.
    pub rps: f64,
    /// Latency as the server measured it.
    pub latency: LatencySummary,
    /// The same, per window.
    pub windows: Vec<WindowStats>,
}

/// One tenant's requests, end to end (key `k` belongs to the header's `tenants[k % len]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantReport {
    /// The tenant's name.
    pub name: String,
    /// Requests on its keys.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// ok / (requests - limited), requests still outstanding at the end counted as failed;
    /// `None` when every request was limited.
    pub availability: Option<f64>,
    /// Latency of answered requests.
    pub latency: LatencySummary,
    /// Its window with the lowest availability (ties: the earliest), among windows with enough
    /// requests to judge; `None` when no window has.
    pub worst_window: Option<TenantWindow>,
    /// Every window with a request on its keys, in time order.
    pub windows: Vec<TenantWindow>,
}

/// A tenant's requests issued in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantWindow {
    /// Start of the window, seconds.
    pub start_s: f64,
    /// Requests issued in it (limited ones left out).
    pub requests: u64,
    /// Of those, the share that succeeded.
    pub availability: f64,
}

/// The workload's requests sent to one host, end to end (as the load generators saw them):
/// with the load generators near different hosts (CDN edges, regions), latency per group of
/// users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The host's name.
    pub name: String,
    /// The host's id in the trace.
    pub host: u16,
    /// Requests sent to it.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// ok / (requests - limited), requests still outstanding at the end counted as failed;
    /// `None` when every request was limited.
    pub availability: Option<f64>,
    /// Latency of answered requests.
    pub latency: LatencySummary,
}

/// Little's law cross-check of one host: L = λW.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LittleLaw {
    /// The host's name.
    pub service: String,
    /// The host's index in the trace header.
    #[serde(default)]
    pub host: u16,
    /// λ: requests served per second over the run.
    pub lambda_rps: f64,
    /// W: mean served latency, milliseconds.
    pub w_ms: f64,
    /// λW: the mean number in service that λ and W predict.
    pub predicted_l: f64,
    /// The time-weighted mean of the host's `inflight` gauge.
    pub measured_l: f64,
    /// (measured - predicted) / predicted, percent; `None` when nothing was predicted.
    pub error_pct: Option<f64>,
    /// The largest |measured - predicted| that passes: max(10% of predicted, 0.05).
    pub tolerance: f64,
    /// Whether the measured value is within the tolerance.
    pub pass: bool,
}

/// The error budget of one availability objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudget {
    /// The objective's name.
    pub slo: String,
    /// The host it applies to; `None` for end to end.
    pub service: Option<String>,
    /// The objective's target ratio.
    pub target: f64,
    /// The measured availability; `None` without data.
    pub availability: Option<f64>,
    /// The budget: 1 - target.
    pub budget: f64,
    /// (1 - availability) / budget; 1.0 means the budget is exhausted. `None` without data, or
    /// when a 100% target met any failure (burned without bound).
    pub burned: Option<f64>,
}

/// A fault, when it was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEntry {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// What, hosts by name.
    pub description: String,
}

/// A state change or power event of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// The host's name.
    pub host: String,
    /// What changed: `key=value`, `up` or `down`.
    pub what: String,
}

/// Things in the trace that should not happen; any of them fails the `trace well-formed` check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Anomalies {
    /// `Complete` records with no outstanding `Invoke`.
    pub unmatched_completes: u64,
    /// `Invoke` records reusing an outstanding request id (ignored).
    pub duplicate_invokes: u64,
    /// Records earlier than the record before them (taken as happening at that earlier time).
    pub out_of_order: u64,
    /// `inflight` samples with a mean that is not a finite number (ignored).
    pub bad_samples: u64,
    /// Whether the trace lacks its `End` record.
    pub missing_end: bool,
}

/// Whether a count is zero (a field left out of the JSON then).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Anomalies {
    /// Whether nothing is amiss.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a cache tier did, on one app host or on all of them together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFigures {
    /// Reads the tier handled: hits + misses.
    pub reads: u64,
    /// Of which answered by the in-process L1.
    pub l1_hits: u64,
    /// Of which answered by an L2 node.
    pub l2_hits: u64,
    /// Of which ran or joined a load from the store (the tier's misses).
    pub loaded: u64,
    /// L1 hits / reads; `None` without reads.
    pub l1_hit_rate: Option<f64>,
    /// L2 hits / reads that reached L2 (reads - L1 hits); `None` when none did.
    pub l2_hit_rate: Option<f64>,
    /// (L1 + L2 hits) / reads; `None` without reads.
    pub hit_rate: Option<f64>,
    /// Loads started against the store.
    pub db_loads: u64,
    /// Loads per second over the run.
    pub db_loads_per_s: f64,
    /// The most loads of one key running at once on one host (for all hosts: the largest).
    pub key_loads_peak: u64,
    /// Misses that waited for another's load lock.
    pub lock_waits: u64,
    /// Values refreshed before they expired.
    pub early_refreshes: u64,
    /// Calls to an L2 node that failed.
    pub l2_errors: u64,
}

/// One app host's cache tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheApp {
    /// The host's name.
    pub name: String,
    /// The host's id in the trace.
    pub host: u16,
    /// What its tier did.
    pub figures: CacheFigures,
}

/// One L2 cache node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheNode {
    /// The host's name.
    pub name: String,
    /// The host's id in the trace.
    pub host: u16,
    /// Reads it answered from memory.
    pub hits: u64,
    /// Reads it did not have.
    pub misses: u64,
    /// Keys evicted under its memory limit.
    pub evicted: u64,
    /// Keys dropped because their time to live passed.
    pub expired: u64,
    /// The most entries it held.
    pub entries_peak: u64,
    /// The most bytes it counted as used.
    pub used_memory_peak: u64,
}

/// The cache tiers of every app host in one report window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheWindow {
    /// Start of the window, seconds since the start of the run.
    pub start_s: f64,
    /// Width of the window, seconds.
    pub width_s: f64,
    /// Reads the tiers handled.
    pub reads: u64,
    /// Of which answered by L1 or L2.
    pub hits: u64,
    /// hits / reads; `None` without reads.
    pub hit_rate: Option<f64>,
    /// Loads started against the store.
    pub db_loads: u64,
    /// Loads per second of the window.
    pub db_loads_per_s: f64,
}

/// The cache section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheReport {
    /// Per app host with a cache tier, by host id.
    pub apps: Vec<CacheApp>,
    /// All app hosts together (`key_loads_peak` is the largest of theirs).
    pub total: CacheFigures,
    /// The sum of the hosts' `key_loads_peak`: an upper bound of the loads of one key running
    /// at once across hosts (the hosts' peaks need not coincide).
    pub key_loads_peak_sum: u64,
    /// The most reads of one stored key a database node held at once (`key_reads_peak`, the
    /// largest of the nodes'), when the stores counted them: the stampede as the database sees
    /// it, whatever the app hosts did.
    #[serde(default)]
    pub db_key_reads_peak: Option<u64>,
    /// Per L2 node, by host id.
    pub nodes: Vec<CacheNode>,
    /// Per window, the report's windows (every window of the run, then any later one with data).
    pub windows: Vec<CacheWindow>,
}

/// The clients' retries in one report window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryWindow {
    /// Start of the window, seconds since the start of the run.
    pub start_s: f64,
    /// Width of the window, seconds.
    pub width_s: f64,
    /// Requests issued in the window.
    pub requests: u64,
    /// Retries sent in the window.
    pub retries: u64,
    /// Retries the budgets refused in the window.
    pub denied: u64,
    /// (requests + retries) / requests: the load sent as a multiple of the load offered;
    /// `None` without requests.
    pub amplification: Option<f64>,
}

/// The retry section of a report: what the load generators' retry policies did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryReport {
    /// Attempts after the first that were sent.
    pub retries: u64,
    /// Retries the clients' budgets refused.
    pub denied: u64,
    /// Attempts per request over the run: (requests + retries) / requests; `None` without
    /// requests.
    pub amplification: Option<f64>,
    /// Per window, the report's windows (then any later one with a retry).
    pub windows: Vec<RetryWindow>,
    /// Attempts sent over the run, first ones and retries: the work the clients asked of the
    /// system.
    #[serde(default)]
    pub attempts: u64,
    /// From the first request's invoke to the last success of any request, seconds: how long
    /// the run's requests took to get through (for a burst of contending clients, Brooker's
    /// "time to completion"); `None` when no request succeeded.
    #[serde(default)]
    pub drain_s: Option<f64>,
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed.
    pub seed: u64,
    /// Simulated length of the run, seconds.
    pub duration_s: f64,
    /// Width of a metrics window, seconds.
    pub window_s: f64,
    /// The trace hash, 32 hex digits.
    pub trace_hash: String,
    /// Records in the trace.
    pub records: u64,
    /// The run's hosts by name, by their index in the trace header (what evidence's `hosts`
    /// index).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The workload's requests end to end.
    pub end_to_end: EndToEnd,
    /// The same per window, every window of the run included.
    pub windows: Vec<WindowStats>,
    /// The same per host the workload sent requests to, by host id.
    #[serde(default)]
    pub targets: Vec<TargetReport>,
    /// Per host that served requests, by host id.
    pub services: Vec<ServiceReport>,
    /// Little's law per host that has both served requests and an `inflight` gauge.
    pub little: Vec<LittleLaw>,
    /// Per availability objective.
    pub error_budgets: Vec<ErrorBudget>,
    /// The faults in time order.
    pub faults: Vec<FaultEntry>,
    /// Faults left out of `faults` (past its cap).
    pub faults_omitted: u64,
    /// State changes and power events in time order.
    pub changes: Vec<ChangeEntry>,
    /// Changes left out of `changes` (past its cap).
    pub changes_omitted: u64,
    /// What was wrong with the trace itself.
    pub anomalies: Anomalies,
    /// The data tier's measurements (lost writes and RPO, epochs, read-your-writes, staleness,
    /// linearizability, RTO per fault); `None` when the trace has no `Role` or `Observed`
    /// event and no fault to measure recovery from.
    #[serde(default)]
    pub data: Option<DataReport>,
    /// The cache tier's figures (per app host, per L2 node, per window); `None` when the trace
    /// has no cache tier or cache node gauge (see [`cache`]).
    #[serde(default)]
    pub cache: Option<CacheReport>,
    /// Every circuit breaker that reported a state, by host id then name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<breakers::BreakerReport>,
    /// The clients' retries; `None` (and absent from JSON) when the trace has no `Retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryReport>,
    /// The users' sessions (logins, sessions lost, per window); `None` when the load
    /// generators published no sessions gauge (their users do not log in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<sessions::SessionsReport>,
    /// Each tenant's figures, in the workload's order; empty (and absent from JSON) when the
    /// workload has no tenants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantReport>,
    /// End to end by the region of the users (the load generators the header places in a
    /// region); empty (and absent from JSON) when none is placed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionReport>,
    /// The autoscaled pool; `None` (and absent from JSON) when the run had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<autoscale::AutoscaleReport>,
    /// The deploy; `None` (and absent from JSON) when the run had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<deploy::DeployReport>,
    /// The message queues (accepted, processed, duplicates, dead letters, lost, levels); `None`
    /// (and absent from JSON) when no queue broker published its gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<queue::QueueReport>,
    /// The active-active store (regions' agreement, how far behind they fell, writes lost to
    /// last-writer-wins); `None` (and absent from JSON) when the run has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<geo::GeoReport>,
    /// DNS failovers (endpoints found down, answers changed, users following); `None` (and
    /// absent from JSON) when no DNS server reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<dns::DnsReport>,
    /// What a swarm run drew from its seed; `None` (and absent from JSON) for a run of the
    /// scenario's scripted faults alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmReport>,
    /// Every check, SLOs included.
    pub checks: Vec<Check>,
}

impl Report {
    /// The verdict of the run: Fail if any check failed, else Unknown if any could not
    /// decide, else Pass; a check the scenario is built to fail counts by its
    /// [`Check::outcome`].
    pub fn verdict(&self) -> Verdict {
        Verdict::fold(self.checks.iter().map(Check::outcome))
    }

    /// Whether every check held (none failed, none undecided).
    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Pass
    }

    /// The checks that fail the run: failed, or expected to fail and held.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome() == Verdict::Fail)
    }

    /// The checks that could not decide.
    pub fn undecided(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome() == Verdict::Unknown)
    }

    /// The checks that failed as the scenario expected.
    pub fn expected_failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.expected_to_fail && c.verdict == Verdict::Fail)
    }

    /// The report for a terminal: aligned columns, units on every figure.
    pub fn render_text(&self) -> String {
        render::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckConfig;
    use crate::check::testkit::{DB1, DB2, Run};
    use crate::fault::Fault;
    use crate::report::analyzer::MAX_CHANGES;
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::{Event, Outcome};

    #[test]
    fn timelines_and_header_fields() {
        let mut stream = Stream::new(2, 1);
        stream.push(S, Event::Fault(Fault::Partition { a: vec![1], b: vec![2] }));
        for i in 0..(MAX_CHANGES as u64 + 5) {
            stream.push(i, Event::State { host: 2, key: "role".into(), value: "primary".into() });
        }
        let report = stream.analyze();
        assert_eq!(report.faults, [FaultEntry { t_s: 1.0, description: "partition [app] | [db]".into() }]);
        assert_eq!(report.changes.len(), MAX_CHANGES);
        assert_eq!(report.changes_omitted, 5);
        assert_eq!(report.changes[0].what, "role=primary");
        assert_eq!(report.changes[0].host, "db");
        assert_eq!((report.scenario.as_str(), report.seed), ("synthetic", 7));
        assert_eq!((report.duration_s, report.window_s), (2.0, 1.0));
        assert_eq!(report.trace_hash, "0000000000000000000000000000feed");
    }

    /// Async replication loses two writes when db1 is killed at 10 s; the controller detects it
    /// at 13.01 s and promotes db2 at 13.03 s; requests fail from 10 s to 14 s.
    fn failover_stream() -> Stream {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        run.role(0, DB2, "replica", 1, 0, 0);
        for lsn in 1..=12 {
            let w = run.write(9 * S + lsn * 50 * MS, 2 * MS, 0, lsn, Some((1, lsn)));
            run.read(9 * S + lsn * 50 * MS + 5 * MS, MS, 0, lsn, Some(w));
        }
        for i in 0..2_000 {
            let t = i * 10 * MS;
            run.other(t, if (10 * S..14 * S).contains(&t) { Outcome::Unreachable } else { Outcome::Ok });
        }
        run.fault(10 * S, Fault::Kill { host: DB1 });
        run.detected(13 * S + 10 * MS, DB1);
        run.primary(13 * S + 30 * MS, DB2, 2, 10, 1);
        run.promoted(13 * S + 30 * MS, DB2, 2, 10);
        let mut stream = Stream::new(20, 1);
        stream.hosts(&Run::names());
        stream.header.checks = CheckConfig {
            max_rpo_ns: Some(20 * MS),
            max_rto_ns: Some(5 * S),
            recovery_ratio: 0.9,
            ..CheckConfig::default()
        };
        stream.extend(run.records());
        stream
    }

    #[test]
    fn the_data_tier_is_measured_and_judged() {
        let report = failover_stream().analyze();
        let data = report.data.as_ref().expect("a data section");
        let lost = data.durability.as_ref().expect("roles");
        assert_eq!((lost.lost, lost.final_epoch), (2, 2));
        // LSN 10, the last to survive, was acknowledged at 9.502 s; the last lost one at 9.602 s.
        assert_eq!(lost.rpo_ns, 9_602 * MS - 9_502 * MS);
        assert_eq!(data.recovery[0].rto_ns, Some(4_891 * MS));
        let verdicts: Vec<(&str, Verdict)> = report.checks.iter().map(|c| (c.name.as_str(), c.verdict)).collect();
        assert_eq!(
            verdicts,
            [
                ("RPO <= 20.0 ms", Verdict::Fail),
                ("one primary per epoch", Verdict::Pass),
                ("RTO after kill db1 at 10.000 s", Verdict::Pass)
            ]
        );
        assert!(!report.passed());
        assert_eq!(report.verdict(), Verdict::Fail);
        assert_eq!(report.failures().count(), 1);
        // The two lost writes (LSNs 11 and 12) were lost when db2 took epoch 2 at 13.03 s.
        let rpo = &report.checks[0].evidence;
        assert_eq!(rpo.t_ns, Some(13 * S + 30 * MS));
        assert_eq!((&rpo.hosts[..], &rpo.requests[..], rpo.requests_total), (&[DB1, DB2][..], &[20, 22][..], 2));
        assert_eq!(report.checks[2].evidence.t_ns, Some(10 * S), "the kill");
        let text = report.render_text();
        for piece in [
            "Data tier",
            "lost acknowledged writes",
            "2 (RPO 100.0 ms); first: req 20, 22",
            "RTO after kill db1 at 10.000 s  4.891 s (detection 3.010 s, promotion 0.020 s)",
            "staleness                       p99 0.0 ms, max 0.0 ms (12 reads)",
            "      2  13.030 s        10           1  db2",
            "RPO 100.0 ms > 20.0 ms",
            "RPO <= 20.0 ms  at 13.030000 s; hosts db1, db2; req 20, 22",
            "1 of 3 checks failed",
        ] {
            assert!(text.contains(piece), "missing {piece:?} in:\n{text}");
        }
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"data\":{\"reads\":12,\"acknowledged_writes\":12,"), "{json}");
        assert!(
            json.contains(
                "{\"name\":\"RPO <= 20.0 ms\",\"verdict\":\"fail\",\"detail\":\"RPO 100.0 ms > 20.0 ms (2 of 12 \
                 acknowledged writes lost; first: req 20, 22)\",\"evidence\":{\"t_ns\":13030000000,\"hosts\":[2,3],\
                 \"requests\":[20,22],\"requests_total\":2}}"
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    }

    #[test]
    fn no_data_events_no_data_section() {
        let mut stream = Stream::new(2, 1);
        stream.request(0, MS, Outcome::Ok);
        let report = stream.analyze();
        assert_eq!(report.data, None);
        assert!(!report.render_text().contains("Data tier"));
        let mut json: serde_json::Value = serde_json::to_value(&report).unwrap();
        json.as_object_mut().unwrap().remove("data");
        assert_eq!(serde_json::from_value::<Report>(json).unwrap(), report, "reports without the section read back");
    }

    #[test]
    fn json_is_deterministic_and_reads_back() {
        let mut stream = Stream::new(3, 1);
        for i in 0..50 {
            stream.request(i * 50 * MS, (i + 1) * MS, Outcome::Ok);
            stream.served(i * 50 * MS, 1, MS, true);
        }
        let a = serde_json::to_string(&stream.analyze()).unwrap();
        let b = serde_json::to_string(&stream.analyze()).unwrap();
        assert_eq!(a, b);
        let report: Report = serde_json::from_str(&a).unwrap();
        assert_eq!(report, stream.analyze());
        assert!(a.starts_with("{\"scenario\":\"synthetic\",\"seed\":7,"), "{}", &a[..60]);
    }
}
