//! The active-active store keeps its promises in the library's scenarios, on seeds 1-3: a
//! cross-region partition keeps both regions serving, diverges them, and they converge soon
//! after the heal, agreeing on every window of writes; a region's clock ahead makes
//! last-writer-wins discard acknowledged later writes, and too far ahead gets its batches
//! refused until the clock is right. Also the scenario checks of the geo kind and of the
//! `converged_within` objective.

use crate::util;

use faultline_chaos::report::geo::GeoReport;
use faultline_chaos::report::{Report, Verdict};
use faultline_sim::scenario::parse_str;
use util::{go, library, variant};

fn geo(report: &Report) -> &GeoReport {
    report.geo.as_ref().expect("an active-active section")
}

fn verdict(report: &Report, name: &str) -> Verdict {
    report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}")).verdict
}

#[test]
fn a_partition_diverges_the_regions_and_they_converge_after_the_heal() {
    for seed in [1, 2, 3] {
        let report = go(&library("active-active-partition.toml", &[]), seed).report;
        assert!(report.passed(), "seed {seed}: {:?}", report.checks);
        assert_eq!(report.end_to_end.availability, Some(1.0), "both regions serve through the partition");
        let g = geo(&report);
        for node in &g.nodes {
            assert!(node.max_behind_ms >= 9_500, "seed {seed}: {} fell ~10 s behind: {node:?}", node.host);
            assert!(node.behind_at_end_ms < 1_000, "seed {seed}: {node:?}");
        }
        assert_eq!(verdict(&report, "counters lose no increment"), Verdict::Pass, "seed {seed}");
        assert!(
            g.nodes.iter().all(|n| n.counters == g.increments_acked as i64 && n.counters > 1_000),
            "seed {seed}: {g:?}"
        );
        let converged = g.converged_after_s.expect("converged");
        assert!(converged < 1.0, "seed {seed}: caught up {converged} s after the heal");
        assert!(g.windows_compared >= 25 && g.disagreements == 0, "seed {seed}: {g:?}");
        assert!(g.lww_lost > 100, "seed {seed}: concurrent writes in the partition conflict: {}", g.lww_lost);
        assert_eq!(g.lww_lost_to_skew, 0, "seed {seed}: without skew LWW keeps real-time order");
    }
}

#[test]
fn without_the_partition_few_writes_conflict_and_none_falls_behind() {
    let report = variant(
        "active-active-partition.toml",
        &[("at = \"10s\"", "at = \"29s\""), ("for = \"10s\"", "for = \"1s\"")],
        1,
    );
    let g = geo(&report);
    let partitioned = geo(&go(&library("active-active-partition.toml", &[]), 1).report).lww_lost;
    assert!(g.lww_lost * 5 < partitioned, "{} conflicts without the partition, {partitioned} with", g.lww_lost);
    assert!(g.nodes.iter().all(|n| n.max_behind_ms <= 1_500), "{:?}", g.nodes);
}

#[test]
fn a_clock_ahead_discards_later_writes_and_too_far_ahead_is_refused() {
    for seed in [1, 2, 3] {
        let report = go(&library("active-active-skew.toml", &[]), seed).report;
        assert!(report.passed(), "seed {seed}: {:?}", report.checks);
        assert_eq!(
            verdict(&report, "counters lose no increment"),
            Verdict::Pass,
            "seed {seed}: skew costs counters nothing"
        );
        let g = geo(&report);
        assert!(
            g.lww_lost_to_skew * 3 > g.lww_lost,
            "seed {seed}: over a third of the losses reverse real time: {g:?}"
        );
        let us = g.nodes.iter().find(|n| n.host == "geo-us").unwrap();
        assert!(us.refused > 10, "seed {seed}: geo-us refuses the runaway clock's batches: {us:?}");
        assert!(us.max_behind_ms > 4_000, "seed {seed}: and falls behind on its writes: {us:?}");
        let eu = g.nodes.iter().find(|n| n.host == "geo-eu").unwrap();
        assert_eq!(eu.refused, 0, "seed {seed}: geo-us's clock is never too far ahead of geo-eu's");
    }
    // The same clock set right: no write is lost to skew.
    let fault = "[[faults]]\nat = \"20s\"\nfor = \"5s\"\nfault = { clock_skew = { host = \"geo-eu\", jump = \"2s\" } }";
    let fair =
        variant("active-active-skew.toml", &[("clock_skew = \"300ms\"", "clock_skew = \"0ms\""), (fault, "")], 1);
    assert_eq!(geo(&fair).lww_lost_to_skew, 0);
}

#[test]
fn an_objective_too_tight_fails_and_regions_that_never_meet_again_do_not_converge() {
    let tight = variant("active-active-skew.toml", &[("converged_within = \"5s\"", "converged_within = \"500ms\"")], 1);
    assert_eq!(verdict(&tight, "regions converge within 5s of the last fault"), Verdict::Fail);
    let never = variant("active-active-partition.toml", &[("for = \"10s\"", "for = \"60s\"")], 1);
    let check = never.checks.iter().find(|c| c.name == "regions converge within 5s of the heal").unwrap();
    assert_eq!(check.verdict, Verdict::Fail, "{check:?}");
    assert!(check.detail.contains("had not caught up by the end"), "{}", check.detail);
    assert_eq!(verdict(&never, "active-active regions agree"), Verdict::Pass, "what was compared still agrees");
}

#[test]
fn counters_are_judged_after_a_quiet_tail_and_not_without_one() {
    let busy = variant(
        "active-active-partition.toml",
        &[("{ step = { from = 200, to = 0, at = \"28s\" } }", "{ poisson = { rate = 200 } }")],
        1,
    );
    assert_eq!(
        verdict(&busy, "counters lose no increment"),
        Verdict::Unknown,
        "increments until the end cannot be read settled"
    );
    let quiet = go(&library("active-active-partition.toml", &[]), 1).report;
    assert!((quiet.duration_s - 30.0).abs() < 0.01, "a quiet tail keeps the run to its duration: {}", quiet.duration_s);
}

#[test]
fn increments_go_only_to_stores_that_keep_counters() {
    let with = |ratio: &str, target: &str| {
        PAIR.replacen(
            "targets = [\"a\"]",
            &format!("targets = [\"{target}\"]\nincr_ratio = {ratio}\nread_ratio = 0.5"),
            1,
        )
    };
    assert!(parse_str("ok.toml", &with("0.3", "a")).is_ok());
    let e = error(&with("0.3", "c"));
    assert!(e.contains("target \"c\" runs echo, which keeps no counters"), "{e}");
    let e = error(&with("1.5", "a"));
    assert!(e.contains("incr_ratio 1.5 is out of range"), "{e}");
    let e = error(&with("0.6", "a"));
    assert!(e.contains("read_ratio + cas_ratio + incr_ratio is 1.1"), "{e}");
}

fn error(text: &str) -> String {
    parse_str("bad.toml", text).expect_err("rejected").to_string()
}

const PAIR: &str = r#"
name = "geo"
duration = "5s"
[[hosts]]
name = "a"
service = { geo = { peers = ["b"] } }
[[hosts]]
name = "b"
service = { geo = { peers = ["a"] } }
[[hosts]]
name = "c"
service = "echo"
[workload]
targets = ["a"]
users = 1
arrival = { poisson = { rate = 10 } }
"#;

#[test]
fn a_geo_group_must_be_a_full_mesh_of_geo_nodes() {
    assert!(parse_str("ok.toml", PAIR).is_ok());
    let e = error(&PAIR.replacen("peers = [\"b\"]", "peers = [\"c\"]", 1));
    assert!(e.contains("bad.toml:6:30:") && e.contains("peer \"c\" runs echo, not geo"), "{e}");
    let e = error(&PAIR.replacen("peers = [\"b\"]", "peers = [\"a\"]", 1));
    assert!(e.contains("lists itself as a peer"), "{e}");
    let e = error(&PAIR.replacen("peers = [\"b\"]", "peers = [\"b\", \"b\"]", 1));
    assert!(e.contains("listed twice"), "{e}");
    let e = error(&PAIR.replacen("peers = [\"b\"]", "peers = [\"bb\"]", 1));
    assert!(e.contains("unknown host \"bb\"") && e.contains("did you mean \"b\"?"), "{e}");
    let three = PAIR.replacen("service = \"echo\"", "service = { geo = { peers = [\"a\"] } }", 1);
    let e = error(&three.replacen("peers = [\"b\"]", "peers = [\"b\", \"c\"]", 1));
    assert!(e.contains("expected every node of an active-active group to list every other"), "{e}");
}

#[test]
fn the_convergence_objective_needs_geo_hosts_and_stands_alone() {
    let with = |slo: &str| format!("{PAIR}\n[[slos]]\n{slo}\n");
    assert!(parse_str("ok.toml", &with("converged_within = \"5s\"")).is_ok());
    let e = error(&with("converged_within = \"5s\"\navailability = 0.9"));
    assert!(e.contains("found `converged_within` beside another"), "{e}");
    let e = error(&with("converged_within = \"5s\"\nservice = \"a\""));
    assert!(e.contains("expected no `service`"), "{e}");
    let no_geo =
        PAIR.replace("{ geo = { peers = [\"b\"] } }", "\"echo\"").replace("{ geo = { peers = [\"a\"] } }", "\"echo\"");
    let e = error(&format!("{no_geo}\n[[slos]]\nconverged_within = \"5s\"\n"));
    assert!(e.contains("needs an active-active store"), "{e}");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        a_partition_diverges_the_regions_and_they_converge_after_the_heal,
        without_the_partition_few_writes_conflict_and_none_falls_behind,
        a_clock_ahead_discards_later_writes_and_too_far_ahead_is_refused,
        an_objective_too_tight_fails_and_regions_that_never_meet_again_do_not_converge,
        counters_are_judged_after_a_quiet_tail_and_not_without_one,
    }
}
