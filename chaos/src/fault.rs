//! Faults as data: what can go wrong in a run, and what each fault knows about itself.
//!
//! Owns: [`Fault`] and its self-knowledge: the hosts it touches ([`Fault::sides`],
//! [`Fault::hosts`]), whether it disrupts service ([`Fault::disrupts`]: RTO is measured after
//! those), what undoes it ([`Fault::undo`]) and its text ([`Fault::describe`]). Must not: know
//! how a fault is applied (the simulation's nemesis does that) or when (see `crate::nemesis`).
//!
//! Hosts are named by their index in the run's [`crate::trace::Header::hosts`]. The simulation
//! applies each fault at its time; the trace records it as [`crate::trace::Event::Fault`], so
//! the variants' order is part of the trace format: a new kind goes at the end.
//! Adding a fault kind: one variant here (every method's match names it), one arm in the
//! simulation's applier, one in the scenario format.

use serde::{Deserialize, Serialize};

pub use faultline_vocab::Knob;

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
    /// Restore every link between the two groups, both ways.
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
    /// Cut every link from `from` to `to` in that direction only: what a host of `from` sends
    /// to a host of `to` is lost until healed; the other direction still delivers.
    PartitionOneWay {
        /// The senders cut off.
        from: Vec<u16>,
        /// The receivers that no longer hear them.
        to: Vec<u16>,
    },
    /// Restore every link from `from` to `to` (that direction only).
    HealOneWay {
        /// The senders.
        from: Vec<u16>,
        /// The receivers.
        to: Vec<u16>,
    },
    /// Set a host's clock error beyond its configured skew: it reads `offset_ns` ahead (behind
    /// when negative) from now on, and runs `drift_ppm` parts per million fast (slow when
    /// negative), so its sleeps last longer or shorter in world time. Both 0: back to normal.
    ClockSkew {
        /// The host.
        host: u16,
        /// The jump, nanoseconds.
        offset_ns: i64,
        /// The rate error from now on, parts per million (-500000: half speed).
        drift_ppm: i64,
    },
    /// A cache node drops every key at once (FLUSHALL): every read after it misses until the
    /// key is filled again. Nothing undoes it.
    CacheFlush {
        /// The cache node.
        host: u16,
    },
    /// The cache tiers of `apps` stop routing keys to the L2 node `node`: the keys it owned
    /// go to the other nodes, cold (until a [`Fault::ShardJoin`]).
    ShardLeave {
        /// The app hosts whose tiers change.
        apps: Vec<u16>,
        /// The L2 cache node that leaves them.
        node: u16,
    },
    /// The cache tiers of `apps` route keys to the L2 node `node` again (one of their
    /// configured nodes): the keys it owns come back to it, and find what it held before.
    ShardJoin {
        /// The app hosts whose tiers change.
        apps: Vec<u16>,
        /// The L2 cache node that joins them.
        node: u16,
    },
    /// A CDN edge drops every stored response at once (a full purge): every read after it
    /// goes to the origin until the edge has stored it again. Nothing undoes it.
    CdnPurge {
        /// The edge.
        host: u16,
    },
    /// Every server of a region crashes at once (format version 8): one fault, one RTO
    /// measurement, however many hosts it takes (until a [`Fault::RegionRestore`]).
    RegionOutage {
        /// The region and its servers.
        region: RegionHosts,
    },
    /// Every server of a region starts again from its disk.
    RegionRestore {
        /// The region and its servers.
        region: RegionHosts,
    },
    /// Cut every link between the hosts of two regions (their servers and the load generators
    /// placed in them), both ways, or with `oneway` only what `a` sends to `b` (until a
    /// [`Fault::RegionHeal`]).
    RegionPartition {
        /// One region (with `oneway`: the senders cut off).
        a: RegionHosts,
        /// The other (with `oneway`: the receivers that no longer hear them).
        b: RegionHosts,
        /// Only the direction `a` -> `b`.
        oneway: bool,
    },
    /// Restore every link between the hosts of two regions (with `oneway`, from `a` to `b`).
    RegionHeal {
        /// One region.
        a: RegionHosts,
        /// The other.
        b: RegionHosts,
        /// Only the direction `a` -> `b`.
        oneway: bool,
    },
    /// Every link between a host of `a` and a host of `b` gets this latency, jitter and loss
    /// (until a [`Fault::RegionLatencyRestore`]).
    RegionLatency {
        /// One region.
        a: RegionHosts,
        /// The other.
        b: RegionHosts,
        /// Base one-way latency, nanoseconds.
        latency_ns: u64,
        /// Extra random latency up to this, nanoseconds.
        jitter_ns: u64,
        /// Probability that a message is lost (and must be retransmitted).
        loss: f64,
    },
    /// Every link between a host of `a` and a host of `b` goes back to its configured settings
    /// (its `[[links]]` entry, its regions' link, or the network's).
    RegionLatencyRestore {
        /// One region.
        a: RegionHosts,
        /// The other.
        b: RegionHosts,
    },
    /// The clock of every server of a region goes wrong as [`Fault::ClockSkew`] says; both 0:
    /// each back to its configured skew.
    RegionSkew {
        /// The region and its servers.
        region: RegionHosts,
        /// The jump, nanoseconds.
        offset_ns: i64,
        /// The rate error from now on, parts per million.
        drift_ppm: i64,
    },
}

/// A region as a fault carries it: its name (for the fault's text) and the hosts the fault
/// acts on, resolved when the scenario is compiled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHosts {
    /// The region's name in the scenario.
    pub name: String,
    /// Its hosts the fault acts on, by index.
    pub hosts: Vec<u16>,
}

impl Fault {
    /// The hosts the fault touches, as two sides: a link's or a partition's two ends (for a
    /// one-way fault, senders then receivers); a single-host fault's host and no peer.
    pub fn sides(&self) -> (Vec<u16>, Vec<u16>) {
        match self {
            Fault::Kill { host }
            | Fault::Restart { host }
            | Fault::Tune { host, .. }
            | Fault::ClockSkew { host, .. }
            | Fault::CacheFlush { host }
            | Fault::CdnPurge { host }
            | Fault::LongTransactions { target: host, .. } => (vec![*host], Vec::new()),
            Fault::ShardLeave { apps, node } | Fault::ShardJoin { apps, node } => (apps.clone(), vec![*node]),
            Fault::Partition { a, b }
            | Fault::Heal { a, b }
            | Fault::PartitionOneWay { from: a, to: b }
            | Fault::HealOneWay { from: a, to: b } => (a.clone(), b.clone()),
            Fault::LinkDegrade { a, b, .. } | Fault::LinkRestore { a, b } => (vec![*a], vec![*b]),
            Fault::RegionOutage { region } | Fault::RegionRestore { region } | Fault::RegionSkew { region, .. } => {
                (region.hosts.clone(), Vec::new())
            }
            Fault::RegionPartition { a, b, .. }
            | Fault::RegionHeal { a, b, .. }
            | Fault::RegionLatency { a, b, .. }
            | Fault::RegionLatencyRestore { a, b } => (a.hosts.clone(), b.hosts.clone()),
        }
    }

    /// Every host the fault touches, one side after the other.
    pub fn hosts(&self) -> Vec<u16> {
        let (mut a, b) = self.sides();
        a.extend(b);
        a
    }

    /// Whether the fault may disrupt service (RTO is measured after it); repairs do not.
    pub fn disrupts(&self) -> bool {
        match self {
            Fault::Kill { .. }
            | Fault::Partition { .. }
            | Fault::PartitionOneWay { .. }
            | Fault::LinkDegrade { .. }
            | Fault::LongTransactions { .. }
            | Fault::CacheFlush { .. }
            | Fault::CdnPurge { .. }
            | Fault::ShardLeave { .. }
            | Fault::RegionOutage { .. }
            | Fault::RegionPartition { .. }
            | Fault::RegionLatency { .. } => true,
            Fault::Tune { value, grow_per_s, .. } => *value != 0 || *grow_per_s != 0,
            Fault::ClockSkew { offset_ns, drift_ppm, .. } | Fault::RegionSkew { offset_ns, drift_ppm, .. } => {
                *offset_ns != 0 || *drift_ppm != 0
            }
            Fault::Restart { .. }
            | Fault::Heal { .. }
            | Fault::HealOneWay { .. }
            | Fault::LinkRestore { .. }
            | Fault::ShardJoin { .. }
            | Fault::RegionRestore { .. }
            | Fault::RegionHeal { .. }
            | Fault::RegionLatencyRestore { .. } => false,
        }
    }

    /// The fault that undoes this one (a scripted fault's `for` schedules it): kill -> restart,
    /// partition -> heal, link degradation -> restore, a knob or a clock -> back to normal,
    /// a shard leaving -> it joining again; a region's outage -> its restore, its partition ->
    /// a heal, its links degraded -> restored, its clocks skewed -> back to their configured
    /// skew. `None` for a repair, for long transactions (their
    /// hold is their length) and for a cache flush or a CDN purge (the keys are gone).
    pub fn undo(&self) -> Option<Fault> {
        match self {
            Fault::Kill { host } => Some(Fault::Restart { host: *host }),
            Fault::Partition { a, b } => Some(Fault::Heal { a: a.clone(), b: b.clone() }),
            Fault::PartitionOneWay { from, to } => Some(Fault::HealOneWay { from: from.clone(), to: to.clone() }),
            Fault::LinkDegrade { a, b, .. } => Some(Fault::LinkRestore { a: *a, b: *b }),
            Fault::Tune { host, knob, .. } => Some(Fault::Tune { host: *host, knob: *knob, value: 0, grow_per_s: 0 }),
            Fault::ClockSkew { host, .. } => Some(Fault::ClockSkew { host: *host, offset_ns: 0, drift_ppm: 0 }),
            Fault::ShardLeave { apps, node } => Some(Fault::ShardJoin { apps: apps.clone(), node: *node }),
            Fault::RegionOutage { region } => Some(Fault::RegionRestore { region: region.clone() }),
            Fault::RegionPartition { a, b, oneway } => {
                Some(Fault::RegionHeal { a: a.clone(), b: b.clone(), oneway: *oneway })
            }
            Fault::RegionLatency { a, b, .. } => Some(Fault::RegionLatencyRestore { a: a.clone(), b: b.clone() }),
            Fault::RegionSkew { region, .. } => {
                Some(Fault::RegionSkew { region: region.clone(), offset_ns: 0, drift_ppm: 0 })
            }
            Fault::Restart { .. }
            | Fault::Heal { .. }
            | Fault::HealOneWay { .. }
            | Fault::LinkRestore { .. }
            | Fault::ShardJoin { .. }
            | Fault::LongTransactions { .. }
            | Fault::CacheFlush { .. }
            | Fault::CdnPurge { .. }
            | Fault::RegionRestore { .. }
            | Fault::RegionHeal { .. }
            | Fault::RegionLatencyRestore { .. } => None,
        }
    }

    /// A one-line description, with host names looked up in `names`.
    pub fn describe(&self, names: &[String]) -> String {
        let name = |h: &u16| names.get(*h as usize).cloned().unwrap_or_else(|| format!("host#{h}"));
        let group = |g: &[u16]| g.iter().map(name).collect::<Vec<_>>().join(",");
        match self {
            Fault::Kill { host } => format!("kill {}", name(host)),
            Fault::Restart { host } => format!("restart {}", name(host)),
            Fault::Partition { a, b } => format!("partition [{}] | [{}]", group(a), group(b)),
            Fault::Heal { a, b } => format!("heal [{}] | [{}]", group(a), group(b)),
            Fault::PartitionOneWay { from, to } => format!("partition [{}] -> [{}] one way", group(from), group(to)),
            Fault::HealOneWay { from, to } => format!("heal [{}] -> [{}] one way", group(from), group(to)),
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
            Fault::ClockSkew { host, offset_ns, drift_ppm } => clock_text(&name(host), *offset_ns, *drift_ppm),
            Fault::CacheFlush { host } => format!("flush cache {}", name(host)),
            Fault::ShardLeave { apps, node } => format!("{} leaves the cache tier of [{}]", name(node), group(apps)),
            Fault::ShardJoin { apps, node } => format!("{} joins the cache tier of [{}]", name(node), group(apps)),
            Fault::CdnPurge { host } => format!("purge cdn {}", name(host)),
            Fault::RegionOutage { region } => {
                format!("outage of region {}: kill [{}]", region.name, group(&region.hosts))
            }
            Fault::RegionRestore { region } => {
                format!("restore region {}: restart [{}]", region.name, group(&region.hosts))
            }
            Fault::RegionPartition { a, b, oneway } => format!("partition region {}", regions_text(a, b, *oneway)),
            Fault::RegionHeal { a, b, oneway } => format!("heal region {}", regions_text(a, b, *oneway)),
            Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss } => format!(
                "degrade links of regions {}<->{}: latency {:.3}ms jitter {:.3}ms loss {:.2}%",
                a.name,
                b.name,
                *latency_ns as f64 / 1e6,
                *jitter_ns as f64 / 1e6,
                loss * 100.0
            ),
            Fault::RegionLatencyRestore { a, b } => format!("restore links of regions {}<->{}", a.name, b.name),
            Fault::RegionSkew { region, offset_ns, drift_ppm } => {
                clock_text(&format!("region {}", region.name), *offset_ns, *drift_ppm)
            }
        }
    }
}

/// Two regions of a partition or heal: "us-east | eu-west", or "us-east -> eu-west one way".
fn regions_text(a: &RegionHosts, b: &RegionHosts, oneway: bool) -> String {
    if oneway { format!("{} -> {} one way", a.name, b.name) } else { format!("{} | {}", a.name, b.name) }
}

/// The text of a clock skew: "clock of db jumps by -2.000s and runs 50.0000% slow".
fn clock_text(host: &str, offset_ns: i64, drift_ppm: i64) -> String {
    let jump = (offset_ns != 0).then(|| format!("jumps by {:+.3}s", offset_ns as f64 / 1e9));
    let rate = (drift_ppm != 0).then(|| {
        let way = if drift_ppm > 0 { "fast" } else { "slow" };
        format!("runs {:.4}% {way}", drift_ppm.unsigned_abs() as f64 / 1e4)
    });
    match (jump, rate) {
        (None, None) => format!("reset clock of {host}"),
        (Some(jump), None) => format!("clock of {host} {jump}"),
        (None, Some(rate)) => format!("clock of {host} {rate}"),
        (Some(jump), Some(rate)) => format!("clock of {host} {jump} and {rate}"),
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

    fn names() -> Vec<String> {
        vec!["db".to_string(), "app".to_string(), "cache".to_string()]
    }

    /// One fault of every kind.
    fn every_kind() -> Vec<Fault> {
        vec![
            Fault::Kill { host: 0 },
            Fault::Restart { host: 0 },
            Fault::Partition { a: vec![0, 2], b: vec![1] },
            Fault::Heal { a: vec![0, 2], b: vec![1] },
            Fault::LinkDegrade { a: 0, b: 1, latency_ns: 1, jitter_ns: 0, loss: 0.0 },
            Fault::LinkRestore { a: 0, b: 1 },
            Fault::Tune { host: 2, knob: Knob::Slowdown, value: 5, grow_per_s: 0 },
            Fault::LongTransactions { target: 0, count: 3, hold_ns: 1 },
            Fault::PartitionOneWay { from: vec![0], to: vec![1, 2] },
            Fault::HealOneWay { from: vec![0], to: vec![1, 2] },
            Fault::ClockSkew { host: 1, offset_ns: -5, drift_ppm: 0 },
            Fault::CacheFlush { host: 2 },
            Fault::ShardLeave { apps: vec![1, 0], node: 2 },
            Fault::ShardJoin { apps: vec![1], node: 2 },
            Fault::Tune { host: 2, knob: Knob::MaxMemory, value: 2 << 20, grow_per_s: 0 },
            Fault::CdnPurge { host: 1 },
            Fault::RegionOutage { region: eu() },
            Fault::RegionRestore { region: eu() },
            Fault::RegionPartition { a: us(), b: eu(), oneway: false },
            Fault::RegionHeal { a: us(), b: eu(), oneway: true },
            Fault::RegionLatency { a: us(), b: eu(), latency_ns: 300_000_000, jitter_ns: 0, loss: 0.0 },
            Fault::RegionLatencyRestore { a: us(), b: eu() },
            Fault::RegionSkew { region: eu(), offset_ns: 2_000_000_000, drift_ppm: 0 },
        ]
    }

    fn us() -> RegionHosts {
        RegionHosts { name: "us-east".into(), hosts: vec![0, 1] }
    }

    fn eu() -> RegionHosts {
        RegionHosts { name: "eu-west".into(), hosts: vec![2] }
    }

    #[test]
    fn region_faults_name_their_regions_and_carry_their_hosts() {
        let names = names();
        let outage = Fault::RegionOutage { region: us() };
        assert_eq!(outage.describe(&names), "outage of region us-east: kill [db,app]");
        assert_eq!(outage.sides(), (vec![0, 1], vec![]), "every server of the region, one side");
        assert!(outage.disrupts());
        let restore = outage.undo().expect("an outage is undone by a restore");
        assert_eq!(restore, Fault::RegionRestore { region: us() });
        assert_eq!(restore.describe(&names), "restore region us-east: restart [db,app]");
        assert!(!restore.disrupts());
        assert_eq!(restore.undo(), None);

        let cut = Fault::RegionPartition { a: us(), b: eu(), oneway: true };
        assert_eq!(cut.describe(&names), "partition region us-east -> eu-west one way");
        assert_eq!(cut.sides(), (vec![0, 1], vec![2]), "the senders, then the receivers");
        let heal = cut.undo().expect("a partition is undone by a heal");
        assert_eq!(heal, Fault::RegionHeal { a: us(), b: eu(), oneway: true }, "the same direction");
        let both = Fault::RegionPartition { a: us(), b: eu(), oneway: false };
        assert_eq!(both.describe(&names), "partition region us-east | eu-west");
        assert_eq!(both.undo().map(|h| h.describe(&names)).as_deref(), Some("heal region us-east | eu-west"));

        let slow =
            Fault::RegionLatency { a: us(), b: eu(), latency_ns: 150_000_000, jitter_ns: 20_000_000, loss: 0.01 };
        let text = "degrade links of regions us-east<->eu-west: latency 150.000ms jitter 20.000ms loss 1.00%";
        assert_eq!(slow.describe(&names), text);
        assert!(slow.disrupts());
        let back = slow.undo().expect("slow links are restored");
        assert_eq!(back, Fault::RegionLatencyRestore { a: us(), b: eu() });
        assert_eq!(back.describe(&names), "restore links of regions us-east<->eu-west");
        assert!(!back.disrupts());

        let skew = Fault::RegionSkew { region: eu(), offset_ns: 2_000_000_000, drift_ppm: 100_000 };
        assert_eq!(skew.describe(&names), "clock of region eu-west jumps by +2.000s and runs 10.0000% fast");
        assert_eq!(skew.hosts(), [2]);
        let reset = skew.undo().expect("a skew is put right");
        assert_eq!(reset, Fault::RegionSkew { region: eu(), offset_ns: 0, drift_ppm: 0 });
        assert_eq!(reset.describe(&names), "reset clock of region eu-west");
        assert!(!reset.disrupts(), "back to the configured skew is a repair");
    }

    #[test]
    fn descriptions_name_hosts() {
        let names = names();
        assert_eq!(Fault::Kill { host: 0 }.describe(&names), "kill db");
        assert_eq!(Fault::Partition { a: vec![0], b: vec![1] }.describe(&names), "partition [db] | [app]");
        assert_eq!(Fault::Restart { host: 9 }.describe(&names), "restart host#9");
        let d = Fault::LinkDegrade { a: 0, b: 1, latency_ns: 5_000_000, jitter_ns: 0, loss: 0.1 }.describe(&names);
        assert_eq!(d, "degrade link db<->app: latency 5.000ms jitter 0.000ms loss 10.00%");
        let oneway = Fault::PartitionOneWay { from: vec![0], to: vec![1, 2] };
        assert_eq!(oneway.describe(&names), "partition [db] -> [app,cache] one way");
    }

    #[test]
    fn cache_faults_say_what_they_do() {
        let names = names();
        assert_eq!(Fault::CacheFlush { host: 2 }.describe(&names), "flush cache cache");
        let leave = Fault::ShardLeave { apps: vec![1, 0], node: 2 };
        assert_eq!(leave.describe(&names), "cache leaves the cache tier of [app,db]");
        assert_eq!(leave.sides(), (vec![1, 0], vec![2]), "the apps, then the node");
        let join = leave.undo().expect("a leave is undone by a join");
        assert_eq!(join, Fault::ShardJoin { apps: vec![1, 0], node: 2 });
        assert_eq!(join.describe(&names), "cache joins the cache tier of [app,db]");
        assert_eq!(Fault::CacheFlush { host: 2 }.undo(), None, "flushed keys do not come back");
        assert!(Fault::CacheFlush { host: 2 }.disrupts());
        assert_eq!(Fault::CdnPurge { host: 1 }.describe(&names), "purge cdn app");
        assert_eq!(Fault::CdnPurge { host: 1 }.undo(), None, "purged answers do not come back");
        assert!(Fault::CdnPurge { host: 1 }.disrupts());
        assert_eq!(Fault::CdnPurge { host: 1 }.hosts(), [1]);
        let pressure = Fault::Tune { host: 2, knob: Knob::MaxMemory, value: 2 << 20, grow_per_s: 0 };
        assert_eq!(pressure.describe(&names), "set maxmemory of cache to 2.00M");
        let relief = pressure.undo().expect("pressure is undone");
        assert_eq!(relief.describe(&names), "set maxmemory of cache to the configured limit");
    }

    #[test]
    fn clock_skews_say_which_way() {
        let names = names();
        let skew = |offset_ns, drift_ppm| Fault::ClockSkew { host: 0, offset_ns, drift_ppm }.describe(&names);
        assert_eq!(skew(-2_000_000_000, 0), "clock of db jumps by -2.000s");
        assert_eq!(skew(0, -500_000), "clock of db runs 50.0000% slow");
        assert_eq!(skew(1_500_000, 100), "clock of db jumps by +0.002s and runs 0.0100% fast");
        assert_eq!(skew(0, 0), "reset clock of db");
    }

    #[test]
    fn every_host_on_both_sides() {
        let partition = Fault::Partition { a: vec![0, 2], b: vec![1, 3] };
        assert_eq!(partition.hosts(), [0, 2, 1, 3], "not just the first of each side");
        assert_eq!(partition.sides(), (vec![0, 2], vec![1, 3]));
        assert_eq!(Fault::LinkRestore { a: 4, b: 1 }.sides(), (vec![4], vec![1]));
        assert_eq!(Fault::LongTransactions { target: 7, count: 1, hold_ns: 1 }.hosts(), [7]);
        for fault in every_kind() {
            assert!(!fault.hosts().is_empty(), "{fault:?} touches a host");
        }
    }

    #[test]
    fn an_undo_is_a_repair_and_repairs_have_none() {
        for fault in every_kind() {
            match fault.undo() {
                Some(undo) => {
                    assert!(fault.disrupts(), "{fault:?} is undone, so it disrupts");
                    assert!(!undo.disrupts(), "{undo:?} repairs");
                    assert_eq!(undo.hosts(), fault.hosts(), "{fault:?}");
                }
                None => assert!(
                    !fault.disrupts()
                        || matches!(
                            fault,
                            Fault::LongTransactions { .. } | Fault::CacheFlush { .. } | Fault::CdnPurge { .. }
                        ),
                    "{fault:?}: only repairs, long transactions, flushes and purges have no undo"
                ),
            }
        }
        assert_eq!(Fault::Kill { host: 3 }.undo(), Some(Fault::Restart { host: 3 }));
        let skew = Fault::ClockSkew { host: 1, offset_ns: 0, drift_ppm: 100 };
        assert_eq!(skew.undo(), Some(Fault::ClockSkew { host: 1, offset_ns: 0, drift_ppm: 0 }));
        let turned = Fault::Tune { host: 1, knob: Knob::DiskDelay, value: 0, grow_per_s: 10 };
        assert!(turned.disrupts(), "a knob that grows from 0 is turned");
    }
}
