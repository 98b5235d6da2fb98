//! `faultline sweep --junit FILE`: one suite per scenario, one case per seed, failures with
//! their checks' detail and the reproduce line, the same bytes for the same work.

use crate::util;
use util::*;

fn sweep_junit(files: &[&std::path::Path], seeds: &str, jobs: &str, junit: &std::path::Path) -> (i32, String) {
    let mut args = vec!["sweep".to_string()];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    for a in ["--seeds", seeds, "--jobs", jobs, "--junit", junit.to_str().unwrap()] {
        args.push(a.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = faultline(&args);
    (code(&o), std::fs::read_to_string(junit).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o))))
}

#[test]
fn failures_carry_their_checks_and_reproduce_line_and_the_file_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let failing = unexpected_partition(dir.path());
    let echo = scenario("echo.toml");
    let (code_1, xml) = sweep_junit(&[&failing, &echo], "2", "1", &dir.path().join("a.xml"));
    let (code_2, again) = sweep_junit(&[&echo, &failing], "2", "2", &dir.path().join("b.xml"));
    assert_eq!((code_1, code_2), (1, 1), "exit codes unchanged");
    assert_eq!(xml, again, "equal work, equal bytes");
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    let partition = failing.display().to_string();
    assert!(xml.contains(&format!(r#"<testcase name="seed 2" classname="{partition}">"#)), "{xml}");
    assert_eq!(xml.matches(r#"type="fail""#).count(), 2, "{xml}");
    assert!(xml.contains("availability at least 99%: "), "the check and its detail: {xml}");
    assert!(xml.contains("  evidence: at "), "{xml}");
    assert!(xml.contains(&format!("reproduce: faultline run {partition} --seed 1")), "{xml}");
    assert!(xml.contains(&format!("replay: faultline replay {partition} --seed 1")), "{xml}");
    assert!(!xml.contains("time=") && !xml.contains("timestamp="), "{xml}");
}

#[test]
fn undecided_runs_fail_as_unknown_and_expected_failures_pass() {
    let dir = tempfile::tempdir().unwrap();
    let undecided = write_only(dir.path());
    let (code, xml) = sweep_junit(&[&undecided], "1", "1", &dir.path().join("u.xml"));
    assert_eq!(code, 3);
    assert!(xml.contains(r#"type="unknown""#), "{xml}");
    assert!(xml.contains("staleness &lt;= 100.0 ms: no successful read"), "{xml}");
    let (code, xml) = sweep_junit(&[&scenario("lost-replies.toml")], "1", "1", &dir.path().join("x.xml"));
    assert_eq!(code, 0);
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(xml.contains("<system-out>failed as the scenario expects (a pass): availability at least 99%"), "{xml}");
}
