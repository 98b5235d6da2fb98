//! The report's sessions section: logins and lost sessions, from the load generators'
//! cumulative gauges "sessions_created" and "sessions_lost" (present only when users log in).
//!
//! Definitions: a gauge's increment is its value minus its previous sample on the same host (a
//! drop is a restart from zero: the increment is the new value); an increment belongs to the
//! window holding `t - 1 ns` (the sampling interval it ends), as the cache section's do. The
//! run's figures are the sums over every load generator.
//!
//! Owns: folding those samples, and the figures per run and per window. Must not: judge (the
//! `max_sessions_lost` objective is `checks`'), or know how an app keeps sessions.

use faultline_vocab::gauge::{SESSIONS_CREATED, SESSIONS_LOST};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;

/// What the users' sessions went through in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsReport {
    /// Logins that gave a session.
    pub created: u64,
    /// Sessions a user found lost (a request carrying it answered `401`).
    pub lost: u64,
    /// The same, per window (the report's windows, then any later one with data).
    pub windows: Vec<SessionWindow>,
}

/// One window's sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionWindow {
    /// Start of the window, seconds since the start of the run.
    pub start_s: f64,
    /// Logins that gave a session in it.
    pub created: u64,
    /// Sessions found lost in it.
    pub lost: u64,
}

/// The sessions gauges' samples being folded.
pub(super) struct SessionsAcc {
    window_ns: u64,
    /// The last value of each (host, lost?) gauge.
    last: BTreeMap<(u16, bool), i64>,
    /// (created, lost) by window index.
    windows: BTreeMap<u64, (u64, u64)>,
}

impl SessionsAcc {
    /// `window_ns` must be positive (the analyzer guarantees it).
    pub(super) fn new(window_ns: u64) -> Self {
        assert!(window_ns > 0, "a window has a positive width");
        Self { window_ns, last: BTreeMap::new(), windows: BTreeMap::new() }
    }

    /// Whether `gauge` is a sessions gauge (then the sample is taken).
    pub(super) fn sample(&mut self, t_ns: u64, host: u16, gauge: &str, value: i64) -> bool {
        let lost = match gauge {
            SESSIONS_CREATED => false,
            SESSIONS_LOST => true,
            _ => return false,
        };
        let value = value.max(0);
        let previous = self.last.insert((host, lost), value);
        let delta = match previous {
            Some(p) if value >= p => value - p,
            _ => value,
        } as u64;
        let counts = self.windows.entry(t_ns.saturating_sub(1) / self.window_ns).or_default();
        if lost {
            counts.1 += delta;
        } else {
            counts.0 += delta;
        }
        true
    }

    /// The section; `None` when no sessions gauge was sampled. `issue_ns` is the span of the
    /// report's windows (at most `max_windows` of them).
    pub(super) fn finish(&self, issue_ns: u64, max_windows: u64) -> Option<SessionsReport> {
        if self.last.is_empty() {
            return None;
        }
        let expected = issue_ns.div_ceil(self.window_ns).min(max_windows);
        let last_with_data = self.windows.keys().next_back().map_or(0, |i| i + 1);
        let windows: Vec<SessionWindow> = (0..expected.max(last_with_data))
            .map(|index| {
                let (created, lost) = self.windows.get(&index).copied().unwrap_or_default();
                SessionWindow { start_s: (index * self.window_ns) as f64 / NS_PER_S, created, lost }
            })
            .collect();
        let created = windows.iter().map(|w| w.created).sum();
        let lost = windows.iter().map(|w| w.lost).sum();
        Some(SessionsReport { created, lost, windows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn increments_sum_per_window_and_across_hosts() {
        let mut acc = SessionsAcc::new(S);
        assert!(!acc.sample(S, 0, "inflight", 3), "not a sessions gauge");
        assert!(acc.sample(S / 10, 0, SESSIONS_CREATED, 0));
        assert!(acc.sample(S / 10, 0, SESSIONS_LOST, 0));
        assert!(acc.sample(S, 0, SESSIONS_CREATED, 10), "at 1 s: the interval that ends the first window");
        assert!(acc.sample(S + 1, 1, SESSIONS_CREATED, 5));
        assert!(acc.sample(2 * S + 5, 0, SESSIONS_LOST, 3));
        assert!(acc.sample(2 * S + 5, 0, SESSIONS_CREATED, 13));
        assert!(acc.sample(2 * S + 9, 0, SESSIONS_LOST, 1), "a drop is a restart from zero");
        let report = acc.finish(3 * S, 100).expect("sessions were sampled");
        assert_eq!((report.created, report.lost), (18, 4));
        let per_window: Vec<(u64, u64)> = report.windows.iter().map(|w| (w.created, w.lost)).collect();
        assert_eq!(per_window, [(10, 0), (5, 0), (3, 4)]);
        assert_eq!(report.windows[2].start_s, 2.0);
    }

    #[test]
    fn lost_sessions_are_reported_judged_and_out_of_availability() {
        use crate::report::Verdict;
        use crate::report::testkit::{MS, Stream};
        use crate::slo::{Slo, SloKind};
        use crate::trace::{Event, Outcome, UNAUTHORIZED};
        let sample = |gauge: &str, last: i64| Event::Sample { host: 0, gauge: gauge.into(), last, mean: last as f64 };
        let mut stream = Stream::new(4, 1);
        stream.slo(Slo { name: "kept".into(), service: None, kind: SloKind::SessionsLost { max: 0 } });
        stream.slo(Slo { name: "avail".into(), service: None, kind: SloKind::Availability { min_ratio: 0.99 } });
        for i in 0..100 {
            stream.request(i * 30 * MS, MS, Outcome::Ok);
        }
        stream.request(2_500 * MS, MS, Outcome::Error(UNAUTHORIZED));
        stream.request(2_600 * MS, MS, Outcome::Error(UNAUTHORIZED));
        stream.push(100 * MS, sample(SESSIONS_CREATED, 20));
        stream.push(2_700 * MS, sample(SESSIONS_LOST, 1));
        stream.push(2_700 * MS, sample(SESSIONS_CREATED, 21));
        let report = stream.analyze();
        let e2e = &report.end_to_end;
        assert_eq!((e2e.requests, e2e.ok, e2e.errors, e2e.unauthorized), (102, 100, 0, 2));
        assert_eq!(e2e.availability, Some(1.0), "a 401 counts neither for nor against the service");
        let sessions = report.sessions.as_ref().expect("sessions gauges were sampled");
        assert_eq!((sessions.created, sessions.lost), (21, 1));
        assert_eq!(sessions.windows.iter().map(|w| w.lost).collect::<Vec<_>>(), [0, 0, 1, 0]);
        let kept = report.checks.iter().find(|c| c.name == "kept").expect("judged");
        assert_eq!(kept.verdict, Verdict::Fail);
        assert_eq!(kept.detail, "sessions lost = 1 > 0 (of 21 created)");
        assert_eq!(kept.evidence.t_ns, Some(2_000 * MS), "the window of the first loss");
        let text = report.render_text();
        assert!(text.contains("Sessions (users log in"), "{text}");
        assert!(text.contains("sessions lost"), "{text}");
        assert!(text.contains("unauthorized"), "{text}");
        let json = serde_json::to_string(&report).expect("json");
        assert!(json.contains("\"sessions\":{\"created\":21,\"lost\":1"), "{json}");
    }

    #[test]
    fn a_sessions_objective_without_sessions_is_unknown() {
        use crate::report::Verdict;
        use crate::report::testkit::{MS, Stream};
        use crate::slo::{Slo, SloKind};
        use crate::trace::Outcome;
        let mut stream = Stream::new(1, 1);
        stream.slo(Slo { name: "kept".into(), service: None, kind: SloKind::SessionsLost { max: 0 } });
        stream.request(10 * MS, MS, Outcome::Ok);
        let report = stream.analyze();
        assert_eq!(report.sessions, None);
        assert!(!serde_json::to_string(&report).expect("json").contains("\"sessions\""), "left out of the JSON");
        let kept = report.checks.iter().find(|c| c.name == "kept").expect("judged");
        assert_eq!(kept.verdict, Verdict::Unknown, "{}", kept.detail);
    }

    #[test]
    fn no_sessions_gauge_no_section() {
        let mut acc = SessionsAcc::new(S);
        acc.sample(S, 0, "cache_hits", 4);
        assert_eq!(acc.finish(3 * S, 100), None);
    }
}
