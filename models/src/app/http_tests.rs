//! Tests of the app's HTTP front on loopback: its routes and status codes, compare-and-set,
//! the health check, malformed requests, body and head limits, the queue and the connection
//! limit, the request timeout, keep-alive reuse by the client, and the rate limit's `429`.

use super::http::{HttpFront, code_of, serve_http, status_of};
use super::tests::tiers;
use super::{App, AppConfig, DbRoute, LimitKey};
use crate::cache::aside::TierConfig;
use crate::client::CallError;
use crate::http::client::{HttpClient, HttpResponse};
use crate::http::{EPOCH, EXPECT, LSN, MIN_LSN, USER, hex};
use crate::proto::ErrorCode;
use crate::ratelimit::{LimitConfig, Rate};
use crate::seam::{Env, TokioEnv};
use crate::server::{Capacity, ServiceTime};
use crate::testenv::block_on;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(2);

fn env() -> TokioEnv {
    TokioEnv::new("app", "127.0.0.1", 5)
}

fn config(db: &str, cache: Option<&str>, timeout: Duration) -> AppConfig {
    let db = DbRoute::Fixed { write_addr: db.into(), read_addr: db.into() };
    let cache = cache.map(|addr| TierConfig::new(vec![("cache".into(), addr.into())], timeout));
    AppConfig { cache, ..AppConfig::new(db, timeout) }
}

/// Serves an app over HTTP on loopback with `capacity` and `front`: its address.
async fn start(env: &TokioEnv, config: &AppConfig, capacity: Capacity, front: HttpFront) -> String {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let app = App::new(env.clone(), config).expect("a valid tier");
    tokio::task::spawn_local(serve_http(env.clone(), listener, capacity, app, front));
    addr
}

async fn call(
    client: &HttpClient<TokioEnv>,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> HttpResponse {
    let request = client.request(method, path, headers, Bytes::from(body.to_string())).expect("a valid request");
    client.send(request).await.expect("an answer")
}

/// Sends `raw` bytes on a fresh connection and reads until the server closes it.
async fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    // The server reads to the end of what was sent: a truncated request ends there.
    let _ = stream.shutdown().await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn items_are_read_written_compared_and_deleted_over_http() {
    block_on(async {
        let env = env();
        let (db, cache) = tiers(&env).await;
        let addr = start(&env, &config(&db, Some(&cache), LIMIT), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let missing = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let put = call(&client, Method::PUT, "/items/k", &[], "v1").await;
        assert_eq!((put.status, put.header_u64(LSN), put.header_u64(EPOCH)), (StatusCode::OK, Some(1), Some(1)));
        let read = call(&client, Method::GET, "/items/k", &[(MIN_LSN, "1".into())], "").await;
        assert_eq!((read.status, read.body.as_ref(), read.header_u64(LSN)), (StatusCode::OK, &b"v1"[..], Some(1)));
        let hit = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!((hit.body.as_ref(), hit.header_u64(LSN)), (&b"v1"[..], Some(0)), "the second read hits the cache");
        let stale = call(&client, Method::PUT, "/items/k", &[(EXPECT, hex(b"v0"))], "v2").await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert_eq!(code_of(stale.status), Some(ErrorCode::CasMismatch));
        let cas = call(&client, Method::PUT, "/items/k", &[(EXPECT, hex(b"v1"))], "v2").await;
        assert_eq!((cas.status, cas.header_u64(LSN)), (StatusCode::OK, Some(2)));
        let absent = call(&client, Method::PUT, "/items/k", &[(EXPECT, "absent".into())], "v3").await;
        assert_eq!(absent.status, StatusCode::CONFLICT, "the key is present");
        let read = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!(read.body.as_ref(), b"v2", "the CAS invalidated the cache");
        let deleted = call(&client, Method::DELETE, "/items/k", &[], "").await;
        assert_eq!((deleted.status, deleted.header_u64(LSN)), (StatusCode::OK, Some(3)));
        assert_eq!(call(&client, Method::GET, "/items/k", &[], "").await.status, StatusCode::NOT_FOUND);
        assert_eq!(client.opened(), 1, "every request reused the one keep-alive connection");
    });
}

#[test]
fn routes_methods_and_headers_that_do_not_fit_are_client_errors() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let addr = start(&env, &config(&db, None, LIMIT), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        assert_eq!(call(&client, Method::GET, "/nowhere", &[], "").await.status, StatusCode::NOT_FOUND);
        assert_eq!(call(&client, Method::POST, "/items/k", &[], "").await.status, StatusCode::METHOD_NOT_ALLOWED);
        let bad_token = call(&client, Method::GET, "/items/k", &[(MIN_LSN, "soon".into())], "").await;
        assert_eq!(bad_token.status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&bad_token.body).contains("x-min-lsn"));
        let bad_expect = call(&client, Method::PUT, "/items/k", &[(EXPECT, "xyz".into())], "v").await;
        assert_eq!(bad_expect.status, StatusCode::BAD_REQUEST);
        assert_eq!(call(&client, Method::GET, "/health", &[], "").await.status, StatusCode::OK);
    });
}

#[test]
fn malformed_requests_get_400_and_the_server_lives_on() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let addr = start(&env, &config(&db, None, LIMIT), Capacity::default(), HttpFront::default()).await;
        let garbage = raw(&addr, b"\x00\x01garbage\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage:?}");
        let bad_length = raw(&addr, b"PUT /items/k HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n").await;
        assert!(bad_length.starts_with("HTTP/1.1 400"), "{bad_length:?}");
        let long_head = format!("GET /items/k HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n", "a".repeat(20_000));
        let long = raw(&addr, long_head.as_bytes()).await;
        assert!(long.starts_with("HTTP/1.1 431"), "{long:?}");
        let truncated = raw(&addr, b"PUT /items/k HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc").await;
        assert!(truncated.is_empty() || truncated.starts_with("HTTP/1.1 400"), "{truncated:?}");
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        assert_eq!(call(&client, Method::PUT, "/items/k", &[], "v").await.status, StatusCode::OK);
        assert_eq!(call(&client, Method::GET, "/items/k", &[], "").await.body.as_ref(), b"v");
    });
}

#[test]
fn a_body_over_the_limit_is_413() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let front = HttpFront { max_body: 16, ..HttpFront::default() };
        let addr = start(&env, &config(&db, None, LIMIT), Capacity::default(), front).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        assert_eq!(
            call(&client, Method::PUT, "/items/k", &[], &"x".repeat(17)).await.status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(call(&client, Method::PUT, "/items/k", &[], &"x".repeat(16)).await.status, StatusCode::OK);
    });
}

#[test]
fn a_dead_store_is_502_and_fails_the_health_check() {
    block_on(async {
        let env = env();
        let dead = {
            let listener = env.bind(0).await.expect("bind");
            listener.local_addr().expect("an address").to_string()
        };
        let addr =
            start(&env, &config(&dead, None, Duration::from_millis(200)), Capacity::default(), HttpFront::default())
                .await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let read = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!(read.status, StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(&read.body).contains(&dead), "the body names the store");
        let health = call(&client, Method::GET, "/health", &[], "").await;
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(String::from_utf8_lossy(&health.body).contains(&dead), "{:?}", health.body);
    });
}

#[test]
fn work_past_the_request_timeout_is_504() {
    block_on(async {
        let env = env();
        let silent = env.bind(0).await.expect("bind");
        let silent_addr = silent.local_addr().expect("an address").to_string();
        let front = HttpFront { request_timeout: Duration::from_millis(50), ..HttpFront::default() };
        let addr = start(&env, &config(&silent_addr, None, LIMIT), Capacity::default(), front).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        assert_eq!(call(&client, Method::GET, "/items/k", &[], "").await.status, StatusCode::GATEWAY_TIMEOUT);
        drop(silent);
    });
}

#[test]
fn a_full_queue_sheds_with_503_and_extra_connections_are_refused() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let capacity = Capacity {
            max_connections: Some(2),
            ..Capacity::new(1, 0, ServiceTime::Fixed(Duration::from_millis(200)))
        };
        let addr = start(&env, &config(&db, None, LIMIT), capacity, HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr.clone(), LIMIT);
        let first = call(&client, Method::GET, "/items/a", &[], "");
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            call(&client, Method::GET, "/items/b", &[], "").await
        };
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first.status, StatusCode::NOT_FOUND, "the first read is served");
        assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE, "the second finds the one worker busy and no queue");
        assert_eq!(code_of(second.status), Some(ErrorCode::Overloaded));
        assert_eq!(client.opened(), 2);
        // Both keep-alive connections stay open: a third is refused.
        let third = raw(&addr, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(third.starts_with("HTTP/1.1 503") && third.contains("too many connections"), "{third:?}");
    });
}

#[test]
fn a_call_that_outlives_its_expiry_is_a_timeout() {
    block_on(async {
        let env = env();
        let silent = env.bind(0).await.expect("bind");
        let addr = silent.local_addr().expect("an address").to_string();
        let client = HttpClient::new(env.clone(), addr.clone(), LIMIT);
        let request = client.request(Method::GET, "/items/k", &[], Bytes::new()).expect("valid");
        let outcome = client.send_until(request, tokio::time::sleep(Duration::from_millis(50))).await;
        assert!(matches!(outcome, Err(CallError::Timeout(ref a)) if *a == addr), "{outcome:?}");
        drop(silent);
    });
}

/// A breaker that opens after 4 calls with half failing, for 10 s, with one probe.
fn quick_breaker() -> crate::breaker::BreakerConfig {
    crate::breaker::BreakerConfig {
        window: crate::breaker::Window::Count(4),
        minimum_calls: 4,
        open_for: Duration::from_secs(10),
        half_open_probes: 1,
        ..crate::breaker::BreakerConfig::default()
    }
}

/// An app over a primary and the payment API at `pay_addr` (charges time out after 100 ms),
/// behind the quick breaker: its address.
async fn checkout_app(env: &TokioEnv, pay_addr: &str) -> String {
    let (db, _) = tiers(env).await;
    let mut with_payment = config(&db, None, LIMIT);
    let payment = super::PaymentConfig {
        addr: pay_addr.into(),
        timeout: Duration::from_millis(100),
        breaker: Some(quick_breaker()),
    };
    with_payment.payment = Some(payment);
    start(env, &with_payment, Capacity::default(), HttpFront::default()).await
}

#[test]
fn a_checkout_charges_the_order_then_stores_it() {
    block_on(async {
        let env = env();
        let pay = env.bind(0).await.expect("bind");
        let pay_addr = pay.local_addr().expect("an address").to_string();
        tokio::task::spawn_local(crate::payment::serve_payment(env.clone(), pay, Capacity::default()));
        let client = HttpClient::new(env.clone(), checkout_app(&env, &pay_addr).await, LIMIT);
        for lsn in 1..=3 {
            let done = call(&client, Method::POST, "/checkout", &[], "2 books").await;
            assert_eq!((done.status, done.header_u64(LSN)), (StatusCode::OK, Some(lsn)), "{:?}", done.body);
        }
    });
}

#[test]
fn a_silent_payment_api_times_out_until_the_breaker_opens_then_fails_fast() {
    block_on(async {
        let env = env();
        // It accepts connections and never answers.
        let silent = env.bind(0).await.expect("bind");
        let pay_addr = silent.local_addr().expect("an address").to_string();
        let client = HttpClient::new(env.clone(), checkout_app(&env, &pay_addr).await, LIMIT);
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(call(&client, Method::POST, "/checkout", &[], "1 lamp").await);
        }
        let codes: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(codes, [502, 502, 502, 502, 503, 503], "four timeouts open it: {answers:?}");
        let timed_out = String::from_utf8_lossy(&answers[0].body).into_owned();
        assert!(timed_out.contains("payment") && timed_out.contains("in time"), "{timed_out}");
        let open = String::from_utf8_lossy(&answers[4].body).into_owned();
        assert!(open.contains("payment") && open.contains("open"), "{open}");
        drop(silent);
    });
}

#[test]
fn a_checkout_without_a_payment_api_is_a_bad_request() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let addr = start(&env, &config(&db, None, LIMIT), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let refused = call(&client, Method::POST, "/checkout", &[], "x").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    });
}

#[test]
fn a_capped_client_waits_for_a_connection_and_a_timed_out_exchange_gives_its_back() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let capacity = Capacity::new(4, 100, ServiceTime::Fixed(Duration::from_millis(100)));
        let addr = start(&env, &config(&db, None, LIMIT), capacity, HttpFront::default()).await;
        let client = HttpClient::with_max_connections(env.clone(), addr, LIMIT, 1);
        let (a, b) = tokio::join!(
            call(&client, Method::GET, "/items/a", &[], ""),
            call(&client, Method::GET, "/items/b", &[], "")
        );
        assert_eq!((a.status, b.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(client.opened(), 1, "the second request waited for the one connection");
        let request = client.request(Method::GET, "/items/c", &[], Bytes::new()).expect("valid");
        let late = client.send_until(request, tokio::time::sleep(Duration::from_millis(20))).await;
        assert!(matches!(late, Err(CallError::Timeout(_))), "{late:?}");
        // The exchange finishes in the background and the connection serves the next request.
        assert_eq!(call(&client, Method::GET, "/items/d", &[], "").await.status, StatusCode::NOT_FOUND);
        assert_eq!(client.opened(), 1, "no connection was thrown away");
    });
}

/// An app over `db` with a local limit of one request an hour, burst `burst`, keyed by `key`.
fn limited(db: &str, burst: u64, key: LimitKey) -> AppConfig {
    let hourly = Rate::Every { count: 1, period: Duration::from_secs(3600) };
    AppConfig { rate_limit: Some((LimitConfig::local(hourly, burst), key)), ..config(db, None, LIMIT) }
}

#[test]
fn a_user_over_the_rate_limit_gets_429_with_retry_after_and_health_is_never_limited() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let addr = start(&env, &limited(&db, 1, LimitKey::User), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let alice = [(USER, "alice".to_string())];
        assert_eq!(call(&client, Method::PUT, "/items/k", &alice, "v").await.status, StatusCode::OK);
        assert_eq!(call(&client, Method::GET, "/items/k", &alice, "").await.status, StatusCode::OK, "the burst");
        let refused = call(&client, Method::GET, "/items/k", &alice, "").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code_of(refused.status), Some(ErrorCode::RateLimited));
        assert_eq!(status_of(ErrorCode::RateLimited), StatusCode::TOO_MANY_REQUESTS);
        let wait = refused.header_u64("retry-after").expect("a retry-after header");
        assert!((3599..=3600).contains(&wait), "whole seconds to the next emission: {wait}");
        assert!(String::from_utf8_lossy(&refused.body).contains("rate limited"), "{:?}", refused.body);
        let checkout = call(&client, Method::POST, "/checkout", &alice, "x").await;
        assert_eq!(checkout.status, StatusCode::TOO_MANY_REQUESTS, "a checkout is limited too");
        let bob = [(USER, "bob".to_string())];
        assert_eq!(call(&client, Method::GET, "/items/k", &bob, "").await.status, StatusCode::OK, "another key");
        assert_eq!(call(&client, Method::GET, "/items/k", &[], "").await.status, StatusCode::OK, "anonymous");
        assert_eq!(call(&client, Method::GET, "/items/k", &[], "").await.status, StatusCode::OK);
        let anonymous = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!(anonymous.status, StatusCode::TOO_MANY_REQUESTS, "no header is one user");
        for _ in 0..5 {
            assert_eq!(call(&client, Method::GET, "/health", &alice, "").await.status, StatusCode::OK);
        }
    });
}

#[test]
fn a_global_rate_limit_counts_every_user_together() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let addr = start(&env, &limited(&db, 0, LimitKey::Global), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let first = call(&client, Method::GET, "/items/k", &[(USER, "alice".into())], "").await;
        assert_eq!(first.status, StatusCode::NOT_FOUND, "admitted, and the key is absent");
        let second = call(&client, Method::GET, "/items/k", &[(USER, "bob".into())], "").await;
        assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS, "one key for all");
    });
}

#[test]
fn an_app_with_a_bad_rate_limit_is_refused() {
    let bad = AppConfig {
        rate_limit: Some((LimitConfig::local(Rate::PerSecond(0.0), 1), LimitKey::User)),
        ..config("127.0.0.1:1", None, LIMIT)
    };
    let Err(error) = App::new(env(), &bad) else { panic!("a zero rate must be refused") };
    assert!(error.to_string().starts_with("rate limit: rate must be"), "{error}");
}

#[test]
fn reads_carry_the_configured_cache_control_and_nothing_else_does() {
    block_on(async {
        let env = env();
        let (db, _) = tiers(&env).await;
        let cc = "max-age=5, stale-if-error=60";
        let front = HttpFront { cache_control: Some(cc.parse().expect("a header value")), ..HttpFront::default() };
        let addr = start(&env, &config(&db, None, LIMIT), Capacity::default(), front).await;
        let client = HttpClient::new(env.clone(), addr, LIMIT);
        let header = |r: &HttpResponse| r.headers.get("cache-control").map(|v| v.to_str().expect("text").to_string());
        let missing = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!((missing.status, header(&missing)), (StatusCode::NOT_FOUND, Some(cc.to_string())));
        let put = call(&client, Method::PUT, "/items/k", &[], "v1").await;
        assert_eq!((put.status, header(&put)), (StatusCode::OK, None), "a write is not cacheable");
        let read = call(&client, Method::GET, "/items/k", &[], "").await;
        assert_eq!((read.status, header(&read)), (StatusCode::OK, Some(cc.to_string())));
        let plain = start(&env, &config(&db, None, LIMIT), Capacity::default(), HttpFront::default()).await;
        let client = HttpClient::new(env.clone(), plain, LIMIT);
        assert_eq!(header(&call(&client, Method::GET, "/items/k", &[], "").await), None, "absent: no header");
    });
}
