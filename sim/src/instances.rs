//! The lifecycle of a pool's instances, shared by the control-plane components that start and
//! stop them (the autoscaler, the deploy controller): the phases, entering one (an `instance`
//! state on the instance's host), the balancers' endpoint sets (in / out through the `LbOut`
//! knob), and crash / restart.
//!
//! An instance goes through four phases:
//! - stopped: crashed, out of every balancer's endpoint set;
//! - starting: restarted, still out of the endpoint sets (not ready: it gets no traffic);
//! - ready: in the endpoint sets;
//! - draining: out of the endpoint sets at once (the balancer sends it nothing new), stopped
//!   later by its owner, so its requests in flight finish.
//!
//! Owns: [`Instances`], [`Phase`], [`Endpoint`] and the [`Publish`] side of the world. Must not:
//! decide when an instance moves (its owner does), or act on the world but through
//! `nemesis::Control`.

use crate::nemesis::Control;
use faultline_chaos::vocab::state;
use serde::Serialize;

/// A balancer that lists pool instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The balancer's host index.
    pub balancer: u16,
    /// Each pool instance's place in its backend list (`None`: not listed).
    pub places: Vec<Option<u8>>,
}

/// What a control-plane component records in the world.
pub(crate) trait Publish {
    /// Sets a gauge of `host`.
    fn gauge(&mut self, t_ns: u64, host: u16, name: &'static str, value: i64);
    /// Records a state change of `host` at `t_ns`.
    fn state(&mut self, t_ns: u64, host: u16, key: &'static str, value: String);
}

/// A control-plane component's view of the world: what it publishes goes to the world's
/// recorder (the one [`Publish`] of the running world; tests publish into fakes).
pub(crate) trait InWorld {
    /// The world.
    fn world(&self) -> &crate::world::shared::Shared;
}

impl<T: InWorld> Publish for T {
    fn gauge(&mut self, t_ns: u64, host: u16, name: &'static str, value: i64) {
        self.world().recorder.borrow_mut().gauge(t_ns, host, name, value);
    }

    fn state(&mut self, t_ns: u64, host: u16, key: &'static str, value: String) {
        let event = faultline_chaos::trace::Event::State { host, key: key.to_string(), value };
        self.world().recorder.borrow_mut().push(t_ns, event);
    }
}

/// An instance's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not running.
    Stopped,
    /// Running, not ready; ready at the given time at the earliest.
    Starting { ready_ns: u64 },
    /// In the endpoint sets.
    Ready,
    /// Out of the endpoint sets, stopped at the given time.
    Draining { stop_ns: u64 },
}

impl Phase {
    /// The phase's name in the `instance` state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Stopped => "stopped",
            Phase::Starting { .. } => "starting",
            Phase::Ready => "ready",
            Phase::Draining { .. } => "draining",
        }
    }

    /// Whether the instance is starting.
    pub(crate) fn is_starting(self) -> bool {
        matches!(self, Phase::Starting { .. })
    }
}

/// A pool's instances: their hosts, where the balancers list them, and their phases.
#[derive(Debug, Clone)]
pub(crate) struct Instances {
    hosts: Vec<u16>,
    endpoints: Vec<Endpoint>,
    phases: Vec<Phase>,
}

impl Instances {
    /// The instances on `hosts`, every one ready (as the world starts them), nothing recorded.
    pub(crate) fn new(hosts: Vec<u16>, endpoints: Vec<Endpoint>) -> Self {
        let phases = vec![Phase::Ready; hosts.len()];
        Self { hosts, endpoints, phases }
    }

    /// How many instances.
    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Instance `i`'s host.
    pub(crate) fn host(&self, i: usize) -> u16 {
        self.hosts[i]
    }

    /// Instance `i`'s phase.
    pub(crate) fn phase(&self, i: usize) -> Phase {
        self.phases[i]
    }

    /// Every phase, in the pool's order.
    #[cfg(test)]
    pub(crate) fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Instances whose phase `f` accepts.
    pub(crate) fn count(&self, f: impl Fn(Phase) -> bool) -> u32 {
        self.phases.iter().filter(|&&p| f(p)).count() as u32
    }

    /// Instance `i` enters `phase` at `now_ns`: recorded as its `instance` state.
    pub(crate) fn enter(&mut self, i: usize, phase: Phase, now_ns: u64, out: &mut impl Publish) {
        self.phases[i] = phase;
        out.state(now_ns, self.hosts[i], state::INSTANCE, phase.name().to_string());
    }

    /// Puts instance `i` in (or takes it out of) every endpoint set that lists it.
    pub(crate) fn endpoints(&self, i: usize, member: bool, control: &mut impl Control) {
        for endpoint in &self.endpoints {
            if let Some(place) = endpoint.places[i] {
                control.endpoint(endpoint.balancer, place, member);
            }
        }
    }

    /// Restarts instance `i` (out of the endpoint sets): starting, ready at `ready_ns` at the
    /// earliest.
    pub(crate) fn start(&mut self, i: usize, now_ns: u64, ready_ns: u64, c: &mut impl Control, out: &mut impl Publish) {
        c.restart(self.hosts[i]);
        self.enter(i, Phase::Starting { ready_ns }, now_ns, out);
    }

    /// Instance `i` joins the endpoint sets: ready.
    pub(crate) fn ready(&mut self, i: usize, now_ns: u64, c: &mut impl Control, out: &mut impl Publish) {
        self.endpoints(i, true, c);
        self.enter(i, Phase::Ready, now_ns, out);
    }

    /// Instance `i` leaves the endpoint sets at once and drains until `stop_ns`.
    pub(crate) fn drain(&mut self, i: usize, now_ns: u64, stop_ns: u64, c: &mut impl Control, out: &mut impl Publish) {
        self.endpoints(i, false, c);
        self.enter(i, Phase::Draining { stop_ns }, now_ns, out);
    }

    /// Instance `i` stops now: out of the endpoint sets (when `leave`), crashed, stopped.
    pub(crate) fn stop(&mut self, i: usize, leave: bool, now_ns: u64, c: &mut impl Control, out: &mut impl Publish) {
        if leave {
            self.endpoints(i, false, c);
        }
        c.crash(self.hosts[i]);
        self.enter(i, Phase::Stopped, now_ns, out);
    }

    /// Stops every draining instance whose time has come, in the pool's order; whether any did.
    pub(crate) fn stop_drained(&mut self, now_ns: u64, c: &mut impl Control, out: &mut impl Publish) -> bool {
        let mut any = false;
        for i in 0..self.len() {
            if let Phase::Draining { stop_ns } = self.phases[i]
                && stop_ns <= now_ns
            {
                self.stop(i, false, now_ns, c, out);
                any = true;
            }
        }
        any
    }

    /// Lays the pool out at time 0: the first `initial` ready, the rest out of the endpoint
    /// sets and stopped.
    pub(crate) fn lay_out(&mut self, initial: usize, c: &mut impl Control, out: &mut impl Publish) {
        for i in 0..self.len() {
            if i < initial {
                self.enter(i, Phase::Ready, 0, out);
            } else {
                self.stop(i, true, 0, c, out);
            }
        }
    }
}
