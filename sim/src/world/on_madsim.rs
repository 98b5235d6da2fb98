//! The world on madsim: every host and load generator is a madsim node, and a supervisor task
//! applies the fault schedule, steps the control plane and samples the gauges, sleeping from
//! one of those times to the next; madsim jumps over the idle time between.
//!
//! What differs from turmoil is only here and in the engine-neutral parts the world shares
//! (`engine.rs`, `memnet.rs`): a crash kills the node (madsim drops its tasks, and with them
//! its sockets), a restart runs the host's start again on a fresh incarnation, and the network
//! is the world's own transport, which reads the same link table, cuts and loss the streams
//! read on turmoil. Timers are exact, so latencies and arrivals are not rounded to 1 ms.
//!
//! A node's start must be `Send + Sync` for madsim, and the world is single-threaded `Rc`
//! state: the start captures the host's index only and finds the world through a thread
//! local, set for the length of the run (madsim runs every node on the calling thread).
//!
//! Must not: spawn an OS thread inside the runtime (the trace's sink thread starts before it),
//! or read a clock but madsim's.

use super::engine::Engine;
use super::shared::Shared;
use super::{Controllers, Output, RunError, RunOutcome, SimEnv, finish, lay_out};
use crate::nemesis::{self, Machines};
use crate::plan::RunPlan;
use crate::seeds;
use crate::workload::run_loadgen;
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

thread_local! {
    /// The world this thread runs, for the nodes' starts.
    static WORLD: RefCell<Option<Rc<Booted>>> = const { RefCell::new(None) };
}

/// What the nodes' starts and the supervisor share.
struct Booted {
    shared: Rc<Shared>,
    plan: RunPlan,
    /// The first failure of a host's software: when, and what.
    failure: RefCell<Option<(u64, String)>>,
    /// Load generators still running.
    loadgens_left: Cell<usize>,
    /// Wakes the supervisor: a load generator finished or a host failed.
    wake: Notify,
}

impl Booted {
    fn current() -> Rc<Booted> {
        WORLD.with(|w| w.borrow().clone()).expect("a madsim world runs on this thread")
    }

    fn fail(&self, message: String) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some((self.shared.engine_clock.madsim_now_ns(), message));
        }
        self.wake.notify_one();
    }
}

/// The world's hosts as madsim nodes: what a fault does to their software.
struct Nodes {
    handle: Handle,
    ids: BTreeMap<String, NodeId>,
}

impl Machines for Nodes {
    fn crash(&mut self, name: &str) {
        self.handle.kill(self.ids[name]);
    }
    fn bounce(&mut self, name: &str) {
        self.handle.restart(self.ids[name]);
    }
    // The world's own transport reads the link table and the cuts, which `WorldControl` has
    // set already: madsim's network is not used.
    fn partition(&mut self, _: &str, _: &str) {}
    fn repair(&mut self, _: &str, _: &str) {}
    fn set_link_latency(&mut self, _: &str, _: &str, _: Duration, _: Duration) {}
}

/// Runs the world `plan` describes to the end on madsim.
pub(super) fn run(plan: &RunPlan, output: Output) -> Result<RunOutcome, RunError> {
    let (shared, header) = lay_out(plan, output, Engine::Madsim)?;
    let booted = Rc::new(Booted {
        shared: shared.clone(),
        plan: plan.clone(),
        failure: RefCell::new(None),
        loadgens_left: Cell::new(plan.loadgens.len()),
        wake: Notify::new(),
    });
    WORLD.with(|w| *w.borrow_mut() = Some(booted.clone()));
    let runtime =
        Runtime::with_seed_and_config(seeds::derive_u64(plan.seed, "world", "madsim"), madsim::Config::default());
    let mut ids = BTreeMap::new();
    for (i, host) in plan.hosts.iter().enumerate() {
        let node = runtime.create_node().name(host.name.as_str()).init(move || serve(i)).build();
        ids.insert(host.name.clone(), node.id());
    }
    for (k, lg) in plan.loadgens.iter().enumerate() {
        let name = RunPlan::loadgen_name(lg.index);
        let node = runtime.create_node().name(name.as_str()).init(move || generate(k)).build();
        ids.insert(name, node.id());
    }
    let nodes = Nodes { handle: runtime.handle().clone(), ids };
    let result = runtime.block_on(supervise(booted.clone(), nodes, &header));
    drop(runtime);
    WORLD.with(|w| w.borrow_mut().take());
    drop(booted);
    let (simulated, steps) = result?;
    finish(shared, simulated, plan.seed, steps)
}

/// Host `i`'s software, as its node starts it (again after each restart).
fn serve(i: usize) -> impl std::future::Future<Output = ()> {
    let world = Booted::current();
    async move {
        let host = &world.plan.hosts[i];
        let env = SimEnv::new(world.shared.clone(), i as u16);
        if let Err(e) = host.service.start(env, host.capacity.capacity()).await {
            world.fail(format!("{}: {e}", host.name));
        }
        // A node ends when its start does: the host's spawned tasks live on.
        std::future::pending::<()>().await;
    }
}

/// Load generator `k`'s run, as its node starts it.
fn generate(k: usize) -> impl std::future::Future<Output = ()> {
    let world = Booted::current();
    async move {
        let lg = world.plan.loadgens[k].clone();
        let env = SimEnv::new(world.shared.clone(), world.plan.loadgen_index(lg.index));
        if let Err(e) = run_loadgen(env, lg).await {
            world.fail(format!("{}: {e}", RunPlan::loadgen_name(world.plan.loadgens[k].index)));
        }
        world.loadgens_left.set(world.loadgens_left.get() - 1);
        world.wake.notify_one();
        std::future::pending::<()>().await;
    }
}

/// Applies the faults, steps the control plane and samples the gauges, each at its time, until
/// every load generator is done or the run's end; then stops every node. Returns the simulated
/// time at the end and the supervisor's wake-ups.
async fn supervise(
    world: Rc<Booted>,
    mut nodes: Nodes,
    header: &faultline_chaos::trace::Header,
) -> Result<(Duration, u64), RunError> {
    let (plan, shared) = (&world.plan, &*world.shared);
    let mut controllers = Controllers::start(plan, &world.shared, header, &mut nodes);
    let (every, tick, end) = (plan.sample_ns(), plan.tick_ns, plan.end_ns);
    let (mut next_fault, mut next_sample, mut next_control) = (0, every, 0);
    let mut steps = 0;
    let outcome = loop {
        let now = shared.engine_clock.madsim_now_ns();
        while let Some(f) = plan.faults.get(next_fault).filter(|f| f.at_ns <= now) {
            nemesis::apply(&mut nodes, shared, &header.links, &f.fault, f.at_ns);
            next_fault += 1;
        }
        while controllers.any() && next_control <= now {
            controllers.step(next_control, shared, header, &mut nodes);
            next_control += tick;
        }
        {
            let mut recorder = shared.recorder.borrow_mut();
            while next_sample <= now {
                recorder.sample_gauges(next_sample, false);
                next_sample += every;
            }
            recorder.flush_step();
        }
        steps += 1;
        if let Some((at, message)) = world.failure.borrow_mut().take() {
            break Err(RunError::Host { at: Duration::from_nanos(at), message });
        }
        if world.loadgens_left.get() == 0 || now >= end {
            break Ok((Duration::from_nanos(now), steps));
        }
        let mut wake = end.min(next_sample);
        if let Some(f) = plan.faults.get(next_fault) {
            wake = wake.min(f.at_ns);
        }
        if controllers.any() {
            wake = wake.min(next_control);
        }
        tokio::select! {
            biased;
            () = world.wake.notified() => {}
            () = shared.sleep(Duration::from_nanos(wake.saturating_sub(now))) => {}
        }
    };
    // Stop every node so that their tasks, and the world they hold, are dropped inside the
    // runtime (a dropped socket still reads the clock).
    for &id in nodes.ids.values() {
        nodes.handle.kill(id);
    }
    shared.sleep(Duration::from_nanos(1)).await;
    outcome
}
