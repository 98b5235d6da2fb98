//! Tests of the edge host on loopback, against a small axum origin whose status, body and
//! `Cache-Control` a test sets: hits and `Age`, expiry, stale-while-revalidate with one
//! background refresh, stale-if-error (and the error without it), request collapsing, what is
//! not stored, pass-through with invalidation, purges, the store's bound and the origin
//! timeout. Time-dependent tests run the edge on a manual clock.

use super::{Edge, EdgeConfig, EdgeError, X_CACHE};
use crate::http::client::{HttpClient, HttpResponse};
use crate::http::server::serve_router;
use crate::seam::{Env, Knob, TokioEnv};
use crate::testenv::{TestEnv, block_on, settle};
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use faultline_vocab::gauge;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const LIMIT: Duration = Duration::from_secs(5);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What the origin answers, as a test sets it.
struct Origin {
    status: Mutex<StatusCode>,
    cache_control: Mutex<Option<String>>,
    /// Requests it received.
    requests: AtomicU64,
    /// Released to let `/slow/*` answer.
    release: Notify,
}

impl Origin {
    fn new(cache_control: Option<&str>) -> Arc<Self> {
        Arc::new(Origin {
            status: Mutex::new(StatusCode::OK),
            cache_control: Mutex::new(cache_control.map(str::to_string)),
            requests: AtomicU64::new(0),
            release: Notify::new(),
        })
    }

    fn set_status(&self, status: StatusCode) {
        *self.status.lock().expect("not poisoned") = status;
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Its answer: the set status, body "v<n>" (n counts requests), the set `Cache-Control`.
    fn answer(&self) -> Response {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let status = *self.status.lock().expect("not poisoned");
        let mut response = (status, format!("v{n}")).into_response();
        if let Some(cc) = self.cache_control.lock().expect("not poisoned").as_deref() {
            response.headers_mut().insert(header::CACHE_CONTROL, cc.parse().expect("a header value"));
        }
        response
    }
}

async fn item(State(origin): State<Arc<Origin>>) -> Response {
    origin.answer()
}

async fn slow(State(origin): State<Arc<Origin>>) -> Response {
    origin.release.notified().await;
    origin.answer()
}

/// Serves the origin on loopback: its address.
async fn start_origin(origin: Arc<Origin>) -> String {
    let router = Router::new()
        .route("/items/{key}", get(item).put(item).post(item).delete(item))
        .route("/slow/{key}", get(slow))
        .with_state(origin);
    let env = TokioEnv::new("origin", "127.0.0.1", 1);
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    tokio::task::spawn_local(serve_router(env, listener, None, router));
    addr
}

/// Serves an edge of `origin` on loopback: the edge and a client of it.
async fn start_edge(env: &TestEnv, origin: &str, capacity_bytes: usize) -> (Edge<TestEnv>, HttpClient<TestEnv>) {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let config = EdgeConfig { origin: origin.to_string(), capacity_bytes, timeout: LIMIT, ..EdgeConfig::default() };
    let edge = Edge::new(env.clone(), config).expect("a valid config");
    tokio::task::spawn_local(edge.clone().serve(listener, None));
    (edge, HttpClient::new(env.clone(), addr, LIMIT))
}

async fn send(client: &HttpClient<TestEnv>, method: Method, path: &str) -> HttpResponse {
    let request = client.request(method, path, &[], Bytes::new()).expect("a valid request");
    client.send(request).await.expect("the edge answers")
}

/// (status, body, x-cache, age) of a response.
fn seen(response: &HttpResponse) -> (u16, String, String, Option<u64>) {
    let text = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&response.body).trim().to_string();
    (response.status.as_u16(), body, text(X_CACHE), response.header_u64("age"))
}

fn expect(response: &HttpResponse, status: u16, body: &str, via: &str, age: Option<u64>) {
    assert_eq!(seen(response), (status, body.to_string(), via.to_string(), age));
}

#[test]
fn a_fresh_copy_is_a_hit_with_its_age_until_it_expires() {
    block_on(async {
        let origin = Origin::new(Some("max-age=5"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::manual("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "MISS", None);
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "HIT", Some(0));
        env.advance(secs(3));
        let hit = send(&client, Method::GET, "/items/a").await;
        expect(&hit, 200, "v1", "HIT", Some(3));
        assert_eq!(hit.headers.get(header::CACHE_CONTROL).map(|v| v.as_bytes()), Some(&b"max-age=5"[..]));
        env.advance(secs(2));
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v2", "MISS", None);
        expect(&send(&client, Method::GET, "/items/b").await, 200, "v3", "MISS", None);
        assert_eq!(origin.requests(), 3);
        assert_eq!(env.gauge(gauge::CDN_HITS), Some(2));
        assert_eq!(env.gauge(gauge::CDN_MISSES), Some(3));
        assert_eq!(env.gauge(gauge::ORIGIN_REQUESTS), Some(3));
        assert_eq!(env.gauge(gauge::CDN_STALE), Some(0));
        assert_eq!(env.served_log().len(), 5, "every answer is reported served");
    });
}

#[test]
fn stale_while_revalidate_serves_the_old_copy_and_refreshes_it_once() {
    block_on(async {
        let origin = Origin::new(Some("max-age=5, stale-while-revalidate=10"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::manual("edge");
        let (edge, client) = start_edge(&env, &addr, 1 << 20).await;
        origin.release.notify_one();
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v1", "MISS", None);
        env.advance(secs(6));
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v1", "STALE", Some(6));
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v1", "STALE", Some(6));
        assert_eq!(env.gauge(gauge::ORIGIN_REQUESTS), Some(2), "one background refresh for both stale answers");
        origin.release.notify_one();
        while origin.requests() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        while edge.fetching() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v2", "HIT", Some(0));
        env.advance(secs(20));
        origin.release.notify_one();
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v3", "MISS", None);
        assert_eq!(env.gauge(gauge::CDN_STALE), Some(2));
    });
}

#[test]
fn stale_if_error_serves_the_copy_while_the_origin_fails() {
    block_on(async {
        let origin = Origin::new(Some("max-age=1, stale-if-error=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::manual("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "MISS", None);
        origin.set_status(StatusCode::INTERNAL_SERVER_ERROR);
        env.advance(secs(2));
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "STALE", Some(2));
        expect(&send(&client, Method::GET, "/items/b").await, 500, "v3", "MISS", None);
        env.advance(secs(60));
        expect(&send(&client, Method::GET, "/items/a").await, 500, "v4", "MISS", None);
        assert_eq!(env.gauge(gauge::CDN_STALE), Some(1));
    });
}

#[test]
fn without_stale_if_error_an_origin_failure_reaches_the_client() {
    block_on(async {
        let origin = Origin::new(Some("max-age=1"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::manual("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "MISS", None);
        origin.set_status(StatusCode::SERVICE_UNAVAILABLE);
        env.advance(secs(2));
        expect(&send(&client, Method::GET, "/items/a").await, 503, "v2", "MISS", None);
    });
}

#[test]
fn a_dead_origin_without_a_copy_is_502() {
    block_on(async {
        let dead = {
            let env = TokioEnv::new("dead", "127.0.0.1", 1);
            let listener = env.bind(0).await.expect("bind");
            listener.local_addr().expect("an address").to_string()
        };
        let env = TestEnv::new("edge");
        let (_edge, client) = start_edge(&env, &dead, 1 << 20).await;
        let failed = send(&client, Method::GET, "/items/a").await;
        assert_eq!((failed.status, seen(&failed).2.as_str()), (StatusCode::BAD_GATEWAY, "MISS"));
        assert_eq!(env.gauge(gauge::CDN_MISSES), Some(1));
    });
}

#[test]
fn concurrent_misses_of_a_key_collapse_onto_one_fetch() {
    block_on(async {
        let origin = Origin::new(Some("max-age=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::new("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        let client = Rc::new(client);
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let client = client.clone();
            waiting.push(tokio::task::spawn_local(async move { send(&client, Method::GET, "/slow/a").await }));
        }
        while env.gauge(gauge::CDN_MISSES) != Some(5) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        origin.release.notify_one();
        for task in waiting {
            let response = task.await.expect("the request task ends");
            expect(&response, 200, "v1", "MISS", None);
        }
        assert_eq!(origin.requests(), 1, "five requests, one fetch");
        assert_eq!(env.gauge(gauge::ORIGIN_REQUESTS), Some(1));
        expect(&send(&client, Method::GET, "/slow/a").await, 200, "v1", "HIT", Some(0));
    });
}

#[test]
fn what_may_not_be_stored_goes_to_the_origin_every_time() {
    block_on(async {
        for cc in [None, Some("no-store, max-age=60"), Some("private, max-age=60"), Some("no-cache, max-age=60")] {
            let origin = Origin::new(cc);
            let addr = start_origin(origin.clone()).await;
            let env = TestEnv::new("edge");
            let (edge, client) = start_edge(&env, &addr, 1 << 20).await;
            for n in 1..=3 {
                expect(&send(&client, Method::GET, "/items/a").await, 200, &format!("v{n}"), "MISS", None);
            }
            assert_eq!(edge.stored().0, 0, "{cc:?}");
        }
    });
}

#[test]
fn other_methods_pass_through_and_a_write_drops_the_copy() {
    block_on(async {
        let origin = Origin::new(Some("max-age=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::new("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v1", "MISS", None);
        expect(&send(&client, Method::PUT, "/items/a").await, 200, "v2", "MISS", None);
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v3", "MISS", None);
        expect(&send(&client, Method::GET, "/items/a").await, 200, "v3", "HIT", Some(0));
    });
}

#[test]
fn purges_drop_one_path_or_everything() {
    block_on(async {
        let origin = Origin::new(Some("max-age=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::new("edge");
        let (edge, client) = start_edge(&env, &addr, 1 << 20).await;
        send(&client, Method::GET, "/items/a").await;
        send(&client, Method::GET, "/items/b").await;
        assert_eq!(edge.stored().0, 2);
        let purge = Method::from_bytes(b"PURGE").expect("a method");
        assert_eq!(send(&client, purge.clone(), "/items/a").await.status, StatusCode::OK);
        assert_eq!(send(&client, purge, "/items/a").await.status, StatusCode::NOT_FOUND);
        expect(&send(&client, Method::GET, "/items/b").await, 200, "v2", "HIT", Some(0));
        env.inner.set_knob(Knob::CdnPurge, 1);
        expect(&send(&client, Method::GET, "/items/b").await, 200, "v3", "MISS", None);
        expect(&send(&client, Method::GET, "/items/b").await, 200, "v3", "HIT", Some(0));
    });
}

#[test]
fn the_store_stays_within_its_bytes() {
    block_on(async {
        let origin = Origin::new(Some("max-age=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::new("edge");
        let capacity = 1_000;
        let (edge, client) = start_edge(&env, &addr, capacity).await;
        for key in 0..40 {
            send(&client, Method::GET, &format!("/items/{key}")).await;
            assert!(edge.stored().1 <= capacity, "{:?}", edge.stored());
        }
        let (entries, _) = edge.stored();
        assert!((1..40).contains(&entries), "{entries} entries");
        expect(&send(&client, Method::GET, "/items/39").await, 200, "v40", "HIT", Some(0));
    });
}

#[test]
fn an_origin_slower_than_the_timeout_is_504() {
    block_on(async {
        let origin = Origin::new(Some("max-age=60"));
        let addr = start_origin(origin.clone()).await;
        let env = TestEnv::manual("edge");
        let (_edge, client) = start_edge(&env, &addr, 1 << 20).await;
        let client = Rc::new(client);
        let waiting = tokio::task::spawn_local({
            let client = client.clone();
            async move { send(&client, Method::GET, "/slow/a").await }
        });
        while env.gauge(gauge::ORIGIN_REQUESTS) != Some(1) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        settle().await;
        env.advance(LIMIT);
        let response = waiting.await.expect("the request ends");
        assert_eq!((response.status, seen(&response).2.as_str()), (StatusCode::GATEWAY_TIMEOUT, "MISS"));
        origin.release.notify_one();
    });
}

#[test]
fn bad_configs_are_refused() {
    let env = TestEnv::new("edge");
    let zero = EdgeConfig { origin: "o:1".into(), timeout: Duration::ZERO, ..EdgeConfig::default() };
    assert_eq!(Edge::new(env.clone(), zero).err(), Some(EdgeError::ZeroTimeout));
    let empty = EdgeConfig::default();
    assert_eq!(Edge::new(env, empty).err(), Some(EdgeError::BadOrigin(String::new())));
}
