//! Tests of the proxy host on loopback, against small axum backends served by `serve_router`:
//! balancing (round robin, least request), pass-through, retries around a dead backend and the
//! health checks that take it out, outlier ejection of a gray failure and its return, the retry
//! budget, consistent hashing by header, panic mode, no backend, timeouts and which methods are
//! retried. Time-dependent tests run the proxy on a manual clock.

use super::{ATTEMPT, LbProxy, ProxyConfig, ProxyError, serve_proxy};
use crate::http::client::{HttpClient, HttpResponse};
use crate::http::server::serve_router;
use crate::lb::{Algorithm, HealthConfig, InitialHealth, LbConfig, OutlierConfig, RetryBudgetConfig};
use crate::seam::{Env, TokioEnv};
use crate::testenv::{TestEnv, block_on};
use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use bytes::Bytes;
use faultline_vocab::gauge;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

const LIMIT: Duration = Duration::from_secs(5);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A backend named `name`: `/health` answers `health`, `/items/{key}` (GET, POST) answers `items` with its
/// name as the body and an `x-backend` header, `POST /echo` answers the body and `x-echo` back.
fn backend(name: &str, health: StatusCode, items: StatusCode) -> Router {
    let name = name.to_string();
    let item = move || {
        let name = name.clone();
        async move { (items, [("x-backend", name.clone())], name) }
    };
    Router::new()
        .route("/health", get(move || async move { (health, "ok") }))
        .route("/items/{key}", get(item.clone()).post(item))
        .route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let echo = headers.get("x-echo").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                (StatusCode::CREATED, [("x-echo", echo)], body)
            }),
        )
}

/// Serves `router` on a loopback port: its address.
async fn start(router: Router) -> String {
    let env = TokioEnv::new("backend", "127.0.0.1", 1);
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    tokio::task::spawn_local(serve_router(env, listener, None, router));
    addr
}

/// An address nothing listens on.
async fn dead_address() -> String {
    let env = TokioEnv::new("dead", "127.0.0.1", 1);
    let listener = env.bind(0).await.expect("bind");
    listener.local_addr().expect("an address").to_string()
}

/// Health checks every 5 s, out after 2 failures, in after 2 passes, starting healthy.
fn health() -> HealthConfig {
    HealthConfig {
        interval: secs(5),
        timeout: secs(1),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        initial: InitialHealth::Healthy,
    }
}

/// A proxy config over `backends` (name, address), weight 1 each, one retry.
fn config(backends: &[(&str, &str)], lb: LbConfig) -> ProxyConfig {
    ProxyConfig {
        backends: backends.iter().map(|(name, addr)| (name.to_string(), addr.to_string(), 1)).collect(),
        lb,
        timeout: LIMIT,
        ..ProxyConfig::default()
    }
}

/// Round robin with health checks, without outlier detection.
fn round_robin() -> LbConfig {
    LbConfig { algorithm: Algorithm::RoundRobin, health: Some(health()), outlier: None, ..LbConfig::default() }
}

/// Serves a proxy on loopback: the proxy (to read its counts) and a client of it.
async fn start_proxy(env: &TestEnv, config: ProxyConfig) -> (LbProxy<TestEnv>, HttpClient<TestEnv>) {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let proxy = LbProxy::new(env.clone(), config).expect("a valid config");
    tokio::task::spawn_local(proxy.clone().serve(listener, None));
    (proxy, HttpClient::new(env.clone(), addr, LIMIT))
}

async fn send(client: &HttpClient<TestEnv>, method: Method, path: &str, headers: &[(&str, String)]) -> HttpResponse {
    let request = client.request(method, path, headers, Bytes::new()).expect("a valid request");
    client.send(request).await.expect("the proxy answers")
}

/// Sends `n` GETs of `/items/k` and counts the answers by status and body.
async fn spread(client: &HttpClient<TestEnv>, n: usize) -> BTreeMap<(u16, String), usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let response = send(client, Method::GET, "/items/k", &[]).await;
        let body = String::from_utf8_lossy(&response.body).trim().to_string();
        *counts.entry((response.status.as_u16(), body)).or_default() += 1;
    }
    counts
}

fn ok(name: &str, n: usize) -> ((u16, String), usize) {
    ((200, name.to_string()), n)
}

fn reports(env: &TestEnv) -> Vec<String> {
    env.state_log().into_iter().map(|(_, report)| report).collect()
}

/// Waits for `what`, failing the test rather than hanging when it never comes.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(secs(10), future).await.unwrap_or_else(|_| panic!("{what} never happened"))
}

async fn rounds(proxy: &LbProxy<TestEnv>, n: u64) {
    let mut rounds = proxy.health_rounds();
    within("a round of health checks", rounds.wait_for(|&done| done >= n)).await.expect("the health task runs");
}

#[test]
fn round_robin_spreads_evenly_and_responses_pass_through() {
    block_on(async {
        let mut addrs = Vec::new();
        for name in ["app1", "app2", "app3"] {
            addrs.push(start(backend(name, StatusCode::OK, StatusCode::OK)).await);
        }
        let env = TestEnv::new("lb");
        let backends = [("app1", addrs[0].as_str()), ("app2", addrs[1].as_str()), ("app3", addrs[2].as_str())];
        let (proxy, client) = start_proxy(&env, config(&backends, round_robin())).await;
        let counts = spread(&client, 30).await;
        assert_eq!(counts, BTreeMap::from([ok("app1", 10), ok("app2", 10), ok("app3", 10)]));
        assert_eq!(proxy.routed(), [10, 10, 10]);
        let response = send(&client, Method::GET, "/items/k", &[]).await;
        assert_eq!(response.headers.get("x-backend").map(|v| v.as_bytes()), Some(&b"app1"[..]));
        let missing = send(&client, Method::GET, "/nothing", &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "a backend's 4xx passes through, not retried");
        let request = client
            .request(Method::POST, "/echo", &[("x-echo", "hello".into())], Bytes::from_static(b"a body"))
            .expect("a valid request");
        let echoed = client.send(request).await.expect("an answer");
        assert_eq!(echoed.status, StatusCode::CREATED);
        assert_eq!(
            (echoed.body.as_ref(), echoed.headers.get("x-echo").map(|v| v.as_bytes())),
            (&b"a body"[..], Some(&b"hello"[..]))
        );
        assert_eq!(proxy.retry_stats().granted, 0);
        assert_eq!(client.opened(), 1, "the proxy keeps its client's connection alive");
    });
}

/// A backend whose `/slow` reports its name on `started` and answers once `release` fires.
fn slow_backend(name: &str, started: mpsc::UnboundedSender<String>, release: Arc<Notify>) -> Router {
    let tag = name.to_string();
    backend(name, StatusCode::OK, StatusCode::OK).route(
        "/slow",
        get(move || async move {
            let _ = started.send(tag.clone());
            release.notified().await;
            tag
        }),
    )
}

#[test]
fn least_request_prefers_idle_backends_over_one_with_a_slow_request() {
    block_on(async {
        let (started, mut slow) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let names = ["app1", "app2", "app3"];
        let mut addrs = Vec::new();
        for name in names {
            addrs.push(start(slow_backend(name, started.clone(), release.clone())).await);
        }
        let env = TestEnv::new("lb");
        let lb = LbConfig { algorithm: Algorithm::least_request(), ..round_robin() };
        let backends: Vec<(&str, &str)> = names.iter().copied().zip(addrs.iter().map(String::as_str)).collect();
        let (proxy, client) = start_proxy(&env, config(&backends, lb)).await;
        let client = Rc::new(client);
        let held = tokio::task::spawn_local({
            let client = client.clone();
            async move { send(&client, Method::GET, "/slow", &[]).await }
        });
        let busy = slow.recv().await.expect("the slow request arrives");
        let counts = spread(&client, 60).await;
        let to_busy = counts.get(&(200, busy.clone())).copied().unwrap_or(0);
        assert_eq!(counts.values().sum::<usize>(), 60);
        // Round robin would send it 20; two choices send it only what drew it twice (1 in 9).
        assert!(to_busy < 12, "{busy} with a request in flight got {to_busy} of 60: {counts:?}");
        assert_eq!(proxy.routed().iter().sum::<u64>(), 61);
        release.notify_one();
        let answer = held.await.expect("the slow request ends");
        assert_eq!(answer.body.as_ref(), busy.as_bytes());
    });
}

#[test]
fn a_dead_backend_is_retried_around_then_taken_out_by_health_checks() {
    block_on(async {
        let (a, b) = (
            start(backend("a", StatusCode::OK, StatusCode::OK)).await,
            start(backend("b", StatusCode::OK, StatusCode::OK)).await,
        );
        let dead = dead_address().await;
        let env = TestEnv::manual("lb");
        let (proxy, client) = start_proxy(&env, config(&[("a", &a), ("b", &b), ("dead", &dead)], round_robin())).await;
        rounds(&proxy, 1).await;
        let counts = spread(&client, 30).await;
        assert_eq!(counts.keys().map(|(status, _)| *status).collect::<Vec<_>>(), [200, 200], "{counts:?}");
        let to_dead = proxy.routed()[2];
        assert!(to_dead >= 5, "round robin sends the dead backend its share first: {to_dead}");
        assert_eq!(proxy.retry_stats().granted, to_dead, "each attempt on it was retried");
        assert_eq!(env.gauge(gauge::LB_RETRIES), Some(to_dead as i64));
        assert_eq!(env.gauge(gauge::LB_UNHEALTHY), Some(0), "one failed check is below the threshold");
        env.advance(secs(5));
        rounds(&proxy, 2).await;
        assert!(reports(&env).contains(&"lb: dead:unhealthy".to_string()), "{:?}", reports(&env));
        assert_eq!(env.gauge(gauge::LB_UNHEALTHY), Some(1));
        let counts = spread(&client, 30).await;
        assert_eq!(counts, BTreeMap::from([ok("a", 15), ok("b", 15)]));
        assert_eq!(proxy.routed()[2], to_dead, "nothing is routed to it once unhealthy");
        assert_eq!(proxy.retry_stats().granted, to_dead, "no more retries");
    });
}

#[test]
fn a_gray_failure_is_ejected_by_outlier_detection_and_returns_after_its_time() {
    block_on(async {
        let (a, b) = (
            start(backend("a", StatusCode::OK, StatusCode::OK)).await,
            start(backend("b", StatusCode::OK, StatusCode::OK)).await,
        );
        let gray = start(backend("gray", StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR)).await;
        let env = TestEnv::manual("lb");
        // A passing health check would end the ejection at once (Envoy's default): turned off,
        // so the ejection runs its time although the gray backend's health check passes.
        let lb = LbConfig { outlier: Some(OutlierConfig::default()), health_check_uneject: false, ..round_robin() };
        let (proxy, client) = start_proxy(&env, config(&[("a", &a), ("b", &b), ("gray", &gray)], lb)).await;
        rounds(&proxy, 1).await;
        let counts = spread(&client, 30).await;
        assert_eq!(
            counts.keys().map(|(status, _)| *status).collect::<Vec<_>>(),
            [200, 200],
            "retries hide it: {counts:?}"
        );
        assert_eq!(proxy.outlier_stats().ejections, 1);
        assert_eq!(proxy.routed()[2], 5, "ejected after 5 consecutive 5xx");
        assert!(reports(&env).contains(&"lb: gray:ejected 30s".to_string()), "{:?}", reports(&env));
        assert_eq!(env.gauge(gauge::LB_EJECTED), Some(1));
        assert_eq!(env.gauge(gauge::LB_UNHEALTHY), Some(0), "its health check passes all along");
        spread(&client, 30).await;
        assert_eq!(proxy.routed()[2], 5, "nothing goes to it while ejected");
        env.advance(secs(30));
        rounds(&proxy, 2).await;
        assert!(reports(&env).contains(&"lb: gray:returned".to_string()), "{:?}", reports(&env));
        assert_eq!(env.gauge(gauge::LB_EJECTED), Some(0));
        spread(&client, 30).await;
        assert!(proxy.routed()[2] > 5, "it takes requests again once returned");
    });
}

/// A backend whose `/items` answers `500` once the gate for the attempt opens: first attempts
/// wait on `first`, retries on `later`. Each attempt reports its number on `attempts`.
fn failing_backend(
    attempts: mpsc::UnboundedSender<u32>,
    first: watch::Receiver<bool>,
    later: watch::Receiver<bool>,
) -> Router {
    let handler = move |headers: HeaderMap| {
        let (attempts, mut first, mut later) = (attempts.clone(), first.clone(), later.clone());
        async move {
            let attempt: u32 = headers.get(ATTEMPT).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
            let _ = attempts.send(attempt);
            let gate = if attempt == 1 { &mut first } else { &mut later };
            let _ = gate.wait_for(|open| *open).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "failing")
        }
    };
    Router::new().route("/items/{key}", get(handler))
}

#[test]
fn retries_stop_at_the_retry_budget_when_every_backend_fails() {
    block_on(async {
        let (attempts, mut seen) = mpsc::unbounded_channel();
        let (first, first_gate) = watch::channel(false);
        let (later, later_gate) = watch::channel(false);
        let mut addrs = Vec::new();
        for _ in 0..3 {
            addrs.push(start(failing_backend(attempts.clone(), first_gate.clone(), later_gate.clone())).await);
        }
        let env = TestEnv::manual("lb");
        let retry = RetryBudgetConfig { budget_percent: 20, min_retry_concurrency: 2 };
        let lb = LbConfig { health: None, retry, ..round_robin() };
        let backends = [("x", addrs[0].as_str()), ("y", addrs[1].as_str()), ("z", addrs[2].as_str())];
        let (proxy, client) = start_proxy(&env, ProxyConfig { retries: 3, ..config(&backends, lb) }).await;
        let (client, (done, mut answers)) = (Rc::new(client), mpsc::unbounded_channel());
        for _ in 0..6 {
            let (client, done) = (client.clone(), done.clone());
            tokio::task::spawn_local(async move {
                let _ = done.send(send(&client, Method::GET, "/items/k", &[]).await.status);
            });
        }
        for _ in 0..6 {
            assert_eq!(seen.recv().await, Some(1), "six first attempts");
        }
        first.send(true).expect("the backends wait");
        for _ in 0..4 {
            let answer = within("an answer", answers.recv()).await;
            assert_eq!(answer, Some(StatusCode::INTERNAL_SERVER_ERROR), "refused a retry: the 500 passes");
        }
        let retries = [within("a retry", seen.recv()).await, within("a retry", seen.recv()).await];
        assert_eq!(retries, [Some(2), Some(2)], "two retries in flight");
        let stats = proxy.retry_stats();
        assert_eq!((stats.granted, stats.refused), (2, 4), "the budget allows two retries in flight");
        later.send(true).expect("the retries wait");
        for _ in 0..2 {
            assert_eq!(within("an answer", answers.recv()).await, Some(StatusCode::INTERNAL_SERVER_ERROR));
        }
        let mut total = 8;
        while seen.try_recv().is_ok() {
            total += 1;
        }
        assert_eq!(total, 6 + 2 * 3, "two requests made all three retries, four made none");
        assert_eq!(proxy.routed().iter().sum::<u64>(), 12);
        assert_eq!(env.gauge(gauge::LB_RETRIES), Some(6));
    });
}

#[test]
fn consistent_hashing_keeps_each_header_value_on_one_backend() {
    block_on(async {
        let mut addrs = Vec::new();
        for name in ["app1", "app2", "app3"] {
            addrs.push(start(backend(name, StatusCode::OK, StatusCode::OK)).await);
        }
        let env = TestEnv::new("lb");
        let lb = LbConfig { algorithm: Algorithm::ring_hash(), ..round_robin() };
        let backends = [("app1", addrs[0].as_str()), ("app2", addrs[1].as_str()), ("app3", addrs[2].as_str())];
        let config = ProxyConfig { hash_header: Some("x-user".into()), ..config(&backends, lb) };
        let (_proxy, client) = start_proxy(&env, config).await;
        let mut homes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for round in 0..3 {
            for user in 0..20 {
                let user = format!("user{user}");
                let response = send(&client, Method::GET, "/items/k", &[("x-user", user.clone())]).await;
                assert_eq!(response.status, StatusCode::OK);
                let home = homes.entry(user.clone()).or_insert_with(|| response.body.to_vec());
                assert_eq!(home, &response.body.to_vec(), "{user} moved in round {round}");
            }
        }
        let used: std::collections::BTreeSet<&Vec<u8>> = homes.values().collect();
        assert!(used.len() >= 2, "20 keys spread over the backends: {used:?}");
        let keyless = send(&client, Method::GET, "/items/k", &[]).await;
        assert_eq!(keyless.status, StatusCode::OK, "a request without the header goes somewhere");
    });
}

#[test]
fn panic_mode_spreads_over_all_backends_when_most_are_unhealthy() {
    block_on(async {
        let sick1 = start(backend("sick1", StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK)).await;
        let sick2 = start(backend("sick2", StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK)).await;
        let well = start(backend("well", StatusCode::OK, StatusCode::OK)).await;
        let env = TestEnv::manual("lb");
        let (proxy, client) =
            start_proxy(&env, config(&[("sick1", &sick1), ("sick2", &sick2), ("well", &well)], round_robin())).await;
        rounds(&proxy, 1).await;
        let log = reports(&env);
        assert!(
            log.contains(&"lb: sick1:unhealthy".to_string()) && log.contains(&"lb: panic:on".to_string()),
            "{log:?}"
        );
        assert_eq!(env.gauge(gauge::LB_UNHEALTHY), Some(2));
        let counts = spread(&client, 30).await;
        assert_eq!(counts, BTreeMap::from([ok("sick1", 10), ok("sick2", 10), ok("well", 10)]), "1 of 3 is below 50%");
        assert_eq!(proxy.panic_picks(), 30);
    });
}

#[test]
fn no_eligible_backend_is_a_503_that_says_so() {
    block_on(async {
        let a = start(backend("a", StatusCode::OK, StatusCode::OK)).await;
        let env = TestEnv::manual("lb");
        let health = HealthConfig { initial: InitialHealth::Unhealthy, ..health() };
        let lb = LbConfig { health: Some(health), panic_threshold_percent: 0, ..round_robin() };
        let (proxy, client) = start_proxy(&env, config(&[("a", &a)], lb)).await;
        let response = send(&client, Method::GET, "/items/k", &[]).await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(body, "no backend eligible: all 1 backends are unhealthy or ejected\n");
        assert_eq!(proxy.routed(), [0]);
        assert_eq!(env.gauge(gauge::LB_NO_BACKEND), Some(1));
    });
}

#[test]
fn timeouts_are_504_transport_failures_502_and_posts_retry_only_unsent() {
    block_on(async {
        let (started, mut hung) = mpsc::unbounded_channel();
        let hang = Router::new().route(
            "/items/{key}",
            get(move || {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                }
            }),
        );
        let (hang, dead) = (start(hang).await, dead_address().await);
        let (failing, fine) = (
            start(backend("failing", StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR)).await,
            start(backend("fine", StatusCode::OK, StatusCode::OK)).await,
        );
        let env = TestEnv::manual("lb");
        let lb = LbConfig { health: None, ..round_robin() };
        let (_p, client) =
            start_proxy(&env, ProxyConfig { retries: 0, ..config(&[("hang", &hang), ("dead", &dead)], lb.clone()) })
                .await;
        let client = Rc::new(client);
        let slow = tokio::task::spawn_local({
            let client = client.clone();
            async move { send(&client, Method::GET, "/items/k", &[]).await }
        });
        hung.recv().await.expect("the request reaches the hanging backend");
        env.advance(LIMIT);
        let timed_out = slow.await.expect("the request ends");
        assert_eq!(timed_out.status, StatusCode::GATEWAY_TIMEOUT);
        let refused = send(&client, Method::GET, "/items/k", &[]).await;
        assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(&refused.body).starts_with("backend dead failed: connect to"));
        let post = |client: &HttpClient<TestEnv>| {
            client.request(Method::POST, "/items/k", &[], Bytes::new()).expect("a request")
        };
        let (proxy, client) = start_proxy(&env, config(&[("failing", &failing), ("fine", &fine)], lb.clone())).await;
        let answered = client.send(post(&client)).await.expect("an answer");
        assert_eq!(
            (answered.status, proxy.routed()),
            (StatusCode::INTERNAL_SERVER_ERROR, vec![1, 0]),
            "a POST's 5xx is not retried"
        );
        assert_eq!(send(&client, Method::GET, "/items/k", &[]).await.status, StatusCode::OK);
        let retried = send(&client, Method::GET, "/items/k", &[]).await;
        assert_eq!(
            (retried.status, retried.body.as_ref(), proxy.routed()),
            (StatusCode::OK, &b"fine"[..], vec![2, 2]),
            "a GET's 5xx is"
        );
        let (proxy, client) = start_proxy(&env, config(&[("dead", &dead), ("fine", &fine)], lb)).await;
        let unsent = client.send(post(&client)).await.expect("an answer");
        assert_eq!(
            (unsent.status, proxy.routed()),
            (StatusCode::OK, vec![1, 1]),
            "a POST whose connection failed is retried"
        );
    });
}

#[test]
fn bad_configs_are_errors() {
    let env = TestEnv::new("lb");
    let bad = |config: ProxyConfig| LbProxy::new(env.clone(), config).err();
    let one = [("a", "127.0.0.1:1")];
    assert_eq!(
        bad(ProxyConfig { timeout: Duration::ZERO, ..config(&one, round_robin()) }),
        Some(ProxyError::ZeroTimeout)
    );
    assert_eq!(
        bad(ProxyConfig { hash_header: Some("bad header".into()), ..config(&one, round_robin()) }),
        Some(ProxyError::BadHashHeader("bad header".into()))
    );
    assert_eq!(bad(config(&[("a", "")], round_robin())), Some(ProxyError::BadAddress("a".into())));
    assert_eq!(bad(config(&[("a", "x\ny:1")], round_robin())), Some(ProxyError::BadAddress("a".into())));
    assert!(matches!(bad(config(&[], round_robin())), Some(ProxyError::Lb(_))));
    block_on(async {
        let outcome = serve_proxy(env.clone(), 0, None, config(&[], round_robin())).await;
        assert_eq!(outcome.map_err(|e| e.kind()), Err(std::io::ErrorKind::InvalidInput));
    });
}
