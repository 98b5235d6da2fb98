//! A circuit breaker on the replica reads keeps its promise in the quickstart: while the
//! replica is dead, the breaker opens, cache misses go straight to the primary, and the p99
//! spike of quickstart.toml (every miss waiting out the 50 ms timeout) is gone.

mod util;

use faultline_chaos::report::Report;
use faultline_sim::{RunOptions, run};

fn report(name: &str, seed: u64) -> Report {
    run(&util::library(name, &[]), RunOptions { seed: Some(seed), ..RunOptions::default() })
        .expect("the run completes")
        .report
}

/// The largest window p99 while the replica is down and the breaker has had its first second
/// (windows starting at 14 s and 16 s; the kill is from 12 s to 17 s).
fn outage_p99(report: &Report) -> f64 {
    report.windows.iter().filter(|w| (14.0..17.0).contains(&w.start_s)).map(|w| w.latency.p99_ms).fold(0.0, f64::max)
}

#[test]
fn a_replica_breaker_removes_the_quickstarts_p99_spike() {
    for seed in [1, 2, 3] {
        let (bare, guarded) = (report("quickstart.toml", seed), report("quickstart-breaker.toml", seed));
        let (before, after) = (outage_p99(&bare), outage_p99(&guarded));
        assert!(before > 50.0, "seed {seed}: without a breaker every miss waits 50 ms: p99 {before} ms");
        assert!(after < 30.0, "seed {seed}: with one, misses go to the primary: p99 {after} ms");
        let availability = guarded.end_to_end.availability.expect("requests ran");
        assert!(availability >= 0.999, "seed {seed}: reads still succeed: {availability}");
    }
}
