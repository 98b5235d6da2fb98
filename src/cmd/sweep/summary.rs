//! A sweep's summary: the one printed on standard output (text or JSON, with timings), the
//! deterministic `summary.json` an `--out` directory gets, and the exit code.
//!
//! Owns: what the summaries say and the exit rule (4 when any run hit an internal error, else 1
//! when a check failed on any run, else 3 when a check could not decide on any run, else 0).
//! Must not: run simulations or read result files. `summary.json` holds only what the runs
//! decided, sorted by (file, seed): no wall time, rate or thread count, so equal work gives
//! equal bytes, whether it ran in one process, in shards, or was resumed.

use super::results::RunResult;
use super::run_line;
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::report::Verdict;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How the runs were made: what the printed summary says besides what they decided.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The first line's subject: `sweep` or `merge`.
    pub command: &'static str,
    /// Wall time of the whole command, seconds.
    pub wall_s: f64,
    /// Worker threads (none for a merge).
    pub jobs: Option<usize>,
    /// Which shard ran and where that came from (`2/4 from --shard`).
    pub shard: Option<String>,
    /// Runs whose stored result was reused (`--out` resume).
    pub skipped: usize,
    /// Runs made now.
    pub ran: usize,
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

/// The counts both summaries give, over results sorted by (file, seed).
fn counts(results: &[RunResult]) -> serde_json::Map<String, serde_json::Value> {
    let of = |verdict| results.iter().filter(move |r| r.verdict() == verdict);
    let json = serde_json::json!({
        "runs": results.len(),
        "failures": of(Verdict::Fail).count(),
        "failures_by_check": by_check(of(Verdict::Fail).map(|r| &r.failed)),
        "undecided": of(Verdict::Unknown).count(),
        "undecided_by_check": by_check(results.iter().map(|r| &r.undecided)),
        "failed_as_expected": results.iter().filter(|r| !r.expected.is_empty()).count(),
        "failed_as_expected_by_check": by_check(results.iter().map(|r| &r.expected)),
        "internal_errors": results.iter().filter(|r| r.internal_error.is_some()).count(),
    });
    json.as_object().cloned().expect("a JSON object literal")
}

/// `summary.json`: the counts and every result without its wall time, sorted by (file, seed);
/// `shard` only for a shard's own directory.
pub fn deterministic_json(results: &[RunResult], shard: Option<&str>) -> String {
    let mut map = counts(results);
    if let Some(shard) = shard {
        map.insert("shard".into(), shard.into());
    }
    let decided: Vec<RunResult> = results.iter().map(RunResult::decided).collect();
    map.insert("results".into(), serde_json::to_value(decided).expect("results serialize"));
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(map)).expect("json");
    text.push('\n');
    text
}

/// The exit code of a set of results.
pub fn exit(results: &[RunResult]) -> Exit {
    if results.iter().any(|r| r.internal_error.is_some()) {
        Exit::Internal
    } else {
        Exit::from_verdict(Verdict::fold(results.iter().map(RunResult::verdict)))
    }
}

/// A scenario's wall time per run: the mean and the largest, seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Slow {
    pub file: PathBuf,
    pub mean_s: f64,
    pub max_s: f64,
}

/// The `n` scenarios with the largest mean wall time per run, slowest first (runs without a
/// wall time left out).
pub fn slowest(results: &[RunResult], n: usize) -> Vec<Slow> {
    let mut per_file: BTreeMap<&PathBuf, Vec<f64>> = BTreeMap::new();
    for r in results {
        if let Some(wall_s) = r.wall_s {
            per_file.entry(&r.file).or_default().push(wall_s);
        }
    }
    let mut slow: Vec<Slow> = per_file
        .into_iter()
        .map(|(file, walls)| Slow {
            file: file.clone(),
            mean_s: walls.iter().sum::<f64>() / walls.len() as f64,
            max_s: walls.iter().copied().fold(0.0, f64::max),
        })
        .collect();
    slow.sort_by(|a, b| b.mean_s.total_cmp(&a.mean_s).then_with(|| a.file.cmp(&b.file)));
    slow.truncate(n);
    slow
}

/// Prints the summary on standard output and says how the command ends.
pub fn print(results: &[RunResult], info: &RunInfo, format: Format) -> Exit {
    match format {
        Format::Json => print_json(results, info),
        Format::Text => print_text(results, info),
    }
    exit(results)
}

fn print_json(results: &[RunResult], info: &RunInfo) {
    let mut map = counts(results);
    let rate = info.ran as f64 / info.wall_s.max(1e-9);
    map.insert("wall_s".into(), info.wall_s.into());
    map.insert("seeds_per_s".into(), rate.into());
    if let Some(jobs) = info.jobs {
        map.insert("jobs".into(), jobs.into());
    }
    map.insert("ran".into(), info.ran.into());
    map.insert("skipped".into(), info.skipped.into());
    if let Some(shard) = &info.shard {
        map.insert("shard".into(), shard.as_str().into());
    }
    let slow: Vec<serde_json::Value> = slowest(results, 5)
        .iter()
        .map(|s| serde_json::json!({ "file": s.file, "mean_s": s.mean_s, "max_s": s.max_s }))
        .collect();
    map.insert("slowest".into(), slow.into());
    map.insert("results".into(), serde_json::to_value(results).expect("results serialize"));
    outln!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(map)).expect("json"));
}

fn print_text(results: &[RunResult], info: &RunInfo) {
    match info.jobs {
        Some(jobs) => {
            let rate = info.ran as f64 / info.wall_s.max(1e-9);
            outln!(
                "{}: {} runs on {jobs} threads in {:.2} s ({rate:.1} seeds/s)",
                info.command,
                results.len(),
                info.wall_s
            );
        }
        None => {
            let run_s: f64 = results.iter().filter_map(|r| r.wall_s).sum();
            let rate = results.len() as f64 / run_s.max(1e-9);
            outln!("{}: {} runs, {run_s:.2} s of run time ({rate:.1} seeds/s per thread)", info.command, results.len());
        }
    }
    if let Some(shard) = &info.shard {
        outln!("shard {shard}");
    }
    if info.skipped > 0 {
        outln!("skipped {} already done (results in the --out directory), ran {}", info.skipped, info.ran);
    }
    let counts = counts(results);
    let failed = results.iter().filter(|r| r.verdict() == Verdict::Fail);
    outln!("failed runs: {}", failed.clone().count());
    for (check, n) in by_check(failed.clone().map(|r| &r.failed)) {
        outln!("  {n:>6}  {check}");
    }
    let undecided = results.iter().filter(|r| r.verdict() == Verdict::Unknown);
    if undecided.clone().count() > 0 {
        outln!("undecided runs (no check failed, one could not decide): {}", undecided.clone().count());
    }
    if counts["failed_as_expected"] != 0 {
        let n = &counts["failed_as_expected"];
        outln!("runs with a check that failed as its scenario expects (not a failure): {n}");
        for (check, n) in by_check(results.iter().map(|r| &r.expected)) {
            outln!("  {n:>6}  {check}");
        }
    }
    print_slowest(results);
    for r in failed {
        outln!("{}", run_line("FAIL", r, &r.failed.join("; ")));
        print_how_to_see(r);
    }
    for r in undecided {
        outln!("{}", run_line("UNKNOWN", r, &r.undecided.join("; ")));
        print_how_to_see(r);
    }
    let internal: Vec<&RunResult> = results.iter().filter(|r| r.internal_error.is_some()).collect();
    if !internal.is_empty() {
        outln!("internal errors: {}", internal.len());
    }
    for r in internal {
        outln!("{}", run_line("INTERNAL ERROR", r, r.internal_error.as_deref().unwrap_or_default()));
        print_how_to_see(r);
    }
}

fn print_slowest(results: &[RunResult]) {
    let slow = slowest(results, 5);
    if slow.is_empty() {
        return;
    }
    outln!("slowest scenarios (wall time per run: mean, max):");
    for s in slow {
        outln!("  {:>9.3} s {:>9.3} s  {}", s.mean_s, s.max_s, s.file.display());
    }
}

/// The lines under a run that did not pass: how to reproduce it and how to watch it.
fn print_how_to_see(r: &RunResult) {
    outln!("  reproduce: {}", r.reproduce());
    outln!("  replay: {}", r.replay());
    for fault in &r.drawn {
        outln!("  drawn: {fault}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::sweep::results::RunKey;
    use std::path::Path;

    fn result(seed: u64, failed: &[&str], undecided: &[&str], internal_error: Option<&str>) -> RunResult {
        let mut r = RunResult::new(&RunKey::new(Path::new("s.toml"), seed), "00");
        r.failed = failed.iter().map(|s| s.to_string()).collect();
        r.undecided = undecided.iter().map(|s| s.to_string()).collect();
        r.internal_error = internal_error.map(str::to_string);
        r
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
        for (results, code) in cases {
            assert_eq!(exit(&results), code, "{results:?}");
            assert_eq!(print(&results, &RunInfo::default(), Format::Json), code, "{results:?}");
        }
    }

    #[test]
    fn summary_json_leaves_out_wall_time() {
        let mut timed = result(1, &["availability"], &[], None);
        timed.wall_s = Some(1.25);
        let mut other = timed.clone();
        other.wall_s = Some(9.0);
        let json = deterministic_json(std::slice::from_ref(&timed), None);
        assert_eq!(json, deterministic_json(&[other], None));
        assert!(!json.contains("wall"), "{json}");
        assert!(json.contains("\"failures\": 1"), "{json}");
        assert!(deterministic_json(&[timed], Some("2/3")).contains("\"shard\": \"2/3\""));
    }

    #[test]
    fn the_slowest_scenarios_rank_by_mean_wall_time() {
        let timed = |file: &str, seed, wall_s| {
            let mut r = RunResult::new(&RunKey::new(Path::new(file), seed), "00");
            r.wall_s = Some(wall_s);
            r
        };
        let results =
            [timed("a.toml", 1, 1.0), timed("a.toml", 2, 3.0), timed("b.toml", 1, 2.5), timed("c.toml", 1, 0.1)];
        let slow = slowest(&results, 2);
        assert_eq!(slow.len(), 2);
        assert_eq!((slow[0].file.to_str(), slow[0].mean_s, slow[0].max_s), (Some("b.toml"), 2.5, 2.5));
        assert_eq!((slow[1].file.to_str(), slow[1].mean_s, slow[1].max_s), (Some("a.toml"), 2.0, 3.0));
    }
}
