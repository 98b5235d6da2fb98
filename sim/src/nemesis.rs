//! The nemesis: the scenario's scripted faults as a time-ordered schedule of
//! `faultline_chaos::fault::Fault`s, and their application to the turmoil world.
//!
//! A fault with `for` is followed by its inverse (kill -> restart, partition -> heal,
//! link change -> restore, a knob turned -> turned back to 0) that long after. Adding a fault kind: a variant of `Fault`
//! (chaos), its scenario form (`scenario::FaultSpec`), an arm in [`to_faults`] and in
//! [`apply`].

use crate::scenario::{FaultSpec, Scenario};
use crate::world::shared::{Burst, KnobSetting, Shared};
use faultline_chaos::fault::{Fault, Knob, ScheduledFault};
use faultline_chaos::trace::{Event, LinkInfo};
use faultline_models::seam::Knob as ModelKnob;
use std::collections::BTreeMap;
use std::time::Duration;

fn idx(hosts: &BTreeMap<String, u16>, name: &str) -> u16 {
    *hosts.get(name).expect("validated: fault hosts exist")
}

fn group(hosts: &BTreeMap<String, u16>, names: &[toml::Spanned<String>]) -> Vec<u16> {
    names.iter().map(|n| idx(hosts, n.get_ref())).collect()
}

/// The fault a spec describes, and its inverse when it has one.
fn to_faults(spec: &FaultSpec, hosts: &BTreeMap<String, u16>, scenario: &Scenario) -> (Fault, Option<Fault>) {
    match spec {
        FaultSpec::Kill(h) => {
            let host = idx(hosts, h.get_ref());
            (Fault::Kill { host }, Some(Fault::Restart { host }))
        }
        FaultSpec::Restart(h) => (Fault::Restart { host: idx(hosts, h.get_ref()) }, None),
        FaultSpec::Partition { a, b } => {
            let (a, b) = (group(hosts, a), group(hosts, b));
            (Fault::Partition { a: a.clone(), b: b.clone() }, Some(Fault::Heal { a, b }))
        }
        FaultSpec::Heal { a, b } => (Fault::Heal { a: group(hosts, a), b: group(hosts, b) }, None),
        FaultSpec::Link(link) => {
            let a = idx(hosts, link.between[0].get_ref());
            let b = idx(hosts, link.between[1].get_ref());
            let net = &scenario.network;
            let fault = Fault::LinkDegrade {
                a,
                b,
                latency_ns: link.latency.unwrap_or(net.latency).0.as_nanos() as u64,
                jitter_ns: link.jitter.unwrap_or(net.jitter).0.as_nanos() as u64,
                loss: link.loss.as_ref().map(|l| *l.get_ref()).unwrap_or(*net.loss.get_ref()),
            };
            (fault, Some(Fault::LinkRestore { a, b }))
        }
        FaultSpec::ReplicationDelay { host, delay, grow } => {
            let grow_ns = grow.map_or(0, |g| g.0.as_nanos() as u64);
            tune(hosts, host, Knob::ApplyDelay, delay.0.as_nanos() as u64, grow_ns)
        }
        FaultSpec::DiskDelay { host, delay } => tune(hosts, host, Knob::DiskDelay, delay.0.as_nanos() as u64, 0),
        FaultSpec::Slowdown { host, percent } => tune(hosts, host, Knob::Slowdown, u64::from(*percent), 0),
        FaultSpec::LongTransactions { target, count, hold } => {
            let target = idx(hosts, target.get_ref());
            (Fault::LongTransactions { target, count: *count, hold_ns: hold.0.as_nanos() as u64 }, None)
        }
    }
}

/// Turning `knob` of `host` to `value` (growing by `grow_per_s` every second), and back to 0.
fn tune(
    hosts: &BTreeMap<String, u16>,
    host: &toml::Spanned<String>,
    knob: Knob,
    value: u64,
    grow_per_s: u64,
) -> (Fault, Option<Fault>) {
    let host = idx(hosts, host.get_ref());
    (Fault::Tune { host, knob, value, grow_per_s }, Some(Fault::Tune { host, knob, value: 0, grow_per_s: 0 }))
}

/// The scenario's faults in time order (ties keep file order).
pub fn schedule(scenario: &Scenario, hosts: &BTreeMap<String, u16>) -> Vec<ScheduledFault> {
    let mut out = Vec::new();
    for entry in &scenario.faults {
        let entry = entry.get_ref();
        let at = entry.at.get_ref().0;
        let (fault, inverse) = to_faults(&entry.fault, hosts, scenario);
        out.push(ScheduledFault { at_ns: at.as_nanos() as u64, fault });
        if let (Some(length), Some(inverse)) = (&entry.length, inverse) {
            let at_ns = (at + length.get_ref().0).as_nanos() as u64;
            out.push(ScheduledFault { at_ns, fault: inverse });
        }
    }
    out.sort_by_key(|f| f.at_ns);
    out
}

fn set_link(sim: &mut turmoil::Sim<'_>, shared: &Shared, a: u16, b: u16, latency_ns: u64, jitter_ns: u64, loss: f64) {
    let (na, nb) = (&shared.hosts[a as usize].name, &shared.hosts[b as usize].name);
    let latency = Duration::from_nanos(latency_ns);
    sim.set_link_latency(na.as_str(), nb.as_str(), latency);
    sim.set_link_max_message_latency(na.as_str(), nb.as_str(), latency + Duration::from_nanos(jitter_ns));
    shared.links.borrow_mut().set(a, b, latency_ns, jitter_ns, loss);
}

/// Configures one link as the scenario states it (at build time and on restore).
pub(crate) fn configure_link(sim: &mut turmoil::Sim<'_>, shared: &Shared, link: &LinkInfo) {
    set_link(sim, shared, link.a, link.b, link.latency_ns, link.jitter_ns, link.loss);
}

/// Applies `fault` to the world now, recording it (and any power change) at `t_ns`.
pub(crate) fn apply(sim: &mut turmoil::Sim<'_>, shared: &Shared, links: &[LinkInfo], fault: &Fault, t_ns: u64) {
    let name = |h: u16| shared.hosts[h as usize].name.clone();
    let mut rec = shared.recorder.borrow_mut();
    rec.push(t_ns, Event::Fault(fault.clone()));
    match fault {
        Fault::Kill { host } => {
            shared.hosts[*host as usize].clock_base.set(None);
            sim.crash(name(*host).as_str());
            shared.hosts[*host as usize].disk.crash();
            rec.reset_gauges(*host);
            rec.push(t_ns, Event::Power { host: *host, up: false });
        }
        Fault::Restart { host } => {
            shared.hosts[*host as usize].clock_base.set(None);
            sim.bounce(name(*host).as_str());
            rec.push(t_ns, Event::Power { host: *host, up: true });
        }
        Fault::Partition { a, b } | Fault::Heal { a, b } => {
            let heal = matches!(fault, Fault::Heal { .. });
            for &x in a {
                for &y in b {
                    shared.links.borrow_mut().set_cut(x, y, !heal);
                    if heal {
                        sim.repair(name(x).as_str(), name(y).as_str());
                    } else {
                        sim.partition(name(x).as_str(), name(y).as_str());
                    }
                }
            }
        }
        Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss } => {
            drop(rec);
            set_link(sim, shared, *a, *b, *latency_ns, *jitter_ns, *loss);
        }
        Fault::Tune { host, knob, value, grow_per_s } => {
            let knob = match knob {
                Knob::ApplyDelay => ModelKnob::ApplyDelay,
                Knob::DiskDelay => ModelKnob::DiskDelay,
                Knob::Slowdown => ModelKnob::Slowdown,
            };
            shared.hosts[*host as usize].knobs[knob.index()].set(KnobSetting {
                value: *value,
                grow_per_s: *grow_per_s,
                since_ns: t_ns,
            });
        }
        Fault::LongTransactions { target, count, hold_ns } => {
            let burst = Burst { target: shared.hosts[*target as usize].name.clone(), count: *count, hold_ns: *hold_ns };
            shared.bursts.borrow_mut().push_back(burst);
            shared.burst_ready.notify_one();
        }
        Fault::LinkRestore { a, b } => {
            drop(rec);
            let configured = links.iter().find(|l| (l.a, l.b) == (*a, *b) || (l.a, l.b) == (*b, *a));
            match configured {
                Some(link) => configure_link(sim, shared, link),
                None => {
                    let t = shared.links.borrow();
                    let (latency_ns, jitter_ns, loss) = (t.default_latency_ns, t.default_jitter_ns, t.default_loss);
                    drop(t);
                    set_link(sim, shared, *a, *b, latency_ns, jitter_ns, loss);
                }
            }
        }
    }
}
