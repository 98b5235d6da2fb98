//! The dns kind: a DNS server that health-checks HTTP endpoints (apps, load balancers) and
//! answers each of its names with one of them, by a failover or a nearest-region policy
//! (`faultline_models::dns`). Load generators resolve through it when the workload's
//! `resolve` names it; it serves no workload itself.
//!
//! Its settings: the records (`{ name = "shop", failover = ["app-us", "app-eu"] }` or
//! `nearest = [...]`), the TTL of its answers, and its health checks (interval, timeout,
//! thresholds; Route 53's defaults are a 30 s interval, or 10 s "fast", and 3 failures).

use super::{Kind, LoadApi, PlanContext, Running, Service, Start, Want, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::dns::{DnsConfig, DnsServer, Endpoint, Policy, Record, Zone};
use faultline_models::lb::{HealthConfig, InitialHealth};
use faultline_models::seam::Env;
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// A DNS server with health-checked records.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsService {
    /// The names it answers.
    pub records: Vec<DnsRecordSpec>,
    /// The TTL of every answer. Default "60s".
    #[serde(default = "default_ttl")]
    pub ttl: Dur,
    /// Interval between two health checks of an endpoint (`GET /health`). Default "10s".
    #[serde(default = "default_check_every")]
    pub check_every: Dur,
    /// How long a check may take before it fails; at most `check_every`. Default "2s".
    #[serde(default = "default_check_timeout")]
    pub check_timeout: Dur,
    /// Consecutive failed checks that make an endpoint unhealthy. Default 3.
    #[serde(default = "default_threshold")]
    #[schemars(with = "u32")]
    pub fail_after: Sp<u32>,
    /// Consecutive passed checks that make it healthy again. Default 3.
    #[serde(default = "default_threshold")]
    #[schemars(with = "u32")]
    pub rise_after: Sp<u32>,
}

/// One name and its endpoints: exactly one of `failover` and `nearest`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {
    /// The name clients resolve.
    #[schemars(with = "String")]
    pub name: Sp<String>,
    /// HTTP hosts in failover order: the first healthy one is the answer.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub failover: Option<Sp<Vec<Sp<String>>>>,
    /// HTTP hosts, one per region: a client gets its own region's while it is healthy, else
    /// the first healthy one in this order.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub nearest: Option<Sp<Vec<Sp<String>>>>,
}

fn default_ttl() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_check_every() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_check_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}
fn default_threshold() -> Sp<u32> {
    Sp::new(0..0, 3)
}

impl DnsRecordSpec {
    /// The record's policy and endpoints, when exactly one list is set.
    fn list(&self) -> Option<(Policy, &Sp<Vec<Sp<String>>>)> {
        match (&self.failover, &self.nearest) {
            (Some(list), None) => Some((Policy::Failover, list)),
            (None, Some(list)) => Some((Policy::Nearest, list)),
            _ => None,
        }
    }
}

impl DnsService {
    /// The record named `name`.
    pub(crate) fn record(&self, name: &str) -> Option<&DnsRecordSpec> {
        self.records.iter().find(|r| r.name.get_ref() == name)
    }

    /// The endpoints of the record named `name`, in its order.
    pub(crate) fn endpoints(&self, name: &str) -> Vec<&str> {
        let Some((_, list)) = self.record(name).and_then(DnsRecordSpec::list) else { return Vec::new() };
        list.get_ref().iter().map(|e| e.get_ref().as_str()).collect()
    }
}

/// A record's policy in the run plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyPlan {
    /// The first healthy endpoint in order.
    Failover,
    /// The asking user's region's endpoint while healthy.
    Nearest,
}

/// A DNS server in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsPlan {
    /// Every endpoint: host name, "host:port", region ("" for none).
    pub endpoints: Vec<(String, String, String)>,
    /// Every record: name, policy, endpoint indices.
    pub records: Vec<(String, PolicyPlan, Vec<usize>)>,
    /// Answer TTL, nanoseconds.
    pub ttl_ns: u64,
    /// Health check interval, nanoseconds.
    pub check_every_ns: u64,
    /// Health check timeout, nanoseconds.
    pub check_timeout_ns: u64,
    /// Failed checks to unhealthy.
    pub fail_after: u32,
    /// Passed checks to healthy.
    pub rise_after: u32,
}

impl Kind for DnsService {
    type Plan = DnsPlan;
    /// Load generators resolve through it (the workload's `resolve`); they send it no workload.
    const LOAD: Option<LoadApi> = None;

    fn kind(&self) -> &'static str {
        "dns"
    }

    /// No reference asks for a DNS server but the workload's `resolve`, which checks itself.
    fn provides(&self, want: Want) -> bool {
        match want {
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::Service
            | Want::Cdn
            | Want::Queue
            | Want::HttpApp => false,
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        let me = host.name.get_ref();
        if self.records.is_empty() {
            c.report(
                host.name.span(),
                "no records",
                format!("dns server {me:?} has no records; expected at least one"),
            );
        }
        let mut names = BTreeSet::new();
        for record in &self.records {
            let name = record.name.get_ref();
            if name.is_empty() || !names.insert(name.clone()) {
                let why = if name.is_empty() { "an empty name" } else { "a name given twice" };
                c.report(record.name.span(), why, format!("dns record {name:?} is {why}; expected each name once"));
            }
            let Some((policy, list)) = record.list() else {
                let message = format!(
                    "dns record {name:?} must set exactly one of `failover` (endpoints in order) and `nearest` (one \
                     endpoint per region)"
                );
                c.report(record.name.span(), "one of failover, nearest", message);
                continue;
            };
            if list.get_ref().is_empty() {
                c.report(list.span(), "empty", format!("dns record {name:?} has no endpoints; expected at least one"));
            }
            let mut seen = BTreeSet::new();
            let mut regions = BTreeSet::new();
            for endpoint in list.get_ref() {
                super::expect(c, endpoint, Want::HttpApp, &format!("an endpoint of dns record {name:?}"));
                if !seen.insert(endpoint.get_ref().clone()) {
                    c.report(endpoint.span(), "listed twice", format!("{:?} is listed twice", endpoint.get_ref()));
                    continue;
                }
                if policy != Policy::Nearest {
                    continue;
                }
                let region = c.hosts.get(endpoint.get_ref().as_str()).and_then(|h| h.region.as_ref());
                match region {
                    None => {
                        let message = format!(
                            "{:?} is in no region; every endpoint of a nearest record must set its host's `region`",
                            endpoint.get_ref()
                        );
                        c.report(endpoint.span(), "in no region", message);
                    }
                    Some(r) if !regions.insert(r.get_ref().clone()) => {
                        let message = format!(
                            "{:?} is a second endpoint in region {:?}; a nearest record has one endpoint per region",
                            endpoint.get_ref(),
                            r.get_ref()
                        );
                        c.report(endpoint.span(), "region twice", message);
                    }
                    Some(_) => {}
                }
            }
        }
        for (what, n) in [("fail_after", &self.fail_after), ("rise_after", &self.rise_after)] {
            if *n.get_ref() == 0 {
                c.report(n.span(), "zero", format!("dns `{what}` is 0; expected at least 1 check"));
            }
        }
        if self.check_every.0.is_zero() || self.check_timeout.0.is_zero() || self.check_timeout.0 > self.check_every.0 {
            let span = host.name.span();
            let message = format!(
                "dns server {me:?} checks every {:?} with a timeout of {:?}; expected both positive and the timeout at \
                 most the interval",
                self.check_every.0, self.check_timeout.0
            );
            c.report(span, "check timing", message);
        }
        if self.ttl.0 > Duration::from_millis(u64::from(u32::MAX)) {
            c.report(host.name.span(), "ttl too long", format!("dns server {me:?} has a TTL past 49 days"));
        }
    }

    fn compile(&self, _name: &str, cx: &PlanContext) -> DnsPlan {
        let mut endpoints: Vec<(String, String, String)> = Vec::new();
        let mut records = Vec::new();
        for record in &self.records {
            let Some((policy, list)) = record.list() else { continue };
            let mut indices = Vec::new();
            for endpoint in list.get_ref() {
                let name = endpoint.get_ref();
                let index = endpoints.iter().position(|(n, _, _)| n == name).unwrap_or_else(|| {
                    let region = cx.regions.get(name).cloned().unwrap_or_default();
                    endpoints.push((name.clone(), cx.addr(endpoint), region));
                    endpoints.len() - 1
                });
                indices.push(index);
            }
            let policy = match policy {
                Policy::Failover => PolicyPlan::Failover,
                Policy::Nearest => PolicyPlan::Nearest,
            };
            records.push((record.name.get_ref().clone(), policy, indices));
        }
        DnsPlan {
            endpoints,
            records,
            ttl_ns: ns(self.ttl.0),
            check_every_ns: ns(self.check_every.0),
            check_timeout_ns: ns(self.check_timeout.0),
            fail_after: *self.fail_after.get_ref(),
            rise_after: *self.rise_after.get_ref(),
        }
    }
}

impl DnsPlan {
    fn config(&self) -> DnsConfig {
        let endpoints = self
            .endpoints
            .iter()
            .map(|(name, addr, region)| Endpoint { name: name.clone(), addr: addr.clone(), region: region.clone() })
            .collect();
        let records = self
            .records
            .iter()
            .map(|(name, policy, endpoints)| Record {
                name: name.clone(),
                policy: match policy {
                    PolicyPlan::Failover => Policy::Failover,
                    PolicyPlan::Nearest => Policy::Nearest,
                },
                endpoints: endpoints.clone(),
            })
            .collect();
        DnsConfig {
            zone: Zone { endpoints, records },
            ttl: Duration::from_nanos(self.ttl_ns),
            health: HealthConfig {
                interval: Duration::from_nanos(self.check_every_ns),
                timeout: Duration::from_nanos(self.check_timeout_ns),
                healthy_threshold: self.rise_after,
                unhealthy_threshold: self.fail_after,
                initial: InitialHealth::Healthy,
            },
        }
    }

    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let server = DnsServer::new(env.clone(), self.config());
        env.spawn(server.clone().check_health());
        serve(env, super::SERVICE_PORT, capacity, server).await
    }
}

impl Start for DnsPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}

/// The dns server `service` runs, if it is one.
pub(crate) fn of(service: &Service) -> Option<&DnsService> {
    match service {
        Service::Dns(dns) => Some(dns),
        _ => None,
    }
}
