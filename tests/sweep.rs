//! `faultline sweep`: a short seed sweep of every scenario in the library, the stages of
//! `scenarios/stages/` included (CI's sweep).
//!
//! Every scenario must keep its promise on every seed: those that demonstrate a failure name
//! the checks they fail (`expected_failures`) and must fail exactly those, the others must
//! pass; so a sweep of the library is green. CI sweeps 1 seed (many scenarios' own tests run
//! seeds 1-3 too, and the engines test six scenarios under seeds 1-3 on both engines; a second
//! seed here took a core for two minutes of CI's 25); set `FAULTLINE_SWEEP_SEEDS` (e.g. 200)
//! for a long sweep.

use crate::util;
use util::*;

/// The library's scenarios: `scenarios/*.toml`, then the scaling journey's stages
/// (`scenarios/stages/*.toml`), each directory in name order.
fn library() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in [root().join("scenarios"), root().join("scenarios").join("stages")] {
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn seeds() -> usize {
    std::env::var("FAULTLINE_SWEEP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

#[test]
fn every_scenario_under_a_few_seeds() {
    let files = library();
    assert!(files.len() >= 4, "the library has scenarios");
    assert!(files.iter().any(|f| f.parent().is_some_and(|d| d.ends_with("stages"))), "the stages are swept too");
    let n = seeds();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let o = faultline(&["sweep", file.to_str().unwrap(), "--seeds", &n.to_string(), "--jobs", "2"]);
        let out = stdout(&o);
        let text = std::fs::read_to_string(&file).unwrap();
        // The regression corpus runs each entry once, under its own seed and schedule.
        let runs = match text.matches("[[regression]]").count() {
            0 => n,
            entries => entries,
        };
        assert!(out.contains(&format!("sweep: {runs} runs")), "{name}: {out}\n{}", stderr(&o));
        assert_eq!(code(&o), 0, "{name} must keep its promise on every seed: {out}");
        assert!(out.contains("failed runs: 0"), "{out}");
        // A teaching scenario fails the checks it names on every seed, as it promises.
        if text.contains("\nexpected_failures = ") {
            let line = format!("runs with a check that failed as its scenario expects (not a failure): {n}");
            assert!(out.contains(&line), "{name}: {out}");
        } else {
            assert!(!out.contains("failed as its scenario expects"), "{name}: {out}");
        }
    }
}

#[test]
fn json_summary_counts_failures_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let failing = unexpected_partition(dir.path());
    let o = faultline(&["sweep", failing.to_str().unwrap(), "--seeds", "2", "--format", "json"]);
    assert_eq!(code(&o), 1);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(json["runs"], 2);
    assert_eq!(json["failures"], 2);
    assert_eq!(json["failures_by_check"]["availability at least 99%"], 2);
    let o = faultline(&["sweep", scenario("partition.toml").to_str().unwrap(), "--seeds", "2", "--format", "json"]);
    assert_eq!(code(&o), 0, "the library's partition expects the failure");
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!((json["failures"].as_u64(), json["failed_as_expected"].as_u64()), (Some(0), Some(2)));
    assert_eq!(json["failed_as_expected_by_check"]["availability at least 99%"], 2);
    assert!(json["seeds_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn undecided_runs_exit_3_unless_a_run_failed() {
    let dir = tempfile::tempdir().unwrap();
    let undecided = write_only(dir.path());
    let o = faultline(&["sweep", undecided.to_str().unwrap(), "--seeds", "2", "--jobs", "1"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 3, "{out}\n{}", stderr(&o));
    assert!(out.contains("failed runs: 0"), "{out}");
    assert!(out.contains("undecided runs (no check failed, one could not decide): 2"), "{out}");
    assert_eq!(out.matches("UNKNOWN ").count(), 2, "{out}");
    assert_eq!(out.matches("reproduce: faultline run").count(), 2, "{out}");
    let json = faultline(&["sweep", undecided.to_str().unwrap(), "--seeds", "2", "--format", "json"]);
    assert_eq!(code(&json), 3);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!((json["failures"].as_u64(), json["undecided"].as_u64()), (Some(0), Some(2)));
    assert_eq!(json["undecided_by_check"]["staleness <= 100.0 ms"], 2);
    let failing = unexpected_partition(dir.path());
    let both = faultline(&["sweep", undecided.to_str().unwrap(), failing.to_str().unwrap(), "--seeds", "1"]);
    assert_eq!(code(&both), 1, "a failure beats an undecided run: {}", stdout(&both));
}

#[test]
fn a_bad_scenario_stops_the_sweep_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = 3\n").unwrap();
    let o = faultline(&["sweep", scenario("echo.toml").to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("bad.toml:1:"), "{}", stderr(&o));
}

#[test]
fn sweep_runs_reproduce_exactly_with_run() {
    // Each worker thread runs a whole simulation: the hash a sweep records for a seed is the
    // hash `faultline run` gives for it.
    let file = scenario("quickstart.toml");
    let o = faultline(&["sweep", file.to_str().unwrap(), "--seeds", "3", "--first-seed", "40", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    for r in results {
        let seed = r["seed"].as_u64().unwrap().to_string();
        let run = faultline(&["run", file.to_str().unwrap(), "--seed", &seed]);
        assert_eq!(hash_in(&stdout(&run)), r["hash"].as_str().unwrap(), "seed {seed}");
    }
}

#[test]
fn progress_goes_to_stderr_and_failures_say_how_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let failing = unexpected_partition(dir.path());
    let o = faultline(&["sweep", failing.to_str().unwrap(), scenario("echo.toml").to_str().unwrap(), "--seeds", "2"]);
    assert_eq!(code(&o), 1);
    let (out, err) = (stdout(&o), stderr(&o));
    // Not a terminal: a line per failing run as it finishes, and one per tenth of the runs.
    assert_eq!(err.matches("FAIL ").count(), 2, "{err}");
    assert!(err.contains("progress: 4/4 runs (100%), 2 failed"), "{err}");
    assert!(!out.contains("progress:"), "{out}");
    let file = failing.display();
    assert!(out.contains(&format!("  replay: faultline replay {file} --seed 2")), "{out}");
    assert_eq!(out.matches("  replay: faultline replay").count(), 2, "{out}");
    assert!(out.contains("slowest scenarios (wall time per run: mean, max):"), "{out}");
    assert!(out.contains("seeds/s"), "{out}");
}
