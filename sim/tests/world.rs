//! The world end to end: determinism, theory cross-checks, and each fault kind's effect.

use crate::util;
use faultline_sim::scenario::Scenario;
use faultline_sim::{RunOptions, RunOutcome, run};
use util::{go, scenario};

const ECHO: &str = r#"
name = "echo"
duration = "4s"
[network]
latency = "1ms"
[[hosts]]
name = "e0"
service = "echo"
[[hosts]]
name = "e1"
service = "echo"
[workload]
targets = ["e0", "e1"]
users = 8
loadgens = 2
arrival = { closed = { think = "0ms" } }
"#;

#[test]
fn same_seed_same_hash_other_seed_other_run() {
    let s = scenario(&ECHO.replace("closed = { think = \"0ms\" }", "poisson = { rate = 500 }"));
    let a = go(&s, 1);
    let b = go(&s, 1);
    let c = go(&s, 2);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.records, b.records);
    assert_eq!(a.report, b.report);
    assert_ne!(a.hash, c.hash);
}

#[test]
fn closed_loop_obeys_littles_law() {
    // N users in a closed loop with no think time: N = X * R (throughput times response time).
    let o = go(&scenario(ECHO), 3);
    let e = &o.report.end_to_end;
    assert_eq!(e.ok, e.requests, "echo never fails");
    let n = e.throughput_rps * e.latency.mean_ms / 1000.0;
    assert!((n - 8.0).abs() < 0.08, "X*R = {n}, expected 8 users");
    // 1 ms each way: a round trip is at least 2 ms.
    assert!(e.latency.p50_ms >= 2.0, "p50 {}", e.latency.p50_ms);
    assert!(o.report.passed(), "{}", o.report.render_text());
}

#[test]
fn open_loop_offered_rate_matches_the_arrival_rate() {
    let s = scenario(&ECHO.replace("closed = { think = \"0ms\" }", "poisson = { rate = 1000 }").replace("4s", "20s"));
    let e = go(&s, 4).report.end_to_end;
    // Poisson(20_000): sd ~141.
    assert!((e.requests as f64 - 20_000.0).abs() < 600.0, "requests {}", e.requests);
}

const STORE: &str = r#"
name = "store"
duration = "10s"
[[hosts]]
name = "db"
service = { kv = { role = "primary" } }
workers = 4
service_time = { exponential = "2ms" }
[[hosts]]
name = "app"
service = { app = { db = "db", timeout = "50ms" } }
[workload]
targets = ["app"]
users = 20
arrival = { poisson = { rate = 300 } }
read_ratio = 0.5
keys = 100
timeout = "500ms"
"#;

#[test]
fn servers_satisfy_littles_law_and_every_check_holds() {
    let o = go(&scenario(STORE), 5);
    assert!(!o.report.little.is_empty(), "the store and the app are cross-checked");
    for l in &o.report.little {
        assert!(l.pass, "{l:?}");
    }
    assert!(o.report.services.iter().any(|s| s.name == "db" && s.requests > 2000));
    assert!(o.report.passed(), "{}", o.report.render_text());
}

/// Requests far shorter than the clock's step (200 us in a 5 ms step) start and end inside one
/// step: the gauges are integrated from the times of their changes, not from their values at
/// step ends (which would read an empty server), so L = λW holds to the rounding.
#[test]
fn little_s_law_holds_for_requests_shorter_than_a_step() {
    let text = STORE
        .replace("duration = \"10s\"", "duration = \"10s\"\ntick = \"5ms\"")
        .replace("service_time = { exponential = \"2ms\" }", "service_time = { fixed = \"200us\" }");
    let o = go(&scenario(&text), 5);
    let db = o.report.little.iter().find(|l| l.service == "db").expect("the store is cross-checked");
    assert!(db.measured_l > 0.01, "requests in service are seen: {db:?}");
    assert!(db.error_pct.is_some_and(|e| e.abs() < 2.0), "{db:?}");
}

#[test]
fn killing_the_database_fails_requests_until_it_restarts() {
    let text = format!("{STORE}\n[[faults]]\nat = \"3s\"\nfor = \"2s\"\nfault = {{ kill = \"db\" }}\n");
    let o = go(&scenario(&text), 6);
    let w = &o.report.windows;
    let failed = |i: usize| w[i].failed;
    assert_eq!(failed(1), 0, "before the kill: {w:?}");
    assert!(failed(3) > 100, "while the db is down nearly every request fails: {:?}", w[3]);
    assert_eq!(failed(8), 0, "after the restart the store serves again: {:?}", w[8]);
    assert_eq!(o.report.faults.len(), 2);
    assert!(o.report.faults[0].description.contains("kill db"));
    // Writes acknowledged before the kill were fsynced: reads after the restart find them,
    // so the only failures are inside the outage window.
    // (A request sent just before the kill may time out inside window 2.)
    let outside: u64 = w.iter().enumerate().filter(|(i, _)| !(2..=5).contains(i)).map(|(_, x)| x.failed).sum();
    assert_eq!(outside, 0, "{w:?}");
}

#[test]
fn a_partition_fails_requests_and_healing_restores_them() {
    let text = format!(
        "{STORE}\n[[faults]]\nat = \"4s\"\nfor = \"3s\"\nfault = {{ partition = {{ a = [\"app\"], b = [\"db\"] }} }}\n"
    );
    let o = go(&scenario(&text), 7);
    let w = &o.report.windows;
    assert_eq!(w[2].failed, 0);
    assert!(w[5].failed > 100, "{:?}", w[5]);
    assert_eq!(w[9].failed, 0, "healed: {:?}", w[9]);
}

#[test]
fn loss_on_a_busy_connection_is_recovered_by_fast_retransmit() {
    let patient = STORE.replace("timeout = \"50ms\"", "timeout = \"400ms\"");
    let base = scenario(&patient);
    let lossy =
        scenario(&patient.replace("[workload]", "[[links]]\nbetween = [\"app\", \"db\"]\nloss = 0.02\n[workload]"));
    let (b, l) = (go(&base, 8).report.end_to_end, go(&lossy, 8).report.end_to_end);
    // 300 requests/s share one app->db connection: three later segments follow a lost one
    // within a few ms, so it is resent after one round trip, not after the 200 ms RTO.
    assert!(l.latency.p99_ms > b.latency.p99_ms, "p99 {} vs {}", l.latency.p99_ms, b.latency.p99_ms);
    assert!(l.latency.p99_ms < 100.0, "no RTO stalls: p99 {}", l.latency.p99_ms);
    assert!(l.latency.p50_ms < b.latency.p50_ms + 3.0, "p50 {} vs {}", l.latency.p50_ms, b.latency.p50_ms);
    assert_eq!(l.ok, l.requests);
}

#[test]
fn loss_on_a_quiet_connection_waits_for_the_retransmission_timeout() {
    // One user, one request every ~50 ms: nothing follows a lost segment, so it waits the RTO.
    let text = ECHO
        .replace("users = 8\nloadgens = 2", "users = 1\nloadgens = 1")
        .replace("targets = [\"e0\", \"e1\"]", "targets = [\"e0\"]")
        .replace("think = \"0ms\"", "think = \"50ms\"")
        .replace("duration = \"4s\"", "duration = \"60s\"")
        .replace("latency = \"1ms\"", "latency = \"1ms\"\nloss = 0.05");
    let e = go(&scenario(&text), 10).report.end_to_end;
    // About 10% of requests lose a segment (two per request, 5% each).
    assert!(e.latency.p50_ms < 3.0, "p50 {}", e.latency.p50_ms);
    assert!(e.latency.p99_ms >= 200.0, "p99 {} includes an RTO", e.latency.p99_ms);
    assert_eq!(e.ok, e.requests);
}

#[test]
fn a_latency_change_shows_only_while_it_lasts() {
    let text = format!(
        "{STORE}\n[[faults]]\nat = \"4s\"\nfor = \"2s\"\nfault = {{ link = {{ between = [\"app\", \"db\"], latency = \"15ms\" }} }}\n"
    );
    let o = go(&scenario(&text), 9);
    let w = &o.report.windows;
    assert!(w[4].latency.p50_ms > 30.0, "two slow hops per request: {:?}", w[4]);
    assert_eq!(w[4].failed, 0, "still inside the app's 50 ms dependency timeout: {:?}", w[4]);
    assert!(w[8].latency.p50_ms < 15.0, "restored: {:?}", w[8]);
}

/// Runs `s` and reads its trace back: every request's invoke time and its completion (time and
/// outcome), by request id.
fn requests(s: &Scenario, seed: u64) -> (RunOutcome, Vec<(u64, u64, faultline_chaos::trace::Outcome)>) {
    use faultline_chaos::trace::Event;
    use faultline_chaos::trace::codec::TraceReader;
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("trace.bin");
    let file = std::fs::File::create(&path).expect("the trace file");
    let options = RunOptions { trace: Some(Box::new(file)), ..util::options(seed) };
    let outcome = run(s, options).expect("the run completes");
    let reader = TraceReader::new(std::fs::File::open(&path).expect("the trace")).expect("a trace header");
    let mut invoked = BTreeMap::new();
    let mut done = Vec::new();
    for record in reader {
        let record = record.expect("a readable trace");
        match record.event {
            Event::Invoke { req, .. } => {
                invoked.insert(req, record.t_ns);
            }
            Event::Complete { req, outcome } => done.push((invoked[&req], record.t_ns, outcome)),
            _ => {}
        }
    }
    (outcome, done)
}

#[test]
fn a_request_times_out_at_its_deadline_and_a_faster_reply_beats_it() {
    // Service times straddle the 100 ms timeout: some replies come in time, others do not.
    let s = scenario(
        r#"
name = "timeouts"
duration = "3s"
[network]
latency = "1ms"
[[hosts]]
name = "e0"
service = "echo"
service_time = { exponential = "60ms" }
workers = 64
[workload]
targets = ["e0"]
users = 30
loadgens = 2
arrival = { poisson = { rate = 300 } }
timeout = "100ms"
"#,
    );
    let (outcome, done) = requests(&s, 3);
    let e2e = &outcome.report.end_to_end;
    assert!(e2e.timeouts > 50 && e2e.ok > 300, "both outcomes occur: {e2e:?}");
    assert_eq!(e2e.outstanding_at_end, 0, "every request ended");
    const MS: u64 = 1_000_000;
    for (invoked, completed, result) in &done {
        let took = completed - invoked;
        match result {
            faultline_chaos::trace::Outcome::Timeout => match util::engine() {
                faultline_sim::Engine::Turmoil => {
                    assert_eq!(took, 100 * MS, "a timeout ends its request at the deadline, on the 1 ms grid")
                }
                // madsim's clock moves 50-100 ns after each task poll: the deadline's timer
                // wakes the generator's keeper, which wakes the request.
                faultline_sim::Engine::Madsim => {
                    assert!((100 * MS..100 * MS + 1_000).contains(&took), "a timeout ends its request at {took} ns")
                }
            },
            faultline_chaos::trace::Outcome::Ok => assert!(took <= 100 * MS, "an answer came in time: {took} ns"),
            other => panic!("an echo neither fails nor is unreachable: {other:?}"),
        }
    }
    assert_eq!(done.len() as u64, e2e.requests);
    assert_eq!(go(&s, 3).hash, outcome.hash, "and the run is deterministic");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        same_seed_same_hash_other_seed_other_run,
        closed_loop_obeys_littles_law,
        open_loop_offered_rate_matches_the_arrival_rate,
        servers_satisfy_littles_law_and_every_check_holds,
        little_s_law_holds_for_requests_shorter_than_a_step,
        killing_the_database_fails_requests_until_it_restarts,
        a_partition_fails_requests_and_healing_restores_them,
        loss_on_a_busy_connection_is_recovered_by_fast_retransmit,
        loss_on_a_quiet_connection_waits_for_the_retransmission_timeout,
        a_latency_change_shows_only_while_it_lasts,
        a_request_times_out_at_its_deadline_and_a_faster_reply_beats_it,
    }
}
