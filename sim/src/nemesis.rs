//! The nemesis on the simulation's side: the scenario's faults as `faultline_chaos` faults, and
//! the narrow control interface through which they act on the world.
//!
//! Owns: [`schedule`] (scenario `FaultSpec`s -> chaos `Fault`s with host indices; the
//! time-ordered schedule with each undo inserted is built by `faultline_chaos::nemesis`),
//! [`Control`] (what a fault may do to the world: crash, restart, cut, heal, set a link, turn or
//! bump a knob, skew a clock, start a burst, take a cache node out of an app's tier or put it
//! back, take a backend out of a balancer's endpoint set or put it back), [`act`] (a fault as calls on it), and its implementation
//! over an engine's [`Machines`] and `Shared` ([`WorldControl`]). Must not: let a fault reach into shared state
//! but through [`Control`].
//!
//! Adding a fault kind: a variant of `Fault` (chaos), its scenario form (`scenario::FaultSpec`),
//! an arm in [`to_fault`] and in [`act`]; a new way of acting on the world is a method of
//! [`Control`].

use crate::plan::RunPlan;
use crate::scenario::regions::Geography;
use crate::scenario::{FaultSpec, Scenario};
use crate::services::ns;
use crate::world::shared::{Burst, HostClock, KnobSetting, LinkSetting, Shared};
use faultline_chaos::fault::{Fault, Knob, RegionHosts, ScheduledFault};
use faultline_chaos::nemesis::{self as plan, Scripted};
use faultline_chaos::trace::{Event, LinkInfo};
use std::collections::BTreeMap;
use std::time::Duration;

fn idx(hosts: &BTreeMap<String, u16>, name: &str) -> u16 {
    *hosts.get(name).expect("validated: fault hosts exist")
}

fn group(hosts: &BTreeMap<String, u16>, names: &[toml::Spanned<String>]) -> Vec<u16> {
    names.iter().map(|n| idx(hosts, n.get_ref())).collect()
}

/// Region `name` as a fault carries it: its servers, and with `users` the load generators
/// placed in it too (a cut or a slow link between regions reaches the users on their side;
/// an outage or a skew strikes the servers only).
fn region(
    scenario: &Scenario,
    hosts: &BTreeMap<String, u16>,
    name: &toml::Spanned<String>,
    users: bool,
) -> RegionHosts {
    let geo = Geography::new(scenario);
    let name = name.get_ref();
    let mut list: Vec<u16> =
        geo.servers_of(name).into_iter().map(|i| idx(hosts, scenario.hosts[i].get_ref().name.get_ref())).collect();
    if users {
        list.extend(geo.loadgens_of(name).into_iter().map(|g| idx(hosts, &RunPlan::loadgen_name(g))));
    }
    RegionHosts { name: name.clone(), hosts: list }
}

/// The fault a spec describes, hosts by index.
fn to_fault(spec: &FaultSpec, hosts: &BTreeMap<String, u16>, scenario: &Scenario) -> Fault {
    let host = |h: &toml::Spanned<String>| idx(hosts, h.get_ref());
    let tune =
        |h: &toml::Spanned<String>, knob, value, grow_per_s| Fault::Tune { host: host(h), knob, value, grow_per_s };
    match spec {
        FaultSpec::Kill(h) => Fault::Kill { host: host(h) },
        FaultSpec::Restart(h) => Fault::Restart { host: host(h) },
        FaultSpec::Partition { a, b, oneway: false } => Fault::Partition { a: group(hosts, a), b: group(hosts, b) },
        FaultSpec::Partition { a, b, oneway: true } => {
            Fault::PartitionOneWay { from: group(hosts, a), to: group(hosts, b) }
        }
        FaultSpec::Heal { a, b, oneway: false } => Fault::Heal { a: group(hosts, a), b: group(hosts, b) },
        FaultSpec::Heal { a, b, oneway: true } => Fault::HealOneWay { from: group(hosts, a), to: group(hosts, b) },
        FaultSpec::Link(link) => {
            let (latency_ns, jitter_ns, loss) = link.settings_ns(&scenario.network);
            Fault::LinkDegrade { a: host(&link.between[0]), b: host(&link.between[1]), latency_ns, jitter_ns, loss }
        }
        FaultSpec::ReplicationDelay { host: h, delay, grow } => {
            tune(h, Knob::ApplyDelay, ns(delay.0), grow.map_or(0, |g| ns(g.0)))
        }
        FaultSpec::DiskDelay { host: h, delay } => tune(h, Knob::DiskDelay, ns(delay.0), 0),
        FaultSpec::Slowdown { host: h, percent } => tune(h, Knob::Slowdown, u64::from(*percent), 0),
        FaultSpec::FailRequests { host: h, percent } => tune(h, Knob::FailRequests, u64::from(*percent), 0),
        FaultSpec::LongTransactions { target, count, hold } => {
            Fault::LongTransactions { target: host(target), count: *count, hold_ns: ns(hold.0) }
        }
        FaultSpec::ClockSkew { host: h, jump, drift } => {
            Fault::ClockSkew { host: host(h), offset_ns: jump.ns, drift_ppm: drift.ppm }
        }
        FaultSpec::CacheFlush(h) => Fault::CacheFlush { host: host(h) },
        FaultSpec::MemoryPressure { host: h, maxmemory } => tune(h, Knob::MaxMemory, maxmemory.0, 0),
        FaultSpec::ShardLeave(change) => {
            Fault::ShardLeave { apps: group(hosts, &change.app), node: host(&change.node) }
        }
        FaultSpec::ShardJoin(change) => Fault::ShardJoin { apps: group(hosts, &change.app), node: host(&change.node) },
        FaultSpec::CdnPurge(h) => Fault::CdnPurge { host: host(h) },
        FaultSpec::DnsTtl { host: h, ttl } => {
            tune(h, Knob::DnsTtl, u64::try_from(ttl.0.as_millis()).unwrap_or(u64::MAX), 0)
        }
        FaultSpec::RegionOutage(r) => Fault::RegionOutage { region: region(scenario, hosts, r, false) },
        FaultSpec::RegionPartition(p) => Fault::RegionPartition {
            a: region(scenario, hosts, &p.a, true),
            b: region(scenario, hosts, &p.b, true),
            oneway: p.oneway,
        },
        FaultSpec::RegionLatency(l) => {
            let (latency_ns, jitter_ns, loss) = l.setting();
            let [a, b] = &l.between;
            let (a, b) = (region(scenario, hosts, a, true), region(scenario, hosts, b, true));
            Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss }
        }
        FaultSpec::RegionSkew(s) => Fault::RegionSkew {
            region: region(scenario, hosts, &s.region, false),
            offset_ns: s.jump.ns,
            drift_ppm: s.drift.ppm,
        },
    }
}

/// The scenario's scripted faults as chaos faults, in file order, hosts by index.
pub fn script(scenario: &Scenario, hosts: &BTreeMap<String, u16>) -> Vec<Scripted> {
    scenario
        .faults
        .iter()
        .map(|entry| {
            let entry = entry.get_ref();
            Scripted {
                at_ns: ns(entry.at.get_ref().0),
                fault: to_fault(&entry.fault, hosts, scenario),
                length_ns: entry.length.as_ref().map(|l| ns(l.get_ref().0)),
            }
        })
        .collect()
}

/// The scenario's faults in time order, each `for` followed by the fault's undo (ties keep
/// file order).
pub fn schedule(scenario: &Scenario, hosts: &BTreeMap<String, u16>) -> Vec<ScheduledFault> {
    plan::schedule(script(scenario, hosts))
}

/// Everything a fault may do to the world. Hosts by index.
pub(crate) trait Control {
    /// Crashes `host`: its processes stop, its unsynced disk writes are lost.
    fn crash(&mut self, host: u16);
    /// Starts a crashed `host` again from its disk.
    fn restart(&mut self, host: u16);
    /// Cuts what `from` sends to `to` (and, with `both_ways`, what `to` sends to `from`).
    fn cut(&mut self, from: u16, to: u16, both_ways: bool);
    /// Restores what [`Control::cut`] cut.
    fn heal(&mut self, from: u16, to: u16, both_ways: bool);
    /// Gives the link between `a` and `b` these settings.
    fn set_link(&mut self, a: u16, b: u16, setting: LinkSetting);
    /// Puts the link between `a` and `b` back to its configured settings.
    fn restore_link(&mut self, a: u16, b: u16);
    /// Turns `knob` of `host` to `value`, growing by `grow_per_s` every second from now on.
    fn turn_knob(&mut self, host: u16, knob: Knob, value: u64, grow_per_s: u64);
    /// Adds 1 to `knob` of `host`: a generation count, whose every change the model acts on
    /// once (a cache flush).
    fn bump_knob(&mut self, host: u16, knob: Knob);
    /// Takes the L2 cache node `node` out of the routing of `app`'s cache tier (`member`
    /// false), or puts it back (`member` true).
    fn shard(&mut self, app: u16, node: u16, member: bool);
    /// Takes backend `place` of load balancer `lb` out of its endpoint set (`member` false), or
    /// puts it back (`member` true): an autoscaler's instance not ready, or draining.
    fn endpoint(&mut self, lb: u16, place: u8, member: bool);
    /// Makes `host`'s clock read `offset_ns` off and run `drift_ppm` fast from now on (beyond
    /// its configured skew; both 0: back to it).
    fn skew_clock(&mut self, host: u16, offset_ns: i64, drift_ppm: i64);
    /// Asks the batch job for `count` long transactions on `target`, each held `hold_ns`.
    fn start_burst(&mut self, target: u16, count: u32, hold_ns: u64);
}

/// What `fault` does, as calls on `control`.
pub(crate) fn act(control: &mut impl Control, fault: &Fault) {
    match fault {
        Fault::Kill { host } => control.crash(*host),
        Fault::Restart { host } => control.restart(*host),
        Fault::Partition { a, b } => pairs(a, b, |x, y| control.cut(x, y, true)),
        Fault::Heal { a, b } => pairs(a, b, |x, y| control.heal(x, y, true)),
        Fault::PartitionOneWay { from, to } => pairs(from, to, |x, y| control.cut(x, y, false)),
        Fault::HealOneWay { from, to } => pairs(from, to, |x, y| control.heal(x, y, false)),
        Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss } => {
            let setting = LinkSetting { latency_ns: *latency_ns, jitter_ns: *jitter_ns, loss: *loss };
            control.set_link(*a, *b, setting);
        }
        Fault::LinkRestore { a, b } => control.restore_link(*a, *b),
        Fault::Tune { host, knob, value, grow_per_s } => control.turn_knob(*host, *knob, *value, *grow_per_s),
        Fault::LongTransactions { target, count, hold_ns } => control.start_burst(*target, *count, *hold_ns),
        Fault::ClockSkew { host, offset_ns, drift_ppm } => control.skew_clock(*host, *offset_ns, *drift_ppm),
        Fault::CacheFlush { host } => control.bump_knob(*host, Knob::CacheFlush),
        Fault::ShardLeave { apps, node } => apps.iter().for_each(|&app| control.shard(app, *node, false)),
        Fault::ShardJoin { apps, node } => apps.iter().for_each(|&app| control.shard(app, *node, true)),
        Fault::CdnPurge { host } => control.bump_knob(*host, Knob::CdnPurge),
        Fault::RegionOutage { region } => region.hosts.iter().for_each(|&h| control.crash(h)),
        Fault::RegionRestore { region } => region.hosts.iter().for_each(|&h| control.restart(h)),
        Fault::RegionPartition { a, b, oneway } => pairs(&a.hosts, &b.hosts, |x, y| control.cut(x, y, !oneway)),
        Fault::RegionHeal { a, b, oneway } => pairs(&a.hosts, &b.hosts, |x, y| control.heal(x, y, !oneway)),
        Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss } => {
            let setting = LinkSetting { latency_ns: *latency_ns, jitter_ns: *jitter_ns, loss: *loss };
            pairs(&a.hosts, &b.hosts, |x, y| control.set_link(x, y, setting));
        }
        Fault::RegionLatencyRestore { a, b } => pairs(&a.hosts, &b.hosts, |x, y| control.restore_link(x, y)),
        Fault::RegionSkew { region, offset_ns, drift_ppm } => {
            region.hosts.iter().for_each(|&h| control.skew_clock(h, *offset_ns, *drift_ppm))
        }
    }
}

/// Calls `f` on every pair of a host of `a` and a host of `b`, in order.
fn pairs(a: &[u16], b: &[u16], mut f: impl FnMut(u16, u16)) {
    for &x in a {
        for &y in b {
            f(x, y);
        }
    }
}

/// What a fault does to the engine's own machinery (its hosts' software and its network);
/// everything else a fault changes is in `Shared`, the same on every engine.
pub(crate) trait Machines {
    /// Stops every process of host `name` (its sockets close with it).
    fn crash(&mut self, name: &str);
    /// Starts host `name`'s software again (stopping it first if it runs).
    fn bounce(&mut self, name: &str);
    /// Cuts the engine's own network between two hosts both ways (so no connection opens).
    fn partition(&mut self, a: &str, b: &str);
    /// Undoes [`Machines::partition`].
    fn repair(&mut self, a: &str, b: &str);
    /// Sets the engine's own latency range of the link between two hosts.
    fn set_link_latency(&mut self, a: &str, b: &str, latency: Duration, max: Duration);
}

impl Machines for turmoil::Sim<'_> {
    fn crash(&mut self, name: &str) {
        turmoil::Sim::crash(self, name);
    }
    fn bounce(&mut self, name: &str) {
        turmoil::Sim::bounce(self, name);
    }
    fn partition(&mut self, a: &str, b: &str) {
        turmoil::Sim::partition(self, a, b);
    }
    fn repair(&mut self, a: &str, b: &str) {
        turmoil::Sim::repair(self, a, b);
    }
    fn set_link_latency(&mut self, a: &str, b: &str, latency: Duration, max: Duration) {
        turmoil::Sim::set_link_latency(self, a, b, latency);
        turmoil::Sim::set_link_max_message_latency(self, a, b, max);
    }
}

/// [`Control`] over an engine's machines and the world's shared state, at simulated time `t_ns`.
pub(crate) struct WorldControl<'a, M: Machines + ?Sized> {
    pub(crate) sim: &'a mut M,
    pub(crate) shared: &'a Shared,
    /// The links as the scenario configures them (what a restore goes back to).
    pub(crate) links: &'a [LinkInfo],
    pub(crate) t_ns: u64,
}

impl<M: Machines + ?Sized> WorldControl<'_, M> {
    fn name(&self, host: u16) -> &str {
        &self.shared.hosts[host as usize].name
    }
}

impl<M: Machines + ?Sized> Control for WorldControl<'_, M> {
    fn crash(&mut self, host: u16) {
        let state = &self.shared.hosts[host as usize];
        state.clock_base.set(None);
        self.shared.mem.new_incarnation(host, false);
        self.sim.crash(state.name.as_str());
        state.disk.crash();
        let mut rec = self.shared.recorder.borrow_mut();
        rec.reset_gauges(self.t_ns, host);
        rec.push(self.t_ns, Event::Power { host, up: false });
    }

    fn restart(&mut self, host: u16) {
        let state = &self.shared.hosts[host as usize];
        state.clock_base.set(None);
        self.shared.mem.new_incarnation(host, true);
        self.sim.bounce(state.name.as_str());
        self.shared.recorder.borrow_mut().push(self.t_ns, Event::Power { host, up: true });
    }

    /// Both ways, turmoil partitions the pair too (no new connection crosses the cut). One way,
    /// only the streams' cut table changes: turmoil's one-way partition drops the segments in
    /// flight from `from`, which would leave a gap in a connection that no retransmission
    /// fills, so a connection could never resume after the heal.
    fn cut(&mut self, from: u16, to: u16, both_ways: bool) {
        let mut links = self.shared.links.borrow_mut();
        links.set_cut(from, to, true);
        if both_ways {
            links.set_cut(to, from, true);
            let shared = self.shared;
            self.sim.partition(&shared.hosts[from as usize].name, &shared.hosts[to as usize].name);
        }
    }

    fn heal(&mut self, from: u16, to: u16, both_ways: bool) {
        let mut links = self.shared.links.borrow_mut();
        links.set_cut(from, to, false);
        if both_ways {
            links.set_cut(to, from, false);
            let shared = self.shared;
            self.sim.repair(&shared.hosts[from as usize].name, &shared.hosts[to as usize].name);
        }
    }

    fn set_link(&mut self, a: u16, b: u16, setting: LinkSetting) {
        set_link(self.sim, self.shared, a, b, setting);
    }

    fn restore_link(&mut self, a: u16, b: u16) {
        let configured = self.links.iter().find(|l| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a));
        let setting = configured.map_or_else(|| self.shared.links.borrow().default, LinkSetting::from);
        set_link(self.sim, self.shared, a, b, setting);
    }

    fn turn_knob(&mut self, host: u16, knob: Knob, value: u64, grow_per_s: u64) {
        let setting = KnobSetting { value, grow_per_s, since_ns: self.t_ns };
        self.shared.hosts[host as usize].knobs[knob.index()].set(setting);
    }

    fn bump_knob(&mut self, host: u16, knob: Knob) {
        let cell = &self.shared.hosts[host as usize].knobs[knob.index()];
        let value = cell.get().at(self.t_ns).saturating_add(1);
        cell.set(KnobSetting { value, grow_per_s: 0, since_ns: self.t_ns });
    }

    /// Flips the node's bit of the app's `ShardMask` knob (bit i: node i of its tier).
    fn shard(&mut self, app: u16, node: u16, member: bool) {
        let state = &self.shared.hosts[app as usize];
        let position = state.tier.iter().position(|&n| n == node).expect("validated: the node is in the app's tier");
        let bit = 1u64 << position;
        let cell = &state.knobs[Knob::ShardMask.index()];
        let mask = cell.get().at(self.t_ns);
        let value = if member { mask & !bit } else { mask | bit };
        cell.set(KnobSetting { value, grow_per_s: 0, since_ns: self.t_ns });
    }

    /// Flips the backend's bit of the balancer's `LbOut` knob (bit i: backend i).
    fn endpoint(&mut self, lb: u16, place: u8, member: bool) {
        let cell = &self.shared.hosts[lb as usize].knobs[Knob::LbOut.index()];
        let bit = 1u64 << place;
        let out = cell.get().at(self.t_ns);
        let value = if member { out & !bit } else { out | bit };
        cell.set(KnobSetting { value, grow_per_s: 0, since_ns: self.t_ns });
    }

    fn skew_clock(&mut self, host: u16, offset_ns: i64, drift_ppm: i64) {
        let state = &self.shared.hosts[host as usize];
        state.clock_before.set(Some(state.clock.get()));
        state.clock.set(HostClock { offset_ns, drift_ppm, since_ns: self.t_ns, ..state.clock.get() });
    }

    fn start_burst(&mut self, target: u16, count: u32, hold_ns: u64) {
        let burst = Burst { target: self.name(target).to_string(), count, hold_ns };
        self.shared.bursts.borrow_mut().push_back(burst);
        self.shared.burst_ready.notify_one();
    }
}

fn set_link(sim: &mut (impl Machines + ?Sized), shared: &Shared, a: u16, b: u16, setting: LinkSetting) {
    let (na, nb) = (&shared.hosts[a as usize].name, &shared.hosts[b as usize].name);
    let latency = Duration::from_nanos(setting.latency_ns);
    sim.set_link_latency(na.as_str(), nb.as_str(), latency, latency + Duration::from_nanos(setting.jitter_ns));
    shared.links.borrow_mut().set(a, b, setting);
}

/// Configures one link as the scenario states it (at build time).
pub(crate) fn configure_link(sim: &mut (impl Machines + ?Sized), shared: &Shared, link: &LinkInfo) {
    set_link(sim, shared, link.a, link.b, LinkSetting::from(link));
}

/// Sets every host's configured constant clock skew (at build time).
pub(crate) fn configure_clocks(shared: &Shared, plan: &crate::plan::RunPlan) {
    for (index, host) in plan.hosts.iter().enumerate() {
        let cell = &shared.hosts[index].clock;
        cell.set(HostClock { skew_ns: host.clock_skew_ns, ..cell.get() });
    }
}

/// Applies `fault` to the world now, recording it (and any power change) at `t_ns`.
pub(crate) fn apply(sim: &mut (impl Machines + ?Sized), shared: &Shared, links: &[LinkInfo], fault: &Fault, t_ns: u64) {
    shared.recorder.borrow_mut().push(t_ns, Event::Fault(fault.clone()));
    act(&mut WorldControl { sim, shared, links, t_ns }, fault);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the calls a fault makes.
    #[derive(Default)]
    struct Calls(Vec<String>);

    impl Control for Calls {
        fn crash(&mut self, host: u16) {
            self.0.push(format!("crash {host}"));
        }
        fn restart(&mut self, host: u16) {
            self.0.push(format!("restart {host}"));
        }
        fn cut(&mut self, from: u16, to: u16, both_ways: bool) {
            self.0.push(format!("cut {from}->{to} both={both_ways}"));
        }
        fn heal(&mut self, from: u16, to: u16, both_ways: bool) {
            self.0.push(format!("heal {from}->{to} both={both_ways}"));
        }
        fn set_link(&mut self, a: u16, b: u16, setting: LinkSetting) {
            self.0.push(format!("link {a}-{b} {}ns", setting.latency_ns));
        }
        fn restore_link(&mut self, a: u16, b: u16) {
            self.0.push(format!("restore {a}-{b}"));
        }
        fn turn_knob(&mut self, host: u16, knob: Knob, value: u64, grow_per_s: u64) {
            self.0.push(format!("knob {host} {} {value}+{grow_per_s}", knob.name()));
        }
        fn skew_clock(&mut self, host: u16, offset_ns: i64, drift_ppm: i64) {
            self.0.push(format!("clock {host} {offset_ns}ns {drift_ppm}ppm"));
        }
        fn start_burst(&mut self, target: u16, count: u32, hold_ns: u64) {
            self.0.push(format!("burst {target} {count} {hold_ns}"));
        }
        fn bump_knob(&mut self, host: u16, knob: Knob) {
            self.0.push(format!("bump {host} {}", knob.name()));
        }
        fn shard(&mut self, app: u16, node: u16, member: bool) {
            self.0.push(format!("shard {app} {node} member={member}"));
        }
        fn endpoint(&mut self, lb: u16, place: u8, member: bool) {
            self.0.push(format!("endpoint {lb} #{place} member={member}"));
        }
    }

    fn calls(fault: Fault) -> Vec<String> {
        let mut control = Calls::default();
        act(&mut control, &fault);
        control.0
    }

    #[test]
    fn a_partition_cuts_every_pair_and_a_one_way_one_direction() {
        assert_eq!(calls(Fault::Partition { a: vec![0, 1], b: vec![2] }), ["cut 0->2 both=true", "cut 1->2 both=true"]);
        assert_eq!(
            calls(Fault::PartitionOneWay { from: vec![3], to: vec![0, 1] }),
            ["cut 3->0 both=false", "cut 3->1 both=false"]
        );
        assert_eq!(calls(Fault::HealOneWay { from: vec![3], to: vec![0] }), ["heal 3->0 both=false"]);
    }

    #[test]
    fn each_fault_acts_through_the_control() {
        assert_eq!(calls(Fault::Kill { host: 4 }), ["crash 4"]);
        assert_eq!(calls(Fault::ClockSkew { host: 2, offset_ns: -5, drift_ppm: 100 }), ["clock 2 -5ns 100ppm"]);
        assert_eq!(calls(Fault::LongTransactions { target: 1, count: 3, hold_ns: 9 }), ["burst 1 3 9"]);
        let tune = Fault::Tune { host: 1, knob: Knob::Slowdown, value: 50, grow_per_s: 0 };
        assert_eq!(calls(tune), ["knob 1 slowdown 50+0"]);
    }

    fn region(name: &str, hosts: &[u16]) -> RegionHosts {
        RegionHosts { name: name.into(), hosts: hosts.to_vec() }
    }

    #[test]
    fn a_region_outage_crashes_every_host_of_it_and_its_restore_restarts_them() {
        let outage = Fault::RegionOutage { region: region("eu-west", &[2, 3, 5]) };
        assert_eq!(calls(outage.clone()), ["crash 2", "crash 3", "crash 5"]);
        assert_eq!(calls(outage.undo().expect("a restore")), ["restart 2", "restart 3", "restart 5"]);
    }

    #[test]
    fn a_region_partition_cuts_every_pair_between_the_regions() {
        let (us, eu) = (region("us-east", &[0, 1]), region("eu-west", &[2, 7]));
        let both = Fault::RegionPartition { a: us.clone(), b: eu.clone(), oneway: false };
        assert_eq!(
            calls(both.clone()),
            ["cut 0->2 both=true", "cut 0->7 both=true", "cut 1->2 both=true", "cut 1->7 both=true"]
        );
        assert_eq!(calls(both.undo().expect("a heal"))[3], "heal 1->7 both=true");
        let oneway = Fault::RegionPartition { a: eu, b: us, oneway: true };
        assert_eq!(
            calls(oneway.clone()),
            ["cut 2->0 both=false", "cut 2->1 both=false", "cut 7->0 both=false", "cut 7->1 both=false"]
        );
        assert_eq!(
            calls(oneway.undo().expect("a heal")),
            ["heal 2->0 both=false", "heal 2->1 both=false", "heal 7->0 both=false", "heal 7->1 both=false"]
        );
    }

    #[test]
    fn a_region_latency_sets_every_link_between_the_regions_and_its_undo_restores_each() {
        let slow = Fault::RegionLatency {
            a: region("us-east", &[0]),
            b: region("eu-west", &[2, 4]),
            latency_ns: 150_000_000,
            jitter_ns: 0,
            loss: 0.0,
        };
        assert_eq!(calls(slow.clone()), ["link 0-2 150000000ns", "link 0-4 150000000ns"]);
        assert_eq!(calls(slow.undo().expect("a restore")), ["restore 0-2", "restore 0-4"]);
    }

    #[test]
    fn a_region_skew_skews_every_host_and_its_undo_puts_each_back() {
        let skew =
            Fault::RegionSkew { region: region("eu-west", &[2, 3]), offset_ns: 2_000_000_000, drift_ppm: 100_000 };
        assert_eq!(calls(skew.clone()), ["clock 2 2000000000ns 100000ppm", "clock 3 2000000000ns 100000ppm"]);
        assert_eq!(calls(skew.undo().expect("a reset")), ["clock 2 0ns 0ppm", "clock 3 0ns 0ppm"]);
    }

    #[test]
    fn cache_faults_bump_the_flush_and_change_every_app_tier() {
        assert_eq!(calls(Fault::CacheFlush { host: 3 }), ["bump 3 cache_flush"]);
        assert_eq!(calls(Fault::CdnPurge { host: 4 }), ["bump 4 cdn_purge"]);
        let leave = Fault::ShardLeave { apps: vec![4, 5], node: 2 };
        assert_eq!(calls(leave), ["shard 4 2 member=false", "shard 5 2 member=false"]);
        assert_eq!(calls(Fault::ShardJoin { apps: vec![5], node: 2 }), ["shard 5 2 member=true"]);
        let pressure = Fault::Tune { host: 2, knob: Knob::MaxMemory, value: 2 << 20, grow_per_s: 0 };
        assert_eq!(calls(pressure), ["knob 2 maxmemory 2097152+0"]);
    }
}
