//! Helpers shared by the world's integration tests: a scenario from text, and a run of it.

#![allow(dead_code)]

use faultline_sim::scenario::{Scenario, parse_str};
use faultline_sim::{Engine, RunOptions, RunOutcome, run};
use std::cell::Cell;

thread_local! {
    /// The engine this thread's runs take (turmoil unless a test runs under [`on_madsim`]).
    static ENGINE: Cell<Engine> = const { Cell::new(Engine::Turmoil) };
}

/// Runs `test` with every run of these helpers (and of [`options`]) on madsim: a model's
/// tests, written once, hold on both engines.
pub fn on_madsim(test: fn()) {
    struct Back(Engine);
    impl Drop for Back {
        fn drop(&mut self) {
            ENGINE.set(self.0);
        }
    }
    let _back = Back(ENGINE.replace(Engine::Madsim));
    test();
}

/// Defines a test of each name given that runs the parent module's test of that name on
/// madsim (see [`on_madsim`]): a module's `on_madsim` submodule lists its tests to run twice.
macro_rules! on_madsim_too {
    ($($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                crate::util::on_madsim(super::$test);
            }
        )*
    };
}
pub(crate) use on_madsim_too;

/// The engine runs take here: turmoil, or madsim under [`on_madsim`].
pub fn engine() -> Engine {
    ENGINE.get()
}

/// Default run options under `seed`, on this thread's [`engine`].
pub fn options(seed: u64) -> RunOptions {
    RunOptions { seed: Some(seed), engine: engine(), ..RunOptions::default() }
}

/// The scenario `text` parses to (a test's own scenario: it must be valid).
pub fn scenario(text: &str) -> Scenario {
    parse_str("test.toml", text).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")))
}

/// The library's scenario `name` (a file in `scenarios/`) with each `(from, to)` edit applied
/// (each must apply).
pub fn library(name: &str, edits: &[(&str, &str)]) -> Scenario {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name);
    let mut text = std::fs::read_to_string(&path).expect("the scenario exists");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in {name}");
        text = text.replace(from, to);
    }
    parse_str(name, &text).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")))
}

/// The report of the library's scenario `name` with each `(from, to)` edit applied to its
/// first occurrence (each must apply), run under `seed`.
pub fn variant(name: &str, edits: &[(&str, &str)], seed: u64) -> faultline_chaos::report::Report {
    let mut text = text(name);
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in {name}");
        text = text.replacen(from, to, 1);
    }
    go(&scenario_named(name, &text), seed).report
}

/// The text of the library's scenario `name` (a file in `scenarios/`).
pub fn text(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name);
    std::fs::read_to_string(path).expect("the scenario exists")
}

/// The scenario `text` parses to, named `name` in its errors (it must be valid).
fn scenario_named(name: &str, text: &str) -> Scenario {
    parse_str(name, text).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")))
}

/// `s` run to the end under `seed`.
pub fn go(s: &Scenario, seed: u64) -> RunOutcome {
    planted(s, seed, None)
}

/// `s` run to the end under `seed`, with the bug `plant` switched on in the models (`None`:
/// exactly [`go`]).
pub fn planted(s: &Scenario, seed: u64, plant: Option<faultline_sim::Plant>) -> RunOutcome {
    run(s, RunOptions { plant, ..options(seed) }).expect("the run completes")
}

/// `s` run to the end under `seed`, with its trace's host names and every record (messages not
/// recorded).
pub fn records(s: &Scenario, seed: u64) -> (RunOutcome, Vec<String>, Vec<faultline_chaos::trace::Record>) {
    records_with(s, seed, false)
}

/// Like [`records`], with network messages recorded when `messages` is set.
pub fn records_with(
    s: &Scenario,
    seed: u64,
    messages: bool,
) -> (RunOutcome, Vec<String>, Vec<faultline_chaos::trace::Record>) {
    let record = faultline_sim::RecordConfig { messages, ..faultline_sim::RecordConfig::default() };
    let (outcome, header, records) = trace(s, seed, record);
    (outcome, header.hosts.iter().map(|h| h.name.clone()).collect(), records)
}

/// `s` run to the end under `seed`, recording as `record` says: its outcome, and its trace's
/// header and every record.
pub fn trace(
    s: &Scenario,
    seed: u64,
    record: faultline_sim::RecordConfig,
) -> (RunOutcome, faultline_chaos::trace::Header, Vec<faultline_chaos::trace::Record>) {
    trace_on(s, seed, record, engine())
}

/// Like [`trace`], on `engine`.
pub fn trace_on(
    s: &Scenario,
    seed: u64,
    record: faultline_sim::RecordConfig,
    engine: faultline_sim::Engine,
) -> (RunOutcome, faultline_chaos::trace::Header, Vec<faultline_chaos::trace::Record>) {
    use std::sync::{Arc, Mutex};
    /// The trace's bytes, kept for reading back.
    struct Bytes(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Bytes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let options = RunOptions {
        seed: Some(seed),
        trace: Some(Box::new(Bytes(bytes.clone()))),
        record,
        engine,
        ..RunOptions::default()
    };
    let outcome = run(s, options).expect("the run completes");
    let bytes = bytes.lock().expect("not poisoned").clone();
    let mut reader = faultline_chaos::trace::codec::TraceReader::new(&bytes[..]).expect("a trace");
    let header = reader.header().clone();
    let mut out = Vec::new();
    while let Some(record) = reader.next_record().expect("a whole trace") {
        out.push(record);
    }
    (outcome, header, out)
}
