//! Sessions in the cache against sessions in memory, through the library's scenarios: every
//! app instance killed in turn loses no session kept in the cache, and every session of the
//! killed instances (twice: at the kill and at the restart) kept in memory; in memory behind
//! round robin, most requests find their session unknown. Also the located errors of the
//! sessions settings.

use crate::util;

use faultline_chaos::report::Verdict;
use faultline_chaos::report::sessions::SessionsReport;
use faultline_sim::scenario::parse_str;
use util::{go, library};

const USERS: u64 = 200;

fn sessions(report: &faultline_chaos::report::Report) -> &SessionsReport {
    report.sessions.as_ref().expect("users log in: the report has a sessions section")
}

fn verdict(report: &faultline_chaos::report::Report, name: &str) -> Verdict {
    report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name:?}")).verdict
}

#[test]
fn sessions_in_the_cache_survive_every_instance_killed() {
    let scenario = library("sessions-cache.toml", &[]);
    for seed in 1..=3 {
        let outcome = go(&scenario, seed);
        let report = &outcome.report;
        let s = sessions(report);
        assert_eq!(s.created, USERS, "seed {seed}: each user logs in once");
        assert_eq!(s.lost, 0, "seed {seed}: no session lost");
        assert_eq!(report.end_to_end.unauthorized, 0, "seed {seed}: no request answered 401");
        assert_eq!(verdict(report, "no session lost"), Verdict::Pass, "seed {seed}");
        assert!(report.passed(), "seed {seed}: {:?}", report.checks);
        assert_eq!(report.faults.len(), 6, "seed {seed}: three kills, three restarts");
    }
}

#[test]
fn sessions_in_memory_are_lost_at_every_kill_and_every_restart() {
    let scenario = library("sessions-memory.toml", &[]);
    for seed in 1..=3 {
        let report = go(&scenario, seed).report;
        let s = sessions(&report);
        // Each user sticks to one instance, which is killed once: it loses its session when the
        // balancer moves it away, and again when the restarted instance takes it back.
        assert!(s.lost <= 2 * USERS, "seed {seed}: {} lost", s.lost);
        assert!(s.lost >= 2 * USERS * 95 / 100, "seed {seed}: only {} lost", s.lost);
        // Every lost session logs in again (but for a user whose loss ended its run).
        assert!(s.created <= USERS + s.lost, "seed {seed}: {} created, {} lost", s.created, s.lost);
        assert!(s.created + 5 >= USERS + s.lost, "seed {seed}: {} created, {} lost", s.created, s.lost);
        assert!(report.end_to_end.unauthorized >= s.lost, "seed {seed}: each loss is a 401");
        let lost_in = |start: f64| s.windows.iter().find(|w| w.start_s == start).map_or(0, |w| w.lost);
        assert_eq!(lost_in(0.0) + lost_in(2.0) + lost_in(4.0), 0, "seed {seed}: nothing lost before the first kill");
        let at_faults: u64 = [6.0, 10.0, 14.0, 18.0, 22.0, 26.0].into_iter().map(lost_in).sum();
        assert!(at_faults * 10 >= s.lost * 8, "seed {seed}: {at_faults} of {} in the fault windows", s.lost);
        assert_eq!(verdict(&report, "no session lost"), Verdict::Fail, "seed {seed}");
        let check = report.checks.iter().find(|c| c.name == "no session lost").expect("present");
        assert_eq!(
            check.evidence.t_ns,
            Some(6_000_000_000),
            "seed {seed}: the first loss is in the first kill's window"
        );
        assert_eq!(verdict(&report, "availability at least 99%"), Verdict::Pass, "seed {seed}: a 401 is not a failure");
    }
}

#[test]
fn sessions_in_memory_behind_round_robin_are_unknown_to_most_instances() {
    let scenario = library("sessions-memory-round-robin.toml", &[]);
    for seed in 1..=3 {
        let report = go(&scenario, seed).report;
        let s = sessions(&report);
        let e2e = &report.end_to_end;
        // Requests other than logins: a login is ok or an error, and every session created is a login.
        let data = e2e.requests - s.created;
        // Round robin over three instances: about two requests in three land where the session is unknown.
        assert!(e2e.unauthorized * 2 > data, "seed {seed}: {} of {data} answered 401", e2e.unauthorized);
        assert!(s.lost > 20 * USERS, "seed {seed}: {} lost", s.lost);
        assert_eq!(verdict(&report, "no session lost"), Verdict::Fail, "seed {seed}");
    }
}

#[test]
fn an_app_with_sessions_refuses_users_that_do_not_log_in() {
    let scenario = library(
        "sessions-cache.toml",
        &[("login = true", "login = false"), ("[[slos]]\nname = \"no session lost\"\nmax_sessions_lost = 0\n", "")],
    );
    let report = go(&scenario, 1).report;
    assert_eq!(report.sessions, None, "no login, no sessions section");
    let e2e = &report.end_to_end;
    assert!(e2e.requests > 10_000);
    assert_eq!(e2e.unauthorized + e2e.errors + e2e.timeouts, e2e.requests, "no request gets through without a cookie");
    assert!(e2e.unauthorized * 100 >= e2e.requests * 99, "{} of {} answered 401", e2e.unauthorized, e2e.requests);
}

#[test]
fn the_same_seed_loses_the_same_sessions() {
    let scenario = library("sessions-memory.toml", &[]);
    let (first, second) = (go(&scenario, 2), go(&scenario, 2));
    assert_eq!(first.hash, second.hash);
    assert_eq!(first.report.sessions, second.report.sessions);
}

fn rejected(text: &str, message: &str, at: &str) {
    let err = parse_str("bad.toml", text).expect_err("the scenario should be rejected");
    let all = err.report_lines().join("\n");
    assert!(all.contains(message), "{all}\nshould say {message:?}");
    let line = 1 + text.lines().position(|l| l.contains(at) && !l.starts_with('#')).expect("the line is in the text");
    assert!(all.contains(&format!("bad.toml:{line}:")), "{all}\nshould point at line {line}");
}

#[test]
fn bad_sessions_settings_are_located_errors() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sessions-cache.toml");
    let text = std::fs::read_to_string(path).expect("the scenario exists");
    let app1 = "name = \"app1\"\ngroup = \"apps\"\nservice = { app = { db = \"db\", cache = \"cache\", protocol = \"http\", sessions = \"cache\"";
    assert!(text.contains(app1));
    let framed = text.replacen(app1, &app1.replace(", protocol = \"http\"", ""), 1);
    // A framed app is also no target a user can log in to, but only the lb is targeted.
    rejected(&framed, "expected protocol = \"http\"", "sessions = \"cache\"");
    let uncached = text.replacen(app1, &app1.replace("cache = \"cache\", ", ""), 1);
    rejected(&uncached, "this app has none of", "sessions = \"cache\"");
    let zero_ttl = text.replacen("session_ttl = \"30m\"", "session_ttl = \"0s\"", 1);
    rejected(&zero_ttl, "`session_ttl` is 0", "session_ttl = \"0s\"");
    let no_login = text.replacen("login = true", "login = false", 1);
    rejected(&no_login, "expected `login = true`", "max_sessions_lost = 0");
    let to_cache = text.replacen("targets = [\"lb\"]", "targets = [\"cache\"]", 1);
    rejected(&to_cache, "does not serve `POST /login`", "login = true");
    let two = text.replacen("\nmax_sessions_lost = 0", "\nmax_sessions_lost = 0\navailability = 0.9", 1);
    rejected(&two, "`max_sessions_lost` beside another", "max_sessions_lost = 0");
    let scoped = text.replacen("\nmax_sessions_lost = 0", "\nmax_sessions_lost = 0\nservice = \"app1\"", 1);
    rejected(&scoped, "expected no `service`", "service = \"app1\"");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        sessions_in_the_cache_survive_every_instance_killed,
        sessions_in_memory_are_lost_at_every_kill_and_every_restart,
        sessions_in_memory_behind_round_robin_are_unknown_to_most_instances,
        an_app_with_sessions_refuses_users_that_do_not_log_in,
        the_same_seed_loses_the_same_sessions,
    }
}
