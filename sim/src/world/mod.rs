//! The world: a validated scenario becomes hosts running models, load generators running the
//! workload, a fault schedule, and a recorder streaming the trace, on one of two engines.
//!
//! On turmoil, [`World::build`] lays it out; [`World::step`] advances it one tick (faults due
//! are applied first; gauges are integrated and the step's events flushed after), which is
//! what a replay needs; [`World::run`] steps to the end and returns the report. On madsim
//! (`on_madsim.rs`, with `--cfg madsim`) the run goes from event to event. [`run_plan`] runs
//! either. Hosts are indexed in file order, then the load generators `lg0`, `lg1`, ...; those
//! indices are the trace's host ids. What both engines share is laid out by `lay_out`.
//!
//! Architecture invariant: this module and its children are the only place that knows turmoil
//! or madsim.

mod engine;
mod env;
mod memnet;
#[cfg(madsim)]
mod on_madsim;
pub(crate) mod recorder;
pub(crate) mod shared;
mod sink;
mod stream;

pub use engine::Engine;
pub use env::SimEnv;
pub use recorder::RecordConfig;
pub use sink::TraceOut;
pub use stream::{SimListener, SimReadHalf, SimStream, SimWriteHalf};

use crate::autoscale::{Autoscaler, WorldPool};
use crate::deploy::{Deployer, WorldObserve};
use crate::nemesis;
use crate::plan::RunPlan;
use crate::seeds;
use crate::workload::run_loadgen;
use faultline_chaos::fault::ScheduledFault;
use faultline_chaos::report::Report;
use faultline_chaos::trace::codec::{TraceError, TraceHash};
use faultline_chaos::trace::{Event, Header};
use faultline_models::seam::MemDisk;
use recorder::Recorder;
use shared::{HostClock, HostState, LinkTable, Shared};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// The step with which a host's clock stands still while it runs: tokio's timer resolution.
const STILL_CLOCK_TICK: Duration = Duration::from_millis(1);

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing the trace failed.
    #[error("writing the trace: {0}")]
    Trace(#[from] TraceError),
    /// A host's software failed (e.g. it could not bind its port).
    #[error("simulation failed at {at:?}: {message}")]
    Host {
        /// Simulated time of the failure.
        at: Duration,
        /// Turmoil's message.
        message: String,
    },
    /// The scenario is valid but cannot be laid out (e.g. a host named like a load generator).
    #[error("{0}")]
    Layout(String),
    /// The engine asked for cannot run here, or cannot run this scenario.
    #[error("{0}")]
    Engine(String),
}

/// Settings of one run that are not in the scenario file.
#[derive(Default)]
pub struct RunOptions {
    /// The master seed; `None` takes the scenario's.
    pub seed: Option<u64>,
    /// The engine that runs the world.
    pub engine: Engine,
    /// Where the binary trace goes; `None` discards it (the hash is still computed).
    pub trace: Option<TraceOut>,
    /// Which optional events are recorded.
    pub record: RecordConfig,
    /// The faults the run applies: the scenario's, a swarm's draw on top, or a given schedule.
    pub faults: crate::swarm::Faults,
    /// A bug to plant in the models (tests of the checks only; `None` in every real run).
    pub plant: Option<crate::plant::Plant>,
}

/// Where a world's trace goes and what it records.
#[derive(Default)]
pub struct Output {
    /// Where the binary trace goes; `None` discards it (the hash is still computed).
    pub trace: Option<TraceOut>,
    /// Which optional events are recorded.
    pub record: RecordConfig,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The seed the run used.
    pub seed: u64,
    /// The report.
    pub report: Report,
    /// The trace hash.
    pub hash: TraceHash,
    /// Records in the trace.
    pub records: u64,
    /// Simulated time at the end (the run's duration plus the drain of late replies).
    pub simulated: Duration,
    /// Simulation steps taken.
    pub steps: u64,
}

/// A running simulation of one scenario.
pub struct World {
    sim: turmoil::Sim<'static>,
    shared: Rc<Shared>,
    header: Header,
    schedule: Vec<ScheduledFault>,
    next_fault: usize,
    end: Duration,
    next_sample: Duration,
    /// How often gauges are sampled (the plan's, a whole number of ticks).
    sample_every: Duration,
    steps: u64,
    finished: bool,
    seed: u64,
    /// Whether hosts' clocks stand still within a step (a 1 ms tick: see `Shared::now_ns`).
    still_clock: bool,
    /// The control plane beside the hosts: autoscaler and deploy controller.
    controllers: Controllers,
}

impl World {
    /// Lays out the world `plan` describes, on turmoil.
    pub fn build(plan: &RunPlan, output: Output) -> Result<World, RunError> {
        let seed = plan.seed;
        let (shared, header) = lay_out(plan, output, Engine::Turmoil)?;
        let sample_every = Duration::from_nanos(plan.sample_ns());
        let tick = Duration::from_nanos(plan.tick_ns);
        let latency = Duration::from_nanos(plan.network.latency_ns);
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(u64::from(u32::MAX)))
            .tick_duration(tick)
            .min_message_latency(latency)
            .max_message_latency(latency + Duration::from_nanos(plan.network.jitter_ns))
            .rng_seed(seeds::derive_u64(seed, "world", "turmoil"))
            .build();
        for (i, host) in plan.hosts.iter().enumerate() {
            let (service, capacity) = (host.service.clone(), host.capacity.capacity());
            let shared2 = shared.clone();
            let index = i as u16;
            sim.host(host.name.as_str(), move || {
                let running = service.start(SimEnv::new(shared2.clone(), index), capacity);
                async move { Ok(running.await?) }
            });
        }
        for lg in &plan.loadgens {
            let env = SimEnv::new(shared.clone(), plan.loadgen_index(lg.index));
            sim.client(RunPlan::loadgen_name(lg.index).as_str(), run_loadgen(env, lg.clone()));
        }
        for (name, &index) in &shared.by_name {
            shared.by_ip.borrow_mut().insert(sim.lookup(name.as_str()), index);
        }
        let controllers = Controllers::start(plan, &shared, &header, &mut sim);
        Ok(World {
            sim,
            shared,
            header,
            schedule: plan.faults.clone(),
            next_fault: 0,
            end: Duration::from_nanos(plan.end_ns),
            next_sample: sample_every,
            sample_every,
            steps: 0,
            finished: false,
            seed,
            still_clock: tick == STILL_CLOCK_TICK,
            controllers,
        })
    }

    /// The run's header (hosts, links, objectives).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Simulated time now.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Whether the run is over (every load generator done, or the drain deadline passed).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Advances the world one tick: applies the faults that are due, steps turmoil, integrates
    /// gauges and flushes the step's events. Returns whether the run is over.
    pub fn step(&mut self) -> Result<bool, RunError> {
        if self.finished {
            return Ok(true);
        }
        let now = self.sim.elapsed();
        let now_ns = now.as_nanos() as u64;
        while let Some(f) = self.schedule.get(self.next_fault).filter(|f| f.at_ns <= now_ns) {
            nemesis::apply(&mut self.sim, &self.shared, &self.header.links, &f.fault, now_ns);
            self.next_fault += 1;
        }
        self.controllers.step(now_ns, &self.shared, &self.header, &mut self.sim);
        self.shared.step_ns.set(self.still_clock.then_some(now_ns));
        let stepped = self.sim.step();
        self.shared.step_ns.set(None);
        let done = stepped.map_err(|e| RunError::Host { at: now, message: e.to_string() })?;
        self.steps += 1;
        let now = self.sim.elapsed();
        let mut rec = self.shared.recorder.borrow_mut();
        if now >= self.next_sample {
            rec.sample_gauges(now.as_nanos() as u64, false);
            self.next_sample += self.sample_every;
        }
        rec.flush_step();
        self.finished = done || now >= self.end;
        Ok(self.finished)
    }

    /// Runs to the end and returns the report.
    pub fn run(mut self) -> Result<RunOutcome, RunError> {
        while !self.step()? {}
        let simulated = self.sim.elapsed();
        let World { sim, shared, seed, steps, .. } = self;
        drop(sim);
        finish(shared, simulated, seed, steps)
    }
}

/// Ends the trace of a world whose engine is gone (no host holds `shared` any more) at
/// `simulated`: the last samples, the end record, the report.
fn finish(shared: Rc<Shared>, simulated: Duration, seed: u64, steps: u64) -> Result<RunOutcome, RunError> {
    let t_ns = simulated.as_nanos() as u64;
    let shared = Rc::try_unwrap(shared).map_err(|_| RunError::Layout("world still referenced at the end".into()))?;
    let mut recorder = shared.recorder.into_inner();
    recorder.sample_gauges(t_ns, true);
    let (report, hash, records) = recorder.finish(t_ns)?;
    Ok(RunOutcome { seed, report, hash, records, simulated, steps })
}

/// Runs the world `plan` describes to the end on `engine`.
pub fn run_plan(plan: &RunPlan, output: Output, engine: Engine) -> Result<RunOutcome, RunError> {
    match engine {
        Engine::Turmoil => World::build(plan, output)?.run(),
        #[cfg(madsim)]
        Engine::Madsim => on_madsim::run(plan, output),
        #[cfg(not(madsim))]
        Engine::Madsim => Err(RunError::Engine(
            "this build has no madsim engine: build the workspace with its own configuration (.cargo/config.toml \
             passes --cfg madsim; a RUSTFLAGS set in the environment replaces it)"
                .into(),
        )),
    }
}

/// The world's state every engine shares, laid out from `plan`: the header, the recorder
/// (with every host powered up at 0), the host table, the links and the clocks.
fn lay_out(plan: &RunPlan, output: Output, engine: Engine) -> Result<(Rc<Shared>, Header), RunError> {
    let seed = plan.seed;
    let mut header = plan.header();
    if output.record.every_sample {
        // Dense samples: a reader takes them as they are, as in traces of older versions.
        header.sample_ns = 0;
    }
    let tick = Duration::from_nanos(plan.tick_ns);
    let out: TraceOut = output.trace.unwrap_or_else(|| Box::new(std::io::sink()));
    let recorder = Recorder::new(out, &header, output.record)?;
    let by_name: BTreeMap<String, u16> =
        header.hosts.iter().enumerate().map(|(i, h)| (h.name.clone(), i as u16)).collect();
    let shared = Rc::new(Shared {
        seed,
        bursts: RefCell::new(Default::default()),
        burst_ready: tokio::sync::Notify::new(),
        recorder: RefCell::new(recorder),
        hosts: header
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| HostState {
                name: h.name.clone(),
                disk: Rc::new(MemDisk::new()),
                clock: Cell::new(HostClock::default()),
                clock_before: Cell::new(None),
                loss_rng: RefCell::new(seeds::stream(seed, &h.name, "net-loss")),
                clock_base: Cell::new(None),
                knobs: Default::default(),
                tier: plan.hosts.get(i).map_or_else(Vec::new, |host| {
                    host.service.shards().into_iter().map(|name| by_name[name]).collect()
                }),
            })
            .collect(),
        by_name,
        by_ip: RefCell::new(BTreeMap::new()),
        links: RefCell::new(LinkTable {
            default: shared::LinkSetting {
                latency_ns: plan.network.latency_ns,
                jitter_ns: plan.network.jitter_ns,
                loss: plan.network.loss,
            },
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            rto: Duration::from_nanos(plan.network.rto_ns),
        }),
        step_ns: Cell::new(None),
        handshakes: stream::Handshakes::new(tick),
        engine,
        mem: Default::default(),
        engine_clock: Default::default(),
    });
    for &index in shared.by_name.values() {
        shared.recorder.borrow_mut().push(0, Event::Power { host: index, up: true });
    }
    nemesis::configure_clocks(&shared, plan);
    Ok((shared, header))
}

/// The control plane beside the hosts: the scenario's autoscaler and deploy controller.
struct Controllers {
    autoscaler: Option<Autoscaler>,
    deployer: Option<Deployer>,
}

impl Controllers {
    /// Configures the scenario's links on the engine and starts the controllers at time 0.
    fn start(plan: &RunPlan, shared: &Rc<Shared>, header: &Header, sim: &mut impl nemesis::Machines) -> Self {
        for link in &header.links {
            nemesis::configure_link(sim, shared, link);
        }
        let autoscaler = plan.autoscale.as_ref().map(|pool| {
            let mut autoscaler = Autoscaler::new(pool.clone());
            let mut control = nemesis::WorldControl { sim: &mut *sim, shared, links: &header.links, t_ns: 0 };
            autoscaler.start(&mut control, &mut WorldPool(shared));
            autoscaler
        });
        let deployer = plan.deploy.as_ref().map(|deploy| {
            let mut recorder = shared.recorder.borrow_mut();
            if deploy.analysis.is_some() {
                deploy.instances.iter().for_each(|&host| recorder.watch(host));
            }
            drop(recorder);
            let mut deployer = Deployer::new(deploy.clone());
            let mut control = nemesis::WorldControl { sim: &mut *sim, shared, links: &header.links, t_ns: 0 };
            deployer.start(&mut control, &mut WorldObserve(shared));
            deployer
        });
        Controllers { autoscaler, deployer }
    }

    /// Whether there is a controller to step.
    fn any(&self) -> bool {
        self.autoscaler.is_some() || self.deployer.is_some()
    }

    /// Lets each controller act at `now_ns`.
    fn step(&mut self, now_ns: u64, shared: &Shared, header: &Header, sim: &mut impl nemesis::Machines) {
        let links = &header.links;
        if let Some(autoscaler) = &mut self.autoscaler {
            let mut control = nemesis::WorldControl { sim: &mut *sim, shared, links, t_ns: now_ns };
            autoscaler.step(now_ns, &mut control, &mut WorldPool(shared));
        }
        if let Some(deployer) = &mut self.deployer {
            let mut control = nemesis::WorldControl { sim: &mut *sim, shared, links, t_ns: now_ns };
            deployer.step(now_ns, &mut control, &mut WorldObserve(shared));
        }
    }
}
