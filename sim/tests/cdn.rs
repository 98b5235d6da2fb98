//! The CDN keeps its promises in the library's scenarios, on seeds 1-3: edges near their users
//! answer most reads without the origin and in a fraction of the direct path's time; a purge
//! sends one edge's reads back to the origin for a while; with `stale-if-error` the edges keep
//! answering the keys they hold through an origin outage, and without it they do not. Also the
//! scenario checks of the cdn kind, the app's `cache_control` and the `cdn_purge` fault.

use crate::util;

use faultline_chaos::report::{Report, TargetReport};
use faultline_chaos::trace::{Event, Record};
use faultline_chaos::vocab::gauge;
use faultline_sim::scenario::parse_str;
use util::{go, library, records};

/// The last value of `name` that `host` published at or before `t_s` (0 before any).
fn gauge_at(records: &[Record], hosts: &[String], host: &str, name: &str, t_s: f64) -> i64 {
    let index = hosts.iter().position(|h| h == host).expect("the host exists");
    let until = (t_s * 1e9) as u64;
    records
        .iter()
        .rev()
        .filter(|r| r.t_ns <= until)
        .find_map(|r| match &r.event {
            Event::Sample { host, gauge, last, .. } if usize::from(*host) == index && gauge == name => Some(*last),
            _ => None,
        })
        .unwrap_or(0)
}

fn target<'a>(report: &'a Report, name: &str) -> &'a TargetReport {
    report.targets.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no target {name}"))
}

#[test]
fn edges_offload_the_origin_and_their_users_wait_a_fraction_of_the_direct_path() {
    for seed in [1, 2, 3] {
        let (outcome, hosts, records) = records(&library("cdn.toml", &[]), seed);
        let report = &outcome.report;
        assert_eq!(report.end_to_end.availability, Some(1.0), "seed {seed}");
        let end = report.duration_s + 1.0;
        let edges = ["edge-a", "edge-b"];
        let served: u64 = edges.iter().map(|e| target(report, e).requests).sum();
        let origin: i64 = edges.iter().map(|e| gauge_at(&records, &hosts, e, gauge::ORIGIN_REQUESTS, end)).sum();
        let offload = 1.0 - origin as f64 / served as f64;
        assert!((0.8..0.9).contains(&offload), "seed {seed}: offload {offload:.3} ({origin} of {served})");
        let direct = &target(report, "direct").latency;
        assert!(direct.p50_ms > 80.0, "seed {seed}: the direct path crosses the ocean: {direct:?}");
        for edge in edges {
            let near = &target(report, edge).latency;
            assert!(near.p50_ms < 5.0, "seed {seed}: {edge}'s users are answered nearby: {near:?}");
            assert!(near.p99_ms > 80.0, "seed {seed}: {edge}'s misses still cross the ocean: {near:?}");
            let hits = gauge_at(&records, &hosts, edge, gauge::CDN_HITS, end);
            let misses = gauge_at(&records, &hosts, edge, gauge::CDN_MISSES, end);
            assert!(hits > 2 * misses, "seed {seed}: {edge}: {hits} hits, {misses} misses");
        }
        let app = report.services.iter().find(|s| s.name == "app").expect("the origin served");
        let direct_requests = target(report, "direct").requests;
        assert_eq!(app.requests, direct_requests + origin as u64, "seed {seed}: the origin sees the edges' fetches");
    }
}

#[test]
fn a_purge_sends_one_edges_reads_back_to_the_origin() {
    for seed in [1, 2, 3] {
        let (_, hosts, records) = records(&library("cdn.toml", &[]), seed);
        let fetched = |edge: &str, from: f64, to: f64| {
            gauge_at(&records, &hosts, edge, gauge::ORIGIN_REQUESTS, to)
                - gauge_at(&records, &hosts, edge, gauge::ORIGIN_REQUESTS, from)
        };
        // The same traffic and the same expiry phase on both edges; only edge-a was purged (16 s).
        let (purged, other) = (fetched("edge-a", 16.0, 18.0), fetched("edge-b", 16.0, 18.0));
        assert!(purged > 4 * other, "seed {seed}: after the purge edge-a fetched {purged}, edge-b {other}");
        let before = fetched("edge-a", 14.0, 16.0);
        assert!(purged > 3 * before, "seed {seed}: edge-a fetched {purged} after, {before} before");
    }
}

/// The share of the requests issued in [from_s, to_s) that succeeded.
fn availability(report: &Report, from_s: f64, to_s: f64) -> f64 {
    let windows = report.windows.iter().filter(|w| w.start_s >= from_s && w.start_s < to_s);
    let (ok, requests) = windows.fold((0, 0), |(ok, n), w| (ok + w.ok, n + w.requests));
    ok as f64 / requests as f64
}

#[test]
fn stale_if_error_keeps_the_edges_answering_through_an_origin_outage() {
    for seed in [1, 2, 3] {
        let (outcome, hosts, records) = records(&library("cdn-origin-outage.toml", &[]), seed);
        let report = &outcome.report;
        assert!(availability(report, 0.0, 9.0) > 0.999, "seed {seed}: before");
        let during = availability(report, 10.0, 20.0);
        assert!((0.75..0.95).contains(&during), "seed {seed}: {during:.3} during the outage");
        assert!(availability(report, 21.0, 30.0) > 0.999, "seed {seed}: after");
        for edge in ["edge-a", "edge-b"] {
            let stale = gauge_at(&records, &hosts, edge, gauge::CDN_STALE, 21.0);
            assert!(stale > 1000, "seed {seed}: {edge} answered {stale} stale");
        }
    }
}

#[test]
fn without_stale_if_error_the_outage_reaches_the_users() {
    let edit = [("cache_control = \"max-age=5, stale-if-error=60\"", "cache_control = \"max-age=5\"")];
    for seed in [1, 2, 3] {
        let with = go(&library("cdn-origin-outage.toml", &[]), seed).report;
        let without = go(&library("cdn-origin-outage.toml", &edit), seed).report;
        let during = availability(&without, 10.0, 20.0);
        assert!(during < 0.4, "seed {seed}: {during:.3} during the outage without stale-if-error");
        assert!(availability(&with, 10.0, 20.0) > during + 0.4, "seed {seed}: stale-if-error is worth it");
        assert_eq!(availability(&without, 15.0, 19.0), 0.0, "seed {seed}: once every copy is stale, nothing");
        assert!(availability(&without, 21.0, 30.0) > 0.999, "seed {seed}: after");
    }
}

/// The messages `text` is refused with.
fn refused(text: &str) -> String {
    match parse_str("test.toml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.report_lines().join("\n"),
    }
}

const BASE: &str = r#"
name = "t"
duration = "1s"

[[hosts]]
name = "db"
service = { kv = { role = "primary" } }

[[hosts]]
name = "app"
service = { app = { db = "db", protocol = "http", cache_control = "max-age=5" } }

[[hosts]]
name = "edge"
service = { cdn = { origin = "app" } }

[workload]
targets = ["edge"]
users = 1
arrival = { constant = { rate = 10 } }
"#;

#[test]
fn the_settings_are_checked() {
    assert!(parse_str("test.toml", BASE).is_ok(), "the base is valid");
    let db_origin = refused(&BASE.replace("origin = \"app\"", "origin = \"db\""));
    assert!(db_origin.contains("a cdn's `origin` must be a app with protocol"), "{db_origin}");
    let itself = refused(&BASE.replace("origin = \"app\"", "origin = \"edge\""));
    assert!(itself.contains("the edge itself"), "{itself}");
    let zero = refused(&BASE.replace("origin = \"app\"", "origin = \"app\", timeout = \"0s\""));
    assert!(zero.contains("a cdn's `timeout` is 0"), "{zero}");
    let framed = refused(&BASE.replace("protocol = \"http\", ", ""));
    assert!(framed.contains("`cache_control` marks the HTTP front's reads"), "{framed}");
    let bad = refused(&BASE.replace("max-age=5", "max-age=5\\n"));
    assert!(bad.contains("is not a header value"), "{bad}");
    let purge = format!("{BASE}\n[[faults]]\nat = \"0s\"\nfault = {{ cdn_purge = \"app\" }}\n");
    let purge_app = refused(&purge);
    assert!(purge_app.contains("a cdn_purge's host must be a cdn"), "{purge_app}");
    let lasting = format!("{BASE}\n[[faults]]\nat = \"0s\"\nfor = \"1s\"\nfault = {{ cdn_purge = \"edge\" }}\n");
    assert!(refused(&lasting).contains("a cdn_purge takes no `for`"));
    let fine = format!("{BASE}\n[[faults]]\nat = \"0s\"\nfault = {{ cdn_purge = \"edge\" }}\n");
    assert!(parse_str("test.toml", &fine).is_ok());
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for name in ["cdn.toml", "cdn-origin-outage.toml"] {
        let scenario = library(name, &[]);
        let (first, second) = (go(&scenario, 2).report.trace_hash, go(&scenario, 2).report.trace_hash);
        assert_eq!(first, second, "{name}: collapsed requests are answered in the order they came");
    }
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        edges_offload_the_origin_and_their_users_wait_a_fraction_of_the_direct_path,
        a_purge_sends_one_edges_reads_back_to_the_origin,
        stale_if_error_keeps_the_edges_answering_through_an_origin_outage,
        without_stale_if_error_the_outage_reaches_the_users,
        the_same_seed_gives_the_same_trace,
    }
}
