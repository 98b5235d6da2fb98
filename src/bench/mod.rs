//! The speed benchmark: one closed-loop echo workload run three ways in one process, so the
//! simulator's overhead over raw turmoil is a measured figure, not a guess.
//!
//! The workload: `servers` echo servers and `users` virtual users on 1 ms links with a 1 ms
//! simulation tick; each user sends a 64-byte request to server `user % servers`, waits for
//! the reply and sends the next at once, until the simulated duration has passed (a request
//! started before the end is finished). A round trip is one answered request.
//!
//! The three engines:
//! - [`raw`]: hand-written turmoil code, one turmoil host per server and per user (the
//!   baseline: what a team writing turmoil tests by hand would pay).
//! - [`world`]: the same workload as a Faultline scenario, parsed and run through
//!   `faultline_sim::run` (the seam, the models' echo server and framed protocol, the load
//!   generators, the recorder, the trace encoder and hash, the report).
//! - [`floor`]: a bare single-threaded discrete-event loop over a binary heap: what any
//!   simulator of this topology must at least pay.
//!
//! Beside it, [`sparse`]: an hour of one request a second over five hosts, where the cost per
//! simulated second decides, recorded with sparse and with dense gauge samples.
//!
//! [`suite`] runs the configurations of `faultline bench` and judges the targets; the CLI and
//! `benches/echo.rs` only call into here.
//!
//! Owns: workload code and wall-clock measurement of whole runs. Must not: be used inside a
//! simulated world (it reads `std::time::Instant`, which is allowed only here, in the host
//! process around a run), or assert on timings in tests.

pub mod floor;
pub mod raw;
#[cfg(madsim)]
pub mod raw_madsim;
pub mod sparse;
pub mod suite;
pub mod world;

use std::fmt;
use std::time::Duration;

/// One-way latency of every link, and the simulation tick.
pub const LINK_LATENCY: Duration = Duration::from_millis(1);

/// Size of a request and of its reply, bytes.
pub const PAYLOAD_BYTES: usize = 64;

/// The shape of a run: how many echo servers and how many closed-loop users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// Echo servers.
    pub servers: u32,
    /// Closed-loop users (clients).
    pub users: u32,
}

impl Topology {
    /// `servers` servers, `users` users.
    pub const fn new(servers: u32, users: u32) -> Self {
        Self { servers, users }
    }
}

/// Which engine ran a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Hand-written turmoil: one host per server and per user.
    RawTurmoil,
    /// A Faultline scenario with the users multiplexed on `loadgens` load generators.
    Faultline {
        /// Load-generator hosts.
        loadgens: u32,
    },
    /// Hand-written madsim: one node per server and per user, madsim's own TCP.
    RawMadsim,
    /// A Faultline scenario on the madsim engine.
    FaultlineMadsim {
        /// Load-generator hosts.
        loadgens: u32,
    },
    /// The bare discrete-event loop.
    Floor,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::RawTurmoil => f.write_str("raw turmoil"),
            Engine::Faultline { loadgens } => write!(f, "faultline ({loadgens} lg)"),
            Engine::RawMadsim => f.write_str("raw madsim"),
            Engine::FaultlineMadsim { loadgens } => write!(f, "fl madsim ({loadgens} lg)"),
            Engine::Floor => f.write_str("DES floor"),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The engine.
    pub engine: Engine,
    /// The workload's shape.
    pub topology: Topology,
    /// Simulated hosts (servers plus clients or load generators; 0 for the floor).
    pub hosts: u32,
    /// Answered requests.
    pub round_trips: u64,
    /// Simulated time at the end of the run.
    pub simulated: Duration,
    /// Wall time of the whole run: building the simulation, running it, tearing it down.
    pub wall: Duration,
    /// The part of `wall` spent building the simulation, where it is measured separately.
    pub setup: Option<Duration>,
    /// Whether the run reached its end; `false` when a wall-time budget stopped it early.
    pub complete: bool,
}

impl Measurement {
    /// Round trips per wall-clock second.
    pub fn round_trips_per_wall_s(&self) -> f64 {
        self.round_trips as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Round trips per simulated second.
    pub fn round_trips_per_sim_s(&self) -> f64 {
        self.round_trips as f64 / self.simulated.as_secs_f64().max(1e-9)
    }

    /// Simulated seconds per wall-clock second.
    pub fn sim_per_wall(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// Wall time per round trip, microseconds (infinite if there were none).
    pub fn wall_us_per_round_trip(&self) -> f64 {
        if self.round_trips == 0 {
            return f64::INFINITY;
        }
        self.wall.as_secs_f64() * 1e6 / self.round_trips as f64
    }
}

/// Why a benchmark run could not be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchError {
    /// Turmoil reported that a host's software failed.
    Turmoil(String),
    /// The generated scenario was rejected by the loader (a bug in [`world::scenario_toml`]).
    Scenario(String),
    /// The Faultline run failed.
    Run(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Turmoil(m) => write!(f, "raw turmoil run failed: {m}"),
            BenchError::Scenario(m) => write!(f, "the generated bench scenario was rejected: {m}"),
            BenchError::Run(m) => write!(f, "faultline run failed: {m}"),
        }
    }
}

impl std::error::Error for BenchError {}
