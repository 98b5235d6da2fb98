//! Which resource saturated first in a run, judged from the gauges' samples in its trace.
//!
//! The world samples gauges every 100 ms (the samples the trace holds are sparse; the measure
//! hands these judgements the dense series, a sample of every gauge at every sampling time):
//! its last value and its time-weighted mean over the interval. A level (queue, busy workers, waiting clients) counts over [`SUSTAIN`]
//! consecutive samples, so a burst of a tenth of a second in a busy but healthy run is not taken
//! for saturation. A resource is saturated when:
//! - worker queue: the host's `queue` averaged at least 1 (a request waiting for a worker all
//!   along, on average), or its `inflight` averaged its workers (every slot busy all along);
//! - connections: its `connections` reached its `max_connections`;
//! - pool: its `clients_waiting` averaged at least 1;
//! - cache: its `cache_errors` grew, or its hit rate over the interval (at least
//!   [`MIN_CACHE_READS`] reads) fell below half the best interval's so far;
//! - replica lag: its `lag_ms` is above its bound (the `max_lag` of a router reading from it,
//!   else the run's staleness bound, else the latency objective).
//!
//! The first is the one whose first saturated interval ends earliest; ties go in the order
//! above, then by host.
//!
//! Owns: those definitions. Must not: run anything (it reads samples it is handed).

use faultline_chaos::vocab::gauge;
use std::collections::BTreeMap;

/// How many consecutive samples (of 100 ms) a level is averaged over.
pub const SUSTAIN: usize = 5;

/// The fewest reads in an interval whose hit rate counts.
pub const MIN_CACHE_READS: i64 = 20;

/// A resource that can run out, in the order ties are broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// A host's worker slots: requests wait for one.
    WorkerQueue,
    /// A host's connection limit.
    Connections,
    /// A pool's server connections: clients wait for one.
    Pool,
    /// A cache tier: errors, or its hit rate collapsed.
    Cache,
    /// A replica fell behind its bound.
    ReplicaLag,
}

impl Resource {
    /// Its name in text output.
    pub fn text(self) -> &'static str {
        match self {
            Resource::WorkerQueue => "worker queue",
            Resource::Connections => "connections",
            Resource::Pool => "pool",
            Resource::Cache => "cache",
            Resource::ReplicaLag => "replica lag",
        }
    }
}

/// When a resource of a host first saturated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Onset {
    /// What ran out.
    pub resource: Resource,
    /// On which host.
    pub host: String,
    /// The end of the first saturated interval, seconds since the start.
    pub t_s: f64,
    /// The figure that showed it.
    pub detail: String,
}

/// What a host may hold, from the run plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The host's name.
    pub name: String,
    /// Its worker slots.
    pub workers: usize,
    /// Its connection limit, if any.
    pub max_connections: Option<usize>,
    /// The replica lag it may have, milliseconds.
    pub lag_bound_ms: f64,
}

/// One sample of a gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The end of its interval, nanoseconds.
    pub t_ns: u64,
    /// The last value set.
    pub last: i64,
    /// The time-weighted mean over the interval.
    pub mean: f64,
}

/// The gauges a judgement reads.
pub const READ: [&str; 8] = [
    gauge::QUEUE,
    gauge::INFLIGHT,
    gauge::CONNECTIONS,
    gauge::CLIENTS_WAITING,
    gauge::CACHE_ERRORS,
    gauge::CACHE_HITS,
    gauge::CACHE_MISSES,
    gauge::LAG_MS,
];

/// Samples of the gauges in [`READ`], per host index and gauge, in time order.
#[derive(Debug, Clone, Default)]
pub struct Samples(BTreeMap<(u16, &'static str), Vec<Point>>);

impl Samples {
    /// Keeps a sample if its gauge is one a judgement reads.
    pub fn push(&mut self, host: u16, name: &str, point: Point) {
        if let Some(&known) = READ.iter().find(|g| **g == name) {
            self.0.entry((host, known)).or_default().push(point);
        }
    }

    fn series(&self, host: u16, name: &'static str) -> &[Point] {
        self.0.get(&(host, name)).map_or(&[], Vec::as_slice)
    }
}

/// The resource that saturated first, if any did; `hosts` by trace index (load generators,
/// past the end, are never judged).
pub fn first(samples: &Samples, hosts: &[Limits]) -> Option<Onset> {
    let mut onsets = Vec::new();
    for (i, limits) in hosts.iter().enumerate() {
        let host = u16::try_from(i).expect("validated: host indices fit a u16");
        let found = [
            worker_queue(samples, host, limits),
            connections(samples, host, limits),
            first_sustained(samples.series(host, gauge::CLIENTS_WAITING), 1.0)
                .map(|(t_ns, mean)| (Resource::Pool, t_ns, format!("{mean:.1} clients waiting"))),
            cache(samples, host),
            first_where(samples.series(host, gauge::LAG_MS), |p| p.last as f64 > limits.lag_bound_ms)
                .map(|p| (Resource::ReplicaLag, p.t_ns, format!("lag {} ms > {} ms", p.last, limits.lag_bound_ms))),
        ];
        for (resource, t_ns, detail) in found.into_iter().flatten() {
            onsets.push((
                t_ns,
                resource,
                i,
                Onset { resource, host: limits.name.clone(), t_s: t_ns as f64 / 1e9, detail },
            ));
        }
    }
    onsets.into_iter().min_by_key(|o| (o.0, o.1, o.2)).map(|o| o.3)
}

fn first_where(series: &[Point], saturated: impl Fn(&Point) -> bool) -> Option<&Point> {
    series.iter().find(|p| saturated(p))
}

/// The end of the first [`SUSTAIN`] samples whose means average at least `level`, and that
/// average.
fn first_sustained(series: &[Point], level: f64) -> Option<(u64, f64)> {
    series.windows(SUSTAIN).find_map(|w| {
        let mean = w.iter().map(|p| p.mean).sum::<f64>() / SUSTAIN as f64;
        (mean >= level).then(|| (w[SUSTAIN - 1].t_ns, mean))
    })
}

type Found = Option<(Resource, u64, String)>;

fn worker_queue(samples: &Samples, host: u16, limits: &Limits) -> Found {
    let queue = first_sustained(samples.series(host, gauge::QUEUE), 1.0)
        .map(|(t_ns, mean)| (t_ns, format!("{mean:.1} requests waiting for {} workers", limits.workers)));
    let busy = first_sustained(samples.series(host, gauge::INFLIGHT), limits.workers as f64)
        .map(|(t_ns, _)| (t_ns, format!("all {} workers busy", limits.workers)));
    let (t_ns, detail) = match (queue, busy) {
        (Some(q), Some(b)) => std::cmp::min_by_key(q, b, |x| x.0),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => return None,
    };
    Some((Resource::WorkerQueue, t_ns, detail))
}

fn connections(samples: &Samples, host: u16, limits: &Limits) -> Found {
    let max = limits.max_connections?;
    let p = first_where(samples.series(host, gauge::CONNECTIONS), |p| p.last >= max as i64)?;
    Some((Resource::Connections, p.t_ns, format!("{} connections open, the limit", p.last)))
}

/// The increase of a cumulative counter from one sample to the next (a drop is a restart).
fn increase(previous: Option<&Point>, now: &Point) -> i64 {
    match previous {
        Some(p) if now.last >= p.last => now.last - p.last,
        Some(_) | None => now.last,
    }
}

fn cache(samples: &Samples, host: u16) -> Found {
    let errors = samples.series(host, gauge::CACHE_ERRORS);
    let erred = (0..errors.len()).find(|&i| increase(i.checked_sub(1).map(|j| &errors[j]), &errors[i]) > 0);
    let erred = erred.map(|i| (errors[i].t_ns, format!("{} cache errors", errors[i].last)));
    let (hits, misses) = (samples.series(host, gauge::CACHE_HITS), samples.series(host, gauge::CACHE_MISSES));
    let mut best = 0.0_f64;
    let mut collapsed = None;
    for i in 0..hits.len().min(misses.len()) {
        let before = |s: &[Point]| i.checked_sub(1).map(|j| s[j]);
        let read_hits = increase(before(hits).as_ref(), &hits[i]);
        let reads = read_hits + increase(before(misses).as_ref(), &misses[i]);
        if reads < MIN_CACHE_READS {
            continue;
        }
        let rate = read_hits as f64 / reads as f64;
        if rate < best / 2.0 {
            collapsed = Some((hits[i].t_ns, format!("hit rate {:.0}%, down from {:.0}%", rate * 100.0, best * 100.0)));
            break;
        }
        best = best.max(rate);
    }
    let (t_ns, detail) = match (erred, collapsed) {
        (Some(e), Some(c)) => std::cmp::min_by_key(e, c, |x| x.0),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => return None,
    };
    Some((Resource::Cache, t_ns, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn limits(name: &str, workers: usize, max_connections: Option<usize>) -> Limits {
        Limits { name: name.into(), workers, max_connections, lag_bound_ms: 500.0 }
    }

    fn push(samples: &mut Samples, host: u16, name: &str, values: &[(i64, f64)]) {
        for (i, &(last, mean)) in values.iter().enumerate() {
            samples.push(host, name, Point { t_ns: (i as u64 + 1) * 100 * MS, last, mean });
        }
    }

    fn check(samples: &Samples, hosts: &[Limits], expected: Option<(Resource, &str, f64)>) {
        let found = first(samples, hosts);
        let got = found.as_ref().map(|o| (o.resource, o.host.as_str(), o.t_s));
        assert_eq!(got, expected, "{found:?}");
    }

    #[test]
    fn the_earliest_saturation_wins_and_ties_go_in_order_then_by_host() {
        let hosts = [limits("app", 64, Some(10)), limits("db", 4, None), limits("pool", 64, None)];
        let mut samples = Samples::default();
        push(&mut samples, 1, gauge::QUEUE, &[(0, 0.0), (1, 0.4), (9, 3.5), (20, 12.0), (0, 0.0), (0, 0.1)]);
        push(&mut samples, 0, gauge::CONNECTIONS, &[(3, 3.0), (5, 5.0), (8, 8.0), (9, 9.0), (9, 9.0), (10, 9.5)]);
        check(&samples, &hosts, Some((Resource::WorkerQueue, "db", 0.5)));
        push(&mut samples, 2, gauge::CLIENTS_WAITING, &[(0, 0.0), (0, 0.0), (2, 2.0), (2, 2.0), (2, 2.0)]);
        check(&samples, &hosts, Some((Resource::WorkerQueue, "db", 0.5)));
        push(&mut samples, 0, gauge::INFLIGHT, &[(64, 64.0); 5]);
        check(&samples, &hosts, Some((Resource::WorkerQueue, "app", 0.5)));
        let mut lag = Samples::default();
        push(&mut lag, 1, gauge::LAG_MS, &[(100, 90.0), (501, 300.0)]);
        push(&mut lag, 2, gauge::CLIENTS_WAITING, &[(0, 0.0), (3, 3.0), (3, 3.0), (3, 3.0), (3, 3.0)]);
        check(&lag, &hosts, Some((Resource::ReplicaLag, "db", 0.2)));
        let mut pool = Samples::default();
        push(&mut pool, 1, gauge::LAG_MS, &[(100, 90.0), (500, 300.0), (500, 500.0), (500, 500.0), (500, 500.0)]);
        push(&mut pool, 2, gauge::CLIENTS_WAITING, &[(0, 0.0), (3, 3.0), (3, 3.0), (3, 3.0), (3, 3.0)]);
        check(&pool, &hosts, Some((Resource::Pool, "pool", 0.5)));
    }

    #[test]
    fn connections_at_their_limit_and_load_generators_are_not_judged() {
        let hosts = [limits("app", 64, Some(10))];
        let mut samples = Samples::default();
        push(&mut samples, 0, gauge::CONNECTIONS, &[(9, 9.0), (10, 9.8)]);
        push(&mut samples, 1, gauge::QUEUE, &[(50, 50.0); 5]);
        check(&samples, &hosts, Some((Resource::Connections, "app", 0.2)));
        let mut unlimited = Samples::default();
        push(&mut unlimited, 0, gauge::CONNECTIONS, &[(5_000, 5_000.0)]);
        check(&unlimited, &[limits("app", 64, None)], None);
    }

    #[test]
    fn a_cache_collapses_or_errs() {
        let hosts = [limits("app", 64, None)];
        let mut collapse = Samples::default();
        push(&mut collapse, 0, gauge::CACHE_HITS, &[(90, 0.0), (180, 0.0), (190, 0.0), (195, 0.0)]);
        push(&mut collapse, 0, gauge::CACHE_MISSES, &[(10, 0.0), (20, 0.0), (50, 0.0), (55, 0.0)]);
        check(&collapse, &hosts, Some((Resource::Cache, "app", 0.3)));
        let mut errors = Samples::default();
        push(&mut errors, 0, gauge::CACHE_ERRORS, &[(0, 0.0), (0, 0.0), (0, 0.0), (4, 0.0)]);
        check(&errors, &hosts, Some((Resource::Cache, "app", 0.4)));
        let mut no_cache = Samples::default();
        push(&mut no_cache, 0, gauge::CACHE_HITS, &[(0, 0.0), (0, 0.0)]);
        push(&mut no_cache, 0, gauge::CACHE_MISSES, &[(100, 0.0), (200, 0.0)]);
        check(&no_cache, &hosts, None);
    }

    #[test]
    fn busy_but_never_full_is_not_saturated() {
        let hosts = [limits("db", 4, None)];
        let mut samples = Samples::default();
        push(&mut samples, 0, gauge::QUEUE, &[(2, 0.6), (0, 0.2), (3, 1.5), (1, 0.9), (0, 0.7)]);
        push(&mut samples, 0, gauge::INFLIGHT, &[(4, 3.6), (3, 3.9), (4, 4.0), (4, 4.0), (4, 3.8)]);
        push(&mut samples, 0, "entries", &[(1_000, 1_000.0)]);
        check(&samples, &hosts, None);
    }
}
