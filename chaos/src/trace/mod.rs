//! Trace events and the run's header: the plain data every run records.
//!
//! A trace is a [`Header`] followed by [`Record`]s in time order. The binary format lives in
//! [`codec`] (documented in `docs/trace-format.md`); [`text`] prints records as text or JSON
//! lines. Adding an event kind: one variant of [`Event`], its text form in [`text`]; the codec
//! needs no change (postcard encodes the enum), but the format version does. New variants go
//! at the end, so the indices of the older ones (and the worked example in the docs) stay.

pub mod codec;
pub mod samples;
pub mod text;

use crate::check::CheckConfig;
use crate::fault::Fault;
use crate::slo::Slo;
use serde::{Deserialize, Serialize};

/// The version of the binary trace format this build writes and reads (4: one-way partitions
/// and clock skews appended to `Fault`; 5: cache flushes and shards leaving or joining appended
/// to `Fault`, and the cache knobs to `Knob`; 6: `Retry` appended to `Event`; 7: the workload's
/// tenants may follow the header, see [`Header::tenants`]; 8: the region faults appended to
/// `Fault`, `Add` to `Op`, and the regions may follow the tenants, see [`Header::regions`]; 9:
/// the DNS TTL appended to `Knob`; 10: sparse gauge samples, and the sampling interval may
/// follow the regions, see [`Header::sample_ns`]).
pub const FORMAT_VERSION: u16 = 10;

/// A host of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Its name in the scenario.
    pub name: String,
    /// The service it runs ("app", "cache", "kv-primary", "loadgen", ...).
    pub service: String,
    /// The group it belongs to (tier or region), for display.
    pub group: String,
}

/// A link of the topology as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// One end (host index).
    pub a: u16,
    /// The other end (host index).
    pub b: u16,
    /// One-way base latency, nanoseconds.
    pub latency_ns: u64,
    /// Extra random latency up to this, nanoseconds.
    pub jitter_ns: u64,
    /// Message loss probability.
    pub loss: f64,
}

/// Everything about a run that is fixed before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The Faultline version that wrote the trace.
    pub tool_version: String,
    /// The version of the `rand` crate that drew the run's random numbers.
    pub rand_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The master seed.
    pub seed: u64,
    /// Simulated length of the run, nanoseconds.
    pub duration_ns: u64,
    /// Width of a metrics window, nanoseconds.
    pub window_ns: u64,
    /// Hosts, indexed by the `u16` host ids in events.
    pub hosts: Vec<HostInfo>,
    /// Links as configured.
    pub links: Vec<LinkInfo>,
    /// The objectives the run is judged against.
    pub slos: Vec<Slo>,
    /// The data-tier checks the run is judged against (format version 2).
    pub checks: CheckConfig,
    /// The workload's tenants and the sharded database's groups (format version 7). Encoded
    /// after the other fields, and only when it is not empty, so a header without it has the
    /// bytes (and the trace the hash) it had before.
    #[serde(skip)]
    pub shards: Shards,
    /// The regions and the hosts in each (format version 8). Encoded after [`Header::shards`]
    /// (empty ones, if need be), and only when there are some, so a header without regions has
    /// the bytes (and the trace the hash) it had before.
    #[serde(skip)]
    pub regions: Vec<RegionInfo>,
    /// How often gauges were sampled, nanoseconds (format version 10): the samples are sparse,
    /// see [`Event::Sample`]. 0 in a trace of an older version, whose samples are dense (every
    /// gauge at every sampling time). Encoded after [`Header::regions`] (empty shards and
    /// regions, if need be), and only when it is not 0.
    #[serde(skip)]
    pub sample_ns: u64,
}

/// A region of the run: a named place hosts are in (format version 8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Its name in the scenario.
    pub name: String,
    /// The hosts in it, by id, ascending: its servers, then the load generators placed in it
    /// (whose users are the region's users).
    pub hosts: Vec<u16>,
}

/// A multi-tenant workload over a sharded database: which tenant a key belongs to, and which
/// replication group holds a tenant's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shards {
    /// The workload's tenants: key `k` belongs to `tenants[k % len]`.
    pub tenants: Vec<String>,
    /// The replication groups, each judged on its own by the data checks (epochs and log
    /// positions are a group's own).
    pub groups: Vec<ShardGroup>,
}

impl Shards {
    /// Whether there is nothing: no tenants and no groups.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.groups.is_empty()
    }
}

/// One replication group of a sharded database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardGroup {
    /// Its name in the scenario.
    pub name: String,
    /// Its hosts (store nodes and their failover controller), by id.
    pub hosts: Vec<u16>,
    /// The tenants whose keys it holds, by index in [`Shards::tenants`].
    pub tenants: Vec<u16>,
}

/// A request's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A read.
    Read,
    /// A write.
    Write,
    /// Anything else (echo, control).
    Other,
    /// A compare-and-set (format version 3): a write that takes effect only if the key holds
    /// the value it expects ([`Observation::Expects`]).
    Cas,
    /// An increment of a counter by 1 (format version 8): a write that commutes with every
    /// other increment.
    Add,
}

/// The wire protocol's error code for a compare-and-set that found another value than it
/// expected (`ErrorCode::CasMismatch` in `faultline-models`; both take it from the vocabulary).
pub const CAS_MISMATCH: u8 = faultline_vocab::error_code::CAS_MISMATCH;

/// The wire protocol's error code for a request a rate limiter refused (HTTP 429;
/// `ErrorCode::RateLimited` in `faultline-models`).
pub const RATE_LIMITED: u8 = faultline_vocab::error_code::RATE_LIMITED;

/// The wire protocol's error code for a request whose session is unknown or expired (HTTP
/// 401; `ErrorCode::Unauthorized` in `faultline-models`).
pub const UNAUTHORIZED: u8 = faultline_vocab::error_code::UNAUTHORIZED;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// The server answered with an error (its code in the wire protocol).
    Error(u8),
    /// The transport failed (connect refused, connection lost).
    Unreachable,
    /// No answer within the client's timeout.
    Timeout,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A workload request was issued by a load generator (`client`) to `service`.
    Invoke {
        /// Request id, unique in the run.
        req: u64,
        /// The virtual user that issued it.
        user: u32,
        /// The load-generator host.
        client: u16,
        /// The target host.
        service: u16,
        /// Read or write.
        op: Op,
        /// The key's index in the workload's key space.
        key: u64,
    },
    /// A workload request ended.
    Complete {
        /// The id from its [`Event::Invoke`].
        req: u64,
        /// How it ended.
        outcome: Outcome,
    },
    /// A server finished serving one request (any caller), `latency_ns` after it arrived.
    Served {
        /// The serving host.
        host: u16,
        /// What kind of request.
        op: Op,
        /// Time from arrival to reply, nanoseconds.
        latency_ns: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A message left `from` for `to` over the network.
    Message {
        /// Sender.
        from: u16,
        /// Receiver.
        to: u16,
        /// Payload bytes.
        bytes: u32,
        /// The message was lost once on the link and retransmitted after a timeout.
        retransmitted: bool,
    },
    /// A host reported a state change (e.g. `role` = `primary`).
    State {
        /// The host.
        host: u16,
        /// What changed.
        key: String,
        /// Its new value.
        value: String,
    },
    /// A host went up (started or restarted) or down (killed).
    Power {
        /// The host.
        host: u16,
        /// Whether it is now running.
        up: bool,
    },
    /// A gauge's value since its previous sample. From format version 10 samples are sparse: a
    /// gauge is sampled at a sampling time only if it changed since its last sample (and once
    /// at the end), so the span since its previous sample may cover quiet intervals; see
    /// [`samples`] for the dense series they stand for.
    Sample {
        /// The host.
        host: u16,
        /// The gauge's name.
        gauge: String,
        /// The last value set.
        last: i64,
        /// The time-weighted mean since the gauge's previous sample (or its first change).
        mean: f64,
    },
    /// A fault was applied.
    Fault(Fault),
    /// The run ended (last record of a complete trace).
    End,
    /// A node of a replicated store took a role (at start, on promotion, on demotion): the
    /// checkers follow epochs and log lineage through these.
    Role {
        /// The node.
        host: u16,
        /// "primary", "replica" or "fenced".
        role: String,
        /// The highest epoch the node knows of (for a primary: the epoch it writes in).
        epoch: u64,
        /// The last LSN in its log at that moment.
        lsn: u64,
        /// The epoch of the entry at `lsn` (0 for an empty log).
        last_epoch: u64,
    },
    /// What a successful workload request returned, as far as the checkers need it, recorded
    /// just before its [`Event::Complete`]; or what a compare-and-set expects, recorded just
    /// after its [`Event::Invoke`].
    Observed {
        /// The id from its [`Event::Invoke`].
        req: u64,
        /// What came back.
        what: Observation,
    },
    /// A workload request is tried again (format version 6): attempt `attempt` (1 for the first
    /// retry) leaves now, after the one before it ended with `after`. With `denied`, the
    /// client's retry budget refused that attempt instead, and the request ends with `after`.
    /// A request keeps one [`Event::Invoke`] and one [`Event::Complete`] however many attempts
    /// it makes.
    Retry {
        /// The id from its [`Event::Invoke`].
        req: u64,
        /// The attempt, 1 for the first retry.
        attempt: u32,
        /// How the attempt before it ended.
        after: Outcome,
        /// Whether the retry budget refused it (then it never left).
        denied: bool,
    },
}

/// What a read or write returned, or what a compare-and-set expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observation {
    /// A read: the request id of the write whose value it returned (`None`: the key was
    /// absent), and the LSN the answering node had applied (0 when unknown, e.g. a cache hit).
    Read {
        /// The write that produced the value read.
        writer: Option<u64>,
        /// The answering node's applied LSN.
        lsn: u64,
    },
    /// A write was acknowledged at this LSN by the primary of this epoch.
    Written {
        /// The write's LSN.
        lsn: u64,
        /// The epoch of the primary that accepted it.
        epoch: u64,
    },
    /// A compare-and-set expects the key to hold the value of the workload write `writer`
    /// (`None`: to be absent). Recorded at its invocation, so the checkers know it even if the
    /// request never completes (format version 3).
    Expects {
        /// The write whose value it expects.
        writer: Option<u64>,
    },
}

impl Outcome {
    /// Whether the service did its job: the request succeeded, or was refused for a reason that
    /// is the caller's, not the service's: a compare-and-set whose expected value was not there
    /// (like HTTP 409). Availability, error rates, SLOs and RTO count these as successes.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Error(CAS_MISMATCH))
    }

    /// Whether a rate limiter refused the request: the service working as configured, which
    /// availability counts neither for nor against it.
    pub fn is_limited(&self) -> bool {
        matches!(self, Outcome::Error(RATE_LIMITED))
    }

    /// Whether the request's session was unknown or expired (HTTP 401): the user must log in
    /// again, which availability, as for a rate limit, counts neither for nor against the
    /// service (the sessions lost are reported and judged apart).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Outcome::Error(UNAUTHORIZED))
    }
}

/// An event with its simulated time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Nanoseconds since the start of the run.
    pub t_ns: u64,
    /// What happened.
    pub event: Event,
}
