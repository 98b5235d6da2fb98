//! `faultline run`: one scenario, one seed, a report.

use super::{fail, load};
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::report::Verdict;
use faultline_sim::{RunOptions, RunOutcome, TraceOut};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// The command that reproduces a run exactly.
pub fn reproduce(file: &Path, seed: u64) -> String {
    format!("faultline run {} --seed {seed}", file.display())
}

/// Runs a loaded scenario once, with an optional trace file.
pub fn simulate(
    scenario: &faultline_sim::scenario::Scenario,
    seed: Option<u64>,
    trace: Option<&Path>,
) -> Result<RunOutcome, String> {
    let trace: Option<TraceOut> = match trace {
        Some(path) => {
            let f = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            Some(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
        None => None,
    };
    let options = RunOptions { seed, trace, ..RunOptions::default() };
    faultline_sim::run(scenario, options).map_err(|e| e.to_string())
}

pub fn run(file: &Path, seed: Option<u64>, out: Option<&Path>, format: Format) -> Exit {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    if let Some(dir) = out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(&format!("cannot create {}", dir.display()), e);
    }
    let seed_used = seed.unwrap_or(scenario.seed);
    if format == Format::Text {
        println!("faultline run: scenario {:?}, seed {seed_used}", scenario.name);
        println!("reproduce: {}", reproduce(file, seed_used));
    }
    let trace = out.map(|d| d.join("trace.fltrace"));
    let outcome = match simulate(&scenario, seed, trace.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: the run failed: {e}");
            eprintln!("reproduce: {}", reproduce(file, seed_used));
            return Exit::CheckFailed;
        }
    };
    let json = serde_json::to_string_pretty(&outcome.report).expect("reports serialize");
    let text = outcome.report.render_text();
    if let Some(dir) = out {
        for (name, body) in [("report.json", &json), ("report.txt", &text)] {
            if let Err(e) = std::fs::write(dir.join(name), body) {
                return fail(&format!("cannot write {}", dir.join(name).display()), e);
            }
        }
    }
    match format {
        Format::Text => println!("{}", text.trim_end()),
        Format::Json => println!("{json}"),
    }
    let verdict = outcome.report.verdict();
    if verdict != Verdict::Pass {
        eprintln!("reproduce: {}", reproduce(file, seed_used));
    }
    Exit::from_verdict(verdict)
}
