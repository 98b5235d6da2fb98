//! The deploy scenarios keep their promises: a healthy rolling deploy completes with no failed
//! request; a version failing its health checks halts at the deadline with the old instances
//! serving; one failing requests completes a plain rolling deploy (and the check fails) but is
//! aborted as a canary or rolled back as blue-green; a slow one is caught by the latency
//! analysis; a kill during a healthy deploy costs requests but not the deploy.

use crate::util;
use util::{go, text, variant};

use faultline_sim::scenario::parse_str;

use faultline_chaos::report::deploy::DeployReport;
use faultline_chaos::report::{Report, Verdict};

fn deploy(r: &Report) -> &DeployReport {
    r.deploy.as_ref().unwrap_or_else(|| panic!("a deploy section:\n{}", r.render_text()))
}

/// The deploy check's verdict.
fn verdict(r: &Report) -> Verdict {
    let check = r.checks.iter().find(|c| c.name.starts_with("deploy "));
    check.unwrap_or_else(|| panic!("a deploy check:\n{}", r.render_text())).verdict
}

/// The most instances ready at once, either version.
fn most_ready(d: &DeployReport) -> i64 {
    d.counts.iter().map(|c| c.new_ready + c.old_ready).max().unwrap_or(0)
}

#[test]
fn a_healthy_rolling_deploy_completes_with_no_failed_request() {
    for seed in [1, 2, 3] {
        let r = variant("deploy-rolling.toml", &[], seed);
        let d = deploy(&r);
        assert!(r.passed(), "seed {seed}:\n{}", r.render_text());
        assert_eq!((d.outcome.as_str(), d.failed_requests), ("complete", 0), "seed {seed}: {d:?}");
        assert_eq!(r.end_to_end.errors + r.end_to_end.unreachable + r.end_to_end.timeouts, 0);
        let end = d.end_s.unwrap() - d.start_s;
        assert!((4.0..=15.0).contains(&end), "seed {seed}: the deploy took {end} s");
        // max_surge 1, max_unavailable 0: never fewer than 4 ready, never more than 5.
        assert!(
            d.counts.iter().filter(|c| c.t_s > 1.0).all(|c| (4..=5).contains(&(c.new_ready + c.old_ready))),
            "{d:?}"
        );
        let last = d.counts.last().unwrap();
        assert_eq!((last.new_ready, last.old_ready), (4, 0));
    }
}

#[test]
fn a_version_failing_health_checks_halts_and_the_old_instances_keep_serving() {
    for seed in [1, 2] {
        let r = variant("deploy-rolling-bad-health.toml", &[], seed);
        let d = deploy(&r);
        assert_eq!((d.outcome.as_str(), d.reason.as_str()), ("halted", "progress deadline"), "{d:?}");
        let halted = d.end_s.unwrap() - d.start_s;
        assert!((15.0..=17.0).contains(&halted), "halted {halted} s after the start");
        assert_eq!(d.failed_requests, 0);
        assert_eq!(r.end_to_end.ok, r.end_to_end.requests, "no request fails:\n{}", r.render_text());
        assert!(d.counts.iter().all(|c| c.new_ready == 0), "no new instance ever ready: {d:?}");
        assert_eq!(d.counts.last().unwrap().old_ready, 3, "max_unavailable 25% of 4 = 1 drained");
        assert_eq!(verdict(&r), Verdict::Pass);
    }
}

#[test]
fn automatic_rollback_returns_a_version_failing_health_checks() {
    let r = variant(
        "deploy-rolling-bad-health.toml",
        &[("progress_deadline = \"15s\"", "progress_deadline = \"10s\"\nrollback = \"auto\"")],
        1,
    );
    let d = deploy(&r);
    assert_eq!(d.outcome, "rolled back", "{d:?}");
    assert_eq!(d.counts.last().map(|c| (c.new_ready, c.old_ready)), Some((0, 4)));
    let took = d.time_to_rollback_s.expect("a time to roll back");
    assert!(took < 5.0, "rolled back {took} s after the deadline");
    assert_eq!(verdict(&r), Verdict::Pass);
}

#[test]
fn readiness_is_not_correctness_a_plain_rolling_deploy_completes_a_bad_version() {
    let r = variant("deploy-rolling-bad-requests.toml", &[], 1);
    let d = deploy(&r);
    assert_eq!(d.outcome, "complete");
    assert!(d.failed_requests > 100, "{d:?}");
    assert_eq!(verdict(&r), Verdict::Fail, "a bad version that completes fails the check");
    assert!(!r.passed());
}

#[test]
fn the_same_bad_version_as_a_canary_is_aborted_at_the_first_step() {
    let rolling = deploy(&variant("deploy-rolling-bad-requests.toml", &[], 1)).failed_requests;
    for seed in [1, 2, 3] {
        let r = variant("deploy-canary-abort.toml", &[], seed);
        let d = deploy(&r);
        assert_eq!(d.outcome, "aborted", "seed {seed}: {d:?}");
        assert!(d.reason.starts_with("error rate 0."), "{}", d.reason);
        assert!(d.counts.iter().all(|c| c.new_ready <= 1), "never past the first step: {d:?}");
        assert!((1..=rolling / 4).contains(&d.failed_requests), "seed {seed}: {} vs {rolling}", d.failed_requests);
        let took = d.time_to_rollback_s.expect("a time to roll back");
        assert!((1.0..=3.0).contains(&took), "two failed measurements 2 s apart: {took}");
        assert_eq!(d.counts.last().map(|c| (c.new_ready, c.old_ready)), Some((0, 4)), "all on stable again");
        assert!(r.passed(), "seed {seed}:\n{}", r.render_text());
    }
}

#[test]
fn a_slower_canary_is_caught_by_the_latency_analysis() {
    let r = variant("deploy-canary-slow.toml", &[], 1);
    let d = deploy(&r);
    assert_eq!(d.outcome, "aborted", "{d:?}");
    assert!(d.reason.starts_with("p99 "), "{}", d.reason);
    assert_eq!(verdict(&r), Verdict::Pass);
    // Without the latency threshold the same canary walks every step to completion.
    let r = variant("deploy-canary-slow.toml", &[("max_p99 = \"100ms\"", "max_error_rate = 0.05")], 1);
    assert_eq!(deploy(&r).outcome, "complete");
    assert_eq!(verdict(&r), Verdict::Fail);
}

#[test]
fn blue_green_switches_to_a_bad_green_and_back_to_blue() {
    for seed in [1, 2] {
        let r = variant("deploy-blue-green.toml", &[], seed);
        let d = deploy(&r);
        assert_eq!(d.outcome, "rolled back", "seed {seed}: {d:?}");
        assert!(d.counts.iter().any(|c| (c.new_ready, c.old_ready) == (4, 0)), "the switch is at once: {d:?}");
        assert_eq!(d.counts.last().map(|c| (c.new_ready, c.old_ready)), Some((0, 4)), "back on blue");
        assert!(most_ready(d) <= 4, "never both colours in the endpoint set: {d:?}");
        let took = d.time_to_rollback_s.expect("a time to roll back");
        assert!((1.0..=3.0).contains(&took), "{took}");
        assert!(d.failed_requests > 0);
        assert_eq!(verdict(&r), Verdict::Pass);
    }
    let healthy = variant("deploy-blue-green.toml", &[("fail_requests = 30 }", "fail_requests = 0 }")], 1);
    let d = deploy(&healthy);
    assert_eq!((d.outcome.as_str(), d.failed_requests), ("complete", 0), "{d:?}");
    assert!(healthy.passed(), "{}", healthy.render_text());
    let never_ready = variant("deploy-blue-green.toml", &[("fail_requests = 30 }", "fail_health = true }")], 1);
    let d = deploy(&never_ready);
    assert_eq!((d.outcome.as_str(), d.reason.as_str()), ("aborted", "preview not ready"), "{d:?}");
    assert!(d.counts.iter().all(|c| c.old_ready == 4), "blue serves throughout: {d:?}");
    assert_eq!(never_ready.end_to_end.ok, never_ready.end_to_end.requests);
}

#[test]
fn a_kill_during_a_healthy_rolling_deploy_costs_requests_not_the_deploy() {
    let r = variant("deploy-rolling-kill.toml", &[], 1);
    let d = deploy(&r);
    assert_eq!(d.outcome, "complete", "{d:?}");
    assert!((1..=40).contains(&d.failed_requests), "the requests lost to the kill: {d:?}");
    assert_eq!(r.end_to_end.requests - r.end_to_end.ok, d.failed_requests, "every failure is the kill's");
    assert_eq!(verdict(&r), Verdict::Fail, "a healthy deploy must lose no request");
    assert_eq!(d.counts.last().map(|c| (c.new_ready, c.old_ready)), Some((4, 0)));
}

#[test]
fn a_deploy_run_is_deterministic() {
    let scenario = parse_str("deploy-canary-abort.toml", &text("deploy-canary-abort.toml")).expect("valid");
    let hash = |seed| go(&scenario, seed).hash;
    assert_eq!(hash(7), hash(7));
    assert_ne!(hash(7), hash(8));
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_healthy_rolling_deploy_completes_with_no_failed_request,
        a_version_failing_health_checks_halts_and_the_old_instances_keep_serving,
        automatic_rollback_returns_a_version_failing_health_checks,
        readiness_is_not_correctness_a_plain_rolling_deploy_completes_a_bad_version,
        the_same_bad_version_as_a_canary_is_aborted_at_the_first_step,
        a_slower_canary_is_caught_by_the_latency_analysis,
        blue_green_switches_to_a_bad_green_and_back_to_blue,
        a_kill_during_a_healthy_rolling_deploy_costs_requests_not_the_deploy,
        a_deploy_run_is_deterministic,
    }
}
