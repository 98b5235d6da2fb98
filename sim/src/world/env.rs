//! The seam inside the simulation: [`SimEnv`] implements `faultline_models::seam::Env` over
//! the engine's network (turmoil's, or the world's own transport on madsim), the simulated
//! clock (plus this host's clock error: a constant skew, a jump, a drift that also stretches or
//! shrinks its sleeps), ChaCha streams derived from the run's seed, and the host's in-memory
//! disk. What the trace records stays in world time. The same `SimEnv` serves both engines:
//! what differs is behind `Shared::engine`.

use super::engine::Engine;
use super::memnet::MemListener;
use super::shared::Shared;
use super::stream::{ListenWire, SimListener, SimStream};
use crate::seeds;
use faultline_chaos::trace::{Event, Op};
use faultline_models::seam::{Disk, Env, Knob, RequestKind, RoleChange};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// The environment of one simulated host.
#[derive(Clone)]
pub struct SimEnv {
    shared: Rc<Shared>,
    host: u16,
}

impl SimEnv {
    pub(crate) fn new(shared: Rc<Shared>, host: u16) -> Self {
        Self { shared, host }
    }

    /// This host's index in the trace header.
    pub fn host(&self) -> u16 {
        self.host
    }

    /// The world's state shared by every host.
    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// Simulated time now on this host, nanoseconds (no skew: the world's time, not the host's).
    pub(crate) fn sim_ns(&self) -> u64 {
        self.shared.now_ns(self.host)
    }

    /// Sleeps `duration` of world time (no skew: what the world, not the host, schedules).
    pub(crate) fn sleep_world(&self, duration: Duration) -> impl Future<Output = ()> + 'static {
        self.shared.sleep(duration)
    }

    /// Records an event at the current simulated time.
    pub(crate) fn record(&self, event: Event) {
        let t_ns = self.shared.now_ns(self.host);
        self.shared.recorder.borrow_mut().push(t_ns, event);
    }
}

impl Env for SimEnv {
    type Stream = SimStream;
    type Listener = SimListener;

    fn host_name(&self) -> &str {
        &self.shared.hosts[self.host as usize].name
    }

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<SimStream>> {
        let peer = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
        let peer = self.shared.by_name.get(peer).copied();
        let shared = self.shared.clone();
        let (from, addr) = (self.host, addr.to_string());
        async move {
            let to = peer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no host {addr}")))?;
            super::stream::connect(shared, from, to, addr).await
        }
    }

    fn bind(&self, port: u16) -> impl Future<Output = io::Result<SimListener>> {
        let shared = self.shared.clone();
        let host = self.host;
        async move {
            let inner = match shared.engine {
                Engine::Turmoil => ListenWire::Turmoil(turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?),
                Engine::Madsim => ListenWire::Mem(MemListener::bind(&shared, host, port)?),
            };
            Ok(SimListener { inner, shared, host })
        }
    }

    fn now(&self) -> Duration {
        let clock = self.shared.hosts[self.host as usize].clock.get();
        Duration::from_nanos(clock.local_ns(self.shared.now_ns(self.host)))
    }

    /// Sleeps `duration` on this host's clock: longer in world time on a clock that runs slow.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        self.shared.sleep(self.shared.hosts[self.host as usize].clock.get().world_duration(duration))
    }

    fn timer_grid(&self) -> Duration {
        Duration::from_nanos(self.shared.engine.timer_grid_ns())
    }

    fn rng(&self, purpose: &str) -> ChaCha8Rng {
        seeds::stream(self.shared.seed, self.host_name(), purpose)
    }

    fn disk(&self) -> Rc<dyn Disk> {
        self.shared.hosts[self.host as usize].disk.clone()
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.shared.engine.spawn(task);
    }

    fn gauge(&self, name: &'static str, value: i64) {
        let t_ns = self.shared.now_ns(self.host);
        self.shared.recorder.borrow_mut().gauge(t_ns, self.host, name, value);
    }

    fn state(&self, key: &'static str, value: &str) {
        self.record(Event::State { host: self.host, key: key.to_string(), value: value.to_string() });
    }

    /// The latency was measured on this host's clock; the trace has it in world time (a clock
    /// running 50% slow measured half of it; a clock stepped ahead during the request measured
    /// the step too).
    fn served(&self, kind: RequestKind, latency: Duration, ok: bool) {
        let t_ns = self.shared.now_ns(self.host);
        let state = &self.shared.hosts[self.host as usize];
        let latency = state.clock.get().world_span(state.clock_before.get(), t_ns, latency);
        let op = match kind {
            RequestKind::Read => Op::Read,
            RequestKind::Write => Op::Write,
            RequestKind::Other => Op::Other,
        };
        let mut recorder = self.shared.recorder.borrow_mut();
        let latency_ns = latency.as_nanos() as u64;
        recorder.count_served(self.host, ok, latency_ns);
        recorder.push(t_ns, Event::Served { host: self.host, op, latency_ns, ok });
    }

    fn role(&self, change: RoleChange) {
        let RoleChange { role, epoch, lsn, last_epoch } = change;
        self.record(Event::Role { host: self.host, role: role.to_string(), epoch, lsn, last_epoch });
    }

    fn knob(&self, knob: Knob) -> u64 {
        self.shared.hosts[self.host as usize].knobs[knob.index()].get().at(self.shared.now_ns(self.host))
    }
}
