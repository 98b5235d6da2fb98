//! The L7 load balancer host: an HTTP/1.1 proxy in front of a set of HTTP backends, deciding
//! with [`Backends`] and forwarding with one keep-alive [`HttpClient`] a backend.
//!
//! A request is picked a backend (consistent hashing keys on the value of
//! [`ProxyConfig::hash_header`]), forwarded (method, path, headers and body; the hop-by-hop
//! headers dropped, an [`ATTEMPT`] header added) and answered with the backend's status, headers
//! and body. A failure that [`RetryOn`] names, for a method it may repeat, goes to another backend
//! while [`ProxyConfig::retries`] and the retry budget allow. Nothing eligible is `503`; the
//! last attempt's timeout is `504`, its transport failure `502`. Before each pick it reads the
//! `LbOut` knob: the backends out of the endpoint set (an autoscaler's instances not ready yet
//! or draining); health checks still probe them.
//!
//! A health task probes `GET /health` on each backend when [`Backends::health_checks_due`] says
//! so, each probe raced against the health timeout on the seam's clock, and ends the ejections
//! whose time is up. Every health change, ejection, return and panic-mode switch is reported
//! with `Env::state(state::LB, ..)`; the gauges `lb_ejected`, `lb_unhealthy`, `lb_retries` and
//! `lb_no_backend` follow the counts.
//!
//! The bridge is the app's: axum's handlers must be `Send`, [`Backends`] and the clients are
//! not, so a handler reads the request whole and hands it through a channel to a dispatcher task
//! on the host's executor. A proxy is an event loop: its requests are not queued through
//! `crate::server::Workers` and take no service time of their own.
//!
//! This file must not decide which backend is fit or next (that is [`Backends`]), and must not
//! read a clock or draw randomness except through the seam.

use super::{BackendSpec, Backends, Ejected, HealthChange, LbConfig, LbError, OutlierStats, Probe, RetryStats};
use crate::client::CallError;
use crate::http::client::{HttpClient, HttpResponse, MAX_BODY};
use crate::http::relay::{HOP_BY_HOP, pass_through, plain, request_kind};
use crate::http::server::serve_router;
use crate::seam::{Env, Knob};
use crate::server::Endpoint;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use faultline_vocab::{gauge, state};
use http_body_util::Full;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Request header the proxy adds to each attempt it forwards: 1 for the first, 2 for the first
/// retry (Envoy's `x-envoy-attempt-count`).
pub const ATTEMPT: &str = "x-attempt-count";

/// Which failed attempts are tried again on another backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// The connection could not be opened: nothing was sent, so any method may be retried.
    pub connect_failure: bool,
    /// The connection failed after the request went out (reset, closed before the answer):
    /// retried for idempotent methods only.
    pub reset: bool,
    /// The backend answered 5xx: retried for idempotent methods only.
    pub server_error: bool,
    /// The attempt ran out of time: retried for idempotent methods only.
    pub timeout: bool,
}

impl Default for RetryOn {
    /// Envoy's `connect-failure,reset,5xx` with per-try timeouts retried, as its `5xx` does.
    fn default() -> Self {
        RetryOn { connect_failure: true, reset: true, server_error: true, timeout: true }
    }
}

/// A proxy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The backends: name, "host:port" and weight.
    pub backends: Vec<(String, String, u32)>,
    /// Each backend's priority level, in order (empty: all 0).
    pub priorities: Vec<u32>,
    /// Balancing, health checking, outlier detection, panic mode and the retry budget.
    pub lb: LbConfig,
    /// How long one attempt may take, connecting included (`504` after, unless retried).
    pub timeout: Duration,
    /// The request header whose value is the consistent-hash key (`None`: no key).
    pub hash_header: Option<String>,
    /// Attempts beyond the first a request may make.
    pub retries: u32,
    /// Which failures are retried.
    pub retry_on: RetryOn,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            backends: Vec::new(),
            priorities: Vec::new(),
            lb: LbConfig::default(),
            timeout: Duration::from_secs(1),
            hash_header: None,
            retries: 1,
            retry_on: RetryOn::default(),
        }
    }
}

/// What a bad proxy configuration can be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The balancer's settings or the backend list.
    #[error(transparent)]
    Lb(#[from] LbError),
    /// The per-attempt timeout is zero.
    #[error("the proxy's `timeout` must be greater than zero")]
    ZeroTimeout,
    /// The hash header is not a valid header name.
    #[error("hash_header `{0}` is not a valid HTTP header name")]
    BadHashHeader(String),
    /// A backend's address is empty, or not fit for a `host` header.
    #[error("backend `{0}` has an empty or malformed address")]
    BadAddress(String),
}

/// A request read whole, handed from a handler to the dispatcher.
struct Job {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    reply: oneshot::Sender<Response>,
}

/// What the proxy knows and counts, shared by its tasks.
struct Shared {
    backends: Backends,
    rng: ChaCha8Rng,
    /// Health as last reported (for `lb_unhealthy`).
    healthy: Vec<bool>,
    /// Ejections as last reported: until when (for `lb_ejected` and the health task's wake-up).
    ejected: Vec<Option<Duration>>,
    /// Whether panic mode was on at the last look.
    panic: bool,
    retries: u64,
    no_backend: u64,
}

struct Inner<E: Env> {
    env: E,
    names: Vec<String>,
    clients: Vec<HttpClient<E>>,
    probes: Vec<Rc<HttpClient<E>>>,
    timeout: Duration,
    health_timeout: Duration,
    hash_header: Option<HeaderName>,
    retries: u32,
    retry_on: RetryOn,
    shared: RefCell<Shared>,
    /// Wakes the health task when an ejection starts (it sleeps until the earliest return).
    wake: Notify,
    /// Rounds of health checks completed.
    rounds: watch::Sender<u64>,
    /// Set when serving has ended: the health task stops.
    stopped: Cell<bool>,
}

/// An L7 load balancer; clones share it.
pub struct LbProxy<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> Clone for LbProxy<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

/// Serves a proxy built from `config` on `endpoint` until the listener fails; at most
/// `max_connections` client connections at once when set. A bad config is `InvalidInput`.
pub async fn serve_proxy<E: Env>(
    env: E,
    endpoint: impl Endpoint<E>,
    max_connections: Option<usize>,
    config: ProxyConfig,
) -> io::Result<()> {
    let proxy = LbProxy::new(env, config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    proxy.serve(endpoint, max_connections).await
}

impl<E: Env> LbProxy<E> {
    /// Checks `config` and builds the proxy; nothing is sent until [`LbProxy::serve`].
    pub fn new(env: E, config: ProxyConfig) -> Result<Self, ProxyError> {
        if config.timeout.is_zero() {
            return Err(ProxyError::ZeroTimeout);
        }
        let hash_header = match &config.hash_header {
            Some(name) => {
                Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| ProxyError::BadHashHeader(name.clone()))?)
            }
            None => None,
        };
        let malformed = |addr: &str| addr.is_empty() || HeaderValue::from_str(addr).is_err();
        if let Some((name, _, _)) = config.backends.iter().find(|(_, addr, _)| malformed(addr)) {
            return Err(ProxyError::BadAddress(name.clone()));
        }
        let specs = config
            .backends
            .iter()
            .enumerate()
            .map(|(i, (name, _, weight))| {
                BackendSpec::weighted(name, *weight).at_priority(config.priorities.get(i).copied().unwrap_or(0))
            })
            .collect();
        let initial_healthy = config.lb.health.as_ref().is_none_or(|h| h.initial == super::InitialHealth::Healthy);
        let health_timeout = config.lb.health.as_ref().map_or(config.timeout, |h| h.timeout);
        let backends = Backends::new(config.lb, specs)?;
        let n = backends.len();
        let client = |addr: &str| HttpClient::new(env.clone(), addr, config.timeout);
        let shared = Shared {
            panic: false,
            backends,
            rng: env.rng("lb"),
            healthy: vec![initial_healthy; n],
            ejected: vec![None; n],
            retries: 0,
            no_backend: 0,
        };
        let inner = Inner {
            names: config.backends.iter().map(|(name, _, _)| name.clone()).collect(),
            clients: config.backends.iter().map(|(_, addr, _)| client(addr)).collect(),
            probes: config.backends.iter().map(|(_, addr, _)| Rc::new(client(addr))).collect(),
            timeout: config.timeout,
            health_timeout,
            hash_header,
            retries: config.retries,
            retry_on: config.retry_on,
            shared: RefCell::new(shared),
            wake: Notify::new(),
            rounds: watch::Sender::new(0),
            stopped: Cell::new(false),
            env,
        };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// Starts the health task and serves clients on `endpoint` until the listener fails.
    pub async fn serve(self, endpoint: impl Endpoint<E>, max_connections: Option<usize>) -> io::Result<()> {
        let env = self.inner.env.clone();
        self.observe(env.now());
        let (jobs, queue) = mpsc::unbounded_channel();
        env.spawn(self.clone().dispatch(queue));
        env.spawn(self.clone().health_loop());
        let router = Router::new().fallback(handle).with_state(jobs);
        let served = serve_router(env, endpoint, max_connections, router).await;
        self.inner.stopped.set(true);
        self.inner.wake.notify_one();
        served
    }

    /// Requests sent to each backend so far (attempts, retries included), in backend order.
    pub fn routed(&self) -> Vec<u64> {
        self.inner.shared.borrow().backends.routed().to_vec()
    }

    /// What the retry budget has done.
    pub fn retry_stats(&self) -> RetryStats {
        self.inner.shared.borrow().backends.retry_stats()
    }

    /// What outlier detection has done.
    pub fn outlier_stats(&self) -> OutlierStats {
        self.inner.shared.borrow().backends.outlier_stats()
    }

    /// Picks made in panic mode.
    pub fn panic_picks(&self) -> u64 {
        self.inner.shared.borrow().backends.panic_picks()
    }

    /// The count of completed rounds of health checks (each with the ejections ended by its
    /// end reported), to wait on.
    pub fn health_rounds(&self) -> watch::Receiver<u64> {
        self.inner.rounds.subscribe()
    }

    /// Hands each request to a task of its own on the host's executor.
    async fn dispatch(self, mut queue: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = queue.recv().await {
            let this = self.clone();
            self.inner.env.spawn(async move {
                let (reply, response) = this.forward(job).await;
                // A client that hung up gets nothing.
                let _ = reply.send(response);
            });
        }
    }

    /// Forwards one request, retrying as allowed: the reply channel and the answer.
    async fn forward(&self, job: Job) -> (oneshot::Sender<Response>, Response) {
        let inner = &self.inner;
        let start = inner.env.now();
        let key = inner.hash_header.as_ref().and_then(|name| job.headers.get(name)).map(|v| v.as_bytes().to_vec());
        let first = {
            let shared = &mut *inner.shared.borrow_mut();
            shared.backends.set_out(inner.env.knob(Knob::LbOut));
            shared.backends.pick(start, key.as_deref(), &mut shared.rng)
        };
        let Some(first) = first else {
            return (job.reply, self.no_backend(&job.method, start));
        };
        self.observe(start);
        let idempotent = matches!(job.method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let (mut backend, mut attempt, mut retrying) = (first.backend, 1, false);
        let outcome = loop {
            let outcome = self.attempt(backend, &job, attempt).await;
            if retrying {
                inner.shared.borrow_mut().backends.retry_done();
            }
            if attempt > inner.retries || !self.retryable(&outcome, idempotent) {
                break outcome;
            }
            match self.retry_backend(backend, key.as_deref()) {
                Some(next) => (backend, attempt, retrying) = (next, attempt + 1, true),
                None => break outcome,
            }
        };
        let response = self.answer(backend, outcome);
        self.report_served(&job.method, start, response.status());
        (job.reply, response)
    }

    /// One attempt on `backend`, bracketed by `begin` and `end`.
    async fn attempt(&self, backend: usize, job: &Job, attempt: u32) -> Result<HttpResponse, CallError> {
        let inner = &self.inner;
        let client = &inner.clients[backend];
        let mut request = axum::http::Request::builder().method(job.method.clone()).uri(job.uri.clone());
        for (name, value) in job.headers.iter().filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str())) {
            request = request.header(name, value);
        }
        let request = request
            .header(header::HOST, client.addr())
            .header(ATTEMPT, attempt)
            .body(Full::new(job.body.clone()))
            .expect("a parsed request with a checked address rebuilds");
        inner.shared.borrow_mut().backends.begin(backend);
        let outcome = client.send_until(request, inner.env.sleep(inner.timeout)).await;
        let ok = matches!(&outcome, Ok(response) if !response.status.is_server_error());
        let now = inner.env.now();
        let ejected = inner.shared.borrow_mut().backends.end(backend, now, ok);
        if let Some(ejected) = ejected {
            self.ejected(ejected);
        }
        outcome
    }

    /// Whether a failed attempt may be tried again.
    fn retryable(&self, outcome: &Result<HttpResponse, CallError>, idempotent: bool) -> bool {
        let on = self.inner.retry_on;
        match outcome {
            Ok(response) => on.server_error && idempotent && response.status.is_server_error(),
            Err(CallError::Connect { .. }) => on.connect_failure,
            Err(CallError::Send { .. } | CallError::Disconnected(_)) => on.reset && idempotent,
            Err(CallError::Timeout(_)) => on.timeout && idempotent,
        }
    }

    /// The backend a retry of a request that failed on `failed` goes to, if the budget allows
    /// one and any backend is left; a granted retry is counted in flight.
    fn retry_backend(&self, failed: usize, key: Option<&[u8]>) -> Option<usize> {
        let inner = &self.inner;
        let now = inner.env.now();
        let shared = &mut *inner.shared.borrow_mut();
        if !shared.backends.try_retry() {
            return None;
        }
        shared.backends.set_out(inner.env.knob(Knob::LbOut));
        let Some(pick) = shared.backends.pick_retry(now, failed, key, &mut shared.rng) else {
            shared.backends.retry_done();
            return None;
        };
        shared.retries += 1;
        inner.env.gauge(gauge::LB_RETRIES, shared.retries as i64);
        Some(pick.backend)
    }

    /// The client's answer to an attempt's outcome on `backend`.
    fn answer(&self, backend: usize, outcome: Result<HttpResponse, CallError>) -> Response {
        let name = &self.inner.names[backend];
        match outcome {
            Ok(response) => pass_through(response),
            Err(CallError::Timeout(_)) => {
                let timeout = self.inner.timeout;
                plain(StatusCode::GATEWAY_TIMEOUT, format!("backend {name} did not answer within {timeout:?}"))
            }
            Err(error @ (CallError::Connect { .. } | CallError::Send { .. } | CallError::Disconnected(_))) => {
                plain(StatusCode::BAD_GATEWAY, format!("backend {name} failed: {error}"))
            }
        }
    }

    /// The `503` for a request that found no eligible backend.
    fn no_backend(&self, method: &Method, now: Duration) -> Response {
        let inner = &self.inner;
        let total = {
            let mut shared = inner.shared.borrow_mut();
            shared.no_backend += 1;
            inner.env.gauge(gauge::LB_NO_BACKEND, shared.no_backend as i64);
            shared.backends.len()
        };
        self.report_served(method, now, StatusCode::SERVICE_UNAVAILABLE);
        let text = format!("no backend eligible: all {total} backends are unhealthy or ejected");
        plain(StatusCode::SERVICE_UNAVAILABLE, text)
    }

    fn report_served(&self, method: &Method, start: Duration, status: StatusCode) {
        let env = &self.inner.env;
        if !env.observes_served() {
            return;
        }
        env.served(request_kind(method), env.now().saturating_sub(start), !status.is_server_error());
    }

    /// Reports an ejection and wakes the health task, which ends it in time.
    fn ejected(&self, ejected: Ejected) {
        let inner = &self.inner;
        inner.shared.borrow_mut().ejected[ejected.backend] = Some(ejected.until);
        let name = &inner.names[ejected.backend];
        inner.env.state(state::LB, &format!("{name}:ejected {}", show(ejected.duration())));
        self.observe(ejected.at);
        inner.wake.notify_one();
    }

    /// Publishes the health and ejection gauges and reports a panic-mode switch at `now`.
    fn observe(&self, now: Duration) {
        let inner = &self.inner;
        let mut shared = inner.shared.borrow_mut();
        let unhealthy = shared.healthy.iter().filter(|&&h| !h).count();
        let ejected = shared.ejected.iter().filter(|e| e.is_some()).count();
        inner.env.gauge(gauge::LB_UNHEALTHY, unhealthy as i64);
        inner.env.gauge(gauge::LB_EJECTED, ejected as i64);
        let panic = shared.backends.eligible(now).panic;
        if panic != shared.panic {
            shared.panic = panic;
            drop(shared);
            inner.env.state(state::LB, if panic { "panic:on" } else { "panic:off" });
        }
    }

    /// Probes the backends as they fall due and ends ejections as their time runs out, until
    /// serving ends.
    async fn health_loop(self) {
        let inner = &self.inner;
        while !inner.stopped.get() {
            let due = inner.shared.borrow_mut().backends.health_checks_due(inner.env.now());
            let probed = !due.is_empty();
            if probed {
                self.probe_round(due).await;
            }
            self.returns(inner.env.now());
            if probed {
                inner.rounds.send_modify(|rounds| *rounds += 1);
            }
            let next = {
                let shared = inner.shared.borrow();
                let returns = shared.ejected.iter().flatten().copied().min();
                Some(shared.backends.next_health_check())
                    .filter(|&at| at != Duration::MAX)
                    .into_iter()
                    .chain(returns)
                    .min()
            };
            let wake = inner.wake.notified();
            match next {
                Some(at) => {
                    let sleep = inner.env.sleep(at.saturating_sub(inner.env.now()));
                    tokio::select! {
                        biased;
                        () = wake => {}
                        () = sleep => {}
                    }
                }
                None => wake.await,
            }
        }
    }

    /// Probes `due` at once, each on its own task, and records each outcome as it arrives.
    async fn probe_round(&self, due: Vec<usize>) {
        let inner = &self.inner;
        let (results, mut outcomes) = mpsc::unbounded_channel();
        for &backend in &due {
            let (client, results, env) = (inner.probes[backend].clone(), results.clone(), inner.env.clone());
            let limit = inner.health_timeout;
            inner.env.spawn(async move {
                let request = client.request(Method::GET, "/health", &[], Bytes::new());
                let probe = match request {
                    Ok(request) => match client.send_until(request, env.sleep(limit)).await {
                        Ok(response) if response.status.is_success() => Probe::Passed,
                        Ok(_) => Probe::Rejected,
                        Err(_) => Probe::Failed,
                    },
                    Err(_) => Probe::Failed,
                };
                let _ = results.send((backend, probe));
            });
        }
        drop(results);
        while let Some((backend, probe)) = outcomes.recv().await {
            let now = inner.env.now();
            let change = inner.shared.borrow_mut().backends.record_health(backend, now, probe);
            if let Some(change) = change {
                self.health_changed(change, now);
            }
        }
    }

    fn health_changed(&self, change: HealthChange, now: Duration) {
        let inner = &self.inner;
        inner.shared.borrow_mut().healthy[change.backend] = change.healthy;
        let verdict = if change.healthy { "healthy" } else { "unhealthy" };
        inner.env.state(state::LB, &format!("{}:{verdict}", inner.names[change.backend]));
        self.observe(now);
    }

    /// Reports the ejections that have ended by `now`.
    fn returns(&self, now: Duration) {
        let inner = &self.inner;
        let returned = inner.shared.borrow_mut().backends.tick(now);
        for back in &returned {
            inner.shared.borrow_mut().ejected[back.backend] = None;
            inner.env.state(state::LB, &format!("{}:returned", inner.names[back.backend]));
        }
        self.observe(now);
    }
}

/// A duration as "30s", or "1500ms" when not whole seconds.
fn show(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The one handler: reads the request whole and hands it to the dispatcher.
async fn handle(State(jobs): State<mpsc::UnboundedSender<Job>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request bodies are limited to {MAX_BODY} bytes"));
        }
    };
    let (reply, answer) = oneshot::channel();
    let job = Job { method: parts.method, uri: parts.uri, headers: parts.headers, body, reply };
    if jobs.send(job).is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the proxy is stopping");
    }
    answer.await.unwrap_or_else(|_| plain(StatusCode::SERVICE_UNAVAILABLE, "the proxy is stopping"))
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
