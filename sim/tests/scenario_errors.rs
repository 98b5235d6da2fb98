//! One test per kind of bad scenario: each asserts the error's line, column and message, so a
//! CI log line `file:line:col: message` points at the right place. Ends with property tests that
//! no input, however mangled, makes the loader panic.

use faultline_sim::scenario::{ScenarioError, load_file, parse_bytes, parse_str};
use miette::Diagnostic;
use proptest::prelude::*;
use std::path::PathBuf;

/// A valid scenario with every section; the tests break one thing in it.
const QUICKSTART: &str = include_str!("../src/scenario/testdata/quickstart.toml");

/// The quickstart with the first `from` replaced by `to`.
fn quickstart_with(from: &str, to: &str) -> String {
    assert!(QUICKSTART.contains(from), "{from:?} is not in the quickstart");
    QUICKSTART.replacen(from, to, 1)
}

/// Asserts that `text` fails to load at `line`:`column` with a message containing `message`.
fn check(text: &str, line: usize, column: usize, message: &str) -> ScenarioError {
    let err = parse_str("bad.toml", text).expect_err("the scenario should be rejected");
    check_error(&err, line, column, message);
    err
}

fn check_error(err: &ScenarioError, line: usize, column: usize, message: &str) {
    assert!(err.message().contains(message), "{err}\nshould say {message:?}");
    assert_eq!((err.line(), err.column()), (Some(line), Some(column)), "{err}");
    let location = format!("{}:{line}:{column}: ", err.file());
    assert!(err.to_string().starts_with(&location), "{err} should start with {location}");
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/bad").join(name)
}

fn render(err: &ScenarioError) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, err)
        .expect("rendering into a String cannot fail");
    out
}

#[test]
fn the_quickstart_is_valid() {
    let scenario = parse_str("quickstart.toml", QUICKSTART).expect("the quickstart is valid");
    assert_eq!(scenario.host_names(), ["db", "replica", "cache", "app"]);
}

#[test]
fn the_scenario_library_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).expect("the scenarios directory") {
        let path = entry.expect("a directory entry").path();
        // The regression corpus lists runs of scenarios; the CLI's sweep reads it.
        if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("regressions.toml") {
            if let Err(err) = load_file(&path) {
                panic!("{}", err.report_lines().join("\n"));
            }
            loaded += 1;
        }
    }
    assert!(loaded > 0, "no scenarios in {}", dir.display());
}

#[test]
fn bad_toml_syntax() {
    let err = check(&quickstart_with("users = 50", "users = = 50"), 20, 9, "extra `=`");
    assert!(matches!(err, ScenarioError::Toml(_)), "{err}");
}

#[test]
fn unclosed_table_header() {
    check(&quickstart_with("[workload]", "[workload"), 18, 10, "unclosed table, expected `]`");
}

#[test]
fn unknown_field_points_at_the_field() {
    let err = check(&quickstart_with("users = 50", "users = 50\nuserz = 5"), 21, 1, "unknown field `userz`");
    assert!(err.message().contains("expected one of `targets`, `users`"), "{err}");
    assert_eq!(err.problems()[0].span.len(), "userz".len());
}

#[test]
fn wrong_unit() {
    check(&quickstart_with("\"20s\"", "\"10 parsecs\""), 2, 12, "unknown unit \"parsecs\"");
}

#[test]
fn duration_without_unit() {
    check(&quickstart_with("at = \"10s\"", "at = \"10\""), 24, 6, "\"10\" has no unit");
}

#[test]
fn duration_as_a_bare_number() {
    check(&quickstart_with("at = \"10s\"", "at = 10"), 24, 6, "expected a duration string with a unit");
}

#[test]
fn negative_rate() {
    let err = check(
        &quickstart_with("rate = 200", "rate = -5"),
        21,
        32,
        "rate -5 is out of range; expected a rate between 0 and 10000000 requests per second",
    );
    assert!(matches!(err, ScenarioError::Invalid { .. }), "{err}");
}

#[test]
fn absurd_rate() {
    check(&quickstart_with("rate = 200", "rate = 1e9"), 21, 32, "expected a rate between 0 and 10000000");
}

#[test]
fn unknown_host_in_a_fault() {
    check(
        &quickstart_with("kill = \"replica\"", "kill = \"replca\""),
        26,
        18,
        "unknown host \"replca\"; the hosts are: db, replica, cache, app; did you mean \"replica\"?",
    );
}

#[test]
fn unknown_host_in_a_link() {
    check(
        &quickstart_with("between = [\"app\", \"db\"]", "between = [\"app\", \"dbx\"]"),
        16,
        19,
        "unknown host \"dbx\"; the hosts are: db, replica, cache, app",
    );
}

#[test]
fn fault_after_the_end() {
    let text = quickstart_with("\"20s\"", "\"60s\"").replacen("at = \"10s\"", "at = \"70s\"", 1);
    check(&text, 24, 6, "fault at 70s is after the end of the run (60s)");
}

#[test]
fn fault_lasting_past_the_end_is_allowed() {
    let text = quickstart_with("for = \"3s\"", "for = \"1h\"");
    assert!(parse_str("ok.toml", &text).is_ok());
}

#[test]
fn empty_file() {
    let err = parse_str("empty.toml", "").expect_err("empty");
    assert!(matches!(err, ScenarioError::Empty { .. }), "{err}");
    check_error(&err, 1, 1, "the file is empty; a scenario needs name, duration, hosts and workload");
}

#[test]
fn whitespace_and_comment_only_file() {
    let err = check("  \n\t\n# a comment\r\n   # another\n", 1, 1, "the file is empty");
    assert!(matches!(err, ScenarioError::Empty { .. }), "{err}");
}

#[test]
fn binary_file() {
    let err = load_file(&fixture("binary.toml")).expect_err("binary");
    assert!(matches!(err, ScenarioError::NotText(_)), "{err}");
    check_error(&err, 2, 1, "the file is not text: it holds a NUL byte");
    assert!(err.file().ends_with("binary.toml"), "{err}");
}

#[test]
fn file_that_is_not_utf8() {
    let err = load_file(&fixture("latin1.toml")).expect_err("latin-1");
    check_error(&err, 1, 12, "byte 0xe9 is not valid UTF-8");
}

#[test]
fn missing_file() {
    let err = load_file(&fixture("no-such-file.toml")).expect_err("missing");
    assert!(matches!(err, ScenarioError::Io { .. }), "{err}");
    assert_eq!(err.line(), None);
    assert!(err.to_string().contains("no-such-file.toml: cannot read the scenario file"), "{err}");
}

#[test]
fn huge_number() {
    check(
        &quickstart_with("users = 50", "users = 99999999999999999999"),
        20,
        9,
        "the number 99999999999999999999 is too large here; expected an integer from 0 to 4294967295",
    );
}

#[test]
fn missing_required_field() {
    check(&quickstart_with("users = 50\n", ""), 18, 1, "missing field `users` in [workload]");
}

#[test]
fn missing_top_level_field() {
    check(&quickstart_with("name = \"quickstart\"\n", ""), 1, 1, "missing field `name` at the top level");
}

#[test]
fn loss_out_of_range() {
    check(
        &quickstart_with("latency = \"2ms\"", "latency = \"2ms\"\nloss = 1.5"),
        18,
        8,
        "loss 1.5 is out of range; expected a probability in [0, 1)",
    );
}

#[test]
fn zipf_exponent_not_positive() {
    check(&quickstart_with("s = 0.99", "s = -1"), 22, 29, "zipf exponent s = -1 is out of range");
}

#[test]
fn replica_of_a_non_primary() {
    check(
        &quickstart_with("primary = \"db\"", "primary = \"cache\""),
        8,
        48,
        "a kv replica's `primary` must be a kv primary, but \"cache\" is a cache; the kv primary hosts are: db",
    );
}

#[test]
fn every_problem_is_reported_with_its_location() {
    let text = quickstart_with("s = 0.99", "s = -1").replacen("rate = 200", "rate = -5", 1);
    let err = check(&text.replacen("kill = \"replica\"", "kill = \"x\"", 1), 21, 32, "rate -5");
    let lines = err.report_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[1].starts_with("bad.toml:22:29: zipf exponent"), "{lines:#?}");
    assert!(lines[2].starts_with("bad.toml:26:18: unknown host \"x\""), "{lines:#?}");
    assert!(err.to_string().ends_with("(and 2 more problems)"), "{err}");
    assert_eq!(err.related().map(Iterator::count), Some(2));
}

#[test]
fn the_fancy_rendering_shows_the_snippet() {
    let err = check(&quickstart_with("kill = \"replica\"", "kill = \"replca\""), 26, 18, "unknown host");
    let rendered = render(&err);
    assert!(rendered.contains("bad.toml:26:18"), "{rendered}");
    assert!(rendered.contains("fault = { kill = \"replca\" }"), "{rendered}");
    assert!(rendered.contains("not a host"), "{rendered}");
    let toml = check(&quickstart_with("users = 50", "users = 50\nuserz = 5"), 21, 1, "unknown field");
    assert!(render(&toml).contains("userz = 5"), "{}", render(&toml));
}

/// Every error, whatever the input, is located at a real line and column and renders.
fn assert_well_formed(result: Result<faultline_sim::scenario::Scenario, ScenarioError>) {
    if let Err(err) = result {
        assert!(!err.message().is_empty());
        if let (Some(line), Some(column)) = (err.line(), err.column()) {
            assert!(line >= 1 && column >= 1, "{err}");
        }
        assert!(!render(&err).is_empty());
    }
}

/// One edit of a scenario's bytes.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for edit in edits {
        match *edit {
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % bytes.len());
            }
            Edit::Delete(_) => {}
            Edit::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
        }
    }
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"[]{}=\",.#\n -0123456789ehkmnsu".to_vec()),
        1 => any::<u8>(),
    ];
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
    ];
    prop::collection::vec(edit, 1..8)
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        assert_well_formed(parse_str("fuzz.toml", &text));
    }

    #[test]
    fn toml_like_text_never_panics(text in "[a-z_\\[\\]{}=\", .0-9\\n#-]{0,200}") {
        assert_well_formed(parse_str("fuzz.toml", &text));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        assert_well_formed(parse_bytes("fuzz.toml", &bytes));
    }

    #[test]
    fn mutated_scenarios_never_panic(edits in edits()) {
        let mut bytes = QUICKSTART.as_bytes().to_vec();
        apply(&mut bytes, &edits);
        assert_well_formed(parse_bytes("mutated.toml", &bytes));
    }
}

/// The rolling deploy scenario with `from` replaced by `to`, and the 1-based line of `marker`.
fn deploy_with(from: &str, to: &str, marker: &str) -> (String, usize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/deploy-rolling.toml");
    let base = std::fs::read_to_string(path).expect("the scenario exists");
    assert!(base.contains(from), "{from:?} is not in the scenario");
    let text = base.replacen(from, to, 1);
    let line = text.lines().position(|l| l.starts_with(marker)).expect("the marker") + 1;
    (text, line)
}

#[test]
fn deploy_values_are_located() {
    let (text, line) = deploy_with("replicas = 4", "replicas = 9", "replicas = 9");
    check(&text, line, 12, "9 replicas for a pool of 6; expected 1 to 6");
    let (text, line) = deploy_with("\nmax_surge = 1", "\nmax_surge = \"1 instance\"", "max_surge =");
    check(&text, line, 13, "expected a count or a percent such as \"25%\"");
    let (text, line) = deploy_with("strategy = \"rolling\"", "strategy = \"recreate\"", "strategy =");
    check(&text, line, 12, "unknown variant `recreate`");
}
