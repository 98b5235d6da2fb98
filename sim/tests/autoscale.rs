//! The autoscaling scenarios keep their promises (a ramp absorbed, later and with a higher p99
//! at an 80% target than at 60%, a ramp that outruns a slow autoscaler, thrashing without a
//! stabilisation window), a healthy scale-down drops no
//! request, and a steady load settles the pool where queueing arithmetic puts it.

use crate::util;
use util::{text, variant};

use faultline_sim::scenario::parse_str;

use faultline_chaos::report::Report;
use faultline_chaos::report::autoscale::AutoscaleReport;

fn pool(r: &Report) -> &AutoscaleReport {
    r.autoscale.as_ref().unwrap_or_else(|| panic!("an autoscaling section:\n{}", r.render_text()))
}

/// Seconds from the load step to its absorption (`None`: never absorbed).
fn absorb_s(r: &Report) -> Option<f64> {
    let absorb = pool(r).absorb.as_ref().unwrap_or_else(|| panic!("a load step:\n{}", r.render_text()));
    absorb.absorbed_s.map(|t| t - absorb.step_s)
}

const RAMP: &str = "autoscale-ramp.toml";
const SLOW: &str = "autoscale-slow-start.toml";
const THRASH: &str = "autoscale-thrash.toml";

/// The mean of the window p99s (ms) from `from_s` to `to_s`.
fn mean_p99(r: &Report, from_s: f64, to_s: f64) -> f64 {
    let p99s: Vec<f64> =
        r.windows.iter().filter(|w| w.start_s >= from_s && w.start_s < to_s).map(|w| w.latency.p99_ms).collect();
    p99s.iter().sum::<f64>() / p99s.len().max(1) as f64
}

/// The ramp at the default 60% target, then the same ramp at 80% beside it (one test, so each
/// seed's 60% run is made once).
#[test]
fn a_ramp_is_absorbed_and_an_80_percent_target_absorbs_it_later_with_fewer_hotter_instances() {
    for seed in [1, 2, 3] {
        let at60 = variant(RAMP, &[], seed);
        let p = pool(&at60);
        assert!(at60.passed(), "seed {seed}:\n{}", at60.render_text());
        assert_eq!(p.instances_min, 2, "seed {seed}");
        assert!((5..=7).contains(&p.instances_at_end), "seed {seed}: {p:?}");
        assert_eq!((p.scale_downs, p.flaps), (0, 0), "seed {seed}: {p:?}");
        let step = p.absorb.as_ref().unwrap().step_s;
        assert_eq!(step, 30.0, "the step is at 30 s");
        let took = absorb_s(&at60).expect("absorbed");
        assert!(took <= 20.0, "seed {seed}: absorbed {took} s after the step");
        let last = at60.windows.iter().rev().nth(1).unwrap();
        assert!(last.latency.p99_ms < 250.0, "seed {seed}: p99 at the end {}", last.latency.p99_ms);
        let mean = p.mean_metric.unwrap();
        assert!((40.0..=75.0).contains(&mean), "seed {seed}: mean utilisation {mean}% against 60%");

        let at80 = variant(RAMP, &[("target = 60 ", "target = 80 ")], seed);
        let (p60, p80) = (p, pool(&at80));
        // 600 requests a second over ~190 per instance flat out: 600 / (190 x 0.6) = 5.3 and
        // 600 / (190 x 0.8) = 3.9 instances.
        assert!(p80.instances_at_end < p60.instances_at_end, "seed {seed}: {p80:?} against {p60:?}");
        assert!((4..=5).contains(&p80.instances_at_end), "seed {seed}: {p80:?}");
        let (mean60, mean80) = (p60.mean_metric.unwrap(), p80.mean_metric.unwrap());
        assert!(mean80 > mean60 + 5.0, "seed {seed}: utilisation {mean80}% against {mean60}%");
        // Each decision asks for less at 80%, so the saturated pool grows more slowly: the burn
        // lasts longer and the ramp's windows have a higher p99 (seed 1: absorbed 10 s after the
        // step at 60%, 20 s at 80%; mean window p99 from 30 s to 60 s 313 against 505 ms).
        let took80 = absorb_s(&at80).expect("absorbed");
        assert!(took80 >= took + 5.0, "seed {seed}: absorbed after {took80} s against {took} s");
        let (ramp60, ramp80) = (mean_p99(&at60, 30.0, 60.0), mean_p99(&at80, 30.0, 60.0));
        println!("seed {seed}: absorbed after {took} / {took80} s, ramp p99 {ramp60:.0} / {ramp80:.0} ms");
        assert!(ramp80 > 1.3 * ramp60, "seed {seed}: ramp p99 {ramp80} ms against {ramp60} ms");
    }
}

#[test]
fn a_slow_autoscaler_lets_the_ramp_burn_the_objectives() {
    let r = variant(SLOW, &[], 1);
    let p = pool(&r);
    let failed: Vec<&str> = r.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["p95 latency under 400 ms", "availability at least 95%"], "{}", r.render_text());
    let took = absorb_s(&r).expect("absorbed by the end");
    assert!(took >= 60.0, "capacity arrives after the 60 s start-up: absorbed {took} s after the step");
    // The first scale-up at 45 s, then nothing while the new instances start (counted at 0%).
    assert_eq!((p.events[0].t_s, p.events[0].from, p.events[0].to), (45.0, 2, 4), "{:?}", p.events);
    assert!(p.events[1].t_s >= 105.0, "no scale-up while starting: {:?}", p.events);
    let fast = variant(RAMP, &[], 1);
    assert!(
        r.end_to_end.errors > 5 * fast.end_to_end.errors,
        "{} against {}",
        r.end_to_end.errors,
        fast.end_to_end.errors
    );
}

#[test]
fn without_stabilisation_the_pool_thrashes_and_with_the_default_window_it_does_not() {
    let thrash = variant(THRASH, &[], 1);
    let p = pool(&thrash);
    assert!(p.flaps >= 3, "{p:?}");
    assert!(p.scale_downs >= 2, "{p:?}");
    let stable = variant(THRASH, &[("stabilization = \"0s\"", "stabilization = \"300s\"")], 1);
    let q = pool(&stable);
    assert_eq!((q.flaps, q.scale_downs), (0, 0), "{q:?}");
    assert!(q.instances_at_end >= 4, "{q:?}");
    assert!(
        stable.end_to_end.errors * 2 < thrash.end_to_end.errors,
        "every surge burns again without the window: {} against {}",
        stable.end_to_end.errors,
        thrash.end_to_end.errors
    );
}

#[test]
fn a_healthy_scale_down_drains_and_fails_no_request() {
    // Six instances for 150 requests per second: the pool shrinks to 2, every instance removed
    // leaves the balancer's endpoint set and finishes its requests before it stops.
    let edits = [
        ("min = 2", "min = 2\ninitial = 6"),
        ("stabilization = \"60s\"", "stabilization = \"10s\""),
        ("arrival = { step = { from = 150, to = 600, at = \"30s\" } }", "arrival = { poisson = { rate = 150 } }"),
    ];
    let r = variant(RAMP, &edits, 1);
    let p = pool(&r);
    assert!(p.scale_downs >= 1, "{p:?}");
    assert_eq!((p.instances_max, p.instances_at_end), (6, 2), "{p:?}");
    let e = &r.end_to_end;
    assert!(e.requests > 15_000, "{e:?}");
    assert_eq!((e.errors, e.unreachable, e.timeouts), (0, 0, 0), "{}", r.render_text());
    assert_eq!(e.ok, e.requests);
    let stopped = r.changes.iter().filter(|c| c.what == "instance=stopped" && c.t_s > 0.0).count();
    assert_eq!(stopped, 4, "four instances drained, then stopped");
}

/// Settles the pool under a steady `rate` and returns the instances at the end.
fn settled(rate: u32) -> u32 {
    let arrival = format!("arrival = {{ poisson = {{ rate = {rate} }} }}");
    let edits = [
        ("arrival = { step = { from = 150, to = 600, at = \"30s\" } }", arrival.as_str()),
        ("duration = \"120s\"", "duration = \"150s\""),
    ];
    let r = variant(RAMP, &edits, 1);
    pool(&r).instances_at_end
}

#[test]
fn a_steady_load_settles_at_load_over_capacity_times_target() {
    // Each request holds a worker for its 20 ms of work plus the store's round trip (two 500 us
    // hops and 100 us of the store's time): 21.1 ms. Four workers at the 60% target carry
    // 4 * 0.6 / 0.0211 = 114 requests per second per instance.
    let per_instance = 4.0 * 0.6 / 0.0211;
    for rate in [300u32, 800] {
        let expected = (f64::from(rate) / per_instance).ceil() as i64;
        let got = i64::from(settled(rate));
        assert!((got - expected).abs() <= 1, "{rate} req/s: settled at {got}, expected {expected} within one");
    }
}

#[test]
fn the_plan_carries_the_pool_and_a_bad_pool_is_a_located_error() {
    let scenario = parse_str(RAMP, &text(RAMP)).expect("valid");
    let plan = faultline_sim::compile(&scenario, None);
    let pool = plan.autoscale.as_ref().expect("a pool in the plan");
    assert_eq!((pool.initial, pool.min, pool.max, pool.instances.len()), (2, 2, 10, 10));
    assert_eq!(pool.endpoints.len(), 1, "one balancer lists the pool");
    assert_eq!(pool.endpoints[0].places[9], Some(9));
    let shown = plan.render_text();
    assert!(shown.contains("autoscale: down_percent=100 drain=5s"), "{shown}");
    assert!(shown.contains("instances=[1,2,3,4,5,6,7,8,9,10] max=10 metric=\"cpu\" min=2 period=5s"), "{shown}");
    let bad = text(RAMP).replacen("pool = [\"app1\"", "pool = [\"app0\"", 1);
    let error = parse_str(RAMP, &bad).expect_err("an unknown pool host");
    let lines = error.report_lines().join("\n");
    assert!(lines.contains("autoscale-ramp.toml:"), "{lines}");
    assert!(lines.contains("unknown host \"app0\""), "{lines}");
}

/// The tests that run a world, again on madsim, but for the two ramps (the longest runs; the steady
/// load and the thrash hold the autoscaler's formula and window on madsim).
mod on_madsim {
    crate::util::on_madsim_too! {
        without_stabilisation_the_pool_thrashes_and_with_the_default_window_it_does_not,
        a_healthy_scale_down_drains_and_fails_no_request,
        a_steady_load_settles_at_load_over_capacity_times_target,
    }
}
