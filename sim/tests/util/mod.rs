//! Helpers shared by the world's integration tests: a scenario from text, and a run of it.

#![allow(dead_code)]

use faultline_sim::scenario::{Scenario, parse_str};
use faultline_sim::{RunOptions, RunOutcome, run};

/// The scenario `text` parses to (a test's own scenario: it must be valid).
pub fn scenario(text: &str) -> Scenario {
    parse_str("test.toml", text).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")))
}

/// `s` run to the end under `seed`.
pub fn go(s: &Scenario, seed: u64) -> RunOutcome {
    run(s, RunOptions { seed: Some(seed), ..RunOptions::default() }).expect("the run completes")
}
