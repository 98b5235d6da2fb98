//! The app over HTTP inside the simulation: load generators speak HTTP/1.1 to it (keep-alive
//! connections, statuses judged), its answers carry the store's log positions so the
//! durability and read-your-writes checks judge it as they judge the framed app, the same seed
//! gives the same trace, and a dead store shows as the app's `502`s, not as lost connections.

mod util;

use faultline_chaos::report::Verdict;
use faultline_chaos::trace::{Event, Observation, Outcome};
use util::{go, records, scenario};

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
