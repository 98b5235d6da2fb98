//! `faultline merge DIR...`: joins the results directories of a sharded sweep (each shard's
//! `sweep --out DIR`) into what one unsharded sweep of the same work gives: the same printed
//! summary, the same `summary.json` bytes and the same JUnit bytes.
//!
//! A run found in two directories must have decided the same (its wall time aside); if not, the
//! merge refuses (exit 2), naming both files. A shard count whose shards are not all there is
//! said on standard error. Owns: reading and joining result directories. Must not: run a
//! simulation, or decide a summary's content (the sweep's `summary` and `junit` do).

use super::sweep::results::{self, RunKey, RunResult};
use super::sweep::{self, summary};
use crate::cli::Format;
use crate::exit::Exit;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `faultline merge` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The shards' results directories.
    pub dirs: Vec<PathBuf>,
    /// Where the merged `summary.json` and `runs/` go.
    pub out: Option<PathBuf>,
    /// The merged JUnit report's path.
    pub junit: Option<PathBuf>,
    pub format: Format,
}

pub fn run(options: &Options) -> Exit {
    let started = Instant::now();
    let merged = match read_all(&options.dirs) {
        Ok(merged) => merged,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::BadInput;
        }
    };
    warn_missing_shards(&options.dirs);
    let all: Vec<RunResult> = merged.into_values().map(|(result, _)| result).collect();
    if let Some(dir) = &options.out {
        let runs = dir.join(results::RUNS_DIR);
        let stored =
            std::fs::create_dir_all(&runs).and_then(|()| all.iter().try_for_each(|r| results::store(&runs, r)));
        if let Err(e) = stored {
            return super::fail(&format!("cannot write the merged results in {}", runs.display()), e);
        }
    }
    if let Err(exit) = sweep::write_outputs(&all, options.out.as_deref(), options.junit.as_deref(), None) {
        return exit;
    }
    let info = summary::RunInfo {
        command: "merge",
        wall_s: started.elapsed().as_secs_f64(),
        jobs: None,
        shard: None,
        skipped: 0,
        ran: 0,
    };
    summary::print(&all, &info, options.format)
}

/// Every run of every directory by key, with the file it came from; an error names a directory
/// that is not a results directory, a file that is not a result, or a run two directories
/// disagree on.
fn read_all(dirs: &[PathBuf]) -> Result<BTreeMap<RunKey, (RunResult, PathBuf)>, String> {
    let mut merged: BTreeMap<RunKey, (RunResult, PathBuf)> = BTreeMap::new();
    for dir in dirs {
        let runs = dir.join(results::RUNS_DIR);
        if !runs.is_dir() {
            return Err(format!(
                "{}: no {} directory here; expected a `sweep --out` directory",
                dir.display(),
                results::RUNS_DIR
            ));
        }
        let files = results::result_files(&runs).map_err(|e| format!("{}: cannot list: {e}", runs.display()))?;
        for file in files {
            let result = read_one(&file)?;
            match merged.get(&result.key()) {
                Some((seen, from)) if seen.decided() != result.decided() => {
                    return Err(format!(
                        "{} --seed {} has different results in {} and {}: were the shards run on different scenario files or builds?",
                        result.file.display(),
                        result.seed,
                        from.display(),
                        file.display()
                    ));
                }
                Some(_) => {}
                None => {
                    merged.insert(result.key(), (result, file));
                }
            }
        }
    }
    Ok(merged)
}

/// One result file.
fn read_one(file: &Path) -> Result<RunResult, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}:{}:{}: not a run's result: {e}", file.display(), e.line(), e.column()))
}

/// Says on standard error which shards of a count are missing, from the `shard` each
/// directory's `summary.json` records (directories without one say nothing).
fn warn_missing_shards(dirs: &[PathBuf]) {
    let mut seen: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for dir in dirs {
        let shard = std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["shard"].as_str().and_then(|s| sweep::shard::Shard::parse(s).ok()));
        if let Some(shard) = shard {
            seen.entry(shard.count).or_default().insert(shard.index);
        }
    }
    for (count, present) in seen {
        let missing: Vec<String> =
            (1..=count).filter(|k| !present.contains(k)).map(|k| format!("{k}/{count}")).collect();
        if !missing.is_empty() {
            eprintln!(
                "warning: shard(s) {} not among the merged directories: their runs are missing",
                missing.join(", ")
            );
        }
    }
}
