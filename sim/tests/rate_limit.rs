//! Rate limits in front of HTTP apps, judged from the trace: three instances with a local limit
//! of R admit 3 x R between them (`scenarios/rate-limit-local.toml`), with the limit shared on
//! a cache node they admit R (`scenarios/rate-limit-shared.toml`); the shared limiter's node
//! killed mid-run admits everything meanwhile when it fails open and refuses everything when it
//! fails closed. Also the located errors of a bad `rate_limit`.

use crate::util;

use faultline_chaos::trace::{Event, Outcome, RATE_LIMITED, Record};
use faultline_sim::scenario::parse_str;
use std::collections::BTreeMap;
use util::{records, scenario};

const LOCAL: &str = include_str!("../../scenarios/rate-limit-local.toml");
const SHARED: &str = include_str!("../../scenarios/rate-limit-shared.toml");
const NS: u64 = 1_000_000_000;

/// Each request's invocation time and outcome, by request id.
fn outcomes(records: &[Record]) -> BTreeMap<u64, (u64, Option<Outcome>)> {
    let mut requests = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::Invoke { req, .. } => {
                requests.insert(*req, (record.t_ns, None));
            }
            Event::Complete { req, outcome } => {
                requests.get_mut(req).expect("a completion follows its invocation").1 = Some(outcome.clone());
            }
            _ => {}
        }
    }
    requests
}

/// Requests admitted (answered, not refused by the limiter) per second over a 20 s run.
fn admitted_per_second(text: &str, seed: u64) -> f64 {
    let (outcome, _, records) = records(&scenario(text), seed);
    assert!(outcome.report.end_to_end.limited > 0, "seed {seed}: the limiter refused some");
    let admitted =
        outcomes(&records).values().filter(|(_, outcome)| matches!(outcome, Some(o) if o.is_success())).count();
    admitted as f64 / 20.0
}

fn assert_within_10_percent(got: f64, expected: f64, what: &str) {
    assert!((got - expected).abs() <= 0.1 * expected, "{what}: admitted {got:.1}/s, expected {expected:.1}/s");
}

#[test]
fn three_local_limiters_admit_three_times_the_rate() {
    for seed in 1..=2 {
        // 3 x (100/s over 20 s + a burst of 21 at the start).
        let expected = 3.0 * (100.0 + 21.0 / 20.0);
        assert_within_10_percent(admitted_per_second(LOCAL, seed), expected, &format!("local, seed {seed}"));
    }
}

#[test]
fn a_limiter_shared_on_a_cache_node_admits_the_rate_once() {
    for seed in 1..=2 {
        let expected = 100.0 + 21.0 / 20.0;
        assert_within_10_percent(admitted_per_second(SHARED, seed), expected, &format!("shared, seed {seed}"));
    }
}

/// The shared scenario failing `fail`, with its limiter's node dead from 8 s to 14 s: the
/// outcomes of the requests issued well inside that span (from 8.2 s to 13.8 s).
fn while_the_node_is_dead(fail: &str) -> Vec<Outcome> {
    let text = SHARED.replace("fail = \"open\"", &format!("fail = \"{fail}\""))
        + "\n[[faults]]\nat = \"8s\"\nfor = \"6s\"\nfault = { kill = \"limits\" }\n";
    let (_, _, records) = records(&scenario(&text), 1);
    let inside = |t_ns: u64| (8 * NS + NS / 5..14 * NS - NS / 5).contains(&t_ns);
    let found: Vec<Outcome> = outcomes(&records)
        .into_values()
        .filter(|(t_ns, _)| inside(*t_ns))
        .map(|(_, outcome)| outcome.expect("every request completes"))
        .collect();
    assert!(found.len() > 2_500, "about 600 a second for 5.6 s: {}", found.len());
    found
}

#[test]
fn a_shared_limiter_failing_open_admits_everything_while_its_node_is_dead() {
    let found = while_the_node_is_dead("open");
    let refused = found.iter().filter(|o| !o.is_success()).count();
    assert_eq!(refused, 0, "{refused} of {} refused or failed", found.len());
}

#[test]
fn a_shared_limiter_failing_closed_refuses_everything_while_its_node_is_dead() {
    let found = while_the_node_is_dead("closed");
    let admitted = found.iter().filter(|o| **o != Outcome::Error(RATE_LIMITED)).count();
    assert_eq!(admitted, 0, "{admitted} of {} not refused with RATE_LIMITED", found.len());
}

/// Asserts that `text` is rejected at `line` with a message containing `message`.
fn rejected(text: &str, line: usize, message: &str) {
    let err = parse_str("bad.toml", text).expect_err("the scenario should be rejected");
    let all = err.report_lines().join("\n");
    assert!(all.contains(message), "{all}\nshould say {message:?}");
    assert!(all.contains(&format!("bad.toml:{line}:")), "{all}\nshould point at line {line}");
}

/// The line of the first app's `rate_limit` in the local scenario.
fn app1_line(text: &str) -> usize {
    1 + text.lines().position(|l| l.contains("rate_limit = {")).expect("an app with a rate limit")
}

#[test]
fn a_bad_rate_limit_is_a_located_error() {
    let line = app1_line(LOCAL);
    rejected(&LOCAL.replacen("rate = 100,", "rate = 0,", 1), line, "above 0");
    let shared_without_node = LOCAL.replacen("scope = \"local\"", "scope = \"shared\"", 1);
    rejected(&shared_without_node, line, "needs its cache node");
    rejected(&LOCAL.replacen("scope = \"local\"", "scope = \"local\", fail = \"closed\"", 1), line, "shared");
    let framed = LOCAL.replacen("protocol = \"http\", ", "", 1);
    rejected(&framed, line, "only an app with protocol = \"http\"");
    let not_a_cache = SHARED.replacen("node = \"limits\"", "node = \"db\"", 1);
    rejected(&not_a_cache, app1_line(SHARED), "node");
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        three_local_limiters_admit_three_times_the_rate,
        a_limiter_shared_on_a_cache_node_admits_the_rate_once,
        a_shared_limiter_failing_open_admits_everything_while_its_node_is_dead,
        a_shared_limiter_failing_closed_refuses_everything_while_its_node_is_dead,
    }
}
