//! Model-based property tests of the state machine: random configurations and random runs of
//! (advance time, call, start a call, finish one, drop one) events, checked step by step against
//! a brute-force reference that keeps every call of the current closed generation in a list and
//! recounts the window from it.
//!
//! Checked at every step: closed never rejects; open rejects every call until its open time is
//! up (and says how long is left); half-open never has more than its probes out; the state,
//! generation and counters match the reference; the window's tally equals the recount; the
//! breaker trips exactly when the recount reaches a threshold, and its reason quotes the
//! recounted rate; a stale permit's result changes nothing but the stale counter.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;

use super::core::percent;
use super::window::time_buckets;
use super::*;

/// How a call ends.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Ok,
    Fail,
    SlowOk,
    SlowFail,
}

impl Kind {
    fn ok(self) -> bool {
        matches!(self, Kind::Ok | Kind::SlowOk)
    }
    fn slow(self) -> bool {
        matches!(self, Kind::SlowOk | Kind::SlowFail)
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// Time moves on this many milliseconds.
    Advance(u64),
    /// A call is made and finishes at once.
    Call(Kind),
    /// A call is admitted (or not) and stays out.
    Start(Kind),
    /// The oldest call out finishes.
    Finish,
    /// The oldest call out is abandoned (its permit released).
    Abandon,
}

const SLOW: Duration = Duration::from_millis(500);

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![4 => Just(Kind::Ok), 4 => Just(Kind::Fail), 1 => Just(Kind::SlowOk), 1 => Just(Kind::SlowFail)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..4_000).prop_map(Step::Advance),
        6 => kind().prop_map(Step::Call),
        2 => kind().prop_map(Step::Start),
        2 => Just(Step::Finish),
        1 => Just(Step::Abandon),
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(0.3), Just(0.5), Just(1.0), 0.0..=1.0f64]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    let window = prop_oneof![
        (1u32..20).prop_map(Window::Count),
        (1u64..20_000).prop_map(|ms| Window::Time(Duration::from_millis(ms)))
    ];
    (window, rate(), rate(), 1u32..15, 1u64..8_000, 1u32..6).prop_map(
        |(window, failure_rate, slow_call_rate, minimum_calls, open_ms, half_open_probes)| BreakerConfig {
            window,
            failure_rate,
            slow_call_rate,
            slow_call_duration: SLOW,
            minimum_calls,
            open_for: Duration::from_millis(open_ms),
            half_open_probes,
            plant_never_half_open: false,
        },
    )
}

/// The reference: what the breaker should be, kept the obvious way.
struct Reference {
    config: BreakerConfig,
    state: State,
    generation: u64,
    /// Every call recorded in the current closed generation: (when, failed, slow).
    closed_calls: Vec<(Duration, bool, bool)>,
    opened_at: Duration,
    probes_out: u32,
    probes_done: Vec<(bool, bool)>,
    counters: Counters,
}

impl Reference {
    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
        self.closed_calls.clear();
        self.probes_out = 0;
        self.probes_done.clear();
    }

    /// The calls of the closed window at `now`, recounted from the list.
    fn window(&self, now: Duration) -> Tally {
        let in_window: Vec<&(Duration, bool, bool)> = match self.config.window {
            Window::Count(n) => self.closed_calls.iter().rev().take(n as usize).collect(),
            Window::Time(d) => {
                let (width, buckets) = time_buckets(d);
                let bucket = |t: Duration| t.as_nanos() / width.as_nanos();
                let counted = |t: Duration| bucket(now) - bucket(t) < u128::from(buckets);
                for (t, ..) in &self.closed_calls {
                    let age = now - *t;
                    assert!(!counted(*t) || age < d, "a call {age:?} old is out of a window of {d:?}");
                    assert!(counted(*t) || age + 2 * width >= d, "a call {age:?} old is in a window of {d:?}");
                }
                self.closed_calls.iter().filter(|(t, ..)| counted(*t)).collect()
            }
        };
        let mut tally = Tally::default();
        for (_, failed, slow) in in_window {
            tally.calls += 1;
            tally.failed += u64::from(*failed);
            tally.slow += u64::from(*slow);
        }
        tally
    }

    fn minimum(&self) -> u64 {
        match self.config.window {
            Window::Count(n) => u64::from(self.config.minimum_calls.min(n)),
            Window::Time(_) => u64::from(self.config.minimum_calls),
        }
    }

    fn over(&self, tally: Tally) -> bool {
        let calls = tally.calls as f64;
        tally.failed as f64 / calls >= self.config.failure_rate
            || tally.slow as f64 / calls >= self.config.slow_call_rate
    }
}

/// Runs `steps` against a breaker and the reference, checking as it goes.
fn run(config: BreakerConfig, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut core = BreakerCore::new(config.clone()).expect("a valid config");
    let mut reference = Reference {
        config,
        state: State::Closed,
        generation: 0,
        closed_calls: Vec::new(),
        opened_at: Duration::ZERO,
        probes_out: 0,
        probes_done: Vec::new(),
        counters: Counters::default(),
    };
    let mut out: VecDeque<(Permit, Kind)> = VecDeque::new();
    let mut now = Duration::ZERO;
    for step in steps {
        match step {
            Step::Advance(ms) => now += Duration::from_millis(ms),
            Step::Call(kind) => {
                if let Some(permit) = acquire(&mut core, &mut reference, now)? {
                    record(&mut core, &mut reference, now, permit, kind)?;
                }
            }
            Step::Start(kind) => {
                if let Some(permit) = acquire(&mut core, &mut reference, now)? {
                    out.push_back((permit, kind));
                }
            }
            Step::Finish => {
                if let Some((permit, kind)) = out.pop_front() {
                    record(&mut core, &mut reference, now, permit, kind)?;
                }
            }
            Step::Abandon => {
                if let Some((permit, _)) = out.pop_front() {
                    if permit.generation() == reference.generation && reference.state == State::HalfOpen {
                        reference.probes_out -= 1;
                    }
                    core.release(permit);
                }
            }
        }
        prop_assert_eq!(core.state(), reference.state);
        prop_assert_eq!(core.generation(), reference.generation);
        prop_assert_eq!(core.counters(), reference.counters);
        prop_assert!(reference.probes_out <= reference.config.half_open_probes);
        if reference.state == State::Closed {
            prop_assert_eq!(core.tally(now), reference.window(now), "the window equals the recount");
        }
    }
    Ok(())
}

/// Asks for a permit as the wrapper does (advance, then acquire), checking the answer.
fn acquire(core: &mut BreakerCore, r: &mut Reference, now: Duration) -> Result<Option<Permit>, TestCaseError> {
    let open_until = r.opened_at + r.config.open_for;
    match core.advance(now) {
        Some(t) => {
            prop_assert_eq!(r.state, State::Open);
            prop_assert!(now >= open_until, "half-open only once the open time is up");
            prop_assert_eq!((t.from, t.to, t.at), (State::Open, State::HalfOpen, now));
            r.enter(State::HalfOpen);
        }
        None => prop_assert!(r.state != State::Open || now < open_until, "due to half-open at {:?}", now),
    }
    let got = core.acquire(now);
    match r.state {
        State::Closed => prop_assert!(got.is_ok(), "closed never rejects: {:?}", got),
        State::Open => {
            let left = open_until - now;
            prop_assert_eq!(got.as_ref().err(), Some(&Rejected { state: State::Open, retry_in: Some(left) }));
        }
        State::HalfOpen if r.probes_out < r.config.half_open_probes => {
            prop_assert!(got.is_ok(), "a probe slot is free: {:?}", got);
            r.probes_out += 1;
        }
        State::HalfOpen => {
            let full = Rejected { state: State::HalfOpen, retry_in: None };
            prop_assert_eq!(got.as_ref().err(), Some(&full));
        }
    }
    match got {
        Ok(permit) => {
            prop_assert_eq!(permit.generation(), r.generation);
            r.counters.admitted += 1;
            Ok(Some(permit))
        }
        Err(_) => {
            r.counters.rejected += 1;
            Ok(None)
        }
    }
}

/// Records a call's end, checking the verdict against the reference's recount.
fn record(
    core: &mut BreakerCore,
    r: &mut Reference,
    now: Duration,
    permit: Permit,
    kind: Kind,
) -> Result<(), TestCaseError> {
    let (failed, slow) = (!kind.ok(), kind.slow());
    let took = if slow { SLOW } else { SLOW - Duration::from_nanos(1) };
    r.counters.failed += u64::from(failed);
    r.counters.slow += u64::from(slow);
    let stale = permit.generation() != r.generation;
    let got = core.record(now, permit, kind.ok(), took);
    if stale {
        r.counters.stale += 1;
        prop_assert_eq!(got, None, "a stale result changes nothing");
        return Ok(());
    }
    match r.state {
        State::Closed => {
            r.closed_calls.push((now, failed, slow));
            let tally = r.window(now);
            let trips = tally.calls >= r.minimum() && r.over(tally);
            prop_assert_eq!(got.is_some(), trips, "trip iff the recount says so: {:?} {:?}", tally, got);
            if let Some(t) = got {
                prop_assert_eq!((t.from, t.to, t.at), (State::Closed, State::Open, now));
                let failure = format!("failure rate {} >=", percent(tally.failure_rate()));
                let slow = format!("slow call rate {} >=", percent(tally.slow_rate()));
                let failing = tally.failure_rate() >= r.config.failure_rate;
                let slowing = tally.slow_rate() >= r.config.slow_call_rate;
                prop_assert_eq!(t.reason.contains(&failure), failing, "{}", t.reason);
                prop_assert_eq!(t.reason.contains(&slow), slowing, "{}", t.reason);
                prop_assert!(t.reason.ends_with(&format!("over {} calls", tally.calls)), "{}", t.reason);
                r.enter(State::Open);
                r.opened_at = now;
            }
        }
        State::Open => return Err(TestCaseError::fail("a permit of the open generation")),
        State::HalfOpen => {
            r.probes_done.push((failed, slow));
            let done = r.probes_done.len() as u32;
            if done < r.config.half_open_probes {
                prop_assert_eq!(got, None, "no verdict before every probe finished");
                return Ok(());
            }
            let mut tally = Tally::default();
            for (failed, slow) in &r.probes_done {
                tally.calls += 1;
                tally.failed += u64::from(*failed);
                tally.slow += u64::from(*slow);
            }
            let reopen = r.over(tally);
            let t = got.expect("every probe finished: a verdict");
            prop_assert_eq!(t.to, if reopen { State::Open } else { State::Closed });
            prop_assert!(t.reason.ends_with(&format!("over {done} probes")), "{}", t.reason);
            r.enter(t.to);
            r.opened_at = now;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_the_reference_on_any_run(config in config(), steps in proptest::collection::vec(step(), 0..300)) {
        run(config, steps)?;
    }
}
