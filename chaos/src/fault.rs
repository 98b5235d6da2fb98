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
