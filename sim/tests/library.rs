//! The scenario library keeps its promises: each file's comment says what a reader will see,
//! and this test holds the simulation to it (on the file's own seed and on two more).

use faultline_chaos::report::Report;
use faultline_sim::scenario::load_file;
use faultline_sim::{RunOptions, run};
use std::path::PathBuf;

fn report(name: &str, seed: u64) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name);
    let scenario = load_file(&path).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")));
    run(&scenario, RunOptions { seed: Some(seed), ..RunOptions::default() }).expect("the run completes").report
}

fn check(name: &str, promise: impl Fn(&Report)) {
    for seed in [1, 2, 3] {
        promise(&report(name, seed));
    }
}

#[test]
fn quickstart_survives_the_replica_outage_with_a_slower_tail() {
    check("quickstart.toml", |r| {
        assert!(r.passed(), "{}", r.render_text());
        let w = &r.windows; // 2 s windows; the replica is down from 12 s to 17 s.
        let during = w[7].latency.p99_ms; // 14-16 s
        let before = w[4].latency.p99_ms; // 8-10 s
        assert!(before < 30.0, "p99 before the outage: {before}");
        assert!(during > 50.0, "misses wait out the 50 ms dependency timeout: {during}");
        assert_eq!(r.end_to_end.ok, r.end_to_end.requests, "reads fall back to the primary");
        assert!(r.faults.iter().any(|f| f.description == "kill db-replica" && (f.t_s - 12.0).abs() < 1e-6));
    });
}

#[test]
fn echo_runs_at_the_closed_loop_rate() {
    check("echo.toml", |r| {
        // 8 users, 2 ms round trips: 4,000 requests per second.
        let x = r.end_to_end.throughput_rps;
        assert!((x - 4000.0).abs() < 40.0, "throughput {x}");
        assert!(r.passed());
    });
}

#[test]
fn partition_fails_misses_and_writes_but_not_cache_hits() {
    check("partition.toml", |r| {
        assert!(!r.passed());
        let failed: Vec<&str> = r.failures().map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["availability at least 99%"]);
        let w = &r.windows; // 1 s windows; partitioned from 8 s to 12 s.
        assert_eq!(w[5].failed, 0);
        assert_eq!(w[15].failed, 0, "healed");
        let mid = &w[10];
        assert!(mid.failed > 0 && mid.ok > 0, "hits still succeed while misses fail: {mid:?}");
    });
}

#[test]
fn slow_link_grows_the_tail_not_the_median() {
    check("slow-link.toml", |r| {
        let failed: Vec<&str> = r.failures().map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["p99 latency under 40 ms"]);
        let (before, during) = (&r.windows[2].latency, &r.windows[7].latency);
        assert!(before.p99_ms < 40.0, "{before:?}");
        assert!(during.p50_ms > before.p50_ms + 35.0, "two slower hops: {during:?}");
        assert!(during.p99_ms > 100.0, "lost segments hold back the connection: {during:?}");
        assert_eq!(r.end_to_end.ok, r.end_to_end.requests);
    });
}
