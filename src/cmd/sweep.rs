//! `faultline sweep`: every scenario under many seeds, one simulation per worker thread.
//!
//! Each simulation is deterministic and single-threaded; parallelism is only across runs, so a
//! failure found on a worker reproduces exactly with `faultline run FILE --seed N`. Results are
//! sorted by (file, seed) before printing, so the summary does not depend on thread timing.
//!
//! A run in which the simulator panicked does not stop the sweep: it is counted as an internal
//! error, printed with its message and reproduce line, and the other runs go on.
//!
//! A check a scenario declares in `expected_failures` passes its run by failing (it is counted
//! apart, as failed as expected) and fails it by holding.
//!
//! Exit: 4 when any run hit an internal error (whatever the others found: the sweep's verdict is
//! incomplete), else 1 when a check failed on any run, else 3 when a check could not decide on
//! any run (UNKNOWN is not a pass), else 0.

use super::load;
use super::run::Failure;
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::report::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, serde::Serialize)]
struct RunResult {
    file: PathBuf,
    seed: u64,
    /// Names of the failed checks; a run that could not complete fails "run completes".
    failed: Vec<String>,
    /// Names of the checks that could not decide.
    undecided: Vec<String>,
    /// Names of the checks that failed as the scenario expected (they pass the run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expected: Vec<String>,
    /// Why the simulator gave this run no outcome (a panic): the sweep's verdict is incomplete.
    internal_error: Option<String>,
    hash: Option<String>,
}

impl RunResult {
    /// The run's verdict: failed, else undecided, else passed.
    fn verdict(&self) -> Verdict {
        match (self.failed.is_empty(), self.undecided.is_empty()) {
            (false, _) => Verdict::Fail,
            (true, false) => Verdict::Unknown,
            (true, true) => Verdict::Pass,
        }
    }
}

pub fn run(files: &[PathBuf], first_seed: u64, seeds: u64, jobs: Option<u32>, format: Format) -> Exit {
    let mut scenarios = Vec::new();
    for f in files {
        match load(f) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(exit) => return exit,
        }
    }
    let Some(last_seed) = first_seed.checked_add(seeds - 1) else {
        eprintln!("error: --first-seed {first_seed} + --seeds {seeds} overflows a 64-bit seed");
        return Exit::BadInput;
    };
    let jobs = jobs.map(|j| j as usize).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let work: Vec<(usize, u64)> =
        (0..scenarios.len()).flat_map(|i| (first_seed..=last_seed).map(move |s| (i, s))).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(work.len()));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(work.len()) {
            scope.spawn(|| {
                while let Some(&(i, seed)) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (file, scenario) = &scenarios[i];
                    let result = one(file, scenario, seed);
                    results.lock().expect("no worker panics holding the lock").push(result);
                }
            });
        }
    });
    let wall = started.elapsed();
    let mut results = results.into_inner().expect("workers finished");
    results.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
    summarise(&results, wall.as_secs_f64(), jobs, format)
}

fn one(file: &Path, scenario: &faultline_sim::scenario::Scenario, seed: u64) -> RunResult {
    let mut result = RunResult {
        file: file.to_path_buf(),
        seed,
        failed: Vec::new(),
        undecided: Vec::new(),
        expected: Vec::new(),
        internal_error: None,
        hash: None,
    };
    match super::run::simulate(scenario, Some(seed), None) {
        Ok(o) => {
            result.failed = o.report.failures().map(|c| c.name.clone()).collect();
            result.undecided = o.report.undecided().map(|c| c.name.clone()).collect();
            result.expected = o.report.expected_failures().map(|c| c.name.clone()).collect();
            result.hash = Some(o.hash.to_string());
        }
        Err(Failure::Internal(message)) => result.internal_error = Some(message),
        Err(e @ Failure::Output(_)) => result.failed = vec![format!("run completes ({e})")],
    }
    result
}

/// How many runs each check failed (or could not decide) on.
fn by_check<'a>(results: impl Iterator<Item = &'a Vec<String>>) -> BTreeMap<&'a str, usize> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for names in results {
        for c in names {
            *counts.entry(c.as_str()).or_default() += 1;
        }
    }
    counts
}

fn summarise(results: &[RunResult], wall_s: f64, jobs: usize, format: Format) -> Exit {
    let failures: Vec<&RunResult> = results.iter().filter(|r| r.verdict() == Verdict::Fail).collect();
    let undecided: Vec<&RunResult> = results.iter().filter(|r| r.verdict() == Verdict::Unknown).collect();
    let failed_by_check = by_check(failures.iter().map(|r| &r.failed));
    let undecided_by_check = by_check(results.iter().map(|r| &r.undecided));
    let expected_by_check = by_check(results.iter().map(|r| &r.expected));
    let expected_runs = results.iter().filter(|r| !r.expected.is_empty()).count();
    let internal: Vec<&RunResult> = results.iter().filter(|r| r.internal_error.is_some()).collect();
    let rate = results.len() as f64 / wall_s.max(1e-9);
    match format {
        Format::Json => {
            let json = serde_json::json!({
                "runs": results.len(),
                "failures": failures.len(),
                "failures_by_check": failed_by_check,
                "undecided": undecided.len(),
                "undecided_by_check": undecided_by_check,
                "failed_as_expected": expected_runs,
                "failed_as_expected_by_check": expected_by_check,
                "internal_errors": internal.len(),
                "wall_s": wall_s,
                "seeds_per_s": rate,
                "jobs": jobs,
                "results": results,
            });
            outln!("{}", serde_json::to_string_pretty(&json).expect("json"));
        }
        Format::Text => {
            outln!("sweep: {} runs on {jobs} threads in {wall_s:.2} s ({rate:.1} seeds/s)", results.len());
            outln!("failed runs: {}", failures.len());
            for (check, n) in &failed_by_check {
                outln!("  {n:>6}  {check}");
            }
            if !undecided.is_empty() {
                outln!("undecided runs (no check failed, one could not decide): {}", undecided.len());
            }
            if expected_runs > 0 {
                outln!("runs with a check that failed as its scenario expects (not a failure): {expected_runs}");
                for (check, n) in &expected_by_check {
                    outln!("  {n:>6}  {check}");
                }
            }
            for r in &failures {
                outln!("FAIL {} --seed {}: {}", r.file.display(), r.seed, r.failed.join("; "));
                outln!("  reproduce: {}", super::run::reproduce(&r.file, r.seed));
            }
            for r in &undecided {
                outln!("UNKNOWN {} --seed {}: {}", r.file.display(), r.seed, r.undecided.join("; "));
                outln!("  reproduce: {}", super::run::reproduce(&r.file, r.seed));
            }
            if !internal.is_empty() {
                outln!("internal errors: {}", internal.len());
            }
            for r in &internal {
                let message = r.internal_error.as_deref().unwrap_or_default();
                outln!("INTERNAL ERROR {} --seed {}: {message}", r.file.display(), r.seed);
                outln!("  reproduce: {}", super::run::reproduce(&r.file, r.seed));
            }
        }
    }
    if internal.is_empty() {
        Exit::from_verdict(Verdict::fold(results.iter().map(RunResult::verdict)))
    } else {
        Exit::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seed: u64, failed: &[&str], undecided: &[&str], internal_error: Option<&str>) -> RunResult {
        RunResult {
            file: PathBuf::from("s.toml"),
            seed,
            failed: failed.iter().map(|s| s.to_string()).collect(),
            undecided: undecided.iter().map(|s| s.to_string()).collect(),
            expected: Vec::new(),
            internal_error: internal_error.map(str::to_string),
            hash: None,
        }
    }

    #[test]
    fn the_exit_code_puts_an_internal_error_before_a_failed_check_and_that_before_an_unknown() {
        let pass = result(1, &[], &[], None);
        let fail = result(2, &["availability"], &[], None);
        let unknown = result(4, &[], &["linearizable"], None);
        let panicked = result(3, &[], &[], Some("internal error: the simulation panicked: boom"));
        let cases = [
            (vec![pass.clone()], Exit::Pass),
            (vec![pass.clone(), unknown.clone()], Exit::Undecided),
            (vec![pass.clone(), fail.clone(), unknown.clone()], Exit::CheckFailed),
            (vec![pass.clone(), panicked.clone()], Exit::Internal),
            (vec![fail, panicked, pass, unknown], Exit::Internal),
        ];
        for (results, exit) in cases {
            assert_eq!(summarise(&results, 1.0, 1, Format::Json), exit, "{results:?}");
        }
    }
}
