//! Faults as data: what can go wrong in a run, and when.
//!
//! Hosts are named by their index in the run's [`crate::trace::Header::hosts`]. The simulation
//! applies each fault at its time; the trace records it as [`crate::trace::Event::Fault`].
//! Adding a fault kind: one variant here (with its text in [`Fault::describe`]), one arm in the
//! simulation's applier, one in the scenario format.

use serde::{Deserialize, Serialize};

/// One fault applied to the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// Crash a host: its processes stop, unsynced disk writes are lost.
    Kill {
        /// The host.
        host: u16,
    },
    /// Start a crashed host again from its disk.
    Restart {
        /// The host.
        host: u16,
    },
    /// Cut every link between the two groups, both ways.
    Partition {
        /// One side.
        a: Vec<u16>,
        /// The other side.
        b: Vec<u16>,
    },
    /// Restore every link between the two groups.
    Heal {
        /// One side.
        a: Vec<u16>,
        /// The other side.
        b: Vec<u16>,
    },
    /// Change a link's latency, jitter and loss (until a [`Fault::LinkRestore`]).
    LinkDegrade {
        /// One end.
        a: u16,
        /// The other end.
        b: u16,
        /// Base one-way latency, nanoseconds.
        latency_ns: u64,
        /// Extra random latency up to this, nanoseconds.
        jitter_ns: u64,
        /// Probability that a message is lost (and must be retransmitted).
        loss: f64,
    },
    /// Put a link back to its configured latency, jitter and loss.
    LinkRestore {
        /// One end.
        a: u16,
        /// The other end.
        b: u16,
    },
    /// Set one of a host's knobs (replication delay, slow disk, slow queries); value 0 puts it
    /// back to normal.
    Tune {
        /// The host.
        host: u16,
        /// Which knob.
        knob: Knob,
        /// Its new value, in the knob's unit.
        value: u64,
        /// How much the value grows every second from now on (0: it stays), in the knob's unit.
        grow_per_s: u64,
    },
    /// A batch job opens `count` connections to `target` and runs one long transaction on
    /// each, holding it for `hold_ns`: the burst that exhausts a connection pool.
    LongTransactions {
        /// The store or pool they go to.
        target: u16,
        /// How many at once.
        count: u32,
        /// How long each holds its connection, nanoseconds.
        hold_ns: u64,
    },
}

/// A host setting that chaos can turn while the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Knob {
    /// A replica applies each shipped log entry this long after it received it (nanoseconds).
    ApplyDelay,
    /// Every write-ahead log append takes this much longer (nanoseconds): a slow disk.
    DiskDelay,
    /// Every request's service time is multiplied by (100 + value) / 100: slow queries.
    Slowdown,
}

impl Knob {
    /// The knob's name in scenario files and traces.
    pub fn name(self) -> &'static str {
        match self {
            Knob::ApplyDelay => "replication_delay",
            Knob::DiskDelay => "disk_delay",
            Knob::Slowdown => "slowdown",
        }
    }

    /// `value` in the knob's unit, for people.
    pub fn show(self, value: u64) -> String {
        match self {
            Knob::ApplyDelay | Knob::DiskDelay => format!("{:.3}ms", value as f64 / 1e6),
            Knob::Slowdown => format!("+{value}%"),
        }
    }
}

impl Fault {
    /// A one-line description, with host names looked up in `names`.
    pub fn describe(&self, names: &[String]) -> String {
        let name = |h: &u16| names.get(*h as usize).cloned().unwrap_or_else(|| format!("host#{h}"));
        let group = |g: &[u16]| g.iter().map(name).collect::<Vec<_>>().join(",");
        match self {
            Fault::Kill { host } => format!("kill {}", name(host)),
            Fault::Restart { host } => format!("restart {}", name(host)),
            Fault::Partition { a, b } => format!("partition [{}] | [{}]", group(a), group(b)),
            Fault::Heal { a, b } => format!("heal [{}] | [{}]", group(a), group(b)),
            Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss } => format!(
                "degrade link {}<->{}: latency {:.3}ms jitter {:.3}ms loss {:.2}%",
                name(a),
                name(b),
                *latency_ns as f64 / 1e6,
                *jitter_ns as f64 / 1e6,
                loss * 100.0
            ),
            Fault::LinkRestore { a, b } => format!("restore link {}<->{}", name(a), name(b)),
            Fault::Tune { host, knob, value, grow_per_s: 0 } => {
                format!("set {} of {} to {}", knob.name(), name(host), knob.show(*value))
            }
            Fault::Tune { host, knob, value, grow_per_s } => format!(
                "set {} of {} to {}, growing by {} per second",
                knob.name(),
                name(host),
                knob.show(*value),
                knob.show(*grow_per_s)
            ),
            Fault::LongTransactions { target, count, hold_ns } => {
                format!("{count} long transactions on {} for {:.3}s", name(target), *hold_ns as f64 / 1e9)
            }
        }
    }
}

/// A fault and the simulated time it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// When, in nanoseconds since the start of the run.
    pub at_ns: u64,
    /// What.
    pub fault: Fault,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_hosts() {
        let names = vec!["db".to_string(), "app".to_string()];
        assert_eq!(Fault::Kill { host: 0 }.describe(&names), "kill db");
        assert_eq!(Fault::Partition { a: vec![0], b: vec![1] }.describe(&names), "partition [db] | [app]");
        assert_eq!(Fault::Restart { host: 9 }.describe(&names), "restart host#9");
        let d = Fault::LinkDegrade { a: 0, b: 1, latency_ns: 5_000_000, jitter_ns: 0, loss: 0.1 }.describe(&names);
        assert_eq!(d, "degrade link db<->app: latency 5.000ms jitter 0.000ms loss 10.00%");
    }
}
