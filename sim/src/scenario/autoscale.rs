//! The scenario's `[autoscale]` table: a pool of app instances behind load balancers that an
//! autoscaler (Kubernetes' HPA) starts and stops, its validation with located errors, and its
//! compiled form.
//!
//! The pool is a list of hosts declared as usual under `[[hosts]]`: the first `initial` run from
//! the start, the rest start stopped and out of every balancer's endpoint set. Owns:
//! [`AutoscaleSpec`], its defaults (documented in `docs/scenario.md`), its checks, and
//! [`AutoscaleSpec::plan`]. Must not: know how instances start, drain or stop (the driver in
//! `crate::autoscale` does), or accept a setting the algorithm would refuse.

use super::spans::Seg;
use super::types::{Dur, Sp};
use super::validate::Checker;
use crate::autoscale::{AutoscalePlan, Endpoint, MetricPlan};
use crate::services::ns;
use faultline_models::autoscale::{Hpa, HpaConfig, HpaError};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The most instances a pool may hold (a balancer keeps its endpoint set in a 64-bit mask).
pub const MAX_POOL: usize = 64;

/// An autoscaled pool of app instances behind one or more load balancers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSpec {
    /// The pool's hosts, in the order they are started (and stopped in reverse): apps, each a
    /// backend of at least one load balancer.
    #[schemars(with = "Vec<String>")]
    pub pool: Vec<Sp<String>>,
    /// Fewest instances. Default 1.
    #[serde(default = "default_min")]
    #[schemars(with = "u32")]
    pub min: Sp<u32>,
    /// Most instances. Default: the pool's size.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max: Option<Sp<u32>>,
    /// Instances running at the start. Default: `min`.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub initial: Option<Sp<u32>>,
    /// What is measured on each ready instance: "cpu" (busy worker slots over slots; `target`
    /// in percent), "requests" (requests served per second), "queue" (requests waiting for a
    /// worker). Default "cpu".
    #[serde(default)]
    pub metric: MetricSpec,
    /// The metric's target per instance (percent for "cpu").
    #[schemars(with = "f64")]
    pub target: Sp<f64>,
    /// No change while the metric is within this share of the target. Default 0.1.
    #[serde(default = "default_tolerance")]
    #[schemars(with = "f64")]
    pub tolerance: Sp<f64>,
    /// Time between two decisions. Default "15s".
    #[serde(default = "default_period")]
    #[schemars(with = "Dur")]
    pub period: Sp<Dur>,
    /// A scale-down takes the highest recommendation of this window. Default "300s".
    #[serde(default = "default_stabilization")]
    pub stabilization: Dur,
    /// A started instance joins the balancers' endpoint sets this long after it starts
    /// (scheduling, image pull, readiness). Default "10s".
    #[serde(default = "default_startup")]
    pub startup: Dur,
    /// A scaled-down instance leaves the endpoint sets at once and is stopped this long after
    /// (its requests in flight finish). Default "30s".
    #[serde(default = "default_drain")]
    pub drain: Dur,
    /// Growth per 15 s at most: the larger of `percent` more and `pods` more. Default
    /// `{ percent = 100, pods = 4 }`.
    #[serde(default)]
    pub scale_up: ScaleUpSpec,
    /// Shrinkage per 15 s at most, percent of the instances. Default 100.
    #[serde(default = "default_down_percent")]
    #[schemars(with = "u32")]
    pub scale_down_percent: Sp<u32>,
}

/// The metric an autoscaler measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricSpec {
    /// Busy worker slots over slots, percent.
    #[default]
    Cpu,
    /// Requests served per second per instance.
    Requests,
    /// Requests waiting for a worker per instance.
    Queue,
}

/// The scale-up rate limit.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleUpSpec {
    /// Percent more instances per 15 s. Default 100 (double).
    #[serde(default = "default_up_percent")]
    pub percent: u32,
    /// Instances more per 15 s. Default 4.
    #[serde(default = "default_up_pods")]
    pub pods: u32,
}

impl Default for ScaleUpSpec {
    fn default() -> Self {
        Self { percent: default_up_percent(), pods: default_up_pods() }
    }
}

fn default_min() -> Sp<u32> {
    Sp::new(0..0, 1)
}
fn default_tolerance() -> Sp<f64> {
    Sp::new(0..0, 0.1)
}
fn default_period() -> Sp<Dur> {
    Sp::new(0..0, Dur(Duration::from_secs(15)))
}
fn default_stabilization() -> Dur {
    Dur(Duration::from_secs(300))
}
fn default_startup() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_drain() -> Dur {
    Dur(Duration::from_secs(30))
}
fn default_down_percent() -> Sp<u32> {
    Sp::new(0..0, 100)
}
fn default_up_percent() -> u32 {
    100
}
fn default_up_pods() -> u32 {
    4
}

impl AutoscaleSpec {
    fn max(&self) -> u32 {
        self.max.as_ref().map_or(self.pool.len() as u32, |m| *m.get_ref())
    }

    fn initial(&self) -> u32 {
        self.initial.as_ref().map_or(*self.min.get_ref(), |i| *i.get_ref())
    }

    /// The algorithm's settings (the target in the metric's unit: a fraction for "cpu").
    pub(crate) fn hpa(&self) -> HpaConfig {
        let target = *self.target.get_ref();
        HpaConfig {
            min: *self.min.get_ref(),
            max: self.max(),
            target: if self.metric == MetricSpec::Cpu { target / 100.0 } else { target },
            tolerance: *self.tolerance.get_ref(),
            down_window: self.stabilization.0,
            up_window: Duration::ZERO,
            policy_period: Duration::from_secs(15),
            up_percent: self.scale_up.percent,
            up_pods: self.scale_up.pods,
            down_percent: *self.scale_down_percent.get_ref(),
        }
    }

    /// The compiled pool: hosts by index, and each instance's place in each balancer's list.
    pub(crate) fn plan(&self, scenario: &super::Scenario, hosts: &BTreeMap<String, u16>) -> AutoscalePlan {
        let hpa = self.hpa();
        let instances: Vec<u16> = self.pool.iter().map(|p| hosts[p.get_ref()]).collect();
        let endpoints = endpoints(scenario, &self.pool, hosts);
        let workers = self
            .pool
            .iter()
            .map(|p| scenario.hosts.iter().find(|h| h.get_ref().name.get_ref() == p.get_ref()))
            .map(|h| h.map_or(1, |h| h.get_ref().workers.max(1) as u32))
            .collect();
        AutoscalePlan {
            home: endpoints.first().map_or(instances[0], |e| e.balancer),
            instances,
            workers,
            endpoints,
            initial: self.initial(),
            metric: match self.metric {
                MetricSpec::Cpu => MetricPlan::Cpu,
                MetricSpec::Requests => MetricPlan::Requests,
                MetricSpec::Queue => MetricPlan::Queue,
            },
            target_milli: (*self.target.get_ref() * 1000.0).round() as u64,
            min: hpa.min,
            max: hpa.max,
            tolerance: hpa.tolerance,
            period_ns: ns(self.period.get_ref().0),
            stabilization_ns: ns(hpa.down_window),
            up_percent: hpa.up_percent,
            up_pods: hpa.up_pods,
            down_percent: hpa.down_percent,
            startup_ns: ns(self.startup.0),
            drain_ns: ns(self.drain.0),
        }
    }
}

/// Each balancer that lists a pool instance, with the instance's place in its backend list.
pub(super) fn endpoints(
    scenario: &super::Scenario,
    pool: &[Sp<String>],
    hosts: &BTreeMap<String, u16>,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for host in &scenario.hosts {
        let host = host.get_ref();
        let backends = host.service.backends();
        let places: Vec<Option<u8>> = pool
            .iter()
            .map(|p| backends.iter().position(|b| b.get_ref() == p.get_ref()).and_then(|i| u8::try_from(i).ok()))
            .collect();
        if places.iter().any(Option::is_some) {
            out.push(Endpoint { balancer: hosts[host.name.get_ref()], places });
        }
    }
    out
}

/// Checks the `[autoscale]` table, if any.
pub(crate) fn check(c: &mut Checker) {
    let Some(spec) = &c.scenario.autoscale else { return };
    let table = c.span_at(&[Seg::Key("autoscale")], 0..0);
    let at = |c: &Checker, key: &'static str| c.span_at(&[Seg::Key("autoscale"), Seg::Key(key)], table.clone());
    pool(c, &spec.pool, at(c, "pool"));
    let (min, max, initial) = (*spec.min.get_ref(), spec.max(), spec.initial());
    let size = spec.pool.len() as u32;
    if size > 0 && (min == 0 || min > max || max > size || initial < min || initial > max) {
        let message = format!(
            "min {min}, initial {initial}, max {max} for a pool of {size}; expected 1 <= min <= initial <= max <= {size}"
        );
        c.report(or_table(spec.min.span(), at(c, "min")), "pool bounds", message);
    }
    let target = *spec.target.get_ref();
    let cpu_over = spec.metric == MetricSpec::Cpu && target > 100.0;
    if !(target.is_finite() && target > 0.0) || cpu_over {
        let unit = if spec.metric == MetricSpec::Cpu { " percent, up to 100" } else { "" };
        let message = format!("target {target}; expected a number above 0{unit}");
        c.report(spec.target.span(), "not a target", message);
    }
    if spec.period.get_ref().0.is_zero() {
        c.report(
            or_table(spec.period.span(), at(c, "period")),
            "zero",
            "`period` is 0; expected a duration above 0".into(),
        );
    }
    // The algorithm's own refusals: the tolerance at its value, the policies at the table (the
    // bounds and the target are reported above).
    if let Err(e) = Hpa::new(spec.hpa()) {
        let span = match e {
            HpaError::Bounds { .. } | HpaError::Target(_) => None,
            HpaError::Tolerance(_) => Some(or_table(spec.tolerance.span(), table.clone())),
            HpaError::DownPercent(_) => Some(or_table(spec.scale_down_percent.span(), table.clone())),
            HpaError::NoGrowth => Some(table.clone()),
        };
        if let Some(span) = span {
            c.report(span, "not a valid autoscaler", format!("autoscale: {e}"));
        }
    }
}

fn or_table(span: std::ops::Range<usize>, fallback: std::ops::Range<usize>) -> std::ops::Range<usize> {
    if span.is_empty() { fallback } else { span }
}

/// The pool: known hosts, each once, each behind a load balancer, at most [`MAX_POOL`] (a
/// deploy's pool too).
pub(super) fn pool(c: &mut Checker, list: &[Sp<String>], span: std::ops::Range<usize>) {
    if list.is_empty() || list.len() > MAX_POOL {
        let message = format!("a pool of {} hosts; expected 1 to {MAX_POOL}", list.len());
        c.report(span, "pool size", message);
        return;
    }
    let fronted: BTreeSet<&str> = c
        .scenario
        .hosts
        .iter()
        .flat_map(|h| h.get_ref().service.backends().iter().take(MAX_POOL).map(|b| b.get_ref().as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    for name in list {
        if c.host(name, "not a host").is_none() {
            continue;
        }
        if !seen.insert(name.get_ref().as_str()) {
            c.report(name.span(), "listed twice", format!("{:?} is listed twice in the pool", name.get_ref()));
        } else if !fronted.contains(name.get_ref().as_str()) {
            let message = format!(
                "{:?} is no load balancer's backend (among its first {MAX_POOL}); expected every pool host behind a load balancer",
                name.get_ref()
            );
            c.report(name.span(), "not behind a load balancer", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate::tests::check as check_quickstart;
    use super::super::validate::tests::check_in;

    const RAMP: &str = include_str!("../../../scenarios/autoscale-ramp.toml");

    /// The ramp scenario with `from` replaced by `to` must yield exactly the `expected`
    /// (message substring, spanned text) pairs.
    fn check(from: &str, to: &str, expected: &[(&str, &str)]) {
        check_in(RAMP, from, to, expected);
    }

    #[test]
    fn the_ramp_is_valid() {
        check("", "", &[]);
    }

    #[test]
    fn pool_hosts_are_known_once_and_behind_a_balancer() {
        check("pool = [\"app1\"", "pool = [\"app0\"", &[("unknown host \"app0\"", "\"app0\"")]);
        check("pool = [\"app1\", \"app2\"", "pool = [\"app1\", \"app1\"", &[("listed twice", "\"app1\"")]);
        check("pool = [\"app1\"", "pool = [\"db\"", &[("no load balancer's backend", "\"db\"")]);
        check(
            "pool = [\"app1\", \"app2\", \"app3\", \"app4\", \"app5\", \"app6\", \"app7\", \"app8\", \"app9\", \"app10\"]",
            "pool = []",
            &[("a pool of 0 hosts", "[]")],
        );
    }

    #[test]
    fn bounds_target_and_settings_are_checked() {
        check("min = 2", "min = 0", &[("expected 1 <= min <= initial <= max <= 10", "0")]);
        check("max = 10", "max = 11", &[("min 2, initial 2, max 11", "2")]);
        check("min = 2", "min = 2\ninitial = 1", &[("min 2, initial 1", "2")]);
        check("target = 60", "target = 120", &[("target 120; expected a number above 0 percent, up to 100", "120")]);
        check("target = 60", "target = 0", &[("target 0", "0")]);
        check("period = \"5s\"", "period = \"0s\"", &[("`period` is 0", "\"0s\"")]);
        check("min = 2", "min = 2\ntolerance = 1.5", &[("tolerance 1.5", "1.5")]);
        check("min = 2", "min = 2\nscale_up = { percent = 0, pods = 0 }", &[("allow no growth", "[autoscale]")]);
        check("min = 2", "min = 2\nscale_down_percent = 0", &[("scale-down percent 0", "0")]);
    }

    #[test]
    fn phases_start_at_zero_in_order_before_the_end() {
        let phases = |list: &str| format!("arrival = {{ phases = [{list}] }}");
        let from = "arrival = { poisson = { rate = 200 } }";
        check_quickstart(from, &phases("{ rate = 100 }, { at = \"5s\", rate = 200 }"), &[]);
        check_quickstart(
            from,
            &phases("{ at = \"1s\", rate = 100 }"),
            &[("the first phase starts after 0s", "\"1s\"")],
        );
        check_quickstart(
            from,
            &phases("{ rate = 100 }, { at = \"5s\", rate = 200 }, { at = \"5s\", rate = 300 }"),
            &[("no later than the one before", "\"5s\"")],
        );
        check_quickstart(
            from,
            &phases("{ rate = 100 }, { at = \"50s\", rate = 200 }"),
            &[("after the end of the run", "\"50s\"")],
        );
        check_quickstart(from, &phases("{ rate = -1 }"), &[("rate -1 is out of range", "-1")]);
        check_quickstart(from, &phases(""), &[("0 phases", "[]")]);
    }
}
