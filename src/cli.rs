//! The command-line grammar (clap derive); help text comes from these definitions.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Faultline: a deterministic simulator and chaos testbed for SaaS architectures.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Report and dump formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    Text,
    /// JSON for tools.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and print its report.
    Run {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Master seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Directory for trace.fltrace, report.json and report.txt.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Report format on standard output.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run a scenario several times with one seed and compare the trace hashes.
    CheckDeterminism {
        /// The scenario file.
        file: PathBuf,
        /// Master seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// How many runs to compare.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=1000))]
        runs: u32,
    },
    /// Run every scenario under many seeds, in parallel, and summarise the failures.
    Sweep {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seeds per scenario.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        seeds: u64,
        /// First seed; the sweep uses first-seed .. first-seed + seeds.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Worker threads (default: the number of cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Summary format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Work with trace files.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Measure the simulator's speed: raw turmoil, Faultline, and a bare event loop.
    Bench {
        /// A short run (seconds, not minutes).
        #[arg(long)]
        quick: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Print every record of a trace.
    Dump {
        /// The trace file.
        file: PathBuf,
        /// Line format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}
