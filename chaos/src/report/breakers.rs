//! The circuit breakers section of the report: how long each breaker was open and half-open,
//! how often it opened, and the state it ended in, from the `breaker` state changes the
//! models report (`"<breaker>:<closed|open|half_open>"` on the host that owns the breaker).
//!
//! Owns: the fold of `State` events keyed `breaker` into [`BreakerReport`]s. Must not: look at
//! any other event, or decide a verdict.
//!
//! Definitions: a breaker starts closed at the start of the run (or at its first report); a
//! state lasts from the change that entered it to the next change or to the end of the run.
//! `opened` counts the changes into `open` (a half-open breaker whose probe failed opens
//! again, and counts again). A host that restarts builds its breakers afresh, closed: its
//! `Power` up is not seen here, so the state the host reports next takes over. A value
//! without a `:` or with a state word not listed is ignored (counted in `unreadable`).
//!
//! Memory: one small entry per (host, breaker).

use faultline_vocab::state;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;

/// A breaker's state, as the models report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// A few probe calls go through; their outcome closes or opens it.
    HalfOpen,
    /// Calls fail fast.
    Open,
}

impl BreakerState {
    /// The state named `word` in a `breaker` state change.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "closed" => Some(Self::Closed),
            "half_open" => Some(Self::HalfOpen),
            "open" => Some(Self::Open),
            _ => None,
        }
    }

    /// Its name, as reported.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }

    /// Its height on a plot: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// The breaker named by a `breaker` state change's value, and its new state.
pub fn parse_change(value: &str) -> Option<(&str, BreakerState)> {
    let (name, word) = value.rsplit_once(':')?;
    Some((name, BreakerState::parse(word)?))
}

/// One breaker over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerReport {
    /// The host that owns it.
    pub host: String,
    /// Its name on that host.
    pub breaker: String,
    /// Times it opened.
    pub opened: u32,
    /// When it first opened, seconds since the start of the run.
    pub first_open_s: Option<f64>,
    /// Time spent open, seconds.
    pub open_s: f64,
    /// Time spent half-open, seconds.
    pub half_open_s: f64,
    /// Its state at the end of the run.
    pub state_at_end: BreakerState,
}

#[derive(Debug, Clone)]
struct Acc {
    state: BreakerState,
    since_ns: u64,
    opened: u32,
    first_open_ns: Option<u64>,
    open_ns: u64,
    half_open_ns: u64,
}

impl Acc {
    fn close_span(&mut self, t_ns: u64) {
        let span = t_ns.saturating_sub(self.since_ns);
        match self.state {
            BreakerState::Closed => {}
            BreakerState::HalfOpen => self.half_open_ns += span,
            BreakerState::Open => self.open_ns += span,
        }
        self.since_ns = t_ns;
    }
}

/// Folds `breaker` state changes.
#[derive(Debug, Clone, Default)]
pub struct BreakerAcc {
    breakers: BTreeMap<(u16, String), Acc>,
    /// `breaker` values that named no breaker state.
    pub unreadable: u64,
}

impl BreakerAcc {
    /// Takes in a state change of `host` at `t_ns` (any key; only `breaker` counts).
    pub fn change(&mut self, t_ns: u64, host: u16, key: &str, value: &str) {
        if key != state::BREAKER {
            return;
        }
        let Some((name, to)) = parse_change(value) else {
            self.unreadable += 1;
            return;
        };
        let acc = self.breakers.entry((host, name.to_string())).or_insert(Acc {
            state: BreakerState::Closed,
            since_ns: 0,
            opened: 0,
            first_open_ns: None,
            open_ns: 0,
            half_open_ns: 0,
        });
        acc.close_span(t_ns);
        if to == BreakerState::Open {
            acc.opened += 1;
            acc.first_open_ns.get_or_insert(t_ns);
        }
        acc.state = to;
    }

    /// Every breaker seen, by host id then name, with the run ending at `end_ns`.
    pub fn finish(self, end_ns: u64, hosts: &[String]) -> Vec<BreakerReport> {
        self.breakers
            .into_iter()
            .map(|((host, breaker), mut acc)| {
                acc.close_span(end_ns.max(acc.since_ns));
                BreakerReport {
                    host: hosts.get(usize::from(host)).cloned().unwrap_or_else(|| format!("#{host}")),
                    breaker,
                    opened: acc.opened,
                    first_open_s: acc.first_open_ns.map(|t| t as f64 / NS_PER_S),
                    open_s: acc.open_ns as f64 / NS_PER_S,
                    half_open_s: acc.half_open_ns as f64 / NS_PER_S,
                    state_at_end: acc.state,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn times_open_and_half_open_add_up_to_the_changes() {
        let mut acc = BreakerAcc::default();
        acc.change(2 * S, 1, state::BREAKER, "payment:open");
        acc.change(7 * S, 1, state::BREAKER, "payment:half_open");
        acc.change(7 * S + S / 2, 1, state::BREAKER, "payment:open");
        acc.change(12 * S, 1, state::BREAKER, "payment:half_open");
        acc.change(13 * S, 1, state::BREAKER, "payment:closed");
        acc.change(3 * S, 0, state::LB, "app1:ejected 30s");
        let hosts = ["lb".to_string(), "app1".to_string()];
        let report = acc.finish(20 * S, &hosts);
        assert_eq!(report.len(), 1, "an lb change is not a breaker's");
        let b = &report[0];
        assert_eq!((b.host.as_str(), b.breaker.as_str()), ("app1", "payment"));
        assert_eq!(b.opened, 2);
        assert_eq!(b.first_open_s, Some(2.0));
        assert_eq!(b.open_s, 5.0 + 4.5);
        assert_eq!(b.half_open_s, 0.5 + 1.0);
        assert_eq!(b.state_at_end, BreakerState::Closed);
    }

    #[test]
    fn a_breaker_open_at_the_end_counts_until_the_end_and_names_may_hold_colons() {
        let mut acc = BreakerAcc::default();
        acc.change(S, 0, state::BREAKER, "db:replica:1:open");
        acc.change(S, 0, state::BREAKER, "nonsense");
        acc.change(S, 0, state::BREAKER, "db:ajar");
        assert_eq!(acc.unreadable, 2);
        let report = acc.finish(4 * S, &["app".to_string()]);
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].breaker, "db:replica:1");
        assert_eq!(report[0].open_s, 3.0);
        assert_eq!(report[0].state_at_end, BreakerState::Open);
    }

    #[test]
    fn states_round_trip_their_names() {
        for s in [BreakerState::Closed, BreakerState::HalfOpen, BreakerState::Open] {
            assert_eq!(BreakerState::parse(s.name()), Some(s));
        }
        assert_eq!(parse_change("x:half_open"), Some(("x", BreakerState::HalfOpen)));
        assert_eq!(parse_change("open"), None);
    }
}
