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

/// The engines `--engine` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Turmoil: the default.
    Turmoil,
    /// madsim: skips idle time; timers exact to the nanosecond.
    Madsim,
}

impl From<EngineArg> for faultline_sim::Engine {
    fn from(arg: EngineArg) -> Self {
        match arg {
            EngineArg::Turmoil => faultline_sim::Engine::Turmoil,
            EngineArg::Madsim => faultline_sim::Engine::Madsim,
        }
    }
}

/// Formats of `faultline compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Aligned text for a terminal.
    Text,
    /// JSON for tools.
    Json,
    /// One self-contained HTML page: the table and a latency plot per scenario.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and print its report.
    ///
    /// Exit 0: every check holds. Exit 1: a check failed. Exit 2: bad input or usage. Exit 3:
    /// no check failed but one could not decide (UNKNOWN is not a pass).
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
        /// Draw random faults from the seed on top of the scripted ones (the scenario's
        /// `[swarm]` table, or its defaults), judging what it says: swarm testing.
        #[arg(long)]
        swarm: bool,
        /// Plant a known bug in the models (tests of the checks only).
        #[arg(long, hide = true)]
        plant: Option<faultline_sim::Plant>,
        /// The engine that runs the world: turmoil (1 ms ticks) or madsim (event-driven, exact
        /// timers; see docs/architecture.md).
        #[arg(long, value_enum, default_value_t = EngineArg::Turmoil)]
        engine: EngineArg,
    },
    /// Print the run plan a scenario compiles to (hosts, services, load, faults, checks)
    /// without running it.
    Plan {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Master seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Draw random faults from the seed on top of the scripted ones (the scenario's
        /// `[swarm]` table, or its defaults), judging what it says: swarm testing.
        #[arg(long)]
        swarm: bool,
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
    ///
    /// PATHS are scenario files and directories (a directory stands for the `*.toml` files
    /// under it, recursively, but for a `bad/` negative-test corpus). The (scenario, seed)
    /// pairs are sorted by file then seed; `--shard K/N` runs every N-th from the K-th (or the
    /// environment does: FAULTLINE_SHARD=K/N, a Kubernetes Indexed Job's JOB_COMPLETION_INDEX
    /// with FAULTLINE_SHARD_COUNT, a Slurm array's SLURM_ARRAY_TASK_ID). Progress goes to
    /// standard error, the summary to standard output.
    ///
    /// Exit 0: every check held on every run. Exit 1: a check failed on some run. Exit 2: bad
    /// input or usage. Exit 3: none failed but a check could not decide on some run. Exit 4: the
    /// simulator failed on some run.
    Sweep {
        /// Scenario files and directories of them.
        #[arg(required = true, value_name = "PATHS")]
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
        /// Results directory: DIR/runs/ gets each run's result as it finishes, DIR/summary.json
        /// the deterministic summary. Running the same command again skips the runs done.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write a JUnit XML report here (one suite per scenario, one case per seed).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Run only shard K of N (1-based): the pairs whose place in the sorted list is K-1
        /// modulo N.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Swarm runs: each seed draws random faults on top of the scripted ones (a scenario's
        /// `[swarm]` table, or its defaults), judging what it says.
        #[arg(long)]
        swarm: bool,
        /// Plant a known bug in the models (tests of the checks only).
        #[arg(long, hide = true)]
        plant: Option<faultline_sim::Plant>,
        /// The engine that runs the world: turmoil (1 ms ticks) or madsim (event-driven, exact
        /// timers; see docs/architecture.md).
        #[arg(long, value_enum, default_value_t = EngineArg::Turmoil)]
        engine: EngineArg,
        /// Append each failed run (its seed and whole fault schedule) to this regression corpus
        /// (default scenarios/regressions.toml), which a sweep given the file re-runs.
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "scenarios/regressions.toml")]
        record_failures: Option<PathBuf>,
    },
    /// Join the results directories of a sharded sweep (`sweep --out DIR --shard K/N`) into the
    /// summary, summary.json and JUnit report one unsharded sweep would give.
    ///
    /// Exit codes as `sweep`'s; 2 also when a run is in two directories with different results.
    Merge {
        /// The shards' results directories.
        #[arg(required = true, value_name = "DIRS")]
        dirs: Vec<PathBuf>,
        /// Directory for the merged summary.json (and runs/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the merged JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Summary format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Find the highest arrival rate at which a scenario meets a p99 latency and an availability
    /// objective, and what saturated first beyond it.
    ///
    /// Runs the scenario's open-loop workload scaled to a sequence of rates (doubling from its
    /// own rate, then bisection to a bracket of --precision, 5% by default), each under seeds
    /// 1..N; a rate passes when every seed meets the objective. The file's faults are removed
    /// unless --with-faults. Exit 0: a rate passes. Exit 1: even the lowest rate tried breaks
    /// the objective. Exit 2: bad input or usage (a closed-loop workload included).
    Capacity {
        /// The scenario file (TOML).
        file: PathBuf,
        /// The bound of the p99 latency of successful requests, e.g. "200ms".
        #[arg(long, value_parser = parse_slo)]
        slo_p99: std::time::Duration,
        /// The least share of successful requests, in (0, 1].
        #[arg(long, default_value_t = 0.999, value_parser = parse_availability)]
        availability: f64,
        /// Seeds 1..N run at each rate.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
        seeds: u64,
        /// The largest rate tried, requests per second (default: the largest a scenario allows).
        #[arg(long, value_parser = parse_max_rate)]
        max_rate: Option<f64>,
        /// How narrow the search's bracket ends: the lowest failing rate at most this share
        /// above the highest passing (0.05: within 5%). A wider one takes fewer runs.
        #[arg(long, default_value_t = crate::cmd::capacity::search::PRECISION, value_parser = parse_precision)]
        precision: f64,
        /// Keep the scenario's faults during the search.
        #[arg(long)]
        with_faults: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Compare architectures side by side: every scenario under the same seeds, one table with
    /// a column per scenario and a row per figure.
    ///
    /// Rows: latency of the successful requests (every seed's pooled), availability and the
    /// error budget burned, RTO per disruptive fault and RPO, throughput, the seeds that passed
    /// every check, the capacity at an objective (with --capacity-p99), and hosts by kind with
    /// their cost per hour (prices from a scenario's `[cost]` table). Exit 0: the table was
    /// made, failed checks included. Exit 2: bad input or usage. Exit 4: a simulation failed.
    Compare {
        /// The scenario files, one column each.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// Seeds per scenario.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        seeds: u64,
        /// First seed; every scenario runs under first-seed .. first-seed + seeds.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Worker threads (default: the number of cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
        format: CompareFormat,
        /// Write the output to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Add the capacity rows: the highest arrival rate whose p99 latency of successful
        /// requests is within this bound ("200ms"), from the capacity search (faults dropped,
        /// seeds 1..N).
        #[arg(long, value_parser = parse_slo, value_name = "LATENCY")]
        capacity_p99: Option<std::time::Duration>,
        /// The capacity rows' least share of successful requests, in (0, 1].
        #[arg(long, default_value_t = 0.999, value_parser = parse_availability, requires = "capacity_p99")]
        capacity_availability: f64,
        /// The largest rate the capacity search tries, requests per second.
        #[arg(long, value_parser = parse_max_rate, requires = "capacity_p99")]
        capacity_max_rate: Option<f64>,
        /// The capacity search's bracket: the lowest failing rate at most this share above the
        /// highest passing.
        #[arg(long, default_value_t = crate::cmd::capacity::search::PRECISION, value_parser = parse_precision, requires = "capacity_p99")]
        capacity_precision: f64,
    },
    /// Run a scenario with a seed and open its trace in the replay GUI.
    Replay {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Master seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Directory for trace.fltrace (default: a directory under the system's temp dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Draw random faults from the seed on top of the scripted ones (the scenario's
        /// `[swarm]` table, or its defaults), judging what it says: swarm testing.
        #[arg(long)]
        swarm: bool,
        /// Plant a known bug in the models (tests of the checks only).
        #[arg(long, hide = true)]
        plant: Option<faultline_sim::Plant>,
        /// The engine that runs the world: turmoil (1 ms ticks) or madsim (event-driven, exact
        /// timers; see docs/architecture.md).
        #[arg(long, value_enum, default_value_t = EngineArg::Turmoil)]
        engine: EngineArg,
        #[command(flatten)]
        gui: GuiFlags,
    },
    /// Minimise a failing run's fault schedule while the same check keeps failing, and write
    /// it as a scenario with scripted faults.
    ///
    /// Tries, in turn, fewer faults, shorter faults, later faults and fewer hosts, keeping each
    /// change with which the check still fails, until none helps or --max-runs runs are spent;
    /// then runs the written file once to confirm it fails the same way. Deterministic. Exit 0:
    /// written and confirmed. Exit 2: bad input, or the run fails no check to shrink for.
    /// Exit 4: the written file does not reproduce the failure.
    Shrink {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Master seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Shrink a swarm run's schedule (scripted and drawn faults).
        #[arg(long)]
        swarm: bool,
        /// Plant a known bug in the models (tests of the checks only).
        #[arg(long, hide = true)]
        plant: Option<faultline_sim::Plant>,
        /// The engine that runs the world: turmoil (1 ms ticks) or madsim (event-driven, exact
        /// timers; see docs/architecture.md).
        #[arg(long, value_enum, default_value_t = EngineArg::Turmoil)]
        engine: EngineArg,
        /// The check that must keep failing, by its name or first words (default: the first
        /// check that fails the run).
        #[arg(long)]
        check: Option<String>,
        /// Where to write the shrunk scenario (default: <file stem>.seed-<N>.shrunk.toml in the
        /// current directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The most runs the search may take.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_runs: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Open a saved trace (e.g. DIR/trace.fltrace from `run --out DIR`) in the replay GUI.
    Gui {
        /// The trace file.
        file: PathBuf,
        #[command(flatten)]
        gui: GuiFlags,
    },
    /// Work with trace files.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Check a Jepsen/Knossos-style EDN register history for linearizability.
    ///
    /// One map per line, e.g. {:type :invoke, :f :write, :value 3, :process 0}, with :f :read,
    /// :write or :cas (value [expected new]); keys from :key or [key value] tuples. Exit 0: the
    /// history is linearizable. Exit 1: it is not (the explanation names the operation that
    /// cannot be placed). Exit 2: the file is not a register history (file:line:col says
    /// where). Exit 3: the search ran out of budget: UNKNOWN is not a pass.
    CheckHistory {
        /// The history file (EDN).
        file: PathBuf,
        /// Report format on standard output.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Read every :value as a Jepsen `independent` [key value] tuple (default: detect).
        #[arg(long)]
        independent: bool,
        /// Search budget per key, in steps; when it is spent the verdict is UNKNOWN.
        #[arg(long, default_value_t = 20_000_000)]
        max_steps: u64,
        /// Every register's initial value (default: nil).
        #[arg(long, allow_negative_numbers = true)]
        initial: Option<i64>,
    },
    /// Serve a model on real sockets (loopback by default), for real clients to use.
    Serve {
        #[command(subcommand)]
        model: ServeCommand,
    },
    /// Measure the simulator's speed: raw turmoil, Faultline, and a bare event loop.
    Bench {
        /// A short run (seconds, not minutes).
        #[arg(long)]
        quick: bool,
    },
}

/// A latency objective: a duration with a unit, above 0.
fn parse_slo(text: &str) -> Result<std::time::Duration, String> {
    let d = faultline_sim::scenario::units::parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("{text:?} is 0; expected a latency above 0, such as \"200ms\""));
    }
    Ok(d)
}

/// An availability objective: a share in (0, 1].
fn parse_availability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(a) if a > 0.0 && a <= 1.0 => Ok(a),
        Ok(a) => Err(format!("{a} is outside (0, 1]; expected a share such as 0.999")),
        Err(_) => Err(format!("{text:?} is not a number; expected a share in (0, 1] such as 0.999")),
    }
}

/// The largest rate a capacity search tries: above 0, at most a scenario's largest rate.
fn parse_max_rate(text: &str) -> Result<f64, String> {
    let max = faultline_sim::scenario::MAX_RATE;
    match text.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= max => Ok(r),
        Ok(r) => Err(format!("{r} is outside (0, {max}]; expected requests per second")),
        Err(_) => Err(format!("{text:?} is not a number; expected requests per second")),
    }
}

/// A capacity search's precision: a share above 0, at most 1 (a factor of 2).
fn parse_precision(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        Ok(p) => Err(format!("{p} is outside (0, 1]; expected a share such as 0.05 (within 5%)")),
        Err(_) => Err(format!("{text:?} is not a number; expected a share such as 0.05 (within 5%)")),
    }
}

/// Flags shared by `replay` and `gui`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct GuiFlags {
    /// Load and index the trace, print the figures and exit without opening a window.
    #[arg(long)]
    pub headless_check: bool,
    /// Start with the cursor at this many seconds into the run.
    #[arg(long, value_name = "SECONDS")]
    pub at: Option<f64>,
    /// With --headless-check: frames of the whole UI to draw and time while scrubbing.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub frames: u32,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The L2 cache: a RESP2 server that redis-cli, redis-benchmark and Redis client libraries
    /// speak to. Prints the address it listens on, then serves until killed.
    Cache {
        /// Address to listen on (port 0: any free port, printed at start).
        #[arg(long, default_value = "127.0.0.1:6379")]
        listen: std::net::SocketAddr,
        /// Memory limit, as Redis writes it ("100mb", "1gb", "4096"); 0: none.
        #[arg(long, default_value = "0")]
        maxmemory: String,
        /// What to evict at the limit: noeviction, allkeys-lru, volatile-lru, allkeys-lfu,
        /// volatile-lfu, allkeys-random, volatile-random or volatile-ttl.
        #[arg(long, default_value = "noeviction")]
        maxmemory_policy: String,
        /// Most client connections at once; more are refused as Redis refuses them.
        #[arg(long, default_value_t = 10_000)]
        maxclients: usize,
        /// Seed of the eviction sampler (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The application server over HTTP/1.1 (`GET/PUT/DELETE /items/{key}`, `GET /health`),
    /// reading through a cache to a kv store. Without `--db` or `--cache`, that dependency runs
    /// in the same process on a free loopback port. Prints where it listens and what it depends
    /// on, then serves until killed.
    App(AppFlags),
}

/// Options of `serve app`.
#[derive(Debug, Clone, clap::Args)]
pub struct AppFlags {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The kv store's primary (`faultline` kv protocol); default: an in-memory one in this process.
    #[arg(long, value_name = "ADDR")]
    pub db: Option<std::net::SocketAddr>,
    /// The L2 cache node (RESP: `faultline serve cache` or redis-server); default: one in this
    /// process.
    #[arg(long, value_name = "ADDR")]
    pub cache: Option<std::net::SocketAddr>,
    /// Requests worked on at once; up to 10,000 more wait in the queue, past that `503`.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub workers: u32,
    /// The longest a request's work may take (`504` after); also bounds each call to a
    /// dependency ("250ms", "1s", ...).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = positive_duration)]
    pub request_timeout: std::time::Duration,
    /// The largest request body accepted (`413` above), as Redis writes sizes ("64kb", "1mb").
    #[arg(long, value_name = "SIZE", default_value = "1mb", value_parser = size)]
    pub max_body: usize,
    /// Most client connections at once; one more gets `503` and is closed. Default: no limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Seed of the app's and the embedded dependencies' random streams (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A duration above zero, as scenario files write them ("250ms", "1.5s").
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = faultline_sim::scenario::units::parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be above zero".into());
    }
    Ok(duration)
}

/// A size in bytes, as Redis writes it ("4096", "64kb", "1mb").
fn size(text: &str) -> Result<usize, String> {
    faultline_models::cache::engine::parse_memory(text.trim().as_bytes())
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| format!("{text:?} is not a size (e.g. 4096, 64kb, 1mb)"))
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
