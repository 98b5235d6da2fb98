//! State of the world shared by every host: the recorder, the host table, the current link
//! settings. Lives in an `Rc`: turmoil runs all hosts on one thread.

use super::recorder::Recorder;
use faultline_models::seam::MemDisk;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

/// One host's state that outlives its processes (it survives a kill and restart).
pub(crate) struct HostState {
    pub(crate) name: String,
    pub(crate) disk: Rc<MemDisk>,
    /// Clock skew added to this host's `now()`, nanoseconds.
    pub(crate) skew_ns: Cell<i64>,
    /// Draws message losses for streams this host writes.
    pub(crate) loss_rng: RefCell<ChaCha8Rng>,
    /// This incarnation's runtime instant matching a known simulated time (see
    /// [`Shared::now_ns`]); cleared when the host is killed or restarted.
    pub(crate) clock_base: Cell<Option<(tokio::time::Instant, u64)>>,
    /// The knobs chaos has turned on this host (see `faultline_models::seam::Knob`).
    pub(crate) knobs: [Cell<KnobSetting>; faultline_models::seam::Knob::ALL.len()],
}

/// A knob as chaos set it: a value that may grow with time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KnobSetting {
    pub(crate) value: u64,
    /// Added every second since `since_ns`.
    pub(crate) grow_per_s: u64,
    /// When it was set, simulated nanoseconds.
    pub(crate) since_ns: u64,
}

impl KnobSetting {
    /// The knob's value at simulated time `now_ns`.
    pub(crate) fn at(self, now_ns: u64) -> u64 {
        let grown = u128::from(self.grow_per_s) * u128::from(now_ns.saturating_sub(self.since_ns)) / 1_000_000_000;
        self.value.saturating_add(u64::try_from(grown).unwrap_or(u64::MAX))
    }
}

/// Current latency, loss and partitions of every link, and the retransmission timeout: what
/// the streams need to model loss recovery.
pub(crate) struct LinkTable {
    pub(crate) default_latency_ns: u64,
    pub(crate) default_jitter_ns: u64,
    pub(crate) default_loss: f64,
    pub(crate) loss: BTreeMap<(u16, u16), f64>,
    pub(crate) latency_ns: BTreeMap<(u16, u16), u64>,
    pub(crate) jitter_ns: BTreeMap<(u16, u16), u64>,
    /// Links cut by a partition now.
    pub(crate) cut: BTreeSet<(u16, u16)>,
    pub(crate) rto: Duration,
}

impl LinkTable {
    fn key(a: u16, b: u16) -> (u16, u16) {
        (a.min(b), a.max(b))
    }
    pub(crate) fn loss(&self, a: u16, b: u16) -> f64 {
        self.loss.get(&Self::key(a, b)).copied().unwrap_or(self.default_loss)
    }
    /// One-way base latency of a link.
    pub(crate) fn latency(&self, a: u16, b: u16) -> Duration {
        Duration::from_nanos(self.latency_ns.get(&Self::key(a, b)).copied().unwrap_or(self.default_latency_ns))
    }
    /// The longest one-way delay of a message on a link: its latency plus its jitter.
    pub(crate) fn max_delay(&self, a: u16, b: u16) -> Duration {
        let jitter_ns = self.jitter_ns.get(&Self::key(a, b)).copied().unwrap_or(self.default_jitter_ns);
        self.latency(a, b) + Duration::from_nanos(jitter_ns)
    }
    pub(crate) fn set(&mut self, a: u16, b: u16, latency_ns: u64, jitter_ns: u64, loss: f64) {
        self.loss.insert(Self::key(a, b), loss);
        self.latency_ns.insert(Self::key(a, b), latency_ns);
        self.jitter_ns.insert(Self::key(a, b), jitter_ns);
    }
    /// Whether a partition cuts the link between `a` and `b` now.
    pub(crate) fn is_cut(&self, a: u16, b: u16) -> bool {
        self.cut.contains(&Self::key(a, b))
    }
    /// Cuts (`true`) or restores the link between `a` and `b`.
    pub(crate) fn set_cut(&mut self, a: u16, b: u16, cut: bool) {
        if cut {
            self.cut.insert(Self::key(a, b));
        } else {
            self.cut.remove(&Self::key(a, b));
        }
    }
}

/// Long transactions a fault asks the first load generator's batch job to run.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    /// The host they go to.
    pub(crate) target: String,
    pub(crate) count: u32,
    pub(crate) hold_ns: u64,
}

pub(crate) struct Shared {
    pub(crate) seed: u64,
    /// Bursts of long transactions waiting for the batch job (see `workload::batch`).
    pub(crate) bursts: RefCell<std::collections::VecDeque<Burst>>,
    /// Wakes the batch job when a burst is queued.
    pub(crate) burst_ready: tokio::sync::Notify,
    pub(crate) recorder: RefCell<Recorder>,
    pub(crate) hosts: Vec<HostState>,
    pub(crate) by_name: BTreeMap<String, u16>,
    pub(crate) by_ip: RefCell<BTreeMap<IpAddr, u16>>,
    pub(crate) links: RefCell<LinkTable>,
    /// The simulated time, nanoseconds, that every host's clock shows throughout the step being
    /// run, when it stands still for the whole step (see [`Shared::now_ns`]); `None` otherwise.
    /// Set by the world around each step.
    pub(crate) step_ns: Cell<Option<u64>>,
    /// Connections being opened: each listener's queue of them, each host's ports.
    pub(crate) handshakes: super::stream::Handshakes,
}

impl Shared {
    /// Simulated time now on `host`'s sub-step clock, nanoseconds. Call only from inside the host.
    ///
    /// With a 1 ms step, a host's clock stands still while it runs: turmoil ticks a host by
    /// running its ready tasks until its runtime, idle, advances the clock to the end of the
    /// step, and tokio's timers have 1 ms resolution, so nothing fires in between; the tasks the
    /// advance wakes run in the next step. So the time is the step's, set once by the world,
    /// and no clock is read (a debug build checks it against the host's clock on every call).
    pub(crate) fn now_ns(&self, host: u16) -> u64 {
        match self.step_ns.get() {
            Some(t_ns) => {
                debug_assert_eq!(t_ns, self.clock_ns(host), "a host's clock moved within a 1 ms step");
                t_ns
            }
            None => self.clock_ns(host),
        }
    }

    /// Simulated time now on `host`'s runtime clock, nanoseconds.
    ///
    /// Asking turmoil (`sim_elapsed`) takes a thread-local, a borrow and a hash lookup; it is
    /// asked once per incarnation of the host, and after that the host runtime's own paused
    /// clock (which turmoil advances in lockstep with simulated time) gives the offset.
    fn clock_ns(&self, host: u16) -> u64 {
        let now = tokio::time::Instant::now();
        let cell = &self.hosts[host as usize].clock_base;
        match cell.get() {
            Some((base, base_ns)) => base_ns + now.saturating_duration_since(base).as_nanos() as u64,
            None => {
                let ns = turmoil::sim_elapsed().map(|d| d.as_nanos() as u64).unwrap_or(0);
                cell.set(Some((now, ns)));
                ns
            }
        }
    }
}
