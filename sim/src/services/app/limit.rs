//! An app's rate limit in a scenario: its settings (`rate_limit = { rate, burst, key, scope,
//! node, fail, timeout }`), their located checks, their plan and the model's configuration
//! built from it.
//!
//! Must not: know how a limiter decides (that is `faultline_models::ratelimit`).

use super::super::{Want, expect, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Sp};
use faultline_models::app::LimitKey;
use faultline_models::ratelimit::{FailMode, LimitConfig, Rate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::Duration;

/// A rate limit on an HTTP app's `/items/*` and `/checkout` (GCRA: `burst + 1` at once, then
/// `rate` a second).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests a second, in the long run (above 0).
    pub rate: f64,
    /// Requests allowed at once beyond the steady rate. Default 0.
    #[serde(default)]
    pub burst: u64,
    /// What requests count against: "user" (the `x-user` header) or "global". Default "user".
    #[serde(default)]
    pub key: KeySpec,
    /// Where the state lives: "local" (each app instance on its own) or "shared" (an L2 cache
    /// node's `CL.THROTTLE`). Default "local".
    #[serde(default)]
    pub scope: ScopeSpec,
    /// With scope "shared": the cache host that keeps the state.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub node: Option<Sp<String>>,
    /// With scope "shared": what to do when the node cannot answer, "open" (admit) or
    /// "closed" (refuse). Default "open".
    #[serde(default)]
    pub fail: Option<FailSpec>,
    /// With scope "shared": the longest a check waits for the node. Default "50ms".
    #[serde(default)]
    pub timeout: Option<Dur>,
}

/// What a rate limit counts requests against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeySpec {
    /// Each user on its own.
    #[default]
    User,
    /// Every request together.
    Global,
}

/// Where a rate limit keeps its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeSpec {
    /// In each app instance's memory.
    #[default]
    Local,
    /// On one cache node, for every instance.
    Shared,
}

/// What a shared limiter does without its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailSpec {
    /// Admit.
    #[default]
    Open,
    /// Refuse.
    Closed,
}

/// A rate limit in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitPlan {
    /// Requests a second.
    pub rate: f64,
    /// Burst.
    pub burst: u64,
    /// What requests count against.
    pub key: KeySpec,
    /// Shared: the node's "host:port", the fail mode and the check timeout in nanoseconds;
    /// `None`: local.
    pub shared: Option<(String, FailSpec, u64)>,
}

fn default_timeout() -> Duration {
    Duration::from_millis(50)
}

impl RateLimitSpec {
    /// Checks the settings; `span` locates `rate_limit` in the file, `http` says whether the
    /// app speaks HTTP.
    pub(super) fn validate(&self, c: &mut Checker, span: Range<usize>, http: bool) {
        if !http {
            let message = "`rate_limit` limits the HTTP front, which only an app with protocol = \"http\" has".into();
            c.report(span.clone(), "not over HTTP", message);
        }
        match (self.scope, &self.node) {
            (ScopeSpec::Shared, Some(node)) => expect(c, node, Want::Cache, "a shared `rate_limit`'s `node`"),
            (ScopeSpec::Shared, None) => {
                let message = "a shared `rate_limit` needs its cache node; expected node = \"<a cache host>\"".into();
                c.report(span.clone(), "no node", message);
            }
            (ScopeSpec::Local, _) if self.node.is_some() || self.fail.is_some() || self.timeout.is_some() => {
                let message =
                    "`node`, `fail` and `timeout` apply to a shared `rate_limit` only; expected scope = \"shared\""
                        .into();
                c.report(span.clone(), "not shared", message);
            }
            (ScopeSpec::Local, _) => {}
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            let message = format!("`rate_limit.rate` is {}; expected requests a second above 0, e.g. 100", self.rate);
            c.report(span, "not a rate", message);
            return;
        }
        let (config, _) = self.compile_with(String::from("node:0")).config();
        if let Err(e) = config.validate() {
            c.report(span, "not a valid rate limit", format!("`rate_limit`: {e}"));
        }
    }

    /// The plan; `addr` turns the node's name into its address.
    pub(super) fn compile(&self, addr: impl Fn(&Sp<String>) -> String) -> RateLimitPlan {
        self.compile_with(self.node.as_ref().map(addr).unwrap_or_default())
    }

    fn compile_with(&self, node_addr: String) -> RateLimitPlan {
        let shared = match self.scope {
            ScopeSpec::Local => None,
            ScopeSpec::Shared => {
                Some((node_addr, self.fail.unwrap_or_default(), ns(self.timeout.map_or_else(default_timeout, |d| d.0))))
            }
        };
        RateLimitPlan { rate: self.rate, burst: self.burst, key: self.key, shared }
    }
}

impl RateLimitPlan {
    /// The model's configuration and key.
    pub(super) fn config(&self) -> (LimitConfig, LimitKey) {
        let rate = Rate::PerSecond(self.rate);
        let limit = match &self.shared {
            None => LimitConfig::local(rate, self.burst),
            Some((addr, fail, timeout_ns)) => {
                let fail = match fail {
                    FailSpec::Open => FailMode::Open,
                    FailSpec::Closed => FailMode::Closed,
                };
                LimitConfig::shared(rate, self.burst, addr.clone(), fail, Duration::from_nanos(*timeout_ns))
            }
        };
        let key = match self.key {
            KeySpec::User => LimitKey::User,
            KeySpec::Global => LimitKey::Global,
        };
        (limit, key)
    }
}
