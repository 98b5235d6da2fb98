//! `faultline sweep --shard K/N` and the environment's shard (CI matrix, Kubernetes Indexed
//! Job, Slurm job array); `faultline merge` of the shards gives what one sweep gives.

use crate::util;
use std::collections::BTreeSet;
use std::path::Path;
use util::*;

/// Runs `faultline ARGS` with `vars` set in its environment (and the shard variables of the
/// test's own environment removed).
fn faultline_env(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = command();
    cmd.envs(vars.iter().copied()).args(args).output().unwrap()
}

/// The (file, seed) pairs of a `--format json` summary.
fn pairs(out: &str) -> Vec<(String, u64)> {
    let json: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["file"].as_str().unwrap().into(), r["seed"].as_u64().unwrap()))
        .collect()
}

#[test]
fn bad_shards_are_refused_with_exit_2() {
    let echo = scenario("echo.toml");
    let echo = echo.to_str().unwrap();
    for (shard, why) in [("0/3", "count from 1"), ("4/3", "does not exist"), ("1/0", "N is 0"), ("x", "expected K/N")] {
        let o = faultline_env(&["sweep", echo, "--seeds", "1", "--shard", shard], &[]);
        assert_eq!(code(&o), 2, "{shard}");
        assert!(stderr(&o).contains(why), "{shard}: {}", stderr(&o));
    }
    let o = faultline_env(&["sweep", echo, "--seeds", "1"], &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("FAULTLINE_SHARD_COUNT is not"), "{}", stderr(&o));
    let o = faultline_env(&["sweep", echo, "--seeds", "1"], &[("FAULTLINE_SHARD", "3/2")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("FAULTLINE_SHARD"), "{}", stderr(&o));
}

#[test]
fn the_shard_comes_from_the_flag_before_the_environment() {
    let echo = scenario("echo.toml");
    let args = ["sweep", echo.to_str().unwrap(), "--seeds", "5", "--format", "json"];
    let env_only = faultline_env(&args, &[("FAULTLINE_SHARD", "2/2")]);
    assert_eq!(pairs(&stdout(&env_only)).iter().map(|p| p.1).collect::<Vec<_>>(), [2, 4]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&env_only)).unwrap();
    assert_eq!(json["shard"], "2/2 (from FAULTLINE_SHARD)");
    let mut flagged = args.to_vec();
    flagged.extend(["--shard", "1/2"]);
    let both = faultline_env(&flagged, &[("FAULTLINE_SHARD", "2/2")]);
    assert_eq!(pairs(&stdout(&both)).iter().map(|p| p.1).collect::<Vec<_>>(), [1, 3, 5]);
    let k8s = faultline_env(&args, &[("JOB_COMPLETION_INDEX", "2"), ("FAULTLINE_SHARD_COUNT", "3")]);
    assert_eq!(pairs(&stdout(&k8s)).iter().map(|p| p.1).collect::<Vec<_>>(), [3]);
    let slurm = faultline_env(&args, &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
    assert_eq!(pairs(&stdout(&slurm)).iter().map(|p| p.1).collect::<Vec<_>>(), [2]);
    let text = faultline_env(&["sweep", echo.to_str().unwrap(), "--seeds", "2", "--shard", "2/2"], &[]);
    assert!(stdout(&text).contains("shard 2/2 (from --shard)"), "{}", stdout(&text));
}

/// Runs a sweep of `files` x 6 seeds, with `extra` arguments, in `dir`; returns its exit code.
fn sweep(dir: &Path, files: &[&str], extra: &[&str]) -> i32 {
    let mut args = vec!["sweep"];
    args.extend(files);
    args.extend(["--seeds", "6", "--jobs", "2"]);
    args.extend(extra);
    let o = faultline_in(dir, &args);
    assert!(!stdout(&o).contains("progress:"), "progress goes to stderr");
    code(&o)
}

#[test]
fn three_shards_merged_equal_one_sweep_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    unexpected_partition(d);
    std::fs::copy(scenario("echo.toml"), d.join("echo.toml")).unwrap();
    let files = ["partition.toml", "echo.toml"];
    assert_eq!(sweep(d, &files, &["--out", "whole", "--junit", "whole.xml"]), 1);
    let mut ran = Vec::new();
    for k in 1..=3 {
        let (out, shard) = (format!("shard-{k}"), format!("{k}/3"));
        let code = sweep(d, &files, &["--out", &out, "--junit", &format!("{out}.xml"), "--shard", &shard]);
        assert!(code == 0 || code == 1, "shard {k}: {code}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(&out).join("summary.json")).unwrap()).unwrap();
        assert_eq!(json["shard"], shard);
        ran.extend(pairs(&json.to_string()));
    }
    let once: BTreeSet<_> = ran.iter().cloned().collect();
    assert_eq!(ran.len(), 12, "{ran:?}");
    assert_eq!(once.len(), 12, "every pair ran exactly once across the shards: {ran:?}");
    let merge =
        faultline_in(d, &["merge", "shard-1", "shard-2", "shard-3", "--out", "merged", "--junit", "merged.xml"]);
    assert_eq!(code(&merge), 1, "a merge exits as the sweep: {}", stderr(&merge));
    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    assert_eq!(read("merged/summary.json"), read("whole/summary.json"), "summary.json byte for byte");
    assert_eq!(read("merged.xml"), read("whole.xml"), "JUnit byte for byte");
    let printed = stdout(&merge);
    assert!(printed.contains("merge: 12 runs"), "{printed}");
    assert!(printed.contains("failed runs: 6"), "{printed}");
    assert!(printed.contains("replay: faultline replay partition.toml --seed 1"), "{printed}");
    let partial = faultline_in(d, &["merge", "shard-1", "shard-3"]);
    assert!(stderr(&partial).contains("2/3 not among the merged directories"), "{}", stderr(&partial));
}

#[test]
fn a_run_with_two_different_results_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(scenario("echo.toml"), d.join("echo.toml")).unwrap();
    assert_eq!(faultline_in(d, &["sweep", "echo.toml", "--seeds", "2", "--out", "a"]).status.code(), Some(0));
    assert_eq!(faultline_in(d, &["sweep", "echo.toml", "--seeds", "2", "--out", "b"]).status.code(), Some(0));
    let same = faultline_in(d, &["merge", "a", "b", "--format", "json"]);
    assert_eq!(code(&same), 0, "the same run twice with the same result: {}", stderr(&same));
    assert_eq!(pairs(&stdout(&same)).len(), 2);
    let runs = d.join("b/runs");
    let file = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-seed-1.json"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"failed\": []", "\"failed\": [\"availability\"]")).unwrap();
    let refused = faultline_in(d, &["merge", "a", "b"]);
    assert_eq!(code(&refused), 2);
    assert!(stderr(&refused).contains("echo.toml --seed 1 has different results in"), "{}", stderr(&refused));
    let not_a_dir = faultline_in(d, &["merge", "echo.toml"]);
    assert_eq!(code(&not_a_dir), 2);
    assert!(stderr(&not_a_dir).contains("expected a `sweep --out` directory"), "{}", stderr(&not_a_dir));
    std::fs::write(runs.join("junk.json"), "{").unwrap();
    let junk = faultline_in(d, &["merge", "b"]);
    assert_eq!(code(&junk), 2);
    assert!(stderr(&junk).contains("junk.json:1:"), "{}", stderr(&junk));
}
