//! The service kind: a part service, one HTTP microservice of the page an app composes
//! (`GET /part/{key}`, `GET /health`), with its host's own workers, queue and service time, and
//! optionally its own store (`db`, a kv node it reads the part's key from). Apps name it in
//! their page's parts (`page.parts[].host`); load generators do not call it.
//!
//! Must not: know the page or the parts' meaning (an app's page owns them).

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::server::Capacity;
use faultline_models::service::{ServiceConfig, serve_service};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A part service's settings: `{ service = { db = "profile-db" } }`, or `{ service = {} }`
/// for one that computes its part without a store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartService {
    /// Host name of its own store (a kv node, primary or replica), read for each part.
    /// Default: none (the part is computed from its work alone).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub db: Option<Sp<String>>,
    /// Timeout of each read of its store. Default "100ms".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_millis(100))
}

/// A part service in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartServicePlan {
    /// "host:port" of its store, if any.
    pub db: Option<String>,
    /// Timeout of each store read, nanoseconds.
    pub timeout_ns: u64,
}

impl Kind for PartService {
    type Plan = PartServicePlan;
    /// Only apps' pages call it.
    const LOAD: Option<LoadApi> = None;

    fn kind(&self) -> &'static str {
        "service"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Service => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::HttpApp
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        if let Some(db) = &self.db {
            expect(c, db, Want::Kv, "a service's `db`");
        }
        if self.timeout.0.is_zero() {
            let path =
                [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("service"), Seg::Key("timeout")];
            let span = c.span_at(&path, host.name.span());
            let message = "a service's `timeout` is 0; expected a timeout longer than 0, e.g. \"100ms\"".into();
            c.report(span, "zero", message);
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> PartServicePlan {
        PartServicePlan { db: self.db.as_ref().map(|db| cx.addr(db)), timeout_ns: ns(self.timeout.0) }
    }
}

impl Start for PartServicePlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        let config = ServiceConfig { db: self.db.clone(), timeout: Duration::from_nanos(self.timeout_ns) };
        Box::pin(serve_service(env, super::SERVICE_PORT, capacity, config))
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::validate::tests::check;

    const APP: &str = r#"service = { app = { db = "db", read_from = "replica", cache = "cache" } }"#;

    /// The quickstart with a part service `svc` of `settings` after its app.
    fn with_service(settings: &str) -> String {
        format!("{APP}\n\n[[hosts]]\nname = \"svc\"\nservice = {{ service = {settings} }}")
    }

    #[test]
    fn a_services_store_is_a_kv_node_and_its_timeout_is_positive() {
        check(APP, &with_service(r#"{ db = "replica" }"#), &[]);
        check(APP, &with_service("{}"), &[]);
        check(
            APP,
            &with_service(r#"{ db = "app", timeout = "0s" }"#),
            &[("a service's `db` must be a kv node", "\"app\""), ("a service's `timeout` is 0", "\"0s\"")],
        );
    }
}
