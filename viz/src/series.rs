//! Per-bin aggregates for the plots, computed once from a [`TraceIndex`].
//!
//! Owns: the plot series (latency percentiles, throughput, error rate, cache hit rate,
//! replication lag, queue depth) as ready-to-draw point lists, so a frame only borrows them.
//! Must not: be recomputed per frame.
//!
//! Definitions (the report's, on a finer grid): a bin holds the requests *issued* in it;
//! latency is `Complete - Invoke` over answered requests (ok or server error); throughput is
//! successful requests per second; error rate is failed / issued in percent (a request that
//! never completed counts as failed). Cache hit rate comes from the app's cumulative
//! `cache_hits` / `cache_misses` gauges: hits / (hits + misses) of the increments recorded in
//! the bin, all hosts together. Lag and queue depth are the raw samples per host.
//!
//! Bin width: the run's length / [`TARGET_BINS`], at least 1 ms, so a plot has a few hundred
//! points whatever the length of the run.

use crate::index::TraceIndex;
use egui_plot::PlotPoint;
use faultline_chaos::vocab::gauge;

/// About how many bins a run is cut into.
pub const TARGET_BINS: u64 = 200;
/// Gauges plotted as replication lag.
pub const LAG_GAUGES: [&str; 2] = [gauge::REPLICA_LAG_LSN, gauge::LAG_MS];
/// Gauges plotted as queue depth (their time-weighted mean).
pub const QUEUE_GAUGES: [&str; 2] = [gauge::QUEUE, gauge::INFLIGHT];

/// One bin's request counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bin {
    /// Requests issued in the bin.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
}

/// A named line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedLine {
    /// Legend text.
    pub name: String,
    /// Points (x in seconds).
    pub points: Vec<PlotPoint>,
}

/// Every plot's data.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Width of a bin, nanoseconds.
    pub bin_ns: u64,
    /// Per bin.
    pub bins: Vec<Bin>,
    /// Latency p50, p95, p99 (ms) per bin with answered requests.
    pub latency: Vec<NamedLine>,
    /// Successful requests per second, per bin.
    pub throughput: Vec<PlotPoint>,
    /// Failed requests in percent of those issued, per bin with requests.
    pub error_rate: Vec<PlotPoint>,
    /// Cache hit rate in percent, per bin with cache lookups.
    pub cache_hit_rate: Vec<PlotPoint>,
    /// Replication lag lines, one per host and gauge.
    pub lag: Vec<NamedLine>,
    /// Queue depth lines, one per host and gauge.
    pub queue: Vec<NamedLine>,
}

impl Series {
    /// The plots' data for `index`.
    pub fn build(index: &TraceIndex) -> Series {
        let span_ns = index.span_ns();
        let bin_ns = (span_ns / TARGET_BINS).max(1_000_000);
        let nbins = (span_ns / bin_ns + 1) as usize;
        let mut bins = vec![Bin::default(); nbins];
        let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); nbins];
        for request in &index.requests {
            let b = ((index.t_ns[request.invoke as usize] / bin_ns) as usize).min(nbins - 1);
            bins[b].requests += 1;
            bins[b].ok += u64::from(request.ok);
            if request.answered {
                latencies[b].push(request.latency_ns);
            }
        }
        let x = |b: usize| (b as u64 * bin_ns) as f64 / 1e9;
        let bin_s = bin_ns as f64 / 1e9;
        let mut latency = ["p50", "p95", "p99"].map(|name| NamedLine { name: name.into(), points: Vec::new() });
        for (b, values) in latencies.iter_mut().enumerate().filter(|(_, v)| !v.is_empty()) {
            values.sort_unstable();
            for (line, q) in latency.iter_mut().zip([0.5, 0.95, 0.99]) {
                line.points.push(PlotPoint::new(x(b), quantile(values, q) as f64 / 1e6));
            }
        }
        let throughput = bins.iter().enumerate().map(|(b, bin)| PlotPoint::new(x(b), bin.ok as f64 / bin_s)).collect();
        let error_rate = bins
            .iter()
            .enumerate()
            .filter(|(_, bin)| bin.requests > 0)
            .map(|(b, bin)| PlotPoint::new(x(b), 100.0 * (bin.requests - bin.ok) as f64 / bin.requests as f64))
            .collect();
        Series {
            bin_ns,
            bins,
            latency: latency.into(),
            throughput,
            error_rate,
            cache_hit_rate: cache_hit_rate(index, bin_ns, nbins),
            lag: gauge_lines(index, &LAG_GAUGES, |p| p.last as f64),
            queue: gauge_lines(index, &QUEUE_GAUGES, |p| p.mean),
        }
    }

    /// The bin holding `t_ns`.
    pub fn bin_of(&self, t_ns: u64) -> usize {
        ((t_ns / self.bin_ns.max(1)) as usize).min(self.bins.len().saturating_sub(1))
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 for none.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn cache_hit_rate(index: &TraceIndex, bin_ns: u64, nbins: usize) -> Vec<PlotPoint> {
    let mut hits = vec![0u64; nbins];
    let mut misses = vec![0u64; nbins];
    for host in &index.hosts {
        for (gauge, into) in [(gauge::CACHE_HITS, &mut hits), (gauge::CACHE_MISSES, &mut misses)] {
            let mut previous = 0i64;
            for point in host.gauges.get(gauge).map(Vec::as_slice).unwrap_or_default() {
                // Cumulative counters; a drop means the host restarted from zero.
                let delta = if point.last >= previous { point.last - previous } else { point.last.max(0) };
                previous = point.last;
                into[((point.t_ns / bin_ns) as usize).min(nbins - 1)] += delta as u64;
            }
        }
    }
    (0..nbins)
        .filter(|&b| hits[b] + misses[b] > 0)
        .map(|b| {
            let rate = 100.0 * hits[b] as f64 / (hits[b] + misses[b]) as f64;
            PlotPoint::new((b as u64 * bin_ns) as f64 / 1e9, rate)
        })
        .collect()
}

fn gauge_lines(
    index: &TraceIndex,
    gauges: &[&str],
    value: impl Fn(&crate::index::GaugePoint) -> f64,
) -> Vec<NamedLine> {
    let mut lines = Vec::new();
    for (id, host) in index.hosts.iter().enumerate() {
        for gauge in gauges {
            let Some(points) = host.gauges.get(*gauge) else { continue };
            let points = points.iter().map(|p| PlotPoint::new(p.t_ns as f64 / 1e9, value(p))).collect();
            lines.push(NamedLine { name: format!("{} {gauge}", index.host_name(id as u16)), points });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{S, loaded};

    #[test]
    fn bins_cover_the_run_and_show_the_fault() {
        let series = loaded().series;
        assert_eq!(series.bin_ns, 50_000_000);
        assert_eq!(series.bins.iter().map(|b| b.requests).sum::<u64>(), 200);
        let during = series.bin_of(4 * S);
        assert!(series.bins[during].requests > series.bins[during].ok, "the 4 s bin has a timeout");
        let p99 = &series.latency[2];
        assert_eq!(p99.name, "p99");
        assert!(p99.points.iter().any(|p| p.y == 80.0));
        assert!(p99.points.iter().any(|p| p.y == 5.0));
        assert!(series.error_rate.iter().any(|p| p.y > 0.0));
        // 15 hits and 5 misses per second.
        assert!(series.cache_hit_rate.iter().all(|p| (p.y - 75.0).abs() < 1e-9), "{:?}", series.cache_hit_rate);
        assert_eq!(series.lag.len(), 1);
        assert_eq!(series.queue.len(), 2);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 2);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.99), 4);
        assert_eq!(quantile(&[7], 0.01), 7);
    }
}
