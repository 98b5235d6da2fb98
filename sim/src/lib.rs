//! The Faultline world: scenario file -> hosts on turmoil or madsim -> workload -> report.
//!
//! - [`scenario`]: TOML -> typed, validated [`scenario::Scenario`], with located errors.
//! - [`services`]: the service kinds, one file each, and the registry that lists them.
//! - [`plan`]: a validated scenario compiled into the [`RunPlan`] the world is built from.
//! - [`world`]: the hosts, the seam's simulated side ([`world::SimEnv`]), the recorder, the
//!   run on turmoil or madsim.
//! - [`workload`]: virtual users multiplexed on load generators, arrivals, key popularity.
//! - [`nemesis`]: the scripted fault schedule and its application.
//! - [`autoscale`]: the autoscaler of a pool of app instances, a control-plane component the
//!   world runs beside the hosts.
//! - [`deploy`]: the deploy controller of a pool (rolling, canary, blue-green), beside the
//!   autoscaler; both share the instance lifecycle of `instances`.
//! - [`seeds`]: every random stream derived from the run's master seed.
//! - [`plant`]: bugs planted in the models on purpose, for tests of the checks.
//!
//! Architecture invariant: this is the only crate that knows turmoil and madsim (its engines,
//! chosen per run: `world::Engine`). It never uses the wall
//! clock, OS threads or OS randomness inside the simulated world; running many simulations in
//! parallel (sweeps) is the caller's business, one simulation per thread. (Inside a host,
//! `tokio::time::Instant` is not the wall clock: turmoil runs each host's runtime with paused
//! time and advances it step by step, so it reads simulated time.)

pub mod autoscale;
pub mod deploy;
mod instances;
pub mod nemesis;
pub mod plan;
pub mod plant;
pub mod scenario;
pub mod seeds;
pub mod services;
pub mod swarm;
pub mod workload;
pub mod world;

pub use plan::{RunPlan, compile, compile_planted};
pub use plant::Plant;
pub use world::{Engine, Output, RecordConfig, RunError, RunOptions, RunOutcome, TraceOut, World};

/// Compiles `scenario` (which must have passed validation) and runs it to the end.
pub fn run(scenario: &scenario::Scenario, options: RunOptions) -> Result<RunOutcome, RunError> {
    let mut plan = plan::compile_planted(scenario, options.seed, options.plant);
    let swarm = swarm::apply(scenario, &mut plan, &options.faults);
    let output = Output { trace: options.trace, record: options.record };
    let mut outcome = world::run_plan(&plan, output, options.engine)?;
    if let Some(swarm) = swarm {
        outcome.report.judge_only(&swarm.judge);
        outcome.report.swarm = Some(swarm);
    }
    Ok(outcome)
}
