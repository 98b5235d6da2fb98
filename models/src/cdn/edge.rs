//! The CDN edge host: an HTTP/1.1 caching reverse proxy in front of one origin, storing `GET`
//! responses by their `Cache-Control` (see [`super::cache_control`]) in a bytes-bounded LRU
//! ([`Store`]), on the seam.
//!
//! A `GET`:
//! - fresh copy: answered from the store (`x-cache: HIT`, with `Age`);
//! - stale copy within `stale-while-revalidate`: answered from the store (`x-cache: STALE`)
//!   while one background fetch refreshes it;
//! - otherwise a fetch from the origin (`x-cache: MISS`). Concurrent misses of one key are
//!   collapsed onto one fetch (single-flight, as CDNs' request collapsing does); a background
//!   refresh is such a fetch too, so a key has at most one fetch in flight. A fetch that fails
//!   (a `5xx`, its timeout, a refused or lost connection) is answered with the stored copy
//!   while it is within `stale-if-error` (`x-cache: STALE`), else with the error: the origin's
//!   `5xx` as it came, `504` for the timeout, `502` for a transport failure.
//!
//! A fetched response is stored when its status is cacheable by default (RFC 9110, 15.1), it
//! has no `Vary`, and its directives allow it and grant it a lifetime or a stale window; a
//! response that may not be stored drops the stored copy. An origin failure keeps the copy.
//! The client's own `Cache-Control` is not read (CDNs ignore it by default).
//!
//! Other methods pass through to the origin uncached (`x-cache: MISS`); a successful unsafe
//! one (`PUT`, `POST`, `DELETE`, `PATCH`) drops this edge's copy of its path (RFC 9111, 4.4).
//! `PURGE /path` drops the copy of `GET /path` (`200`, or `404` when none was stored), as
//! Varnish and Fastly do. The knob [`Knob::CdnPurge`] is a purge generation: when it changes,
//! the edge drops every copy (a full purge).
//!
//! Gauges: `cdn_hits`, `cdn_misses` (collapsed requests included), `cdn_stale`,
//! `origin_requests` (every request sent to the origin). Each answered request is reported
//! served (a proxy is an event loop: its requests take no worker or service time).
//!
//! This file must not parse `Cache-Control` (that is `cache_control`) or decide eviction (that
//! is `store`), and reads a clock only through the seam.

use super::cache_control::CacheControl;
use super::store::{Freshness, Store, Stored, key};
use crate::client::CallError;
use crate::http::bridge::{Submitter, bridge, dispatch};
use crate::http::client::{HttpClient, HttpResponse, MAX_BODY};
use crate::http::relay::{HOP_BY_HOP, pass_through, plain, request_kind};
use crate::http::server::serve_router;
use crate::seam::{Env, Knob};
use crate::server::Endpoint;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use faultline_vocab::gauge;
use http_body_util::Full;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The response header that says how the edge answered: `HIT`, `MISS` or `STALE`.
pub const X_CACHE: &str = "x-cache";

/// An edge's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// The origin's "host:port".
    pub origin: String,
    /// The store's size, bytes.
    pub capacity_bytes: usize,
    /// How long one origin request may take, connecting included.
    pub timeout: Duration,
    /// The most connections open to the origin at once.
    pub origin_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            origin: String::new(),
            capacity_bytes: 64 << 20,
            timeout: Duration::from_secs(1),
            origin_connections: crate::http::client::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What a bad edge configuration can be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The origin timeout is zero.
    #[error("the edge's `timeout` must be greater than zero")]
    ZeroTimeout,
    /// The origin's address is empty or not fit for a `host` header.
    #[error("the origin address {0:?} is empty or malformed")]
    BadOrigin(String),
}

/// A request read whole, handed to the host's executor.
struct Job {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// How the edge answered, for `x-cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Hit,
    Miss,
    Stale,
}

impl Via {
    fn text(self) -> &'static str {
        match self {
            Via::Hit => "HIT",
            Via::Miss => "MISS",
            Via::Stale => "STALE",
        }
    }
}

/// What an origin request came back with: its response, or the answer to its failure.
type Fetched = Result<HttpResponse, (StatusCode, String)>;

/// The requests that joined a fetch in flight, in the order they came. (One channel each, told
/// in that order: a `watch` channel's waiters wake in an order of its own choosing, drawn from
/// a thread-local RNG, which would make a run's trace depend on it.)
type Waiters = Vec<oneshot::Sender<Fetched>>;

/// The edge's counters, as its gauges publish them.
#[derive(Default)]
struct Counts {
    hits: u64,
    misses: u64,
    stale: u64,
    origin: u64,
}

struct Inner<E: Env> {
    env: E,
    client: HttpClient<E>,
    timeout: Duration,
    store: RefCell<Store>,
    flights: RefCell<BTreeMap<String, Waiters>>,
    /// The purge generation last acted on.
    purged: Cell<u64>,
    counts: RefCell<Counts>,
}

/// A CDN edge; clones share it.
pub struct Edge<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> Clone for Edge<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

/// Serves an edge built from `config` on `endpoint` until the listener fails; at most
/// `max_connections` client connections at once when set. A bad config is `InvalidInput`.
pub async fn serve_edge<E: Env>(
    env: E,
    endpoint: impl Endpoint<E>,
    max_connections: Option<usize>,
    config: EdgeConfig,
) -> io::Result<()> {
    let edge = Edge::new(env, config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    edge.serve(endpoint, max_connections).await
}

impl<E: Env> Edge<E> {
    /// Checks `config` and builds the edge; nothing is sent until [`Edge::serve`].
    pub fn new(env: E, config: EdgeConfig) -> Result<Self, EdgeError> {
        if config.timeout.is_zero() {
            return Err(EdgeError::ZeroTimeout);
        }
        if config.origin.is_empty() || HeaderValue::from_str(&config.origin).is_err() {
            return Err(EdgeError::BadOrigin(config.origin));
        }
        let client =
            HttpClient::with_max_connections(env.clone(), &config.origin, config.timeout, config.origin_connections);
        let inner = Inner {
            client,
            timeout: config.timeout,
            store: RefCell::new(Store::new(config.capacity_bytes)),
            flights: RefCell::new(BTreeMap::new()),
            purged: Cell::new(env.knob(Knob::CdnPurge)),
            counts: RefCell::new(Counts::default()),
            env,
        };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// Serves clients on `endpoint` until the listener fails.
    pub async fn serve(self, endpoint: impl Endpoint<E>, max_connections: Option<usize>) -> io::Result<()> {
        let env = self.inner.env.clone();
        self.publish();
        let (jobs, queue) = bridge();
        let this = self.clone();
        env.spawn(dispatch(env.clone(), queue, move |job: Job| {
            let this = this.clone();
            async move { this.answer(job).await }
        }));
        let router = Router::new().fallback(handle).with_state(jobs);
        serve_router(env, endpoint, max_connections, router).await
    }

    /// Entries and bytes in the store.
    pub fn stored(&self) -> (usize, usize) {
        let stats = self.inner.store.borrow().stats();
        (stats.entries, stats.used_bytes)
    }

    /// Origin fetches in flight (one at most per key).
    pub fn fetching(&self) -> usize {
        self.inner.flights.borrow().len()
    }

    /// Answers one request and reports it served.
    async fn answer(&self, job: Job) -> Response {
        let start = self.inner.env.now();
        self.sync_purge();
        let method = job.method.clone();
        let response = match method {
            Method::GET => self.get(job).await,
            _ if method.as_str() == "PURGE" => self.purge(&job.uri),
            _ => self.pass(job).await,
        };
        self.report_served(&method, start, response.status());
        response
    }

    /// A `GET`: from the store, or through a (collapsed) fetch.
    async fn get(&self, job: Job) -> Response {
        let inner = &self.inner;
        let key = key(Method::GET.as_str(), path_of(&job.uri));
        let now = inner.env.now();
        let found = inner.store.borrow_mut().get(&key).map(|stored| (stored.freshness(now), stored.clone()));
        match found {
            Some((Freshness::Fresh, stored)) => {
                self.count(|c| c.hits += 1);
                return from_store(&stored, now, Via::Hit);
            }
            Some((Freshness::Revalidate, stored)) => {
                self.count(|c| c.stale += 1);
                self.refresh(key, job);
                return from_store(&stored, now, Via::Stale);
            }
            Some((Freshness::IfError | Freshness::Expired, _)) | None => {}
        }
        self.count(|c| c.misses += 1);
        let fetched = self.fetch(key.clone(), &job).await;
        let failed = match &fetched {
            Ok(response) => response.status.is_server_error(),
            Err(_) => true,
        };
        if failed {
            let now = inner.env.now();
            let fallback = inner.store.borrow_mut().get(&key).filter(|s| s.serves_on_error(now)).cloned();
            if let Some(stored) = fallback {
                self.count(|c| c.stale += 1);
                return from_store(&stored, now, Via::Stale);
            }
        }
        match fetched {
            Ok(response) => with_via(pass_through(response), Via::Miss),
            Err((status, text)) => with_via(plain(status, text), Via::Miss),
        }
    }

    /// Starts a background fetch of `key` unless one is in flight.
    fn refresh(&self, key: String, job: Job) {
        if self.inner.flights.borrow().contains_key(&key) {
            return;
        }
        let this = self.clone();
        self.inner.env.spawn(async move {
            let _ = this.fetch(key, &job).await;
        });
    }

    /// The origin's answer to `job` for `key`: joins the fetch in flight, or makes one, stores
    /// what it may and tells the requests that joined it.
    async fn fetch(&self, key: String, job: &Job) -> Fetched {
        let inner = &self.inner;
        let joined = inner.flights.borrow_mut().get_mut(&key).map(|waiters| {
            let (tell, told) = oneshot::channel();
            waiters.push(tell);
            told
        });
        if let Some(told) = joined {
            let abandoned = || (StatusCode::BAD_GATEWAY, "the origin fetch this request joined was abandoned".into());
            return told.await.unwrap_or_else(|_| Err(abandoned()));
        }
        inner.flights.borrow_mut().insert(key.clone(), Vec::new());
        let fetched = self.send(job).await;
        if let Ok(response) = &fetched {
            self.keep(&key, job, response);
        }
        let waiters = inner.flights.borrow_mut().remove(&key).unwrap_or_default();
        for waiter in waiters {
            // A waiter whose client hung up gets nothing.
            let _ = waiter.send(fetched.clone());
        }
        fetched
    }

    /// Stores a fetched response, or drops the stored copy when the response may not be kept;
    /// a server error keeps the copy (for `stale-if-error`).
    fn keep(&self, key: &str, job: &Job, response: &HttpResponse) {
        if response.status.is_server_error() && response.status != StatusCode::NOT_IMPLEMENTED {
            return;
        }
        let cc = CacheControl::from_headers(&response.headers);
        let authorized = job.headers.contains_key(header::AUTHORIZATION);
        let storable = cacheable_status(response.status)
            && !response.headers.contains_key(header::VARY)
            && cc.worth_storing(authorized);
        let store = &mut *self.inner.store.borrow_mut();
        if !storable {
            store.remove(key);
            return;
        }
        let initial_age = response.header_u64(header::AGE.as_str()).map_or(Duration::ZERO, Duration::from_secs);
        let stored = Stored {
            status: response.status,
            headers: end_to_end(&response.headers),
            body: response.body.clone(),
            cc,
            received: self.inner.env.now(),
            initial_age,
        };
        store.insert(key, stored);
    }

    /// A request passed to the origin uncached; a successful unsafe one drops the copy of its
    /// path.
    async fn pass(&self, job: Job) -> Response {
        let fetched = self.send(&job).await;
        let unsafe_method = !matches!(job.method, Method::HEAD | Method::OPTIONS | Method::TRACE);
        if let Ok(response) = &fetched
            && unsafe_method
            && (response.status.is_success() || response.status.is_redirection())
        {
            self.inner.store.borrow_mut().remove(&key(Method::GET.as_str(), path_of(&job.uri)));
        }
        match fetched {
            Ok(response) => with_via(pass_through(response), Via::Miss),
            Err((status, text)) => with_via(plain(status, text), Via::Miss),
        }
    }

    /// `PURGE /path`: drops the copy of `GET /path`.
    fn purge(&self, uri: &Uri) -> Response {
        let path = path_of(uri);
        if self.inner.store.borrow_mut().remove(&key(Method::GET.as_str(), path)) {
            plain(StatusCode::OK, format!("purged {path}"))
        } else {
            plain(StatusCode::NOT_FOUND, format!("{path} was not stored"))
        }
    }

    /// One request to the origin, within the timeout.
    async fn send(&self, job: &Job) -> Fetched {
        let inner = &self.inner;
        let client = &inner.client;
        let mut request = axum::http::Request::builder().method(job.method.clone()).uri(path_of(&job.uri));
        for (name, value) in job.headers.iter().filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str())) {
            request = request.header(name, value);
        }
        let request = request
            .header(header::HOST, client.addr())
            .body(Full::new(job.body.clone()))
            .expect("a parsed request with a checked origin address rebuilds");
        self.count(|c| c.origin += 1);
        match client.send_until(request, inner.env.sleep(inner.timeout)).await {
            Ok(response) => Ok(response),
            Err(CallError::Timeout(_)) => {
                Err((StatusCode::GATEWAY_TIMEOUT, format!("the origin did not answer within {:?}", inner.timeout)))
            }
            Err(error @ (CallError::Connect { .. } | CallError::Send { .. } | CallError::Disconnected(_))) => {
                Err((StatusCode::BAD_GATEWAY, format!("the origin failed: {error}")))
            }
        }
    }

    /// Drops every copy when the purge generation has changed.
    fn sync_purge(&self) {
        let inner = &self.inner;
        let generation = inner.env.knob(Knob::CdnPurge);
        if generation != inner.purged.get() {
            inner.purged.set(generation);
            inner.store.borrow_mut().clear();
        }
    }

    fn count(&self, change: impl FnOnce(&mut Counts)) {
        change(&mut self.inner.counts.borrow_mut());
        self.publish();
    }

    fn publish(&self) {
        let (env, counts) = (&self.inner.env, self.inner.counts.borrow());
        env.gauge(gauge::CDN_HITS, counts.hits as i64);
        env.gauge(gauge::CDN_MISSES, counts.misses as i64);
        env.gauge(gauge::CDN_STALE, counts.stale as i64);
        env.gauge(gauge::ORIGIN_REQUESTS, counts.origin as i64);
    }

    fn report_served(&self, method: &Method, start: Duration, status: StatusCode) {
        let env = &self.inner.env;
        if !env.observes_served() {
            return;
        }
        env.served(request_kind(method), env.now().saturating_sub(start), !status.is_server_error());
    }
}

/// The statuses cacheable by default (RFC 9110, 15.1).
fn cacheable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501)
}

/// The path and query of `uri`.
fn path_of(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// `headers` without the hop-by-hop ones and `age` (recomputed on every use).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers.iter().filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()) && *n != header::AGE) {
        out.append(name, value.clone());
    }
    out
}

/// A stored response as served at `now`, with its `Age`.
fn from_store(stored: &Stored, now: Duration, via: Via) -> Response {
    let mut out = Response::new(Body::from(stored.body.clone()));
    *out.status_mut() = stored.status;
    *out.headers_mut() = stored.headers.clone();
    out.headers_mut().insert(header::AGE, HeaderValue::from(stored.age(now).as_secs()));
    with_via(out, via)
}

fn with_via(mut response: Response, via: Via) -> Response {
    response.headers_mut().insert(X_CACHE, HeaderValue::from_static(via.text()));
    response
}

/// The one handler: reads the request whole and hands it to the host's executor.
async fn handle(State(jobs): State<Submitter<Job>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request bodies are limited to {MAX_BODY} bytes"));
        }
    };
    jobs.submit(Job { method: parts.method, uri: parts.uri, headers: parts.headers, body }).await
}

#[cfg(test)]
#[path = "edge_tests.rs"]
mod tests;
