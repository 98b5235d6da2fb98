//! The cdn kind: a CDN edge, an HTTP caching reverse proxy in front of one origin (an HTTP app,
//! a load balancer, or another edge as an origin shield), storing `GET` answers by their
//! `Cache-Control`, collapsing concurrent misses, serving stale copies as
//! `stale-while-revalidate` and `stale-if-error` allow, purged by the `cdn_purge` fault. Its
//! settings, their checks, its plan and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Size, Sp};
use crate::world::SimEnv;
use faultline_models::cdn::{EdgeConfig, serve_edge};
use faultline_models::server::Capacity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A CDN edge's settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CdnService {
    /// The origin: an app with protocol = "http", a load balancer, or another edge.
    #[schemars(with = "String")]
    pub origin: Sp<String>,
    /// The store's size ("64MB", or bytes); least recently used answers are evicted past it.
    /// Default "64MB".
    #[serde(default = "default_capacity")]
    pub capacity: Size,
    /// How long one origin request may take, connecting included (`504` after, or a stale
    /// copy within `stale-if-error`). Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// The most connections the edge opens to its origin at once. Default 1024.
    #[serde(default = "default_origin_connections")]
    pub origin_connections: u32,
}

fn default_capacity() -> Size {
    Size(64 << 20)
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_origin_connections() -> u32 {
    1024
}

/// A CDN edge in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdnPlan {
    /// The origin's name and "host:port".
    pub origin: (String, String),
    /// The store's size, bytes.
    pub capacity_bytes: u64,
    /// Origin timeout, nanoseconds.
    pub timeout_ns: u64,
    /// Connections to the origin at most.
    pub origin_connections: u32,
}

impl Kind for CdnService {
    type Plan = CdnPlan;
    /// Load generators send it the app's HTTP API.
    const LOAD: Option<LoadApi> = Some(LoadApi::Http);

    fn kind(&self) -> &'static str {
        "cdn"
    }

    /// An edge passes the app's API through, so it stands in for an HTTP app (an origin
    /// shield is an edge whose edges call it their origin).
    fn provides(&self, want: Want) -> bool {
        match want {
            Want::HttpApp | Want::Cdn => true,
            Want::KvPrimary | Want::Kv | Want::Cache | Want::Store | Want::Payment | Want::Service | Want::Queue => {
                false
            }
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        expect(c, &self.origin, Want::HttpApp, "a cdn's `origin`");
        if self.origin.get_ref() == host.name.get_ref() {
            let message = format!("{:?} is the edge itself; expected another host", self.origin.get_ref());
            c.report(self.origin.span(), "not an origin", message);
        }
        if self.timeout.0.is_zero() {
            c.report(host.name.span(), "zero", "a cdn's `timeout` is 0; expected a duration above 0".into());
        }
        if self.capacity.0 == 0 {
            c.report(host.name.span(), "zero", "a cdn's `capacity` is 0; expected a size such as \"64MB\"".into());
        }
        if self.origin_connections == 0 {
            let message = "a cdn's `origin_connections` is 0; expected at least 1".into();
            c.report(host.name.span(), "zero", message);
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> CdnPlan {
        CdnPlan {
            origin: (self.origin.get_ref().clone(), cx.addr(&self.origin)),
            capacity_bytes: self.capacity.0,
            timeout_ns: ns(self.timeout.0),
            origin_connections: self.origin_connections,
        }
    }
}

impl CdnPlan {
    fn config(&self) -> EdgeConfig {
        EdgeConfig {
            origin: self.origin.1.clone(),
            capacity_bytes: usize::try_from(self.capacity_bytes).unwrap_or(usize::MAX),
            timeout: Duration::from_nanos(self.timeout_ns),
            origin_connections: self.origin_connections as usize,
        }
    }
}

impl Start for CdnPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(serve_edge(env, super::SERVICE_PORT, capacity.max_connections, self.config()))
    }
}
