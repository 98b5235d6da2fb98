//! DNS failover across regions: the library's active-passive and active-active scenarios keep
//! their promises (the RTO cut into detection, promotion and DNS; the RPO of async shipping;
//! users following a changed answer as a long tail, some never), a 300 s TTL costs about five
//! times the 30 s one, the three architectures rank as they should under one region outage,
//! and a wrong `dns` host, `resolve` or `dns_ttl` is refused with a located error.

use crate::util;

use faultline_chaos::check::Recovery;
use faultline_chaos::report::Report;
use util::{go, library};

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn report(name: &str, seed: u64) -> Report {
    go(&library(name, &[]), seed).report
}

fn failed(r: &Report) -> Vec<&str> {
    r.failures().map(|c| c.name.as_str()).collect()
}

/// The recovery after the region outage.
fn outage(r: &Report) -> &Recovery {
    let data = r.data.as_ref().expect("a data section");
    data.recovery.iter().find(|f| f.fault.starts_with("outage of region")).expect("the outage is measured")
}

#[test]
fn active_passive_recovers_by_detection_promotion_and_dns_and_loses_the_unshipped_writes() {
    for seed in [1, 2] {
        let r = report("region-outage-active-passive.toml", seed);
        let text = r.render_text();
        assert_eq!(failed(&r), ["availability at least 99%"], "the failure it teaches, only:\n{text}");
        let f = outage(&r);
        let (detection, promotion) = (f.detection_ns.expect("detected"), f.promotion_ns.expect("promoted"));
        assert!((3 * S..6 * S).contains(&detection), "the controller's 4 s of failed checks: {f:?}");
        assert!(promotion < S, "{f:?}");
        let switch = f.dns_switch_ns.expect("the name changed");
        assert!((20 * S..=32 * S).contains(&switch), "three failed checks 10 s apart: {f:?}");
        let rto = f.rto_ns.expect("recovered");
        assert!(rto > switch && rto <= 75 * S, "after the switch, within a TTL and the reconnects: {f:?}");
        assert!(text.contains("DNS "), "the RTO's DNS part is shown:\n{text}");
        let durability = r.data.as_ref().and_then(|d| d.durability.as_ref()).expect("a durability check");
        assert!(durability.rpo_ns <= 45 * MS, "the RPO is at most the lag at the loss, one link: {durability:?}");
        let dns = r.dns.as_ref().expect("a DNS section");
        assert_eq!((dns.health[0].endpoint.as_str(), dns.health[0].healthy), ("app-us", false));
        let failover = &dns.changes[0];
        assert_eq!((failover.from.as_str(), failover.to.as_str()), ("app-us", "app-eu"));
        assert!(failover.users_on_old >= 190, "every user was on us-east: {failover:?}");
        let stuck = failover.still_on_old as f64 / failover.users_on_old as f64;
        assert!((0.04..0.15).contains(&stuck), "the extending and pinned tail (9.7% of users): {failover:?}");
        let (p50, max) = (failover.moved_p50_s.expect("moved"), failover.moved_max_s.expect("moved"));
        assert!(p50 > 1.0 && max > p50 + 5.0, "a ramp over the TTL, not a step: {failover:?}");
        let failback = dns.changes.iter().find(|c| c.to == "app-us").expect("the name returns to app-us");
        assert!(
            failback.still_on_old * 10 >= failback.users_on_old * 9,
            "pooled connections stay on app-eu: {failback:?}"
        );
    }
}

#[test]
fn active_active_fails_only_the_lost_regions_users_and_promotes_nothing() {
    let r = report("region-outage-active-active.toml", 1);
    let text = r.render_text();
    assert_eq!(failed(&r), ["availability at least 99%"], "{text}");
    let f = outage(&r);
    assert_eq!(f.promotion_ns, None, "{f:?}");
    assert!(f.dns_switch_ns.is_some() && f.rto_ns.is_some_and(|rto| rto <= 75 * S), "{f:?}");
    let region = |name: &str| r.regions.iter().find(|g| g.name == name).expect("users there").availability;
    assert!(region("eu-west").expect("requests") > 0.999, "eu-west's users never notice:\n{text}");
    assert!(region("us-east").expect("requests") < 0.9, "us-east's users fail until they move:\n{text}");
    let dns = r.dns.as_ref().expect("a DNS section");
    let moved = dns.changes.iter().find(|c| c.name == "shop@us-east").expect("the us-east view changes");
    assert_eq!((moved.from.as_str(), moved.to.as_str()), ("app-us", "app-eu"));
    assert!(dns.changes.iter().all(|c| c.name != "shop@eu-west"), "eu-west's answer never changed: {dns:?}");
}

#[test]
fn a_300_s_ttl_keeps_users_on_the_lost_region_about_five_times_longer() {
    let (short, long) = (report("dns-ttl-30.toml", 1), report("dns-ttl-300.toml", 1));
    assert_eq!(failed(&short), ["availability at least 99%"], "{}", short.render_text());
    let rto = |r: &Report| outage(r).rto_ns.expect("recovered");
    let (a, b) = (rto(&short), rto(&long));
    assert!(a <= 75 * S, "{a}");
    assert!(b > 3 * a && b > 250 * S, "TTL 300 s: RTO {b} ns against {a} ns");
    let switch = |r: &Report| outage(r).dns_switch_ns.expect("switched");
    assert!(switch(&long).abs_diff(switch(&short)) < 11 * S, "the health checks are the same");
    for r in [&short, &long] {
        let c = &r.dns.as_ref().expect("a DNS section").changes[0];
        assert!(c.still_on_old > 0, "the tail stays on us-east to the end: {c:?}");
    }
}

#[test]
fn one_region_active_passive_and_active_active_rank_as_the_guides_say() {
    let single = report("region-outage.toml", 1);
    let passive = report("region-outage-active-passive.toml", 1);
    let active = report("region-outage-active-active.toml", 1);
    let rto = |r: &Report| outage(r).rto_ns.expect("recovered");
    assert!(rto(&single) > 100 * S, "one region waits for its return");
    assert!(rto(&passive) < rto(&single) && rto(&active) < rto(&single));
    let available = |r: &Report| r.end_to_end.availability.expect("requests");
    assert!(available(&active) > available(&passive) && available(&passive) > available(&single));
    let lost = |r: &Report| r.data.as_ref().and_then(|d| d.durability.as_ref()).map_or(0, |d| d.lost);
    assert_eq!(lost(&single), 0, "fsynced and restarted");
    let promoted = |r: &Report| outage(r).promotion_ns.is_some();
    assert_eq!((promoted(&single), promoted(&passive), promoted(&active)), (false, true, false));
}

/// The problems of `text` as located lines, or none.
fn problems(text: &str) -> Vec<String> {
    match faultline_sim::scenario::parse_str("t.toml", text) {
        Ok(_) => Vec::new(),
        Err(e) => e.report_lines(),
    }
}

/// region-outage-active-passive.toml with `from` replaced by `to`.
fn edited(from: &str, to: &str) -> Vec<String> {
    let text = util::text("region-outage-active-passive.toml");
    assert!(text.contains(from), "{from}");
    problems(&text.replacen(from, to, 1))
}

#[test]
fn wrong_dns_settings_are_refused_with_located_errors() {
    let resolve = "resolve = { dns = \"dns\", name = \"shop\", extend = 0.087, extend_to = \"10m\", pinned = 0.01 }";
    let cases: [(&str, &str, &str); 8] = [
        (resolve, "resolve = { dns = \"app-eu\", name = \"shop\" }", "expected a dns host"),
        (resolve, "resolve = { dns = \"dns\", name = \"shoop\" }", "has no record \"shoop\""),
        (resolve, "resolve = { dns = \"dnss\", name = \"shop\" }", "unknown host \"dnss\""),
        (resolve, "resolve = { dns = \"dns\", name = \"shop\", extend = 0.6, pinned = 0.6 }", "more than 1"),
        (
            resolve,
            "targets = [\"app-us\"]\nresolve = { dns = \"dns\", name = \"shop\" }",
            "both `targets` and `resolve`",
        ),
        ("failover = [\"app-us\", \"app-eu\"]", "failover = [\"app-us\", \"db\"]", "must be a app with protocol"),
        ("failover = [\"app-us\", \"app-eu\"]", "nearest = [\"app-us\", \"dns\"]", "in no region"),
        ("check_timeout = \"2s\"", "check_timeout = \"20s\"", "timeout at most the interval"),
    ];
    for (from, to, want) in cases {
        let lines = edited(from, to);
        assert!(lines.iter().any(|l| l.contains(want)), "{to}: want {want:?} in {lines:#?}");
        assert!(lines.iter().all(|l| l.starts_with("t.toml:")), "located: {lines:#?}");
    }
    let ttl = edited(
        "[[faults]]\nat = \"20s\"",
        "[[faults]]\nat = \"1s\"\nfault = { dns_ttl = { host = \"app-us\", ttl = \"300s\" } }\n\n[[faults]]\nat = \"20s\"",
    );
    assert!(ttl.iter().any(|l| l.contains("must be a dns server")), "{ttl:#?}");
    let both = edited(
        "records = [{ name = \"shop\", failover = [\"app-us\", \"app-eu\"] }]",
        "records = [{ name = \"shop\", failover = [\"app-us\"], nearest = [\"app-eu\"] }]",
    );
    assert!(both.iter().any(|l| l.contains("exactly one of `failover`")), "{both:#?}");
}

#[test]
fn resolving_runs_are_deterministic() {
    let s = library("region-outage-active-passive.toml", &[("duration = \"150s\"", "duration = \"40s\"")]);
    let a = go(&s, 5).report.trace_hash;
    assert_eq!(a, go(&s, 5).report.trace_hash);
    assert_ne!(a, go(&s, 6).report.trace_hash);
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        active_passive_recovers_by_detection_promotion_and_dns_and_loses_the_unshipped_writes,
        active_active_fails_only_the_lost_regions_users_and_promotes_nothing,
        a_300_s_ttl_keeps_users_on_the_lost_region_about_five_times_longer,
        one_region_active_passive_and_active_active_rank_as_the_guides_say,
        resolving_runs_are_deterministic,
    }
}
