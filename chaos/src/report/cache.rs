//! The cache section of the report: what an app's cache tier (an optional in-process L1, then
//! L2 cache nodes, then the store) did, from the gauges the tier and the nodes publish.
//!
//! Owns: the fold of `Sample` events into the section ([`CacheReport`] and its parts, whose
//! types live with the report's others). Must not: look at any other event, or decide a verdict.
//!
//! Sources (the names of `faultline_vocab::gauge`): an app host with a cache tier publishes the
//! cumulative counters `cache_hits` (answered by L1 or L2), `cache_misses` (reads that ran or
//! joined a load), `l1_hits`, `db_loads`, `early_refreshes`, `lock_waits`, `cache_errors`, and
//! `key_loads_peak` (the most loads of one key it had running at once); an L2 node publishes
//! `entries` and `used_memory` (levels) and `hits`, `misses`, `evicted`, `expired` (cumulative).
//! A database node behind a cache tier publishes `key_reads_peak` (the most reads of one stored
//! key it held at once).
//! An app without a cache publishes `cache_hits` and `cache_misses` only: it is not a cache
//! host, and a trace without any tier or node gauge has no cache section.
//!
//! Definitions: a counter's total is the sum of its increments between samples; a counter that
//! goes down was restarted from zero (its host was killed), and its new value is the increment.
//! Reads = `cache_hits + cache_misses`; L2 hits = `cache_hits - l1_hits`; reads that reached
//! L2 = reads - L1 hits. A sample at `t` covers the sampling interval that ends at `t`, so its
//! increments belong to the window holding `t - 1 ns`. Peaks are the largest sampled values.
//!
//! Memory: per cache host a handful of counters, and per app host one small entry per window
//! with data (windows are capped by the analyzer's window width).

use super::{CacheApp, CacheFigures, CacheNode, CacheReport, CacheWindow};
use faultline_vocab::gauge;
use std::collections::BTreeMap;

/// Gauges that only an app's cache tier publishes: a host with one of them is a cache app.
pub const TIER_GAUGES: [&str; 6] = [
    gauge::L1_HITS,
    gauge::DB_LOADS,
    gauge::EARLY_REFRESHES,
    gauge::LOCK_WAITS,
    gauge::CACHE_ERRORS,
    gauge::KEY_LOADS_PEAK,
];
/// Gauges that an L2 cache node publishes.
pub const NODE_GAUGES: [&str; 6] =
    [gauge::ENTRIES, gauge::USED_MEMORY, gauge::HITS, gauge::MISSES, gauge::EVICTED, gauge::EXPIRED];

const NS_PER_S: f64 = 1e9;

/// A gauge of an app's cache tier (the first two an app without a cache publishes too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppGauge {
    CacheHits,
    CacheMisses,
    L1Hits,
    DbLoads,
    EarlyRefreshes,
    LockWaits,
    CacheErrors,
    KeyLoadsPeak,
}

impl AppGauge {
    const ALL: [Self; 8] = [
        Self::CacheHits,
        Self::CacheMisses,
        Self::L1Hits,
        Self::DbLoads,
        Self::EarlyRefreshes,
        Self::LockWaits,
        Self::CacheErrors,
        Self::KeyLoadsPeak,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::CacheHits => gauge::CACHE_HITS,
            Self::CacheMisses => gauge::CACHE_MISSES,
            Self::L1Hits => gauge::L1_HITS,
            Self::DbLoads => gauge::DB_LOADS,
            Self::EarlyRefreshes => gauge::EARLY_REFRESHES,
            Self::LockWaits => gauge::LOCK_WAITS,
            Self::CacheErrors => gauge::CACHE_ERRORS,
            Self::KeyLoadsPeak => gauge::KEY_LOADS_PEAK,
        }
    }

    fn of(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// A gauge of an L2 cache node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeGauge {
    Entries,
    UsedMemory,
    Hits,
    Misses,
    Evicted,
    Expired,
}

impl NodeGauge {
    const ALL: [Self; 6] = [Self::Entries, Self::UsedMemory, Self::Hits, Self::Misses, Self::Evicted, Self::Expired];

    fn name(self) -> &'static str {
        match self {
            Self::Entries => gauge::ENTRIES,
            Self::UsedMemory => gauge::USED_MEMORY,
            Self::Hits => gauge::HITS,
            Self::Misses => gauge::MISSES,
            Self::Evicted => gauge::EVICTED,
            Self::Expired => gauge::EXPIRED,
        }
    }

    fn of(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// A cumulative counter's increments, restarts included.
#[derive(Debug, Default)]
struct Counter {
    previous: i64,
    total: u64,
}

impl Counter {
    /// Takes a sampled value; returns the increment since the last one.
    fn sample(&mut self, last: i64) -> u64 {
        // A drop means the host restarted from zero: the new value is all increment.
        let delta = if last >= self.previous { last - self.previous } else { last.max(0) };
        self.previous = last;
        self.total += delta as u64;
        delta as u64
    }
}

/// One window's increments, all app hosts' or one's.
#[derive(Debug, Default, Clone, Copy)]
struct WindowCounts {
    hits: u64,
    misses: u64,
    db_loads: u64,
}

/// Where a counter's increments go in a window, if anywhere.
type Slot = fn(&mut WindowCounts) -> &mut u64;

/// One app host's counters.
#[derive(Debug, Default)]
struct AppAcc {
    /// Whether it published a gauge only a tier publishes (else it has no cache).
    tier: bool,
    hits: Counter,
    misses: Counter,
    l1_hits: Counter,
    db_loads: Counter,
    early_refreshes: Counter,
    lock_waits: Counter,
    errors: Counter,
    key_loads_peak: u64,
    /// By window index.
    windows: BTreeMap<u64, WindowCounts>,
}

impl AppAcc {
    fn sample(&mut self, window: u64, gauge: AppGauge, last: i64) {
        self.tier |= !matches!(gauge, AppGauge::CacheHits | AppGauge::CacheMisses);
        let (counter, slot): (&mut Counter, Option<Slot>) = match gauge {
            AppGauge::CacheHits => (&mut self.hits, Some(|w| &mut w.hits)),
            AppGauge::CacheMisses => (&mut self.misses, Some(|w| &mut w.misses)),
            AppGauge::DbLoads => (&mut self.db_loads, Some(|w| &mut w.db_loads)),
            AppGauge::L1Hits => (&mut self.l1_hits, None),
            AppGauge::EarlyRefreshes => (&mut self.early_refreshes, None),
            AppGauge::LockWaits => (&mut self.lock_waits, None),
            AppGauge::CacheErrors => (&mut self.errors, None),
            AppGauge::KeyLoadsPeak => {
                self.key_loads_peak = self.key_loads_peak.max(last.max(0) as u64);
                return;
            }
        };
        let delta = counter.sample(last);
        if let Some(slot) = slot
            && delta > 0
        {
            *slot(self.windows.entry(window).or_default()) += delta;
        }
    }
}

/// One L2 node's counters.
#[derive(Debug, Default)]
struct NodeAcc {
    hits: Counter,
    misses: Counter,
    evicted: Counter,
    expired: Counter,
    entries_peak: u64,
    used_memory_peak: u64,
}

impl NodeAcc {
    fn sample(&mut self, gauge: NodeGauge, last: i64) {
        let level = last.max(0) as u64;
        match gauge {
            NodeGauge::Entries => self.entries_peak = self.entries_peak.max(level),
            NodeGauge::UsedMemory => self.used_memory_peak = self.used_memory_peak.max(level),
            NodeGauge::Hits => _ = self.hits.sample(last),
            NodeGauge::Misses => _ = self.misses.sample(last),
            NodeGauge::Evicted => _ = self.evicted.sample(last),
            NodeGauge::Expired => _ = self.expired.sample(last),
        }
    }
}

/// Folds the cache gauges' samples.
#[derive(Debug)]
pub(super) struct CacheAcc {
    window_ns: u64,
    apps: BTreeMap<u16, AppAcc>,
    nodes: BTreeMap<u16, NodeAcc>,
    /// The largest `key_reads_peak` of the database nodes, once one published it.
    db_key_reads_peak: Option<u64>,
}

impl CacheAcc {
    /// `window_ns` must be positive (the analyzer guarantees it).
    pub(super) fn new(window_ns: u64) -> Self {
        assert!(window_ns > 0, "a window has a positive width");
        Self { window_ns, apps: BTreeMap::new(), nodes: BTreeMap::new(), db_key_reads_peak: None }
    }

    /// One `Sample` record; gauges that are not the cache's are ignored.
    pub(super) fn sample(&mut self, t_ns: u64, host: u16, name: &str, last: i64) {
        if let Some(gauge) = AppGauge::of(name) {
            let window = t_ns.saturating_sub(1) / self.window_ns;
            self.apps.entry(host).or_default().sample(window, gauge, last);
        } else if let Some(gauge) = NodeGauge::of(name) {
            self.nodes.entry(host).or_default().sample(gauge, last);
        } else if name == gauge::KEY_READS_PEAK {
            let peak = last.max(0) as u64;
            self.db_key_reads_peak = Some(self.db_key_reads_peak.map_or(peak, |p| p.max(peak)));
        }
    }

    /// The section, or `None` when the trace has no cache. `run_s` is the run's length;
    /// `issue_ns` the span of the report's windows, whose last one it may cut short.
    pub(super) fn finish(self, names: &[String], run_s: f64, issue_ns: u64, max_windows: u64) -> Option<CacheReport> {
        let apps: Vec<(u16, AppAcc)> = self.apps.into_iter().filter(|(_, app)| app.tier).collect();
        if apps.is_empty() && self.nodes.is_empty() {
            return None;
        }
        let name = |host: u16| names.get(host as usize).cloned().unwrap_or_else(|| format!("host{host}"));
        let per_s = |n: u64| if run_s > 0.0 { n as f64 / run_s } else { 0.0 };
        let mut total = CacheFigures::default();
        let mut key_loads_peak_sum = 0;
        let mut windows: BTreeMap<u64, WindowCounts> = BTreeMap::new();
        let mut out_apps = Vec::new();
        for (host, app) in &apps {
            let figures = figures(app, per_s);
            add(&mut total, &figures);
            key_loads_peak_sum += figures.key_loads_peak;
            for (index, counts) in &app.windows {
                let sum = windows.entry(*index).or_default();
                sum.hits += counts.hits;
                sum.misses += counts.misses;
                sum.db_loads += counts.db_loads;
            }
            out_apps.push(CacheApp { name: name(*host), host: *host, figures });
        }
        rates(&mut total, per_s);
        let nodes = self
            .nodes
            .into_iter()
            .map(|(host, n)| CacheNode {
                name: name(host),
                host,
                hits: n.hits.total,
                misses: n.misses.total,
                evicted: n.evicted.total,
                expired: n.expired.total,
                entries_peak: n.entries_peak,
                used_memory_peak: n.used_memory_peak,
            })
            .collect();
        let windows = cache_windows(windows, self.window_ns, issue_ns, max_windows);
        let db_key_reads_peak = self.db_key_reads_peak;
        Some(CacheReport { apps: out_apps, total, key_loads_peak_sum, db_key_reads_peak, nodes, windows })
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// One host's figures.
fn figures(app: &AppAcc, per_s: impl Fn(u64) -> f64) -> CacheFigures {
    let mut figures = CacheFigures {
        reads: app.hits.total + app.misses.total,
        // An L1 hit is also a hit: never more of them than hits.
        l1_hits: app.l1_hits.total.min(app.hits.total),
        l2_hits: app.hits.total - app.l1_hits.total.min(app.hits.total),
        loaded: app.misses.total,
        db_loads: app.db_loads.total,
        key_loads_peak: app.key_loads_peak,
        lock_waits: app.lock_waits.total,
        early_refreshes: app.early_refreshes.total,
        l2_errors: app.errors.total,
        ..CacheFigures::default()
    };
    rates(&mut figures, per_s);
    figures
}

/// Adds a host's counts into the total (peaks: the largest).
fn add(total: &mut CacheFigures, host: &CacheFigures) {
    total.reads += host.reads;
    total.l1_hits += host.l1_hits;
    total.l2_hits += host.l2_hits;
    total.loaded += host.loaded;
    total.db_loads += host.db_loads;
    total.key_loads_peak = total.key_loads_peak.max(host.key_loads_peak);
    total.lock_waits += host.lock_waits;
    total.early_refreshes += host.early_refreshes;
    total.l2_errors += host.l2_errors;
}

/// Fills the rates from the counts.
fn rates(figures: &mut CacheFigures, per_s: impl Fn(u64) -> f64) {
    figures.l1_hit_rate = ratio(figures.l1_hits, figures.reads);
    figures.l2_hit_rate = ratio(figures.l2_hits, figures.reads - figures.l1_hits);
    figures.hit_rate = ratio(figures.l1_hits + figures.l2_hits, figures.reads);
    figures.db_loads_per_s = per_s(figures.db_loads);
}

/// Every window from 0 to `issue_ns` (at most `max_windows`), then any later one with data;
/// the window that `issue_ns` cuts gets its real width, as the report's windows do.
fn cache_windows(
    counts: BTreeMap<u64, WindowCounts>,
    window_ns: u64,
    issue_ns: u64,
    max_windows: u64,
) -> Vec<CacheWindow> {
    let expected = issue_ns.div_ceil(window_ns).min(max_windows);
    let later = counts.range(expected..).map(|(index, _)| *index);
    let nominal_s = window_ns as f64 / NS_PER_S;
    (0..expected)
        .chain(later)
        .map(|index| {
            let WindowCounts { hits, misses, db_loads } = counts.get(&index).copied().unwrap_or_default();
            let start_ns = index.saturating_mul(window_ns);
            let end_ns = start_ns.saturating_add(window_ns);
            let cut = start_ns < issue_ns && end_ns > issue_ns;
            let width_s = if cut { (issue_ns - start_ns) as f64 / NS_PER_S } else { nominal_s };
            CacheWindow {
                start_s: index as f64 * nominal_s,
                width_s,
                reads: hits + misses,
                hits,
                hit_rate: ratio(hits, hits + misses),
                db_loads,
                db_loads_per_s: db_loads as f64 / width_s,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::Outcome;

    const APP: u16 = 1;
    const APP2: u16 = 2;
    const NODE: u16 = 3;

    /// A 4 s run with 1 s windows: hosts `lg0`, `app`, `app2`, `cache`.
    fn stream() -> Stream {
        let mut stream = Stream::new(4, 1);
        stream.hosts(&["lg0", "app", "app2", "cache"].map(String::from));
        stream
    }

    /// Samples an app's tier every 100 ms for 4 s, the counters growing by `per_tick` each time
    /// (hits, misses, L1 hits, loads, early refreshes, lock waits, errors).
    fn app_ticks(stream: &mut Stream, host: u16, per_tick: [i64; 7], key_loads_peak: i64) {
        let names = [
            gauge::CACHE_HITS,
            gauge::CACHE_MISSES,
            gauge::L1_HITS,
            gauge::DB_LOADS,
            gauge::EARLY_REFRESHES,
            gauge::LOCK_WAITS,
            gauge::CACHE_ERRORS,
        ];
        for tick in 1..=40 {
            for (name, step) in names.iter().zip(per_tick) {
                stream.gauge(tick * 100 * MS, host, name, tick as i64 * step);
            }
            stream.gauge(tick * 100 * MS, host, gauge::KEY_LOADS_PEAK, key_loads_peak.min(tick as i64));
        }
    }

    fn cache(stream: &Stream) -> CacheReport {
        stream.analyze().cache.expect("a cache section")
    }

    /// Checks a host's counts: reads, L1 hits, L2 hits, loaded, db loads.
    fn check(figures: &CacheFigures, expected: [u64; 5]) {
        let got = [figures.reads, figures.l1_hits, figures.l2_hits, figures.loaded, figures.db_loads];
        assert_eq!(got, expected, "reads, l1, l2, loaded, db loads of {figures:?}");
    }

    #[test]
    fn per_app_and_total_figures() {
        let mut stream = stream();
        app_ticks(&mut stream, APP, [8, 2, 3, 2, 1, 0, 0], 2);
        app_ticks(&mut stream, APP2, [5, 5, 0, 4, 0, 1, 1], 3);
        let cache = cache(&stream);
        let names: Vec<&str> = cache.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["app", "app2"]);
        let app = &cache.apps[0].figures;
        check(app, [400, 120, 200, 80, 80]);
        assert_eq!(app.l1_hit_rate, Some(0.3));
        assert_eq!(app.l2_hit_rate, Some(200.0 / 280.0));
        assert_eq!(app.hit_rate, Some(0.8));
        assert_eq!(app.db_loads_per_s, 20.0);
        assert_eq!((app.key_loads_peak, app.early_refreshes, app.lock_waits, app.l2_errors), (2, 40, 0, 0));
        check(&cache.apps[1].figures, [400, 0, 200, 200, 160]);
        assert_eq!(cache.apps[1].figures.l1_hit_rate, Some(0.0));
        let total = &cache.total;
        check(total, [800, 120, 400, 280, 240]);
        assert_eq!(total.hit_rate, Some(520.0 / 800.0));
        assert_eq!(total.l2_hit_rate, Some(400.0 / 680.0));
        assert_eq!(total.db_loads_per_s, 60.0);
        assert_eq!((total.key_loads_peak, cache.key_loads_peak_sum), (3, 5));
        assert_eq!((total.lock_waits, total.early_refreshes, total.l2_errors), (40, 40, 40));
        assert!(cache.nodes.is_empty());
    }

    #[test]
    fn windows_take_the_interval_each_sample_ends() {
        let mut stream = stream();
        app_ticks(&mut stream, APP, [8, 2, 3, 2, 1, 0, 0], 2);
        let windows = cache(&stream).windows;
        let starts: Vec<f64> = windows.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 1.0, 2.0, 3.0], "the sample at 4 s closes the last window");
        for w in &windows {
            assert_eq!((w.reads, w.hits, w.db_loads), (100, 80, 20), "{w:?}");
            assert_eq!(w.hit_rate, Some(0.8));
            assert_eq!(w.db_loads_per_s, 20.0);
        }
    }

    #[test]
    fn a_restarted_host_counts_from_zero() {
        let mut stream = stream();
        for (t_ms, hits) in [(100, 10), (200, 30), (300, 0), (400, 5), (500, 12)] {
            stream.gauge(t_ms * MS, APP, gauge::CACHE_HITS, hits);
            stream.gauge(t_ms * MS, APP, gauge::DB_LOADS, hits / 2);
        }
        stream.gauge(100 * MS, NODE, gauge::EVICTED, 7);
        stream.gauge(200 * MS, NODE, gauge::EVICTED, 2);
        let cache = cache(&stream);
        assert_eq!(cache.apps[0].figures.reads, 30 + 12, "30 before the restart, 12 after");
        assert_eq!(cache.apps[0].figures.db_loads, 15 + 6);
        assert_eq!(cache.nodes[0].evicted, 9);
    }

    #[test]
    fn l2_nodes_keep_counts_and_peaks() {
        let mut stream = stream();
        let samples = [(100, 10, 2_000, 4, 6), (200, 30, 9_000, 9, 8), (300, 20, 5_000, 15, 9)];
        for (t_ms, entries, used, hits, misses) in samples {
            stream.gauge(t_ms * MS, NODE, gauge::ENTRIES, entries);
            stream.gauge(t_ms * MS, NODE, gauge::USED_MEMORY, used);
            stream.gauge(t_ms * MS, NODE, gauge::HITS, hits);
            stream.gauge(t_ms * MS, NODE, gauge::MISSES, misses);
            stream.gauge(t_ms * MS, NODE, gauge::EXPIRED, t_ms as i64 / 100);
        }
        let cache = cache(&stream);
        assert!(cache.apps.is_empty(), "no app published tier gauges");
        let node = &cache.nodes[0];
        assert_eq!((node.name.as_str(), node.host), ("cache", NODE));
        assert_eq!((node.hits, node.misses, node.evicted, node.expired), (15, 9, 0, 3));
        assert_eq!((node.entries_peak, node.used_memory_peak), (30, 9_000));
        let text = stream.analyze().render_text();
        assert!(text.contains("no app host published cache tier gauges"), "{text}");
    }

    #[test]
    fn the_database_peak_is_the_largest_of_its_nodes() {
        let mut stream = stream();
        app_ticks(&mut stream, APP, [8, 2, 3, 2, 1, 0, 0], 2);
        assert_eq!(cache(&stream).db_key_reads_peak, None, "no store counted its reads");
        // Two store nodes (hosts 0 and 3 stand in for them): the peak only grows.
        stream.gauge(100 * MS, 0, gauge::KEY_READS_PEAK, 1);
        stream.gauge(200 * MS, 3, gauge::KEY_READS_PEAK, 7);
        stream.gauge(300 * MS, 0, gauge::KEY_READS_PEAK, 4);
        let report = stream.analyze();
        assert_eq!(report.cache.as_ref().and_then(|c| c.db_key_reads_peak), Some(7));
        let text = report.render_text();
        assert!(text.contains("peak reads of one key at once at the database: 7 (on one node)"), "{text}");
    }

    #[test]
    fn without_a_cache_there_is_no_section() {
        let mut stream = stream();
        stream.request(0, MS, Outcome::Ok);
        // What an app without a cache publishes.
        for tick in 1..=10 {
            stream.gauge(tick * 100 * MS, APP, gauge::CACHE_HITS, 0);
            stream.gauge(tick * 100 * MS, APP, gauge::CACHE_MISSES, tick as i64 * 3);
        }
        let report = stream.analyze();
        assert_eq!(report.cache, None);
        let text = report.render_text();
        assert!(!text.contains("Cache tier"), "{text}");
        assert!(!text.contains("cache hit %"), "{text}");
        let mut json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["cache"], serde_json::Value::Null);
        json.as_object_mut().unwrap().remove("cache");
        assert_eq!(serde_json::from_value::<Report>(json).unwrap(), report, "older reports read back");
    }

    #[test]
    fn text_and_json_show_the_section() {
        let mut stream = stream();
        for i in 0..40 {
            stream.request(i * 100 * MS, MS, Outcome::Ok);
        }
        app_ticks(&mut stream, APP, [8, 2, 3, 2, 1, 0, 0], 2);
        stream.gauge(S, NODE, gauge::HITS, 200);
        stream.gauge(S, NODE, gauge::USED_MEMORY, 1_048_576);
        let report = stream.analyze();
        let text = report.render_text();
        for piece in [
            "Cache tier",
            "  app    reads  L1 hits  L2 hits  loaded  L1 hit %  L2 hit %  overall hit %",
            "  app      400      120      200      80    30.000    71.429         80.000",
            "  total    400      120      200      80    30.000    71.429         80.000",
            "  app          80       20.00               2           0               40          0",
            "peak loads of one key at once: 2 on one host; at most 2 across hosts",
            "  cache     200       0        0        0             0                 1048576",
            "cache hit %  db loads/s",
            "80.000       20.00",
        ] {
            assert!(text.contains(piece), "missing {piece:?} in:\n{text}");
        }
        let table: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("End to end per window")).skip(1).take(5).collect();
        assert!(table.iter().all(|l| l.len() == table[0].len()), "aligned:\n{}", table.join("\n"));
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            json.contains("\"cache\":{\"apps\":[{\"name\":\"app\",\"host\":1,\"figures\":{\"reads\":400,"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    }

    #[test]
    fn the_published_lists_match_the_gauges_read() {
        let tier: Vec<&str> = AppGauge::ALL[2..].iter().map(|g| g.name()).collect();
        assert_eq!(tier, TIER_GAUGES);
        let nodes: Vec<&str> = NodeGauge::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(nodes, NODE_GAUGES);
        assert_eq!(AppGauge::of("inflight"), None);
        assert_eq!(NodeGauge::of(gauge::CACHE_HITS), None);
    }
}
