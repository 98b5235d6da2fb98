//! The deploy controller against a fake world: readiness from the health answers, a rolling
//! deploy's moves, a canary's abort, a blue-green switch and its switch back.

use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

const S: u64 = 1_000_000_000;

/// The fake world: the control calls made, each host's knobs and power, failures and
/// latencies; shared by the control and the readings sides.
#[derive(Default)]
struct World {
    calls: Vec<String>,
    knobs: BTreeMap<(u16, &'static str), u64>,
    up: BTreeMap<u16, bool>,
    gauges: BTreeMap<&'static str, i64>,
    states: Vec<(u64, String)>,
    failed: BTreeMap<u16, u64>,
    latencies: BTreeMap<u16, Vec<u64>>,
}

#[derive(Clone, Default)]
struct Fake(Rc<RefCell<World>>);

impl Control for Fake {
    fn crash(&mut self, host: u16) {
        let mut w = self.0.borrow_mut();
        w.up.insert(host, false);
        w.calls.push(format!("crash {host}"));
    }
    fn restart(&mut self, host: u16) {
        let mut w = self.0.borrow_mut();
        w.up.insert(host, true);
        w.calls.push(format!("restart {host}"));
    }
    fn endpoint(&mut self, lb: u16, place: u8, member: bool) {
        self.0.borrow_mut().calls.push(format!("endpoint {lb} #{place} {}", if member { "in" } else { "out" }));
    }
    fn cut(&mut self, _: u16, _: u16, _: bool) {}
    fn heal(&mut self, _: u16, _: u16, _: bool) {}
    fn set_link(&mut self, _: u16, _: u16, _: crate::world::shared::LinkSetting) {}
    fn restore_link(&mut self, _: u16, _: u16) {}
    fn turn_knob(&mut self, host: u16, knob: Knob, value: u64, _: u64) {
        self.0.borrow_mut().knobs.insert((host, knob.name()), value);
    }
    fn bump_knob(&mut self, _: u16, _: Knob) {}
    fn shard(&mut self, _: u16, _: u16, _: bool) {}
    fn skew_clock(&mut self, _: u16, _: i64, _: i64) {}
    fn start_burst(&mut self, _: u16, _: u32, _: u64) {}
}

impl Publish for Fake {
    fn gauge(&mut self, _: u64, _: u16, name: &'static str, value: i64) {
        self.0.borrow_mut().gauges.insert(name, value);
    }
    fn state(&mut self, t_ns: u64, _: u16, key: &'static str, value: String) {
        if key == state::DEPLOY {
            self.0.borrow_mut().states.push((t_ns, value));
        }
    }
}

/// What the apps would answer: up and not failing their health by the version's knob.
impl Observe for Fake {
    fn health(&self, host: u16) -> bool {
        let w = self.0.borrow();
        w.up.get(&host).copied().unwrap_or(true) && w.knobs.get(&(host, "fail_health")).copied().unwrap_or(0) == 0
    }
    fn failed(&self, host: u16) -> u64 {
        self.0.borrow().failed.get(&host).copied().unwrap_or(0)
    }
    fn take_latencies(&mut self, host: u16) -> Vec<u64> {
        self.0.borrow_mut().latencies.remove(&host).unwrap_or_default()
    }
}

/// A pool of hosts 1..=6 behind balancer 0 at places 0..=5: 4 replicas, deploy at 10 s, probe
/// and decide every second, drain 2 s, deadline 10 s.
fn plan(strategy: StrategyPlan, version: VersionPlan, analysis: Option<AnalysisPlan>) -> DeployPlan {
    DeployPlan {
        instances: vec![1, 2, 3, 4, 5, 6],
        endpoints: vec![Endpoint { balancer: 0, places: (0..6).map(Some).collect() }],
        home: 0,
        desired: 4,
        at_ns: 10 * S,
        version,
        strategy,
        probe_ns: S,
        drain_ns: 2 * S,
        progress_deadline_ns: 10 * S,
        analysis,
    }
}

fn version(fail_health: bool, fail_requests: u32) -> VersionPlan {
    VersionPlan { name: "v2".into(), fail_health, fail_requests, slowdown: 0 }
}

fn rolling_plan(version: VersionPlan, rollback: bool) -> DeployPlan {
    plan(StrategyPlan::Rolling { max_surge: 1, max_unavailable: 1, rollback }, version, None)
}

fn analysis() -> Option<AnalysisPlan> {
    Some(AnalysisPlan {
        max_error_rate: Some(0.05),
        max_p99_ns: None,
        interval_ns: 2 * S,
        failures: 2,
        min_requests: 5,
    })
}

/// Runs `plan` from 0 to `end_s`, one step every 100 ms, the new version's instances failing
/// `fail_percent` of 100 requests a second; the states recorded, the most instances running
/// at once, and the deployer.
fn run(plan: DeployPlan, end_s: u64, fail_percent: u64) -> (Vec<(u64, String)>, u32, Deployer, Fake) {
    let fake = Fake::default();
    let mut deployer = Deployer::new(plan);
    deployer.start(&mut fake.clone(), &mut fake.clone());
    let mut most = 0;
    for t in 0..=end_s * 10 {
        let now_ns = t * S / 10;
        if t % 10 == 0 {
            let mut w = fake.0.borrow_mut();
            for (i, &ver) in deployer.versions.iter().enumerate() {
                let host = deployer.life.host(i);
                if ver == Ver::New && deployer.life.phase(i) == Phase::Ready {
                    *w.failed.entry(host).or_default() += fail_percent;
                    w.latencies.entry(host).or_default().extend([1_000_000; 100]);
                }
            }
        }
        deployer.step(now_ns, &mut fake.clone(), &mut fake.clone());
        most = most.max(deployer.life.count(|p| !matches!(p, Phase::Stopped | Phase::Draining { .. })));
    }
    let states = fake.0.borrow().states.clone();
    (states, most, deployer, fake)
}

fn texts(states: &[(u64, String)]) -> Vec<&str> {
    states.iter().map(|(_, s)| s.as_str()).collect()
}

#[test]
fn a_healthy_rolling_deploy_completes_within_its_bounds() {
    let (states, most, deployer, _) = run(rolling_plan(version(false, 0), false), 40, 0);
    assert_eq!(texts(&states), ["start v2 rolling drain_s=2 version=ok", "complete"]);
    assert!(most <= 5, "at most replicas + max_surge running: {most}");
    assert!(deployer.versions.iter().filter(|&&v| v == Ver::New).count() >= 4);
    assert_eq!(deployer.life.count(|p| p == Phase::Ready), 4);
}

#[test]
fn a_version_failing_health_halts_at_the_deadline_with_the_old_serving() {
    let (states, _, deployer, fake) = run(rolling_plan(version(true, 0), false), 40, 0);
    assert_eq!(texts(&states), ["start v2 rolling drain_s=2 version=bad(fail_health)", "halted: progress deadline"]);
    let (t, _) = states[1];
    assert!((20 * S..=22 * S).contains(&t), "halted at {t}");
    // Three old instances ready (one was taken down, as max_unavailable allows); none new.
    let ready: Vec<Ver> =
        (0..6).filter(|&i| deployer.life.phase(i) == Phase::Ready).map(|i| deployer.versions[i]).collect();
    assert_eq!(ready, [Ver::Stable; 3]);
    assert!(!fake.0.borrow().calls.iter().any(|c| c == "endpoint 0 #4 in"), "a failing instance never joins");
}

#[test]
fn automatic_rollback_restores_the_stable_version() {
    let (states, _, deployer, _) = run(rolling_plan(version(true, 0), true), 60, 0);
    assert_eq!(
        texts(&states),
        ["start v2 rolling drain_s=2 version=bad(fail_health)", "deadline: rolling back", "rolled back"]
    );
    let ready: Vec<Ver> =
        (0..6).filter(|&i| deployer.life.phase(i) == Phase::Ready).map(|i| deployer.versions[i]).collect();
    assert_eq!(ready, [Ver::Stable; 4]);
}

#[test]
fn a_canary_failing_requests_is_aborted_by_its_analysis() {
    let strategy = StrategyPlan::Canary { weights: vec![25, 50, 100], pauses_ns: vec![20 * S, 20 * S, 0] };
    let (states, _, deployer, _) = run(plan(strategy, version(false, 30), analysis()), 60, 30);
    let texts = texts(&states);
    assert_eq!(
        texts,
        [
            "start v2 canary drain_s=2 version=bad(fail_requests=30)",
            "analysis failed: error rate 0.30 > 0.05 (1/2)",
            "step 1/3 weight 25%",
            "analysis failed: error rate 0.30 > 0.05 (2/2)",
            "aborted: error rate 0.30 > 0.05"
        ]
    );
    let ready: Vec<Ver> =
        (0..6).filter(|&i| deployer.life.phase(i) == Phase::Ready).map(|i| deployer.versions[i]).collect();
    assert_eq!(ready, [Ver::Stable; 4], "all traffic back on the stable version");
}

#[test]
fn a_healthy_canary_walks_its_steps() {
    let strategy = StrategyPlan::Canary { weights: vec![25, 50, 100], pauses_ns: vec![3 * S, 3 * S, 0] };
    let (states, most, _, _) = run(plan(strategy, version(false, 0), analysis()), 60, 0);
    let texts = texts(&states);
    assert_eq!(
        texts,
        [
            "start v2 canary drain_s=2 version=ok",
            "step 1/3 weight 25%",
            "step 2/3 weight 50%",
            "step 3/3 weight 100%",
            "complete"
        ]
    );
    assert!(most <= 6);
}

#[test]
fn blue_green_switches_and_switches_back_on_a_failing_analysis() {
    let strategy = StrategyPlan::BlueGreen { scale_down_delay_ns: 30 * S };
    let plan = |version| DeployPlan { desired: 3, ..plan(strategy.clone(), version, analysis()) };
    let (states, _, deployer, _) = run(plan(version(false, 30)), 60, 30);
    let texts: Vec<&str> = texts(&states);
    assert_eq!(texts[..2], ["start v2 blue-green drain_s=2 version=bad(fail_requests=30)", "switch"]);
    assert_eq!(texts.last(), Some(&"rolled back: error rate 0.30 > 0.05"));
    let ready: Vec<Ver> =
        (0..6).filter(|&i| deployer.life.phase(i) == Phase::Ready).map(|i| deployer.versions[i]).collect();
    assert_eq!(ready, [Ver::Stable; 3]);
    let (states, _, _, _) = run(plan(version(false, 0)), 60, 0);
    assert_eq!(texts_of(&states), ["start v2 blue-green drain_s=2 version=ok", "switch", "complete"]);
    let (states, _, _, _) = run(plan(version(true, 0)), 60, 0);
    assert_eq!(
        texts_of(&states),
        ["start v2 blue-green drain_s=2 version=bad(fail_health)", "aborted: preview not ready"]
    );
}

fn texts_of(states: &[(u64, String)]) -> Vec<String> {
    states.iter().map(|(_, s)| s.clone()).collect()
}
