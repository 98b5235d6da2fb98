//! Per-bin aggregates for the plots, computed once from a [`TraceIndex`].
//!
//! Owns: the plot series (latency percentiles, throughput, error rate, cache hit rates and
//! database loads, replication lag, queue depth, a broker's messages, a pool's instances) as ready-to-draw point lists, so a frame only
//! borrows them. Must not: be recomputed per frame.
//!
//! Definitions (the report's, on a finer grid): a bin holds the requests *issued* in it;
//! latency is `Complete - Invoke` over answered requests (ok or server error); throughput is
//! successful requests per second; error rate is failed / issued in percent (a request that
//! never completed counts as failed). Lag and queue depth are the raw samples per host.
//!
//! Cache (only when the trace has a cache: a host with one of the gauges only a cache tier
//! or an L2 node publishes, [`TIER_GAUGES`] and [`NODE_GAUGES`]), over the app hosts with a
//! tier, all together, from the increments of their cumulative counters (a drop is a restart
//! from zero) in the bin where each sampling interval ends, as the report counts them: L2 % =
//! (`cache_hits` - `l1_hits`) / (reads - `l1_hits`), reads = `cache_hits` + `cache_misses`; with
//! an L1 (some `l1_hits`) also L1 % = `l1_hits` / reads and overall % = `cache_hits` / reads
//! (without one, overall is L2 %). Database loads per second = `db_loads` increments over the
//! sampled time in the bin, per app host, summed: bins and sampling intervals need not align.
//!
//! Circuit breakers (only when a breaker reported a state): one step line per breaker and host,
//! at 0 closed, 1 half-open, 2 open, closed from the start until its first change, and held to
//! the end of the run.
//!
//! A queue broker's messages (`queue_depth`, `queue_inflight`, `queue_dlq`) and a pool's
//! instances (`pool_ready`, `pool_starting`; a deploy's `deploy_new_ready`, `deploy_old_ready`)
//! are the raw samples' last values per host, only for the hosts that publish them.
//!
//! Bin width: the run's length / [`TARGET_BINS`], at least 1 ms, so a plot has a few hundred
//! points whatever the length of the run.

use crate::index::TraceIndex;
use egui_plot::PlotPoint;
use faultline_chaos::report::breakers::BreakerState;
use faultline_chaos::report::cache::{NODE_GAUGES, TIER_GAUGES};
use faultline_chaos::vocab::gauge;

/// About how many bins a run is cut into.
pub const TARGET_BINS: u64 = 200;
/// Gauges plotted as replication lag.
pub const LAG_GAUGES: [&str; 2] = [gauge::REPLICA_LAG_LSN, gauge::LAG_MS];
/// Gauges plotted as queue depth (their time-weighted mean).
pub const QUEUE_GAUGES: [&str; 2] = [gauge::QUEUE, gauge::INFLIGHT];
/// Gauges plotted as a queue broker's messages (their last value).
pub const BROKER_GAUGES: [&str; 3] = [gauge::QUEUE_DEPTH, gauge::QUEUE_INFLIGHT, gauge::QUEUE_DLQ];
/// Gauges plotted as a pool's instances (their last value): an autoscaler's ready and starting
/// ones, a deploy's ready ones on the new and the old version (its progress).
pub const INSTANCE_GAUGES: [&str; 4] =
    [gauge::POOL_READY, gauge::POOL_STARTING, gauge::DEPLOY_NEW_READY, gauge::DEPLOY_OLD_READY];

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

/// The cache tier's plot data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheSeries {
    /// Hit rates in percent, per bin with reads: `L1 %`, `L2 %`, `overall %` with an L1; `L2 %`
    /// alone without one.
    pub hit_rate: Vec<NamedLine>,
    /// Database loads per second, per bin with samples.
    pub db_loads: Vec<PlotPoint>,
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
    /// The cache tier's lines; `None` when the trace has no cache.
    pub cache: Option<CacheSeries>,
    /// Replication lag lines, one per host and gauge.
    pub lag: Vec<NamedLine>,
    /// Queue depth lines, one per host and gauge.
    pub queue: Vec<NamedLine>,
    /// Circuit breaker states (0 closed, 1 half-open, 2 open), one step line per breaker.
    pub breakers: Vec<NamedLine>,
    /// A queue broker's messages (waiting, leased, dead-lettered), one line per host and gauge.
    pub broker: Vec<NamedLine>,
    /// A pool's instances (ready, starting; a deploy's on each version), one line per host and
    /// gauge.
    pub instances: Vec<NamedLine>,
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
            cache: cache_series(index, bin_ns, nbins),
            lag: gauge_lines(index, &LAG_GAUGES, |p| p.last as f64),
            queue: gauge_lines(index, &QUEUE_GAUGES, |p| p.mean),
            breakers: breaker_lines(index),
            broker: gauge_lines(index, &BROKER_GAUGES, |p| p.last as f64),
            instances: gauge_lines(index, &INSTANCE_GAUGES, |p| p.last as f64),
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

/// The increments of a cumulative counter's samples, with the time each sampling interval
/// ended and its length (from the previous sample; the first from 0).
fn increments(points: &[crate::index::GaugePoint]) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    let mut previous = (0u64, 0i64);
    points.iter().map(move |point| {
        // A drop means the host restarted from zero.
        let delta = if point.last >= previous.1 { point.last - previous.1 } else { point.last.max(0) };
        let interval_ns = point.t_ns.saturating_sub(previous.0);
        previous = (point.t_ns, point.last);
        (point.t_ns, delta as u64, interval_ns)
    })
}

/// Per bin: hits, misses, L1 hits, all app hosts with a tier together.
type Counts = Vec<[u64; 3]>;

fn cache_series(index: &TraceIndex, bin_ns: u64, nbins: usize) -> Option<CacheSeries> {
    let has = |names: &[&str]| index.hosts.iter().any(|h| names.iter().any(|n| h.gauges.contains_key(*n)));
    if !has(&TIER_GAUGES) && !has(&NODE_GAUGES) {
        return None;
    }
    // A sample at t covers the interval that ends at t: its bin holds t - 1 ns.
    let bin = |t_ns: u64| ((t_ns.saturating_sub(1) / bin_ns) as usize).min(nbins - 1);
    let apps = || index.hosts.iter().filter(|h| TIER_GAUGES.iter().any(|n| h.gauges.contains_key(*n)));
    let mut counts: Counts = vec![[0; 3]; nbins];
    let mut loads_per_s: Vec<Option<f64>> = vec![None; nbins];
    for host in apps() {
        let points = |name: &str| host.gauges.get(name).map(Vec::as_slice).unwrap_or_default();
        for (slot, name) in [gauge::CACHE_HITS, gauge::CACHE_MISSES, gauge::L1_HITS].into_iter().enumerate() {
            for (t_ns, delta, _) in increments(points(name)) {
                counts[bin(t_ns)][slot] += delta;
            }
        }
        let mut loads = vec![(0u64, 0u64); nbins];
        for (t_ns, delta, interval_ns) in increments(points(gauge::DB_LOADS)) {
            let (sum, covered_ns) = &mut loads[bin(t_ns)];
            *sum += delta;
            *covered_ns += interval_ns;
        }
        for (rate, (sum, covered_ns)) in loads_per_s.iter_mut().zip(loads).filter(|(_, l)| l.1 > 0) {
            *rate = Some(rate.unwrap_or(0.0) + sum as f64 * 1e9 / covered_ns as f64);
        }
    }
    let x = |b: usize| (b as u64 * bin_ns) as f64 / 1e9;
    let db_loads = loads_per_s.iter().enumerate().filter_map(|(b, r)| r.map(|r| PlotPoint::new(x(b), r))).collect();
    Some(CacheSeries { hit_rate: hit_rate_lines(&counts, x), db_loads })
}

/// The hit-rate lines of [`CacheSeries`] from the per-bin counts.
fn hit_rate_lines(counts: &Counts, x: impl Fn(usize) -> f64) -> Vec<NamedLine> {
    let line = |name: &str, rate: &dyn Fn(&[u64; 3]) -> Option<f64>| NamedLine {
        name: name.into(),
        points: counts.iter().enumerate().filter_map(|(b, c)| rate(c).map(|r| PlotPoint::new(x(b), r))).collect(),
    };
    let pct = |part: u64, whole: u64| (whole > 0).then(|| 100.0 * part as f64 / whole as f64);
    let l2 = line("L2 %", &|[hits, misses, l1]| pct(hits.saturating_sub(*l1), (hits + misses).saturating_sub(*l1)));
    if counts.iter().all(|c| c[2] == 0) {
        return vec![l2];
    }
    let l1 = line("L1 %", &|[hits, misses, l1]| pct(*l1, hits + misses));
    let overall = line("overall %", &|[hits, misses, _]| pct(*hits, hits + misses));
    vec![l1, l2, overall]
}

/// One step line per breaker: the level before each change, then after it; held to the end.
fn breaker_lines(index: &TraceIndex) -> Vec<NamedLine> {
    let end_s = index.span_ns() as f64 / 1e9;
    let mut lines = Vec::new();
    for (id, host) in index.hosts.iter().enumerate() {
        for (name, changes) in &host.breakers {
            let mut level = BreakerState::Closed.level();
            let mut points = vec![PlotPoint::new(0.0, level)];
            for (t_ns, to) in changes {
                let x = *t_ns as f64 / 1e9;
                points.push(PlotPoint::new(x, level));
                level = to.level();
                points.push(PlotPoint::new(x, level));
            }
            points.push(PlotPoint::new(end_s, level));
            lines.push(NamedLine { name: format!("{} {name}", index.host_name(id as u16)), points });
        }
    }
    lines
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
    use crate::testkit::{S, loaded, loaded_with_breaker, loaded_with_cache, loaded_with_pool_and_broker};

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
        assert_eq!(series.cache, None, "the app publishes cache_hits and cache_misses, but has no cache");
        assert_eq!(series.lag.len(), 1);
        assert_eq!(series.queue.len(), 2);
    }

    /// Checks that every point of `points` is `expected`.
    fn check(what: &str, points: &[PlotPoint], expected: f64) {
        assert!(!points.is_empty(), "{what}: no points");
        let off: Vec<&PlotPoint> = points.iter().filter(|p| (p.y - expected).abs() > 1e-9).collect();
        assert!(off.is_empty(), "{what}: expected {expected} everywhere, got {off:?}");
    }

    #[test]
    fn cache_lines_per_tier_and_loads_per_second() {
        let series = loaded_with_cache().series;
        let cache = series.cache.expect("the app has a cache tier");
        let names: Vec<&str> = cache.hit_rate.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["L1 %", "L2 %", "overall %"]);
        // The interval that ends at the restart (5 s) counted no read: no point there.
        let restart_x = 4.95;
        assert!(cache.hit_rate.iter().all(|l| l.points.iter().all(|p| (p.x - restart_x).abs() > 1e-9)));
        assert_eq!(cache.hit_rate[2].points.len(), 98, "99 samples, one after the restart's empty interval");
        check("L1 %", &cache.hit_rate[0].points, 30.0);
        check("L2 %", &cache.hit_rate[1].points, 100.0 * 9.0 / 14.0);
        check("overall %", &cache.hit_rate[2].points, 75.0);
        // 4 loads in each 100 ms interval, whatever the 50 ms bins; none in the restart's.
        let (restart, rest): (Vec<PlotPoint>, Vec<PlotPoint>) =
            cache.db_loads.iter().partition(|p| (p.x - restart_x).abs() < 1e-9);
        assert_eq!(restart.len(), 1);
        assert_eq!(restart[0].y, 0.0);
        check("db loads/s", &rest, 40.0);
    }

    #[test]
    fn a_breaker_is_a_step_line_held_to_the_end() {
        assert!(loaded().series.breakers.is_empty(), "no breaker, no line");
        let series = loaded_with_breaker().series;
        assert_eq!(series.breakers.len(), 1);
        let line = &series.breakers[0];
        assert_eq!(line.name, "app db-replica");
        let points: Vec<(f64, f64)> = line.points.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(
            points,
            [
                (0.0, 0.0),
                (4.1, 0.0),
                (4.1, 2.0),
                (5.0, 2.0),
                (5.0, 1.0),
                (5.0, 1.0),
                (5.0, 2.0),
                (6.0, 2.0),
                (6.0, 1.0),
                (6.1, 1.0),
                (6.1, 0.0),
                (10.0, 0.0)
            ]
        );
    }

    #[test]
    fn a_broker_and_a_pool_get_their_lines_and_only_then() {
        let series = loaded().series;
        assert!(series.broker.is_empty() && series.instances.is_empty(), "no broker, no pool: no line");
        let series = loaded_with_pool_and_broker().series;
        let names: Vec<&str> = series.broker.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["db queue_depth", "db queue_inflight", "db queue_dlq"]);
        let depth: Vec<f64> = series.broker[0].points.iter().map(|p| p.y).collect();
        assert_eq!(depth, [10.0, 20.0, 30.0, 40.0, 50.0, 40.0, 30.0, 20.0, 10.0]);
        let names: Vec<&str> = series.instances.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["app pool_ready", "app pool_starting", "app deploy_new_ready", "app deploy_old_ready"]);
        assert_eq!(series.instances[0].points.last().map(|p| (p.x, p.y)), Some((9.0, 4.0)));
        let new: Vec<f64> = series.instances[2].points.iter().map(|p| p.y).collect();
        assert_eq!(new, [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0], "the deploy's progress");
    }

    #[test]
    fn without_an_l1_one_line() {
        let mut counts = vec![[0; 3]; 3];
        counts[1] = [3, 1, 0];
        let lines = hit_rate_lines(&counts, |b| b as f64);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].name, "L2 %");
        assert_eq!(lines[0].points, [PlotPoint::new(1.0, 75.0)]);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 2);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.99), 4);
        assert_eq!(quantile(&[7], 0.01), 7);
    }
}
