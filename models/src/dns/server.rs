//! The DNS server: answers queries for its zone's names from the health of their endpoints,
//! which it checks itself, as a managed DNS service's health checks do.
//!
//! Every endpoint is probed with `GET /health` each `health.interval`, each probe raced
//! against `health.timeout`; an endpoint becomes unhealthy after `unhealthy_threshold`
//! consecutive failed probes and healthy again after `healthy_threshold` passes (a non-2xx
//! answer is a failed probe, as Route 53 counts it, not Envoy's immediate ejection). Every
//! answer carries the configured TTL, or the knob [`Knob::DnsTtl`] (milliseconds) while chaos
//! holds it turned.
//!
//! It reports through the seam's state channel, key [`state::DNS`]: each endpoint's health
//! change ("<endpoint>:unhealthy", "<endpoint>:healthy") and each change of what a record
//! answers ("answer <name> <endpoint>", or "answer <name>@<region> <endpoint>" for a nearest
//! record, one per region it serves), including the first answers at start.
//!
//! It owns the probing schedule and the server side of the protocol; it must not choose an
//! endpoint itself (that is [`super::zone`]) or read a clock except through the seam.

use super::api::DnsMsg;
use super::zone::Zone;
use crate::http::client::HttpClient;
use crate::http::{Bytes, Method};
use crate::lb::{HealthChecker, HealthConfig, Probe};
use crate::proto::{ErrorCode, Framed};
use crate::seam::{Env, Knob};
use crate::server::{Handler, Replier};
use faultline_vocab::state;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A DNS server's settings.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The names it answers.
    pub zone: Zone,
    /// The TTL of its answers.
    pub ttl: Duration,
    /// How it checks endpoints (its `initial` is ignored: endpoints start healthy).
    pub health: HealthConfig,
}

struct Inner<E: Env> {
    env: E,
    zone: Zone,
    ttl: Duration,
    health: RefCell<HealthChecker>,
    probes: Vec<Rc<HttpClient<E>>>,
    /// What each (record, view) answered last, as reported.
    answered: RefCell<Vec<(String, usize)>>,
}

/// The server: a [`Handler`] for its queries; [`DnsServer::check_health`] runs its probes.
#[derive(Clone)]
pub struct DnsServer<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> DnsServer<E> {
    /// A server for `config`'s zone, every endpoint healthy until probed otherwise. Reports
    /// the first answers.
    pub fn new(env: E, config: DnsConfig) -> Self {
        let health = HealthConfig { initial: crate::lb::InitialHealth::Healthy, ..config.health };
        let client = |addr: &str| Rc::new(HttpClient::new(env.clone(), addr.to_string(), health.timeout));
        let probes = config.zone.endpoints.iter().map(|e| client(&e.addr)).collect();
        let server = DnsServer {
            inner: Rc::new(Inner {
                health: RefCell::new(HealthChecker::new(health, config.zone.endpoints.len())),
                zone: config.zone,
                ttl: config.ttl,
                probes,
                answered: RefCell::new(Vec::new()),
                env,
            }),
        };
        server.report_answers();
        server
    }

    /// What the record named `name` answers a client in `region`: the endpoint's index.
    pub fn answer(&self, name: &str, region: &str) -> Option<usize> {
        let inner = &self.inner;
        let record = inner.zone.record(name)?;
        let health = inner.health.borrow();
        Some(inner.zone.answer(record, region, |e| health.is_healthy(e)))
    }

    /// The TTL answers carry now.
    pub fn ttl(&self) -> Duration {
        match self.inner.env.knob(Knob::DnsTtl) {
            0 => self.inner.ttl,
            ms => Duration::from_millis(ms),
        }
    }

    /// Probes every endpoint as its checks fall due, for good.
    pub async fn check_health(self) {
        let inner = &self.inner;
        loop {
            let due = inner.health.borrow_mut().due(inner.env.now());
            if !due.is_empty() {
                self.probe_round(due).await;
            }
            let next = inner.health.borrow().next_due();
            inner.env.sleep(next.saturating_sub(inner.env.now())).await;
        }
    }

    /// Probes `due` at once, each on its own task, recording each outcome as it arrives.
    async fn probe_round(&self, due: Vec<usize>) {
        let inner = &self.inner;
        let (results, mut outcomes) = mpsc::unbounded_channel();
        let limit = inner.health.borrow().config().timeout;
        for endpoint in due {
            let (client, results, env) = (inner.probes[endpoint].clone(), results.clone(), inner.env.clone());
            inner.env.spawn(async move {
                let passed = match client.request(Method::GET, "/health", &[], Bytes::new()) {
                    Ok(request) => client
                        .send_until(request, env.sleep(limit))
                        .await
                        .is_ok_and(|response| response.status.is_success()),
                    Err(_) => false,
                };
                let _ = results.send((endpoint, passed));
            });
        }
        drop(results);
        while let Some((endpoint, passed)) = outcomes.recv().await {
            let probe = if passed { Probe::Passed } else { Probe::Failed };
            let change = inner.health.borrow_mut().record_probe(endpoint, probe);
            if let Some(change) = change {
                let verdict = if change.healthy { "healthy" } else { "unhealthy" };
                let name = &inner.zone.endpoints[change.backend].name;
                inner.env.state(state::DNS, &format!("{name}:{verdict}"));
                self.report_answers();
            }
        }
    }

    /// Reports each (record, view) whose answer differs from the last one reported.
    fn report_answers(&self) {
        let inner = &self.inner;
        let mut now = Vec::new();
        for record in &inner.zone.records {
            for view in inner.zone.views(record) {
                let label = if view.is_empty() { record.name.clone() } else { format!("{}@{view}", record.name) };
                let endpoint = self.answer(&record.name, &view).unwrap_or(record.endpoints[0]);
                now.push((label, endpoint));
            }
        }
        let mut answered = inner.answered.borrow_mut();
        for (i, (label, endpoint)) in now.iter().enumerate() {
            if answered.get(i).map(|(_, e)| e) != Some(endpoint) {
                let name = &inner.zone.endpoints[*endpoint].name;
                inner.env.state(state::DNS, &format!("answer {label} {name}"));
            }
        }
        *answered = now;
    }
}

impl<E: Env> Handler<E> for DnsServer<E> {
    type Codec = Framed<DnsMsg>;

    async fn handle(&self, msg: DnsMsg, _replier: Replier<E, Framed<DnsMsg>>) -> Option<DnsMsg> {
        Some(match msg {
            DnsMsg::Query { name, region } => match self.answer(&name, &region) {
                Some(endpoint) => DnsMsg::Answer {
                    addr: self.inner.zone.endpoints[endpoint].addr.clone(),
                    ttl_ms: u32::try_from(self.ttl().as_millis()).unwrap_or(u32::MAX),
                },
                None => DnsMsg::Error { code: ErrorCode::BadRequest, detail: format!("no record named {name:?}") },
            },
            DnsMsg::Answer { .. } | DnsMsg::Error { .. } => {
                DnsMsg::Error { code: ErrorCode::BadRequest, detail: "a DNS server serves Query only".into() }
            }
        })
    }
}
