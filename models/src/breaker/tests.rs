//! Unit tests of the state machine, its windows and its configuration: where it trips and
//! where not, the open time, the half-open probes and their verdict, time windows forgetting,
//! stale permits, and the validation messages.

use std::time::Duration;

use super::core::percent;
use super::window::time_buckets;
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A count window of 10, 50 %, minimum 10, open 10 s, 3 probes, slow from 1 s (rate off).
fn small() -> BreakerConfig {
    BreakerConfig {
        window: Window::Count(10),
        failure_rate: 0.5,
        slow_call_rate: 1.0,
        slow_call_duration: secs(1),
        minimum_calls: 10,
        open_for: secs(10),
        half_open_probes: 3,
        plant_never_half_open: false,
    }
}

fn breaker(config: BreakerConfig) -> BreakerCore {
    BreakerCore::new(config).expect("a valid config")
}

/// Makes one call at `now` that fails or not and takes `took`; returns the transition.
fn call(b: &mut BreakerCore, now: Duration, ok: bool, took: Duration) -> Option<Transition> {
    let permit = b.acquire(now).expect("admitted");
    b.record(now, permit, ok, took)
}

/// Makes `oks` then `fails` quick calls at `now`; returns the transitions they caused.
fn calls(b: &mut BreakerCore, now: Duration, oks: u32, fails: u32) -> Vec<Transition> {
    let outcomes = std::iter::repeat_n(true, oks as usize).chain(std::iter::repeat_n(false, fails as usize));
    outcomes.filter_map(|ok| call(b, now, ok, ms(1))).collect()
}

/// A breaker that just opened at `at` (10 failing calls).
fn opened(config: BreakerConfig, at: Duration) -> BreakerCore {
    let mut b = breaker(config);
    let trips = calls(&mut b, at, 0, 10);
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert_eq!(b.state(), State::Open);
    b
}

#[test]
fn defaults_are_resilience4js() {
    let d = BreakerConfig::default();
    assert_eq!(d.window, Window::Count(100));
    assert_eq!((d.failure_rate, d.slow_call_rate), (0.5, 1.0));
    assert_eq!((d.slow_call_duration, d.open_for), (secs(60), secs(60)));
    assert_eq!((d.minimum_calls, d.half_open_probes), (100, 10));
    assert_eq!(d.validate(), Ok(()));
}

#[test]
fn trips_exactly_at_the_threshold_once_minimum_calls_are_reached_and_not_before() {
    let mut b = breaker(small());
    assert!(calls(&mut b, secs(1), 0, 5).is_empty(), "5 calls, all failed: under the minimum");
    assert!(calls(&mut b, secs(1), 4, 0).is_empty(), "9 calls, 5 failed: still under the minimum");
    assert_eq!(b.tally(secs(1)), Tally { calls: 9, failed: 5, slow: 0 });
    let trip = call(&mut b, secs(2), true, ms(1)).expect("10 calls, 5 failed: 50% >= 50%");
    assert_eq!((trip.from, trip.to, trip.at), (State::Closed, State::Open, secs(2)));
    assert_eq!(trip.reason, "failure rate 50% >= 50% over 10 calls");
    assert_eq!(b.generation(), 1);

    let mut b = breaker(small());
    assert!(calls(&mut b, secs(1), 6, 4).is_empty(), "40% < 50%");
    assert!(calls(&mut b, secs(1), 1, 0).is_empty(), "the ring drops a call: still 4 of 10 failed");
    assert_eq!(b.tally(secs(1)), Tally { calls: 10, failed: 4, slow: 0 });
    assert_eq!(b.state(), State::Closed);
    let trip = call(&mut b, secs(1), false, ms(1)).expect("5 of the last 10 failed");
    assert_eq!(trip.reason, "failure rate 50% >= 50% over 10 calls");
}

#[test]
fn a_rate_exactly_at_a_threshold_that_is_no_binary_fraction_trips() {
    let mut b = breaker(BreakerConfig { failure_rate: 0.3, ..small() });
    assert!(calls(&mut b, secs(1), 7, 2).is_empty());
    let trip = call(&mut b, secs(1), false, ms(1)).expect("3 of 10 = 30% >= 30%");
    assert_eq!(trip.reason, "failure rate 30% >= 30% over 10 calls");
}

#[test]
fn a_count_window_caps_the_minimum_at_its_size() {
    let config = BreakerConfig { window: Window::Count(4), minimum_calls: 100, ..small() };
    let mut b = breaker(config);
    assert_eq!(b.minimum_calls(), 4);
    assert!(calls(&mut b, secs(1), 0, 3).is_empty());
    let trip = call(&mut b, secs(1), false, ms(1)).expect("a full window of 4 judges");
    assert_eq!(trip.reason, "failure rate 100% >= 50% over 4 calls");
    let time = breaker(BreakerConfig { window: Window::Time(secs(10)), minimum_calls: 100, ..small() });
    assert_eq!(time.minimum_calls(), 100, "a time window keeps the minimum as given");
}

#[test]
fn slow_calls_trip_it_even_when_they_succeed() {
    let mut b = breaker(BreakerConfig { slow_call_rate: 0.5, ..small() });
    for _ in 0..5 {
        assert_eq!(call(&mut b, secs(1), true, ms(999)), None, "999ms is not slow");
    }
    for _ in 0..4 {
        assert_eq!(call(&mut b, secs(1), true, secs(1)), None, "1s is slow (at the duration)");
    }
    assert_eq!(b.tally(secs(1)), Tally { calls: 9, failed: 0, slow: 4 });
    let trip = call(&mut b, secs(1), true, secs(3)).expect("5 of 10 slow");
    assert_eq!(trip.reason, "slow call rate 50% >= 50% over 10 calls");
    assert_eq!(b.counters().slow, 5);
    assert_eq!(b.counters().failed, 0);
}

#[test]
fn both_rates_over_are_both_named() {
    let mut b = breaker(BreakerConfig { slow_call_rate: 0.5, ..small() });
    assert!(calls(&mut b, secs(1), 4, 0).is_empty());
    let trips: Vec<_> = (0..6).filter_map(|_| call(&mut b, secs(1), false, secs(2))).collect();
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].reason, "failure rate 60% >= 50% and slow call rate 60% >= 50% over 10 calls");
}

#[test]
fn stays_open_for_its_open_time_rejecting_then_half_opens() {
    let mut b = opened(small(), secs(5));
    for (now, left) in [(secs(5), secs(10)), (secs(9), secs(6)), (ms(14_999), ms(1))] {
        assert_eq!(b.acquire(now), Err(Rejected { state: State::Open, retry_in: Some(left) }), "at {now:?}");
        assert_eq!(b.advance(now), None);
    }
    assert_eq!(b.counters().rejected, 3);
    assert_eq!(b.counters().admitted, 10);
    let half = b.advance(secs(15)).expect("open for 10s");
    assert_eq!((half.from, half.to, half.at), (State::Open, State::HalfOpen, secs(15)));
    assert_eq!(half.reason, "open for 10s");
    assert_eq!(b.acquire(secs(15)).map(|p| p.state()), Ok(State::HalfOpen));
}

#[test]
fn the_planted_bug_keeps_it_open_past_the_open_time() {
    let planted = BreakerConfig { plant_never_half_open: true, ..small() };
    assert!(!BreakerConfig::default().plant_never_half_open, "off by default");
    let mut b = opened(planted, secs(5));
    for now in [secs(15), secs(60), secs(3600)] {
        assert_eq!(b.advance(now), None, "at {now:?}");
        assert_eq!(b.acquire(now).map(|p| p.state()), Err(Rejected { state: State::Open, retry_in: Some(ms(0)) }));
    }
    assert_eq!((b.state(), b.generation()), (State::Open, 1));
    let mut honest = opened(small(), secs(5));
    assert_eq!(honest.advance(secs(15)).map(|t| t.to), Some(State::HalfOpen));
}

#[test]
fn acquire_half_opens_on_its_own_once_the_open_time_is_up() {
    let mut b = opened(small(), secs(5));
    let permit = b.acquire(secs(16)).expect("past the open time a probe goes");
    assert_eq!(permit.state(), State::HalfOpen);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.generation(), 2);
    b.release(permit);
}

#[test]
fn half_open_admits_exactly_its_probes_in_flight_or_finished() {
    let mut b = opened(small(), secs(0));
    let now = secs(10);
    let probes: Vec<Permit> = (0..3).map(|i| b.acquire(now).unwrap_or_else(|r| panic!("probe {i}: {r:?}"))).collect();
    let full = Rejected { state: State::HalfOpen, retry_in: None };
    assert_eq!(b.acquire(now), Err(full), "a fourth is refused");
    let mut probes = probes.into_iter();
    assert_eq!(b.record(now, probes.next().expect("a probe"), true, ms(1)), None, "no verdict before all finish");
    assert_eq!(b.acquire(now), Err(full), "a finished probe still counts");
    b.release(probes.next().expect("a probe"));
    let again = b.acquire(now).expect("a released probe's slot is free again");
    assert_eq!(b.acquire(now), Err(full));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.record(now, again, true, ms(1)), None);
    let close = b.record(now, probes.next().expect("a probe"), true, ms(1)).expect("all three finished");
    assert_eq!(close.to, State::Closed);
}

#[test]
fn all_probes_ok_close_it_with_an_empty_window() {
    let mut b = opened(small(), secs(0));
    let transitions = calls(&mut b, secs(10), 3, 0);
    let tos: Vec<State> = transitions.iter().map(|t| t.to).collect();
    assert_eq!(tos, [State::Closed], "acquire half-opened silently; the last probe closed: {transitions:?}");
    assert_eq!(transitions[0].reason, "failure rate 0% < 50% and slow call rate 0% < 100% over 3 probes");
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.tally(secs(10)), Tally::default(), "closed afresh");
    assert!(calls(&mut b, secs(10), 0, 9).is_empty(), "a new window waits for its minimum again");
}

#[test]
fn a_failing_probe_set_reopens_it_and_the_verdict_is_over_the_probes_alone() {
    let mut b = opened(BreakerConfig { failure_rate: 0.3, ..small() }, secs(0));
    assert!(calls(&mut b, secs(10), 0, 1).is_empty(), "one probe failed; two to go");
    assert_eq!(b.state(), State::HalfOpen);
    let reopen = calls(&mut b, secs(11), 2, 0);
    assert_eq!(reopen.len(), 1);
    assert_eq!((reopen[0].from, reopen[0].to, reopen[0].at), (State::HalfOpen, State::Open, secs(11)));
    assert_eq!(reopen[0].reason, "failure rate 33.3% >= 30% over 3 probes");
    assert_eq!(b.acquire(ms(20_999)).map_err(|r| r.retry_in), Err(Some(ms(1))), "open for 10s from the verdict");

    let mut b = opened(small(), secs(0));
    let close = calls(&mut b, secs(10), 2, 1);
    assert_eq!(close.len(), 1);
    assert_eq!(close[0].to, State::Closed, "1 of 3 = 33% < 50%: the failures before the opening do not count");
}

#[test]
fn slow_probes_reopen_it() {
    let mut b = opened(BreakerConfig { slow_call_rate: 0.6, ..small() }, secs(0));
    assert_eq!(call(&mut b, secs(10), true, ms(1)), None);
    assert_eq!(call(&mut b, secs(10), true, secs(1)), None);
    let reopen = call(&mut b, secs(10), true, secs(5)).expect("the last probe decides");
    assert_eq!(reopen.to, State::Open);
    assert_eq!(reopen.reason, "slow call rate 66.7% >= 60% over 3 probes");
}

#[test]
fn a_time_window_forgets_calls_older_than_its_length() {
    let config = BreakerConfig { window: Window::Time(secs(10)), minimum_calls: 4, ..small() };
    let mut b = breaker(config.clone());
    assert!(calls(&mut b, ms(500), 0, 3).is_empty());
    assert_eq!(b.tally(ms(9_999)).calls, 3, "still in the window");
    assert_eq!(b.tally(secs(10)).calls, 0, "10s on, the bucket of 0..1s is gone");
    assert!(calls(&mut b, ms(10_400), 1, 0).is_empty(), "the three failures are forgotten: 1 call");
    assert_eq!(b.tally(ms(10_400)), Tally { calls: 1, failed: 0, slow: 0 });

    let mut b = breaker(config);
    assert!(calls(&mut b, ms(500), 0, 3).is_empty());
    let trip = call(&mut b, ms(9_900), true, ms(1)).expect("4 calls within 10s, 3 failed");
    assert_eq!(trip.reason, "failure rate 75% >= 50% over 4 calls");
}

#[test]
fn a_time_window_ages_across_a_long_silence_and_many_buckets() {
    let config = BreakerConfig { window: Window::Time(secs(3)), minimum_calls: 3, ..small() };
    let mut b = breaker(config);
    assert!(calls(&mut b, ms(100), 0, 2).is_empty());
    assert!(calls(&mut b, secs(1000), 0, 2).is_empty(), "a silence of 1000 buckets empties the ring");
    assert_eq!(b.tally(secs(1000)).calls, 2);
    let trip = call(&mut b, ms(1_001_500), true, ms(1)).expect("3 calls in the window, 2 failed");
    assert_eq!(trip.reason, "failure rate 66.7% >= 50% over 3 calls", "the calls at 100ms are long gone");
}

#[test]
fn time_bucket_layouts_are_as_documented() {
    assert_eq!(time_buckets(secs(10)), (secs(1), 10));
    assert_eq!(time_buckets(ms(15_500)), (secs(1), 15));
    assert_eq!(time_buckets(secs(3600)), (secs(1), 3600));
    assert_eq!(time_buckets(secs(7200)), (secs(2), 3600));
    assert_eq!(time_buckets(secs(1)), (ms(100), 10));
    assert_eq!(time_buckets(ms(1)), (Duration::from_micros(100), 10));
}

#[test]
fn a_clock_stepped_back_never_panics_nor_brings_calls_back() {
    let config = BreakerConfig { window: Window::Time(secs(10)), minimum_calls: 3, ..small() };
    let mut b = breaker(config);
    assert!(calls(&mut b, secs(1), 0, 2).is_empty());
    assert!(calls(&mut b, secs(30), 1, 0).is_empty());
    assert!(calls(&mut b, secs(2), 1, 0).is_empty(), "an earlier now counts as the latest seen");
    assert_eq!(b.tally(secs(2)), Tally { calls: 2, failed: 0, slow: 0 });
    let mut b = opened(small(), secs(20));
    assert_eq!(b.advance(secs(5)), None, "before the opening");
    assert_eq!(b.acquire(secs(5)).map_err(|r| r.retry_in), Err(Some(secs(25))));
}

#[test]
fn a_stale_permits_result_is_ignored() {
    let mut b = breaker(small());
    let old = b.acquire(secs(0)).expect("closed admits");
    let older = b.acquire(secs(0)).expect("closed admits");
    assert_eq!(old.generation(), 0);
    assert_eq!(calls(&mut b, secs(0), 0, 10).len(), 1, "tripped");
    assert_eq!(b.record(secs(1), old, false, ms(1)), None, "recorded while open: ignored");
    assert_eq!(b.state(), State::Open);
    assert_eq!((b.counters().stale, b.counters().failed), (1, 11), "counted as failed, never judged");

    let cycle = calls(&mut b, secs(10), 3, 0);
    assert_eq!(cycle.len(), 1, "half-open (silently) then closed");
    assert_eq!((b.state(), b.generation()), (State::Closed, 3));
    assert!(calls(&mut b, secs(10), 0, 4).is_empty());
    assert_eq!(b.record(secs(10), older, false, ms(1)), None, "a generation-0 permit in generation 3");
    assert_eq!(b.tally(secs(10)), Tally { calls: 4, failed: 4, slow: 0 }, "not in the new window");
    assert_eq!(b.counters().stale, 2);
}

#[test]
fn a_result_from_before_the_last_transition_does_not_count_as_a_probe() {
    let mut b = breaker(small());
    let early = b.acquire(secs(0)).expect("closed admits");
    assert!(!calls(&mut b, secs(0), 0, 10).is_empty());
    assert!(b.advance(secs(10)).is_some());
    assert_eq!(b.record(secs(10), early, true, ms(1)), None, "a closed-state call is no probe");
    assert_eq!(b.tally(secs(10)), Tally::default());
    assert_eq!(b.counters().stale, 1);
    let transitions = calls(&mut b, secs(10), 3, 0);
    assert_eq!(transitions.len(), 1, "three real probes decide");
}

#[test]
fn config_validation_says_what_is_wrong() {
    let check = |config: BreakerConfig, expected: &str| {
        let err = config.validate().expect_err(expected);
        assert_eq!(err.to_string(), expected);
        let built = BreakerCore::new(config).map(|_| ()).expect_err(expected);
        assert_eq!(built.to_string(), expected);
    };
    check(
        BreakerConfig { failure_rate: 50.0, ..small() },
        "failure_rate must be a share between 0 and 1 (0.5 = 50%), not 50",
    );
    check(
        BreakerConfig { slow_call_rate: -0.1, ..small() },
        "slow_call_rate must be a share between 0 and 1 (0.5 = 50%), not -0.1",
    );
    check(
        BreakerConfig { failure_rate: f64::NAN, ..small() },
        "failure_rate must be a share between 0 and 1 (0.5 = 50%), not NaN",
    );
    check(BreakerConfig { window: Window::Count(0), ..small() }, "a count window must hold at least 1 call, not 0");
    check(
        BreakerConfig { window: Window::Time(Duration::from_micros(999)), ..small() },
        "a time window must be at least 1ms long, not 999µs",
    );
    check(BreakerConfig { minimum_calls: 0, ..small() }, "minimum_calls must be at least 1, not 0");
    check(
        BreakerConfig { half_open_probes: 0, ..small() },
        "half_open_probes must be at least 1, not 0: with no probe the breaker never closes again",
    );
    check(BreakerConfig { open_for: Duration::ZERO, ..small() }, "open_for must be longer than 0");
    assert_eq!(BreakerConfig { failure_rate: 0.0, slow_call_rate: 1.0, ..small() }.validate(), Ok(()));
    assert_eq!(BreakerConfig { window: Window::Time(ms(1)), ..small() }.validate(), Ok(()));
}

#[test]
fn state_names_and_percentages_read_as_documented() {
    let names = [State::Closed, State::Open, State::HalfOpen].map(State::as_str);
    assert_eq!(names, ["closed", "open", "half_open"]);
    assert_eq!(State::HalfOpen.to_string(), "half_open");
    assert_eq!([0.625, 0.5, 1.0 / 3.0, 0.0].map(percent), ["62.5%", "50%", "33.3%", "0%"]);
}
