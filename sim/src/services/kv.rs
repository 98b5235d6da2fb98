//! The kv kind: a node of the replicated key-value store (a primary and its replicas), its
//! settings (role, primary, fsync, replication, apply cost), their checks, and its start. Behind
//! a cache tier (any app of the scenario has one) it counts its reads of one key at once.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::plant::Plant;
use crate::scenario::validate::{Checker, or_span};
use crate::scenario::{Dur, Host, Sp, types::zero};
use crate::world::SimEnv;
use faultline_models::kv;
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use toml::Spanned;

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

/// A kv node in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KvPlan {
    /// "host:port" of its primary, for a replica; `None` for a primary.
    pub primary: Option<String>,
    /// Whether each write is fsynced before it is acknowledged.
    pub fsync_always: bool,
    /// What a write waits for: "async", "semi_sync", "sync".
    pub replication: ReplicationPlan,
    /// A failover controller manages this node's role.
    pub managed: bool,
    /// Time to apply one log entry, nanoseconds.
    pub apply_cost_ns: u64,
    /// Whether it counts the reads of one stored key it holds at once (an app of the scenario
    /// reads through a cache tier).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub count_key_reads: bool,
    /// Planted bug (tests of the checks only): a replica reads as of what it received.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plant_reads_as_received: bool,
    /// Planted bug (tests of the checks only): a primary ignores its lease's expiry.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plant_ignore_lease_expiry: bool,
}

/// What a primary's write waits for, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationPlan {
    /// Nothing.
    Async,
    /// One replica, or this many nanoseconds.
    SemiSync {
        /// The wait, nanoseconds.
        timeout_ns: u64,
    },
    /// This many replicas.
    Sync {
        /// How many.
        replicas: usize,
    },
}

impl Kind for KvService {
    type Plan = KvPlan;
    /// Load generators read and write it.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    /// "kv-primary" or "kv-replica".
    fn kind(&self) -> &'static str {
        match self.role {
            KvRole::Primary => "kv-primary",
            KvRole::Replica => "kv-replica",
        }
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::KvPrimary | Want::Store => self.role == KvRole::Primary,
            Want::Kv => true,
            Want::Cache | Want::Payment | Want::HttpApp | Want::Service | Want::Cdn | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        match (self.role, &self.primary) {
            (KvRole::Primary, Some(primary)) => {
                let message = "a kv primary has no `primary`; expected no `primary` here, or role = \"replica\"".into();
                c.report(primary.span(), "primary of a primary", message);
            }
            (KvRole::Replica, None) => {
                let message = format!(
                    "kv replica {:?} has no `primary`; expected primary = \"<the name of a kv primary>\"",
                    host.name.get_ref()
                );
                c.report(host.name.span(), "no primary", message);
            }
            (KvRole::Replica, Some(primary)) => expect(c, primary, Want::KvPrimary, "a kv replica's `primary`"),
            (KvRole::Primary, None) => {}
        }
        if let ReplicationSpec::Sync { replicas } = &self.replication
            && *replicas.get_ref() == 0
        {
            let message = "sync replication with replicas = 0 is async; expected at least 1 replica".to_string();
            c.report(or_span(replicas.span(), host.name.span()), "zero", message);
        }
    }

    fn compile(&self, name: &str, cx: &PlanContext) -> KvPlan {
        let managed = cx.managed.contains(name);
        let replication = match &self.replication {
            ReplicationSpec::Async => ReplicationPlan::Async,
            ReplicationSpec::SemiSync { timeout } => ReplicationPlan::SemiSync { timeout_ns: ns(timeout.0) },
            ReplicationSpec::Sync { replicas } => ReplicationPlan::Sync { replicas: *replicas.get_ref() },
        };
        KvPlan {
            primary: self.primary.as_ref().map(|p| cx.addr(p)),
            fsync_always: self.fsync == Fsync::Always,
            replication,
            managed,
            apply_cost_ns: ns(self.apply_cost.0),
            count_key_reads: cx.cached,
            plant_reads_as_received: cx.plants(Plant::ReplicaReadsBeforeApply),
            plant_ignore_lease_expiry: cx.plants(Plant::LeaseNotEnforced),
        }
    }
}

impl KvPlan {
    fn config(&self) -> kv::KvConfig {
        let fsync = if self.fsync_always { kv::FsyncPolicy::Always } else { kv::FsyncPolicy::Never };
        let replication = match &self.replication {
            ReplicationPlan::Async => kv::Replication::Async,
            ReplicationPlan::SemiSync { timeout_ns } => {
                kv::Replication::SemiSync { timeout: Duration::from_nanos(*timeout_ns) }
            }
            ReplicationPlan::Sync { replicas } => kv::Replication::Sync { replicas: *replicas },
        };
        kv::KvConfig {
            fsync,
            replication,
            managed: self.managed,
            apply_cost: Duration::from_nanos(self.apply_cost_ns),
            count_key_reads: self.count_key_reads,
            plant_reads_as_received: self.plant_reads_as_received,
            plant_ignore_lease_expiry: self.plant_ignore_lease_expiry,
        }
    }

    /// Runs the node: a primary, or a replica of its primary.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let config = self.config();
        let node = match self.primary {
            None => kv::KvNode::primary(env.clone(), config)?,
            Some(primary) => kv::KvNode::replica(env.clone(), config, primary)?,
        };
        serve(env, super::SERVICE_PORT, capacity, node).await
    }
}

impl Start for KvPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
