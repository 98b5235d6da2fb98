//! The retry section of the report: how much the clients' retries multiplied the load they
//! offered, and how many retries their budgets refused.
//!
//! Owns: the fold of `Retry` events into [`RetryReport`] (whose types live with the report's
//! others). Must not: look at any other event, or decide a verdict.
//!
//! Definitions: a retry is a `Retry` record that is not `denied` (an attempt after the first
//! left); a denied one is a retry the client's budget refused. Amplification is attempts per
//! request: (requests + retries) / requests, over the run; per window, the attempts that left
//! in the window (its requests' first attempts, by their `Invoke`, and the retries sent in it)
//! per request issued in it: the load the system saw, as a multiple of the load the users
//! offered. A window's retries may belong to requests of an earlier window, so a window's
//! figure can pass `1 + attempts` for a moment; the run's cannot. A trace without any `Retry`
//! record has no retry section.
//!
//! Work and time to drain, as Brooker measures backoff strategies under contention: attempts
//! are all the attempts sent (requests + retries), and the drain time runs from the first
//! request's `Invoke` to the last successful `Complete` (what counts as a success is the
//! outcome's to say, as for availability).
//!
//! Memory: two counters per window that holds a retry.

use super::{RetryReport, RetryWindow, WindowStats};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;

/// The retries seen so far.
pub(super) struct RetryAcc {
    window_ns: u64,
    seen: bool,
    retries: u64,
    denied: u64,
    /// Per window index: retries sent, retries denied.
    windows: BTreeMap<u64, (u64, u64)>,
    /// The first invoke and the last success, nanoseconds.
    first_invoke_ns: Option<u64>,
    last_success_ns: Option<u64>,
}

impl RetryAcc {
    pub(super) fn new(window_ns: u64) -> Self {
        Self {
            window_ns,
            seen: false,
            retries: 0,
            denied: 0,
            windows: BTreeMap::new(),
            first_invoke_ns: None,
            last_success_ns: None,
        }
    }

    /// A request invoked at `t_ns`.
    pub(super) fn invoke(&mut self, t_ns: u64) {
        self.first_invoke_ns.get_or_insert(t_ns);
    }

    /// A request that succeeded at `t_ns`.
    pub(super) fn success(&mut self, t_ns: u64) {
        self.last_success_ns = Some(self.last_success_ns.map_or(t_ns, |last| last.max(t_ns)));
    }

    /// A `Retry` record at `t_ns`.
    pub(super) fn retry(&mut self, t_ns: u64, denied: bool) {
        self.seen = true;
        let counts = self.windows.entry(t_ns / self.window_ns).or_default();
        if denied {
            self.denied += 1;
            counts.1 += 1;
        } else {
            self.retries += 1;
            counts.0 += 1;
        }
    }

    /// The section, beside the end-to-end `requests` and `windows` (`None` without retries).
    pub(super) fn finish(mut self, requests: u64, windows: &[WindowStats]) -> Option<RetryReport> {
        if !self.seen {
            return None;
        }
        let width_s = self.window_ns as f64 / NS_PER_S;
        let mut rows: Vec<RetryWindow> = windows
            .iter()
            .map(|w| {
                let index = (w.start_s / width_s).round() as u64;
                let (retries, denied) = self.windows.remove(&index).unwrap_or_default();
                row(w.start_s, w.width_s, w.requests, retries, denied)
            })
            .collect();
        // Retries after the last window of requests (late ones, while the run drains).
        rows.extend(
            self.windows
                .iter()
                .map(|(&index, &(retries, denied))| row(index as f64 * width_s, width_s, 0, retries, denied)),
        );
        let drain_ns = match (self.first_invoke_ns, self.last_success_ns) {
            (Some(first), Some(last)) => Some(last.saturating_sub(first)),
            (None, _) | (_, None) => None,
        };
        Some(RetryReport {
            retries: self.retries,
            denied: self.denied,
            amplification: amplification(requests, self.retries),
            windows: rows,
            attempts: requests + self.retries,
            drain_s: drain_ns.map(|ns| ns as f64 / NS_PER_S),
        })
    }
}

fn row(start_s: f64, width_s: f64, requests: u64, retries: u64, denied: u64) -> RetryWindow {
    RetryWindow { start_s, width_s, requests, retries, denied, amplification: amplification(requests, retries) }
}

/// Attempts per request; `None` without requests.
fn amplification(requests: u64, retries: u64) -> Option<f64> {
    (requests > 0).then(|| (requests + retries) as f64 / requests as f64)
}

#[cfg(test)]
mod tests {
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::{Event, Outcome};

    fn retry(req: u64, attempt: u32, denied: bool) -> Event {
        Event::Retry { req, attempt, after: Outcome::Timeout, denied }
    }

    #[test]
    fn no_retries_no_section() {
        let mut stream = Stream::new(2, 1);
        stream.request(0, MS, Outcome::Ok);
        let report = stream.analyze();
        assert_eq!(report.retry, None);
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("\"retry\""), "reports without retries read as before: {json}");
        assert!(!report.render_text().contains("retries"));
    }

    #[test]
    fn attempts_per_request_overall_and_per_window() {
        let mut stream = Stream::new(3, 1);
        // Window 0: 4 requests; one retried 3 times, one twice then refused.
        for i in 0..4 {
            stream.request(i * 100 * MS, 50 * MS, Outcome::Ok);
        }
        for (t, attempt) in [(10, 1), (20, 2), (30, 3)] {
            stream.push(t * MS, retry(0, attempt, false));
        }
        stream.push(150 * MS, retry(1, 1, false));
        stream.push(160 * MS, retry(1, 2, false));
        stream.push(170 * MS, retry(1, 3, true));
        // Window 1: 2 requests, no retry; window 2: none, but a late retry of an earlier one.
        stream.request(S + 10 * MS, MS, Outcome::Ok);
        stream.request(S + 20 * MS, MS, Outcome::Ok);
        stream.push(2 * S + 500 * MS, retry(5, 1, false));
        let report = stream.analyze();
        let section = report.retry.as_ref().expect("a retry section");
        assert_eq!((section.retries, section.denied), (6, 1));
        assert_eq!(section.amplification, Some(12.0 / 6.0));
        assert_eq!(section.attempts, 12);
        // From the first invoke at 0 to the last success, at 1.021 s.
        assert_eq!(section.drain_s, Some(1.021));
        let rows: Vec<(u64, u64, u64, Option<f64>)> =
            section.windows.iter().map(|w| (w.requests, w.retries, w.denied, w.amplification)).collect();
        assert_eq!(rows, [(4, 5, 1, Some(9.0 / 4.0)), (2, 0, 0, Some(1.0)), (0, 1, 0, None)]);
        let text = report.render_text();
        for piece in [
            "retries",
            "6 sent, 1 denied by the budget, 2.00 attempts per request",
            "12 attempts, the last success 1.021 s after the first request",
            "attempts/req",
        ] {
            assert!(text.contains(piece), "missing {piece:?} in:\n{text}");
        }
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"retry\":{\"retries\":6,\"denied\":1,\"amplification\":2.0,"), "{json}");
        assert_eq!(serde_json::from_str::<crate::report::Report>(&json).unwrap(), report);
    }

    #[test]
    fn late_retries_get_their_own_rows() {
        let mut stream = Stream::new(1, 1);
        stream.request(0, MS, Outcome::Timeout);
        stream.push(3 * S + 1, retry(0, 1, false));
        let section = stream.analyze().retry.expect("a retry section");
        let starts: Vec<f64> = section.windows.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 3.0]);
        assert_eq!(section.amplification, Some(2.0));
        assert_eq!(section.drain_s, None, "no request succeeded");
    }

    #[test]
    fn the_drain_runs_from_the_first_invoke_to_the_last_success() {
        let mut stream = Stream::new(5, 1);
        // A burst at 100 ms: one request succeeds at once, one after two retries, one fails
        // late; the failure does not count.
        stream.request(100 * MS, 2 * MS, Outcome::Ok);
        stream.request(100 * MS, 900 * MS, Outcome::Ok);
        stream.request(100 * MS, 3 * S, Outcome::Timeout);
        stream.push(300 * MS, retry(1, 1, false));
        stream.push(600 * MS, retry(1, 2, false));
        let section = stream.analyze().retry.expect("a retry section");
        assert_eq!(section.attempts, 5);
        assert_eq!(section.drain_s, Some(0.9));
    }
}
