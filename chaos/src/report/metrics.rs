//! Latency histograms and per-window series for the report: HDR histograms of nanosecond
//! latencies (3 significant digits, auto-resizing), with exact count, sum and maximum kept
//! beside them.
//!
//! Owns: turning recorded latencies and outcomes into [`LatencySummary`] and [`WindowStats`].
//! Must not: know about events or SLOs (the analyzer feeds it plain numbers).
//!
//! Memory: a window's histogram lives only while the window is open. A window closes once
//! simulated time has passed its end and none of its requests is still outstanding; it is then
//! reduced to a small [`WindowStats`]. Open windows use `u32` counters (a window never sees four
//! billion requests in one bucket; counts saturate rather than wrap).

use super::{LatencySummary, WindowStats};
use hdrhistogram::{Counter, Histogram};
use std::collections::BTreeMap;

const NS_PER_MS: f64 = 1e6;
const NS_PER_S: f64 = 1e9;
/// The largest value an auto-resizing histogram can grow to track.
const HIST_MAX_NS: u64 = (i64::MAX / 2) as u64;

/// Nanosecond latencies: an HDR histogram for quantiles, exact sum and max beside it.
#[derive(Debug, Clone)]
pub(crate) struct Latency<C: Counter> {
    hist: Histogram<C>,
    sum_ns: u128,
    max_ns: u64,
}

impl<C: Counter> Latency<C> {
    pub(crate) fn new() -> Self {
        Self { hist: Histogram::new(3).expect("3 significant digits is a valid precision"), sum_ns: 0, max_ns: 0 }
    }

    pub(crate) fn record(&mut self, ns: u64) {
        // Past what the histogram can grow to (about 146 years): clamp to that.
        if self.hist.record(ns.min(HIST_MAX_NS)).is_err() {
            self.hist.saturating_record(ns);
        }
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    pub(crate) fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at `quantile`, never above the exact maximum; `None` with no data.
    pub(crate) fn quantile_ns(&self, quantile: f64) -> Option<u64> {
        if self.count() == 0 {
            return None;
        }
        Some(self.hist.value_at_quantile(quantile).min(self.max_ns))
    }

    /// The exact mean, nanoseconds; 0 with no data.
    pub(crate) fn mean_ns(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_ns as f64 / n as f64,
        }
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        let ms = |q: f64| self.quantile_ns(q).unwrap_or(0) as f64 / NS_PER_MS;
        LatencySummary {
            count: self.count(),
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.max_ns as f64 / NS_PER_MS,
            mean_ms: self.mean_ns() / NS_PER_MS,
        }
    }
}

/// One open window's counts.
#[derive(Debug)]
struct WindowAcc {
    requests: u64,
    ok: u64,
    failed: u64,
    outstanding: u64,
    latency: Latency<u32>,
}

impl WindowAcc {
    fn new() -> Self {
        Self { requests: 0, ok: 0, failed: 0, outstanding: 0, latency: Latency::new() }
    }

    fn count_outcome(&mut self, ok: bool, latency_ns: Option<u64>) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        if let Some(ns) = latency_ns {
            self.latency.record(ns);
        }
    }
}

/// Per-window counts and latencies over a run, windows of a fixed width from t = 0.
#[derive(Debug)]
pub(crate) struct WindowSeries {
    window_ns: u64,
    open: BTreeMap<u64, WindowAcc>,
    closed: BTreeMap<u64, WindowStats>,
}

impl WindowSeries {
    /// `window_ns` must be positive (the analyzer guarantees it).
    pub(crate) fn new(window_ns: u64) -> Self {
        assert!(window_ns > 0, "a window has a positive width");
        Self { window_ns, open: BTreeMap::new(), closed: BTreeMap::new() }
    }

    pub(crate) fn index(&self, t_ns: u64) -> u64 {
        t_ns / self.window_ns
    }

    fn end_ns(&self, index: u64) -> u64 {
        index.saturating_add(1).saturating_mul(self.window_ns)
    }

    fn open_mut(&mut self, index: u64) -> &mut WindowAcc {
        self.open.entry(index).or_insert_with(WindowAcc::new)
    }

    /// A request issued in window `index`, its outcome still to come.
    pub(crate) fn invoke(&mut self, index: u64) {
        let acc = self.open_mut(index);
        acc.requests += 1;
        acc.outstanding += 1;
    }

    /// The outcome of a request issued in window `index`; `false` if that window has no
    /// outstanding request (a bug in the caller or the trace).
    pub(crate) fn complete(&mut self, index: u64, ok: bool, latency_ns: Option<u64>, now_ns: u64) -> bool {
        let end_ns = self.end_ns(index);
        let Some(acc) = self.open.get_mut(&index).filter(|acc| acc.outstanding > 0) else {
            return false;
        };
        acc.outstanding -= 1;
        acc.count_outcome(ok, latency_ns);
        if acc.outstanding == 0 && end_ns <= now_ns {
            self.close(index);
        }
        true
    }

    /// A request counted whole at once (a server's Served record), in window `index`.
    pub(crate) fn served(&mut self, index: u64, ok: bool, latency_ns: u64) {
        let acc = self.open_mut(index);
        acc.requests += 1;
        acc.count_outcome(ok, Some(latency_ns));
    }

    /// Closes every window that has ended by `now_ns` and has nothing outstanding.
    pub(crate) fn settle(&mut self, now_ns: u64) {
        let ready: Vec<u64> = self
            .open
            .iter()
            .filter(|(index, acc)| acc.outstanding == 0 && self.end_ns(**index) <= now_ns)
            .map(|(index, _)| *index)
            .collect();
        for index in ready {
            self.close(index);
        }
    }

    fn close(&mut self, index: u64) {
        if let Some(acc) = self.open.remove(&index) {
            let stats = self.stats(index, &acc);
            self.closed.insert(index, stats);
        }
    }

    fn stats(&self, index: u64, acc: &WindowAcc) -> WindowStats {
        let width_s = self.window_ns as f64 / NS_PER_S;
        WindowStats {
            start_s: index as f64 * width_s,
            width_s,
            requests: acc.requests,
            ok: acc.ok,
            failed: acc.failed,
            rps: acc.requests as f64 / width_s,
            ok_rps: acc.ok as f64 / width_s,
            latency: acc.latency.summary(),
        }
    }

    /// Every window from 0 to the end of a run of `run_ns` (empty ones included, at most
    /// `max_windows` of them), then any later window that holds data. Still-open windows are
    /// closed as they are; the caller resolves outstanding requests first.
    pub(crate) fn finish(mut self, run_ns: u64, max_windows: u64) -> Vec<WindowStats> {
        let open: Vec<u64> = self.open.keys().copied().collect();
        for index in open {
            self.close(index);
        }
        let expected = run_ns.div_ceil(self.window_ns).min(max_windows);
        let empty = WindowAcc::new();
        let mut windows = Vec::new();
        for index in 0..expected {
            let stats = self.closed.remove(&index).unwrap_or_else(|| self.stats(index, &empty));
            windows.push(stats);
        }
        windows.extend(std::mem::take(&mut self.closed).into_values());
        for window in &mut windows {
            trim_last_window(window, run_ns);
        }
        windows
    }
}

/// A window cut short by the end of the run gets its real width, and rates over that width.
fn trim_last_window(window: &mut WindowStats, run_ns: u64) {
    let run_s = run_ns as f64 / NS_PER_S;
    let end_s = window.start_s + window.width_s;
    if window.start_s < run_s && end_s > run_s {
        window.width_s = run_s - window.start_s;
        window.rps = window.requests as f64 / window.width_s;
        window.ok_rps = window.ok as f64 / window.width_s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn check(latency: &Latency<u64>, quantile: f64, expected_ms: f64) {
        let got = latency.quantile_ns(quantile).expect("data") as f64 / MS as f64;
        let error = (got - expected_ms).abs() / expected_ms;
        assert!(error <= 0.001, "q{quantile}: got {got} ms, expected {expected_ms} ms");
    }

    #[test]
    fn uniform_latencies_have_known_quantiles() {
        let mut latency = Latency::<u64>::new();
        for ms in 1..=1000 {
            latency.record(ms * MS);
        }
        check(&latency, 0.5, 500.0);
        check(&latency, 0.95, 950.0);
        check(&latency, 0.99, 990.0);
        check(&latency, 0.999, 999.0);
        let summary = latency.summary();
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.max_ms, 1000.0);
        assert_eq!(summary.mean_ms, 500.5);
        assert!(summary.p999_ms <= summary.max_ms);
    }

    #[test]
    fn empty_and_extreme_latencies() {
        let mut latency = Latency::<u32>::new();
        assert_eq!(latency.quantile_ns(0.99), None);
        assert_eq!(latency.summary().p99_ms, 0.0);
        latency.record(u64::MAX);
        latency.record(0);
        assert_eq!(latency.count(), 2);
        assert_eq!(latency.summary().max_ms, u64::MAX as f64 / 1e6, "the exact maximum");
        assert!(latency.quantile_ns(1.0).unwrap() >= HIST_MAX_NS / 2, "clamped high, not dropped");
        assert_eq!(latency.quantile_ns(0.5), Some(0));
    }

    #[test]
    fn window_stays_open_while_a_request_is_outstanding() {
        let mut series = WindowSeries::new(10);
        series.invoke(0);
        series.invoke(0);
        assert!(series.complete(0, true, Some(3), 5));
        series.settle(25);
        assert!(series.closed.is_empty(), "one request of window 0 is outstanding");
        assert!(series.complete(0, false, None, 25));
        assert!(series.open.is_empty(), "the last outcome closes an ended window");
        assert!(!series.complete(0, true, None, 26), "nothing is outstanding any more");
        let windows = series.finish(30, 100);
        assert_eq!(windows.len(), 3);
        assert_eq!((windows[0].requests, windows[0].ok, windows[0].failed), (2, 1, 1));
        assert_eq!((windows[1].requests, windows[2].requests), (0, 0));
    }

    #[test]
    fn last_partial_window_uses_its_real_width() {
        let mut series = WindowSeries::new(1_000_000_000);
        for _ in 0..10 {
            series.served(2, true, 5);
        }
        let windows = series.finish(2_500_000_000, 100);
        assert_eq!(windows.len(), 3);
        assert_eq!(windows[2].width_s, 0.5);
        assert_eq!(windows[2].rps, 20.0);
        assert_eq!(windows[0].rps, 0.0);
    }
}
