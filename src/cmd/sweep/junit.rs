//! A sweep's results as a JUnit XML report, for CI test dashboards: one test suite per
//! scenario file (named by its path), one test case per (scenario, seed), named `seed N`, its
//! class name the scenario's path.
//!
//! A failed run is a `failure` listing each failed check with its detail and evidence, then the
//! lines that reproduce and replay it; an undecided run is a `failure` of type `unknown` (not a
//! pass); an internal error is an `error`; a run whose checks failed as its scenario expects
//! passes, and says so in its `system-out`. Owns: that mapping. Must not: write a time, a
//! timestamp or an id that varies between runs: equal work gives an identical file.

use super::results::RunResult;
use faultline_chaos::report::Verdict;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// The report's name.
const REPORT_NAME: &str = "faultline sweep";

/// The JUnit XML of `results` (sorted by file, then seed), ending with a newline.
pub fn xml(results: &[RunResult]) -> String {
    let mut report = Report::new(REPORT_NAME);
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        let name = r.file.display().to_string();
        if suites.last().is_none_or(|s| s.name.as_str() != name) {
            suites.push(TestSuite::new(name));
        }
        suites.last_mut().expect("pushed above").add_test_case(case(r));
    }
    report.add_test_suites(suites);
    let mut text = report.to_string().expect("a report of strings serializes");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The test case of one run.
fn case(r: &RunResult) -> TestCase {
    let how_to_see = format!("reproduce: {}\nreplay: {}", r.reproduce(), r.replay());
    let status = match (&r.internal_error, r.verdict()) {
        (Some(error), _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type("internal").set_message(format!("internal error: {error}"));
            status.set_description(format!("{error}\n{how_to_see}"));
            status
        }
        (None, Verdict::Fail) => non_success("fail", "failed", &r.failed, r, &how_to_see),
        (None, Verdict::Unknown) => non_success("unknown", "could not decide", &r.undecided, r, &how_to_see),
        (None, Verdict::Pass) => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(format!("seed {}", r.seed), status);
    case.set_classname(r.file.display().to_string());
    if !r.expected.is_empty() {
        let notes = notes(r, &r.expected);
        case.set_system_out(format!("failed as the scenario expects (a pass): {}\n{notes}", r.expected.join("; ")));
    }
    case
}

/// A failure of type `ty`: the message names the checks and the reproduce line, the text gives
/// each check's detail and evidence, then how to reproduce and replay the run.
fn non_success(ty: &str, what: &str, checks: &[String], r: &RunResult, how_to_see: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let message = format!("{what}: {}; reproduce: {}", checks.join("; "), r.reproduce());
    status.set_type(ty).set_message(message);
    status.set_description(format!("{}{how_to_see}", notes(r, checks)));
    status
}

/// One paragraph per named check: `name: detail`, then its evidence when there is some.
fn notes(r: &RunResult, checks: &[String]) -> String {
    let mut text = String::new();
    for name in checks {
        match r.checks.iter().find(|c| &c.name == name) {
            Some(note) => {
                text.push_str(&format!("{name}: {}\n", note.detail));
                if !note.evidence.is_empty() {
                    text.push_str(&format!("  evidence: {}\n", note.evidence));
                }
            }
            None => text.push_str(&format!("{name}\n")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::sweep::results::{CheckNote, RunKey};
    use std::path::Path;

    fn result(file: &str, seed: u64) -> RunResult {
        RunResult::new(&RunKey::new(Path::new(file), seed), "00")
    }

    fn note(name: &str, outcome: Verdict) -> CheckNote {
        CheckNote {
            name: name.into(),
            outcome,
            detail: format!("{name} measured"),
            evidence: "at 2.5 s; hosts db1".into(),
        }
    }

    #[test]
    fn each_file_is_a_suite_and_each_seed_a_case() {
        let mut failed = result("a.toml", 2);
        failed.failed = vec!["availability".into()];
        failed.checks = vec![note("availability", Verdict::Fail)];
        let mut unknown = result("b.toml", 1);
        unknown.undecided = vec!["linearizable".into()];
        let mut internal = result("b.toml", 2);
        internal.internal_error = Some("the simulation panicked: boom".into());
        let mut expected = result("b.toml", 3);
        expected.expected = vec!["p99".into()];
        expected.checks = vec![note("p99", Verdict::Pass)];
        let results = [result("a.toml", 1), failed, unknown, internal, expected];
        let xml = xml(&results);
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert!(xml.contains(r#"<testsuite name="a.toml" tests="2" skipped="0" errors="0" failures="1">"#), "{xml}");
        assert!(xml.contains(r#"<testcase name="seed 1" classname="a.toml""#), "{xml}");
        assert!(xml.contains(r#"type="fail""#), "{xml}");
        assert!(xml.contains("availability: availability measured\n  evidence: at 2.5 s; hosts db1"), "{xml}");
        assert!(xml.contains("reproduce: faultline run a.toml --seed 2"), "{xml}");
        assert!(xml.contains("replay: faultline replay a.toml --seed 2"), "{xml}");
        assert!(xml.contains(r#"type="unknown""#), "{xml}");
        assert!(
            xml.contains(r#"<error message="internal error: the simulation panicked: boom" type="internal">"#),
            "{xml}"
        );
        assert!(xml.contains("<system-out>failed as the scenario expects (a pass): p99"), "{xml}");
        assert!(!xml.contains("time="), "no durations: {xml}");
        assert!(!xml.contains("timestamp"), "no timestamps: {xml}");
        assert_eq!(xml, super::xml(&results), "equal results, equal bytes");
    }
}
