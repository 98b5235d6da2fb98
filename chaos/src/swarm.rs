//! Swarm testing: each seed enables a random subset of the fault kinds a scenario allows and
//! draws a few faults of those kinds (when, where, how long, how hard) on top of its scripted
//! ones, so a sweep over seeds explores the failure space and not only the workload's
//! randomness (Groce et al., "Swarm Testing", ISSTA 2012: leaving kinds out of some runs finds
//! bugs that one kind masks in another).
//!
//! Owns: the fault kinds a swarm can draw ([`Kind`]), the space a scenario allows ([`Space`]:
//! which kinds, on which hosts, in which window, how many, how long) and the draw itself
//! ([`draw`]), pure: the same space and random stream give the same faults. Must not: know
//! scenario files (the simulation builds the [`Space`] from its `[swarm]` table and host
//! kinds) or apply a fault.

use crate::fault::{Fault, Knob, RegionHosts};
use crate::nemesis::Scripted;
use rand::Rng;

/// A fault kind a swarm may draw, named as the scenario file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Crash a host, restarted after the fault's length.
    Kill,
    /// Cut a host off from every other host of the file (the load generators still reach
    /// it), both ways, healed after the length.
    Partition,
    /// Lose what a host sends to every other host of the file (it still hears them), healed
    /// after the length.
    PartitionOneWay,
    /// Slow and lossy link between a host and one peer, restored after the length.
    Link,
    /// A host's clock jumps and may drift, put right after the length.
    ClockSkew,
    /// A kv replica applies the log late, caught up after the length.
    ReplicationDelay,
    /// A kv node's log appends get slower, back to normal after the length.
    DiskDelay,
    /// A host's service times grow several times, back to normal after the length.
    Slowdown,
    /// An HTTP app answers a share of its requests 500 (a gray failure), healed after the length.
    FailRequests,
    /// A cache node drops every key (nothing undoes it).
    CacheFlush,
    /// A burst of long transactions holds a store's or pool's connections for the length.
    LongTransactions,
    /// A CDN edge drops every stored answer (nothing undoes it).
    CdnPurge,
    /// Every server of a region crashes at once, restarted after the length.
    RegionOutage,
    /// Every link between a region's hosts and users and another region's is cut, both ways,
    /// healed after the length.
    RegionPartition,
}

impl Kind {
    /// Every kind, in the order a draw considers them.
    pub const ALL: [Kind; 14] = [
        Kind::Kill,
        Kind::Partition,
        Kind::PartitionOneWay,
        Kind::Link,
        Kind::ClockSkew,
        Kind::ReplicationDelay,
        Kind::DiskDelay,
        Kind::Slowdown,
        Kind::FailRequests,
        Kind::CacheFlush,
        Kind::LongTransactions,
        Kind::CdnPurge,
        Kind::RegionOutage,
        Kind::RegionPartition,
    ];

    /// The name a scenario's `[swarm] kinds` uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Partition => "partition",
            Kind::PartitionOneWay => "partition_oneway",
            Kind::Link => "link",
            Kind::ClockSkew => "clock_skew",
            Kind::ReplicationDelay => "replication_delay",
            Kind::DiskDelay => "disk_delay",
            Kind::Slowdown => "slowdown",
            Kind::FailRequests => "fail_requests",
            Kind::CacheFlush => "cache_flush",
            Kind::LongTransactions => "long_transactions",
            Kind::CdnPurge => "cdn_purge",
            Kind::RegionOutage => "region_outage",
            Kind::RegionPartition => "region_partition",
        }
    }

    /// The kind a scenario names `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether a drawn fault of this kind lasts for a drawn length (its undo is scheduled);
    /// a flush or a purge has no undo, and long transactions hold for their length.
    /// Whether a fault of this kind needs a second host (a partition's other side, a link's
    /// other end).
    pub fn needs_peer(self) -> bool {
        matches!(self, Kind::Partition | Kind::PartitionOneWay | Kind::Link)
    }

    /// Whether a fault of this kind strikes a region (its targets in a [`Space`] are indices in
    /// [`Space::regions`]) rather than a host.
    pub fn strikes_regions(self) -> bool {
        match self {
            Kind::RegionOutage | Kind::RegionPartition => true,
            Kind::Kill
            | Kind::Partition
            | Kind::PartitionOneWay
            | Kind::Link
            | Kind::ClockSkew
            | Kind::ReplicationDelay
            | Kind::DiskDelay
            | Kind::Slowdown
            | Kind::FailRequests
            | Kind::CacheFlush
            | Kind::LongTransactions
            | Kind::CdnPurge => false,
        }
    }

    fn has_length(self) -> bool {
        match self {
            Kind::CacheFlush | Kind::CdnPurge | Kind::LongTransactions => false,
            Kind::Kill
            | Kind::Partition
            | Kind::PartitionOneWay
            | Kind::Link
            | Kind::ClockSkew
            | Kind::ReplicationDelay
            | Kind::DiskDelay
            | Kind::Slowdown
            | Kind::FailRequests
            | Kind::RegionOutage
            | Kind::RegionPartition => true,
        }
    }
}

/// What a scenario lets a swarm draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// Each allowed kind with the hosts it may strike (indices, ascending, none empty); for a
    /// kind that [strikes regions](Kind::strikes_regions), the regions (indices in `regions`).
    pub kinds: Vec<(Kind, Vec<u16>)>,
    /// Every host of the run but the load generators' (a partition's other side, a link's
    /// peer), ascending; a kind that needs a peer needs two of them.
    pub hosts: Vec<u16>,
    /// The most faults one seed draws (at least 1).
    pub max_faults: u32,
    /// The window the faults start in, nanoseconds since the start: `[from, to)`.
    pub window_ns: (u64, u64),
    /// The shortest and longest length of a fault that lasts, nanoseconds.
    pub length_ns: (u64, u64),
    /// The scenario's regions (empty without them): a region outage takes a region's
    /// `servers`, a region partition cuts its `members` off from another region's.
    pub regions: Vec<SwarmRegion>,
}

/// A region as a swarm may strike it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmRegion {
    /// Its name.
    pub name: String,
    /// Its servers (what an outage crashes), ascending.
    pub servers: Vec<u16>,
    /// Its servers and the load generators placed in it (what a partition cuts off), ascending.
    pub members: Vec<u16>,
}

/// What one seed drew.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// The kinds this seed enabled (a non-empty subset of the space's), in [`Kind::ALL`] order.
    pub enabled: Vec<Kind>,
    /// The faults, in time order (ties in draw order).
    pub faults: Vec<Scripted>,
}

/// Draws one seed's faults from `space` with `rng`: each kind is enabled with probability 1/2
/// (one at random when none is), then between 1 and `max_faults` faults, each of an enabled
/// kind, on one of its hosts, starting uniformly in the window, lasting uniformly in the length
/// range. Times, lengths, latencies and delays are whole milliseconds, so a drawn schedule
/// reads (and is written back as a scenario) exactly.
pub fn draw(space: &Space, rng: &mut impl Rng) -> Drawn {
    let mut enabled: Vec<&(Kind, Vec<u16>)> = space.kinds.iter().filter(|_| rng.random_bool(0.5)).collect();
    if enabled.is_empty() && !space.kinds.is_empty() {
        enabled.push(&space.kinds[rng.random_range(0..space.kinds.len())]);
    }
    let mut faults = Vec::new();
    if !enabled.is_empty() {
        let count = rng.random_range(1..=space.max_faults.max(1));
        for _ in 0..count {
            let (kind, targets) = enabled[rng.random_range(0..enabled.len())];
            let host = targets[rng.random_range(0..targets.len())];
            let (from, to) = (space.window_ns.0 / MS, space.window_ns.1 / MS);
            let at_ns = MS * if to > from { rng.random_range(from..to) } else { from };
            let (short, long) = (space.length_ns.0 / MS, space.length_ns.1 / MS);
            let length_ms = if long > short { rng.random_range(short..=long) } else { short };
            let length_ns = MS * length_ms.max(1);
            faults.push(one(*kind, host, at_ns, length_ns, space, rng));
        }
    }
    faults.sort_by_key(|f| f.at_ns);
    let mut enabled: Vec<Kind> = enabled.into_iter().map(|(k, _)| *k).collect();
    enabled.sort();
    Drawn { enabled, faults }
}

/// A value drawn log-uniformly in `[lo, hi]`: as many small values as large ones per decade.
fn log_uniform(rng: &mut impl Rng, lo: u64, hi: u64) -> u64 {
    let (lo, hi) = (lo.max(1) as f64, hi.max(lo.max(1)) as f64);
    (lo * (hi / lo).powf(rng.random::<f64>())).round() as u64
}

const MS: u64 = 1_000_000;

/// One fault of `kind` on `host`, its strength drawn from `rng`.
fn one(kind: Kind, host: u16, at_ns: u64, length_ns: u64, space: &Space, rng: &mut impl Rng) -> Scripted {
    let others = || space.hosts.iter().copied().filter(|&h| h != host).collect::<Vec<u16>>();
    let tune = |knob, value| Fault::Tune { host, knob, value, grow_per_s: 0 };
    let fault = match kind {
        Kind::Kill => Fault::Kill { host },
        Kind::Partition => Fault::Partition { a: vec![host], b: others() },
        Kind::PartitionOneWay => Fault::PartitionOneWay { from: vec![host], to: others() },
        Kind::Link => {
            let peers = others();
            let peer = peers[rng.random_range(0..peers.len())];
            let latency_ns = MS * log_uniform(rng, 10, 1_000);
            let loss = [0.0, 0.0, 0.05, 0.3][rng.random_range(0..4)];
            Fault::LinkDegrade { a: host, b: peer, latency_ns, jitter_ns: MS * (latency_ns / MS / 2), loss }
        }
        Kind::ClockSkew => {
            let jump = (MS * log_uniform(rng, 50, 30_000)) as i64;
            let offset_ns = if rng.random_bool(0.5) { jump } else { -jump };
            let drift_ppm = match rng.random_range(0..3) {
                0 => 0,
                1 => log_uniform(rng, 1_000, 500_000) as i64,
                _ => -(log_uniform(rng, 1_000, 500_000) as i64),
            };
            Fault::ClockSkew { host, offset_ns, drift_ppm }
        }
        Kind::ReplicationDelay => tune(Knob::ApplyDelay, MS * log_uniform(rng, 50, 5_000)),
        Kind::DiskDelay => tune(Knob::DiskDelay, MS * log_uniform(rng, 2, 200)),
        Kind::Slowdown => tune(Knob::Slowdown, rng.random_range(100..=1_000)),
        Kind::FailRequests => tune(Knob::FailRequests, rng.random_range(10..=100)),
        Kind::CacheFlush => Fault::CacheFlush { host },
        Kind::LongTransactions => {
            Fault::LongTransactions { target: host, count: rng.random_range(5..=50), hold_ns: length_ns }
        }
        Kind::CdnPurge => Fault::CdnPurge { host },
        Kind::RegionOutage => {
            let region = &space.regions[host as usize];
            Fault::RegionOutage { region: RegionHosts { name: region.name.clone(), hosts: region.servers.clone() } }
        }
        Kind::RegionPartition => {
            let others: Vec<&SwarmRegion> = (0..space.regions.len())
                .filter(|&i| i != host as usize && !space.regions[i].members.is_empty())
                .map(|i| &space.regions[i])
                .collect();
            let (a, b) = (&space.regions[host as usize], others[rng.random_range(0..others.len())]);
            let side = |r: &SwarmRegion| RegionHosts { name: r.name.clone(), hosts: r.members.clone() };
            Fault::RegionPartition { a: side(a), b: side(b), oneway: false }
        }
    };
    Scripted { at_ns, fault, length_ns: kind.has_length().then_some(length_ns) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    const S: u64 = 1_000_000_000;

    fn space(kinds: &[Kind]) -> Space {
        Space {
            kinds: kinds.iter().map(|&k| (k, vec![1, 2])).collect(),
            hosts: vec![0, 1, 2],
            max_faults: 3,
            window_ns: (5 * S, 25 * S),
            length_ns: (S, 5 * S),
            regions: vec![region("r0", &[0], &[0, 3]), region("r1", &[1], &[1]), region("r2", &[2], &[2])],
        }
    }

    fn region(name: &str, servers: &[u16], members: &[u16]) -> SwarmRegion {
        SwarmRegion { name: name.into(), servers: servers.to_vec(), members: members.to_vec() }
    }

    fn drawn(space: &Space, seed: u64) -> Drawn {
        draw(space, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn names_round_trip_and_are_distinct() {
        let names: BTreeSet<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("explode"), None);
    }

    #[test]
    fn the_same_stream_draws_the_same_faults_and_another_draws_others() {
        let space = space(&Kind::ALL);
        assert_eq!(drawn(&space, 7), drawn(&space, 7));
        let distinct: BTreeSet<String> = (0..50).map(|s| format!("{:?}", drawn(&space, s).faults)).collect();
        assert!(distinct.len() >= 45, "50 seeds drew only {} distinct schedules", distinct.len());
    }

    #[test]
    fn draws_stay_inside_the_space() {
        let space = space(&Kind::ALL);
        for seed in 0..500 {
            let d = drawn(&space, seed);
            assert!(!d.enabled.is_empty(), "seed {seed} enabled no kind");
            assert!((1..=3).contains(&d.faults.len()), "seed {seed}: {} faults", d.faults.len());
            assert!(d.faults.windows(2).all(|w| w[0].at_ns <= w[1].at_ns), "time order");
            for f in &d.faults {
                assert!((5 * S..25 * S).contains(&f.at_ns), "seed {seed}: starts at {}", f.at_ns);
                assert_eq!(f.at_ns % MS, 0, "whole milliseconds");
                if let Some(length) = f.length_ns {
                    assert!((S..=5 * S).contains(&length), "seed {seed}: lasts {length}");
                }
                let (struck, _) = f.fault.sides();
                assert!(struck.iter().all(|h| [1, 2].contains(h)), "seed {seed}: {:?} strikes outside", f.fault);
                assert!(f.fault.disrupts(), "a drawn fault disrupts: {:?}", f.fault);
            }
        }
    }

    #[test]
    fn every_kind_is_enabled_and_left_out_by_some_seeds() {
        let space = space(&Kind::ALL);
        let mut on = BTreeSet::new();
        let mut off = BTreeSet::new();
        for seed in 0..200 {
            let d = drawn(&space, seed);
            for k in Kind::ALL {
                match d.enabled.contains(&k) {
                    true => on.insert(k),
                    false => off.insert(k),
                };
            }
        }
        assert_eq!(on.len(), Kind::ALL.len(), "some kind never enabled");
        assert_eq!(off.len(), Kind::ALL.len(), "some kind always enabled");
    }

    #[test]
    fn a_drawn_fault_is_of_an_enabled_kind() {
        let space = space(&[Kind::Kill, Kind::CacheFlush]);
        for seed in 0..200 {
            let d = drawn(&space, seed);
            for f in &d.faults {
                let kind = match f.fault {
                    Fault::Kill { .. } => Kind::Kill,
                    Fault::CacheFlush { .. } => Kind::CacheFlush,
                    ref other => panic!("seed {seed}: {other:?} is of no allowed kind"),
                };
                assert!(d.enabled.contains(&kind), "seed {seed}: {kind:?} drawn but not enabled");
                assert_eq!(f.length_ns.is_some(), kind == Kind::Kill, "a flush has no length");
            }
        }
    }

    #[test]
    fn a_partition_cuts_the_host_off_from_everyone_else() {
        let space = space(&[Kind::Partition]);
        let d = drawn(&space, 3);
        for f in &d.faults {
            let Fault::Partition { a, b } = &f.fault else { panic!("{:?}", f.fault) };
            assert_eq!(a.len(), 1);
            let mut all: Vec<u16> = a.iter().chain(b).copied().collect();
            all.sort();
            assert_eq!(all, vec![0, 1, 2], "every host on one side or the other");
        }
    }

    #[test]
    fn region_kinds_strike_a_region_whole() {
        let space = space(&[Kind::RegionOutage, Kind::RegionPartition]);
        let (mut outages, mut partitions) = (0, 0);
        for seed in 0..100 {
            for f in drawn(&space, seed).faults {
                assert!(f.length_ns.is_some(), "a region fault is undone after its length");
                match f.fault {
                    Fault::RegionOutage { region } => {
                        outages += 1;
                        assert!(["r1", "r2"].contains(&region.name.as_str()), "{region:?}");
                        assert_eq!(region.hosts, space.regions.iter().find(|r| r.name == region.name).unwrap().servers);
                    }
                    Fault::RegionPartition { a, b, oneway } => {
                        partitions += 1;
                        assert!(!oneway);
                        assert_ne!(a.name, b.name, "two different regions");
                        let members =
                            |name: &str| space.regions.iter().find(|r| r.name == name).unwrap().members.clone();
                        assert_eq!(
                            (a.hosts.clone(), b.hosts.clone()),
                            (members(&a.name), members(&b.name)),
                            "servers and users"
                        );
                    }
                    other => panic!("seed {seed}: {other:?} is of no allowed kind"),
                }
            }
        }
        assert!(outages > 20 && partitions > 20, "{outages} outages, {partitions} partitions");
        assert_eq!(Kind::from_name("region_outage"), Some(Kind::RegionOutage));
        assert!(Kind::RegionPartition.strikes_regions() && !Kind::Partition.strikes_regions());
    }

    #[test]
    fn a_log_uniform_draw_stays_in_its_range_and_spreads_over_decades() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let values: Vec<u64> = (0..1000).map(|_| log_uniform(&mut rng, 10, 10_000)).collect();
        assert!(values.iter().all(|v| (10..=10_000).contains(v)));
        let small = values.iter().filter(|&&v| v < 100).count();
        let large = values.iter().filter(|&&v| v >= 1000).count();
        assert!((250..420).contains(&small) && (250..420).contains(&large), "{small} small, {large} large");
    }
}
