//! The app's HTTP front: its routes, built with axum, and the bridge that runs each request on
//! the host's own executor through the server's queueing model.
//!
//! Routes:
//! - `GET /items/{key}`: a cache-aside read. `200` with the value as the body, or `404`; both
//!   carry `x-lsn`, and [`HttpFront::cache_control`]'s `Cache-Control` when it is set. A request header `x-min-lsn` is the user's read-your-writes token.
//! - `PUT /items/{key}`: writes the body (at most `max_body` bytes, else `413`), then the
//!   caches are invalidated (or written through). `200` with `x-lsn` and `x-epoch`. With a
//!   request header `x-expect` (the hex of the value the key must hold, or `absent`), a
//!   compare-and-set: `409` when the key holds something else.
//! - `DELETE /items/{key}`: as `PUT`, deleting.
//! - `POST /checkout`: charges the order (the body) through the third-party payment API, behind
//!   its circuit breaker when one is configured, then stores it (see `checkout`). `200` with
//!   `x-lsn`; `502` when the payment failed, `503` when the breaker is open (it fails fast).
//! - `POST /login`: with sessions configured ([`HttpFront::sessions`]), creates one for the
//!   `x-user` user and answers `200` with `set-cookie: session=<id>`; then every `/items/*`,
//!   `/page/*` and `/checkout` request needs that cookie, else `401` (see [`super::session`]). Without
//!   sessions, `/login` is `404` and no cookie is asked for.
//! - `GET /page/{key}`: the page composed from its parts (see `page`): `200`, with `x-degraded`
//!   naming optional parts left out; a failed required part is `502` (`503` if its breaker is open).
//! - `GET /health`: checks the store with a read (`200 ok`, or `503` naming the failure);
//!   handled at once, outside the worker queue, as a load balancer's probe should be.
//!
//! Rate limit: with one configured ([`super::AppConfig::rate_limit`]), every `/items/*` and
//! `/checkout` request is checked before the worker queue (a limiter is cheap and sheds before
//! work), keyed by the `x-user` header (absent: "anonymous") or by one global key. A refused
//! request gets `429` with `retry-after` (whole seconds, rounded up); `/health` is never
//! limited.
//!
//! Chaos: while the knob `FailRequests` is at p, p% of the requests other than `/health` are
//! answered `500` once they had their worker and service time (a gray failure: the health check
//! passes, real requests fail). While the knob `FailHealth` is set, `/health` answers `503` (a
//! version whose health check fails). With [`HttpFront::publish_health`], each health answer is
//! published as the gauge `health` (1 passed, 0 failed): a deploy's readiness probe reads it.
//!
//! Errors: a dependency that failed or timed out is `502` (the body names it); a request shed by
//! the queue is `503`; one whose work outlived `request_timeout` is `504`. Unknown paths are
//! `404`, wrong methods `405`, malformed requests `400`.
//!
//! A handler parses the request into a [`Route`] and hands it over the bridge
//! ([`crate::http::bridge`]) to the host's executor, which serves each through
//! [`crate::server::Workers`] (worker slots, queue, service time, served reports) and the
//! [`App`], in the order they arrived.
//!
//! This file must not know how the tiers store data: it maps HTTP onto the app's reads and
//! writes, and their replies back.

use super::App;
use super::session::{self, Lookup, SessionConfig, Sessions, session_cookie};
use crate::http::bridge::{Submitter, bridge, dispatch};
use crate::http::relay::plain;
use crate::http::{self, server::serve_router};
use crate::kv::api::Msg;
use crate::proto::ErrorCode;
use crate::seam::{Env, Knob, RequestKind, timeout};
use crate::server::{Capacity, Endpoint, Workers};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use faultline_vocab::gauge;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// Settings of the HTTP front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFront {
    /// The longest a request's work may take once it has a worker (`504` after).
    pub request_timeout: Duration,
    /// The largest request body accepted (`413` above).
    pub max_body: usize,
    /// User sessions (`POST /login`, a cookie on every other request); `None`: none.
    pub sessions: Option<SessionConfig>,
    /// The `Cache-Control` of a read's `200` and `404` (`None`: no header).
    pub cache_control: Option<HeaderValue>,
    /// Whether each health answer is published as the gauge `health` (a deploy's readiness
    /// probe reads it; off, the default, publishes nothing).
    pub publish_health: bool,
}

impl Default for HttpFront {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(1),
            max_body: 1 << 20,
            sessions: None,
            cache_control: None,
            publish_health: false,
        }
    }
}

/// A request, parsed by its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Read a key with a read-your-writes token.
    Get {
        /// The key.
        key: Vec<u8>,
        /// The token (0: none).
        min_lsn: u64,
    },
    /// Write a key, or compare-and-set it when `expected` is given.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// `Some(None)`: the key must be absent; `Some(Some(v))`: it must hold `v`.
        expected: Option<Option<Vec<u8>>>,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Check out an order: charge it through the payment API, then store it.
    Checkout {
        /// The order (the request body).
        order: Vec<u8>,
    },
    /// Log in: create a session for the request's user.
    Login,
    /// Compose the page of a key from its parts.
    Page {
        /// The key.
        key: String,
    },
    /// Check the dependencies.
    Health,
}

/// A request handed over the bridge: its route and the user it counts against.
struct Request {
    route: Route,
    /// The `x-user` header's bytes, or "anonymous".
    user: Vec<u8>,
    /// The session id its cookie carries, if any.
    session: Option<Vec<u8>>,
}

/// The user a request without an `x-user` header counts as.
const ANONYMOUS: &[u8] = b"anonymous";

type Jobs = Submitter<Request>;

/// Serves `app` over HTTP on `endpoint` with `capacity` until the listener fails.
pub async fn serve_http<E: Env>(
    env: E,
    endpoint: impl Endpoint<E>,
    capacity: Capacity,
    app: App<E>,
    mut front: HttpFront,
) -> io::Result<()> {
    let (jobs, queue) = bridge();
    let (max_connections, max_body) = (capacity.max_connections, front.max_body);
    let sessions = match front.sessions.take() {
        Some(config) => {
            let nodes = app.cache.as_ref().map(|tier| tier.nodes());
            Some(Rc::new(Sessions::new(env.clone(), config, nodes, app.timeout).map_err(io::Error::other)?))
        }
        None => None,
    };
    let dispatcher = Dispatcher {
        sessions,
        app: Rc::new(app),
        workers: Rc::new(Workers::new(env.clone(), capacity)),
        front,
        faults: Rc::new(RefCell::new(env.rng("fail-requests"))),
    };
    let serving = env.clone();
    env.spawn(dispatch(env.clone(), queue, move |request: Request| {
        let (this, env) = (dispatcher.clone(), serving.clone());
        async move { this.serve(&env, request).await }
    }));
    serve_router(env, endpoint, max_connections, routes(jobs, max_body)).await
}

/// The app's router.
fn routes(jobs: Jobs, max_body: usize) -> Router {
    Router::new()
        .route("/items/{key}", get(get_item).put(put_item).delete(delete_item))
        .route("/checkout", post(checkout))
        .route("/login", post(login))
        .route("/page/{key}", get(get_page))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(jobs)
}

/// A header holding an unsigned integer; absent is `None`, anything else an error reply.
fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Response> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let parsed = value.to_str().ok().and_then(|v| v.parse().ok());
    parsed.map(Some).ok_or_else(|| plain(StatusCode::BAD_REQUEST, format!("{name} must be an unsigned integer")))
}

/// Hands `route` over as a request of the user `headers` name.
async fn submit(jobs: &Jobs, headers: &HeaderMap, route: Route) -> Response {
    let user = headers.get(http::USER).map_or(ANONYMOUS, HeaderValue::as_bytes).to_vec();
    jobs.submit(Request { route, user, session: session_cookie(headers) }).await
}

async fn get_item(State(jobs): State<Jobs>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    match header_u64(&headers, http::MIN_LSN) {
        Ok(min_lsn) => {
            submit(&jobs, &headers, Route::Get { key: key.into_bytes(), min_lsn: min_lsn.unwrap_or(0) }).await
        }
        Err(bad) => bad,
    }
}

async fn put_item(State(jobs): State<Jobs>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let expected = match headers.get(http::EXPECT).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(http::EXPECT_ABSENT)) => Some(None),
        Some(Ok(text)) => match http::unhex(text) {
            Some(value) => Some(Some(value)),
            None => return plain(StatusCode::BAD_REQUEST, "x-expect must be hex or \"absent\""),
        },
        Some(Err(_)) => return plain(StatusCode::BAD_REQUEST, "x-expect must be hex or \"absent\""),
    };
    submit(&jobs, &headers, Route::Put { key: key.into_bytes(), value: body.to_vec(), expected }).await
}

async fn delete_item(State(jobs): State<Jobs>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    submit(&jobs, &headers, Route::Delete { key: key.into_bytes() }).await
}

async fn checkout(State(jobs): State<Jobs>, headers: HeaderMap, body: Bytes) -> Response {
    submit(&jobs, &headers, Route::Checkout { order: body.to_vec() }).await
}

async fn login(State(jobs): State<Jobs>, headers: HeaderMap) -> Response {
    submit(&jobs, &headers, Route::Login).await
}

async fn get_page(State(jobs): State<Jobs>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    submit(&jobs, &headers, Route::Page { key }).await
}

async fn health(State(jobs): State<Jobs>) -> Response {
    jobs.submit(Request { route: Route::Health, user: ANONYMOUS.to_vec(), session: None }).await
}

/// Runs the handed-over requests on the host's executor.
struct Dispatcher<E: Env> {
    app: Rc<App<E>>,
    sessions: Option<Rc<Sessions<E>>>,
    workers: Rc<Workers<E>>,
    front: HttpFront,
    /// Draws which requests fail while the `FailRequests` knob is turned.
    faults: Rc<RefCell<ChaCha8Rng>>,
}

impl<E: Env> Clone for Dispatcher<E> {
    fn clone(&self) -> Self {
        Self {
            app: self.app.clone(),
            sessions: self.sessions.clone(),
            workers: self.workers.clone(),
            front: self.front.clone(),
            faults: self.faults.clone(),
        }
    }
}

impl<E: Env> Dispatcher<E> {
    async fn serve(&self, env: &E, request: Request) -> Response {
        let Request { route, user, session } = request;
        let kind = match &route {
            Route::Health => return self.health(env).await,
            Route::Login if self.sessions.is_none() => return plain(StatusCode::NOT_FOUND, "no sessions here"),
            Route::Get { .. } | Route::Page { .. } => RequestKind::Read,
            Route::Put { .. } | Route::Delete { .. } | Route::Checkout { .. } | Route::Login => RequestKind::Write,
        };
        // Before the worker queue: a refused request costs no worker. A login is not limited.
        if route != Route::Login
            && let Some(wait) = self.app.limit(&user).await
        {
            return rate_limited(wait);
        }
        let user = &user;
        let limit = self.front.request_timeout;
        let work = || async move {
            if self.injected_failure(env) {
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "injected failure (fail_requests)");
            }
            // Boxed where it is made: the call's future runs to kilobytes (copied, unboxed, into
            // the timeout's and then the worker queue's).
            match timeout(env, limit, Box::pin(self.session_call(route, user, session))).await {
                Ok(response) => response,
                Err(_) => plain(StatusCode::GATEWAY_TIMEOUT, format!("the request took over {limit:?}")),
            }
        };
        let is_failure = |response: &Response| response.status().is_server_error();
        match self.workers.query(kind, None, true, work, is_failure).await {
            Ok(response) => response,
            Err(shed) => plain(StatusCode::SERVICE_UNAVAILABLE, shed.detail()),
        }
    }

    /// Whether this request fails on purpose: the `FailRequests` knob's percent of them do.
    fn injected_failure(&self, env: &E) -> bool {
        match env.knob(Knob::FailRequests) {
            0 => false,
            percent => self.faults.borrow_mut().random_range(0..100) < percent,
        }
    }

    /// Serves `route` once its session is found (when sessions are on): a login creates one.
    async fn session_call(&self, route: Route, user: &[u8], session: Option<Vec<u8>>) -> Response {
        let Some(sessions) = &self.sessions else { return self.app_call(route).await };
        let tier = self.app.cache.as_ref();
        if route == Route::Login {
            return match sessions.create(user, tier).await {
                Ok(id) => {
                    let cookie = format!("{}={id}; Path=/; HttpOnly", session::COOKIE);
                    (StatusCode::OK, [(header::SET_COOKIE, cookie)]).into_response()
                }
                Err(why) => plain(StatusCode::SERVICE_UNAVAILABLE, why),
            };
        }
        let Some(id) = session else { return plain(StatusCode::UNAUTHORIZED, "no session cookie: log in first") };
        match sessions.find(&id, tier).await {
            Lookup::Valid(_) => self.app_call(route).await,
            Lookup::Unknown => plain(StatusCode::UNAUTHORIZED, "unknown or expired session: log in again"),
            Lookup::Unavailable(why) => plain(StatusCode::SERVICE_UNAVAILABLE, why),
        }
    }

    async fn app_call(&self, route: Route) -> Response {
        match route {
            Route::Get { key, min_lsn } => cacheable(reply(self.app.get(key, min_lsn).await), &self.front),
            Route::Put { key, value, expected: None } => {
                reply(self.app.write(key.clone(), Msg::Put { key, value }).await)
            }
            Route::Put { key, value, expected: Some(expected) } => {
                reply(self.app.write(key.clone(), Msg::Cas { key, expected, value }).await)
            }
            Route::Delete { key } => reply(self.app.write(key.clone(), Msg::Delete { key }).await),
            Route::Checkout { order } => reply(self.app.checkout(order).await),
            Route::Page { key } => super::page::respond(self.app.page(&key).await),
            Route::Health => plain(StatusCode::NOT_FOUND, "health is answered before the worker queue"),
            Route::Login => plain(StatusCode::NOT_FOUND, "no sessions here"),
        }
    }

    /// The health answer, published as the `health` gauge when the front says so (what a
    /// deploy's readiness probe reads): `503` while the `FailHealth` knob is set, else the
    /// store's check.
    async fn health(&self, env: &E) -> Response {
        let answer = match env.knob(Knob::FailHealth) {
            0 => self.app.health().await,
            _ => Err("health check failing (fail_health)".to_string()),
        };
        if self.front.publish_health {
            env.gauge(gauge::HEALTH, i64::from(answer.is_ok()));
        }
        match answer {
            Ok(()) => plain(StatusCode::OK, "ok"),
            Err(detail) => plain(StatusCode::SERVICE_UNAVAILABLE, detail),
        }
    }
}

/// The `429` of a request the rate limit refused: `retry-after` in whole seconds, rounded up.
fn rate_limited(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = format!("rate limited: retry after {seconds}s\n");
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, seconds.to_string())], body).into_response()
}

/// A read's answer with the front's `Cache-Control`, when it is a `200` or `404`.
fn cacheable(mut response: Response, front: &HttpFront) -> Response {
    if let Some(value) = &front.cache_control
        && matches!(response.status(), StatusCode::OK | StatusCode::NOT_FOUND)
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value.clone());
    }
    response
}

/// The HTTP response to an app reply.
fn reply(msg: Msg) -> Response {
    match msg {
        Msg::Value { value, lsn } => {
            let (status, body) = match value {
                Some(value) => (StatusCode::OK, Body::from(value)),
                None => (StatusCode::NOT_FOUND, Body::empty()),
            };
            (status, [(http::LSN, lsn.to_string())], body).into_response()
        }
        Msg::Written { lsn, epoch } => {
            (StatusCode::OK, [(http::LSN, lsn.to_string()), (http::EPOCH, epoch.to_string())]).into_response()
        }
        Msg::Error { code, detail } => plain(status_of(code), detail),
        other => plain(StatusCode::BAD_GATEWAY, format!("the app answered an unexpected {}", other.name())),
    }
}

/// The status an app error is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::CasMismatch => StatusCode::CONFLICT,
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Overloaded | ErrorCode::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Upstream
        | ErrorCode::NotPrimary
        | ErrorCode::Fenced
        | ErrorCode::Storage
        | ErrorCode::PoolTimeout => StatusCode::BAD_GATEWAY,
    }
}

/// The error code an HTTP status stands for, for a client that records codes (`None`: success,
/// including a read's `404`).
pub fn code_of(status: StatusCode) -> Option<ErrorCode> {
    match status.as_u16() {
        200..=299 | 404 => None,
        401 => Some(ErrorCode::Unauthorized),
        409 => Some(ErrorCode::CasMismatch),
        429 => Some(ErrorCode::RateLimited),
        503 => Some(ErrorCode::Overloaded),
        400..=499 => Some(ErrorCode::BadRequest),
        _ => Some(ErrorCode::Upstream),
    }
}
