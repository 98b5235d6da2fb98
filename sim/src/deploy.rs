//! The deploy controller: a control-plane component in the simulation driver (outside the
//! simulated network, as Kubernetes' and Argo Rollouts' controllers are) that replaces the
//! version a pool of app instances runs, rolling, as a canary or blue-green, with the pure
//! decisions of `faultline_models::deploy`.
//!
//! Versions: a version is the knob values an instance gets when it starts (`FailHealth`: its
//! `/health` answers 503; `FailRequests`: a percent of its other requests fail; `Slowdown`: its
//! service is slower); starting an instance on the stable version clears them.
//!
//! Readiness is observed, not assumed: the probe is the app's own health answer. The app
//! publishes each `/health` answer as its `health` gauge (1 passed, 0 failed; a crash zeroes it),
//! and every `probe` the controller reads it for each running instance: a starting instance
//! whose last answer passed joins the endpoint sets (ready); a ready one whose last answer
//! failed leaves them (not ready). The balancers' active health checks are what ask the app, as
//! a kubelet's probe would on the node; a deploy's balancers must have them (the scenario
//! checks). The instances' lifecycle (phases, endpoints, crash / restart) is
//! `crate::instances`'s, shared with the autoscaler.
//!
//! Decisions are taken at each probe: rolling (`max_surge`, `max_unavailable`; a progress
//! deadline after which the rollout halts or, with automatic rollback, rolls back), canary
//! (steps of weights as instance counts, a pause each, an analysis every `interval` over what
//! the new instances served: error rate and p99 from the recorder's served requests) and
//! blue-green (preview instances on the spare hosts, one switch of every endpoint set once all
//! are ready, the old ones kept `scale_down_delay`, an analysis after the switch that switches
//! back). Progress is published on the pool's home host (its first balancer): the gauges
//! `deploy_new_ready`, `deploy_old_ready` and the `deploy` state (see `vocab::state::DEPLOY`).
//!
//! Owns: the plan of a deploy and its stages. Must not: act on the world but through
//! `nemesis::Control`, or read anything but the simulated time and what the world records.

use crate::instances::{Endpoint, InWorld, Instances, Phase, Publish};
use crate::nemesis::Control;
use faultline_chaos::vocab::{Knob, gauge, state};
use faultline_models::deploy::analysis::{Analysis, AnalysisConfig, Outcome, Verdict, Window};
use faultline_models::deploy::canary::Canary;
use faultline_models::deploy::rolling::Rolling;
use faultline_models::deploy::{Amount, Counts, Moves};
use serde::Serialize;
use std::time::Duration;

#[path = "deploy_run.rs"]
mod run;

/// A deploy in the run plan, times in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployPlan {
    /// The pool's hosts by index: the first `desired` run the stable version from the start, the
    /// rest start stopped (surge, canary or preview capacity).
    pub instances: Vec<u16>,
    /// The balancers that list pool instances, and where.
    pub endpoints: Vec<Endpoint>,
    /// The host whose gauges and states carry the deploy's progress (the first balancer).
    pub home: u16,
    /// Instances serving.
    pub desired: u32,
    /// When the deploy starts.
    pub at_ns: u64,
    /// The new version.
    pub version: VersionPlan,
    /// How it is rolled out.
    pub strategy: StrategyPlan,
    /// Time between readiness probes (and decisions).
    pub probe_ns: u64,
    /// From leaving the endpoint sets to stopping.
    pub drain_ns: u64,
    /// Without progress this long, a rollout halts (or rolls back; a preview aborts).
    pub progress_deadline_ns: u64,
    /// The automated analysis (canary, blue-green), if any.
    pub analysis: Option<AnalysisPlan>,
}

/// A version: its name and how it is bad, if it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionPlan {
    /// Its name ("v2").
    pub name: String,
    /// Whether its `/health` fails.
    pub fail_health: bool,
    /// Percent of its requests that fail.
    pub fail_requests: u32,
    /// Percent slower service.
    pub slowdown: u32,
}

/// A rollout strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyPlan {
    /// Kubernetes' rolling update.
    Rolling {
        /// Instances beyond `desired` at once.
        max_surge: u32,
        /// Ready instances below `desired` at once.
        max_unavailable: u32,
        /// Roll back at the progress deadline (else halt).
        rollback: bool,
    },
    /// Argo Rollouts' canary.
    Canary {
        /// Each step's weight, percent (ending with 100).
        weights: Vec<u32>,
        /// Each step's pause once its counts are reached.
        pauses_ns: Vec<u64>,
    },
    /// Argo Rollouts' blue-green.
    BlueGreen {
        /// How long the old instances stay up after the switch.
        scale_down_delay_ns: u64,
    },
}

impl VersionPlan {
    /// "ok", or how it is bad: "bad(fail_health,fail_requests=30,slowdown=50)".
    pub fn describe(&self) -> String {
        let mut bad = Vec::new();
        if self.fail_health {
            bad.push("fail_health".to_string());
        }
        if self.fail_requests > 0 {
            bad.push(format!("fail_requests={}", self.fail_requests));
        }
        if self.slowdown > 0 {
            bad.push(format!("slowdown={}", self.slowdown));
        }
        if bad.is_empty() { "ok".to_string() } else { format!("bad({})", bad.join(",")) }
    }
}

impl StrategyPlan {
    fn name(&self) -> &'static str {
        match self {
            StrategyPlan::Rolling { .. } => "rolling",
            StrategyPlan::Canary { .. } => "canary",
            StrategyPlan::BlueGreen { .. } => "blue-green",
        }
    }
}

/// An automated analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisPlan {
    /// The highest error rate that passes.
    pub max_error_rate: Option<f64>,
    /// The highest p99 latency that passes.
    pub max_p99_ns: Option<u64>,
    /// Time between measurements.
    pub interval_ns: u64,
    /// Failed measurements that abort.
    pub failures: u32,
    /// Fewest requests a measurement needs.
    pub min_requests: u64,
}

impl AnalysisPlan {
    fn config(&self) -> AnalysisConfig {
        AnalysisConfig {
            max_error_rate: self.max_error_rate,
            max_p99: self.max_p99_ns.map(Duration::from_nanos),
            failures: self.failures,
            min_requests: self.min_requests,
        }
    }
}

/// What the controller reads from the world (and records in it, through [`Publish`]).
pub(crate) trait Observe: Publish {
    /// `host`'s last health answer passed (1), or failed or none since it started (0).
    fn health(&self, host: u16) -> bool;
    /// Requests `host` served that failed, since the start.
    fn failed(&self, host: u16) -> u64;
    /// The latencies `host` served since the last take (ns).
    fn take_latencies(&mut self, host: u16) -> Vec<u64>;
}

/// Which version an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ver {
    Stable,
    New,
}

/// Where the deploy is.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Before `at`.
    Waiting,
    /// Rolling toward `target` (the stable version when rolling back).
    Rolling { target: Ver },
    /// At canary step `index`, its counts reached at `reached_ns`.
    Canary { index: usize, reached_ns: Option<u64> },
    /// Starting the preview instances.
    Preview,
    /// Switched to the new version at `at_ns`; the analysis runs until the old ones stop.
    Switched { at_ns: u64 },
    /// Over: nothing more is decided (instances still drain).
    Over,
}

/// The deploy controller of one pool.
pub(crate) struct Deployer {
    plan: DeployPlan,
    life: Instances,
    versions: Vec<Ver>,
    stage: Stage,
    next_probe_ns: u64,
    /// Progress so far (the most new ready, the fewest old running) and when it last moved.
    best: (u32, u32),
    progress_ns: u64,
    analysis: Option<Analysis>,
    next_analysis_ns: u64,
    failed_marks: Vec<u64>,
    /// The breach that aborted the analysis, for the state that reports it.
    breach: Option<String>,
}

/// The rolling bounds of `plan` (validated: they resolve).
fn rolling(plan: &DeployPlan, max_surge: u32, max_unavailable: u32) -> Rolling {
    Rolling::new(plan.desired, Amount::Count(max_surge), Amount::Count(max_unavailable))
        .expect("validated: the rolling bounds")
}

/// The canary steps of `plan` (validated).
fn canary(plan: &DeployPlan, weights: &[u32]) -> Canary {
    Canary::new(plan.desired, weights.to_vec()).expect("validated: the canary steps")
}

/// Counts of `life` with `target` as the new version.
fn counts(life: &Instances, versions: &[Ver], target: Ver) -> Counts {
    let mut c = Counts::default();
    for (i, &ver) in versions.iter().enumerate() {
        let (running, ready) = match life.phase(i) {
            Phase::Starting { .. } => (1, 0),
            Phase::Ready => (1, 1),
            Phase::Stopped | Phase::Draining { .. } => (0, 0),
        };
        if ver == target {
            c.new += running;
            c.new_ready += ready;
        } else {
            c.old += running;
            c.old_ready += ready;
        }
    }
    c
}

/// [`Observe`] over the world's recorder: the apps' `health` gauges, the requests they served.
pub(crate) struct WorldObserve<'a>(pub(crate) &'a crate::world::shared::Shared);

impl Observe for WorldObserve<'_> {
    fn health(&self, host: u16) -> bool {
        self.0.recorder.borrow().gauge_last(host, gauge::HEALTH) == 1
    }

    fn failed(&self, host: u16) -> u64 {
        self.0.recorder.borrow().failed(host)
    }

    fn take_latencies(&mut self, host: u16) -> Vec<u64> {
        self.0.recorder.borrow_mut().take_latencies(host)
    }
}

impl InWorld for WorldObserve<'_> {
    fn world(&self) -> &crate::world::shared::Shared {
        self.0
    }
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
