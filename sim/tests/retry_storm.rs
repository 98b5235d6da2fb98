//! Client retries: the retry storm of `scenarios/retry-storm.toml` (immediate retries without a
//! budget keep an app overloaded long after the fault that overloaded it) and its cure in
//! `scenarios/retry-budget.toml` (a 10% budget and exponential backoff with full jitter), held
//! to the figures their comments promise, on seeds 1 to 3; and what a retry leaves in the trace.

use crate::util;
use faultline_chaos::report::Report;
use faultline_chaos::trace::Event;
use std::collections::BTreeMap;
use util::{go, library, records};

const SEEDS: [u64; 3] = [1, 2, 3];
/// The slowdown runs from 10 s to 15 s; the run ends at 40 s.
const FAULT_END_S: f64 = 15.0;
/// The storm's retry line, and the budget's.
const STORM_RETRY: &str = r#"retry = { attempts = 3, backoff = "none" }"#;

/// The windows from `from_s` on (to the end of the run's 40 s).
fn windows_from(report: &Report, from_s: f64) -> impl Iterator<Item = &faultline_chaos::report::WindowStats> {
    report.windows.iter().filter(move |w| w.start_s >= from_s && w.start_s < 40.0)
}

/// ok / requests over the windows from `from_s` on.
fn availability_from(report: &Report, from_s: f64) -> f64 {
    let (ok, requests) = windows_from(report, from_s).fold((0, 0), |(ok, n), w| (ok + w.ok, n + w.requests));
    ok as f64 / requests as f64
}

/// The smallest and largest attempts per request of the windows from `from_s` to `to_s`.
fn amplification_range(report: &Report, from_s: f64, to_s: f64) -> (f64, f64) {
    let retry = report.retry.as_ref().expect("a retry section");
    let rows = retry.windows.iter().filter(|w| w.start_s >= from_s && w.start_s < to_s);
    let figures: Vec<f64> = rows.map(|w| w.amplification.expect("requests in every window")).collect();
    assert!(!figures.is_empty(), "windows from {from_s} s to {to_s} s");
    (figures.iter().copied().fold(f64::MAX, f64::min), figures.iter().copied().fold(0.0, f64::max))
}

/// The RTO after the slowdown, seconds; `None` if the run never recovered.
fn rto_s(report: &Report) -> Option<f64> {
    let data = report.data.as_ref().expect("a data section: the run has a fault");
    let recovery = data.recovery.first().expect("the slowdown is measured");
    assert!(recovery.dropped, "the slowdown dropped the success rate: {recovery:?}");
    recovery.rto_ns.map(|ns| ns as f64 / 1e9)
}

#[test]
fn without_a_budget_the_overload_outlives_the_fault() {
    for seed in SEEDS {
        let report = go(&library("retry-storm.toml", &[]), seed).report;
        let text = report.render_text();
        // From 5 s after the slowdown to the end, nearly every request fails ...
        let late = availability_from(&report, FAULT_END_S + 5.0);
        assert!(late < 0.05, "seed {seed}: availability {late:.3} after 20 s\n{text}");
        // ... because every request is sent about four times, in every window.
        let (low, high) = amplification_range(&report, FAULT_END_S + 5.0, 39.0);
        assert!(low > 3.5, "seed {seed}: amplification down to {low:.2}\n{text}");
        assert!(high < 5.0, "seed {seed}: amplification up to {high:.2}");
        let retry = report.retry.as_ref().expect("a retry section");
        assert_eq!(retry.denied, 0, "seed {seed}: no budget, nothing denied");
        assert!(retry.amplification.unwrap() > 3.0, "seed {seed}: {retry:?}");
        assert_eq!(rto_s(&report), None, "seed {seed}: never recovered\n{text}");
        assert!(!report.passed(), "seed {seed}: the storm fails its objectives");
        // Before the slowdown the same clients hardly retried.
        let (_, calm) = amplification_range(&report, 1.0, 10.0);
        assert!(calm < 1.01, "seed {seed}: amplification {calm:.3} before the fault");
    }
}

#[test]
fn a_budget_and_backoff_end_the_overload_within_seconds() {
    for seed in SEEDS {
        let report = go(&library("retry-budget.toml", &[]), seed).report;
        let text = report.render_text();
        assert!(report.passed(), "seed {seed}: the budget's scenario holds\n{text}");
        let rto = rto_s(&report).expect("recovered");
        // The slowdown lasts 5 s; the queue it left drains a few seconds later.
        assert!(rto < 11.0, "seed {seed}: RTO {rto:.3} s\n{text}");
        let late = availability_from(&report, FAULT_END_S + 5.0);
        assert!(late > 0.999, "seed {seed}: availability {late:.4} after 20 s\n{text}");
        let (_, high) = amplification_range(&report, FAULT_END_S, 39.0);
        assert!(high < 1.3, "seed {seed}: amplification up to {high:.2} after the fault\n{text}");
        let retry = report.retry.as_ref().expect("a retry section");
        assert!(retry.denied > 1_000, "seed {seed}: the budget refused retries: {retry:?}");
        assert!(retry.amplification.unwrap() < 1.1, "seed {seed}: {retry:?}");
    }
}

#[test]
fn without_retries_the_same_fault_passes_too() {
    // The control: the slowdown alone overloads the app for a while, and it recovers; the
    // storm is the retries' doing.
    for seed in SEEDS {
        let report = go(&library("retry-storm.toml", &[(STORM_RETRY, "")]), seed).report;
        assert_eq!(report.retry, None, "no retry, no retry section");
        let rto = rto_s(&report).expect("recovered");
        assert!(rto < 12.0, "seed {seed}: RTO {rto:.3} s");
        let late = availability_from(&report, FAULT_END_S + 5.0);
        assert!(late > 0.999, "seed {seed}: availability {late:.4} after 20 s");
    }
}

#[test]
fn a_request_keeps_one_invoke_and_one_complete_and_numbers_its_retries() {
    let s = library("retry-storm.toml", &[("duration = \"40s\"", "duration = \"14s\"")]);
    let (outcome, _, records) = records(&s, 1);
    let (mut invokes, mut completes) = (BTreeMap::new(), BTreeMap::new());
    let mut attempts: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for record in &records {
        match &record.event {
            Event::Invoke { req, .. } => assert!(invokes.insert(*req, record.t_ns).is_none(), "one invoke of {req}"),
            Event::Complete { req, .. } => assert!(completes.insert(*req, record.t_ns).is_none(), "one end of {req}"),
            Event::Retry { req, attempt, after, denied } => {
                assert!(!denied, "no budget");
                assert!(after.clone() != faultline_chaos::trace::Outcome::Ok, "only a failure is retried");
                let invoked = invokes.get(req).expect("a retry follows its invoke");
                assert!(record.t_ns >= *invoked);
                assert!(!completes.contains_key(req), "and comes before its complete");
                attempts.entry(*req).or_default().push(*attempt);
            }
            _ => {}
        }
    }
    assert_eq!(invokes.len() as u64, outcome.report.end_to_end.requests);
    assert!(attempts.len() > 1_000, "{} requests retried", attempts.len());
    for (req, numbers) in &attempts {
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(numbers, &expected, "req {req}: retries numbered in order");
        assert!(numbers.len() <= 3, "req {req}: at most 3 retries");
    }
    let retries: usize = attempts.values().map(Vec::len).sum();
    assert_eq!(outcome.report.retry.as_ref().map(|r| r.retries), Some(retries as u64));
}

#[test]
fn a_workload_without_retry_draws_and_records_as_before() {
    // Same seed, same scenario, with `attempts = 0`: the policy never retries, so the trace
    // differs from the scenario without `retry` only in nothing at all.
    let without = library("retry-storm.toml", &[(STORM_RETRY, "")]);
    let never = library("retry-storm.toml", &[(STORM_RETRY, "retry = { attempts = 0 }")]);
    assert_eq!(go(&without, 2).hash, go(&never, 2).hash);
}

/// The tests that run a world, again on madsim.
mod on_madsim {
    crate::util::on_madsim_too! {
        without_a_budget_the_overload_outlives_the_fault,
        a_budget_and_backoff_end_the_overload_within_seconds,
        without_retries_the_same_fault_passes_too,
        a_request_keeps_one_invoke_and_one_complete_and_numbers_its_retries,
        a_workload_without_retry_draws_and_records_as_before,
    }
}
