//! The worker kind: consumers of one queue of a broker host. The host's `workers` are its
//! slots (messages processed at once) and its `service_time` the time one message takes.
//! Its settings (broker, queue, consumer group, poison key, idempotency keys, retry backoff),
//! their checks and its start. It serves no workload and listens on no port.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::plant::Plant;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::queue::backoff::Backoff;
use faultline_models::queue::worker::{self, WorkerConfig};
use faultline_models::server::Capacity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Consumers of a queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerService {
    /// The queue broker host.
    #[schemars(with = "String")]
    pub broker: Sp<String>,
    /// The queue it consumes. Default: the broker's first.
    #[serde(default)]
    pub queue: Option<String>,
    /// A consumer group: each slot is a consumer, and a partition has at most one consumer of
    /// the group. Default: none (every slot receives from every partition).
    #[serde(default)]
    pub group: Option<String>,
    /// Messages with this key always fail (a poison message): given back with backoff until
    /// the broker dead-letters them. Keys a load generator sends are "k0", "k1", ...
    #[serde(default)]
    pub poison_key: Option<String>,
    /// Idempotency keys: a message already processed (its id in the worker's processed-ids
    /// store) is acknowledged without being processed again. Default false: duplicates are
    /// processed, and counted.
    #[serde(default)]
    pub idempotent: bool,
    /// The first retry's backoff ceiling; the n-th is `min(backoff_cap, backoff * 2^n)`, the
    /// delay a uniform draw under it (full jitter). Default "100ms".
    #[serde(default = "default_backoff")]
    pub backoff: Dur,
    /// The largest backoff ceiling. Default "5s".
    #[serde(default = "default_backoff_cap")]
    pub backoff_cap: Dur,
    /// How long a slot waits after finding the queue empty. Default "20ms".
    #[serde(default = "default_poll")]
    pub poll: Dur,
    /// How long a call to the broker may take. Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_backoff() -> Dur {
    Dur(Duration::from_millis(100))
}
fn default_backoff_cap() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_poll() -> Dur {
    Dur(Duration::from_millis(20))
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// A worker host in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerPlan {
    /// "host:port" of the broker.
    pub broker: String,
    /// The queue; "" for the broker's first.
    pub queue: String,
    /// Its consumer group, if any.
    pub group: Option<String>,
    /// The poison key, if any.
    pub poison_key: Option<String>,
    /// Whether processed messages are absorbed.
    pub idempotent: bool,
    /// Backoff base and cap, nanoseconds.
    pub backoff_ns: (u64, u64),
    /// Poll interval, nanoseconds.
    pub poll_ns: u64,
    /// Call timeout, nanoseconds.
    pub timeout_ns: u64,
    /// Planted bug (tests of the checks only): a message is acknowledged before processing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plant_ack_before_process: bool,
}

impl Kind for WorkerService {
    type Plan = WorkerPlan;
    /// It serves no workload.
    const LOAD: Option<LoadApi> = None;

    fn kind(&self) -> &'static str {
        "worker"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        expect(c, &self.broker, Want::Queue, "a worker's `broker`");
        if self.poll.0.is_zero() || self.timeout.0.is_zero() {
            let message = "a worker's `poll` and `timeout` must be longer than 0".into();
            c.report(host.name.span(), "zero", message);
        }
        if self.backoff_cap.0 < self.backoff.0 {
            let message = "a worker's `backoff_cap` is shorter than its `backoff`; expected at least as long".into();
            c.report(host.name.span(), "cap under base", message);
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> WorkerPlan {
        WorkerPlan {
            broker: cx.addr(&self.broker),
            queue: self.queue.clone().unwrap_or_default(),
            group: self.group.clone(),
            poison_key: self.poison_key.clone(),
            idempotent: self.idempotent,
            backoff_ns: (ns(self.backoff.0), ns(self.backoff_cap.0)),
            poll_ns: ns(self.poll.0),
            timeout_ns: ns(self.timeout.0),
            plant_ack_before_process: cx.plants(Plant::AckBeforeProcess),
        }
    }
}

impl WorkerPlan {
    /// The worker's configuration on a host of `capacity`.
    pub fn config(&self, capacity: &Capacity) -> WorkerConfig {
        WorkerConfig {
            broker: self.broker.clone(),
            queue: self.queue.clone(),
            group: self.group.clone(),
            slots: capacity.workers.max(1),
            service_time: capacity.service_time,
            poison: self.poison_key.as_ref().map(|k| k.clone().into_bytes()),
            idempotent: self.idempotent,
            backoff: Backoff {
                base: Duration::from_nanos(self.backoff_ns.0),
                cap: Duration::from_nanos(self.backoff_ns.1),
            },
            poll: Duration::from_nanos(self.poll_ns),
            timeout: Duration::from_nanos(self.timeout_ns),
            plant_ack_before_process: self.plant_ack_before_process,
        }
    }
}

impl Start for WorkerPlan {
    /// It only calls out, to its broker.
    const LISTENS: bool = false;

    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(worker::run(env, self.config(&capacity)))
    }
}
