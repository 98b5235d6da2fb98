//! A circuit breaker on the replica reads keeps its promise in the quickstart: while the
//! replica is dead, the breaker opens, cache misses go straight to the primary, and the p99
//! spike of quickstart.toml (every miss waiting out the 50 ms timeout) is gone. And a breaker
//! that counts slow calls sheds a third party that turns slow rather than dead.

use crate::util;

use faultline_chaos::report::Report;
use faultline_sim::run;

fn report(name: &str, seed: u64) -> Report {
    run(&util::library(name, &[]), util::options(seed)).expect("the run completes").report
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

/// The largest window p99 (ms) from 12 s to 20 s: the payment API is slow from 10 s to 20 s.
fn slow_p99(report: &Report) -> f64 {
    report.windows.iter().filter(|w| (12.0..20.0).contains(&w.start_s)).map(|w| w.latency.p99_ms).fold(0.0, f64::max)
}

#[test]
fn a_slow_call_breaker_sheds_a_slow_third_party_before_it_takes_every_worker() {
    // The payment API gets 31 times slower (30 ms -> 930 ms a charge on average) instead of
    // dying. Each checkout then holds an app worker for about a second: 30 checkouts a second
    // take the app's 16 workers and every request queues behind them. The scenario's breaker
    // counts failures only and opens just on the charges that time out; one that also counts
    // calls over 200 ms as slow opens on them, and checkouts fail fast. Measured on seeds 1-3:
    // a window p99 of 1.2-1.8 s counting failures only, 12-13 ms counting slow calls.
    let slow = (r#"fault = { kill = "pay" }"#, r#"fault = { slowdown = { host = "pay", percent = 3000 } }"#);
    let breaker = r#"breaker = { window = 20, minimum_calls = 10, open_for = "2s", probes = 3 }"#;
    let slow_call = r#"breaker = { window = 20, minimum_calls = 10, open_for = "2s", probes = 3, slow_call = "200ms", slow_rate = 0.5 }"#;
    for seed in [1, 2, 3] {
        let run_with = |edits: &[(&str, &str)]| {
            run(&util::library("third-party-breaker.toml", edits), util::options(seed))
                .expect("the run completes")
                .report
        };
        let failures_only = run_with(&[slow]);
        let guarded = run_with(&[slow, (breaker, slow_call)]);
        let (before, after) = (slow_p99(&failures_only), slow_p99(&guarded));
        println!(
            "seed {seed}: p99 while the payment API is slow: {before:.0} ms counting failures only, {after:.0} ms counting slow calls"
        );
        assert!(before > 1_000.0, "seed {seed}: slow charges hold the workers: p99 {before} ms");
        assert!(after < 50.0, "seed {seed}: the breaker sheds them: p99 {after} ms");
        let b = guarded.breakers.iter().find(|b| b.breaker == "payment").expect("the payment breaker reported");
        let first = b.first_open_s.expect("it opened");
        assert!((10.0..12.0).contains(&first), "seed {seed}: opened at {first} s");
        assert!(b.open_s > 5.0, "seed {seed}: open most of the slow 10 s: {b:?}");
        let availability = guarded.end_to_end.availability.expect("requests ran");
        assert!(availability > 0.9, "seed {seed}: only checkouts fail: {availability}");
    }
}

/// The tests that run a world, again on madsim, but for the slow-call breaker's window p99. The
/// breaker behaves alike on both engines (seed 2: opened 4 times, first at 11.27 s on madsim and
/// 11.09 s on turmoil, open 8.05 s of the slow 10 against 8.06 s), but on madsim the slow calls
/// it lets through (probes, and calls after a probe closed it) fall together in the window at
/// 16 s: at least 6 of its 574 requests, and its p99 reads 736 ms where the test asks for 50.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_replica_breaker_removes_the_quickstarts_p99_spike,
    }
}
