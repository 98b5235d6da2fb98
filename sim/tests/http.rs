//! The app over HTTP inside the simulation: load generators speak HTTP/1.1 to it (keep-alive
//! connections, statuses judged), its answers carry the store's log positions so the
//! durability and read-your-writes checks judge it as they judge the framed app, the same seed
//! gives the same trace, and a dead store shows as the app's `502`s, not as lost connections.

use crate::util;

use faultline_chaos::report::Verdict;
use faultline_chaos::trace::{Event, Observation, Outcome};
use util::{go, library, records, scenario};

/// An app over HTTP in front of a primary, a replica and a cache; `extra` is appended.
fn http_app(extra: &str) -> String {
    format!(
        r#"
name = "http-app"
duration = "6s"
window = "1s"

[[hosts]]
name = "db"
service = {{ kv = {{ role = "primary" }} }}
workers = 8
service_time = {{ exponential = "1ms" }}

[[hosts]]
name = "replica"
service = {{ kv = {{ role = "replica", primary = "db" }} }}

[[hosts]]
name = "cache"
service = {{ cache = {{ maxmemory = "4mb" }} }}

[[hosts]]
name = "app"
service = {{ app = {{ db = "db", read_from = "replica", cache = "cache", protocol = "http", timeout = "50ms" }} }}
workers = 16
service_time = {{ exponential = "500us" }}

[workload]
targets = ["app"]
users = 40
arrival = {{ poisson = {{ rate = 300 }} }}
read_ratio = 0.8
cas_ratio = 0.05
keys = 200
timeout = "1s"

[[slos]]
availability = 0.999
{extra}
"#
    )
}

#[test]
fn an_http_app_serves_the_workload_and_its_checks_hold() {
    let s = scenario(&http_app(""));
    let (outcome, _, records) = records(&s, 1);
    let e2e = &outcome.report.end_to_end;
    assert!(e2e.requests > 1500, "{} requests", e2e.requests);
    assert_eq!(e2e.unreachable + e2e.timeouts, 0, "{e2e:?}");
    assert!(e2e.availability.is_some_and(|a| a >= 0.999), "{e2e:?}");
    for check in &outcome.report.checks {
        assert_eq!(check.verdict, Verdict::Pass, "{}: {}", check.name, check.detail);
    }
    let (mut reads_seen, mut writes_with_lsn) = (0, 0);
    for record in &records {
        match &record.event {
            Event::Observed { what: Observation::Read { writer: Some(_), .. }, .. } => reads_seen += 1,
            Event::Observed { what: Observation::Written { lsn, epoch: 1 }, .. } if *lsn > 0 => writes_with_lsn += 1,
            _ => {}
        }
    }
    assert!(reads_seen > 500, "reads that saw a write: {reads_seen}");
    assert!(writes_with_lsn > 200, "acknowledged writes with their LSN: {writes_with_lsn}");
}

#[test]
fn the_same_seed_gives_the_same_trace_over_http() {
    let s = scenario(&http_app(""));
    let (a, b) = (go(&s, 7), go(&s, 7));
    assert_eq!(a.hash, b.hash);
    assert_ne!(go(&s, 8).hash, a.hash, "another seed draws another run");
}

#[test]
fn a_dead_store_is_answered_502_and_counted_as_errors() {
    let faults = r#"
[[faults]]
at = "2s"
for = "2s"
fault = { kill = "db" }

[[faults]]
at = "2s"
for = "2s"
fault = { kill = "replica" }
"#;
    let s = scenario(&http_app(faults));
    let (outcome, _, records) = records(&s, 1);
    let e2e = &outcome.report.end_to_end;
    assert!(e2e.errors > 50, "{e2e:?}");
    assert_eq!(e2e.unreachable, 0, "the app itself stayed up: {e2e:?}");
    let upstream = faultline_chaos::vocab::error_code::UPSTREAM;
    let upstream_errors = records
        .iter()
        .filter(|r| matches!(r.event, Event::Complete { outcome: Outcome::Error(code), .. } if code == upstream))
        .count();
    assert!(upstream_errors as u64 * 10 >= e2e.errors * 9, "{upstream_errors} of {} errors are 502s", e2e.errors);
}

/// The breaker's state reports on `host` (`"payment:open"`, ...), with their times in seconds.
fn breaker_states(records: &[faultline_chaos::trace::Record]) -> Vec<(f64, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::State { key, value, .. } if key == "breaker" => Some((r.t_ns as f64 / 1e9, value.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_payment_outage_without_a_breaker_exhausts_the_app_and_with_one_only_checkouts_fail() {
    for seed in [1, 2, 3] {
        let (bare, _, bare_records) = records(&library("third-party-outage.toml", &[]), seed);
        let (guarded, _, records) = records(&library("third-party-breaker.toml", &[]), seed);
        assert!(breaker_states(&bare_records).is_empty(), "no breaker, no breaker states");
        // The outage is 10 s to 20 s; windows are 2 s wide, and requests issued in the last one are
        // answered after it.
        let outage = |report: &faultline_chaos::report::Report| -> Vec<(f64, f64)> {
            let windows = report.windows.iter().filter(|w| w.start_s >= 12.0 && w.start_s < 18.0);
            windows.map(|w| (w.ok_rps, w.latency.p99_ms)).collect()
        };
        let served = |windows: &[(f64, f64)]| windows.iter().map(|w| w.0).sum::<f64>();
        let (bare_ok, guarded_ok) = (served(&outage(&bare.report)), served(&outage(&guarded.report)));
        assert!(
            bare_ok < 0.5 * guarded_ok,
            "seed {seed}: without a breaker the app is swamped: {bare_ok} against {guarded_ok} ok/s summed"
        );
        assert!(bare.report.end_to_end.timeouts > 1000, "seed {seed}: {:?}", bare.report.end_to_end);
        for (ok_rps, p99) in outage(&guarded.report) {
            assert!(ok_rps > 200.0, "seed {seed}: with a breaker only checkouts fail: {ok_rps} ok/s");
            assert!(p99 < 50.0, "seed {seed}: with a breaker p99 stays low: {p99} ms");
        }
        assert_eq!(guarded.report.end_to_end.timeouts, 0, "seed {seed}");
        let states = breaker_states(&records);
        let first_open = states.iter().find(|(_, s)| s == "payment:open").expect("the breaker opens");
        assert!((10.0..12.5).contains(&first_open.0), "seed {seed}: opened at {} s", first_open.0);
        let last = states.last().expect("states");
        assert_eq!(last.1, "payment:closed", "seed {seed}: it closes after recovery: {states:?}");
        assert!((20.0..25.0).contains(&last.0), "seed {seed}: closed at {} s", last.0);
    }
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        an_http_app_serves_the_workload_and_its_checks_hold,
        the_same_seed_gives_the_same_trace_over_http,
        a_dead_store_is_answered_502_and_counted_as_errors,
        a_payment_outage_without_a_breaker_exhausts_the_app_and_with_one_only_checkouts_fail,
    }
}
