//! An app's user sessions in a scenario: `sessions = "memory" | "cache" | "token"` and `session_ttl`,
//! their located checks, their plan and the model's configuration built from it.
//!
//! Must not: know how sessions are stored or judged (that is `faultline_models::app::session`).

use super::super::ns;
use crate::scenario::Dur;
use crate::scenario::validate::Checker;
use faultline_models::app::session::{SessionConfig, SessionStore};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::Duration;

/// Where an HTTP app keeps its users' sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionsSpec {
    /// In each instance's memory: lost when it restarts, unknown to the other instances.
    Memory,
    /// In the L2 nodes of the app's cache (`cache` or `tier`): every instance knows them.
    Cache,
    /// Nowhere: a signed token in the cookie, which every app of the scenario accepts.
    Token,
}

/// The key every app of a scenario signs its session tokens with: one fleet, one key, so a
/// token made by any instance, in any region, is good on every other.
const FLEET_KEY: u64 = 0xfa17_1173_5e55_1015;

/// The default `session_ttl`: "30m".
pub(super) fn default_session_ttl() -> Dur {
    Dur(Duration::from_secs(30 * 60))
}

/// Sessions in the run plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SessionsPlan {
    /// Where they live.
    pub store: SessionsSpec,
    /// How long one lasts after its login, nanoseconds.
    pub ttl_ns: u64,
}

/// What an app with `sessions` set needs: HTTP, a cache for "cache", a TTL above 0. `span` is
/// the `sessions` value's, `ttl_span` the `session_ttl` value's (or `span`'s when defaulted).
pub(super) fn validate(
    c: &mut Checker,
    spec: SessionsSpec,
    ttl: Dur,
    is_http: bool,
    has_cache: bool,
    spans: (Range<usize>, Range<usize>),
) {
    let (span, ttl_span) = spans;
    if !is_http {
        let message =
            "`sessions` are kept by an app's HTTP front (`POST /login`, a cookie); expected protocol = \"http\"".into();
        c.report(span.clone(), "not over HTTP", message);
    }
    if spec == SessionsSpec::Cache && !has_cache {
        let message =
            "sessions = \"cache\" keeps them in the app's L2 cache, which this app has none of; expected `cache = \"<a cache host>\"` or a `tier`".into();
        c.report(span, "no cache", message);
    }
    if ttl.0.is_zero() {
        let message = "`session_ttl` is 0; expected a duration above 0, e.g. \"30m\"".into();
        c.report(ttl_span, "zero", message);
    }
}

/// The plan of validated sessions.
pub(super) fn compile(spec: SessionsSpec, ttl: Dur) -> SessionsPlan {
    SessionsPlan { store: spec, ttl_ns: ns(ttl.0) }
}

impl SessionsPlan {
    /// The model's configuration.
    pub(super) fn config(&self) -> SessionConfig {
        let store = match self.store {
            SessionsSpec::Memory => SessionStore::Memory,
            SessionsSpec::Cache => SessionStore::Cache,
            SessionsSpec::Token => SessionStore::Token { key: FLEET_KEY },
        };
        SessionConfig { store, ttl: Duration::from_nanos(self.ttl_ns) }
    }
}
