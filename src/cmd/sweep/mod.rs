//! `faultline sweep`: every scenario under many seeds, one simulation per worker thread.
//!
//! Each simulation is deterministic and single-threaded; parallelism is only across runs, so a
//! failure found on a worker reproduces exactly with `faultline run FILE --seed N`. The work is
//! the list of (scenario, seed) pairs sorted by file, then seed; `--shard K/N` (or the
//! environment, see [`shard`]) keeps every N-th pair. Results are sorted the same way before
//! anything is printed or written, so nothing depends on thread timing.
//!
//! With `--out DIR` each finished run's result is written at once to `DIR/runs/` (see
//! [`results`]) and a rerun of the same command skips the runs whose result is there for the
//! same scenario bytes; at the end `DIR/summary.json` holds what the runs decided. `--junit
//! FILE` writes them as a JUnit report ([`junit`]). `faultline merge` joins shards' directories.
//!
//! A run in which the simulator panicked does not stop the sweep: it is counted as an internal
//! error, printed with its message and reproduce line, and the other runs go on. A check a
//! scenario declares in `expected_failures` passes its run by failing.
//!
//! Exit: 4 when any run hit an internal error, else 1 when a check failed on any run, else 3
//! when a check could not decide on any run (UNKNOWN is not a pass), else 0; 2 for bad input
//! (a scenario, a flag, a shard, or an output that cannot be written).
//!
//! Owns: the order of the work and the worker threads. Must not: print a run's report.

pub mod corpus;
pub mod inputs;
pub mod junit;
pub mod progress;
pub mod results;
pub mod shard;
pub mod summary;

use super::load;
use super::run::{Failure, Variant};
use crate::cli::Format;
use crate::exit::Exit;
use faultline_sim::scenario::Scenario;
use results::{CheckNote, RunKey, RunResult};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What `faultline sweep` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenario files and directories of them.
    pub paths: Vec<PathBuf>,
    pub first_seed: u64,
    pub seeds: u64,
    /// Worker threads (default: the number of cores).
    pub jobs: Option<u32>,
    pub format: Format,
    /// The results directory.
    pub out: Option<PathBuf>,
    /// The JUnit report's path.
    pub junit: Option<PathBuf>,
    /// `--shard K/N`, unparsed.
    pub shard: Option<String>,
    /// Swarm runs, a planted bug.
    pub variant: Variant,
    /// The regression corpus the failures found are appended to.
    pub record_failures: Option<PathBuf>,
}

/// A scenario to sweep: where it is, what it says, and the hash of its bytes; for an entry of
/// a regression corpus, the one seed it runs and the checks it judges.
struct Input {
    file: PathBuf,
    scenario: Scenario,
    content_hash: String,
    entry: Option<Entry>,
}

impl Input {
    /// How the sweep's `variant` runs this input: a corpus entry's schedule is its whole
    /// schedule, so it draws nothing more.
    fn variant(&self, variant: Variant) -> Variant {
        if self.entry.is_some() { variant.scripted() } else { variant }
    }
}

/// A regression corpus entry as a sweep runs it.
struct Entry {
    /// The seed it failed under.
    seed: u64,
    /// The checks that failed then: they are what the run judges now.
    judge: Vec<String>,
}

/// One line about a run: `LABEL FILE --seed N: WHAT`.
pub fn run_line(label: &str, r: &RunResult, what: &str) -> String {
    format!("{label} {} --seed {}: {what}", r.file.display(), r.seed)
}

pub fn run(options: &Options) -> Exit {
    let started = Instant::now();
    let inputs = match load_inputs(&options.paths) {
        Ok(inputs) => inputs,
        Err(exit) => return exit,
    };
    let Some(last_seed) = options.first_seed.checked_add(options.seeds - 1) else {
        eprintln!("error: --first-seed {} + --seeds {} overflows a 64-bit seed", options.first_seed, options.seeds);
        return Exit::BadInput;
    };
    if let Some(junit) = options.junit.as_ref().filter(|j| j.is_dir()) {
        return super::fail("bad --junit", format!("{} is a directory; expected a file to write", junit.display()));
    }
    let chosen = match shard::choose(options.shard.as_deref(), |name| std::env::var(name).ok()) {
        Ok(chosen) => chosen,
        Err(e) => return super::fail("bad shard", e),
    };
    let seeds = |i: usize| match &inputs[i].entry {
        Some(entry) => entry.seed..=entry.seed,
        None => options.first_seed..=last_seed,
    };
    let work: Vec<(usize, u64)> = (0..inputs.len())
        .flat_map(|i| seeds(i).map(move |s| (i, s)))
        .enumerate()
        .filter(|(position, _)| chosen.as_ref().is_none_or(|c| c.shard.takes(*position)))
        .map(|(_, pair)| pair)
        .collect();
    let runs_dir = options.out.as_ref().map(|d| d.join(results::RUNS_DIR));
    if let Some(runs) = &runs_dir
        && let Err(exit) = prepare(runs)
    {
        return exit;
    }
    let variant = options.variant;
    let (done, todo): (Vec<RunResult>, Vec<(usize, u64)>) = split_done(&inputs, &work, variant, runs_dir.as_deref());
    let jobs =
        options.jobs.map(|j| j as usize).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let skipped = done.len();
    let (mut all, write_error) = execute(&inputs, &todo, variant, jobs, runs_dir.as_deref());
    let ran = all.len();
    all.extend(done);
    all.sort_by(|a, b| (&a.file, a.seed).cmp(&(&b.file, b.seed)));
    if let Some(e) = write_error {
        return super::fail("cannot write a run's result", e);
    }
    if let Some(corpus) = &options.record_failures {
        match record(&inputs, &all, corpus) {
            Ok(added) => eprintln!("recorded {added} new failing run(s) in {}", corpus.display()),
            Err(e) => return super::fail("cannot record the failures", e),
        }
    }
    let shard_text = chosen.as_ref().map(|c| c.shard.to_string());
    if let Err(exit) = write_outputs(&all, options.out.as_deref(), options.junit.as_deref(), shard_text.as_deref()) {
        return exit;
    }
    let info = summary::RunInfo {
        command: "sweep",
        wall_s: started.elapsed().as_secs_f64(),
        jobs: Some(jobs),
        shard: chosen.map(|c| format!("{} (from {})", c.shard, c.source)),
        skipped,
        ran,
    };
    summary::print(&all, &info, options.format)
}

/// Expands the paths and loads every scenario, with the hash of its bytes.
fn load_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, Exit> {
    let files = inputs::expand(paths).map_err(|e| super::fail("bad PATHS", e))?;
    let mut loaded = Vec::with_capacity(files.len());
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| super::fail(&format!("cannot read {}", file.display()), e))?;
        if corpus::is_corpus(&String::from_utf8_lossy(&bytes)) {
            loaded.extend(corpus_inputs(&file)?);
            continue;
        }
        let scenario = load(&file)?;
        loaded.push(Input { content_hash: results::content_hash(&bytes), file, scenario, entry: None });
    }
    Ok(loaded)
}

/// The entries of the regression corpus `file`, each its scenario with the entry's schedule,
/// named `FILE#N` (N from 1).
fn corpus_inputs(file: &Path) -> Result<Vec<Input>, Exit> {
    let entries = corpus::load(file).map_err(|e| super::fail("bad regression corpus", e))?;
    let mut inputs = Vec::with_capacity(entries.len());
    for (n, (at, entry)) in entries.into_iter().enumerate() {
        let scenario = entry.scenario(file, &at).map_err(|e| super::fail("bad regression corpus entry", e))?;
        let text =
            format!("{}\n{}", entry.text(), std::fs::read_to_string(entry.scenario_path(file)).unwrap_or_default());
        inputs.push(Input {
            file: PathBuf::from(format!("{}#{}", file.display(), n + 1)),
            scenario,
            content_hash: results::content_hash(text.as_bytes()),
            entry: Some(Entry { seed: entry.seed, judge: entry.checks }),
        });
    }
    Ok(inputs)
}

/// Appends the failed runs of scenario files (not of corpus entries) to the corpus `file`, each
/// with the whole schedule it applied; returns how many were new.
fn record(inputs: &[Input], results: &[RunResult], file: &Path) -> Result<usize, String> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for r in results.iter().filter(|r| !r.failed.is_empty() && r.internal_error.is_none()) {
        let Some(input) = inputs.iter().find(|i| i.file == r.file && i.entry.is_none()) else { continue };
        let plan = faultline_sim::compile_planted(&input.scenario, Some(r.seed), r.plant);
        let names = faultline_sim::swarm::host_names(&plan);
        let script = faultline_sim::swarm::script(&input.scenario, &plan, &r.variant().faults());
        let faults = script.iter().filter_map(|f| faultline_sim::scenario::emit::fault_line(f, &names)).collect();
        entries.push(corpus::Entry {
            scenario: relative(&r.file, dir),
            seed: r.seed,
            swarm: r.swarm,
            checks: r.failed.clone(),
            faults,
        });
    }
    corpus::append(file, &entries)
}

/// `file` as seen from `dir` when it lies under it, else as it is (absolute when it can be).
fn relative(file: &Path, dir: &Path) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (file, dir) = (absolute(file), absolute(dir));
    file.strip_prefix(&dir).unwrap_or(&file).display().to_string()
}

/// Makes `DIR/runs` and removes the temporary files a killed sweep left there.
fn prepare(runs: &Path) -> Result<(), Exit> {
    std::fs::create_dir_all(runs).map_err(|e| super::fail(&format!("cannot create {}", runs.display()), e))?;
    let removed =
        results::remove_unfinished(runs).map_err(|e| super::fail(&format!("cannot clean {}", runs.display()), e))?;
    if removed > 0 {
        eprintln!("removed {removed} unfinished result file(s) a stopped sweep left in {}", runs.display());
    }
    Ok(())
}

/// The stored results of `work` (from a sweep that ran it before on the same scenario bytes),
/// and the pairs still to run.
fn split_done(
    inputs: &[Input],
    work: &[(usize, u64)],
    variant: Variant,
    runs: Option<&Path>,
) -> (Vec<RunResult>, Vec<(usize, u64)>) {
    let Some(runs) = runs else {
        return (Vec::new(), work.to_vec());
    };
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for &(i, seed) in work {
        let input = &inputs[i];
        match results::stored(runs, &RunKey::of(&input.file, seed, input.variant(variant)), &input.content_hash) {
            Some(result) => done.push(result),
            None => todo.push((i, seed)),
        }
    }
    (done, todo)
}

/// Runs `todo` on `jobs` threads, storing each result in `runs` as it finishes; returns the
/// results and the first error writing one (the others still ran).
fn execute(
    inputs: &[Input],
    todo: &[(usize, u64)],
    variant: Variant,
    jobs: usize,
    runs: Option<&Path>,
) -> (Vec<RunResult>, Option<std::io::Error>) {
    let progress = Mutex::new(progress::Progress::new(todo.len(), std::io::stderr().is_terminal()));
    let finished = Mutex::new((Vec::with_capacity(todo.len()), None));
    on_workers(todo, jobs, |&(i, seed)| {
        let result = one(&inputs[i], seed, variant);
        let stored = runs.map(|dir| results::store(dir, &result)).transpose();
        progress.lock().expect("no worker panics holding the lock").finished(&result);
        let mut finished = finished.lock().expect("no worker panics holding the lock");
        finished.0.push(result);
        if let Err(e) = stored {
            finished.1.get_or_insert(e);
        }
    });
    progress.into_inner().expect("workers finished").close();
    finished.into_inner().expect("workers finished")
}

/// Calls `work` on every item, on at most `jobs` threads (at least one), each thread taking
/// the next item not yet taken; returns when every item is done. The order items finish in
/// depends on the threads: a caller sorts what they give.
pub fn on_workers<T: Sync>(items: &[T], jobs: usize, work: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    work(item);
                }
            });
        }
    });
}

/// Runs one scenario under one seed as `variant` asks, and says what it decided.
fn one(input: &Input, seed: u64, variant: Variant) -> RunResult {
    let variant = input.variant(variant);
    let mut result = RunResult::new(&RunKey::of(&input.file, seed, variant), &input.content_hash);
    let started = Instant::now();
    match super::run::simulate_with(&input.scenario, Some(seed), None, variant.faults(), variant.plant, variant.engine)
    {
        Ok(mut o) => {
            if let Some(entry) = &input.entry {
                o.report.judge_only(&entry.judge);
            }
            result.drawn = o.report.swarm.as_ref().map(|s| s.faults.clone()).unwrap_or_default();
            result.failed = o.report.failures().map(|c| c.name.clone()).collect();
            result.undecided = o.report.undecided().map(|c| c.name.clone()).collect();
            result.expected = o.report.expected_failures().map(|c| c.name.clone()).collect();
            let noted = o.report.failures().chain(o.report.undecided()).chain(o.report.expected_failures());
            result.checks = noted
                .map(|c| CheckNote {
                    name: c.name.clone(),
                    outcome: c.outcome(),
                    detail: c.detail.clone(),
                    evidence: c.evidence.text(&o.report.hosts),
                })
                .collect();
            result.hash = Some(o.hash.to_string());
        }
        Err(Failure::Internal(message)) => result.internal_error = Some(message),
        Err(e @ Failure::Output(_)) => result.failed = vec![format!("run completes ({e})")],
    }
    result.wall_s = Some(started.elapsed().as_secs_f64());
    result
}

/// Writes `DIR/summary.json` and the JUnit report, when asked for.
pub fn write_outputs(
    results: &[RunResult],
    out: Option<&Path>,
    junit: Option<&Path>,
    shard: Option<&str>,
) -> Result<(), Exit> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|e| super::fail(&format!("cannot create {}", dir.display()), e))?;
        let path = dir.join("summary.json");
        let json = summary::deterministic_json(results, shard);
        results::write_atomic(&path, json.as_bytes())
            .map_err(|e| super::fail(&format!("cannot write {}", path.display()), e))?;
    }
    if let Some(path) = junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| super::fail(&format!("cannot create {}", parent.display()), e))?;
        }
        results::write_atomic(path, junit::xml(results).as_bytes())
            .map_err(|e| super::fail(&format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}
