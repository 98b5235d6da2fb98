//! Network tests of the DNS server on loopback: answers follow the endpoints' health checks
//! (failover and nearest records), health comes back after passes, unknown names are refused,
//! the TTL knob changes what answers carry, and a client's cache keeps an answer its TTL.
//! Waits are bounded polls, never fixed sleeps.

use super::*;
use crate::http::server::serve_router;
use crate::lb::{HealthConfig, InitialHealth};
use crate::seam::{Env, Knob, TokioEnv};
use crate::server::{Capacity, serve};
use crate::testenv::{TestEnv, block_on};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(5);

/// An HTTP endpoint whose `/health` answers 200 while `up` holds, 503 otherwise: its address.
async fn endpoint(up: Up) -> String {
    let env = TokioEnv::new("endpoint", "127.0.0.1", 1);
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let router = Router::new().route(
        "/health",
        get(move || {
            let healthy = up.load(Ordering::Relaxed);
            async move { if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE } }
        }),
    );
    tokio::task::spawn_local(serve_router(env, listener, None, router));
    addr
}

/// Whether an endpoint's health check passes (axum's handlers must be `Send`).
type Up = Arc<AtomicBool>;

fn up() -> Up {
    Arc::new(AtomicBool::new(true))
}

fn health() -> HealthConfig {
    HealthConfig {
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(15),
        healthy_threshold: 2,
        unhealthy_threshold: 3,
        initial: InitialHealth::Pending,
    }
}

/// A zone of two endpoints in regions "us" and "eu" and one record over them.
fn zone(addrs: &[String; 2], policy: Policy) -> Zone {
    let endpoint = |i: usize, name: &str, region: &str| Endpoint {
        name: name.into(),
        addr: addrs[i].clone(),
        region: region.into(),
    };
    Zone {
        endpoints: vec![endpoint(0, "app-us", "us"), endpoint(1, "app-eu", "eu")],
        records: vec![Record { name: "shop".into(), policy, endpoints: vec![0, 1] }],
    }
}

/// Starts a DNS server for `zone` with a 30 s TTL: its environment and address.
async fn dns(zone: Zone) -> (TestEnv, String) {
    let env = TestEnv::new("dns");
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let server = DnsServer::new(env.clone(), DnsConfig { zone, ttl: Duration::from_secs(30), health: health() });
    tokio::task::spawn_local(server.clone().check_health());
    tokio::task::spawn_local(serve(env.clone(), listener, Capacity::default(), server));
    (env, addr)
}

/// Polls until `client`'s answer for "shop" is `want`, within [`LIMIT`].
async fn answer_becomes(client: &DnsClient<TestEnv>, want: &str) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if let Ok((addr, ttl)) = client.query("shop").await
            && addr == want
        {
            return ttl;
        }
        assert!(start.elapsed() < LIMIT, "the answer never became {want}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_failover_record_moves_to_the_secondary_and_back_with_health() {
    block_on(async {
        let (us, eu) = (up(), up());
        let addrs = [endpoint(us.clone()).await, endpoint(eu.clone()).await];
        let (env, addr) = dns(zone(&addrs, Policy::Failover)).await;
        let client = DnsClient::new(TestEnv::new("client"), addr, "eu", Duration::from_secs(1));
        assert_eq!(
            answer_becomes(&client, &addrs[0]).await,
            Duration::from_secs(30),
            "the primary, wherever asked from"
        );
        us.store(false, Ordering::Relaxed);
        answer_becomes(&client, &addrs[1]).await;
        us.store(true, Ordering::Relaxed);
        answer_becomes(&client, &addrs[0]).await;
        let log: Vec<String> = env.state_log().into_iter().map(|(_, s)| s).collect();
        let expected = [
            "dns: answer shop app-us",
            "dns: app-us:unhealthy",
            "dns: answer shop app-eu",
            "dns: app-us:healthy",
            "dns: answer shop app-us",
        ];
        assert_eq!(log, expected);
    });
}

#[test]
fn a_nearest_record_answers_each_region_its_own_until_it_fails() {
    block_on(async {
        let (us, eu) = (up(), up());
        let addrs = [endpoint(us.clone()).await, endpoint(eu.clone()).await];
        let (env, addr) = dns(zone(&addrs, Policy::Nearest)).await;
        let from = |region: &str| DnsClient::new(TestEnv::new("client"), addr.clone(), region, Duration::from_secs(1));
        let (from_us, from_eu) = (from("us"), from("eu"));
        answer_becomes(&from_us, &addrs[0]).await;
        answer_becomes(&from_eu, &addrs[1]).await;
        eu.store(false, Ordering::Relaxed);
        answer_becomes(&from_eu, &addrs[0]).await;
        assert_eq!(from_us.query("shop").await.expect("an answer").0, addrs[0], "us is not moved");
        let log: Vec<String> = env.state_log().into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            log,
            [
                "dns: answer shop@us app-us",
                "dns: answer shop@eu app-eu",
                "dns: app-eu:unhealthy",
                "dns: answer shop@eu app-us"
            ]
        );
    });
}

#[test]
fn an_unknown_name_is_refused_and_the_ttl_knob_changes_answers() {
    block_on(async {
        let addrs = [endpoint(up()).await, endpoint(up()).await];
        let (env, addr) = dns(zone(&addrs, Policy::Failover)).await;
        let client = DnsClient::new(TestEnv::new("client"), addr, "", Duration::from_secs(1));
        assert!(matches!(client.query("nope").await, Err(LookupError::Refused(d)) if d.contains("nope")));
        env.inner.set_knob(Knob::DnsTtl, 300_000);
        assert_eq!(client.query("shop").await.expect("an answer"), (addrs[0].clone(), Duration::from_secs(300)));
        env.inner.set_knob(Knob::DnsTtl, 0);
        assert_eq!(client.query("shop").await.expect("an answer").1, Duration::from_secs(30));
    });
}

#[test]
fn an_unreachable_server_is_a_call_error() {
    block_on(async {
        let env = TokioEnv::new("dead", "127.0.0.1", 1);
        let listener = env.bind(0).await.expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        drop(listener);
        let client = DnsClient::new(TestEnv::new("client"), addr, "", Duration::from_millis(200));
        assert!(matches!(client.query("shop").await, Err(LookupError::Call(_))));
    });
}
