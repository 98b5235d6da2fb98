//! The app kind: an application server doing cache-aside reads and write-then-invalidate
//! writes over a store, fixed (`db`, `read_from`), routed over a replicated group (`router`:
//! read/write splitting, lag bounds, read-your-writes tokens) or sharded over several by tenant
//! (`shards`, see `shards.rs`). Its settings, their checks and its start.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want, expect, members, ns};
use crate::plant::Plant;
use crate::scenario::spans::Seg;
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::app::http::{HttpFront, serve_http};
use faultline_models::seam::Env;
use faultline_models::server::{Capacity, serve};
use faultline_models::{app, router};
use rand::RngCore;

mod enqueue;
mod limit;
mod page;
mod resilience;
mod session;
mod shards;
mod tier;

pub use enqueue::{EnqueuePlan, EnqueueSpec, OnSpec};
pub use limit::{FailSpec, KeySpec, RateLimitPlan, RateLimitSpec, ScopeSpec};
pub(crate) use page::page_ratio;
pub use page::{FanoutSpec, PagePlan, PageSpec, PartPlan, PartSpec};
pub use resilience::{BreakerPlan, BreakerSpec, WindowPlan};
pub use session::{SessionsPlan, SessionsSpec};
pub use shards::{MAX_GROUPS, ShardsPlan, ShardsSpec};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
pub use tier::{
    AdmissionSpec, EjectSpec, L1Spec, MAX_TIER_NODES, OnWriteSpec, ShardSpec, StampedeSpec, TierPlan, TierSpec,
};

/// An application server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppService {
    /// Host name of the primary database (or of a pool in front of it): writes go there.
    /// Give `db`, `router` or `shards`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub db: Option<Sp<String>>,
    /// Route to a replicated store by probing its nodes: writes to the primary, reads by
    /// policy. Give `db`, `router` or `shards`.
    #[serde(default)]
    pub router: Option<RouterSpec>,
    /// A sharded database: several replicated groups, each key placed by its tenant. Give
    /// `db`, `router` or `shards`.
    #[serde(default)]
    pub shards: Option<Box<ShardsSpec>>,
    /// Open a new connection for every call to the store, as an app without a connection
    /// pool does. Default false.
    #[serde(default)]
    pub connect_per_request: bool,
    /// Host name to read from on a cache miss. Default: `db`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_from: Option<Sp<String>>,
    /// Host name of the cache (one L2 node, read cache-aside, invalidated on write). Default:
    /// no cache. For several L2 nodes, an L1 or stampede protection, give `tier` instead.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cache: Option<Sp<String>>,
    /// The cache tier in full. Give `cache` or `tier`, not both.
    #[serde(default)]
    pub tier: Option<Box<TierSpec>>,
    /// Timeout of each call to a dependency. Default "100ms".
    #[serde(default = "default_dep_timeout")]
    pub timeout: Dur,
    /// What the app speaks to its clients: "framed" (Faultline's own protocol) or "http"
    /// (HTTP/1.1: `GET`/`PUT`/`DELETE /items/{key}`, `GET /health`). Default "framed".
    #[serde(default)]
    pub protocol: ProtocolSpec,
    /// With `protocol = "http"`: the longest a request's work may take once it has a worker;
    /// past it the answer is `504`. Default "1s".
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Dur,
    /// A circuit breaker around reads from `read_from` (a replica): while it is open, reads go
    /// straight to `db`. Default: none.
    #[serde(default)]
    pub replica_breaker: Option<Box<BreakerSpec>>,
    /// The third-party payment API `POST /checkout` calls. Default: none.
    #[serde(default)]
    pub payment: Option<Box<PaymentSpec>>,
    /// With `protocol = "http"`: a rate limit on `/items/*` and `/checkout` (`429` over it).
    /// Default: none.
    #[serde(default)]
    pub rate_limit: Option<Box<RateLimitSpec>>,
    /// With `protocol = "http"`: user sessions, "memory" (each instance's own) or "cache" (in
    /// the app's L2 cache nodes): `POST /login`, then a `session` cookie on every `/items/*`
    /// and `/checkout` request (`401` without a live one). Default: none.
    #[serde(default)]
    pub sessions: Option<SessionsSpec>,
    /// How long a session lasts after its login. Default "30m".
    #[serde(default = "session::default_session_ttl")]
    pub session_ttl: Dur,
    /// With `protocol = "http"`: the page `GET /page/{key}` composes from its parts, in
    /// process or on `service` hosts. Default: none.
    #[serde(default)]
    pub page: Option<Box<PageSpec>>,
    /// With `protocol = "http"`: the `Cache-Control` of `GET /items/{key}`'s `200` and `404`
    /// answers, e.g. "max-age=5, stale-if-error=60" (what a CDN edge in front stores by).
    /// Default: no header.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cache_control: Option<Sp<String>>,
    /// A queue each successful write (or checkout) sends one message to, before the client is
    /// answered: `{ broker = "mq", queue = "jobs", on = "write" }`. Default: none.
    #[serde(default)]
    pub enqueue: Option<Box<EnqueueSpec>>,
}

fn default_request_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// The payment API an app's checkout calls.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentSpec {
    /// Its host: a `payment` service.
    #[schemars(with = "String")]
    pub host: Sp<String>,
    /// The longest a charge may take. Default "1s".
    #[serde(default = "default_request_timeout")]
    pub timeout: Dur,
    /// A circuit breaker around its calls. Default: none.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
}

/// What an app speaks to its clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolSpec {
    /// Faultline's framed protocol, the store's API.
    #[default]
    Framed,
    /// HTTP/1.1, keep-alive.
    Http,
}

fn default_dep_timeout() -> Dur {
    Dur(Duration::from_millis(100))
}

/// Read/write routing over a replicated store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// The kv nodes: a primary and its replicas.
    #[schemars(with = "Vec<String>")]
    pub members: Vec<Sp<String>>,
    /// Where reads go: "primary", "round_robin" or "least_lag" over the replicas. Default
    /// "round_robin".
    #[serde(default)]
    pub reads: ReadsSpec,
    /// Replicas lagging more than this are not read from. Default: no bound.
    #[serde(default)]
    pub max_lag: Option<Dur>,
    /// A read carrying a user's LSN token goes to a replica that has applied it, or to the
    /// primary. Default false.
    #[serde(default)]
    pub read_your_writes: bool,
    /// How often the router asks every node for its role and position. Default "200ms".
    #[serde(default = "default_probe_every")]
    pub probe_every: Dur,
}

fn default_probe_every() -> Dur {
    Dur(Duration::from_millis(200))
}

/// Where a router sends reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadsSpec {
    /// Always the primary.
    Primary,
    /// The eligible replicas in turn.
    #[default]
    RoundRobin,
    /// The eligible replica with the least lag.
    LeastLag,
}

/// An app in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppPlan {
    /// Where its store calls go.
    pub store: StorePlan,
    /// Its cache tier, if it has one.
    pub cache: Option<TierPlan>,
    /// Timeout of each call to a dependency, nanoseconds.
    pub timeout_ns: u64,
    /// A new connection for every call to the store.
    pub connect_per_request: bool,
    /// What it speaks to its clients.
    pub protocol: ProtocolSpec,
    /// With HTTP: the longest a request's work may take, nanoseconds.
    pub request_timeout_ns: u64,
    /// A breaker around replica reads.
    pub replica_breaker: Option<Box<BreakerPlan>>,
    /// The payment API: "host:port", charge timeout in nanoseconds, breaker.
    pub payment: Option<Box<(String, u64, Option<BreakerPlan>)>>,
    /// The rate limit on the HTTP front.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Box<RateLimitPlan>>,
    /// User sessions on the HTTP front.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionsPlan>,
    /// The page and its parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Box<PagePlan>>,
    /// The `Cache-Control` of the HTTP front's reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The queue successful writes or checkouts send a message to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueue: Option<Box<EnqueuePlan>>,
    /// Whether its HTTP front publishes its health answers (a deploy's pool member).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub publish_health: bool,
    /// Planted bug (tests of the checks only): a write updates the cache before the store.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plant_invalidate_before_write: bool,
}

/// Where an app's store calls go, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorePlan {
    /// Writes to one address, reads (on a cache miss) to another (or the same).
    Fixed {
        /// "host:port" writes go to.
        write: String,
        /// "host:port" reads go to.
        read: String,
    },
    /// Routed over a replicated group.
    Routed(RoutedPlan),
    /// A sharded database.
    Sharded(Box<ShardsPlan>),
}

/// A router over a replicated group, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutedPlan {
    /// "host:port" of each member.
    pub members: Vec<String>,
    /// Where reads go.
    pub reads: ReadsSpec,
    /// Replicas lagging more than this are not read from, nanoseconds.
    pub max_lag_ns: Option<u64>,
    /// Reads carrying a token go where it has been applied.
    pub read_your_writes: bool,
    /// How often the router probes the members, nanoseconds.
    pub probe_every_ns: u64,
}

impl RouterSpec {
    fn compile(&self, cx: &PlanContext) -> RoutedPlan {
        RoutedPlan {
            members: cx.addrs(&self.members),
            reads: self.reads,
            max_lag_ns: self.max_lag.map(|d| ns(d.0)),
            read_your_writes: self.read_your_writes,
            probe_every_ns: ns(self.probe_every.0),
        }
    }
}

impl RoutedPlan {
    fn config(&self) -> router::RouterConfig {
        router::RouterConfig {
            members: self.members.clone(),
            reads: match self.reads {
                ReadsSpec::Primary => router::ReadPolicy::Primary,
                ReadsSpec::RoundRobin => router::ReadPolicy::RoundRobin,
                ReadsSpec::LeastLag => router::ReadPolicy::LeastLag,
            },
            max_lag: self.max_lag_ns.map(Duration::from_nanos),
            read_your_writes: self.read_your_writes,
            probe_every: Duration::from_nanos(self.probe_every_ns),
        }
    }
}

impl Kind for AppService {
    type Plan = AppPlan;
    /// Load generators read and write through it.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    /// The store's API over the framed protocol, or the app's HTTP API.
    fn load(&self) -> Option<LoadApi> {
        Some(match self.protocol {
            ProtocolSpec::Framed => LoadApi::Store,
            ProtocolSpec::Http => LoadApi::Http,
        })
    }

    fn kind(&self) -> &'static str {
        "app"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::HttpApp => self.protocol == ProtocolSpec::Http,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    /// Its tier's nodes, or its one `cache`.
    fn shards(&self) -> &[Sp<String>] {
        match (&self.tier, &self.cache) {
            (Some(tier), _) => &tier.nodes,
            (None, Some(cache)) => std::slice::from_ref(cache),
            (None, None) => &[],
        }
    }

    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        self.validate_store(c, index, host);
        if let Some(read_from) = &self.read_from {
            if self.router.is_some() || self.shards.is_some() {
                let message =
                    "`read_from` has no effect with a `router` or `shards`; expected the router's `reads`".into();
                c.report(read_from.span(), "with a router", message);
            }
            expect(c, read_from, Want::Kv, "an app's `read_from`");
        }
        if let Some(cache) = &self.cache {
            expect(c, cache, Want::Cache, "an app's `cache`");
        }
        if let Some(q) = &self.enqueue {
            q.validate(c);
        }
        if let Some(tier) = &self.tier {
            tier.validate(c, index, host, self.cache.is_some());
        }
        let app_path = |key: &'static str| {
            [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("app"), Seg::Key(key)]
        };
        if let Some(breaker) = &self.replica_breaker {
            let span = c.span_at(&app_path("replica_breaker"), host.name.span());
            if self.read_from.is_none() {
                let message = "`replica_breaker` guards reads from `read_from`, which this app does not set; expected `read_from = \"<a replica>\"`".into();
                c.report(span.clone(), "no replica", message);
            }
            breaker.validate(c, span, "`replica_breaker`");
        }
        if let Some(payment) = &self.payment {
            expect(c, &payment.host, Want::Payment, "an app's `payment.host`");
            if self.protocol != ProtocolSpec::Http {
                let message =
                    "`payment` is called by `POST /checkout`, which only an app with protocol = \"http\" serves".into();
                c.report(payment.host.span(), "not over HTTP", message);
            }
            if let Some(breaker) = &payment.breaker {
                let span = c.span_at(&app_path("payment"), host.name.span());
                breaker.validate(c, span, "`payment.breaker`");
            }
        }
        if let Some(limit) = &self.rate_limit {
            let span = c.span_at(&app_path("rate_limit"), host.name.span());
            limit.validate(c, span, self.protocol == ProtocolSpec::Http);
        }
        if let Some(sessions) = self.sessions {
            let span = c.span_at(&app_path("sessions"), host.name.span());
            let ttl_span = c.span_at(&app_path("session_ttl"), span.clone());
            let has_cache = self.cache.is_some() || self.tier.is_some();
            let is_http = self.protocol == ProtocolSpec::Http;
            session::validate(c, sessions, self.session_ttl, is_http, has_cache, (span, ttl_span));
        }
        if let Some(page) = &self.page {
            let span = c.span_at(&app_path("page"), host.name.span());
            page.validate(c, index, span, self.protocol == ProtocolSpec::Http);
        }
        if let Some(cc) = &self.cache_control {
            cache_control(c, cc, self.protocol == ProtocolSpec::Http);
        }
        if self.request_timeout.0.is_zero() {
            let path = [
                Seg::Key("hosts"),
                Seg::Index(index),
                Seg::Key("service"),
                Seg::Key("app"),
                Seg::Key("request_timeout"),
            ];
            let span = c.span_at(&path, host.name.span());
            let message = "an app's `request_timeout` is 0; expected a duration above 0, e.g. \"1s\"".into();
            c.report(span, "zero", message);
        }
        if self.timeout.0.is_zero() {
            let path =
                [Seg::Key("hosts"), Seg::Index(index), Seg::Key("service"), Seg::Key("app"), Seg::Key("timeout")];
            let span = c.span_at(&path, host.name.span());
            let message = "an app's `timeout` is 0; expected a timeout longer than 0, e.g. \"100ms\"".into();
            c.report(span, "zero", message);
        }
    }

    /// The plan of a validated app (it has `db`, `router` or `shards`).
    fn compile(&self, name: &str, cx: &PlanContext) -> AppPlan {
        let store = match (&self.router, &self.shards, &self.db) {
            (Some(r), _, _) => StorePlan::Routed(r.compile(cx)),
            (None, Some(shards), _) => StorePlan::Sharded(Box::new(shards.compile(cx))),
            (None, None, db) => {
                let db = db.as_ref().expect("validated: an app has `db`, `router` or `shards`");
                let read = self.read_from.as_ref().unwrap_or(db);
                StorePlan::Fixed { write: cx.addr(db), read: cx.addr(read) }
            }
        };
        let cache = match (&self.tier, &self.cache) {
            (Some(tier), _) => Some(tier.compile(cx)),
            (None, Some(node)) => Some(TierPlan::single(node, cx)),
            (None, None) => None,
        };
        AppPlan {
            store,
            cache,
            timeout_ns: ns(self.timeout.0),
            connect_per_request: self.connect_per_request,
            protocol: self.protocol,
            request_timeout_ns: ns(self.request_timeout.0),
            replica_breaker: self.replica_breaker.as_ref().map(|b| Box::new(b.compile().planted(cx))),
            payment: self.payment.as_ref().map(|payment| {
                let breaker = payment.breaker.as_ref().map(|b| b.compile().planted(cx));
                Box::new((cx.addr(&payment.host), ns(payment.timeout.0), breaker))
            }),
            rate_limit: self.rate_limit.as_ref().map(|limit| Box::new(limit.compile(|node| cx.addr(node)))),
            sessions: self.sessions.map(|spec| session::compile(spec, self.session_ttl)),
            page: self.page.as_ref().map(|page| {
                let mut plan = page.compile(|part| cx.addr(part));
                for part in &mut plan.parts {
                    part.breaker = part.breaker.take().map(|b| b.planted(cx));
                }
                Box::new(plan)
            }),
            cache_control: self.cache_control.as_ref().map(|cc| cc.get_ref().clone()),
            enqueue: self.enqueue.as_ref().map(|q| Box::new(q.compile(cx))),
            publish_health: cx.probed.contains(name),
            plant_invalidate_before_write: cx.plants(Plant::InvalidateBeforeWrite),
        }
    }
}

impl AppService {
    /// Checks that the app has exactly one of `db`, `router` and `shards`, and that one.
    fn validate_store(&self, c: &mut Checker, index: usize, host: &Host) {
        let given = [self.db.is_some(), self.router.is_some(), self.shards.is_some()];
        match given.iter().filter(|g| **g).count() {
            0 => {
                let message = format!(
                    "app {:?} has neither `db`, `router` nor `shards`; expected db = \"<a kv primary or pool>\", a `router` or `shards`",
                    host.name.get_ref()
                );
                c.report(host.name.span(), "no store", message);
            }
            1 => {}
            _ => {
                let message =
                    "an app has more than one of `db`, `router` and `shards`; expected one of them".to_string();
                let span = self.db.as_ref().map_or_else(|| host.name.span(), |db| db.span());
                c.report(span, "more than one store", message);
            }
        }
        if let Some(db) = &self.db {
            expect(c, db, Want::Store, "an app's `db`");
        }
        if let Some(router) = &self.router {
            members(c, &router.members, host.name.span(), "a router");
        }
        if let Some(shards) = &self.shards {
            shards.validate(c, index, host);
        }
    }
}

/// Checks an app's `cache_control`: an HTTP app's, a valid header value.
fn cache_control(c: &mut Checker, cc: &Sp<String>, http: bool) {
    if !http {
        let message =
            "`cache_control` marks the HTTP front's reads, which only an app with protocol = \"http\" has".into();
        c.report(cc.span(), "not over HTTP", message);
    }
    let text = cc.get_ref();
    // What a header value may hold: visible ASCII, spaces and tabs.
    let visible = text.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    if text.trim().is_empty() || !visible {
        let message = format!(
            "`cache_control` {text:?} is not a header value; expected directives such as \"max-age=5, stale-if-error=60\""
        );
        c.report(cc.span(), "not a header value", message);
    }
}

impl AppPlan {
    fn config(&self, seed: u64) -> app::AppConfig {
        let db = match &self.store {
            StorePlan::Fixed { write, read } => {
                app::DbRoute::Fixed { write_addr: write.clone(), read_addr: read.clone() }
            }
            StorePlan::Routed(routed) => app::DbRoute::Routed(routed.config()),
            StorePlan::Sharded(shards) => shards.config(),
        };
        let timeout = Duration::from_nanos(self.timeout_ns);
        app::AppConfig {
            db,
            cache: self.cache.as_ref().map(|tier| tier.config(timeout, seed)),
            timeout,
            connect_per_request: self.connect_per_request,
            replica_breaker: self.replica_breaker.as_ref().map(|b| b.config()),
            payment: self.payment.as_deref().map(|(addr, timeout_ns, breaker)| app::PaymentConfig {
                addr: addr.clone(),
                timeout: Duration::from_nanos(*timeout_ns),
                breaker: breaker.as_ref().map(BreakerPlan::config),
            }),
            rate_limit: self.rate_limit.as_deref().map(RateLimitPlan::config),
            page: self.page.as_deref().map(PagePlan::config),
            enqueue: self.enqueue.as_deref().map(EnqueuePlan::config),
            plant_invalidate_before_write: self.plant_invalidate_before_write,
        }
    }

    /// Serves the app on the service port.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let seed = env.rng("l1-admission").next_u64();
        let app = app::App::new(env.clone(), &self.config(seed)).map_err(std::io::Error::other)?;
        match self.protocol {
            ProtocolSpec::Framed => serve(env, super::SERVICE_PORT, capacity, app).await,
            ProtocolSpec::Http => {
                let front = HttpFront {
                    request_timeout: Duration::from_nanos(self.request_timeout_ns),
                    sessions: self.sessions.as_ref().map(SessionsPlan::config),
                    // Validated: a header value.
                    cache_control: self.cache_control.as_deref().and_then(|cc| cc.parse().ok()),
                    publish_health: self.publish_health,
                    ..HttpFront::default()
                };
                serve_http(env, super::SERVICE_PORT, capacity, app, front).await
            }
        }
    }
}

impl Start for AppPlan {
    fn shards(&self) -> Vec<&str> {
        self.cache.iter().flat_map(|tier| tier.nodes.iter().map(|(name, _)| name.as_str())).collect()
    }

    fn notes(&self, keys: u64) -> Vec<String> {
        self.cache.iter().filter_map(|tier| tier.spread_note(keys)).collect()
    }

    fn db_groups(&self, tenants: &[String]) -> Vec<super::DbGroup> {
        match &self.store {
            StorePlan::Sharded(shards) => shards.db_groups(tenants),
            StorePlan::Fixed { .. } | StorePlan::Routed(_) => Vec::new(),
        }
    }

    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
