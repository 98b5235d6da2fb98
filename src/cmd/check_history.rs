//! `faultline check-history`: a Jepsen-style EDN register history through the linearizability
//! checker.
//!
//! Owns: reading the file, mapping flags to the checker's configuration, printing the report,
//! and the exit code (0 linearizable; 1 not linearizable; 2 bad input, as
//! `file:line:col: message`; 3 UNKNOWN because the budget was spent: a check that could not be
//! completed is not a pass). Must not: parse or judge anything itself (`faultline_chaos::lin`
//! does both).

use super::fail;
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::lin::jepsen::{self, KeyMode};
use faultline_chaos::lin::{Budget, CheckConfig, TimeUnit, Value, Verdict, check, explain};
use faultline_chaos::report;
use std::path::PathBuf;

/// The command's flags, validated by clap.
pub struct Options {
    pub file: PathBuf,
    pub format: Format,
    pub independent: bool,
    pub max_steps: u64,
    pub initial: Option<i64>,
}

pub fn run(options: &Options) -> Exit {
    let file = &options.file;
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return fail(&format!("cannot read {}", file.display()), e),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            eprintln!(
                "{}:{line}:{col}: expected UTF-8 text, found byte {:#04x}",
                file.display(),
                e.as_bytes()[valid.len()]
            );
            return Exit::BadInput;
        }
    };
    let mode = if options.independent { KeyMode::Independent } else { KeyMode::Auto };
    let parsed = match jepsen::parse(&text, mode) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}:{e}", file.display());
            return Exit::BadInput;
        }
    };
    let config = CheckConfig {
        initial: options.initial.map_or(Value::Nil, Value::Int),
        budget: Budget { max_steps: options.max_steps, ..Budget::default() },
    };
    let checked = match check(&parsed.ops, &config) {
        Ok(c) => c,
        Err(e) => return fail(&format!("{} is not a valid history", file.display()), e),
    };
    match options.format {
        Format::Text => {
            let keys = if parsed.independent { "independent [key value] tuples" } else { "plain values" };
            outln!("history {} ({keys}; times are line numbers)", file.display());
            out!("{}", explain::render_text(&checked, TimeUnit::Line));
            if matches!(checked.verdict, Verdict::Unknown { .. }) {
                outln!("raise --max-steps (now {}) to search further", options.max_steps);
            }
        }
        Format::Json => {
            let mut json = explain::render_json(&checked, TimeUnit::Line);
            json["file"] = serde_json::json!(file.display().to_string());
            json["independent"] = serde_json::json!(parsed.independent);
            json["skipped_entries"] = serde_json::json!(parsed.skipped);
            outln!("{json}");
        }
    }
    Exit::from_verdict(match checked.verdict {
        Verdict::Ok => report::Verdict::Pass,
        Verdict::Illegal { .. } => report::Verdict::Fail,
        Verdict::Unknown { .. } => report::Verdict::Unknown,
    })
}
