//! The runs of a comparison: every scenario under every seed, one simulation per worker
//! thread, each with its own trace folded as the world writes it into the latencies of its
//! successful requests (over the run and per report window).
//!
//! A run is what `faultline run FILE --seed N` runs (the scenario's scripted faults, the full
//! trace, so its hash is the same); its trace is not kept, only read back through the
//! capacity search's pipe ([`piped`]). Results come back sorted by scenario, then seed, so
//! nothing depends on thread timing.
//!
//! Owns: what one run yields ([`Run`]) and the latency histogram ([`Latencies`]). Must not:
//! compute a figure of the table (`figures` does) or print.

use crate::cmd::capacity::measure::piped;
use crate::cmd::run::{Failure, simulate_into};
use crate::cmd::sweep::on_workers;
use faultline_chaos::report::Report;
use faultline_chaos::trace::codec::{TraceError, TraceReader};
use faultline_chaos::trace::{Event, Record};
use faultline_sim::scenario::Scenario;
use faultline_sim::swarm::Faults;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

/// Latencies kept to 4 significant digits (within 0.1%, as fine as the report's HDR
/// histograms): how many requests took each rounded number of nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies(BTreeMap<u64, u64>);

impl Latencies {
    /// `ns` truncated to 4 significant digits.
    fn bucket(ns: u64) -> u64 {
        let (mut value, mut scale) = (ns, 1u64);
        while value >= 10_000 {
            value /= 10;
            scale *= 10;
        }
        value * scale
    }

    /// Counts one latency.
    pub fn record(&mut self, ns: u64) {
        *self.0.entry(Self::bucket(ns)).or_default() += 1;
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        for (&ns, &n) in &other.0 {
            *self.0.entry(ns).or_default() += n;
        }
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The `q` quantile (0 < q <= 1) by nearest rank; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let count = self.count();
        let rank = ((count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        self.0.iter().find_map(|(&ns, &n)| {
            seen += n;
            (seen >= rank).then_some(ns)
        })
    }
}

/// The most windows a run's latencies are kept in (a request issued past the last, in the
/// drain after the run's end, counts in the last).
pub const MAX_WINDOWS: usize = 1_000;

/// What one run of one scenario under one seed gave.
#[derive(Debug, Clone)]
pub struct Run {
    /// The scenario's place in the command line.
    pub scenario: usize,
    /// The seed.
    pub seed: u64,
    /// Its report (the trace hash in it).
    pub report: Report,
    /// The latencies of its successful requests.
    pub latencies: Latencies,
    /// The same per report window (the window the request was issued in), from the first.
    pub windows: Vec<Latencies>,
    /// The width of a window, ns.
    pub window_ns: u64,
}

/// A run that failed: the scenario's place, the seed, and why.
pub type Failed = (usize, u64, Failure);

/// Runs every scenario under every seed on `jobs` threads; the runs sorted by scenario then
/// seed, or the first failure in that order.
pub fn all(scenarios: &[Scenario], seeds: &[u64], jobs: usize) -> Result<Vec<Run>, Failed> {
    let work: Vec<(usize, u64)> = (0..scenarios.len()).flat_map(|i| seeds.iter().map(move |&s| (i, s))).collect();
    let done = Mutex::new(Vec::with_capacity(work.len()));
    on_workers(&work, jobs, |&(i, seed)| {
        let result = one(&scenarios[i], i, seed).map_err(|f| (i, seed, f));
        done.lock().expect("no worker panics holding the lock").push(((i, seed), result));
    });
    let mut done = done.into_inner().expect("workers finished");
    done.sort_by_key(|(key, _)| *key);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Runs one scenario under one seed and folds its trace.
fn one(scenario: &Scenario, index: usize, seed: u64) -> Result<Run, Failure> {
    let (outcome, folded) = piped(
        |trace| simulate_into(scenario, Some(seed), Some(trace), Faults::Scripted, None, Default::default()),
        read_trace,
    )?;
    let (latencies, windows, window_ns) = folded.map_err(Failure::Internal)?;
    Ok(Run { scenario: index, seed, report: outcome.report, latencies, windows, window_ns })
}

type Folded = (Latencies, Vec<Latencies>, u64);

fn read_trace(input: &mut dyn Read) -> Result<Folded, String> {
    fold(input).map_err(|e| format!("reading back the run's own trace: {e}"))
}

/// The latencies of the successful requests, over the run and per window of issue.
fn fold(input: &mut dyn Read) -> Result<Folded, TraceError> {
    let mut reader = TraceReader::new(input)?;
    let header = reader.header();
    let window_ns = header.window_ns.max(1);
    // A long run of narrow windows is plotted over wider ones, a whole number of its own.
    let window_ns = window_ns * header.duration_ns.div_ceil(window_ns).div_ceil(MAX_WINDOWS as u64).max(1);
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut all = Latencies::default();
    let mut windows: Vec<Latencies> = Vec::new();
    while let Some(Record { t_ns, event }) = reader.next_record()? {
        match event {
            Event::Invoke { req, .. } => {
                invoked.insert(req, t_ns);
            }
            Event::Complete { req, outcome } => {
                let Some(start_ns) = invoked.remove(&req) else { continue };
                if !outcome.is_success() {
                    continue;
                }
                let latency_ns = t_ns.saturating_sub(start_ns);
                all.record(latency_ns);
                let window = usize::try_from(start_ns / window_ns).map_or(MAX_WINDOWS, |w| w.min(MAX_WINDOWS));
                if window >= windows.len() {
                    windows.resize(window + 1, Latencies::default());
                }
                windows[window].record(latency_ns);
            }
            Event::Served { .. }
            | Event::Message { .. }
            | Event::Sample { .. }
            | Event::State { .. }
            | Event::Power { .. }
            | Event::Fault(_)
            | Event::End
            | Event::Role { .. }
            | Event::Observed { .. }
            | Event::Retry { .. } => {}
        }
    }
    Ok((all, windows, window_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ns: &[u64]) -> Latencies {
        let mut latencies = Latencies::default();
        ns.iter().for_each(|&n| latencies.record(n));
        latencies
    }

    #[test]
    fn buckets_keep_four_significant_digits() {
        assert_eq!(Latencies::bucket(0), 0);
        assert_eq!(Latencies::bucket(9_999), 9_999);
        assert_eq!(Latencies::bucket(12_345), 12_340);
        assert_eq!(Latencies::bucket(1_234_567_891), 1_234_000_000);
        for ns in [1u64, 999, 10_001, 77_777_777, u64::MAX / 3] {
            let b = Latencies::bucket(ns);
            assert!(b <= ns && (ns - b) as f64 <= ns as f64 * 1e-3, "{ns} -> {b}");
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_and_pool_by_merging() {
        assert_eq!(of(&[]).quantile(0.5), None);
        let ms: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let all = of(&ms);
        assert_eq!(
            (all.quantile(0.5), all.quantile(0.99), all.quantile(1.0)),
            (Some(50_000_000), Some(99_000_000), Some(100_000_000))
        );
        let (mut low, high) = (of(&ms[..50]), of(&ms[50..]));
        assert_eq!(low.quantile(0.99), Some(50_000_000));
        low.merge(&high);
        assert_eq!(low, all, "two halves pooled are the whole");
        assert_eq!(low.count(), 100);
    }
}
