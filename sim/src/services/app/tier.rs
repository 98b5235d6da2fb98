//! An app's cache tier in a scenario: its settings (L1, L2 nodes and their sharding, stampede
//! protection, what writes do), their checks, its plan, the plan's note on how it spreads the
//! workload's keys, and the model's configuration built from the plan.
//!
//! Must not: know the app's other dependencies (the store, the payment API).

use super::super::ns;
use super::super::{PlanContext, Want, expect};
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use faultline_models::cache::aside;
use faultline_models::cache::l1::{Admission, L1Config};
use faultline_models::shard::{Node, Scheme, Sharder, measure};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// Take an L2 node out of the routing after calls to it fail in a row, as Twemproxy's
    /// `auto_eject_hosts` does; its keys go to the other nodes until it is tried again.
    /// Default: none (a dead node's keys each wait out the timeout).
    #[serde(default)]
    pub eject: Option<EjectSpec>,
}

/// When an app's tier ejects a failing L2 node.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EjectSpec {
    /// Failed calls in a row (timed out, refused, reset) that eject a node. Default 2
    /// (Twemproxy's `server_failure_limit`).
    #[serde(default = "default_eject_failures")]
    pub failures: u32,
    /// How long it stays out before it is tried again; one more failure then ejects it again.
    /// Default "30s" (Twemproxy's `server_retry_timeout`).
    #[serde(default = "default_eject_retry")]
    pub retry: Dur,
}

fn default_eject_failures() -> u32 {
    2
}
fn default_eject_retry() -> Dur {
    Dur(Duration::from_secs(30))
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
    /// Ejection of a failing node: failures in a row, and nanoseconds out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eject: Option<(u32, u64)>,
}

impl TierSpec {
    pub(super) fn validate(&self, c: &mut Checker, index: usize, host: &Host, with_cache: bool) {
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
        if let Some(eject) = self.eject {
            if eject.failures == 0 {
                let span = c.span_at(&path("eject"), host.name.span());
                c.report(
                    span,
                    "zero",
                    "`eject.failures` is 0; expected a count of failures in a row, 1 or more".into(),
                );
            }
            if eject.retry.0.is_zero() {
                let span = c.span_at(&path("eject"), host.name.span());
                c.report(span, "zero", "`eject.retry` is 0; expected how long a node stays out, above 0".into());
            }
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

    pub(super) fn compile(&self, cx: &PlanContext) -> TierPlan {
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
            eject: self.eject.map(|e| (e.failures, ns(e.retry.0))),
        }
    }
}

/// The most workload keys the plan's shard note measures (it walks each once per sharder).
const NOTE_KEYS_MAX: u64 = 100_000;

impl TierPlan {
    /// The tier of an app's one `cache` node: no L1, no stampede protection, invalidation.
    pub(super) fn single(node: &Sp<String>, cx: &PlanContext) -> TierPlan {
        TierPlan {
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
            eject: None,
        }
    }

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
    pub(super) fn spread_note(&self, keys: u64) -> Option<String> {
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
    pub(super) fn config(&self, timeout: Duration, seed: u64) -> aside::TierConfig {
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
            eject: self
                .eject
                .map(|(failures, retry_ns)| aside::Eject { failures, retry: Duration::from_nanos(retry_ns) }),
        }
    }
}
