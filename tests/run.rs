//! `faultline run`: the real binary on the scenario library.

mod util;
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
    let file = scenario("partition.toml");
    let o = faultline(&["run", file.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("reproduce: faultline run {} --seed 3", file.display())), "{err}");
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));
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
