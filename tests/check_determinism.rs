//! `faultline check-determinism`: same scenario, same seed, same trace hash.

use crate::util;
use util::*;

#[test]
fn three_runs_of_quickstart_agree() {
    let o =
        faultline(&["check-determinism", scenario("quickstart.toml").to_str().unwrap(), "--seed", "5", "--runs", "3"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    assert!(out.contains("deterministic: 3 runs"), "{out}");
    let hashes: Vec<&str> = out.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(hashes.len(), 3);
}

#[test]
fn one_run_is_not_a_comparison() {
    let o = faultline(&["check-determinism", scenario("echo.toml").to_str().unwrap(), "--runs", "1"]);
    assert_eq!(code(&o), 2);
}
