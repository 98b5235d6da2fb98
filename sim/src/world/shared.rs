//! State of the world shared by every host: the recorder, the host table (with each host's
//! clock error and knobs), the current link settings and cut directions. Lives in an `Rc`:
//! turmoil runs all hosts on one thread.

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
    /// How far this host's clock is off the world's (see [`HostClock`]).
    pub(crate) clock: Cell<HostClock>,
    /// Its clock before the last change a fault made (`None` before any): a span the host
    /// measured across that change is read on the clock in force when it began.
    pub(crate) clock_before: Cell<Option<HostClock>>,
    /// Draws message losses for streams this host writes.
    pub(crate) loss_rng: RefCell<ChaCha8Rng>,
    /// This incarnation's runtime instant matching a known simulated time (see
    /// [`Shared::now_ns`]); cleared when the host is killed or restarted.
    pub(crate) clock_base: Cell<Option<(tokio::time::Instant, u64)>>,
    /// The knobs chaos has turned on this host (see `faultline_models::seam::Knob`).
    pub(crate) knobs: [Cell<KnobSetting>; faultline_models::seam::Knob::ALL.len()],
    /// The L2 cache nodes its cache tier spreads keys over, in the plan's order (bit i of its
    /// `ShardMask` knob is node i); empty for a host without one.
    pub(crate) tier: Vec<u16>,
}

/// What every host's clock reads at the start of the run, nanoseconds: far enough from 0 that a
/// clock set behind still reads forward (as a real clock reads a date, not 0).
pub(crate) const CLOCK_EPOCH_NS: u64 = 1_000_000 * 1_000_000_000;

/// A host's clock error: what its `now()` reads, and how long its sleeps last in world time.
///
/// The host reads `CLOCK_EPOCH_NS + world + skew_ns + offset_ns + drift_ppm * (world -
/// since_ns) / 10^6` (never below 0). `skew_ns` is the scenario's constant `clock_skew`; a clock skew fault sets
/// `offset_ns` and `drift_ppm` from `since_ns` on, and its undo puts both back to 0, so the
/// clock steps back to world time plus the constant skew (as a clock stepped by NTP would).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HostClock {
    /// The configured constant offset, nanoseconds.
    pub(crate) skew_ns: i64,
    /// A fault's jump, nanoseconds.
    pub(crate) offset_ns: i64,
    /// A fault's rate error, parts per million (> -10^6: validation keeps clocks moving forward).
    pub(crate) drift_ppm: i64,
    /// When the drift started, world nanoseconds.
    pub(crate) since_ns: u64,
}

impl HostClock {
    /// The host's clock reading at world time `world_ns`, nanoseconds.
    pub(crate) fn local_ns(self, world_ns: u64) -> u64 {
        let elapsed = i128::from(world_ns) - i128::from(self.since_ns);
        let drift = if self.drift_ppm == 0 { 0 } else { elapsed * i128::from(self.drift_ppm) / 1_000_000 };
        let local =
            i128::from(CLOCK_EPOCH_NS + world_ns) + i128::from(self.skew_ns) + i128::from(self.offset_ns) + drift;
        u64::try_from(local.max(0)).unwrap_or(u64::MAX)
    }

    /// The world time at which this clock reads `local` (the inverse of [`HostClock::local_ns`]),
    /// nanoseconds, rounded down; before 0 for a reading before the run.
    fn world_at(self, local: i128) -> i128 {
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let fixed = i128::from(CLOCK_EPOCH_NS) + i128::from(self.skew_ns) + i128::from(self.offset_ns);
        ((local - fixed) * 1_000_000 + i128::from(self.since_ns) * i128::from(self.drift_ppm)).div_euclid(rate)
    }

    /// How long, in world time, a span lasted that the host measured as `local` on its own
    /// clock and that ended at world time `end_ns`. A span that began before the clock's last
    /// change (`before`: a jump, a new rate) is read from the clock in force when it began, so
    /// a jump inside a request is not part of its latency. A span across two changes is read
    /// as if only the last happened; a span a backward jump made read 0 or less is lost to the
    /// host itself (it cannot measure below 0).
    pub(crate) fn world_span(self, before: Option<HostClock>, end_ns: u64, local: Duration) -> Duration {
        let end_local = i128::from(self.local_ns(end_ns));
        let start_local = end_local - local.as_nanos() as i128;
        let Some(before) = before.filter(|_| self.world_at(start_local) < i128::from(self.since_ns)) else {
            return self.world_duration(local);
        };
        let start = before.world_at(start_local).clamp(0, i128::from(end_ns));
        Duration::from_nanos(end_ns - u64::try_from(start).expect("clamped to 0..=end"))
    }

    /// How long a sleep of `local` on this host's clock lasts in world time: a clock running
    /// 10% slow sleeps 1/0.9 as long. Rounded up, so a sleep never ends early. The drift in force
    /// when the sleep starts holds for all of it.
    pub(crate) fn world_duration(self, local: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        assert!(rate > 0, "validated: a clock never stops or runs backwards");
        let ns = (local.as_nanos() as i128 * 1_000_000 + rate - 1) / rate;
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
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

/// A link's latency, jitter and loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LinkSetting {
    pub(crate) latency_ns: u64,
    pub(crate) jitter_ns: u64,
    pub(crate) loss: f64,
}

impl From<&faultline_chaos::trace::LinkInfo> for LinkSetting {
    fn from(link: &faultline_chaos::trace::LinkInfo) -> Self {
        LinkSetting { latency_ns: link.latency_ns, jitter_ns: link.jitter_ns, loss: link.loss }
    }
}

/// Current latency, loss and partitions of every link, and the retransmission timeout: what
/// the streams need to model loss recovery.
pub(crate) struct LinkTable {
    /// The settings of every link not in `links`.
    pub(crate) default: LinkSetting,
    /// Links set apart from the default, by `(lower host, higher host)`.
    pub(crate) links: BTreeMap<(u16, u16), LinkSetting>,
    /// Directions cut by a partition now, `(from, to)`: what `from` writes to `to` is lost.
    pub(crate) cut: BTreeSet<(u16, u16)>,
    pub(crate) rto: Duration,
}

impl LinkTable {
    /// The settings of the link between `a` and `b` now.
    fn setting(&self, a: u16, b: u16) -> LinkSetting {
        self.links.get(&(a.min(b), a.max(b))).copied().unwrap_or(self.default)
    }
    pub(crate) fn loss(&self, a: u16, b: u16) -> f64 {
        self.setting(a, b).loss
    }
    /// One-way base latency of a link.
    pub(crate) fn latency(&self, a: u16, b: u16) -> Duration {
        Duration::from_nanos(self.setting(a, b).latency_ns)
    }
    /// The longest one-way delay of a message on a link: its latency plus its jitter.
    pub(crate) fn max_delay(&self, a: u16, b: u16) -> Duration {
        let setting = self.setting(a, b);
        Duration::from_nanos(setting.latency_ns + setting.jitter_ns)
    }
    pub(crate) fn set(&mut self, a: u16, b: u16, setting: LinkSetting) {
        self.links.insert((a.min(b), a.max(b)), setting);
    }
    /// Whether a partition cuts what `from` writes to `to` now (a one-way partition cuts one
    /// direction of a link, a partition both).
    pub(crate) fn is_cut(&self, from: u16, to: u16) -> bool {
        self.cut.contains(&(from, to))
    }
    /// Cuts (`true`) or restores the direction `from` -> `to`.
    pub(crate) fn set_cut(&mut self, from: u16, to: u16, cut: bool) {
        if cut {
            self.cut.insert((from, to));
        } else {
            self.cut.remove(&(from, to));
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
    /// The engine that runs the world.
    pub(crate) engine: super::engine::Engine,
    /// The madsim engine's listeners (turmoil keeps its own).
    pub(crate) mem: super::memnet::MemNet,
    /// The engine's clock, for sleeps (and, on madsim, the time).
    pub(crate) engine_clock: super::engine::EngineClock,
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

    /// Sleeps `duration` of simulated time from now, on the engine's clock.
    pub(crate) fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + 'static {
        self.engine_clock.sleep(self.engine, duration)
    }

    /// Simulated time now on `host`'s runtime clock, nanoseconds.
    ///
    /// Asking turmoil (`sim_elapsed`) takes a thread-local, a borrow and a hash lookup; it is
    /// asked once per incarnation of the host, and after that the host runtime's own paused
    /// clock (which turmoil advances in lockstep with simulated time) gives the offset.
    fn clock_ns(&self, host: u16) -> u64 {
        #[cfg(madsim)]
        if self.engine == super::engine::Engine::Madsim {
            return self.engine_clock.madsim_now_ns();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_clock_reads_its_skew_jump_and_drift() {
        let right = HostClock::default();
        assert_eq!(right.local_ns(7 * S), CLOCK_EPOCH_NS + 7 * S);
        assert_eq!(right.world_duration(Duration::from_millis(250)), Duration::from_millis(250));
        let behind = HostClock { skew_ns: -2 * S as i64, ..HostClock::default() };
        assert_eq!(behind.local_ns(7 * S), CLOCK_EPOCH_NS + 5 * S);
        assert_eq!(behind.local_ns(0), CLOCK_EPOCH_NS - 2 * S, "behind the epoch from the start, still forward");
        let slow = HostClock { skew_ns: S as i64, offset_ns: -(S as i64) / 2, drift_ppm: -500_000, since_ns: 4 * S };
        // At 10 s: 10 + 1 - 0.5, and 6 s of drift at half speed lose 3 s.
        assert_eq!(slow.local_ns(10 * S), CLOCK_EPOCH_NS + 7_500_000_000);
        assert_eq!(slow.world_duration(Duration::from_secs(2)), Duration::from_secs(4), "half speed, twice as long");
        let far_behind = HostClock { offset_ns: i64::MIN, ..HostClock::default() };
        assert_eq!(far_behind.local_ns(S), 0, "never below 0");
    }

    #[test]
    fn a_span_across_a_clock_change_is_read_on_the_clock_it_began_on() {
        let right = HostClock::default();
        let ahead = HostClock { offset_ns: 2 * S as i64, since_ns: 10 * S, ..HostClock::default() };
        // A request from 9.9 s to 10.1 s on a clock stepped 2 s ahead at 10 s measures 2.2 s.
        let measured = Duration::from_nanos(ahead.local_ns(10_100_000_000) - right.local_ns(9_900_000_000));
        assert_eq!(measured, Duration::from_millis(2200));
        assert_eq!(ahead.world_span(Some(right), 10_100_000_000, measured), Duration::from_millis(200));
        // Without the clock it began on, the jump is read as latency.
        assert_eq!(ahead.world_span(None, 10_100_000_000, measured), measured);
        // A span wholly after the change is read as before.
        assert_eq!(ahead.world_span(Some(right), 12 * S, Duration::from_secs(1)), Duration::from_secs(1));
        // A new rate: half speed from 10 s; 1 s at full speed then 1 s at half speed reads 1.5 s.
        let slow = HostClock { drift_ppm: -500_000, since_ns: 10 * S, ..HostClock::default() };
        let measured = Duration::from_nanos(slow.local_ns(11 * S) - right.local_ns(9 * S));
        assert_eq!(measured, Duration::from_millis(1500));
        assert_eq!(slow.world_span(Some(right), 11 * S, measured), Duration::from_secs(2));
        assert_eq!(slow.world_span(Some(right), 13 * S, Duration::from_secs(1)), Duration::from_secs(2), "after it");
        for (clock, world) in [(ahead, 10_100_000_000u64), (slow, 11 * S)] {
            assert_eq!(clock.world_at(i128::from(clock.local_ns(world))), i128::from(world), "{clock:?}");
        }
    }

    #[test]
    fn a_fast_clock_sleeps_shorter_and_never_ends_early() {
        let fast = HostClock { drift_ppm: 2_000_000, ..HostClock::default() };
        assert_eq!(fast.world_duration(Duration::from_nanos(9)), Duration::from_nanos(3));
        assert_eq!(fast.world_duration(Duration::from_nanos(10)), Duration::from_nanos(4), "rounded up");
        let ppm = HostClock { drift_ppm: 100, ..HostClock::default() };
        assert_eq!(ppm.local_ns(10 * S), CLOCK_EPOCH_NS + 10 * S + 1_000_000, "100 ppm gain 1 ms in 10 s");
    }
}
