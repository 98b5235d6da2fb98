//! `faultline trace dump`: traces written by `run --out`, as text and JSON lines; damaged
//! traces are errors, never panics.

use crate::util;
use util::*;

fn write_trace(dir: &std::path::Path) -> std::path::PathBuf {
    let o = faultline(&["run", scenario("echo.toml").to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    dir.join("trace.fltrace")
}

#[test]
fn dump_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path());
    let text = faultline(&["trace", "dump", trace.to_str().unwrap()]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let t = stdout(&text);
    assert!(t.contains("echo-0"), "host names are resolved");
    assert!(t.lines().count() > 1000, "every record is printed");

    let json = faultline(&["trace", "dump", trace.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&json), 0);
    let out = stdout(&json);
    let mut kinds = std::collections::BTreeSet::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        if let Some(k) = v.get("kind").and_then(|k| k.as_str()) {
            kinds.insert(k.to_string());
        }
    }
    assert!(kinds.len() >= 3, "several kinds of record: {kinds:?}");
}

#[test]
fn truncated_and_garbage_traces_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path());
    let bytes = std::fs::read(&trace).unwrap();
    let cut = dir.path().join("cut.fltrace");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = faultline(&["trace", "dump", cut.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    let junk = dir.path().join("junk.fltrace");
    std::fs::write(&junk, b"this is not a trace at all").unwrap();
    let o = faultline(&["trace", "dump", junk.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("junk.fltrace"), "{}", stderr(&o));
}
