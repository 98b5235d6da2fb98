//! The autoscaling section of the report: an autoscaled pool's instance count over time, its
//! scale events and flaps, how long it took to absorb a load step, and its mean metric against
//! the target, from what the autoscaler recorded: the `instance` state of each pool host
//! ("starting", "ready", "draining", "stopped"), the `autoscale` state of the pool
//! ("target:<metric> <target> tolerance=<t> window_s=<s>", then "scale:<from>-><to>") and the
//! `pool_metric_milli` gauge.
//!
//! Owns: the fold of those events into an [`AutoscaleReport`]. Must not: look at any other
//! event but the report's windows and objectives, or decide a verdict.
//!
//! Definitions:
//! - instances: ready plus starting (what the autoscaler counts as current), as each `instance`
//!   change leaves them;
//! - a flap: a scale event in the direction opposite to the one before, within the flap window
//!   after it: the pool's stabilisation window, or Kubernetes' default of 300 s when that is
//!   shorter (a window of 0 would otherwise hide every reversal);
//! - the load step: the first report window whose offered rate is at least 20% above the one
//!   before; it is absorbed at the start of the first window from then on whose p99 is under the
//!   first end-to-end latency objective ("p99 under the SLO"), or, without one, at the first
//!   decision from then on whose metric is within the tolerance of the target ("utilisation
//!   within tolerance").
//!
//! Memory: one entry per pool host, per scale event and per count change (bounded by
//! [`MAX_EVENTS`]).

use super::WindowStats;
use crate::slo::{Slo, SloKind};
use crate::trace::samples::Dense;
use faultline_vocab::{gauge, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const NS_PER_S: f64 = 1e9;
/// The most scale events and count changes kept (the rest are counted, not listed).
pub const MAX_EVENTS: usize = 10_000;
/// The flap window when the pool's stabilisation window is shorter: Kubernetes' default.
const DEFAULT_FLAP_WINDOW_S: f64 = 300.0;
/// A window whose offered rate is this much above the one before starts a load step.
const STEP_RISE: f64 = 1.2;

/// One decision that changed the pool's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleEvent {
    /// When, seconds since the start.
    pub t_s: f64,
    /// Instances before.
    pub from: u32,
    /// Instances decided.
    pub to: u32,
}

/// The pool's size after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolCount {
    /// When, seconds since the start.
    pub t_s: f64,
    /// Instances ready.
    pub ready: u32,
    /// Instances starting.
    pub starting: u32,
}

/// How long the pool took to absorb a load step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Absorb {
    /// When the load stepped up (the start of its window), seconds.
    pub step_s: f64,
    /// When it was absorbed, seconds; `None`: not by the end of the run.
    pub absorbed_s: Option<f64>,
    /// What "absorbed" means here: "p99 under the SLO" or "utilisation within tolerance".
    pub by: String,
}

/// An autoscaled pool over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleReport {
    /// What the autoscaler measured ("cpu", "requests", "queue").
    pub metric: String,
    /// Its target per instance (percent for cpu).
    pub target: f64,
    /// The tolerance band around the target, a share of it.
    pub tolerance: f64,
    /// Fewest instances (ready and starting) at any time.
    pub instances_min: u32,
    /// Most instances at any time.
    pub instances_max: u32,
    /// Instances at the end.
    pub instances_at_end: u32,
    /// Scale-ups decided.
    pub scale_ups: u32,
    /// Scale-downs decided.
    pub scale_downs: u32,
    /// Direction reversals within the flap window.
    pub flaps: u32,
    /// The flap window, seconds.
    pub flap_window_s: f64,
    /// The decisions that changed the size, in time order.
    pub events: Vec<ScaleEvent>,
    /// The size after each change, in time order.
    pub counts: Vec<PoolCount>,
    /// The load step and when it was absorbed; `None` when the offered rate never stepped up.
    pub absorb: Option<Absorb>,
    /// The mean metric over the run's decisions (percent for cpu); `None` before any.
    pub mean_metric: Option<f64>,
}

/// Folds the autoscaler's states and gauge.
#[derive(Debug, Clone, Default)]
pub struct AutoscaleAcc {
    target: Option<(String, f64, f64, f64)>,
    phases: BTreeMap<u16, String>,
    events: Vec<ScaleEvent>,
    counts: Vec<PoolCount>,
    metric: Vec<(f64, f64)>,
    metric_sum: f64,
    metric_n: u64,
    /// The metric's samples at every sampling time (the trace's are sparse).
    dense: Dense,
}

impl AutoscaleAcc {
    /// For a trace whose gauges are sampled every `sample_ns` (its header's).
    pub fn new(sample_ns: u64) -> Self {
        Self { dense: Dense::new(sample_ns), ..Self::default() }
    }

    /// Takes a state change; ignores every key but `instance` and `autoscale`.
    pub fn change(&mut self, t_ns: u64, host: u16, key: &str, value: &str) {
        let t_s = t_ns as f64 / NS_PER_S;
        if key == state::INSTANCE {
            self.phases.insert(host, value.to_string());
            let count = |phase: &str| self.phases.values().filter(|p| p.as_str() == phase).count() as u32;
            let (ready, starting) = (count("ready"), count("starting"));
            let same = self.counts.last().is_some_and(|c| (c.ready, c.starting) == (ready, starting));
            let len = self.counts.len();
            match self.counts.last_mut() {
                Some(last) if last.t_s == t_s => (last.ready, last.starting) = (ready, starting),
                Some(_) | None if !same && len < MAX_EVENTS => self.counts.push(PoolCount { t_s, ready, starting }),
                Some(_) | None => {}
            }
        } else if key == state::AUTOSCALE {
            if let Some(rest) = value.strip_prefix("target:") {
                self.target = parse_target(rest);
            } else if let Some((from, to)) = value.strip_prefix("scale:").and_then(|r| r.split_once("->"))
                && let (Ok(from), Ok(to)) = (from.parse(), to.parse())
                && self.events.len() < MAX_EVENTS
            {
                self.events.push(ScaleEvent { t_s, from, to });
            }
        }
    }

    /// Takes a gauge sample; ignores every gauge but `pool_metric_milli`.
    pub fn sample(&mut self, t_ns: u64, name: &str, last: i64) -> bool {
        if name != gauge::POOL_METRIC_MILLI {
            return false;
        }
        let value = last as f64 / 1000.0;
        let (sum, n) = (&mut self.metric_sum, &mut self.metric_n);
        // The mean is over the sampling times: a value held through quiet ones counts at each.
        self.dense.push(t_ns, 0, name, last, 0.0, |p| {
            *sum += p.last as f64 / 1000.0;
            *n += 1;
        });
        if self.metric.last().is_none_or(|(_, v)| *v != value) && self.metric.len() < MAX_EVENTS {
            self.metric.push((t_ns as f64 / NS_PER_S, value));
        }
        true
    }

    /// The section, if the run had an autoscaler.
    pub fn finish(self, windows: &[WindowStats], slos: &[Slo]) -> Option<AutoscaleReport> {
        let (metric, target, tolerance, window_s) = self.target.clone()?;
        let instances = |c: &PoolCount| c.ready + c.starting;
        let flap_window_s = window_s.max(DEFAULT_FLAP_WINDOW_S);
        let absorb = self.absorb(windows, slos, target, tolerance);
        Some(AutoscaleReport {
            metric,
            target,
            tolerance,
            instances_min: self.counts.iter().map(instances).min().unwrap_or(0),
            instances_max: self.counts.iter().map(instances).max().unwrap_or(0),
            instances_at_end: self.counts.last().map_or(0, instances),
            scale_ups: self.events.iter().filter(|e| e.to > e.from).count() as u32,
            scale_downs: self.events.iter().filter(|e| e.to < e.from).count() as u32,
            flaps: flaps(&self.events, flap_window_s),
            flap_window_s,
            absorb,
            mean_metric: (self.metric_n > 0).then(|| self.metric_sum / self.metric_n as f64),
            events: self.events,
            counts: self.counts,
        })
    }

    fn absorb(&self, windows: &[WindowStats], slos: &[Slo], target: f64, tolerance: f64) -> Option<Absorb> {
        let step = windows.windows(2).find(|w| w[0].rps > 0.0 && w[1].rps >= w[0].rps * STEP_RISE)?[1].start_s;
        let slo_ms = slos.iter().find_map(|slo| match (&slo.service, &slo.kind) {
            (None, SloKind::Latency { max_ns, .. }) => Some(*max_ns as f64 / 1e6),
            (Some(_), _)
            | (None, SloKind::Availability { .. } | SloKind::SessionsLost { .. } | SloKind::Converged { .. }) => None,
        });
        let (absorbed_s, by) = match slo_ms {
            Some(max_ms) => {
                let good = windows.iter().find(|w| w.start_s >= step && w.requests > 0 && w.latency.p99_ms <= max_ms);
                (good.map(|w| w.start_s), "p99 under the SLO")
            }
            None => {
                let band = target * tolerance;
                let good = self.metric.iter().find(|(t, v)| *t >= step && (v - target).abs() <= band);
                (good.map(|(t, _)| *t), "utilisation within tolerance")
            }
        };
        Some(Absorb { step_s: step, absorbed_s, by: by.to_string() })
    }
}

/// "cpu 60 tolerance=0.1 window_s=300" -> ("cpu", 60, 0.1, 300).
fn parse_target(text: &str) -> Option<(String, f64, f64, f64)> {
    let mut words = text.split_whitespace();
    let metric = words.next()?.to_string();
    let target = words.next()?.parse().ok()?;
    let (mut tolerance, mut window_s) = (0.1, DEFAULT_FLAP_WINDOW_S);
    for word in words {
        match word.split_once('=') {
            Some(("tolerance", v)) => tolerance = v.parse().ok()?,
            Some(("window_s", v)) => window_s = v.parse().ok()?,
            Some(_) | None => {}
        }
    }
    Some((metric, target, tolerance, window_s))
}

/// Scale events in the direction opposite to the one before, within `window_s` of it.
fn flaps(events: &[ScaleEvent], window_s: f64) -> u32 {
    let up = |e: &ScaleEvent| e.to > e.from;
    events.windows(2).filter(|w| up(&w[0]) != up(&w[1]) && w[1].t_s - w[0].t_s <= window_s).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::LatencySummary;

    const S: u64 = 1_000_000_000;

    fn window(start_s: f64, rps: f64, p99_ms: f64) -> WindowStats {
        let requests = (rps * 5.0) as u64;
        let latency = LatencySummary {
            count: requests,
            p50_ms: p99_ms,
            p95_ms: p99_ms,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            mean_ms: p99_ms,
        };
        WindowStats { start_s, width_s: 5.0, requests, ok: requests, failed: 0, rps, ok_rps: rps, latency }
    }

    fn acc(events: &[(u64, u16, &str, &str)]) -> AutoscaleAcc {
        let mut acc = AutoscaleAcc::default();
        for (t, host, key, value) in events {
            acc.change(t * S, *host, key, value);
        }
        acc
    }

    #[test]
    fn counts_events_and_flaps_from_the_states() {
        let mut acc = acc(&[
            (0, 9, "autoscale", "target:cpu 60 tolerance=0.1 window_s=0"),
            (0, 1, "instance", "ready"),
            (0, 2, "instance", "stopped"),
            (0, 3, "instance", "stopped"),
            (15, 9, "autoscale", "scale:1->3"),
            (15, 2, "instance", "starting"),
            (15, 3, "instance", "starting"),
            (20, 2, "instance", "ready"),
            (20, 3, "instance", "ready"),
            (30, 9, "autoscale", "scale:3->2"),
            (30, 3, "instance", "draining"),
            (45, 9, "autoscale", "scale:2->3"),
            (45, 3, "instance", "stopped"),
            (45, 3, "instance", "starting"),
            (1000, 9, "breaker", "x:open"),
        ]);
        assert!(acc.sample(15 * S, "pool_metric_milli", 90_000));
        assert!(acc.sample(30 * S, "pool_metric_milli", 30_000));
        assert!(!acc.sample(30 * S, "inflight", 3));
        let report = acc.finish(&[], &[]).expect("a pool");
        assert_eq!((report.metric.as_str(), report.target, report.tolerance), ("cpu", 60.0, 0.1));
        assert_eq!((report.instances_min, report.instances_max, report.instances_at_end), (1, 3, 3));
        assert_eq!((report.scale_ups, report.scale_downs), (2, 1));
        assert_eq!(report.flaps, 2, "down 15 s after an up, up 15 s after a down: within 300 s");
        assert_eq!(report.flap_window_s, 300.0);
        assert_eq!(report.mean_metric, Some(60.0));
        let at_15 = report.counts.iter().find(|c| c.t_s == 15.0).unwrap();
        assert_eq!((at_15.ready, at_15.starting), (1, 2));
    }

    #[test]
    fn no_flap_when_reversals_are_far_apart_and_none_without_a_pool() {
        let acc = acc(&[
            (0, 9, "autoscale", "target:requests 100 tolerance=0.1 window_s=300"),
            (10, 9, "autoscale", "scale:2->4"),
            (400, 9, "autoscale", "scale:4->2"),
        ]);
        assert_eq!(acc.finish(&[], &[]).unwrap().flaps, 0);
        assert_eq!(AutoscaleAcc::default().finish(&[], &[]), None);
    }

    #[test]
    fn a_step_is_absorbed_when_the_window_p99_is_back_under_the_slo() {
        let acc = acc(&[(0, 9, "autoscale", "target:cpu 60")]);
        let windows = [
            window(0.0, 100.0, 50.0),
            window(5.0, 400.0, 900.0),
            window(10.0, 400.0, 600.0),
            window(15.0, 400.0, 90.0),
        ];
        let slo =
            Slo { name: "p99".into(), service: None, kind: SloKind::Latency { quantile: 0.99, max_ns: 250_000_000 } };
        let absorb = acc.clone().finish(&windows, &[slo]).unwrap().absorb.unwrap();
        assert_eq!((absorb.step_s, absorb.absorbed_s, absorb.by.as_str()), (5.0, Some(15.0), "p99 under the SLO"));
        // Without a latency objective: the first decision within 10% of 60% after the step.
        let mut acc = acc;
        acc.sample(6 * S, "pool_metric_milli", 100_000);
        acc.sample(12 * S, "pool_metric_milli", 64_000);
        let absorb = acc.finish(&windows, &[]).unwrap().absorb.unwrap();
        assert_eq!((absorb.absorbed_s, absorb.by.as_str()), (Some(12.0), "utilisation within tolerance"));
    }
}
