//! One module per subcommand; [`dispatch`] routes a parsed command line to it.

mod bench;
pub(crate) mod capacity;
mod check_history;
mod compare;
mod determinism;
mod gui;
mod merge;
mod plan;
mod replay;
mod run;
mod serve;
mod shrink;
mod sweep;
mod trace;

use crate::cli::{Cli, Command, GuiFlags, ServeCommand, TraceCommand};
use crate::exit::Exit;
use faultline_sim::scenario::{self, Scenario};
use std::path::Path;

/// Runs the command and says how it ended.
pub fn dispatch(cli: Cli) -> Exit {
    match cli.command {
        Command::Run { file, seed, out, format, swarm, plant, engine } => {
            run::run(&file, seed, out.as_deref(), format, run::Variant { swarm, plant, engine: engine.into() })
        }
        Command::Plan { file, seed, format, swarm } => plan::run(&file, seed, format, swarm),
        Command::CheckDeterminism { file, seed, runs } => determinism::run(&file, seed, runs),
        Command::Sweep {
            files,
            seeds,
            first_seed,
            jobs,
            format,
            out,
            junit,
            shard,
            swarm,
            plant,
            engine,
            record_failures,
        } => {
            let variant = run::Variant { swarm, plant, engine: engine.into() };
            let paths = files;
            sweep::run(&sweep::Options {
                paths,
                first_seed,
                seeds,
                jobs,
                format,
                out,
                junit,
                shard,
                variant,
                record_failures,
            })
        }
        Command::Merge { dirs, out, junit, format } => merge::run(&merge::Options { dirs, out, junit, format }),
        Command::Capacity { file, slo_p99, availability, seeds, max_rate, precision, with_faults, format } => {
            let max_rate = max_rate.unwrap_or(faultline_sim::scenario::MAX_RATE);
            let options =
                capacity::Options { file, slo_p99, availability, seeds, max_rate, precision, with_faults, format };
            capacity::run(&options)
        }
        Command::Compare {
            files,
            seeds,
            first_seed,
            jobs,
            format,
            out,
            capacity_p99,
            capacity_availability,
            capacity_max_rate,
            capacity_precision,
        } => {
            let capacity = capacity_p99.map(|p99| compare::CapacityGoal {
                p99,
                availability: capacity_availability,
                max_rate: capacity_max_rate.unwrap_or(faultline_sim::scenario::MAX_RATE),
                precision: capacity_precision,
            });
            compare::run(&compare::Options { files, seeds, first_seed, jobs, format, out, capacity })
        }
        Command::Replay { file, seed, swarm, plant, engine, out, gui } => {
            let variant = run::Variant { swarm, plant, engine: engine.into() };
            replay::run(&file, seed, variant, out.as_deref(), gui_options(gui))
        }
        Command::Shrink { file, seed, swarm, plant, engine, check, out, max_runs, format } => {
            let variant = run::Variant { swarm, plant, engine: engine.into() };
            shrink::run(&shrink::Options { file, seed, variant, check, out, max_runs, format })
        }
        Command::Gui { file, gui } => gui::run(&file, gui_options(gui)),
        Command::Trace { command: TraceCommand::Dump { file, format } } => trace::dump(&file, format),
        Command::Schema => {
            outln!("{}", scenario::json_schema());
            Exit::Pass
        }
        Command::Bench { quick } => bench::run(quick),
        Command::Serve { model: ServeCommand::Cache { listen, maxmemory, maxmemory_policy, maxclients, seed } } => {
            serve::cache(&serve::CacheOptions { listen, maxmemory, maxmemory_policy, maxclients, seed })
        }
        Command::Serve { model: ServeCommand::App(flags) } => serve::app(&flags),
        Command::CheckHistory { file, format, independent, max_steps, initial } => {
            check_history::run(&check_history::Options { file, format, independent, max_steps, initial })
        }
    }
}

fn gui_options(flags: GuiFlags) -> gui::Options {
    gui::Options { headless_check: flags.headless_check, frames: flags.frames, at_s: flags.at }
}

/// Loads a scenario, printing a located error (file:line:col and the snippet) on failure.
/// `CORPUS#N` names the N-th entry of a regression corpus: its scenario with the entry's
/// schedule as its faults and the entry's seed as its own (what a sweep ran as `CORPUS#N`).
pub fn load(path: &Path) -> Result<Scenario, Exit> {
    if let Some((corpus, n)) = sweep::corpus::entry_name(path) {
        return sweep::corpus::load_entry(&corpus, n).map_err(|e| fail("bad regression corpus entry", e));
    }
    scenario::load_file(path).map_err(|e| {
        for line in e.report_lines() {
            eprintln!("{line}");
        }
        eprintln!("{:?}", miette::Report::new(e));
        Exit::BadInput
    })
}

/// Prints an error that is not a scenario error, and says it was bad input.
pub fn fail(context: &str, err: impl std::fmt::Display) -> Exit {
    eprintln!("error: {context}: {err}");
    Exit::BadInput
}
