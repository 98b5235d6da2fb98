//! The circuit breaker's state machine: pure, with time passed in.
//!
//! [`BreakerCore::acquire`] admits a call (a [`Permit`]) or rejects it ([`Rejected`]);
//! [`BreakerCore::record`] counts a finished call's outcome and returns the [`Transition`] it
//! caused, if any; [`BreakerCore::advance`] makes an open breaker half-open once its open time
//! has passed (acquire does that too, silently: call `advance` first to learn of it);
//! [`BreakerCore::release`] hands back the permit of a call that never finished (its future was
//! dropped), so a half-open breaker is not left waiting for a probe that will never report.
//!
//! Every transition starts a new generation, and a permit carries the generation it was issued
//! in: a result recorded for an earlier generation's permit is ignored (counted as stale).
//!
//! Owns: states, transitions, their reasons and the counters. Must not: read a clock, do I/O,
//! or know what the guarded calls are.

use std::time::Duration;

use super::window::{Outcome, Sliding, Tally};
use super::{BreakerConfig, ConfigError, State, Window};

/// Leave to make one call, from [`BreakerCore::acquire`]; hand it back to
/// [`BreakerCore::record`] (or [`BreakerCore::release`]) when the call is over.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit must be recorded or released, or a half-open breaker waits for it"]
pub struct Permit {
    generation: u64,
    state: State,
}

impl Permit {
    /// The state that admitted the call (closed or half-open).
    pub fn state(&self) -> State {
        self.state
    }

    /// The generation (count of transitions before it) the permit was issued in.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A call the breaker did not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// The state that rejected it: open, or half-open with every probe out.
    pub state: State,
    /// How long until a probe may go: the rest of the open time. `None` when half-open: the
    /// probes out decide, whenever they finish.
    pub retry_in: Option<Duration>,
}

/// A change of state.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When (the `now` of the call that caused it).
    pub at: Duration,
    /// Why, for people: "failure rate 62% >= 50% over 100 calls".
    pub reason: String,
}

/// What a breaker has done since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls let through.
    pub admitted: u64,
    /// Calls rejected.
    pub rejected: u64,
    /// Results recorded as failed (stale ones included).
    pub failed: u64,
    /// Results recorded as slow (stale ones included).
    pub slow: u64,
    /// Results ignored because their permit was of an earlier generation.
    pub stale: u64,
}

/// The state with what it keeps.
#[derive(Debug, Clone)]
enum Phase {
    Closed { window: Sliding },
    Open { since: Duration },
    HalfOpen { issued: u32, done: Tally },
}

/// A circuit breaker's state machine (see the module doc).
#[derive(Debug, Clone)]
pub struct BreakerCore {
    config: BreakerConfig,
    phase: Phase,
    generation: u64,
    counters: Counters,
}

impl BreakerCore {
    /// A closed breaker with an empty window, or why `config` makes no sense.
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let phase = Phase::Closed { window: Sliding::new(config.window) };
        Ok(Self { config, phase, generation: 0, counters: Counters::default() })
    }

    /// The settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state (an open breaker whose time is up stays open until the next
    /// [`advance`](Self::advance) or [`acquire`](Self::acquire)).
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// The number of transitions so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What the breaker has done so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The calls being judged at `now`: the window's when closed, the finished probes' when
    /// half-open, none when open.
    pub fn tally(&self, now: Duration) -> Tally {
        match &self.phase {
            Phase::Closed { window } => window.tally(now),
            Phase::Open { .. } => Tally::default(),
            Phase::HalfOpen { done, .. } => *done,
        }
    }

    /// The fewest calls the closed state judges over: `minimum_calls`, capped at a count
    /// window's size as resilience4j does.
    pub fn minimum_calls(&self) -> u64 {
        let minimum = u64::from(self.config.minimum_calls);
        match self.config.window {
            Window::Count(n) => minimum.min(u64::from(n)),
            Window::Time(_) => minimum,
        }
    }

    /// Makes an open breaker half-open once `open_for` has passed since it opened.
    pub fn advance(&mut self, now: Duration) -> Option<Transition> {
        let Phase::Open { since } = self.phase else { return None };
        if now.saturating_sub(since) < self.config.open_for || self.config.plant_never_half_open {
            return None;
        }
        let reason = format!("open for {:?}", self.config.open_for);
        Some(self.enter(Phase::HalfOpen { issued: 0, done: Tally::default() }, now, reason))
    }

    /// Admits a call or rejects it (see the module doc of [`super`]).
    pub fn acquire(&mut self, now: Duration) -> Result<Permit, Rejected> {
        let _ = self.advance(now);
        let generation = self.generation;
        let admitted = match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit { generation, state: State::Closed }),
            Phase::Open { since } => {
                let retry_in = (*since + self.config.open_for).saturating_sub(now);
                Err(Rejected { state: State::Open, retry_in: Some(retry_in) })
            }
            Phase::HalfOpen { issued, .. } if *issued < self.config.half_open_probes => {
                *issued += 1;
                Ok(Permit { generation, state: State::HalfOpen })
            }
            Phase::HalfOpen { .. } => Err(Rejected { state: State::HalfOpen, retry_in: None }),
        };
        match admitted {
            Ok(_) => self.counters.admitted += 1,
            Err(_) => self.counters.rejected += 1,
        }
        admitted
    }

    /// Hands back the permit of a call that never finished: a half-open breaker may then
    /// admit another probe in its place.
    pub fn release(&mut self, permit: Permit) {
        if permit.generation != self.generation {
            return;
        }
        if let Phase::HalfOpen { issued, .. } = &mut self.phase {
            *issued = issued.saturating_sub(1);
        }
    }

    /// Counts a finished call (`ok`: it succeeded; `took`: how long it ran) and returns the
    /// transition it caused, if any. A stale permit's result is counted in [`Counters`] only.
    pub fn record(&mut self, now: Duration, permit: Permit, ok: bool, took: Duration) -> Option<Transition> {
        let outcome = Outcome { failed: !ok, slow: took >= self.config.slow_call_duration };
        self.counters.failed += u64::from(outcome.failed);
        self.counters.slow += u64::from(outcome.slow);
        if permit.generation != self.generation {
            self.counters.stale += 1;
            return None;
        }
        let minimum = self.minimum_calls();
        let probes = u64::from(self.config.half_open_probes);
        match &mut self.phase {
            Phase::Closed { window } => {
                let tally = window.record(now, outcome);
                match tally.calls >= minimum && over(&self.config, tally) {
                    true => Some(self.open(now, reason(&self.config, tally, "calls"))),
                    false => None,
                }
            }
            // Unreachable: an open breaker issues no permit, and every transition ends a
            // generation, so no permit of this generation can be recorded while open.
            Phase::Open { .. } => None,
            Phase::HalfOpen { done, .. } => {
                done.add(outcome);
                if done.calls < probes {
                    return None;
                }
                let (tally, why) = (*done, reason(&self.config, *done, "probes"));
                Some(match over(&self.config, tally) {
                    true => self.open(now, why),
                    false => self.enter(Phase::Closed { window: Sliding::new(self.config.window) }, now, why),
                })
            }
        }
    }

    fn open(&mut self, now: Duration, reason: String) -> Transition {
        self.enter(Phase::Open { since: now }, now, reason)
    }

    fn enter(&mut self, phase: Phase, now: Duration, reason: String) -> Transition {
        let from = self.state();
        self.phase = phase;
        self.generation += 1;
        Transition { from, to: self.state(), at: now, reason }
    }
}

/// Whether `tally` reaches either threshold (the caller checks the minimum of calls).
fn over(config: &BreakerConfig, tally: Tally) -> bool {
    tally.failure_rate() >= config.failure_rate || tally.slow_rate() >= config.slow_call_rate
}

/// Why `tally` reaches a threshold or stays under both, for people; `what` names the calls
/// ("calls", "probes").
fn reason(config: &BreakerConfig, tally: Tally, what: &str) -> String {
    let failure = (tally.failure_rate(), config.failure_rate);
    let slow = (tally.slow_rate(), config.slow_call_rate);
    let n = tally.calls;
    match (failure.0 >= failure.1, slow.0 >= slow.1) {
        (true, true) => format!("failure rate {} and slow call rate {} over {n} {what}", above(failure), above(slow)),
        (true, false) => format!("failure rate {} over {n} {what}", above(failure)),
        (false, true) => format!("slow call rate {} over {n} {what}", above(slow)),
        (false, false) => format!("failure rate {} and slow call rate {} over {n} {what}", below(failure), below(slow)),
    }
}

fn above((rate, threshold): (f64, f64)) -> String {
    format!("{} >= {}", percent(rate), percent(threshold))
}

fn below((rate, threshold): (f64, f64)) -> String {
    format!("{} < {}", percent(rate), percent(threshold))
}

/// A share as a percentage: "62%", or "62.5%" when not whole.
pub(crate) fn percent(share: f64) -> String {
    let value = share * 100.0;
    match (value - value.round()).abs() < 1e-9 {
        true => format!("{value:.0}%"),
        false => format!("{value:.1}%"),
    }
}
