//! `faultline shrink FILE --seed N [--swarm]`: a failing run's fault schedule cut down to what
//! the failure needs, saved as a scenario with scripted faults.
//!
//! Runs the scenario once to find the check to keep failing (`--check`, or the first that
//! fails the run), then asks `faultline_chaos::shrink` for the smallest schedule with which
//! that check still fails, each candidate one run of the same seed with the schedule given
//! whole. The result is the scenario's own text with its `[[faults]]` and `[swarm]` replaced
//! (`scenario::emit`), run once more from the written file to confirm. Must not: decide what a
//! smaller schedule is (chaos's `shrink`) or write anything but the one output file.

use super::load;
use super::run::{Failure, Variant, reproduce_with, simulate_with};
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::nemesis::Scripted;
use faultline_chaos::report::{Report, Verdict, matches};
use faultline_chaos::shrink::shrink;
use faultline_sim::scenario::Scenario;
use faultline_sim::scenario::emit::{fault_line, with_faults};
use faultline_sim::swarm::{self, Faults};
use faultline_sim::{Engine, Plant};
use std::path::{Path, PathBuf};

/// What `faultline shrink` was asked.
pub struct Options {
    pub file: PathBuf,
    pub seed: Option<u64>,
    pub variant: Variant,
    pub check: Option<String>,
    pub out: Option<PathBuf>,
    pub max_runs: u32,
    pub format: Format,
}

/// Whether `report` shows `check` failing (as measured, whether or not it is judged).
fn fails(report: &Report, check: &str) -> bool {
    report.checks.iter().any(|c| c.name == check && c.verdict == Verdict::Fail)
}

/// The check to keep failing: the one `wanted` names among the failed ones, or the first
/// that fails the run.
fn target(report: &Report, wanted: Option<&str>) -> Result<String, String> {
    let failed: Vec<&str> =
        report.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.name.as_str()).collect();
    match wanted {
        Some(w) => failed
            .iter()
            .find(|name| matches(w, name))
            .map(|n| n.to_string())
            .ok_or_else(|| format!("no failed check is named {w:?}; the failed checks are: {}", list(&failed))),
        None => report.failures().next().map(|c| c.name.clone()).ok_or_else(|| {
            format!("the run fails no check, so there is nothing to shrink (failed as measured: {})", list(&failed))
        }),
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

pub fn run(o: &Options) -> Exit {
    let scenario = match load(&o.file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let seed = o.seed.unwrap_or(scenario.seed);
    let (faults, plant, engine) = (o.variant.faults(), o.variant.plant, o.variant.engine);
    let first = match simulate_with(&scenario, Some(seed), None, faults.clone(), plant, engine) {
        Ok(outcome) => outcome,
        Err(failure) => return super::run::failed(&failure, &reproduce_with(&o.file, seed, &o.variant)),
    };
    let check = match target(&first.report, o.check.as_deref()) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::BadInput;
        }
    };
    let plan = faultline_sim::compile_planted(&scenario, Some(seed), plant);
    let names = swarm::host_names(&plan);
    let original = swarm::script(&scenario, &plan, &faults);
    let oracle = |candidate: &[Scripted]| {
        let given = Faults::Given(candidate.to_vec());
        simulate_with(&scenario, Some(seed), None, given, plant, engine).is_ok_and(|o| fails(&o.report, &check))
    };
    let shrunk = shrink(original.clone(), plan.duration_ns, o.max_runs, oracle);
    let lines: Option<Vec<String>> = shrunk.faults.iter().map(|f| fault_line(f, &names)).collect();
    let Some(lines) = lines else {
        eprintln!("error: internal error: the shrunk schedule holds a fault the scenario format cannot state");
        return Exit::Internal;
    };
    let out = o.out.clone().unwrap_or_else(|| default_out(&o.file, seed));
    let comment = header(o, seed, &check, original.len(), shrunk.faults.len(), shrunk.runs, &out);
    if let Err(exit) = write(&o.file, &out, &lines, &comment) {
        return exit;
    }
    let confirmed = confirm(&out, seed, &check, plant, engine);
    print(
        o,
        Summary {
            seed,
            check: &check,
            from: original.len(),
            lines: &lines,
            runs: shrunk.runs,
            exhausted: shrunk.exhausted,
            out: &out,
            confirmed: &confirmed,
        },
    );
    match confirmed {
        Ok(()) => Exit::Pass,
        Err(_) => Exit::Internal,
    }
}

/// `<stem>.seed-<N>.shrunk.toml` in the current directory.
fn default_out(file: &Path, seed: u64) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.seed-{seed}.shrunk.toml"))
}

/// The comment above the written faults: where they come from and how to run them.
fn header(o: &Options, seed: u64, check: &str, from: usize, to: usize, runs: u32, out: &Path) -> String {
    let flags = o.variant.flags();
    format!(
        "Shrunk by `faultline shrink {} --seed {seed}{flags}`:\nthe check {check:?} fails with these {to} fault(s) (from {from}), found in {runs} runs.\nReproduce: {}",
        o.file.display(),
        reproduce_with(out, seed, &o.variant.scripted())
    )
}

fn write(file: &Path, out: &Path, lines: &[String], comment: &str) -> Result<(), Exit> {
    let text = std::fs::read_to_string(file).map_err(|e| super::fail(&format!("cannot read {}", file.display()), e))?;
    let shrunk = with_faults(&text, lines, comment)
        .map_err(|e| super::fail(&format!("cannot rewrite {}", file.display()), e))?;
    std::fs::write(out, shrunk).map_err(|e| super::fail(&format!("cannot write {}", out.display()), e))
}

/// Runs the written file as a user would, and says whether `check` fails in it.
fn confirm(out: &Path, seed: u64, check: &str, plant: Option<Plant>, engine: Engine) -> Result<(), String> {
    let scenario: Scenario =
        faultline_sim::scenario::load_file(out).map_err(|e| format!("the written file does not load: {e}"))?;
    match simulate_with(&scenario, Some(seed), None, Faults::Scripted, plant, engine) {
        Ok(o) if fails(&o.report, check) => Ok(()),
        Ok(_) => Err(format!("{check:?} holds when the written file runs")),
        Err(Failure::Internal(m) | Failure::Output(m)) => Err(m),
    }
}

struct Summary<'a> {
    seed: u64,
    check: &'a str,
    from: usize,
    lines: &'a [String],
    runs: u32,
    exhausted: bool,
    out: &'a Path,
    confirmed: &'a Result<(), String>,
}

fn print(o: &Options, s: Summary<'_>) {
    match o.format {
        Format::Json => {
            let json = serde_json::json!({
                "file": o.file,
                "seed": s.seed,
                "swarm": o.variant.swarm,
                "plant": o.variant.plant.map(|p| p.name()),
                "check": s.check,
                "faults_before": s.from,
                "faults": s.lines,
                "runs": s.runs,
                "budget_spent": s.exhausted,
                "out": s.out,
                "confirmed": s.confirmed.is_ok(),
                "reproduce": reproduce_with(s.out, s.seed, &o.variant.scripted()),
            });
            outln!("{}", serde_json::to_string_pretty(&json).expect("json"));
        }
        Format::Text => {
            outln!("faultline shrink: {} --seed {}{}", o.file.display(), s.seed, o.variant.flags());
            outln!("check kept failing: {}", s.check);
            outln!(
                "faults: {} -> {} in {} runs{}",
                s.from,
                s.lines.len(),
                s.runs,
                if s.exhausted { " (budget spent: it may shrink further)" } else { "" }
            );
            for line in s.lines {
                outln!("  {line}");
            }
            outln!("written: {}", s.out.display());
            match s.confirmed {
                Ok(()) => outln!("confirmed: {:?} fails when the written file runs", s.check),
                Err(why) => eprintln!("error: internal error: the written file does not reproduce the failure: {why}"),
            }
            outln!("reproduce: {}", reproduce_with(s.out, s.seed, &o.variant.scripted()));
        }
    }
}
