//! The rollout arithmetic: examples from Kubernetes' and Argo's documentation, and properties
//! over every reachable count.

use super::analysis::{Analysis, AnalysisConfig, Breach, Outcome, Verdict, Window};
use super::canary::{Canary, CanaryError, Target};
use super::rolling::{Rolling, RollingError};
use super::{Amount, Counts, Moves};
use proptest::prelude::*;
use std::time::Duration;

fn old(n: u32) -> Counts {
    Counts { old: n, old_ready: n, new: 0, new_ready: 0 }
}

#[test]
fn defaults_round_surge_up_and_unavailable_down() {
    let rolling = Rolling::new(4, Amount::Percent(25), Amount::Percent(25)).unwrap();
    assert_eq!((rolling.max_surge, rolling.max_unavailable), (1, 1));
    let rolling = Rolling::new(3, Amount::Percent(25), Amount::Percent(25)).unwrap();
    assert_eq!((rolling.max_surge, rolling.max_unavailable), (1, 0));
    assert_eq!(Rolling::new(3, Amount::Count(0), Amount::Percent(25)), Err(RollingError::BothZero { desired: 3 }));
    assert_eq!(Rolling::new(0, Amount::Count(1), Amount::Count(1)), Err(RollingError::Empty));
}

#[test]
fn a_rolling_update_of_four_surges_one_and_takes_one_down() {
    let rolling = Rolling::new(4, Amount::Percent(25), Amount::Percent(25)).unwrap();
    let first = rolling.next(old(4), 4);
    assert_eq!(first, Moves { start_new: 2, stop_old_ready: 1, stop_old_unready: 0 });
    // Nothing ready yet: no more moves.
    let now = old(4).after(first);
    assert_eq!(rolling.next(now, 2), Moves::default());
    // Two new ready: two more old go, two more new start.
    let now = Counts { new_ready: 2, ..now };
    assert_eq!(rolling.next(now, 2), Moves { start_new: 2, stop_old_ready: 2, stop_old_unready: 0 });
    assert!(rolling.complete(Counts { old: 0, old_ready: 0, new: 4, new_ready: 4 }));
    assert!(!rolling.complete(Counts { old: 1, old_ready: 1, new: 4, new_ready: 4 }));
}

#[test]
fn a_version_that_never_gets_ready_stalls_the_rollout() {
    let rolling = Rolling::new(4, Amount::Percent(25), Amount::Percent(25)).unwrap();
    let mut now = old(4);
    for _ in 0..10 {
        now = now.after(rolling.next(now, 8));
    }
    assert_eq!(now, Counts { old: 3, old_ready: 3, new: 2, new_ready: 0 });
    assert!(!rolling.complete(now));
}

#[test]
fn unready_old_instances_go_first() {
    let rolling = Rolling::new(4, Amount::Count(1), Amount::Count(0)).unwrap();
    let now = Counts { old: 4, old_ready: 3, new: 0, new_ready: 0 };
    assert_eq!(rolling.next(now, 4), Moves { start_new: 2, stop_old_ready: 0, stop_old_unready: 1 });
}

#[test]
fn canary_weights_are_instance_counts() {
    let canary = Canary::new(4, vec![25, 50]).unwrap();
    assert_eq!(canary.weights, vec![25, 50, 100]);
    assert_eq!(canary.target(0), Target { new: 1, old: 3 });
    assert_eq!(canary.target(1), Target { new: 2, old: 2 });
    assert_eq!(canary.target(2), Target { new: 4, old: 0 });
    assert_eq!(Canary::new(4, vec![10]).unwrap().target(0), Target { new: 1, old: 3 });
    assert_eq!(Canary::new(4, vec![50, 50]), Err(CanaryError::Weight { index: 1, weight: 50 }));
    assert_eq!(Canary::new(4, vec![]), Err(CanaryError::NoSteps));
    assert_eq!(Canary::new(4, vec![120]), Err(CanaryError::Weight { index: 0, weight: 120 }));
}

#[test]
fn a_canary_stops_stable_instances_only_once_its_own_are_ready() {
    let canary = Canary::new(4, vec![25]).unwrap();
    let target = canary.target(0);
    let moves = canary.next(target, old(4), 2);
    assert_eq!(moves, Moves { start_new: 1, stop_old_ready: 0, stop_old_unready: 0 });
    let now = old(4).after(moves);
    assert!(!Canary::reached(target, now));
    let now = Counts { new_ready: 1, ..now };
    assert_eq!(canary.next(target, now, 1), Moves { start_new: 0, stop_old_ready: 1, stop_old_unready: 0 });
    assert!(Canary::reached(target, Counts { old: 3, old_ready: 3, new: 1, new_ready: 1 }));
}

fn config(failures: u32) -> AnalysisConfig {
    AnalysisConfig { max_error_rate: Some(0.05), max_p99: Some(Duration::from_millis(200)), failures, min_requests: 5 }
}

#[test]
fn windows_are_judged_on_errors_then_latency() {
    let analysis = Analysis::new(config(2));
    let ms = |v: u64| v * 1_000_000;
    assert_eq!(analysis.judge(&Window::of(vec![ms(10); 100], 1)), Verdict::Pass);
    let bad = Window::of(vec![ms(10); 100], 31);
    assert_eq!(analysis.judge(&bad), Verdict::Fail(Breach::ErrorRate { rate: 0.31, max: 0.05 }));
    assert_eq!(Breach::ErrorRate { rate: 0.31, max: 0.05 }.to_string(), "error rate 0.31 > 0.05");
    let mut slow = vec![ms(10); 98];
    slow.extend([ms(300), ms(400)]);
    let slow = Window::of(slow, 0);
    assert_eq!(slow.p99, Some(Duration::from_millis(300)));
    let breach = Breach::Latency { p99: Duration::from_millis(300), max: Duration::from_millis(200) };
    assert_eq!(analysis.judge(&slow), Verdict::Fail(breach));
    assert_eq!(breach.to_string(), "p99 300ms > 200ms");
    assert_eq!(analysis.judge(&Window::of(vec![ms(1); 4], 4)), Verdict::Inconclusive);
}

#[test]
fn the_failure_limit_counts_failed_measurements_in_all() {
    let mut analysis = Analysis::new(config(2));
    let bad = Window::of(vec![1; 10], 5);
    let good = Window::of(vec![1; 10], 0);
    assert!(matches!(analysis.measure(&bad), Outcome::Continue(Verdict::Fail(_))));
    assert_eq!(analysis.measure(&good), Outcome::Continue(Verdict::Pass));
    assert!(matches!(analysis.measure(&bad), Outcome::Abort(Breach::ErrorRate { .. })));
}

fn counts() -> impl Strategy<Value = (u32, Counts)> {
    (1u32..12).prop_flat_map(|desired| {
        (0..=desired * 2, 0..=desired * 2)
            .prop_flat_map(move |(o, n)| (Just(desired), Just(o), 0..=o, Just(n), 0..=n))
            .prop_map(|(d, old, old_ready, new, new_ready)| (d, Counts { old, old_ready, new, new_ready }))
    })
}

proptest! {
    /// From any counts within the surge bound, the moves keep the total within it, leave at
    /// least `min(ready, desired - max_unavailable)` ready, and never stop more than exist.
    #[test]
    fn rolling_moves_keep_the_bounds(
        (desired, now) in counts(), surge in 0u32..100, unavailable in 0u32..100, free in 0u32..20,
    ) {
        let Ok(rolling) = Rolling::new(desired, Amount::Percent(surge), Amount::Percent(unavailable)) else {
            return Ok(());
        };
        prop_assume!(now.total() <= rolling.max_total());
        let moves = rolling.next(now, free);
        prop_assert!(moves.stop_old_ready <= now.old_ready);
        prop_assert!(moves.stop_old_ready + moves.stop_old_unready <= now.old);
        prop_assert!(moves.start_new <= free);
        let after = now.after(moves);
        prop_assert!(after.total() <= rolling.max_total(), "{now:?} -> {after:?}");
        prop_assert!(after.ready() >= now.ready().min(rolling.min_available()), "{now:?} -> {after:?}");
        prop_assert!(after.new <= desired.max(now.new));
    }

    /// With every started instance getting ready, a rolling update completes.
    #[test]
    fn a_healthy_rolling_update_completes(desired in 1u32..12, surge in 0u32..100, unavailable in 0u32..100) {
        let Ok(rolling) = Rolling::new(desired, Amount::Percent(surge), Amount::Percent(unavailable)) else {
            return Ok(());
        };
        let mut now = old(desired);
        for _ in 0..(desired * 4 + 4) {
            let after = now.after(rolling.next(now, rolling.max_total()));
            now = Counts { new_ready: after.new, ..after };
        }
        prop_assert!(rolling.complete(now), "{now:?}");
    }

    /// A canary step never leaves fewer ready than `desired` (when all were) and never
    /// starts beyond its target.
    #[test]
    fn canary_moves_keep_the_pool_ready(desired in 1u32..12, weight in 1u32..=100, new_ready in 0u32..12) {
        let canary = Canary::new(desired, vec![weight]).unwrap();
        let target = canary.target(0);
        let start = old(desired);
        let moves = canary.next(target, start, desired * 2);
        let after = start.after(moves);
        prop_assert_eq!(after.new, target.new);
        let ready = Counts { new_ready: new_ready.min(after.new), ..after };
        let after = ready.after(canary.next(target, ready, 0));
        prop_assert!(after.ready() >= desired.min(ready.ready()), "{ready:?} -> {after:?}");
    }

    /// Whatever passes in between, `failures` failing measurements always abort.
    #[test]
    fn a_failing_analysis_always_aborts(failures in 1u32..6, passes in proptest::collection::vec(0usize..4, 1..6)) {
        let mut analysis = Analysis::new(config(failures));
        let bad = Window::of(vec![1; 20], 10);
        let good = Window::of(vec![1; 20], 0);
        let mut aborted = false;
        for i in 0..failures as usize {
            for _ in 0..passes[i % passes.len()] {
                prop_assert!(matches!(analysis.measure(&good), Outcome::Continue(Verdict::Pass)));
            }
            aborted = matches!(analysis.measure(&bad), Outcome::Abort(_));
            prop_assert_eq!(aborted, i + 1 == failures as usize);
        }
        prop_assert!(aborted);
    }
}
