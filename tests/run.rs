//! `faultline run`: the real binary on the scenario library.

use crate::util;
use util::*;

#[test]
fn quickstart_runs_and_every_check_holds() {
    let o = faultline(&["run", scenario("quickstart.toml").to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.contains("seed 1"), "{out}");
    assert!(out.contains("p99"), "{out}");
    assert!(out.contains("ms"), "{out}");
    assert!(out.contains("kill db-replica"), "the fault timeline names the fault: {out}");
    assert_eq!(hash_in(&out).len(), 32);
}

#[test]
fn json_report_parses_and_out_dir_gets_trace_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let o = faultline(&[
        "run",
        scenario("echo.toml").to_str().unwrap(),
        "--format",
        "json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert!(json.get("checks").and_then(|c| c.as_array()).is_some_and(|c| !c.is_empty()));
    for f in ["trace.fltrace", "report.json", "report.txt"] {
        let meta = std::fs::metadata(out_dir.join(f)).unwrap_or_else(|_| panic!("{f} written"));
        assert!(meta.len() > 0, "{f} is not empty");
    }
}

#[test]
fn a_failing_check_exits_1_with_a_reproduce_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = unexpected_partition(dir.path());
    let o = faultline(&["run", file.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("reproduce: faultline run {} --seed 3", file.display())), "{err}");
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));
}

#[test]
fn an_undecided_check_exits_3_with_its_verdict_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_only(dir.path());
    let o = faultline(&["run", file.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 3, "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.contains("UNKNOWN"), "{out}");
    assert!(out.contains("no successful read to measure"), "{out}");
    assert!(out.contains("checks could not decide (UNKNOWN is not a pass)"), "{out}");
    assert!(stderr(&o).contains("reproduce: faultline run"), "{}", stderr(&o));
    let o = faultline(&["run", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    let checks = json["checks"].as_array().expect("checks");
    let staleness = checks.iter().find(|c| c["name"] == "staleness <= 100.0 ms").expect("judged");
    assert_eq!(staleness["verdict"], "unknown", "{staleness}");
    assert!(staleness["evidence"].is_object(), "{staleness}");
    assert!(checks.iter().all(|c| c["verdict"] != "fail"), "{checks:?}");
    assert!(checks.iter().all(|c| c.get("pass").is_none()), "verdicts replace the old boolean: {checks:?}");
}

#[test]
fn a_teaching_failure_passes_and_a_held_one_fails() {
    let file = scenario("partition.toml");
    let o = faultline(&["run", file.to_str().unwrap(), "--seed", "3"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "the partition costs availability, as the scenario expects: {out}");
    assert!(out.contains("availability at least 99%   XFAIL"), "{out}");
    let json = faultline(&["run", file.to_str().unwrap(), "--seed", "3", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("stdout is JSON");
    let check = json["checks"].as_array().unwrap().iter().find(|c| c["expected_to_fail"] == true).expect("marked");
    assert_eq!(check["verdict"], "fail", "the verdict stays what was measured: {check}");
    // Without the partition the availability holds: the teaching failure did not come.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let (before, rest) = text.split_once("[[faults]]").expect("the partition is a scripted fault");
    let (_faults, slos) = rest.split_once("[[slos]]").expect("its objectives follow");
    let healed = dir.path().join("healed.toml");
    std::fs::write(&healed, format!("{before}[[slos]]{slos}")).unwrap();
    let o = faultline(&["run", healed.to_str().unwrap(), "--seed", "3"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("availability at least 99%   XPASS"), "{out}");
    // A name no check has fails the run too, saying which checks ran.
    let misspelt = dir.path().join("misspelt.toml");
    std::fs::write(&misspelt, text.replace("[\"availability at least 99%\"]", "[\"availabilty\"]")).unwrap();
    let o = faultline(&["run", misspelt.to_str().unwrap(), "--seed", "3"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("no check named \"availabilty\" ran"), "{out}");
}

#[test]
fn a_failed_check_carries_its_evidence_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = unexpected_partition(dir.path());
    let o = faultline(&["run", file.to_str().unwrap(), "--seed", "1", "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    let failed = json["checks"].as_array().unwrap().iter().find(|c| c["verdict"] == "fail").expect("a failed check");
    let t_ns = failed["evidence"]["t_ns"].as_u64().expect("the time it broke");
    // The partition begins at 8 s: the first window under the bound starts there.
    assert_eq!(t_ns, 8_000_000_000, "{failed}");
    assert!(json["hosts"].as_array().is_some_and(|h| !h.is_empty()), "host names for evidence");
}

#[test]
fn seeds_change_the_run_and_repeat_it() {
    let file = scenario("echo.toml");
    let run = |seed: &str| hash_in(&stdout(&faultline(&["run", file.to_str().unwrap(), "--seed", seed])));
    let a = run("11");
    assert_eq!(a, run("11"), "same seed, same hash");
    assert_ne!(a, run("12"), "another seed, another run");
}

#[test]
fn a_missing_file_is_bad_input() {
    let o = faultline(&["run", "no/such/scenario.toml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no/such/scenario.toml"), "{}", stderr(&o));
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_eq!(code(&faultline(&["run"])), 2);
    assert_eq!(code(&faultline(&["run", "x.toml", "--seed", "minus-one"])), 2);
    assert_eq!(code(&faultline(&["run", "x.toml", "--format", "xml"])), 2);
    assert_eq!(code(&faultline(&["frobnicate"])), 2);
    let help = faultline(&["--help"]);
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).contains("check-determinism"));
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly_and_keeps_the_exit_code() {
    // `faultline run ... | head` closes the pipe early; here the read end is closed before a
    // byte is written, so every write fails as the first one after `head` exits would.
    let dir = tempfile::tempdir().unwrap();
    let failing = unexpected_partition(dir.path());
    for (file, expected) in [(scenario("quickstart.toml"), 0), (failing, 1)] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", file.to_str().unwrap(), "--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("the run ends");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{}: {err}", file.display());
        assert!(!err.contains("cannot write"), "a closed pipe is not an error to report: {err}");
        assert_eq!(code(&o), expected, "{}: the run's own verdict: {err}", file.display());
    }
}
