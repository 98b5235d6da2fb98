//! The figures of a comparison, one [`Column`] per scenario, from its runs, its plan, its
//! `[cost]` table and its capacity search: what the JSON is, and what the text and HTML
//! tables read back through [`super::rows`].
//!
//! Definitions (the same in text, JSON and HTML):
//! - Latency: of the successful requests of every seed pooled (one distribution, not a mean of
//!   the seeds' percentiles), nearest rank, 4 significant digits; the worst window is the
//!   highest p99 of one seed's report window with at least [`MIN_WINDOW_REQUESTS`] successes.
//! - Availability: successes / requests of every seed pooled, without the requests a rate
//!   limiter refused or answered unauthorized, as the report counts them.
//! - Error budget: the report's burn of the scenario's first availability objective (its
//!   end-to-end one when it has one), mean and worst over the seeds.
//! - RTO: per disruptive fault (its text and time), mean and max over the seeds; none when a
//!   seed did not recover. RPO: the largest over the seeds, when a store's roles were measured.
//! - Throughput: the seeds' mean of successful requests per simulated second.
//! - Cost: hosts by the kind a file names their service with; an autoscaled pool's hosts at the
//!   time-weighted mean of its instances (ready and starting) over the run, the seeds' mean, or
//!   all of them when the report has no count; a deploy's pool at all its hosts.
//! - Plot: per window, the median over the seeds (the lower middle of an even count) of each
//!   seed's p50 and p99 of the successful requests issued in that window.
//!
//! Owns: the figures and their JSON layout (durations in ns, shares in [0, 1]). Must not: run
//! anything or format text.

use super::collect::{Latencies, Run};
use crate::cmd::capacity::Answer;
use faultline_chaos::report::{Report, Verdict};
use faultline_sim::RunPlan;
use faultline_sim::scenario::cost::CostSpec;
use serde::Serialize;
use std::collections::BTreeMap;

/// The fewest successful requests a window needs for its p99 to count as the worst window's.
pub const MIN_WINDOW_REQUESTS: u64 = 20;

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The seeds every scenario ran under.
    pub seeds: Vec<u64>,
    /// How latency is measured.
    pub latency: &'static str,
    /// What the plot shows.
    pub plot: &'static str,
    /// One object per scenario, in the command line's order.
    pub scenarios: Vec<Column>,
}

/// How latency is measured, in the JSON.
pub const LATENCY: &str = "successful requests of every seed pooled, nearest rank";

/// What the plot shows, in the JSON.
pub const PLOT: &str = "per window, the median over the seeds of each seed's p50 and p99";

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The file, as given.
    pub file: String,
    /// The scenario's name.
    pub name: String,
    /// Each seed's run.
    pub runs: Vec<SeedRun>,
    pub latency: Latency,
    pub availability: Availability,
    /// `None` without an availability objective.
    pub error_budget: Option<Budget>,
    pub recovery: Recovery,
    /// Successful requests per simulated second, the seeds' mean.
    pub throughput_rps: f64,
    pub checks: Checks,
    /// `None` unless `--capacity-p99` asked for it.
    pub capacity: Option<Capacity>,
    pub cost: Cost,
    pub plot: Plot,
}

/// One seed's run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    /// As `faultline run FILE --seed N` prints it.
    pub trace_hash: String,
    /// Requests counted in availability.
    pub requests: u64,
    pub ok: u64,
    pub availability: Option<f64>,
    /// Checks that failed the run.
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Successful requests measured.
    pub successful: u64,
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub worst_window_p99_ns: Option<u64>,
    /// The seed of the worst window.
    pub worst_window_seed: Option<u64>,
    /// When the worst window starts.
    pub worst_window_start_ns: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub requests: u64,
    pub ok: u64,
    /// ok / requests; `None` without requests.
    pub share: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// The objective's name.
    pub slo: String,
    /// Its target share.
    pub target: f64,
    /// (1 - availability) / (1 - target), the seeds' mean; `None` when a seed's is unbounded.
    pub burned_mean: Option<f64>,
    /// The worst seed's.
    pub burned_max: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Per disruptive fault, by its text and time ("kill db1 at 10s").
    pub rto: BTreeMap<String, Rto>,
    /// The largest RPO of the seeds; `None` when no seed measured one.
    pub rpo_max_ns: Option<u64>,
    /// The largest replication lag of a promoted replica just before its primary was lost,
    /// over the faults and seeds, ns; `None` when nothing was promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_at_loss_max_ns: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rto {
    /// When the fault struck.
    pub at_ns: u64,
    /// Seeds that measured it.
    pub seeds: u64,
    /// Of which never recovered.
    pub not_recovered: u64,
    /// `None` when a seed did not recover.
    pub mean_ns: Option<u64>,
    pub max_ns: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    pub seeds: u64,
    /// Seeds whose every check held.
    pub passed_seeds: u64,
    /// The checks that failed, each with the seeds it failed under.
    pub failed: BTreeMap<String, Vec<u64>>,
    /// The checks that could not decide, each with its seeds.
    pub undecided: BTreeMap<String, Vec<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Capacity {
    /// The highest rate that met the objective; `None` when none did or none could be tried.
    pub rps: Option<f64>,
    /// The lowest rate that did not.
    pub failing_rps: Option<f64>,
    /// Simulations the search ran.
    pub runs: usize,
    /// Why there is no search (a closed-loop workload); `None` when it ran.
    pub note: Option<String>,
}

impl Capacity {
    /// The figures of a capacity search's answer.
    pub fn of(answer: &Answer) -> Capacity {
        Capacity { rps: answer.passing_rps, failing_rps: answer.failing_rps, runs: answer.runs, note: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub currency: String,
    /// Hosts by kind.
    pub hosts: BTreeMap<String, f64>,
    /// Price per hour by kind: hosts times the kind's price per host-hour.
    pub per_hour: BTreeMap<String, f64>,
    pub total_per_hour: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plot {
    pub window_ns: u64,
    pub windows: Vec<PlotWindow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlotWindow {
    pub start_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

/// A fault's row key: its text up to a colon and when it struck, in seconds ("kill db1 at
/// 10s", "outage of region us-east at 20s").
pub fn fault_key(fault: &str, t_ns: u64) -> String {
    let seconds = format!("{:.3}", t_ns as f64 / 1e9);
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    // What follows a colon is how the fault acted (a region outage's hosts, "outage of region
    // us-east: kill [db,app]"; a degraded link's settings): architectures differ there, and
    // the row is what struck and when.
    let fault = fault.split_once(": ").map_or(fault, |(region, _)| region);
    format!("{fault} at {seconds}s")
}

/// One scenario's column from its runs (`runs` are its own, sorted by seed).
pub fn column(file: &str, plan: &RunPlan, cost: Option<&CostSpec>, runs: &[Run]) -> Column {
    let reports: Vec<&Report> = runs.iter().map(|r| &r.report).collect();
    Column {
        file: file.to_string(),
        name: plan.scenario.clone(),
        runs: runs.iter().map(seed_run).collect(),
        latency: latency(runs),
        availability: availability(&reports),
        error_budget: budget(&reports),
        recovery: recovery(&reports),
        throughput_rps: reports.iter().map(|r| r.end_to_end.throughput_rps).sum::<f64>() / reports.len().max(1) as f64,
        checks: checks(runs),
        capacity: None,
        cost: costs(plan, cost, &reports),
        plot: plot(runs),
    }
}

/// Requests counted in availability: ended, neither limited nor unauthorized.
fn counted(report: &Report) -> u64 {
    let e = &report.end_to_end;
    e.requests.saturating_sub(e.limited).saturating_sub(e.unauthorized)
}

fn seed_run(run: &Run) -> SeedRun {
    let r = &run.report;
    SeedRun {
        seed: run.seed,
        trace_hash: r.trace_hash.clone(),
        requests: counted(r),
        ok: r.end_to_end.ok,
        availability: r.end_to_end.availability,
        failed: r.failures().map(|c| c.name.clone()).collect(),
    }
}

fn latency(runs: &[Run]) -> Latency {
    let mut pooled = Latencies::default();
    let mut worst: Option<(u64, u64, u64)> = None;
    for run in runs {
        pooled.merge(&run.latencies);
        for (i, window) in run.windows.iter().enumerate() {
            let Some(p99) = window.quantile(0.99).filter(|_| window.count() >= MIN_WINDOW_REQUESTS) else { continue };
            if worst.is_none_or(|(w, _, _)| p99 > w) {
                worst = Some((p99, run.seed, i as u64 * run.window_ns));
            }
        }
    }
    Latency {
        successful: pooled.count(),
        p50_ns: pooled.quantile(0.5),
        p99_ns: pooled.quantile(0.99),
        worst_window_p99_ns: worst.map(|w| w.0),
        worst_window_seed: worst.map(|w| w.1),
        worst_window_start_ns: worst.map(|w| w.2),
    }
}

fn availability(reports: &[&Report]) -> Availability {
    let requests: u64 = reports.iter().map(|r| counted(r)).sum();
    let ok: u64 = reports.iter().map(|r| r.end_to_end.ok).sum();
    Availability { requests, ok, share: (requests > 0).then(|| ok as f64 / requests as f64) }
}

fn budget(reports: &[&Report]) -> Option<Budget> {
    let first = reports.first()?;
    let chosen = first.error_budgets.iter().find(|b| b.service.is_none()).or(first.error_budgets.first())?;
    let burns: Vec<Option<f64>> = reports
        .iter()
        .map(|r| r.error_budgets.iter().find(|b| b.slo == chosen.slo && b.service == chosen.service))
        .map(|b| b.and_then(|b| b.burned))
        .collect();
    let burns: Option<Vec<f64>> = burns.into_iter().collect();
    Some(Budget {
        slo: chosen.slo.clone(),
        target: chosen.target,
        burned_mean: burns.as_ref().map(|b| b.iter().sum::<f64>() / b.len().max(1) as f64),
        burned_max: burns.as_ref().and_then(|b| b.iter().copied().reduce(f64::max)),
    })
}

fn recovery(reports: &[&Report]) -> Recovery {
    let mut measured: BTreeMap<String, (u64, Vec<Option<u64>>)> = BTreeMap::new();
    let mut rpo_max_ns: Option<u64> = None;
    let mut lag_at_loss_max_ns: Option<u64> = None;
    for data in reports.iter().filter_map(|r| r.data.as_ref()) {
        for r in &data.recovery {
            measured.entry(fault_key(&r.fault, r.t_ns)).or_insert_with(|| (r.t_ns, Vec::new())).1.push(r.rto_ns);
            if let Some(ms) = r.lag_at_loss_ms {
                lag_at_loss_max_ns = Some(lag_at_loss_max_ns.unwrap_or(0).max(ms.saturating_mul(1_000_000)));
            }
        }
        if let Some(durability) = &data.durability {
            rpo_max_ns = Some(rpo_max_ns.unwrap_or(0).max(durability.rpo_ns));
        }
    }
    let rto = measured
        .into_iter()
        .map(|(key, (at_ns, rtos))| {
            let recovered: Option<Vec<u64>> = rtos.iter().copied().collect();
            let rto = Rto {
                at_ns,
                seeds: rtos.len() as u64,
                not_recovered: rtos.iter().filter(|r| r.is_none()).count() as u64,
                mean_ns: recovered.as_ref().map(|r| r.iter().sum::<u64>() / r.len().max(1) as u64),
                max_ns: recovered.as_ref().and_then(|r| r.iter().copied().max()),
            };
            (key, rto)
        })
        .collect();
    Recovery { rto, rpo_max_ns, lag_at_loss_max_ns }
}

fn checks(runs: &[Run]) -> Checks {
    let mut failed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut undecided: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for run in runs {
        for c in run.report.failures() {
            failed.entry(c.name.clone()).or_default().push(run.seed);
        }
        for c in run.report.undecided() {
            undecided.entry(c.name.clone()).or_default().push(run.seed);
        }
    }
    Checks {
        seeds: runs.len() as u64,
        passed_seeds: runs.iter().filter(|r| r.report.verdict() == Verdict::Pass).count() as u64,
        failed,
        undecided,
    }
}

/// The kind a file names a host's service with: the key of its plan's JSON (`{"kv": ...}`).
fn kind(service: &faultline_sim::services::ServicePlan) -> String {
    match serde_json::to_value(service).expect("plans serialize") {
        serde_json::Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
        serde_json::Value::String(name) => name,
        other => other.to_string(),
    }
}

/// The time-weighted mean of a pool's instances (ready and starting) over the run; `None`
/// without the autoscale section.
fn mean_instances(report: &Report, initial: u32) -> Option<f64> {
    let scaled = report.autoscale.as_ref()?;
    let end_s = report.duration_s.max(f64::MIN_POSITIVE);
    let (mut at_s, mut size, mut area) = (0.0_f64, f64::from(initial), 0.0);
    for count in scaled.counts.iter().filter(|c| c.t_s < end_s) {
        area += size * (count.t_s.max(at_s) - at_s);
        at_s = count.t_s.max(at_s);
        size = f64::from(count.ready + count.starting);
    }
    Some((area + size * (end_s - at_s)) / end_s)
}

fn costs(plan: &RunPlan, spec: Option<&CostSpec>, reports: &[&Report]) -> Cost {
    let pool: &[u16] = plan.autoscale.as_ref().map_or(&[], |a| &a.instances);
    let mut hosts: BTreeMap<String, f64> = BTreeMap::new();
    for (i, host) in plan.hosts.iter().enumerate() {
        if !pool.iter().any(|&p| usize::from(p) == i) {
            *hosts.entry(kind(&host.service)).or_default() += 1.0;
        }
    }
    if let (Some(scaled), Some(&first)) = (&plan.autoscale, pool.first()) {
        let means: Option<Vec<f64>> = reports.iter().map(|r| mean_instances(r, scaled.initial)).collect();
        let count = match means {
            Some(m) if !m.is_empty() => m.iter().sum::<f64>() / m.len() as f64,
            Some(_) | None => pool.len() as f64,
        };
        *hosts.entry(kind(&plan.hosts[usize::from(first)].service)).or_default() += count;
    }
    let default = CostSpec::default();
    let spec = spec.unwrap_or(&default);
    let per_hour: BTreeMap<String, f64> = hosts.iter().map(|(k, &n)| (k.clone(), n * spec.price(k))).collect();
    Cost { currency: spec.currency().to_string(), total_per_hour: per_hour.values().sum(), hosts, per_hour }
}

/// The median of `values` (the lower middle of an even count); `None` when empty.
fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

fn plot(runs: &[Run]) -> Plot {
    let window_ns = runs.first().map_or(1, |r| r.window_ns);
    let count = runs.iter().map(|r| r.windows.len()).max().unwrap_or(0);
    let windows = (0..count)
        .filter_map(|i| {
            let of = |q: f64| median(runs.iter().filter_map(|r| r.windows.get(i)?.quantile(q)).collect());
            Some(PlotWindow { start_ns: i as u64 * window_ns, p50_ns: of(0.5)?, p99_ns: of(0.99)? })
        })
        .collect();
    Plot { window_ns, windows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_keyed_by_text_and_time() {
        assert_eq!(fault_key("kill db1", 10_000_000_000), "kill db1 at 10s");
        assert_eq!(fault_key("kill db1", 12_500_000_000), "kill db1 at 12.5s");
        assert_eq!(fault_key("partition [a] | [b]", 250_000_000), "partition [a] | [b] at 0.25s");
        assert_eq!(fault_key("x", 0), "x at 0s");
        let outage = "outage of region us-east: kill [db,app]";
        assert_eq!(
            fault_key(outage, 20_000_000_000),
            "outage of region us-east at 20s",
            "one row for every architecture"
        );
    }

    #[test]
    fn the_median_is_the_middle_or_the_lower_middle() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7]), Some(7));
        assert_eq!(median(vec![9, 1, 5]), Some(5));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
