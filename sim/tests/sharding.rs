//! A sharded database by tenant directory, through the library's `sharded-db.toml`: one
//! group's primary fails over, its tenants see the outage and the other tenants do not; each
//! group is judged on its own (no write lost, one primary per epoch). Also the located errors
//! of the `shards` and `tenants` settings.

use crate::util;

use faultline_chaos::report::{Report, TenantReport};
use faultline_sim::scenario::parse_str;
use util::{go, library};

/// The tenants whose keys live on group s1, whose primary is killed at 10 s.
const ON_S1: [&str; 2] = ["acme", "globex"];

fn tenant<'a>(report: &'a Report, name: &str) -> &'a TenantReport {
    report.tenants.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tenant {name}"))
}

#[test]
fn one_shard_fails_over_and_the_other_tenants_do_not_notice() {
    let scenario = library("sharded-db.toml", &[]);
    for seed in 1..=2 {
        let report = go(&scenario, seed).report;
        let failed: Vec<&str> = report.failures().map(|c| c.name.as_str()).collect();
        assert!(failed.is_empty(), "seed {seed}: {failed:?}\n{}", report.render_text());
        assert_eq!(report.tenants.len(), 8);
        let data = report.data.as_ref().expect("a data section");
        let s1: Vec<u64> = data.epochs.iter().filter(|e| e.group.as_deref() == Some("s1")).map(|e| e.epoch).collect();
        assert_eq!(s1, [1, 2], "seed {seed}: s1 failed over once");
        assert_eq!(data.epochs.len(), 5, "seed {seed}: the other groups kept epoch 1");
        for t in &report.tenants {
            // Past the start (the primaries' first leases), in every window.
            let worst_after_start =
                t.windows.iter().filter(|w| w.start_s >= 2.0).map(|w| w.availability).fold(1.0, f64::min);
            if ON_S1.contains(&t.name.as_str()) {
                let worst = t.worst_window.as_ref().expect("enough requests");
                assert!((10.0..=12.0).contains(&worst.start_s), "seed {seed}: {} worst at {}", t.name, worst.start_s);
                assert!(worst.availability < 0.2, "seed {seed}: {} {}", t.name, worst.availability);
                assert!(t.latency.p99_ms > 100.0, "seed {seed}: {} waited out timeouts", t.name);
            } else {
                assert_eq!(worst_after_start, 1.0, "seed {seed}: {} noticed the failover", t.name);
                assert!(t.latency.p99_ms < 20.0, "seed {seed}: {} p99 {}", t.name, t.latency.p99_ms);
            }
        }
        let (on_s1, others): (Vec<&TenantReport>, Vec<&TenantReport>) =
            report.tenants.iter().partition(|t| ON_S1.contains(&t.name.as_str()));
        let requests = |ts: &[&TenantReport]| ts.iter().map(|t| t.requests).sum::<u64>();
        // The keys are spread evenly: s1 holds a quarter of the requests.
        let share = requests(&on_s1) as f64 / (requests(&on_s1) + requests(&others)) as f64;
        assert!((0.22..0.28).contains(&share), "seed {seed}: {share}");
        assert_eq!(tenant(&report, "wonka").requests, report.tenants[7].requests);
    }
}

#[test]
fn one_directory_over_every_group_judges_each_group_alone() {
    // The same run with every tenant on s1: one group takes every key, the others none, and
    // the failover now touches everyone.
    let edits = [
        ("initech = \"s2\"", "initech = \"s1\""),
        ("umbrella = \"s2\"", "umbrella = \"s1\""),
        ("hooli = \"s3\"", "hooli = \"s1\""),
        ("stark = \"s3\"", "stark = \"s1\""),
        ("wayne = \"s4\"", "wayne = \"s1\""),
        ("wonka = \"s4\"", "wonka = \"s1\""),
    ];
    let report = go(&library("sharded-db.toml", &edits), 1).report;
    for t in &report.tenants {
        let worst = t.worst_window.as_ref().expect("enough requests");
        assert!((10.0..=12.0).contains(&worst.start_s) && worst.availability < 0.2, "{}: {worst:?}", t.name);
    }
    let served = |name: &str| report.services.iter().find(|s| s.name == name).map_or(0, |s| s.requests);
    assert_eq!(served("s2a") + served("s3a") + served("s4a"), 0, "no key lives on s2, s3 or s4");
}

fn error(edits: &[(&str, &str)]) -> Vec<String> {
    let mut text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sharded-db.toml"),
    )
    .expect("the scenario exists");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
    }
    match parse_str("sharded.toml", &text) {
        Ok(_) => panic!("{edits:?} should be refused"),
        Err(e) => e.report_lines(),
    }
}

#[test]
fn wrong_shards_and_tenants_are_located_errors() {
    let lines = error(&[("acme = \"s1\"", "acme = \"s9\"")]);
    assert!(
        lines[0].contains("tenant \"acme\" is placed on \"s9\", which is not a group; the groups are: s1, s2, s3, s4"),
        "{lines:#?}"
    );
    assert!(lines[0].starts_with("sharded.toml:"), "{lines:#?}");
    let lines = error(&[("s2 = { members = [\"s2a\"", "s2 = { members = [\"s1b\", \"s2a\"")]);
    assert!(lines.iter().any(|l| l.contains("\"s1b\" is in shard groups \"s1\" and \"s2\"")), "{lines:#?}");
    let lines = error(&[("tenants = [\"acme\"", "tenants = [\"ac:me\"")]);
    assert!(lines.iter().any(|l| l.contains("tenant \"ac:me\" is not a tenant name")), "{lines:#?}");
    let lines = error(&[("[hosts.service.app]\ntimeout", "[hosts.service.app]\ndb = \"s1a\"\ntimeout")]);
    assert!(lines.iter().any(|l| l.contains("more than one of `db`, `router` and `shards`")), "{lines:#?}");
    // The second app places wonka elsewhere than the first.
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sharded-db.toml"),
    )
    .expect("the scenario exists");
    let at = text.rfind("wonka = \"s4\"").expect("the second app's directory");
    let edited = format!("{}wonka = \"s3\"{}", &text[..at], &text[at + "wonka = \"s4\"".len()..]);
    let lines = parse_str("sharded.toml", &edited).expect_err("refused").report_lines();
    assert!(lines.iter().any(|l| l.contains("app \"app2\" places keys otherwise than app \"app1\"")), "{lines:#?}");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        one_shard_fails_over_and_the_other_tenants_do_not_notice,
        one_directory_over_every_group_judges_each_group_alone,
    }
}
