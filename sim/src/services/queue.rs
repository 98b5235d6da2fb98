//! The queue kind: a message broker host (SQS-style leases and dead letters, bounded depth,
//! partitions with consumer groups, a log on the host's disk); its settings, their checks and
//! its start. Load generators may send it messages directly (a producer burst).

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, ns};
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host};
use crate::world::SimEnv;
use faultline_models::queue::host::{BrokerConfig, BrokerHost};
use faultline_models::queue::{QueueConfig, QueueFsync};
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A queue broker.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueService {
    /// Its queues (at least one). A load generator sends to the first.
    pub queues: Vec<QueueSpec>,
    /// When its log is made durable: "always" (before each answer: nothing acknowledged is
    /// lost in a crash), "never", or `{ interval = "100ms" }`. Default "always".
    #[serde(default)]
    pub fsync: FsyncSpec,
    /// How long a send to a full queue waits for room before it is answered `Full`. Default:
    /// it is answered at once.
    #[serde(default)]
    pub send_wait: Option<Dur>,
}

/// One named queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Its name.
    pub name: String,
    /// Partitions; a message goes to the one its key hashes to. Default 1.
    #[serde(default = "one")]
    pub partitions: u32,
    /// Messages held at most (dead letters not counted); a send past it is answered `Full`.
    /// Default 0: no bound.
    #[serde(default)]
    pub max_depth: usize,
    /// How long a received message stays invisible to others. Default "30s" (SQS's).
    #[serde(default = "default_visibility")]
    pub visibility: Dur,
    /// Receives after which an unacknowledged message goes to the dead-letter queue
    /// (`maxReceiveCount`). Default 0: never.
    #[serde(default)]
    pub max_receives: u32,
    /// How long a group's consumer may go without a receive before its partitions go to the
    /// others. Default "10s".
    #[serde(default = "default_session")]
    pub session_timeout: Dur,
}

fn one() -> u32 {
    1
}
fn default_visibility() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_session() -> Dur {
    Dur(Duration::from_secs(10))
}

/// When the broker's log is made durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FsyncSpec {
    /// Before each answer.
    #[default]
    Always,
    /// Never: a crash loses everything not yet on disk.
    Never,
    /// Every so often: a crash loses what came since the last sync.
    Interval(Dur),
}

/// A queue broker in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuePlan {
    /// Its queues.
    pub queues: Vec<QueuePlanEntry>,
    /// Sync interval in nanoseconds; 0: always; `None`: never.
    pub fsync_every_ns: Option<u64>,
    /// How long a send to a full queue waits, nanoseconds; 0: not at all.
    pub send_wait_ns: u64,
}

/// One queue in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuePlanEntry {
    /// Its name.
    pub name: String,
    /// Partitions.
    pub partitions: u32,
    /// Bound on messages held; 0: none.
    pub max_depth: usize,
    /// Visibility timeout, nanoseconds.
    pub visibility_ns: u64,
    /// Receives before the dead-letter queue; 0: never.
    pub max_receives: u32,
    /// Consumer session timeout, nanoseconds.
    pub session_timeout_ns: u64,
}

impl Kind for QueueService {
    type Plan = QueuePlan;
    /// Load generators send it messages.
    const LOAD: Option<LoadApi> = Some(LoadApi::Queue);

    fn kind(&self) -> &'static str {
        "queue"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Queue => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn => false,
        }
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        let at = |c: &Checker, q: Option<usize>, key: &'static str| {
            let mut path = vec![Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("queue")];
            path.push(Seg::Key("queues"));
            if let Some(q) = q {
                path.extend([Seg::Index(q), Seg::Key(key)]);
            }
            c.span_at(&path, host.name.span())
        };
        if self.queues.is_empty() {
            let span = at(c, None, "");
            c.report(
                span,
                "no queues",
                "a queue broker needs at least one queue: queues = [{ name = \"jobs\" }]".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            if q.name.is_empty() || !seen.insert(q.name.as_str()) {
                let span = at(c, Some(i), "name");
                let message =
                    format!("queue name {:?} is empty or used twice; expected a unique, non-empty name", q.name);
                c.report(span, "bad name", message);
            }
            if q.partitions == 0 || q.partitions > 1024 {
                let span = at(c, Some(i), "partitions");
                let message = format!("a queue's `partitions` is {}; expected 1 to 1024", q.partitions);
                c.report(span, "out of range", message);
            }
            if q.visibility.0.is_zero() {
                let span = at(c, Some(i), "visibility");
                c.report(span, "zero", "a queue's `visibility` must be longer than 0".into());
            }
        }
        if let FsyncSpec::Interval(d) = self.fsync
            && d.0.is_zero()
        {
            let span = c.span_at(
                &[Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("queue"), Seg::Key("fsync")],
                host.name.span(),
            );
            c.report(
                span,
                "zero",
                "an fsync interval must be longer than 0; for every write, fsync = \"always\"".into(),
            );
        }
    }

    fn compile(&self, _name: &str, _cx: &PlanContext) -> QueuePlan {
        let queues = self
            .queues
            .iter()
            .map(|q| QueuePlanEntry {
                name: q.name.clone(),
                partitions: q.partitions,
                max_depth: q.max_depth,
                visibility_ns: ns(q.visibility.0),
                max_receives: q.max_receives,
                session_timeout_ns: ns(q.session_timeout.0),
            })
            .collect();
        let fsync_every_ns = match self.fsync {
            FsyncSpec::Always => Some(0),
            FsyncSpec::Never => None,
            FsyncSpec::Interval(d) => Some(ns(d.0)),
        };
        QueuePlan { queues, fsync_every_ns, send_wait_ns: self.send_wait.map_or(0, |d| ns(d.0)) }
    }
}

impl QueuePlan {
    /// The broker's configuration.
    pub fn config(&self) -> BrokerConfig {
        let queues = self
            .queues
            .iter()
            .map(|q| QueueConfig {
                name: q.name.clone(),
                partitions: q.partitions,
                max_depth: q.max_depth,
                visibility: Duration::from_nanos(q.visibility_ns),
                max_receives: q.max_receives,
                session_timeout: Duration::from_nanos(q.session_timeout_ns),
            })
            .collect();
        let fsync = match self.fsync_every_ns {
            None => QueueFsync::Never,
            Some(0) => QueueFsync::Always,
            Some(every) => QueueFsync::Interval(Duration::from_nanos(every)),
        };
        let send_wait = (self.send_wait_ns > 0).then(|| Duration::from_nanos(self.send_wait_ns));
        BrokerConfig { queues, fsync, send_wait }
    }

    /// Recovers the broker from the host's disk and serves it on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let host = BrokerHost::start(env.clone(), self.config())?;
        serve(env, super::SERVICE_PORT, capacity, host).await
    }
}

impl Start for QueuePlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
