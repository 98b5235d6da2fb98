//! Tests of the async wrapper and the tower layer on a manual clock: a breaker around a failing
//! call opens, fails fast without polling (or calling) what it guards, half-opens after its
//! open time and closes after good probes, reporting each state in order; calls are timed on
//! the environment's clock; classifiers count `Ok` responses as failures; an abandoned probe
//! hands its slot back.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use faultline_vocab::{gauge, state};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::seam::Env;
use crate::testenv::{TestEnv, block_on, settle};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A count window of 4, 50 %, minimum 4, open 10 s, 2 probes, slow from 1 s (rate off).
fn config() -> BreakerConfig {
    BreakerConfig {
        window: Window::Count(4),
        failure_rate: 0.5,
        slow_call_rate: 1.0,
        slow_call_duration: secs(1),
        minimum_calls: 4,
        open_for: secs(10),
        half_open_probes: 2,
        plant_never_half_open: false,
    }
}

/// A call that counts its polls in `polled` and fails or not as `failing` says when polled.
async fn dependency(polled: Rc<Cell<u32>>, failing: Rc<Cell<bool>>) -> Result<&'static str, &'static str> {
    polled.set(polled.get() + 1);
    match failing.get() {
        true => Err("down"),
        false => Ok("up"),
    }
}

/// The state reports so far, without their times.
fn reports(env: &TestEnv) -> Vec<String> {
    env.state_log().into_iter().map(|(_, report)| report).collect()
}

#[test]
fn a_breaker_opens_fails_fast_half_opens_and_closes_reporting_each_state() {
    block_on(async {
        let env = TestEnv::manual("app");
        let breaker = Breaker::new(env.clone(), "db", config()).expect("a valid config");
        let (polled, failing) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(true)));
        for i in 0..4 {
            let out = breaker.call(dependency(polled.clone(), failing.clone())).await;
            assert_eq!(out.map_err(BreakerError::into_inner), Err(Some("down")), "call {i}");
        }
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(polled.get(), 4);
        env.advance(secs(4));
        let fast = breaker.call(dependency(polled.clone(), failing.clone())).await;
        match fast {
            Err(BreakerError::Open { name, retry_in }) => assert_eq!((name.as_str(), retry_in), ("db", Some(secs(6)))),
            other => panic!("an open breaker fails fast: {other:?}"),
        }
        assert_eq!(polled.get(), 4, "the rejected call's future was never polled");
        assert_eq!(env.gauge(gauge::BREAKER_REJECTED), Some(1));
        let again = breaker.call(dependency(polled.clone(), failing.clone())).await;
        assert!(again.as_ref().is_err_and(BreakerError::is_open), "{again:?}");
        assert_eq!(env.gauge(gauge::BREAKER_REJECTED), Some(2), "the count so far");

        env.advance(secs(6));
        failing.set(false);
        assert_eq!(breaker.call(dependency(polled.clone(), failing.clone())).await.ok(), Some("up"));
        assert_eq!(breaker.state(), State::HalfOpen, "one probe of two finished");
        assert_eq!(breaker.call(dependency(polled.clone(), failing.clone())).await.ok(), Some("up"));
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(polled.get(), 6);
        let log = env.state_log();
        let expected =
            [(secs(0), "breaker: db:open"), (secs(10), "breaker: db:half_open"), (secs(10), "breaker: db:closed")];
        assert_eq!(log, expected.map(|(t, s)| (t, s.to_string())).to_vec());
        assert_eq!(env.state(state::BREAKER).as_deref(), Some("db:closed"));
        let counters = breaker.counters();
        assert_eq!((counters.admitted, counters.rejected, counters.failed), (6, 2, 4));
    });
}

#[test]
fn calls_are_timed_on_the_environments_clock() {
    block_on(async {
        let env = TestEnv::manual("app");
        let config = BreakerConfig { slow_call_rate: 0.5, minimum_calls: 2, window: Window::Count(2), ..config() };
        let breaker = Breaker::new(env.clone(), "search", config).expect("a valid config");
        for took in [secs(1), Duration::from_millis(999)] {
            let slow = async {
                env.sleep(took).await;
                Ok::<_, ()>(())
            };
            let tick = async {
                settle().await;
                env.advance(took);
            };
            let (out, ()) = tokio::join!(breaker.call(slow), tick);
            assert!(out.is_ok());
        }
        assert_eq!(breaker.counters().slow, 1, "1s is slow, 999ms is not");
        assert_eq!(breaker.state(), State::Open, "1 of 2 slow: 50% >= 50%");
        assert_eq!(reports(&env), ["breaker: search:open"]);
    });
}

#[test]
fn call_classified_counts_an_ok_response_as_a_failure_and_still_returns_it() {
    block_on(async {
        let env = TestEnv::manual("app");
        let breaker = Breaker::new(env.clone(), "payments", config()).expect("a valid config");
        let server_error = |out: &Result<u16, ()>| matches!(out, Ok(code) if *code >= 500) || out.is_err();
        for code in [200, 503, 200, 502] {
            let out = breaker.call_classified(async move { Ok::<u16, ()>(code) }, server_error).await;
            assert_eq!(out.ok(), Some(code), "the response comes back as it was");
        }
        assert_eq!(breaker.counters().failed, 2);
        assert_eq!(breaker.state(), State::Open, "2 of 4 answers were 5xx");
        let plain = Breaker::new(env.clone(), "plain", config()).expect("a valid config");
        for _ in 0..4 {
            let _ = plain.call(async { Ok::<u16, ()>(503) }).await;
        }
        assert_eq!(plain.state(), State::Closed, "without a classifier an Ok is a success");
    });
}

#[test]
fn an_abandoned_probe_hands_its_slot_back() {
    block_on(async {
        let env = TestEnv::manual("app");
        let config = BreakerConfig { half_open_probes: 1, ..config() };
        let breaker = Breaker::new(env.clone(), "db", config).expect("a valid config");
        for _ in 0..4 {
            let _ = breaker.call(async { Err::<(), _>("down") }).await;
        }
        env.advance(secs(10));
        let mut stuck = Box::pin(breaker.call(std::future::pending::<Result<(), ()>>()));
        tokio::select! {
            biased;
            _ = &mut stuck => panic!("a pending call never finishes"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(breaker.state(), State::HalfOpen);
        let refused = breaker.call(async { Ok::<(), ()>(()) }).await;
        assert!(refused.is_err_and(|e| matches!(e, BreakerError::Open { retry_in: None, .. })), "the one probe is out");
        drop(stuck);
        assert!(breaker.call(async { Ok::<(), ()>(()) }).await.is_ok(), "the abandoned probe's slot is free");
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(reports(&env), ["breaker: db:open", "breaker: db:half_open", "breaker: db:closed"]);
    });
}

#[test]
fn a_bad_config_is_refused_with_its_reason() {
    let env = TestEnv::manual("app");
    let err = Breaker::new(env, "db", BreakerConfig { half_open_probes: 0, ..config() }).expect_err("no probes");
    assert_eq!(err, ConfigError::NoProbes);
}

#[test]
fn the_tower_service_opens_fails_fast_half_opens_and_closes() {
    block_on(async {
        let env = TestEnv::manual("app");
        let breaker = Breaker::new(env.clone(), "api", config()).expect("a valid config");
        let (called, failing) = (Rc::new(Cell::new(0u32)), Rc::new(Cell::new(true)));
        let inner = {
            let (called, failing) = (called.clone(), failing.clone());
            tower::service_fn(move |req: u32| {
                called.set(called.get() + 1);
                let fail = failing.get();
                async move { if fail { Err("down") } else { Ok(req * 2) } }
            })
        };
        let mut svc = BreakerLayer::new(breaker.clone()).layer(inner);
        for i in 0..4 {
            let out = svc.ready().await.expect("ready").call(i).await;
            assert_eq!(out.map_err(BreakerError::into_inner), Err(Some("down")));
        }
        assert_eq!(svc.breaker().state(), State::Open);
        let fast = svc.ready().await.expect("ready").call(9).await;
        assert!(fast.is_err_and(|e| e.is_open()));
        assert_eq!(called.get(), 4, "the inner service was not called while open");
        env.advance(secs(10));
        failing.set(false);
        for i in 0..2 {
            assert_eq!(svc.ready().await.expect("ready").call(i).await.ok(), Some(i * 2));
        }
        assert_eq!(called.get(), 6);
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(reports(&env), ["breaker: api:open", "breaker: api:half_open", "breaker: api:closed"]);
        assert_eq!(env.gauge(gauge::BREAKER_REJECTED), Some(1));
    });
}

#[test]
fn the_tower_classifier_counts_marked_responses_and_clones_share_the_breaker() {
    block_on(async {
        let env = TestEnv::manual("app");
        let breaker = Breaker::new(env.clone(), "http", config()).expect("a valid config");
        let layer = BreakerLayer::new(breaker.clone()).classify(|status: &u16| *status >= 500);
        let inner = tower::service_fn(|status: u16| async move { Ok::<u16, ()>(status) });
        let mut first = layer.layer(inner);
        let mut second = first.clone();
        for status in [500, 200] {
            assert_eq!(first.ready().await.expect("ready").call(status).await.ok(), Some(status));
            assert_eq!(second.ready().await.expect("ready").call(status).await.ok(), Some(status));
        }
        assert_eq!(breaker.counters().failed, 2, "both 500s, through either clone");
        assert_eq!(breaker.state(), State::Open, "2 of 4 failed: 50%");
        let plain = BreakerLayer::new(Breaker::new(env, "plain", config()).expect("a valid config"));
        let mut svc = plain.layer(tower::service_fn(|status: u16| async move { Ok::<u16, ()>(status) }));
        for _ in 0..4 {
            let _ = svc.ready().await.expect("ready").call(500).await;
        }
        assert_eq!(svc.breaker().state(), State::Closed, "without a classifier a 500 is a success");
    });
}
