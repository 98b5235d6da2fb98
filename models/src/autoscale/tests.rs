//! The HPA held to its formula: hand-computed recommendations, the tolerance band, not-ready
//! instances, stabilisation, rate limits and bounds; then properties over random inputs.

use super::*;
use proptest::prelude::*;

const S: Duration = Duration::from_secs(1);

fn config(min: u32, max: u32, target: f64) -> HpaConfig {
    HpaConfig { min, max, target, ..HpaConfig::default() }
}

fn obs(ready: &[f64], not_ready: u32) -> Observation<'_> {
    Observation { ready, not_ready }
}

/// The raw recommendation for `current` instances at target 0.5.
fn check(current: u32, ready: &[f64], not_ready: u32, expected: u32) {
    let (got, _) = recommend(&config(1, 100, 0.5), current, obs(ready, not_ready));
    assert_eq!(got, expected, "current {current}, ready {ready:?}, not ready {not_ready}");
}

#[test]
fn the_recommendation_is_ceil_of_current_times_metric_over_target() {
    // 2 at 90% for a 50% target: ceil(2 * 0.9 / 0.5) = ceil(3.6) = 4.
    check(2, &[0.9, 0.9], 0, 4);
    // 3 at a mean of 80%: ceil(3 * 1.6) = ceil(4.8) = 5.
    check(3, &[0.7, 0.8, 0.9], 0, 5);
    // 4 at 20%: ceil(4 * 0.4) = ceil(1.6) = 2.
    check(4, &[0.2, 0.2, 0.2, 0.2], 0, 2);
    // Exactly twice the target: 2 * 2 = 4, not 5 (no rounding past a whole number).
    check(2, &[1.0, 1.0], 0, 4);
    // 10 at 6%: ceil(10 * 0.12) = 2.
    check(10, &[0.06; 10], 0, 2);
}

#[test]
fn within_the_tolerance_nothing_changes() {
    // Ratios 1.1 and 0.9 are on the band's edges: kept.
    check(4, &[0.55; 4], 0, 4);
    check(4, &[0.45; 4], 0, 4);
    check(4, &[0.54, 0.56, 0.55, 0.55], 0, 4);
    // Just past the edges: 4 * 1.12 = 4.48 -> 5; 4 * 0.88 = 3.52 -> 4 (ceil keeps 4).
    check(4, &[0.56; 4], 0, 5);
    check(5, &[0.44; 5], 0, 5);
    check(5, &[0.4; 5], 0, 4);
}

#[test]
fn not_ready_instances_count_as_zero_on_a_scale_up_and_are_ignored_on_a_scale_down() {
    // 2 ready at 100%, 2 starting: (2 * 1.0) / 4 = 0.5 per instance = the target: no change.
    check(4, &[1.0, 1.0], 2, 4);
    // 2 ready at 150%, 2 starting: 3.0 / 4 / 0.5 = 1.5 -> ceil(1.5 * 4) = 6.
    check(4, &[1.5, 1.5], 2, 6);
    // Diluted below the target (a direction reversal): no change.
    check(6, &[0.8, 0.8], 4, 6);
    // A scale-down ignores the starting ones: 2 ready at 10% -> ceil(2 * 0.2) = 1.
    check(5, &[0.1, 0.1], 3, 1);
}

#[test]
fn no_ready_instance_means_no_recommendation() {
    let (got, ratio) = recommend(&config(1, 10, 0.5), 3, obs(&[], 3));
    assert_eq!(got, 3);
    assert_eq!(ratio, None);
}

#[test]
fn a_scale_down_takes_the_highest_recommendation_of_the_window() {
    let mut hpa = Hpa::new(config(1, 20, 0.5)).unwrap();
    // At 0 s: 4 instances at 100% -> 8 (a doubling, within the limit).
    assert_eq!(hpa.decide(Duration::ZERO, 4, obs(&[1.0; 4], 0)).desired, 8);
    // Then the load falls: each period recommends fewer, but 8 stays the window's highest.
    for (i, metric) in [0.2, 0.1, 0.1].into_iter().enumerate() {
        let at = 15 * S * (i as u32 + 1);
        let decision = hpa.decide(at, 8, obs(&[metric; 8], 0));
        assert!(decision.recommended < 8, "the raw recommendation falls: {decision:?}");
        assert_eq!(decision.desired, 8, "stabilised at {at:?}");
    }
    // 300 s after the recommendation of 8, the highest left is 4 (8 at 20%: ceil(3.2)).
    let later = hpa.decide(301 * S, 8, obs(&[0.1; 8], 0));
    assert_eq!(later.recommended, 2);
    assert_eq!(later.desired, 4, "the highest of the last 300 s: {later:?}");
}

#[test]
fn without_a_window_a_scale_down_follows_the_newest_recommendation() {
    let mut hpa = Hpa::new(HpaConfig { down_window: Duration::ZERO, ..config(1, 20, 0.5) }).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 4, obs(&[1.0; 4], 0)).desired, 8);
    assert_eq!(hpa.decide(15 * S, 8, obs(&[0.1; 8], 0)).desired, 2);
}

#[test]
fn a_scale_up_is_limited_to_double_or_four_more_per_period() {
    let mut hpa = Hpa::new(config(1, 100, 0.1)).unwrap();
    // 1 at 100% of a 10% target wants 10; +4 beats doubling: 5.
    assert_eq!(hpa.decide(Duration::ZERO, 1, obs(&[1.0], 0)).desired, 5);
    // 10 at 100% wants 100; doubling beats +4: 20.
    let mut hpa = Hpa::new(config(1, 100, 0.1)).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 10, obs(&[1.0; 10], 0)).desired, 20);
    // Within the same policy period, a second step counts from the period's start (1): 5 at most.
    let mut hpa = Hpa::new(config(1, 100, 0.1)).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 1, obs(&[1.0], 0)).desired, 5);
    assert_eq!(hpa.decide(5 * S, 5, obs(&[1.0; 5], 0)).desired, 5);
    // A period later, from 5: max(10, 9) = 10.
    assert_eq!(hpa.decide(15 * S, 5, obs(&[1.0; 5], 0)).desired, 10);
}

#[test]
fn the_policies_are_configurable() {
    let slow = HpaConfig { up_percent: 0, up_pods: 1, ..config(1, 100, 0.1) };
    let mut hpa = Hpa::new(slow).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 10, obs(&[1.0; 10], 0)).desired, 11);
    let halving = HpaConfig { down_percent: 50, down_window: Duration::ZERO, ..config(1, 100, 0.5) };
    let mut hpa = Hpa::new(halving).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 10, obs(&[0.01; 10], 0)).desired, 5);
}

#[test]
fn min_and_max_bound_the_result() {
    let mut hpa = Hpa::new(config(2, 6, 0.5)).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 4, obs(&[1.0; 4], 0)).desired, 6);
    let mut hpa = Hpa::new(HpaConfig { down_window: Duration::ZERO, ..config(2, 6, 0.5) }).unwrap();
    assert_eq!(hpa.decide(Duration::ZERO, 4, obs(&[0.0; 4], 0)).desired, 2);
}

#[test]
fn bad_settings_are_refused() {
    assert_eq!(Hpa::new(config(0, 3, 0.5)).unwrap_err(), HpaError::Bounds { min: 0, max: 3 });
    assert_eq!(Hpa::new(config(4, 3, 0.5)).unwrap_err(), HpaError::Bounds { min: 4, max: 3 });
    assert!(matches!(Hpa::new(config(1, 3, 0.0)), Err(HpaError::Target(_))));
    assert!(matches!(Hpa::new(config(1, 3, f64::NAN)), Err(HpaError::Target(_))));
    let tolerance = HpaConfig { tolerance: 1.0, ..config(1, 3, 0.5) };
    assert!(matches!(Hpa::new(tolerance), Err(HpaError::Tolerance(_))));
    let frozen = HpaConfig { up_percent: 0, up_pods: 0, ..config(1, 3, 0.5) };
    assert_eq!(Hpa::new(frozen).unwrap_err(), HpaError::NoGrowth);
    let down = HpaConfig { down_percent: 0, ..config(1, 3, 0.5) };
    assert_eq!(Hpa::new(down).unwrap_err(), HpaError::DownPercent(0));
}

#[test]
fn metric_names_are_stable() {
    assert_eq!([Metric::Cpu, Metric::RequestRate, Metric::QueueDepth].map(Metric::name), ["cpu", "requests", "queue"]);
}

fn arb_config() -> impl Strategy<Value = HpaConfig> {
    (1u32..5, 0u32..10, 0.05f64..2.0, 0.0f64..0.3, 0u64..400, 0u32..200, 0u32..6, 1u32..=100).prop_map(
        |(min, span, target, tolerance, window_s, up_percent, up_pods, down_percent)| HpaConfig {
            min,
            max: min + span,
            target,
            tolerance,
            down_window: Duration::from_secs(window_s),
            up_window: Duration::ZERO,
            policy_period: Duration::from_secs(15),
            up_percent,
            up_pods: if up_percent == 0 { up_pods.max(1) } else { up_pods },
            down_percent,
        },
    )
}

/// A run of periods: (metric per instance as a multiple of the target, instances not ready).
fn arb_periods() -> impl Strategy<Value = Vec<(Vec<f64>, u32)>> {
    prop::collection::vec((prop::collection::vec(0.0f64..4.0, 30), 0u32..4), 1..30)
}

/// The metrics of the ready ones among `current` instances, `not_ready` of them starting.
fn ready_of(metrics: &[f64], current: u32, not_ready: u32, scale: f64) -> (Vec<f64>, u32) {
    let not_ready = not_ready.min(current);
    let ready = metrics.iter().take((current - not_ready) as usize).map(|m| m * scale).collect();
    (ready, not_ready)
}

proptest! {
    #[test]
    fn never_outside_min_and_max(config in arb_config(), periods in arb_periods()) {
        let mut hpa = Hpa::new(config.clone()).unwrap();
        let mut current = config.min;
        for (i, (multiples, not_ready)) in periods.iter().enumerate() {
            let (ready, not_ready) = ready_of(multiples, current, *not_ready, config.target);
            let decision = hpa.decide(15 * S * i as u32, current, obs(&ready, not_ready));
            prop_assert!(decision.desired >= config.min, "{decision:?}");
            prop_assert!(decision.desired <= config.max, "{decision:?}");
            current = decision.desired;
        }
    }

    #[test]
    fn never_scales_up_when_every_metric_is_under_the_band(
        config in arb_config(),
        periods in prop::collection::vec((prop::collection::vec(0.0f64..0.999, 30), 0u32..4), 1..30),
        start in 0u32..10,
    ) {
        let mut hpa = Hpa::new(config.clone()).unwrap();
        let mut current = (config.min + start).min(config.max);
        for (i, (fractions, not_ready)) in periods.iter().enumerate() {
            let below = config.target * (1.0 - config.tolerance);
            let (ready, not_ready) = ready_of(fractions, current, *not_ready, below);
            let decision = hpa.decide(15 * S * i as u32, current, obs(&ready, not_ready));
            prop_assert!(decision.desired <= current, "scaled up from {current}: {decision:?}");
            current = decision.desired;
        }
    }

    #[test]
    fn never_scales_down_when_every_metric_is_over_the_band(
        config in arb_config(),
        multiples in prop::collection::vec(1.0f64..4.0, 30),
        start in 0u32..10,
    ) {
        let current = (config.min + start).min(config.max);
        let above = config.target * (1.0 + config.tolerance) * 1.0001;
        let (ready, _) = ready_of(&multiples, current, 0, above);
        let decision = Hpa::new(config.clone()).unwrap().decide(Duration::ZERO, current, obs(&ready, 0));
        prop_assert!(decision.desired >= current, "scaled down from {current}: {decision:?}");
    }

    #[test]
    fn a_scale_up_never_passes_the_rate_limit(config in arb_config(), multiple in 1.2f64..20.0, start in 0u32..10) {
        let current = (config.min + start).min(config.max);
        let ready = vec![multiple * config.target; current as usize];
        let decision = Hpa::new(config.clone()).unwrap().decide(Duration::ZERO, current, obs(&ready, 0));
        let by_percent = (u64::from(current) * u64::from(100 + config.up_percent)).div_ceil(100);
        let ceiling = by_percent.max(u64::from(current + config.up_pods));
        prop_assert!(u64::from(decision.desired) <= ceiling.max(u64::from(config.min)), "{decision:?}");
    }

    #[test]
    fn all_ready_matches_the_formula_outside_the_band(
        current in 1u32..50,
        multiple in 0.0f64..5.0,
        target in 0.05f64..2.0,
    ) {
        let config = HpaConfig { min: 1, max: 10_000, target, ..HpaConfig::default() };
        let ready = vec![multiple * target; current as usize];
        let (got, _) = recommend(&config, current, obs(&ready, 0));
        let ratio = multiple;
        if (ratio - 1.0).abs() <= config.tolerance {
            prop_assert_eq!(got, current);
        } else {
            let exact = f64::from(current) * ratio;
            prop_assert!(f64::from(got) >= exact - 1e-6, "{got} below {exact}");
            prop_assert!(f64::from(got) < exact + 1.0, "{got} too far above {exact}");
        }
    }
}
