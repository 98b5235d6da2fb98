//! The scenario's `[deploy]` table: a deploy that replaces the version a pool of app instances
//! runs (rolling, canary or blue-green), its validation with located errors, and its compiled
//! form.
//!
//! The pool is a list of hosts declared as usual under `[[hosts]]`, each an HTTP app behind a
//! load balancer with active health checks (the readiness probe reads the app's answers to
//! them): the first `replicas` run the stable version from the start, the rest start stopped.
//! A pool shared with `[autoscale]` is refused for now. Owns: [`DeploySpec`], its defaults
//! (documented in `docs/scenario.md`), its checks and [`DeploySpec::plan`]. Must not: know how
//! instances start, drain or stop (`crate::deploy` does), or accept settings the rollout
//! arithmetic would refuse.

use super::spans::Seg;
use super::types::{Dur, Sp};
use super::validate::Checker;
use crate::deploy::{AnalysisPlan, DeployPlan, StrategyPlan, VersionPlan};
use crate::services::{Service, ns};
use faultline_models::deploy::canary::Canary;
use faultline_models::deploy::rolling::Rolling;
use faultline_models::deploy::{Amount, Counts};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

/// A deploy of a new version over a pool of app instances.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    /// The pool's hosts, in order: HTTP apps, each behind a load balancer with health checks.
    #[schemars(with = "Vec<String>")]
    pub pool: Vec<Sp<String>>,
    /// Instances serving (the first ones of the pool run the stable version from the start).
    #[schemars(with = "u32")]
    pub replicas: Sp<u32>,
    /// When the deploy starts.
    #[schemars(with = "Dur")]
    pub at: Sp<Dur>,
    /// The new version.
    pub version: VersionSpec,
    /// "rolling" (Kubernetes), "canary" or "blue_green" (Argo Rollouts). Default "rolling".
    #[serde(default)]
    pub strategy: StrategySpec,
    /// Time between readiness probes (and the controller's decisions). Default "10s".
    #[serde(default = "default_probe")]
    #[schemars(with = "Dur")]
    pub probe: Sp<Dur>,
    /// A retired instance leaves the endpoint sets at once and stops this long after. Default
    /// "30s".
    #[serde(default = "default_drain")]
    pub drain: Dur,
    /// Without progress this long, a rolling deploy halts (or rolls back), a canary or a
    /// preview aborts. Default "600s".
    #[serde(default = "default_deadline")]
    #[schemars(with = "Dur")]
    pub progress_deadline: Sp<Dur>,
    /// Rolling: instances beyond `replicas` at once, a count or "25%" (rounded up). Default "25%".
    #[serde(default)]
    #[schemars(with = "Option<AmountSpec>")]
    pub max_surge: Option<Sp<AmountSpec>>,
    /// Rolling: ready instances below `replicas` at once, a count or "25%" (rounded down).
    /// Default "25%".
    #[serde(default)]
    #[schemars(with = "Option<AmountSpec>")]
    pub max_unavailable: Option<Sp<AmountSpec>>,
    /// Rolling: "none" (halt at the deadline, as Kubernetes) or "auto" (roll back). Default "none".
    #[serde(default)]
    #[schemars(with = "Option<RollbackSpec>")]
    pub rollback: Option<Sp<RollbackSpec>>,
    /// Canary: the steps, each a weight (percent of the instances on the new version) and a
    /// pause; a last step of 100 is added.
    #[serde(default)]
    #[schemars(with = "Option<Vec<StepSpec>>")]
    pub steps: Option<Sp<Vec<StepSpec>>>,
    /// Blue-green: how long the old instances stay up after the switch. Default "30s".
    #[serde(default)]
    #[schemars(with = "Option<Dur>")]
    pub scale_down_delay: Option<Sp<Dur>>,
    /// Canary and blue-green: the automated analysis. Default: none.
    #[serde(default)]
    #[schemars(with = "Option<AnalysisSpec>")]
    pub analysis: Option<Sp<AnalysisSpec>>,
}

/// A version and how it is bad.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// Its name. Default "v2".
    #[serde(default = "default_name")]
    pub name: String,
    /// Its `/health` answers 503. Default false.
    #[serde(default)]
    pub fail_health: bool,
    /// Percent of its requests answered 500 (its health passes). Default 0.
    #[serde(default = "default_zero")]
    #[schemars(with = "u32")]
    pub fail_requests: Sp<u32>,
    /// Percent slower service. Default 0.
    #[serde(default)]
    pub slowdown: u32,
}

/// A rollout strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategySpec {
    /// Kubernetes' rolling update.
    #[default]
    Rolling,
    /// Argo Rollouts' canary (weights as instance counts).
    Canary,
    /// Argo Rollouts' blue-green.
    BlueGreen,
}

/// A count of instances, or a percent of `replicas` as "25%".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AmountSpec {
    /// So many instances.
    Count(u32),
    /// "<p>%".
    Percent(String),
}

/// What a rolling deploy does at its progress deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RollbackSpec {
    /// Halt where it is.
    #[default]
    None,
    /// Roll back to the stable version.
    Auto,
}

/// A canary step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Percent of the instances on the new version.
    pub weight: u32,
    /// How long the step holds once reached. Default "0s".
    #[serde(default = "default_pause")]
    pub pause: Dur,
}

/// The automated analysis.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// The highest error rate (0 to 1) of the judged instances that passes.
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    /// The highest p99 latency of the judged instances that passes.
    #[serde(default)]
    pub max_p99: Option<Dur>,
    /// Time between measurements. Default "5s".
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// Failed measurements that abort. Default 2.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// Fewest requests a measurement needs to be judged. Default 10.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

fn default_probe() -> Sp<Dur> {
    Sp::new(0..0, Dur(Duration::from_secs(10)))
}
fn default_drain() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_deadline() -> Sp<Dur> {
    Sp::new(0..0, Dur(Duration::from_secs(600)))
}
fn default_zero() -> Sp<u32> {
    Sp::new(0..0, 0)
}
fn default_name() -> String {
    "v2".to_string()
}
fn default_pause() -> Dur {
    Dur(Duration::ZERO)
}
fn default_interval() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_failures() -> u32 {
    2
}
fn default_min_requests() -> u64 {
    10
}

const DEFAULT_SCALE_DOWN_DELAY: Duration = Duration::from_secs(30);

impl AmountSpec {
    /// The amount, or why the text is not one.
    fn amount(&self) -> Result<Amount, String> {
        match self {
            AmountSpec::Count(n) => Ok(Amount::Count(*n)),
            AmountSpec::Percent(text) => text
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u32>().ok())
                .filter(|&p| p <= 100)
                .map(Amount::Percent)
                .ok_or_else(|| format!("{text:?}; expected a count or a percent such as \"25%\" (0 to 100)")),
        }
    }
}

impl DeploySpec {
    fn amounts(&self) -> (Result<Amount, String>, Result<Amount, String>) {
        let surge = self.max_surge.as_ref().map_or(Ok(Amount::Percent(25)), |a| a.get_ref().amount());
        let unavailable = self.max_unavailable.as_ref().map_or(Ok(Amount::Percent(25)), |a| a.get_ref().amount());
        (surge, unavailable)
    }

    fn weights(&self) -> Vec<u32> {
        self.steps.as_ref().map_or_else(Vec::new, |s| s.get_ref().iter().map(|s| s.weight).collect())
    }

    /// The compiled deploy (validated).
    pub(crate) fn plan(&self, scenario: &super::Scenario, hosts: &BTreeMap<String, u16>) -> DeployPlan {
        let instances: Vec<u16> = self.pool.iter().map(|p| hosts[p.get_ref()]).collect();
        let endpoints = super::autoscale::endpoints(scenario, &self.pool, hosts);
        let desired = *self.replicas.get_ref();
        let strategy = match self.strategy {
            StrategySpec::Rolling => {
                let (surge, unavailable) = self.amounts();
                let rolling = Rolling::new(desired, surge.expect("validated"), unavailable.expect("validated"))
                    .expect("validated: the rolling bounds");
                let rollback = self.rollback.as_ref().is_some_and(|r| *r.get_ref() == RollbackSpec::Auto);
                StrategyPlan::Rolling {
                    max_surge: rolling.max_surge,
                    max_unavailable: rolling.max_unavailable,
                    rollback,
                }
            }
            StrategySpec::Canary => StrategyPlan::Canary {
                weights: self.weights(),
                pauses_ns: self
                    .steps
                    .as_ref()
                    .map_or_else(Vec::new, |s| s.get_ref().iter().map(|s| ns(s.pause.0)).collect()),
            },
            StrategySpec::BlueGreen => StrategyPlan::BlueGreen {
                scale_down_delay_ns: ns(self
                    .scale_down_delay
                    .as_ref()
                    .map_or(DEFAULT_SCALE_DOWN_DELAY, |d| d.get_ref().0)),
            },
        };
        let analysis = self.analysis.as_ref().map(|a| {
            let a = a.get_ref();
            AnalysisPlan {
                max_error_rate: a.max_error_rate,
                max_p99_ns: a.max_p99.map(|d| ns(d.0)),
                interval_ns: ns(a.interval.0),
                failures: a.failures,
                min_requests: a.min_requests,
            }
        });
        let v = &self.version;
        DeployPlan {
            home: endpoints.first().map_or(instances[0], |e| e.balancer),
            instances,
            endpoints,
            desired,
            at_ns: ns(self.at.get_ref().0),
            version: VersionPlan {
                name: v.name.clone(),
                fail_health: v.fail_health,
                fail_requests: *v.fail_requests.get_ref(),
                slowdown: v.slowdown,
            },
            strategy,
            probe_ns: ns(self.probe.get_ref().0),
            drain_ns: ns(self.drain.0),
            progress_deadline_ns: ns(self.progress_deadline.get_ref().0),
            analysis,
        }
    }
}

#[path = "deploy_check.rs"]
mod check;
pub(crate) use check::check;
