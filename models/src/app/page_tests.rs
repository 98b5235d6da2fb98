//! Tests of the app's page: composition in process and over part services, degraded and
//! failed pages, and the fan-out's latency against order statistics (on tokio's paused clock,
//! never the wall clock).

use super::*;
use crate::app::{AppConfig, DbRoute};
use crate::kv::{KvConfig, KvNode};
use crate::seam::TokioEnv;
use crate::server::{Capacity, serve};
use crate::service::{ServiceConfig, serve_service};
use crate::testenv::block_on;
use axum::body::to_bytes;

const LIMIT: Duration = Duration::from_secs(2);

/// Starts a kv primary holding `profile:k1`; its address.
async fn store(env: &TokioEnv) -> String {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let node = KvNode::primary(env.clone(), KvConfig::default()).expect("a fresh store opens");
    tokio::task::spawn_local(serve(env.clone(), listener, Capacity::default(), node));
    let client: crate::client::Client<TokioEnv, Msg> = crate::client::Client::new(env.clone(), addr.clone(), LIMIT);
    let put = Msg::Put { key: b"profile:k1".to_vec(), value: b"alice".to_vec() };
    assert!(matches!(client.call(put, LIMIT).await, Ok(Msg::Written { .. })));
    addr
}

/// Starts a part service over `db`; its address.
async fn part_service(env: &TokioEnv, db: &str) -> String {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let config = ServiceConfig { db: Some(db.into()), timeout: LIMIT };
    tokio::task::spawn_local(serve_service(env.clone(), listener, Capacity::default(), config));
    addr
}

/// An address where nothing answers (bound, never accepted from).
async fn silent(env: &TokioEnv) -> (TokioListenerKeep, String) {
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    (listener, addr)
}

type TokioListenerKeep = crate::seam::TokioListener;

fn part(name: &str, at: PartAt, optional: bool) -> PartConfig {
    PartConfig { name: name.into(), at, optional }
}

fn remote(addr: &str) -> PartAt {
    PartAt::Remote { addr: addr.into(), breaker: None }
}

fn app(env: &TokioEnv, db: &str, parts: Vec<PartConfig>, fanout: Fanout) -> App<TokioEnv> {
    let db = DbRoute::Fixed { write_addr: db.into(), read_addr: db.into() };
    let page = Some(PageConfig { parts, fanout, timeout: Duration::from_millis(200) });
    let config = AppConfig { page, ..AppConfig::new(db, LIMIT) };
    App::new(env.clone(), &config).expect("a valid app")
}

async fn body(response: Response) -> (StatusCode, Option<String>, String) {
    let status = response.status();
    let degraded = response.headers().get(DEGRADED).map(|v| v.to_str().expect("ascii").to_string());
    let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    (status, degraded, String::from_utf8(bytes.to_vec()).expect("utf-8"))
}

#[test]
fn a_page_composes_parts_in_process_and_over_services_alike() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 7);
        let db = store(&env).await;
        let svc = part_service(&env, &db).await;
        for fanout in [Fanout::Parallel, Fanout::Sequential] {
            let parts = vec![
                part("profile", PartAt::InProcess(ServiceTime::Fixed(Duration::from_millis(1))), false),
                part("pricing", remote(&svc), false),
            ];
            let app = app(&env, &db, parts, fanout);
            let (status, degraded, text) = body(respond(app.page("k1").await)).await;
            assert_eq!((status, degraded), (StatusCode::OK, None), "{text}");
            assert_eq!(text, "profile: 5 bytes\npricing: absent\n");
            let remote_only = vec![part("profile", remote(&svc), false)];
            let app = self::app(&env, &db, remote_only, fanout);
            let (_, _, text) = body(respond(app.page("k1").await)).await;
            assert_eq!(text, "profile: 5 bytes\n", "the service reads the same key");
        }
    });
}

#[test]
fn a_failed_optional_part_degrades_the_page_and_a_required_one_fails_it() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 8);
        let db = store(&env).await;
        let (_keep, dead) = silent(&env).await;
        let local = PartAt::InProcess(ServiceTime::Zero);
        let optional = vec![part("profile", local.clone(), false), part("recs", remote(&dead), true)];
        let app = app(&env, &db, optional, Fanout::Parallel);
        let (status, degraded, text) = body(respond(app.page("k1").await)).await;
        assert_eq!((status, degraded.as_deref()), (StatusCode::OK, Some("recs")), "{text}");
        assert!(text.starts_with("profile: 5 bytes\nrecs: left out (part recs: "), "{text}");
        assert_eq!(env_gauges(&app), (1, 1));
        let required = vec![part("profile", local, false), part("recs", remote(&dead), false)];
        let app = self::app(&env, &db, required, Fanout::Sequential);
        let (status, _, text) = body(respond(app.page("k1").await)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
        assert!(text.contains("part recs") && text.contains(&dead), "{text}");
        assert_eq!(env_gauges(&app), (0, 0));
    });
}

#[test]
fn an_open_breaker_fails_a_required_part_at_once() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 9);
        let db = store(&env).await;
        let (_keep, dead) = silent(&env).await;
        let breaker = crate::breaker::BreakerConfig {
            window: crate::breaker::Window::Count(2),
            minimum_calls: 2,
            ..crate::breaker::BreakerConfig::default()
        };
        let guarded = PartAt::Remote { addr: dead.clone(), breaker: Some(breaker) };
        let app = app(&env, &db, vec![part("recs", guarded, false)], Fanout::Parallel);
        for _ in 0..2 {
            assert_eq!(body(respond(app.page("k1").await)).await.0, StatusCode::BAD_GATEWAY);
        }
        let (status, _, text) = body(respond(app.page("k1").await)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
        assert!(text.contains("circuit breaker `recs` is open"), "{text}");
    });
}

#[test]
fn an_app_without_a_page_refuses_page_requests() {
    block_on(async {
        let env = TokioEnv::new("app", "127.0.0.1", 10);
        let config = AppConfig { page: None, ..app_config_without_page() };
        let app = App::new(env.clone(), &config).expect("a valid app");
        let (status, _, text) = body(respond(app.page("k1").await)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    });
}

fn app_config_without_page() -> AppConfig {
    AppConfig::new(DbRoute::Fixed { write_addr: "127.0.0.1:1".into(), read_addr: "127.0.0.1:1".into() }, LIMIT)
}

/// The page's counters: (pages served, pages degraded).
fn env_gauges(app: &App<TokioEnv>) -> (u64, u64) {
    let page = app.page.as_ref().expect("a page");
    (page.served.get(), page.degraded.get())
}

/// The mean latency of `pages` pages of `n` parts, each costing an exponential `mean`, run with
/// `fanout` as the page runs its in-process parts, on tokio's paused clock.
fn mean_page(n: usize, mean: Duration, fanout: Fanout, pages: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let env = TokioEnv::new("app", "127.0.0.1", 11);
        let mut rng = env.rng("page-work");
        let work = ServiceTime::Exponential(mean);
        let mut total = Duration::ZERO;
        for _ in 0..pages {
            let costs: Vec<(Duration, f64)> = (0..n).map(|_| (work.sample(&mut rng), rng.random())).collect();
            let start = tokio::time::Instant::now();
            match fanout {
                Fanout::Parallel => {
                    let parts = costs.iter().map(|&(cost, dither)| Box::pin(spend(&env, cost, dither)) as Pin<Box<_>>);
                    join_all(parts.collect()).await;
                }
                Fanout::Sequential => {
                    for &(cost, dither) in &costs {
                        spend(&env, cost, dither).await;
                    }
                }
            }
            total += start.elapsed();
        }
        total / pages as u32
    })
}

/// The n-th harmonic number.
fn harmonic(n: usize) -> f64 {
    (1..=n).map(|k| 1.0 / k as f64).sum()
}

#[test]
fn a_parallel_page_takes_the_max_of_its_parts_as_order_statistics_say() {
    // E[max of n exponentials of mean m] = m * H_n: 2.08 m for 4 parts, 2.93 m for 10; one
    // after another they take n * m.
    let mean = Duration::from_millis(20);
    for n in [1, 4, 10] {
        let measured = mean_page(n, mean, Fanout::Parallel, 4000).as_secs_f64();
        let expected = mean.as_secs_f64() * harmonic(n);
        let error = (measured - expected).abs() / expected;
        assert!(error < 0.04, "{n} parts: measured {measured:.5} s, m * H_n = {expected:.5} s ({error:.3} off)");
    }
    let measured = mean_page(4, mean, Fanout::Sequential, 2000).as_secs_f64();
    let expected = 4.0 * mean.as_secs_f64();
    assert!((measured - expected).abs() / expected < 0.04, "sequential: {measured:.5} s, n * m = {expected:.5} s");
}
