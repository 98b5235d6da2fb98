//! `faultline check-history`: the real binary on the EDN fixtures in `tests/fixtures/histories`
//! (exit codes, explanations, located errors). Must not: test the checker's internals (the chaos
//! crate's unit and property tests do).

use crate::util;
use util::*;

fn history(name: &str) -> String {
    root().join("tests/fixtures/histories").join(name).to_str().expect("a UTF-8 path").to_string()
}

/// Runs `check-history ARGS`, asserts the exit code, and returns (stdout, stderr).
fn check(args: &[&str], expected_code: i32) -> (String, String) {
    let mut all = vec!["check-history"];
    all.extend_from_slice(args);
    let o = faultline(&all);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(code(&o), expected_code, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    (out, err)
}

#[test]
fn a_linearizable_register_passes() {
    let (out, _) = check(&[&history("register.edn")], 0);
    assert!(out.contains("plain values"), "{out}");
    assert!(out.contains("linearizable: 8 operations on 1 key(s), 2 dropped"), "{out}");
}

#[test]
fn an_independent_history_is_detected_and_passes() {
    let file = history("independent.edn");
    let (out, _) = check(&[&file], 0);
    assert!(out.contains("independent [key value] tuples"), "{out}");
    assert!(out.contains("on 4 key(s)"), "{out}");
    let (forced, _) = check(&[&file, "--independent"], 0);
    assert_eq!(forced, out);
}

#[test]
fn a_stale_read_exits_1_and_names_the_read() {
    let (out, _) = check(&[&history("stale-read.edn")], 1);
    assert!(out.contains("NOT linearizable"), "{out}");
    assert!(out.contains("op 4 (process 0) read -> 1, invoked at line 11, ok at line 12"), "{out}");
    assert!(out.contains("leaves the register holding 2 or 3"), "{out}");
    assert!(out.contains("op 1 (process 1) write 2, invoked at line 6, ok at line 9"), "the write it missed: {out}");
}

#[test]
fn an_injected_stale_read_among_four_keys_is_found() {
    let (out, _) = check(&[&history("independent-stale-read.edn")], 1);
    assert!(out.contains("key 2: not linearizable"), "{out}");
    assert!(out.contains("\nop 53 (process "), "{out}");
}

#[test]
fn json_reports_the_verdict_and_the_blocked_operation() {
    let (out, _) = check(&[&history("stale-read.edn"), "--format", "json"], 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("stdout is JSON");
    assert_eq!(json["verdict"], "illegal");
    assert_eq!(json["explanation"]["blocked"]["id"], 4);
    assert_eq!(json["explanation"]["blocked"]["invoke"], 11);
    assert_eq!(json["keys"][0]["verdict"], "illegal");
    let (out, _) = check(&[&history("register.edn"), "--format", "json"], 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("stdout is JSON");
    assert_eq!(json["verdict"], "ok");
    assert_eq!(json["skipped_entries"], 3, "the nemesis entries");
}

#[test]
fn a_spent_budget_is_unknown_and_exits_3() {
    let (out, _) = check(&[&history("independent.edn"), "--max-steps", "10"], 3);
    assert!(out.contains("UNKNOWN (not a pass"), "{out}");
    assert!(out.contains("budget of 10 search steps"), "{out}");
    assert!(out.contains("raise --max-steps"), "{out}");
    let (json, _) = check(&[&history("independent.edn"), "--max-steps", "10", "--format", "json"], 3);
    let json: serde_json::Value = serde_json::from_str(&json).expect("stdout is JSON");
    assert_eq!(json["verdict"], "unknown");
}

#[test]
fn an_illegal_key_beats_a_spent_budget() {
    // Key 2's stale read is found however small the budget on the other keys: FAIL, not UNKNOWN.
    let (out, _) = check(&[&history("independent-stale-read.edn"), "--max-steps", "40"], 1);
    assert!(out.contains("key 2: not linearizable"), "{out}");
    assert!(out.contains("key 0: the search spent its budget of 40 search steps"), "{out}");
}

#[test]
fn the_initial_value_is_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.edn");
    std::fs::write(&file, "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :value -7, :process 0}\n")
        .unwrap();
    let file = file.to_str().unwrap();
    check(&[file], 1);
    check(&[file, "--initial", "-7"], 0);
}

#[test]
fn a_malformed_history_exits_2_with_line_and_column() {
    let file = history("malformed.edn");
    let (_, err) = check(&[&file], 2);
    assert!(
        err.contains(&format!("{file}:4:49: expected ']' to close the vector opened at 4:33, found '}}'")),
        "{err}"
    );
}

#[test]
fn bad_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[u8], &str); 5] = [
        (b"{:type :invoke, :f :read, :process 0}\n\xff\xfe", "h.edn:2:1: expected UTF-8 text"),
        (
            b"{:type :ok, :f :read, :value 1, :process 3}",
            "h.edn:1:1: process 3 completes an operation it never invoked",
        ),
        (b"{:type :invoke, :f :txn, :process 0}", "h.edn:1:20: expected :f to be :read, :write or :cas"),
        (b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "nested deeper than 64"),
        (b"{:type :invoke :f", "h.edn:1:18: expected '}' or a value, found the end of the input (map opened at 1:1)"),
    ];
    for (body, expected) in cases {
        let file = dir.path().join("h.edn");
        std::fs::write(&file, body).unwrap();
        let (_, err) = check(&[file.to_str().unwrap()], 2);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    let (_, err) = check(&["no/such/history.edn"], 2);
    assert!(err.contains("no/such/history.edn"), "{err}");
}

#[test]
fn help_says_unknown_is_not_a_pass() {
    let o = faultline(&["check-history", "--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    assert!(help.contains("UNKNOWN is not a pass"), "{help}");
    assert!(help.contains("Exit 3"), "{help}");
    assert!(help.contains("--independent"), "{help}");
    assert!(stdout(&faultline(&["--help"])).contains("check-history"));
}
