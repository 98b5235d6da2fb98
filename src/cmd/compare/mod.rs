//! `faultline compare`: architectures side by side. Every scenario runs under the same seeds
//! (one simulation per worker thread), and the output is one table: a column per scenario, a
//! row per figure (latency, availability, error budget, RTO and RPO, throughput, checks, the
//! capacity at an objective when asked for, hosts and their cost).
//!
//! [`collect`] runs the scenarios and folds each run's trace, [`figures`] computes the columns
//! (the JSON's layout and every definition), [`rows`] says which rows the table has and how a
//! cell reads its figure from the JSON, and [`text`], [`json`], [`html`] (with [`plot`]) write
//! it. The capacity rows come from the capacity search (`cmd::capacity::answer`, faults
//! dropped, seeds 1..N, as `faultline capacity` runs it).
//!
//! Exit: 0 when the table was made (a failed check shows in it), 2 for bad input (a scenario
//! with its located error, a closed-loop workload asked for its capacity excepted: its cell says
//! why it has none), 4 when a simulation failed.
//!
//! Owns: the command's flow. Must not: print before every figure is known.

mod collect;
mod figures;
mod html;
mod json;
mod plot;
mod rows;
mod text;

use super::capacity::{self, Stopped};
use super::{fail, load};
use crate::cli::CompareFormat;
use crate::exit::Exit;
use faultline_sim::scenario::Scenario;
use figures::{Capacity, Comparison};
use std::path::PathBuf;
use std::time::Duration;

/// The capacity objective `--capacity-p99` asks the capacity rows for.
#[derive(Debug, Clone, Copy)]
pub struct CapacityGoal {
    /// The bound of the p99 latency of successful requests.
    pub p99: Duration,
    /// The least share of successful requests, in (0, 1].
    pub availability: f64,
    /// The largest rate tried, requests per second.
    pub max_rate: f64,
    /// The search's bracket: the failing rate at most this share above the passing.
    pub precision: f64,
}

/// What the command line asked for (flags validated by the parser).
#[derive(Debug, Clone)]
pub struct Options {
    /// The scenario files, one column each, in this order.
    pub files: Vec<PathBuf>,
    /// Seeds per scenario.
    pub seeds: u64,
    /// The first seed.
    pub first_seed: u64,
    /// Worker threads (default: the number of cores).
    pub jobs: Option<u32>,
    pub format: CompareFormat,
    /// Where the output goes (default: standard output).
    pub out: Option<PathBuf>,
    /// The capacity rows' objective, when asked for.
    pub capacity: Option<CapacityGoal>,
}

pub fn run(options: &Options) -> Exit {
    let mut scenarios = Vec::with_capacity(options.files.len());
    for file in &options.files {
        match load(file) {
            Ok(s) => scenarios.push(s),
            Err(exit) => return exit,
        }
    }
    let Some(last) = options.first_seed.checked_add(options.seeds - 1) else {
        eprintln!("error: --first-seed {} + --seeds {} overflows a 64-bit seed", options.first_seed, options.seeds);
        return Exit::BadInput;
    };
    let seeds: Vec<u64> = (options.first_seed..=last).collect();
    let jobs =
        options.jobs.map(|j| j as usize).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runs = match collect::all(&scenarios, &seeds, jobs) {
        Ok(runs) => runs,
        Err((i, seed, failure)) => {
            return super::run::failed(&failure, &super::run::reproduce(&options.files[i], seed));
        }
    };
    let mut columns = Vec::with_capacity(scenarios.len());
    for (i, scenario) in scenarios.iter().enumerate() {
        let plan = faultline_sim::compile(scenario, None);
        let own: Vec<collect::Run> = runs.iter().filter(|r| r.scenario == i).cloned().collect();
        let file = options.files[i].display().to_string();
        let mut column = figures::column(&file, &plan, scenario.cost.as_ref(), &own);
        if let Some(goal) = options.capacity {
            match capacity_of(scenario, &options.files[i], options.seeds, goal) {
                Ok(capacity) => column.capacity = Some(capacity),
                Err(exit) => return exit,
            }
        }
        columns.push(column);
    }
    let comparison = Comparison { seeds, latency: figures::LATENCY, plot: figures::PLOT, scenarios: columns };
    let value = json::value(&comparison);
    let columns: Vec<serde_json::Value> = value["scenarios"].as_array().cloned().unwrap_or_default();
    let rows = rows::rows(&columns);
    let output = match options.format {
        CompareFormat::Text => text::render(&value, &rows),
        CompareFormat::Json => json::render(&comparison) + "\n",
        CompareFormat::Html => html::render(&value, &rows),
    };
    match &options.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, output) {
                return fail(&format!("cannot write {}", path.display()), e);
            }
        }
        None => out!("{output}"),
    }
    Exit::Pass
}

/// The capacity search of one scenario (faults dropped, seeds 1..=`seeds`); a workload without
/// a rate to scale has none, and its note says why.
fn capacity_of(scenario: &Scenario, file: &std::path::Path, seeds: u64, goal: CapacityGoal) -> Result<Capacity, Exit> {
    let options = capacity::Options {
        file: file.to_path_buf(),
        slo_p99: goal.p99,
        availability: goal.availability,
        seeds,
        max_rate: goal.max_rate,
        precision: goal.precision,
        with_faults: false,
        format: crate::cli::Format::Json,
    };
    match capacity::answer(scenario, &options) {
        Ok(answer) => Ok(Capacity::of(&answer)),
        Err(Stopped::NoRate(e)) => Ok(Capacity { rps: None, failing_rps: None, runs: 0, note: Some(e.to_string()) }),
        Err(Stopped::Failed(rate, seed, failure)) => {
            eprintln!(
                "error: {}: the capacity search's run at {rate:.1} req/s under seed {seed} failed: {failure}",
                file.display()
            );
            Err(failure.exit())
        }
    }
}
