//! The rate limiter's tests: the GCRA's bound and its steady stream (property tests), the L2
//! engine's `CL.THROTTLE` against the pure arithmetic, the bounded local limiter against an
//! unbounded reference, the settings' validation, and limiters on loopback: two instances
//! sharing one cache node admit the limit once, two local ones twice, and a dead or silent node
//! fails open or closed as told.

use super::*;
use crate::cache::engine::{Engine, EngineConfig, Policy};
use crate::cache::node::L2Node;
use crate::cache::resp::Frame;
use crate::seam::{Env, TokioEnv};
use crate::server::{Capacity, serve};
use crate::testenv::{TestEnv, block_on};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn every(count: u64, period: Duration) -> Rate {
    Rate::Every { count, period }
}

fn emission_ns(limiter: &LocalLimiter) -> u64 {
    let emission = limiter.quota().emission().expect("a checked quota");
    u64::try_from(emission.as_nanos()).expect("below 2^62 ns")
}

proptest! {
    #[test]
    fn admitted_in_any_span_stays_within_the_gcra_bound(
        burst in 0..6u64,
        count in 1..10u64,
        period_ms in 1..5_000u64,
        gaps in prop::collection::vec(0..2_000u64, 1..200),
    ) {
        let mut limiter = LocalLimiter::new(every(count, Duration::from_millis(period_ms)), burst, 8)
            .expect("a valid quota");
        let emission = emission_ns(&limiter);
        let mut now = 0u64;
        let mut admitted: Vec<u64> = Vec::new();
        for gap in gaps {
            // Gaps from none to two emission intervals.
            now += emission * gap / 1_000;
            if !limiter.check(b"k", Duration::from_nanos(now)).limited {
                admitted.push(now);
            }
        }
        for (i, first) in admitted.iter().enumerate() {
            for (j, last) in admitted.iter().enumerate().skip(i) {
                let bound = burst + 1 + (last - first) / emission;
                prop_assert!((j - i + 1) as u64 <= bound, "{} admitted in {} ns", j - i + 1, last - first);
            }
        }
    }

    #[test]
    fn a_steady_stream_at_the_rate_is_never_limited_after_the_burst(
        burst in 0..6u64,
        count in 1..10u64,
        period_ms in 1..5_000u64,
        start_ns in 0..1_000_000_000_000u64,
        n in 1..100u64,
    ) {
        let mut limiter = LocalLimiter::new(every(count, Duration::from_millis(period_ms)), burst, 8)
            .expect("a valid quota");
        let emission = emission_ns(&limiter);
        let at = |ns: u64| Duration::from_nanos(ns);
        for sent in 0..=burst {
            let verdict = limiter.check(b"burst", at(start_ns));
            prop_assert!(!verdict.limited, "request {} of the burst", sent);
            prop_assert_eq!(verdict.remaining, burst - sent);
        }
        prop_assert!(limiter.check(b"burst", at(start_ns)).limited, "one past the burst");
        for k in 1..=n {
            let verdict = limiter.check(b"burst", at(start_ns + k * emission));
            prop_assert!(!verdict.limited, "the {}th of the stream after the burst", k);
            prop_assert_eq!(verdict.remaining, 0);
            let verdict = limiter.check(b"steady", at(start_ns + k * emission));
            prop_assert!(!verdict.limited, "the {}th of a stream without a burst", k);
            prop_assert_eq!(verdict.remaining, burst, "a steady stream keeps the whole burst");
        }
    }

    #[test]
    fn the_engines_throttle_answers_as_the_gcra_decides(
        ops in prop::collection::vec((0..3u8, 0..6u64, 1..10u64, 1..5u64, 0..8u64, 0..2_000u64), 1..150),
    ) {
        let engine = &mut Engine::new(EngineConfig::default(), 1);
        let mut tats: BTreeMap<u8, u64> = BTreeMap::new();
        let mut now_ms = 10_000u64;
        for (key, burst, count, period_s, quantity, gap_ms) in ops {
            now_ms += gap_ms;
            let line = format!("CL.THROTTLE k{key} {burst} {count} {period_s} {quantity}");
            let args: Vec<Bytes> = line.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
            let reply = engine.execute(&args, Duration::from_millis(now_ms));
            let quota = Quota { burst, count, period: Duration::from_secs(period_s) };
            let verdict = decide(quota, tats.get(&key).copied(), now_ms * 1_000_000, quantity).expect("a usable quota");
            if let Some(tat) = verdict.new_tat {
                tats.insert(key, tat);
            }
            let expected = Frame::Array(
                [
                    i64::from(verdict.limited),
                    verdict.limit as i64,
                    verdict.remaining as i64,
                    verdict.retry_after.map_or(-1, seconds_up),
                    seconds_up(verdict.reset_after),
                ]
                .map(Frame::Integer)
                .to_vec(),
            );
            prop_assert_eq!(reply, expected, "{} at {} ms", line, now_ms);
        }
    }

    #[test]
    fn a_bounded_local_limiter_forgets_only_keys_that_hold_nothing(
        burst in 0..3u64,
        ops in prop::collection::vec((0..10u8, 0..3_000u64), 1..300),
    ) {
        let rate = every(1, Duration::from_secs(1));
        let mut bounded = LocalLimiter::new(rate, burst, 4).expect("a valid quota");
        let mut unbounded = LocalLimiter::new(rate, burst, usize::MAX).expect("a valid quota");
        let mut now = Duration::ZERO;
        for (key, gap_ms) in ops {
            now += Duration::from_millis(gap_ms);
            let verdict = bounded.check(&[key], now);
            let reference = unbounded.check(&[key], now);
            prop_assert!(bounded.len() <= 4, "{} keys", bounded.len());
            if bounded.evicted() > 0 {
                // A live key was pushed out: from here it may burst early, as documented.
                break;
            }
            prop_assert_eq!(verdict, reference, "key {} at {:?}", key, now);
        }
    }
}

/// Whole seconds, rounded up when a millisecond part remains: redis-cell's reply.
fn seconds_up(d: Duration) -> i64 {
    let whole = d.as_secs() as i64;
    if d.subsec_millis() > 0 { whole + 1 } else { whole }
}

#[test]
fn a_full_limiter_drops_past_keys_first_then_the_earliest_live_one() {
    let mut limiter = LocalLimiter::new(every(1, Duration::from_secs(1)), 0, 2).expect("a valid quota");
    let at = Duration::from_secs;
    assert!(!limiter.check(b"a", at(10)).limited);
    assert!(!limiter.check(b"b", at(11)).limited);
    // At 11.5 s, "a" (TAT 11 s) holds nothing: it goes, and "c" takes its place.
    let half = Duration::from_millis(11_500);
    assert!(!limiter.check(b"c", half).limited);
    assert_eq!((limiter.len(), limiter.evicted()), (2, 0));
    assert!(limiter.check(b"b", half).limited, "b is remembered");
    // Both live: "b" (TAT 12 s) is earlier than "c" (12.5 s) and is pushed out.
    assert!(!limiter.check(b"d", half).limited);
    assert_eq!((limiter.len(), limiter.evicted()), (2, 1));
    assert!(!limiter.check(b"b", half).limited, "b was forgotten, so it passes again");
    assert!(limiter.check(b"d", half).limited, "d is remembered");
}

/// Validates `config` and asserts its quota or the error's text.
fn check(config: &LimitConfig, expected: Result<Quota, &str>) {
    let got = config.quota().map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "{config:?}");
    assert_eq!(config.validate().is_ok(), got.is_ok());
}

#[test]
fn settings_are_checked_with_errors_that_say_why() {
    let quota = |burst, count, period_s| Ok(Quota { burst, count, period: Duration::from_secs(period_s) });
    check(&LimitConfig::local(Rate::PerSecond(100.0), 5), quota(5, 100, 1));
    check(&LimitConfig::local(Rate::PerSecond(2.5), 0), quota(0, 5, 2));
    check(&LimitConfig::local(Rate::PerSecond(1.0 / 3.0), 1), quota(1, 1, 3));
    check(&LimitConfig::local(Rate::PerSecond(0.001), 1), quota(1, 1, 1000));
    check(
        &LimitConfig::local(Rate::PerSecond(1e-5), 1),
        Err(
            "rate 0.00001 a second is not a whole count per whole seconds (up to an hour) within 1%; give a count and a period instead",
        ),
    );
    let ms = LimitConfig::local(every(3, Duration::from_millis(10)), 2);
    check(&ms, Ok(Quota { burst: 2, count: 3, period: Duration::from_millis(10) }));
    let bad = "rate must be a finite number of requests a second above zero, not";
    check(&LimitConfig::local(Rate::PerSecond(0.0), 1), Err(&format!("{bad} 0")));
    check(&LimitConfig::local(Rate::PerSecond(-2.0), 1), Err(&format!("{bad} -2")));
    check(&LimitConfig::local(Rate::PerSecond(f64::NAN), 1), Err(&format!("{bad} NaN")));
    check(&LimitConfig::local(every(0, HOUR), 1), Err("rate must be above zero, not 0 requests every 3600s"));
    check(&LimitConfig::local(every(5, Duration::ZERO), 1), Err("rate must be above zero, not 5 requests every 0ns"));
    let fast = "rate of 2 requests every 1ns leaves less than a nanosecond between them";
    check(&LimitConfig::local(every(2, Duration::from_nanos(1)), 1), Err(fast));
    let long = "burst + 1 emission intervals spans more than 2^62 ns (about 146 years)";
    check(&LimitConfig::local(every(1, HOUR), u64::MAX), Err(long));
    let no_keys = LimitConfig { scope: Scope::Local { max_keys: 0 }, ..LimitConfig::local(Rate::PerSecond(1.0), 1) };
    check(&no_keys, Err("a local limiter's max_keys must be at least 1"));
    let shared = |rate, addr: &str, timeout| LimitConfig::shared(rate, 1, addr, FailMode::Open, timeout);
    let second = Duration::from_secs(1);
    check(&shared(Rate::PerSecond(3.0), "cache:6379", second), quota(1, 3, 1));
    check(
        &shared(every(3, Duration::from_millis(1500)), "cache:6379", second),
        Err("a shared limiter's period must be whole seconds (CL.THROTTLE counts in seconds), not 1.5s"),
    );
    check(
        &shared(Rate::PerSecond(3.0), " ", second),
        Err("a shared limiter needs its cache node's address (host:port)"),
    );
    check(
        &shared(Rate::PerSecond(3.0), "cache:6379", Duration::ZERO),
        Err("a shared limiter's timeout must be above zero"),
    );
}

#[test]
fn a_local_rate_limiter_counts_and_refills_on_its_clock() {
    block_on(async {
        let env = TestEnv::manual("app");
        let limiter = RateLimiter::new(env.clone(), &LimitConfig::local(every(2, Duration::from_secs(1)), 1))
            .expect("valid settings");
        assert_eq!((env.gauge("rate_admitted"), env.gauge("rate_limited")), (Some(0), Some(0)));
        assert_eq!(limiter.check(b"k").await, Decision::Allowed { remaining: 1 });
        assert_eq!(limiter.check(b"k").await, Decision::Allowed { remaining: 0 });
        let wait = Duration::from_millis(500);
        assert_eq!(limiter.check(b"k").await, Decision::Limited { retry_after: wait });
        assert_eq!(limiter.check(b"other").await, Decision::Allowed { remaining: 1 }, "keys are apart");
        env.advance(Duration::from_millis(400));
        let wait = Duration::from_millis(100);
        assert_eq!(limiter.check(b"k").await, Decision::Limited { retry_after: wait });
        env.advance(wait);
        assert_eq!(limiter.check(b"k").await, Decision::Allowed { remaining: 0 });
        assert_eq!((limiter.admitted(), limiter.limited(), limiter.fallbacks()), (4, 2, 0));
        assert_eq!((env.gauge("rate_admitted"), env.gauge("rate_limited")), (Some(4), Some(2)));
    });
}

/// Serves an L2 node with `config` on loopback; its address.
async fn node(config: EngineConfig) -> String {
    let env = TokioEnv::new("cache", "127.0.0.1", 7);
    let listener = env.bind(0).await.expect("bind");
    let addr = listener.local_addr().expect("an address").to_string();
    let node = L2Node::new(env.clone(), config);
    tokio::task::spawn_local(serve(env, listener, Capacity::default(), node));
    addr
}

/// An address where nothing listens: bound, then closed.
async fn dead_addr() -> String {
    let listener = TokioEnv::new("gone", "127.0.0.1", 7).bind(0).await.expect("bind");
    listener.local_addr().expect("an address").to_string()
}

/// One instance's limiter of 5 at once, then one an hour.
fn instance(name: &str, scope: Scope) -> (TestEnv, RateLimiter<TestEnv>) {
    // The real clock: a shared limiter's timeout sleeps on it. Nothing refills within a test.
    let env = TestEnv::new(name);
    let config = LimitConfig { rate: every(1, HOUR), burst: 4, scope };
    let limiter = RateLimiter::new(env.clone(), &config).expect("valid settings");
    (env, limiter)
}

/// Sends `total` requests of one key, alternating between `limiters`; how many passed.
async fn burst(limiters: &[&RateLimiter<TestEnv>], total: usize) -> usize {
    let mut passed = 0;
    for i in 0..total {
        passed += usize::from(limiters[i % limiters.len()].check(b"tenant-1").await.allowed());
    }
    passed
}

#[test]
fn two_instances_sharing_a_node_admit_the_limit_once_and_two_local_ones_twice() {
    block_on(async {
        let addr = node(EngineConfig::default()).await;
        let shared = || Scope::Shared { addr: addr.clone(), fail: FailMode::Closed, timeout: Duration::from_secs(5) };
        let (env_a, a) = instance("app-a", shared());
        let (_, b) = instance("app-b", shared());
        assert_eq!(burst(&[&a, &b], 15).await, 5, "the global limit, once");
        assert_eq!((a.fallbacks(), b.fallbacks()), (0, 0), "the node answered every check");
        assert_eq!((a.admitted() + b.admitted(), a.limited() + b.limited()), (5, 10));
        assert_eq!(env_a.gauge("limiter_fallbacks"), Some(0));
        assert!(
            matches!(a.check(b"tenant-1").await, Decision::Limited { retry_after } if retry_after > Duration::ZERO)
        );

        let local = || Scope::Local { max_keys: 100 };
        let (_, c) = instance("app-c", local());
        let (_, d) = instance("app-d", local());
        assert_eq!(burst(&[&c, &d], 15).await, 10, "each instance admits the whole limit: twice it");
    });
}

/// Three checks through a limiter that fails `fail` against `addr` within `timeout`.
async fn fall_back(addr: &str, fail: FailMode, timeout: Duration) -> (TestEnv, RateLimiter<TestEnv>, Vec<Decision>) {
    let (env, limiter) = instance("app", Scope::Shared { addr: addr.to_string(), fail, timeout });
    let mut decisions = Vec::new();
    for _ in 0..3 {
        decisions.push(limiter.check(b"k").await);
    }
    (env, limiter, decisions)
}

/// Asserts what an unanswered limiter decided and counted.
fn assert_fell_back(fail: FailMode, (env, limiter, decisions): (TestEnv, RateLimiter<TestEnv>, Vec<Decision>)) {
    let expected = match fail {
        FailMode::Open => Decision::Allowed { remaining: 0 },
        FailMode::Closed => Decision::Limited { retry_after: HOUR },
    };
    assert_eq!(decisions, [expected; 3], "{fail:?}");
    assert_eq!(limiter.fallbacks(), 3);
    assert_eq!(env.gauge("limiter_fallbacks"), Some(3));
    let counted = match fail {
        FailMode::Open => (Some(3), Some(0)),
        FailMode::Closed => (Some(0), Some(3)),
    };
    assert_eq!((env.gauge("rate_admitted"), env.gauge("rate_limited")), counted, "{fail:?}");
}

#[test]
fn a_dead_node_fails_open_or_closed_as_told() {
    block_on(async {
        let dead = dead_addr().await;
        for fail in [FailMode::Open, FailMode::Closed] {
            assert_fell_back(fail, fall_back(&dead, fail, Duration::from_secs(5)).await);
        }
    });
}

#[test]
fn a_silent_node_fails_open_or_closed_after_the_timeout() {
    block_on(async {
        let silent = TokioEnv::new("silent", "127.0.0.1", 7).bind(0).await.expect("bind");
        let addr = silent.local_addr().expect("an address").to_string();
        for fail in [FailMode::Open, FailMode::Closed] {
            assert_fell_back(fail, fall_back(&addr, fail, Duration::from_millis(100)).await);
        }
        drop(silent);
    });
}

#[test]
fn a_node_that_answers_an_error_is_no_answer() {
    block_on(async {
        // Below the engine's base bytes and no eviction: every write is refused with OOM.
        let addr = node(EngineConfig { maxmemory: 1, policy: Policy::NoEviction, samples: 5 }).await;
        for fail in [FailMode::Open, FailMode::Closed] {
            assert_fell_back(fail, fall_back(&addr, fail, Duration::from_secs(5)).await);
        }
    });
}
