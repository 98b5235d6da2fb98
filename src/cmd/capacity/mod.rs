//! `faultline capacity`: the highest arrival rate at which a scenario meets a latency and an
//! availability objective, and what ran out first beyond it.
//!
//! The scenario is compiled once; each rate tried is the plan with its open-loop arrivals
//! scaled (same shape over time, `rate / base` times the load), run under seeds 1..=N, one
//! simulation per worker thread (results sorted by seed, so nothing depends on thread timing).
//! A rate passes when every seed's p99 latency of successful requests is within the objective
//! and its availability at least the target. The rates tried come from [`search`]; what each
//! run yields from [`measure`]; what saturated from [`saturation`]; the output from [`output`].
//! The scenario's faults are dropped unless `--with-faults` keeps them; its own SLOs and checks
//! are not judged.
//!
//! Exit: 0 when a rate passes, 1 when even the lowest rate tried breaks the objective, 2 for
//! bad input (a closed-loop workload included), 4 when a simulation failed.

pub mod measure;
mod output;
mod saturation;
pub(crate) mod search;

use super::load;
use super::run::Failure;
use crate::cli::Format;
use crate::exit::Exit;
use faultline_sim::RunPlan;
use measure::Figures;
use saturation::{Limits, Onset};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What the command line asked for (flags validated by the parser).
#[derive(Debug, Clone)]
pub struct Options {
    /// The scenario file.
    pub file: PathBuf,
    /// The bound of the p99 latency of successful requests.
    pub slo_p99: Duration,
    /// The least share of successful requests, in (0, 1].
    pub availability: f64,
    /// Seeds 1..=this at each rate.
    pub seeds: u64,
    /// The largest rate tried, requests per second.
    pub max_rate: f64,
    /// How narrow the search's bracket ends: the failing rate at most this share above the
    /// passing.
    pub precision: f64,
    /// Keep the scenario's faults.
    pub with_faults: bool,
    /// Output format.
    pub format: Format,
}

/// One rate tried.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    /// Requests per second offered, all load generators together.
    pub rate_rps: f64,
    /// Whether every seed met the objective.
    pub pass: bool,
    /// The largest of the seeds' p99s, milliseconds; `None` when a seed had no success.
    pub p99_ms: Option<f64>,
    /// The smallest of the seeds' availabilities; `None` when a seed issued nothing.
    pub availability: Option<f64>,
    /// The seeds' mean throughput, successful requests per second.
    pub throughput_rps: f64,
    /// Each seed's figures.
    pub seeds: Vec<Figures>,
}

/// What saturated first at the failing rate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Saturated {
    /// The seed it was seen under (the earliest onset over the seeds that failed).
    pub seed: u64,
    /// What, where and when.
    #[serde(flatten)]
    pub onset: Onset,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's own mean arrival rate, requests per second: where the search starts.
    pub base_rate_rps: f64,
    /// The latency objective, milliseconds.
    pub slo_p99_ms: f64,
    /// The availability objective.
    pub availability_target: f64,
    /// Seeds run at each rate (1..=seeds).
    pub seeds: u64,
    /// The largest rate the search may try.
    pub max_rate_rps: f64,
    /// The bracket the search narrowed to: the failing rate at most this share above the
    /// passing.
    pub precision: f64,
    /// Faults in the file.
    pub faults_in_file: usize,
    /// Whether they were kept.
    pub with_faults: bool,
    /// The highest rate that passed.
    pub passing_rps: Option<f64>,
    /// The lowest rate that failed.
    pub failing_rps: Option<f64>,
    /// Simulations run.
    pub runs: usize,
    /// Every rate tried, by rate.
    pub rates: Vec<Row>,
    /// What saturated first at the failing rate; `None` when nothing did or nothing failed.
    pub saturated: Option<Saturated>,
}

pub fn run(options: &Options) -> Exit {
    let scenario = match load(&options.file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let answer = match answer(&scenario, options) {
        Ok(answer) => answer,
        Err(Stopped::NoRate(e)) => {
            eprintln!("error: {}: capacity scales the workload's arrival rate: {e}", options.file.display());
            return Exit::BadInput;
        }
        Err(Stopped::Failed(rate, seed, failure)) => {
            eprintln!("error: the run at {} req/s under seed {seed} failed: {failure}", output::rate(rate));
            return failure.exit();
        }
    };
    match options.format {
        Format::Text => out!("{}", output::text(&answer)),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&answer).expect("answers serialize")),
    }
    if answer.passing_rps.is_some() { Exit::Pass } else { Exit::CheckFailed }
}

/// Why a search gave no answer.
#[derive(Debug)]
pub enum Stopped {
    /// The workload has no rate to scale (closed loop, or 0): bad input.
    NoRate(faultline_sim::plan::ScaleError),
    /// A simulation failed: the rate, the seed and why.
    Failed(f64, u64, Failure),
}

/// Searches the highest rate at which `scenario` meets the objective of `options` (its `file`
/// and `format` are not read), printing nothing.
pub fn answer(scenario: &faultline_sim::scenario::Scenario, options: &Options) -> Result<Answer, Stopped> {
    let mut plan = faultline_sim::compile(scenario, None);
    let base_rate = plan.offered_rate().map_err(Stopped::NoRate)?;
    let faults_in_file = scenario.faults.len();
    if !options.with_faults {
        plan.drop_faults();
    }
    let limits = limits(&plan, options.slo_p99);
    let mut rows: Vec<Row> = Vec::new();
    let knee = search::search(base_rate, options.max_rate, options.precision, |rate| {
        let row = probe(&plan, base_rate, rate, options, &limits)?;
        let pass = row.pass;
        rows.push(row);
        Ok(pass)
    })
    .map_err(|(rate, seed, failure)| Stopped::Failed(rate, seed, failure))?;
    let runs = rows.len() * options.seeds as usize;
    rows.sort_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps));
    let saturated = knee.failing.and_then(|f| rows.iter().find(|r| r.rate_rps == f)).and_then(first_saturated);
    Ok(Answer {
        scenario: scenario.name.clone(),
        base_rate_rps: base_rate,
        slo_p99_ms: options.slo_p99.as_secs_f64() * 1e3,
        availability_target: options.availability,
        seeds: options.seeds,
        max_rate_rps: options.max_rate,
        precision: options.precision,
        faults_in_file,
        with_faults: options.with_faults,
        passing_rps: knee.passing,
        failing_rps: knee.failing,
        runs,
        rates: rows,
        saturated,
    })
}

/// A failed simulation: the rate, the seed and why.
type ProbeError = (f64, u64, Failure);

/// Runs the plan at `rate` under every seed and judges it.
fn probe(plan: &RunPlan, base: f64, rate: f64, options: &Options, limits: &[Limits]) -> Result<Row, ProbeError> {
    let mut scaled = plan.clone();
    scaled.scale_arrivals(rate / base).expect("the base rate was measured from this plan: it scales");
    let seeds: Vec<u64> = (1..=options.seeds).collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len());
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut one = scaled.clone();
                    one.seed = seed;
                    let result = measure::measure(&one, limits).map_err(|f| (rate, seed, f));
                    results.lock().expect("no worker panics holding the lock").push((seed, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers finished");
    results.sort_by_key(|(seed, _)| *seed);
    let figures: Vec<Figures> = results.into_iter().map(|(_, r)| r).collect::<Result<_, _>>()?;
    Ok(row(rate, figures, options))
}

/// Whether one seed's run met the objective.
fn passes(figures: &Figures, options: &Options) -> bool {
    let slo_ms = options.slo_p99.as_secs_f64() * 1e3;
    figures.p99_ms.is_some_and(|p| p <= slo_ms) && figures.availability.is_some_and(|a| a >= options.availability)
}

fn row(rate: f64, seeds: Vec<Figures>, options: &Options) -> Row {
    let worst = |values: Vec<Option<f64>>, max: bool| -> Option<f64> {
        let values: Option<Vec<f64>> = values.into_iter().collect();
        let values = values?;
        values.into_iter().reduce(|a, b| if (a >= b) == max { a } else { b })
    };
    Row {
        rate_rps: rate,
        pass: seeds.iter().all(|f| passes(f, options)),
        p99_ms: worst(seeds.iter().map(|f| f.p99_ms).collect(), true),
        availability: worst(seeds.iter().map(|f| f.availability).collect(), false),
        throughput_rps: seeds.iter().map(|f| f.throughput_rps).sum::<f64>() / seeds.len().max(1) as f64,
        seeds,
    }
}

/// The earliest onset over the seeds of a failing rate; ties go to the lower seed.
fn first_saturated(row: &Row) -> Option<Saturated> {
    row.seeds
        .iter()
        .filter_map(|f| f.saturated.as_ref().map(|o| (f.seed, o)))
        .min_by(|a, b| a.1.t_s.total_cmp(&b.1.t_s).then(a.1.resource.cmp(&b.1.resource)).then(a.0.cmp(&b.0)))
        .map(|(seed, onset)| Saturated { seed, onset: onset.clone() })
}

/// Each service host's limits, by trace index. A replica's lag bound is the smallest `max_lag`
/// of a router reading from it (found in the plan as its JSON shows it: an object with
/// `members` and `max_lag_ns`), else the run's staleness bound, else the latency objective.
fn limits(plan: &RunPlan, slo_p99: Duration) -> Vec<Limits> {
    let mut routed = BTreeMap::new();
    routers(&serde_json::to_value(plan).expect("plans serialize"), &mut routed);
    let fallback_ms = plan.checks.max_staleness_ns.map_or(slo_p99.as_secs_f64() * 1e3, |ns| ns as f64 / 1e6);
    plan.hosts
        .iter()
        .map(|h| Limits {
            name: h.name.clone(),
            workers: h.capacity.workers,
            max_connections: h.capacity.max_connections,
            lag_bound_ms: routed.get(&h.name).copied().unwrap_or(fallback_ms),
        })
        .collect()
}

/// Collects, per member host, the smallest `max_lag_ns` (as milliseconds) of the routers found.
fn routers(value: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (Some(members), Some(max_lag_ns)) =
                (map.get("members").and_then(|m| m.as_array()), map.get("max_lag_ns").and_then(|m| m.as_u64()))
            {
                for member in members.iter().filter_map(|m| m.as_str()) {
                    let host = member.split(':').next().unwrap_or(member).to_string();
                    let bound = out.entry(host).or_insert(f64::INFINITY);
                    *bound = bound.min(max_lag_ns as f64 / 1e6);
                }
            }
            map.values().for_each(|v| routers(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| routers(v, out)),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(seed: u64, p99_ms: Option<f64>, availability: Option<f64>) -> Figures {
        Figures { seed, requests: 100, availability, p99_ms, throughput_rps: 10.0 * seed as f64, saturated: None }
    }

    fn options() -> Options {
        Options {
            file: PathBuf::from("s.toml"),
            slo_p99: Duration::from_millis(200),
            availability: 0.999,
            seeds: 2,
            max_rate: 1e7,
            precision: search::PRECISION,
            with_faults: false,
            format: Format::Json,
        }
    }

    #[test]
    fn a_rate_passes_only_when_every_seed_does_and_shows_the_worst() {
        let good =
            row(10.0, vec![figures(1, Some(150.0), Some(1.0)), figures(2, Some(200.0), Some(0.999))], &options());
        assert!(good.pass);
        assert_eq!((good.p99_ms, good.availability, good.throughput_rps), (Some(200.0), Some(0.999), 15.0));
        let slow = row(10.0, vec![figures(1, Some(150.0), Some(1.0)), figures(2, Some(200.1), Some(1.0))], &options());
        assert!(!slow.pass);
        let lossy = row(10.0, vec![figures(1, Some(1.0), Some(0.998)), figures(2, Some(1.0), Some(1.0))], &options());
        assert!(!lossy.pass);
        assert_eq!(lossy.availability, Some(0.998));
        let empty = row(10.0, vec![figures(1, None, Some(0.0)), figures(2, Some(1.0), Some(1.0))], &options());
        assert!(!empty.pass, "no successful request: no latency to meet the objective with");
        assert_eq!(empty.p99_ms, None);
    }

    #[test]
    fn a_routers_max_lag_bounds_its_replicas() {
        let plan = serde_json::json!({"hosts": [{"service": {"app": {"store": {"routed": {
            "members": ["db1:7000", "db2:7000"], "max_lag_ns": 250_000_000u64}}}}},
            {"members": ["db2:7000"], "max_lag_ns": 100_000_000u64}]});
        let mut found = BTreeMap::new();
        routers(&plan, &mut found);
        assert_eq!(found, BTreeMap::from([("db1".to_string(), 250.0), ("db2".to_string(), 100.0)]));
    }
}
