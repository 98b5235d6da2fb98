//! The failover kind: a controller that health-checks a replicated group's primary, grants it
//! a write lease, promotes the most caught-up replica when the primary fails, and makes the
//! others follow. Its settings, their checks (a lease must run out before a promotion) and its
//! start. It serves no workload.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, members, ns};
use crate::scenario::spans::{Seg, fmt_dur};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::failover;
use faultline_models::server::Capacity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

/// A failover controller in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverPlan {
    /// "host:port" of each member.
    pub members: Vec<String>,
    /// Interval between health checks, nanoseconds.
    pub check_every_ns: u64,
    /// How long the primary fails its checks before it is declared failed, nanoseconds.
    pub fail_after_ns: u64,
    /// The write lease each successful check grants, nanoseconds.
    pub lease_ns: u64,
    /// Timeout of each check, nanoseconds.
    pub timeout_ns: u64,
}

impl Kind for FailoverService {
    type Plan = FailoverPlan;
    /// It serves no workload.
    const LOAD: Option<LoadApi> = None;

    fn kind(&self) -> &'static str {
        "failover"
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

    fn manages(&self) -> &[Sp<String>] {
        &self.members
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        members(c, &self.members, host.name.span(), "a failover controller");
        let (lease, every, fail_after) = (self.lease.0, self.check_every.0, self.fail_after.0);
        if every.is_zero() || self.timeout.0.is_zero() || lease.is_zero() {
            let message = "a failover controller's `check_every`, `timeout` and `lease` must be longer than 0".into();
            c.report(host.name.span(), "zero", message);
        } else if fail_after < lease + every {
            let path = [
                Seg::Key("hosts"),
                Seg::Index(index),
                Seg::Key("service"),
                Seg::Key("failover"),
                Seg::Key("fail_after"),
            ];
            let span = c.span_at(&path, host.name.span());
            let message = format!(
                "fail_after {} is shorter than lease + check_every ({}): a new primary could be promoted while the old one still holds its lease; expected at least {}",
                fmt_dur(fail_after),
                fmt_dur(lease + every),
                fmt_dur(lease + every)
            );
            c.report(span, "shorter than lease + check_every", message);
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> FailoverPlan {
        FailoverPlan {
            members: cx.addrs(&self.members),
            check_every_ns: ns(self.check_every.0),
            fail_after_ns: ns(self.fail_after.0),
            lease_ns: ns(self.lease.0),
            timeout_ns: ns(self.timeout.0),
        }
    }
}

impl FailoverPlan {
    /// Runs the controller (it listens on no port).
    async fn run(self, env: SimEnv) -> std::io::Result<()> {
        let config = failover::FailoverConfig {
            members: self.members,
            check_every: Duration::from_nanos(self.check_every_ns),
            fail_after: Duration::from_nanos(self.fail_after_ns),
            lease: Duration::from_nanos(self.lease_ns),
            timeout: Duration::from_nanos(self.timeout_ns),
        };
        failover::run_controller(env, config).await
    }
}

impl Start for FailoverPlan {
    /// It only calls out: health checks, promotions, orders to follow.
    const LISTENS: bool = false;

    fn start(&self, env: SimEnv, _capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env))
    }
}
