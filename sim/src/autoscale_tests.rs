//! The autoscaler's phases against a fake world: the pool laid out at the start, start-up
//! delay before an instance joins the endpoint sets, draining before it stops.

use super::*;
use faultline_chaos::fault::Knob;
use std::collections::BTreeMap;

const S: u64 = 1_000_000_000;

/// The fake world: the control calls made, and fixed readings.
#[derive(Default)]
struct Fake {
    calls: Vec<String>,
    busy: BTreeMap<u16, i64>,
    gauges: BTreeMap<&'static str, i64>,
    states: Vec<(u64, u16, String)>,
}

/// The control side of the fake: records each call.
struct Calls<'a>(&'a mut Vec<String>);

impl Control for Calls<'_> {
    fn crash(&mut self, host: u16) {
        self.0.push(format!("crash {host}"));
    }
    fn restart(&mut self, host: u16) {
        self.0.push(format!("restart {host}"));
    }
    fn endpoint(&mut self, lb: u16, place: u8, member: bool) {
        self.0.push(format!("endpoint {lb} #{place} {}", if member { "in" } else { "out" }));
    }
    fn cut(&mut self, _: u16, _: u16, _: bool) {}
    fn heal(&mut self, _: u16, _: u16, _: bool) {}
    fn set_link(&mut self, _: u16, _: u16, _: crate::world::shared::LinkSetting) {}
    fn restore_link(&mut self, _: u16, _: u16) {}
    fn turn_knob(&mut self, _: u16, _: Knob, _: u64, _: u64) {}
    fn bump_knob(&mut self, _: u16, _: Knob) {}
    fn shard(&mut self, _: u16, _: u16, _: bool) {}
    fn skew_clock(&mut self, _: u16, _: i64, _: i64) {}
    fn start_burst(&mut self, _: u16, _: u32, _: u64) {}
}

/// The readings side of the fake.
struct Readings<'a> {
    busy: &'a BTreeMap<u16, i64>,
    gauges: &'a mut BTreeMap<&'static str, i64>,
    states: &'a mut Vec<(u64, u16, String)>,
}

impl Pool for Readings<'_> {
    fn busy(&self, host: u16) -> i64 {
        self.busy.get(&host).copied().unwrap_or(0)
    }
    fn waiting(&self, _: u16) -> i64 {
        0
    }
    fn served(&self, _: u16) -> u64 {
        0
    }
}

impl Publish for Readings<'_> {
    fn gauge(&mut self, _: u64, _: u16, name: &'static str, value: i64) {
        self.gauges.insert(name, value);
    }
    fn state(&mut self, t_ns: u64, host: u16, key: &'static str, value: String) {
        self.states.push((t_ns, host, format!("{key}={value}")));
    }
}

impl Fake {
    /// Runs `f` with the fake's two sides.
    fn with(&mut self, f: impl FnOnce(&mut Calls, &mut Readings)) {
        let mut readings = Readings { busy: &self.busy, gauges: &mut self.gauges, states: &mut self.states };
        f(&mut Calls(&mut self.calls), &mut readings);
    }
}

/// A pool of hosts 1, 2, 3 (4 slots each) behind balancer 0 at places 0, 1, 2: 1 running,
/// target 50%, startup 10 s, drain 5 s, no stabilisation.
fn plan() -> AutoscalePlan {
    AutoscalePlan {
        instances: vec![1, 2, 3],
        workers: vec![4, 4, 4],
        endpoints: vec![Endpoint { balancer: 0, places: vec![Some(0), Some(1), Some(2)] }],
        home: 0,
        initial: 1,
        metric: MetricPlan::Cpu,
        target_milli: 50_000,
        min: 1,
        max: 3,
        tolerance: 0.1,
        period_ns: 15 * S,
        stabilization_ns: 0,
        up_percent: 100,
        up_pods: 4,
        down_percent: 100,
        startup_ns: 10 * S,
        drain_ns: 5 * S,
    }
}

/// Steps the autoscaler every second from `from` to `to` seconds (inclusive).
fn run(autoscaler: &mut Autoscaler, fake: &mut Fake, from: u64, to: u64) {
    for t in from..=to {
        fake.with(|control, pool| autoscaler.step(t * S, control, pool));
    }
}

fn started(plan: AutoscalePlan) -> (Autoscaler, Fake) {
    let mut autoscaler = Autoscaler::new(plan);
    let mut fake = Fake::default();
    fake.with(|control, pool| autoscaler.start(control, pool));
    (autoscaler, fake)
}

#[test]
fn the_pool_starts_with_the_initial_instances_and_the_rest_stopped_and_out() {
    let (autoscaler, fake) = started(plan());
    assert_eq!(autoscaler.phases(), [Phase::Ready, Phase::Stopped, Phase::Stopped]);
    assert_eq!(fake.calls, ["endpoint 0 #1 out", "crash 2", "endpoint 0 #2 out", "crash 3"]);
    assert_eq!(fake.gauges[gauge::POOL_READY], 1);
    assert_eq!(fake.states[0], (0, 0, "autoscale=target:cpu 50 tolerance=0.1 window_s=0".to_string()));
}

#[test]
fn a_started_instance_joins_the_endpoints_only_after_the_startup_delay() {
    let (mut autoscaler, mut fake) = started(plan());
    fake.calls.clear();
    fake.busy.insert(1, 4); // 100% of its slots: twice the target
    run(&mut autoscaler, &mut fake, 1, 15);
    assert_eq!(autoscaler.phases(), [Phase::Ready, Phase::Starting { ready_ns: 25 * S }, Phase::Stopped]);
    assert_eq!(fake.calls, ["restart 2"], "started, not yet in the endpoint set");
    assert_eq!(fake.gauges[gauge::POOL_STARTING], 1);
    assert_eq!(fake.gauges[gauge::POOL_METRIC_MILLI], 100_000, "100% busy");
    assert!(fake.states.iter().any(|s| s == &(15 * S, 0, "autoscale=scale:1->2".to_string())));
    run(&mut autoscaler, &mut fake, 16, 24);
    assert_eq!(fake.calls, ["restart 2"], "still starting at 24 s");
    run(&mut autoscaler, &mut fake, 25, 25);
    assert_eq!(fake.calls, ["restart 2", "endpoint 0 #1 in"]);
    assert_eq!(autoscaler.phases()[1], Phase::Ready);
}

#[test]
fn a_scaled_down_instance_leaves_the_endpoints_then_stops_after_the_drain() {
    let (mut autoscaler, mut fake) = started(AutoscalePlan { initial: 3, ..plan() });
    fake.calls.clear();
    run(&mut autoscaler, &mut fake, 1, 15); // idle: down to the minimum, 1
    assert_eq!(
        autoscaler.phases(),
        [Phase::Ready, Phase::Draining { stop_ns: 20 * S }, Phase::Draining { stop_ns: 20 * S }]
    );
    assert_eq!(fake.calls, ["endpoint 0 #2 out", "endpoint 0 #1 out"], "out of the endpoints, still running");
    run(&mut autoscaler, &mut fake, 16, 19);
    assert_eq!(fake.calls.len(), 2, "nothing stops before the drain is over");
    run(&mut autoscaler, &mut fake, 20, 20);
    assert_eq!(fake.calls[2..], ["crash 2", "crash 3"]);
    assert_eq!(autoscaler.phases(), [Phase::Ready, Phase::Stopped, Phase::Stopped]);
    assert_eq!(fake.gauges[gauge::POOL_READY], 1);
}

#[test]
fn a_scale_down_stops_a_starting_instance_at_once() {
    let (mut autoscaler, mut fake) = started(AutoscalePlan { startup_ns: 60 * S, ..plan() });
    fake.busy.insert(1, 4);
    run(&mut autoscaler, &mut fake, 1, 15);
    assert!(matches!(autoscaler.phases()[1], Phase::Starting { .. }));
    fake.busy.insert(1, 0);
    fake.calls.clear();
    run(&mut autoscaler, &mut fake, 16, 30);
    assert_eq!(fake.calls, ["crash 2"], "never in the endpoints: nothing to drain");
    assert_eq!(autoscaler.phases(), [Phase::Ready, Phase::Stopped, Phase::Stopped]);
}
