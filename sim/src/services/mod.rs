//! The service kinds a host can run, and the registry that lists them.
//!
//! Each kind is one file here that owns everything the simulator knows of it: its scenario
//! settings (serde + schemars, with defaults; part of the file format, documented in
//! `docs/scenario.md`), their validation with located errors, the hosts they refer to, what
//! the kind offers to other hosts' references, whether and how load generators send it
//! requests ([`LoadApi`]), its compiled settings in the run plan (times in nanoseconds, host
//! names resolved), and how it starts on a host.
//!
//! The registry is the `registry!` invocation in this file: one line per kind generates the
//! [`Service`] enum (the file format), the [`ServicePlan`] enum (the plan) and every dispatch
//! over them (exhaustive matches). A kind's settings type implements [`Kind`], its plan
//! [`Start`]; so a new kind is its file and its line. Nothing outside this folder names a kind.
//!
//! Must not: know turmoil beyond [`SimEnv`] (a kind starts its model on the seam), or read a
//! scenario value after compilation (the world runs from the plan).

pub mod app;
pub mod cache;
pub mod cdn;
pub mod dns;
pub mod echo;
pub mod failover;
pub mod geo;
pub mod kv;
pub mod lb;
pub mod payment;
pub mod pool;
pub mod queue;
pub mod service;
pub mod worker;

use crate::scenario::validate::Checker;
use crate::scenario::{Host, Sp};
use crate::world::SimEnv;
use faultline_models::server::Capacity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::pin::Pin;

/// The port every simulated service listens on.
pub const SERVICE_PORT: u16 = 7000;

/// "host:port" of a service host.
pub(crate) fn addr(host: &str) -> String {
    format!("{host}:{SERVICE_PORT}")
}

/// What a kind's settings tell the simulator; implemented by each kind's scenario settings type.
pub(crate) trait Kind {
    /// The kind's compiled settings in the run plan.
    type Plan;
    /// The requests load generators may send any host of the kind; `None`: it serves no workload.
    const LOAD: Option<LoadApi>;
    /// The requests load generators may send this host (its settings may choose the protocol).
    fn load(&self) -> Option<LoadApi> {
        Self::LOAD
    }
    /// The kind's name as reports and traces show it.
    fn kind(&self) -> &'static str;
    /// Whether a host of this kind is what `want` asks a reference to be.
    fn provides(&self, want: Want) -> bool;
    /// The hosts whose replication group it manages (a failover controller's members).
    fn manages(&self) -> &[Sp<String>] {
        &[]
    }
    /// The L2 cache nodes it spreads keys over, in order (an app's cache tier): what a shard
    /// leaving or joining may name.
    fn shards(&self) -> &[Sp<String>] {
        &[]
    }
    /// The backends it balances over, in order (a load balancer's): what an autoscaled pool's
    /// instances must be among.
    fn backends(&self) -> &[Sp<String>] {
        &[]
    }
    /// Checks the settings of host `index` (`host`), reporting located findings.
    fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
        let _ = (c, index, host);
    }
    /// The settings compiled for the plan of the host named `name`.
    fn compile(&self, name: &str, cx: &PlanContext) -> Self::Plan;
}

/// How a kind's compiled settings run on a host.
pub(crate) trait Start {
    /// Whether it listens on the service port.
    const LISTENS: bool = true;
    /// The host names of the L2 cache nodes it spreads keys over, in order (see
    /// [`Kind::shards`]).
    fn shards(&self) -> Vec<&str> {
        Vec::new()
    }
    /// Lines the plan's text adds under the host: what the settings imply for a workload of
    /// `keys` keys (how an app's cache tier spreads them). Default: none.
    fn notes(&self, keys: u64) -> Vec<String> {
        let _ = keys;
        Vec::new()
    }
    /// The replication groups of the sharded database it routes to, and which of the
    /// workload's `tenants` each holds (an app with `shards`). Default: none.
    fn db_groups(&self, tenants: &[String]) -> Vec<DbGroup> {
        let _ = tenants;
        Vec::new()
    }
    /// The future the host runs (again after every restart), with the host's capacity.
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running;
}

/// One replication group of a sharded database, as an app routes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbGroup {
    /// Its name.
    pub name: String,
    /// Its kv nodes' host names.
    pub members: Vec<String>,
    /// The workload's tenants (by index) whose keys it holds.
    pub tenants: Vec<u16>,
}

/// Generates the [`Service`] and [`ServicePlan`] enums and every dispatch over them from one
/// line per kind: `Variant = path::UnitSettings => path::Plan` for a kind without settings
/// (written as a bare string in the file), `Variant(path::Settings) => path::Plan` otherwise.
/// Each dispatch is an exhaustive match, generated, so a kind is registered by its line alone.
macro_rules! registry {
    (
        unit { $( $(#[$udoc:meta])* $uvariant:ident = $uspec:path => $uplan:ty ),* $(,)? }
        data { $( $(#[$doc:meta])* $variant:ident ( $spec:ty ) => $plan:ty ),* $(,)? }
    ) => {
        /// The services a host can run: the file format, one variant per kind.
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum Service {
            $( $(#[$udoc])* $uvariant, )*
            $( $(#[$doc])* $variant($spec), )*
        }

        /// A host's service as the run plan holds it: settings compiled, names resolved.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ServicePlan {
            $( $(#[$udoc])* $uvariant($uplan), )*
            $( $(#[$doc])* $variant($plan), )*
        }

        impl Service {
            /// Every kind's variant name (`Kv`, `Echo`), in the registry's order: a scenario
            /// file writes it in snake case (`scenario::cost::kinds`).
            pub const VARIANTS: &'static [&'static str] =
                &[$( stringify!($uvariant), )* $( stringify!($variant), )*];

            /// The kind's name as reports and traces show it.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Service::$uvariant => Kind::kind(&$uspec), )*
                    $( Service::$variant(s) => Kind::kind(s), )*
                }
            }

            /// Whether this service is what `want` asks a reference to be.
            pub(crate) fn provides(&self, want: Want) -> bool {
                match self {
                    $( Service::$uvariant => Kind::provides(&$uspec, want), )*
                    $( Service::$variant(s) => Kind::provides(s, want), )*
                }
            }

            /// The requests load generators may send it; `None`: it serves no workload.
            pub(crate) fn load_api(&self) -> Option<LoadApi> {
                match self {
                    $( Service::$uvariant => Kind::load(&$uspec), )*
                    $( Service::$variant(s) => Kind::load(s), )*
                }
            }

            /// The hosts whose replication group it manages.
            pub(crate) fn manages(&self) -> &[Sp<String>] {
                match self {
                    $( Service::$uvariant => &[], )*
                    $( Service::$variant(s) => Kind::manages(s), )*
                }
            }

            /// The L2 cache nodes it spreads keys over, in order.
            pub(crate) fn shards(&self) -> &[Sp<String>] {
                match self {
                    $( Service::$uvariant => &[], )*
                    $( Service::$variant(s) => Kind::shards(s), )*
                }
            }

            /// The backends it balances over, in order.
            pub(crate) fn backends(&self) -> &[Sp<String>] {
                match self {
                    $( Service::$uvariant => &[], )*
                    $( Service::$variant(s) => Kind::backends(s), )*
                }
            }

            /// Checks the kind's settings of host `index`, reporting located findings.
            pub(crate) fn validate(&self, c: &mut Checker, index: usize, host: &Host) {
                match self {
                    $( Service::$uvariant => Kind::validate(&$uspec, c, index, host), )*
                    $( Service::$variant(s) => Kind::validate(s, c, index, host), )*
                }
            }

            /// The settings compiled for the plan of the host named `name`.
            pub(crate) fn compile(&self, name: &str, cx: &PlanContext) -> ServicePlan {
                match self {
                    $( Service::$uvariant => ServicePlan::$uvariant(Kind::compile(&$uspec, name, cx)), )*
                    $( Service::$variant(s) => ServicePlan::$variant(Kind::compile(s, name, cx)), )*
                }
            }
        }

        impl ServicePlan {
            /// Whether the service listens on the service port (a failover controller only
            /// calls out).
            pub fn listens(&self) -> bool {
                match self {
                    $( ServicePlan::$uvariant(_) => <$uplan as Start>::LISTENS, )*
                    $( ServicePlan::$variant(_) => <$plan as Start>::LISTENS, )*
                }
            }

            /// The host names of the L2 cache nodes it spreads keys over, in order.
            pub(crate) fn shards(&self) -> Vec<&str> {
                match self {
                    $( ServicePlan::$uvariant(p) => Start::shards(p), )*
                    $( ServicePlan::$variant(p) => Start::shards(p), )*
                }
            }

            /// What the settings imply for a workload of `keys` keys, for the plan's text.
            pub fn notes(&self, keys: u64) -> Vec<String> {
                match self {
                    $( ServicePlan::$uvariant(p) => Start::notes(p, keys), )*
                    $( ServicePlan::$variant(p) => Start::notes(p, keys), )*
                }
            }

            /// The sharded database's groups it routes to, with the tenants each holds.
            pub(crate) fn db_groups(&self, tenants: &[String]) -> Vec<DbGroup> {
                match self {
                    $( ServicePlan::$uvariant(p) => Start::db_groups(p, tenants), )*
                    $( ServicePlan::$variant(p) => Start::db_groups(p, tenants), )*
                }
            }

            /// Starts the service on a host with the host's capacity.
            pub(crate) fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
                match self {
                    $( ServicePlan::$uvariant(p) => Start::start(p, env, capacity), )*
                    $( ServicePlan::$variant(p) => Start::start(p, env, capacity), )*
                }
            }
        }
    };
}

registry! {
    unit {
        /// Replies to echo requests (the benchmark's server): `"echo"`.
        Echo = echo::EchoService => echo::EchoPlan,
        /// A third-party payment API an app's checkout calls: `"payment"`.
        Payment = payment::PaymentService => payment::PaymentPlan,
    }
    data {
        /// A replicated key-value store node: `{ kv = { role = "primary" } }`.
        Kv(kv::KvService) => kv::KvPlan,
        /// An L2 cache node speaking Redis's protocol: `{ cache = { maxmemory = "64mb" } }`.
        Cache(cache::CacheService) => cache::CachePlan,
        /// An application server doing cache-aside reads and write-through-invalidate writes:
        /// `{ app = { db = "db", cache = "cache" } }`.
        App(app::AppService) => app::AppPlan,
        /// A failover controller for a group of kv nodes:
        /// `{ failover = { members = ["db1", "db2", "db3"] } }`.
        Failover(failover::FailoverService) => failover::FailoverPlan,
        /// An L7 load balancer in front of HTTP apps:
        /// `{ lb = { backends = ["app1", "app2"], algorithm = "least_request" } }`.
        Lb(lb::LbService) => lb::LbPlan,
        /// A connection pooler in front of a store, like PgBouncer:
        /// `{ pool = { backend = "db", max_server_conns = 20 } }`.
        Pool(pool::PoolService) => pool::PoolPlan,
        /// A part service of an app's page: `{ service = { db = "profile-db" } }`.
        Service(service::PartService) => service::PartServicePlan,
        /// A CDN edge caching an HTTP origin's answers: `{ cdn = { origin = "app", capacity = "64MB" } }`.
        Cdn(cdn::CdnService) => cdn::CdnPlan,
        /// A message queue broker: `{ queue = { queues = [{ name = "jobs" }] } }`.
        Queue(queue::QueueService) => queue::QueuePlan,
        /// Consumers of a queue: `{ worker = { broker = "mq", queue = "jobs" } }`.
        Worker(worker::WorkerService) => worker::WorkerPlan,
        /// A node of an active-active store, one per region, each accepting writes:
        /// `{ geo = { peers = ["geo-eu"] } }`.
        Geo(geo::GeoService) => geo::GeoPlan,
        /// A DNS server answering names with health-checked endpoints:
        /// `{ dns = { records = [{ name = "shop", failover = ["app-us", "app-eu"] }] } }`.
        Dns(dns::DnsService) => dns::DnsPlan,
    }
}

/// What a reference to another host asks it to be (a replica's `primary`, an app's `cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A kv node with the primary role.
    KvPrimary,
    /// A kv node, primary or replica.
    Kv,
    /// A cache node.
    Cache,
    /// Somewhere writes can go: a kv primary, or a pool in front of one.
    Store,
    /// A payment API.
    Payment,
    /// An app that speaks HTTP.
    HttpApp,
    /// A part service.
    Service,
    /// A CDN edge.
    Cdn,
    /// A queue broker.
    Queue,
}

impl Want {
    /// How a message names what was wanted.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Want::KvPrimary => "kv primary",
            Want::Kv => "kv node (primary or replica)",
            Want::Cache => "cache",
            Want::Store => "kv primary or pool",
            Want::Payment => "payment API",
            Want::HttpApp => "app with protocol = \"http\"",
            Want::Service => "service",
            Want::Cdn => "cdn",
            Want::Queue => "queue broker",
        }
    }
}

/// The requests a load generator sends a kind, and how their answers are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadApi {
    /// Echo requests of the workload's value size; any reply that is not an error succeeds.
    Echo,
    /// The store's API over the framed protocol: reads, writes and compare-and-sets of the
    /// workload's keys, each write's value naming it, so reads say which write they saw.
    Store,
    /// Redis's protocol: reads are `GET`, writes `SET` (values named as the store's are);
    /// there is no compare-and-set.
    Resp,
    /// The queue's protocol: every request sends one message (its key the drawn key) to the
    /// broker's first queue; `Full` and errors fail it.
    Queue,
    /// The app's HTTP API: reads are `GET /items/{key}` with the user's token in `x-min-lsn`,
    /// writes `PUT`, compare-and-sets `PUT` with `x-expect`; statuses judge the answers.
    Http,
}

/// What a kind needs to compile its settings beyond its own.
pub(crate) struct PlanContext<'a> {
    /// Names of the kv hosts a failover controller manages.
    pub(crate) managed: &'a std::collections::BTreeSet<String>,
    /// Whether an app of the scenario reads through a cache tier (the stores then count their
    /// reads of one key at once: the stampede as the database sees it).
    pub(crate) cached: bool,
    /// Names of the hosts a deploy's readiness probe reads (they publish their health answers).
    pub(crate) probed: &'a std::collections::BTreeSet<String>,
    /// The bug planted in the models for this run, if any.
    pub(crate) plant: Option<crate::plant::Plant>,
    /// Each host's region, by host name (hosts in no region are absent).
    pub(crate) regions: &'a std::collections::BTreeMap<String, String>,
}

impl PlanContext<'_> {
    /// Whether the run plants `bug`.
    pub(crate) fn plants(&self, bug: crate::plant::Plant) -> bool {
        self.plant == Some(bug)
    }

    /// "host:port" of a referenced host.
    pub(crate) fn addr(&self, name: &Sp<String>) -> String {
        addr(name.get_ref())
    }

    /// The addresses of a list of referenced hosts.
    pub(crate) fn addrs(&self, names: &[Sp<String>]) -> Vec<String> {
        names.iter().map(|n| self.addr(n)).collect()
    }
}

/// A host's running service: the future it runs (again after every restart).
pub(crate) type Running = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// Checks that `name` is a host whose service is what `want` says; `what` names the reference
/// ("a kv replica's `primary`").
pub(crate) fn expect(c: &mut Checker, name: &Sp<String>, want: Want, what: &str) {
    let Some(host) = c.host(name, "not a host") else {
        return;
    };
    if host.service.provides(want) {
        return;
    }
    let fitting: Vec<&str> = c.hosts.iter().filter(|(_, h)| h.service.provides(want)).map(|(n, _)| *n).collect();
    let choices = if fitting.is_empty() {
        format!("the file has no {}", want.describe())
    } else {
        format!("the {} hosts are: {}", want.describe(), crate::scenario::spans::name_list(fitting))
    };
    let message = format!(
        "{what} must be a {}, but {:?} is {}; {choices}",
        want.describe(),
        name.get_ref(),
        with_article(host.service.kind())
    );
    c.report(name.span(), &format!("not a {}", want.describe()), message);
}

fn with_article(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {kind}")
}

/// Checks the members of a replicated group: at least two kv nodes, exactly one primary among
/// them, each named once. `what` names the group's owner ("a router").
pub(crate) fn members(c: &mut Checker, members: &[Sp<String>], span: std::ops::Range<usize>, what: &str) {
    let mut primaries = 0;
    let mut seen = std::collections::BTreeSet::new();
    for member in members {
        expect(c, member, Want::Kv, &format!("a member of {what}"));
        if !seen.insert(member.get_ref().as_str()) {
            let message = format!("{:?} is listed twice; expected each member once", member.get_ref());
            c.report(member.span(), "listed twice", message);
            continue;
        }
        if c.hosts.get(member.get_ref().as_str()).is_some_and(|h| h.service.provides(Want::KvPrimary)) {
            primaries += 1;
        }
    }
    if members.len() < 2 || primaries != 1 {
        let message = format!(
            "{what} has {} members of which {primaries} are kv primaries; expected a kv primary and at least one of its replicas",
            members.len()
        );
        let span = members.first().map(|m| m.span()).unwrap_or(span);
        c.report(span, "not a replicated group", message);
    }
}

/// Nanoseconds of a duration setting, for the plan.
pub(crate) fn ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dur;
    use std::time::Duration;

    #[test]
    fn service_kinds_are_named_as_written() {
        let kv = |role| {
            Service::Kv(kv::KvService {
                role,
                primary: None,
                fsync: kv::Fsync::Always,
                replication: kv::ReplicationSpec::Async,
                apply_cost: Dur(Duration::ZERO),
            })
        };
        assert_eq!(kv(kv::KvRole::Primary).kind(), "kv-primary");
        assert_eq!(kv(kv::KvRole::Replica).kind(), "kv-replica");
        assert_eq!(Service::Echo.kind(), "echo");
        assert!(kv(kv::KvRole::Primary).provides(Want::Store));
        assert!(!kv(kv::KvRole::Replica).provides(Want::Store));
        assert!(kv(kv::KvRole::Replica).provides(Want::Kv));
        assert!(!Service::Echo.provides(Want::Kv));
        assert_eq!(Service::Echo.load_api(), Some(LoadApi::Echo));
    }
}
