//! `faultline replay` and `faultline gui` without a display: `--headless-check` loads and
//! indexes the trace, prints the figures and exits; bad traces are bad input (exit 2) with a
//! message that says what is wrong, never a panic.

use crate::util;
use util::*;

/// The value after `name: ` in the figures.
fn figure<'a>(out: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    out.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {name} in\n{out}"))
}

#[test]
fn replay_runs_the_scenario_and_indexes_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = faultline(&[
        "replay",
        scenario("echo.toml").to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        out,
        "--headless-check",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("reproduce: faultline run"), "{text}");
    assert_eq!(figure(&text, "scenario"), "echo seed 3");
    assert!(figure(&text, "records").parse::<u64>().unwrap() > 1000, "{text}");
    assert!(figure(&text, "requests").parse::<u64>().unwrap() > 0, "{text}");
    assert!(text.contains("headless check: ok"), "{text}");
    assert!(dir.path().join("trace.fltrace").exists());

    // The same trace through `gui`, with frames timed: the hash is the run's.
    let trace = dir.path().join("trace.fltrace");
    let g = faultline(&["gui", trace.to_str().unwrap(), "--headless-check", "--frames", "3"]);
    assert_eq!(code(&g), 0, "{}", stderr(&g));
    let gui_text = stdout(&g);
    assert_eq!(figure(&gui_text, "hash"), figure(&text, "hash"));
    assert!(figure(&gui_text, "scrub frames").starts_with("3 at 1600x1000"), "{gui_text}");
}

#[test]
fn damaged_traces_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = faultline(&["run", scenario("echo.toml").to_str().unwrap(), "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let trace = dir.path().join("trace.fltrace");
    let bytes = std::fs::read(&trace).unwrap();

    let cut = dir.path().join("cut.fltrace");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let newer = dir.path().join("newer.fltrace");
    let mut newer_bytes = bytes.clone();
    newer_bytes[8..10].copy_from_slice(&60_000u16.to_le_bytes());
    std::fs::write(&newer, &newer_bytes).unwrap();
    let garbage = dir.path().join("garbage.fltrace");
    std::fs::write(&garbage, b"this is not a trace at all").unwrap();

    let cases = [
        (cut, "truncated"),
        (newer, "format version 60000"),
        (garbage, "not a Faultline trace"),
        (dir.path().join("missing.fltrace"), "cannot open"),
    ];
    for (path, expected) in cases {
        let o = faultline(&["gui", path.to_str().unwrap(), "--headless-check"]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{}: {err}", path.display());
        assert!(err.contains(expected), "{}: {err}", path.display());
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_cursor_can_start_anywhere_in_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let file = scenario("echo.toml");
    let o = faultline(&["replay", file.to_str().unwrap(), "--out", out, "--headless-check", "--at", "0.25"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(figure(&stdout(&o), "cursor"), "0.250000 s");
    let trace = dir.path().join("trace.fltrace");
    for bad in ["--at=-1", "--at=NaN"] {
        let o = faultline(&["gui", trace.to_str().unwrap(), "--headless-check", bad]);
        assert_eq!(code(&o), 2, "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("bad --at"), "{bad}: {}", stderr(&o));
    }
}

#[test]
fn replay_of_a_bad_scenario_is_bad_input() {
    let o = faultline(&["replay", scenario("bad/binary.toml").to_str().unwrap(), "--headless-check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
