//! The autoscaler: a control-plane component that runs in the simulation driver, outside the
//! simulated network (as Kubernetes' controller does), and sizes a pool of app instances with
//! the HPA algorithm of `faultline_models::autoscale`.
//!
//! Each step it integrates what the world already records of its ready instances (the busy
//! worker slots, `inflight - queue`, and the `queue` gauge; the served requests), and each
//! `period` it decides. An instance goes through the phases of `crate::instances` (stopped,
//! starting, ready, draining), each reported as an `instance` state on its host: the pool's
//! instances beyond the initial count start stopped; a started one is ready once `startup` has
//! passed (counted as 0 on a scale-up until then); only ready ones are measured; a drained one
//! stops `drain` later, so its requests in flight finish.
//!
//! A scale-down stops starting instances first, then ready ones, last in the pool's order
//! first; a scale-up starts stopped ones in the pool's order (a draining instance is not
//! reused). The counts are published as the gauges `pool_ready`, `pool_starting` and
//! `pool_metric_milli`, and each decision as an `autoscale` state, on the pool's first balancer.
//!
//! Owns: the plan of a pool, its decisions, and the [`Pool`] readings it needs (the phases are
//! `crate::instances`'s). Must not: act on
//! the world but through `nemesis::Control`, or depend on anything but the seed and the trace
//! (its decisions use the simulated time and gauges only).

pub use crate::instances::Endpoint;
pub(crate) use crate::instances::Phase;
use crate::instances::{InWorld, Instances, Publish};
use crate::nemesis::Control;
use faultline_chaos::vocab::{gauge, state};
use faultline_models::autoscale::{Hpa, HpaConfig, Observation};
use serde::Serialize;
use std::time::Duration;

/// A pool and its autoscaler in the run plan, times in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoscalePlan {
    /// The pool's hosts by index, in the order they are started.
    pub instances: Vec<u16>,
    /// Each instance's worker slots.
    pub workers: Vec<u32>,
    /// The balancers that list pool instances, and where.
    pub endpoints: Vec<Endpoint>,
    /// The host whose gauges and states carry the pool's (its first balancer).
    pub home: u16,
    /// Instances running at the start.
    pub initial: u32,
    /// What is measured.
    pub metric: MetricPlan,
    /// The target per instance in the scenario's unit (percent for cpu), times 1000.
    pub target_milli: u64,
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
    /// The tolerance band around the target.
    pub tolerance: f64,
    /// Time between decisions.
    pub period_ns: u64,
    /// Scale-down stabilisation window.
    pub stabilization_ns: u64,
    /// Scale-up limit: percent more per 15 s ...
    pub up_percent: u32,
    /// ... or instances more, whichever is larger.
    pub up_pods: u32,
    /// Scale-down limit: percent fewer per 15 s.
    pub down_percent: u32,
    /// From start to ready.
    pub startup_ns: u64,
    /// From leaving the endpoint sets to stopping.
    pub drain_ns: u64,
}

/// What the autoscaler measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricPlan {
    /// Busy worker slots over slots, percent.
    Cpu,
    /// Requests served per second.
    Requests,
    /// Requests waiting for a worker.
    Queue,
}

impl MetricPlan {
    fn name(self) -> &'static str {
        match self {
            MetricPlan::Cpu => "cpu",
            MetricPlan::Requests => "requests",
            MetricPlan::Queue => "queue",
        }
    }
}

impl AutoscalePlan {
    /// The algorithm's settings (the target in the algorithm's unit: a fraction for cpu).
    pub fn hpa(&self) -> HpaConfig {
        let target = self.target_milli as f64 / 1000.0;
        HpaConfig {
            min: self.min,
            max: self.max,
            target: if self.metric == MetricPlan::Cpu { target / 100.0 } else { target },
            tolerance: self.tolerance,
            down_window: Duration::from_nanos(self.stabilization_ns),
            up_window: Duration::ZERO,
            policy_period: Duration::from_secs(15),
            up_percent: self.up_percent,
            up_pods: self.up_pods,
            down_percent: self.down_percent,
        }
    }
}

/// What the autoscaler reads from the world (and records in it, through [`Publish`]).
pub(crate) trait Pool: Publish {
    /// Requests `host`'s workers are serving now (in a slot, not waiting).
    fn busy(&self, host: u16) -> i64;
    /// Requests waiting for a worker on `host` now.
    fn waiting(&self, host: u16) -> i64;
    /// Requests `host` served since the start.
    fn served(&self, host: u16) -> u64;
}

/// What was measured on one instance since the last decision (or since it was ready).
#[derive(Debug, Clone, Default)]
struct Measure {
    busy_sum: f64,
    waiting_sum: f64,
    steps: u64,
    served_mark: u64,
    mark_ns: u64,
}

/// The autoscaler of one pool.
pub(crate) struct Autoscaler {
    plan: AutoscalePlan,
    hpa: Hpa,
    life: Instances,
    measures: Vec<Measure>,
    next_decision_ns: u64,
}

impl Autoscaler {
    /// The autoscaler of `plan` (validated: its settings are ones the algorithm takes).
    pub(crate) fn new(plan: AutoscalePlan) -> Self {
        let hpa = Hpa::new(plan.hpa()).expect("validated: the autoscaler's settings");
        let life = Instances::new(plan.instances.clone(), plan.endpoints.clone());
        let measures = vec![Measure::default(); plan.instances.len()];
        Self { next_decision_ns: plan.period_ns, plan, hpa, life, measures }
    }

    /// Lays the pool out at time 0: the first `initial` instances ready, the rest stopped and
    /// out of the endpoint sets.
    pub(crate) fn start(&mut self, control: &mut impl Control, pool: &mut impl Pool) {
        let (metric, target) = (self.plan.metric.name(), self.plan.target_milli as f64 / 1000.0);
        let window_s = self.plan.stabilization_ns as f64 / 1e9;
        let target = format!("target:{metric} {target} tolerance={} window_s={window_s}", self.plan.tolerance);
        pool.state(0, self.plan.home, state::AUTOSCALE, target);
        self.life.lay_out(self.plan.initial as usize, control, pool);
        self.publish(0, pool);
    }

    /// One simulation step at `now_ns`: measures, moves instances whose time has come, and
    /// decides when a period is over.
    pub(crate) fn step(&mut self, now_ns: u64, control: &mut impl Control, pool: &mut impl Pool) {
        self.measure(pool);
        self.transitions(now_ns, control, pool);
        if now_ns >= self.next_decision_ns {
            self.next_decision_ns += self.plan.period_ns;
            self.decide(now_ns, control, pool);
            self.transitions(now_ns, control, pool);
        }
    }

    /// The phase of each instance, in the pool's order.
    #[cfg(test)]
    pub(crate) fn phases(&self) -> Vec<Phase> {
        self.life.phases().to_vec()
    }

    fn measure(&mut self, pool: &impl Pool) {
        for (i, instance) in self.measures.iter_mut().enumerate() {
            if self.life.phase(i) != Phase::Ready {
                continue;
            }
            let host = self.plan.instances[i];
            let workers = i64::from(self.plan.workers[i].max(1));
            instance.busy_sum += pool.busy(host).clamp(0, workers) as f64;
            instance.waiting_sum += pool.waiting(host).max(0) as f64;
            instance.steps += 1;
        }
    }

    fn transitions(&mut self, now_ns: u64, control: &mut impl Control, pool: &mut impl Pool) {
        for i in 0..self.life.len() {
            match self.life.phase(i) {
                Phase::Starting { ready_ns } if ready_ns <= now_ns => {
                    self.life.ready(i, now_ns, control, pool);
                    self.mark(i, now_ns, pool);
                }
                Phase::Draining { stop_ns } if stop_ns <= now_ns => self.life.stop(i, false, now_ns, control, pool),
                Phase::Stopped | Phase::Starting { .. } | Phase::Ready | Phase::Draining { .. } => {}
            }
        }
        self.publish(now_ns, pool);
    }

    /// The metric of each ready instance over the period, then a fresh start of the measures.
    fn observe(&mut self, now_ns: u64, pool: &impl Pool) -> Vec<f64> {
        let mut metrics = Vec::new();
        for i in 0..self.life.len() {
            let instance = &self.measures[i];
            if self.life.phase(i) != Phase::Ready {
                continue;
            }
            let host = self.plan.instances[i];
            let steps = instance.steps.max(1) as f64;
            let metric = match self.plan.metric {
                MetricPlan::Cpu => instance.busy_sum / steps / f64::from(self.plan.workers[i].max(1)),
                MetricPlan::Queue => instance.waiting_sum / steps,
                MetricPlan::Requests => {
                    let seconds = now_ns.saturating_sub(instance.mark_ns) as f64 / 1e9;
                    let served = pool.served(host).saturating_sub(instance.served_mark) as f64;
                    if seconds > 0.0 { served / seconds } else { 0.0 }
                }
            };
            metrics.push(metric);
            self.mark(i, now_ns, pool);
        }
        metrics
    }

    fn decide(&mut self, now_ns: u64, control: &mut impl Control, pool: &mut impl Pool) {
        let metrics = self.observe(now_ns, pool);
        let starting = self.life.count(Phase::is_starting);
        let current = starting + self.life.count(|p| p == Phase::Ready);
        let observation = Observation { ready: &metrics, not_ready: starting };
        let decision = self.hpa.decide(Duration::from_nanos(now_ns), current, observation);
        if !metrics.is_empty() {
            let mean = metrics.iter().sum::<f64>() / metrics.len() as f64;
            let shown = if self.plan.metric == MetricPlan::Cpu { mean * 100.0 } else { mean };
            pool.gauge(now_ns, self.plan.home, gauge::POOL_METRIC_MILLI, (shown * 1000.0).round() as i64);
        }
        if decision.desired == current {
            return;
        }
        pool.state(now_ns, self.plan.home, state::AUTOSCALE, format!("scale:{current}->{}", decision.desired));
        if decision.desired > current {
            self.scale_up(decision.desired - current, now_ns, control, pool);
        } else {
            self.scale_down(current - decision.desired, now_ns, control, pool);
        }
    }

    fn scale_up(&mut self, mut more: u32, now_ns: u64, control: &mut impl Control, pool: &mut impl Pool) {
        for i in 0..self.life.len() {
            if more == 0 {
                break;
            }
            if self.life.phase(i) == Phase::Stopped {
                let ready_ns = now_ns.saturating_add(self.plan.startup_ns);
                self.life.start(i, now_ns, ready_ns, control, pool);
                more -= 1;
            }
        }
    }

    fn scale_down(&mut self, mut fewer: u32, now_ns: u64, control: &mut impl Control, pool: &mut impl Pool) {
        for i in (0..self.life.len()).rev() {
            if fewer > 0 && self.life.phase(i).is_starting() {
                self.life.stop(i, false, now_ns, control, pool);
                fewer -= 1;
            }
        }
        for i in (0..self.life.len()).rev() {
            if fewer > 0 && self.life.phase(i) == Phase::Ready {
                let stop_ns = now_ns.saturating_add(self.plan.drain_ns);
                self.life.drain(i, now_ns, stop_ns, control, pool);
                fewer -= 1;
            }
        }
    }

    fn mark(&mut self, i: usize, now_ns: u64, pool: &impl Pool) {
        let served_mark = pool.served(self.plan.instances[i]);
        self.measures[i] = Measure { served_mark, mark_ns: now_ns, ..Measure::default() };
    }

    fn publish(&self, now_ns: u64, pool: &mut impl Pool) {
        let ready = self.life.count(|p| p == Phase::Ready);
        let starting = self.life.count(Phase::is_starting);
        pool.gauge(now_ns, self.plan.home, gauge::POOL_READY, i64::from(ready));
        pool.gauge(now_ns, self.plan.home, gauge::POOL_STARTING, i64::from(starting));
    }
}

/// [`Pool`] over the world's recorder: the gauges the servers publish, the requests they served.
pub(crate) struct WorldPool<'a>(pub(crate) &'a crate::world::shared::Shared);

impl Pool for WorldPool<'_> {
    fn busy(&self, host: u16) -> i64 {
        let recorder = self.0.recorder.borrow();
        recorder.gauge_last(host, gauge::INFLIGHT) - recorder.gauge_last(host, gauge::QUEUE)
    }

    fn waiting(&self, host: u16) -> i64 {
        self.0.recorder.borrow().gauge_last(host, gauge::QUEUE)
    }

    fn served(&self, host: u16) -> u64 {
        self.0.recorder.borrow().served(host)
    }
}

impl InWorld for WorldPool<'_> {
    fn world(&self) -> &crate::world::shared::Shared {
        self.0
    }
}

#[cfg(test)]
#[path = "autoscale_tests.rs"]
mod tests;
