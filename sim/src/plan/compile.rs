//! Compiling a validated scenario into a [`RunPlan`]: host indices (the file's hosts in
//! order, then the load generators `lg0`, `lg1`, ...), each host's service and capacity,
//! links (with the regions', see `regions.rs`), each load generator's share of the users and the arrivals, the fault schedule, the
//! objectives and checks.
//!
//! Must not: fail or panic on a scenario that passed validation (what validation lets through
//! compiles), or depend on anything but the scenario and the seed.

use super::{CapacityPlan, HostPlan, NetworkPlan, RunPlan, ServiceTimePlan};
use crate::nemesis;
use crate::plant::Plant;
use crate::scenario::{Arrival, Dur, Popularity, Scenario, ServiceTimeSpec, Sp};
use crate::services::{PlanContext, addr, ns};
use crate::workload::arrivals::ArrivalProcess;
use crate::workload::{LoadgenPlan, Mode, UserPlan};
use faultline_chaos::check::CheckConfig;
use faultline_chaos::slo::{Slo, SloKind};
use faultline_chaos::trace::{LinkInfo, ShardGroup, Shards};
use std::collections::{BTreeMap, BTreeSet};

/// The plan of `scenario` (which must have passed validation) under `seed` (`None`: the
/// scenario's own).
pub fn compile(scenario: &Scenario, seed: Option<u64>) -> RunPlan {
    compile_planted(scenario, seed, None)
}

/// [`compile`], with the bug `plant` switched on in the models it reaches (`None`: the plan
/// of [`compile`], exactly).
pub fn compile_planted(scenario: &Scenario, seed: Option<u64>, plant: Option<Plant>) -> RunPlan {
    let loadgens = *scenario.workload.loadgens.get_ref();
    let mut by_name = BTreeMap::new();
    for (i, h) in scenario.hosts.iter().enumerate() {
        by_name.insert(h.get_ref().name.get_ref().clone(), index(i));
    }
    for g in 0..loadgens {
        by_name.insert(RunPlan::loadgen_name(g), index(scenario.hosts.len() + g as usize));
    }
    let managed: BTreeSet<String> =
        scenario.hosts.iter().flat_map(|h| h.get_ref().service.manages().iter().map(|m| m.get_ref().clone())).collect();
    let cached = scenario.hosts.iter().any(|h| !h.get_ref().service.shards().is_empty());
    let probed: BTreeSet<String> =
        scenario.deploy.iter().flat_map(|d| d.pool.iter().map(|h| h.get_ref().clone())).collect();
    let regions: BTreeMap<String, String> = scenario
        .hosts
        .iter()
        .filter_map(|h| {
            let h = h.get_ref();
            Some((h.name.get_ref().clone(), h.region.as_ref()?.get_ref().clone()))
        })
        .collect();
    let cx = PlanContext { managed: &managed, cached, probed: &probed, plant, regions: &regions };
    let hosts = scenario
        .hosts
        .iter()
        .map(|h| {
            let h = h.get_ref();
            let name = h.name.get_ref().clone();
            let kind = h.service.kind().to_string();
            let service = h.service.compile(&name, &cx);
            HostPlan {
                group: h.group.clone().unwrap_or_else(|| kind.clone()),
                kind,
                addr: service.listens().then(|| addr(&name)),
                clock_skew_ns: h.clock_skew.ns,
                capacity: capacity(h),
                service,
                name,
            }
        })
        .collect::<Vec<HostPlan>>();
    let shards = shards(scenario, &hosts, &by_name);
    let loadgen_plans = loadgen_plans(scenario, &by_name, loadgens);
    let regions = super::regions::regions(scenario, &by_name);
    let mut links = links(scenario, &by_name);
    links.extend(super::regions::host_links(scenario, &regions, &loadgen_plans, &links, hosts.len()));
    let net = &scenario.network;
    let duration_ns = ns(scenario.duration.get_ref().0);
    let tick_ns = ns(scenario.tick.get_ref().0);
    RunPlan {
        scenario: scenario.name.clone(),
        seed: seed.unwrap_or(scenario.seed),
        duration_ns,
        end_ns: duration_ns.saturating_add(ns(scenario.workload.timeout.0)).saturating_add(tick_ns.saturating_mul(2)),
        window_ns: ns(scenario.window.get_ref().0),
        tick_ns,
        network: NetworkPlan {
            latency_ns: ns(net.latency.0),
            jitter_ns: ns(net.jitter.0),
            loss: *net.loss.get_ref(),
            rto_ns: ns(net.rto.0),
        },
        hosts,
        links,
        region_links: super::regions::region_links(scenario),
        regions,
        loadgens: loadgen_plans,
        faults: nemesis::schedule(scenario, &by_name),
        slos: slos(scenario),
        checks: checks(scenario),
        shards,
        autoscale: scenario.autoscale.as_ref().map(|a| a.plan(scenario, &by_name)),
        deploy: scenario.deploy.as_ref().map(|d| d.plan(scenario, &by_name)),
        plant,
    }
}

/// The workload's tenants and the sharded database's groups (those of the first app with
/// `shards`: validation requires every such app to have the same), each group with its kv
/// nodes and the failover controllers that manage them.
fn shards(scenario: &Scenario, hosts: &[HostPlan], by_name: &BTreeMap<String, u16>) -> Shards {
    let tenants: Vec<String> = scenario.workload.tenants.iter().map(|t| t.get_ref().clone()).collect();
    let groups = hosts.iter().map(|h| h.service.db_groups(&tenants)).find(|g| !g.is_empty()).unwrap_or_default();
    let groups = groups
        .into_iter()
        .map(|group| {
            let mut members: BTreeSet<u16> = group.members.iter().map(|m| by_name[m]).collect();
            for host in &scenario.hosts {
                let host = host.get_ref();
                if host.service.manages().iter().any(|m| group.members.contains(m.get_ref())) {
                    members.insert(by_name[host.name.get_ref()]);
                }
            }
            ShardGroup { name: group.name, hosts: members.into_iter().collect(), tenants: group.tenants }
        })
        .collect();
    Shards { tenants, groups }
}

/// A host index (validation bounds the host count to fit a `u16`).
fn index(i: usize) -> u16 {
    u16::try_from(i).expect("validated: every host index fits in a u16")
}

fn capacity(host: &crate::scenario::Host) -> CapacityPlan {
    let service_time = match &host.service_time {
        ServiceTimeSpec::Zero => ServiceTimePlan::Zero,
        ServiceTimeSpec::Fixed(d) => ServiceTimePlan::Fixed { ns: ns(d.0) },
        ServiceTimeSpec::Exponential(d) => ServiceTimePlan::Exponential { mean_ns: ns(d.0) },
        ServiceTimeSpec::Lognormal { mean, sigma } => {
            ServiceTimePlan::Lognormal { mean_ns: ns(mean.0), sigma: *sigma.get_ref() }
        }
    };
    CapacityPlan {
        workers: host.workers,
        queue_limit: host.queue_limit,
        service_time,
        max_connections: host.max_connections,
        connect_cost_ns: ns(host.connect_cost.0),
        queue_timeout_ns: host.queue_timeout.map(|d| ns(d.0)),
    }
}

fn links(scenario: &Scenario, by_name: &BTreeMap<String, u16>) -> Vec<LinkInfo> {
    let net = &scenario.network;
    scenario
        .links
        .iter()
        .map(|l| {
            let l = l.get_ref();
            let (latency_ns, jitter_ns, loss) = l.settings_ns(net);
            LinkInfo {
                a: by_name[l.between[0].get_ref()],
                b: by_name[l.between[1].get_ref()],
                latency_ns,
                jitter_ns,
                loss,
            }
        })
        .collect()
}

/// Each load generator's users (user `u` on generator `u % n`, its target `u % targets`) and
/// share of the arrivals.
fn loadgen_plans(scenario: &Scenario, by_name: &BTreeMap<String, u16>, n: u32) -> Vec<LoadgenPlan> {
    let w = &scenario.workload;
    let users = *w.users.get_ref();
    let zipf_s = match &w.popularity {
        Popularity::Uniform => None,
        Popularity::Zipf { s } => Some(*s.get_ref()),
    };
    let api: Vec<_> = scenario.hosts.iter().map(|h| h.get_ref().service.load_api()).collect();
    (0..n)
        .map(|g| {
            let users = (0..users)
                .filter(|u| u % n == g)
                .map(|u| {
                    let target = w.targets[u as usize % w.targets.len()].get_ref();
                    let target_index = by_name[target];
                    let api = api[target_index as usize].expect("validated: workload targets serve requests");
                    let caching = w.resolve.as_ref().map(|r| r.caching(u));
                    UserPlan { id: u, target: target_index, addr: addr(target), api, caching }
                })
                .collect();
            let geography = crate::scenario::regions::Geography::new(scenario);
            let resolve = w.resolve.as_ref().map(|r| r.plan(scenario, geography.loadgen(g), |name| by_name[name]));
            LoadgenPlan {
                index: g,
                resolve,
                users,
                mode: mode(&w.arrival, g, n),
                read_ratio: *w.read_ratio.get_ref(),
                cas_ratio: *w.cas_ratio.get_ref(),
                incr_ratio: *w.incr_ratio.get_ref(),
                checkout_ratio: *w.checkout_ratio.get_ref(),
                page_ratio: *w.page_ratio.get_ref(),
                keys: *w.keys.get_ref(),
                zipf_s,
                value_bytes: w.value_bytes,
                timeout_ns: ns(w.timeout.0),
                duration_ns: ns(scenario.duration.get_ref().0),
                retry: w.retry.as_ref().map(|r| r.plan()),
                login: w.login,
                tenants: w.tenants.iter().map(|t| t.get_ref().clone()).collect(),
            }
        })
        .collect()
}

/// Load generator `g`'s share (1/`n`) of the arrival process.
fn mode(arrival: &Arrival, g: u32, n: u32) -> Mode {
    let share = |r: &Sp<f64>| *r.get_ref() / f64::from(n);
    let at = |d: &Sp<Dur>| ns(d.get_ref().0);
    Mode::Open(match arrival {
        Arrival::Constant { rate } => {
            let rate_each = share(rate);
            let phase_ns = if rate_each > 0.0 { (1e9 / rate_each * f64::from(g) / f64::from(n)) as u64 } else { 0 };
            ArrivalProcess::Constant { rate: rate_each, phase_ns }
        }
        Arrival::Poisson { rate } => ArrivalProcess::Poisson { segments: vec![(0, share(rate))] },
        Arrival::Step { from, to, at: step } => {
            ArrivalProcess::Poisson { segments: vec![(0, share(from)), (at(step), share(to))] }
        }
        Arrival::Spike { base, peak, at: start, length } => ArrivalProcess::Poisson {
            segments: vec![(0, share(base)), (at(start), share(peak)), (at(start) + at(length), share(base))],
        },
        Arrival::Phases(phases) => {
            ArrivalProcess::Poisson { segments: phases.get_ref().iter().map(|p| (at(&p.at), share(&p.rate))).collect() }
        }
        Arrival::Burst { requests, at: start } => {
            // Generator `g` takes every `n`-th request of the burst, from the `g`-th.
            let requests = *requests.get_ref();
            let own = requests / u64::from(n) + u64::from(u64::from(g) < requests % u64::from(n));
            ArrivalProcess::Burst { requests: own, at_ns: at(start) }
        }
        Arrival::Closed { think } => return Mode::Closed { think_ns: ns(think.0) },
    })
}

/// The data-tier checks as the trace header carries them.
fn checks(scenario: &Scenario) -> CheckConfig {
    let c = &scenario.checks;
    let ns = |d: Option<Dur>| d.map(|d| ns(d.0));
    let end_to_end_availability = scenario.slos.iter().find_map(|s| {
        let s = s.get_ref();
        s.service.is_none().then_some(())?;
        s.availability.as_ref().map(|a| *a.get_ref())
    });
    CheckConfig {
        max_rpo_ns: ns(c.max_rpo),
        read_your_writes: c.read_your_writes,
        max_staleness_ns: ns(c.max_staleness),
        linearizable: c.linearizable,
        max_rto_ns: ns(c.max_rto),
        rto_window_ns: c.rto_window.0.as_nanos() as u64,
        recovery_ratio: c.recovery_ratio.as_ref().map(|r| *r.get_ref()).or(end_to_end_availability).unwrap_or(0.99),
    }
}

fn slos(scenario: &Scenario) -> Vec<Slo> {
    scenario
        .slos
        .iter()
        .flat_map(|s| {
            let s = s.get_ref();
            let service = s.service.as_ref().map(|x| x.get_ref().clone());
            let scope = service.clone().unwrap_or_else(|| "end-to-end".into());
            let mut out = Vec::new();
            if let Some(max) = s.latency {
                let quantile = s.quantile.as_ref().map(|q| *q.get_ref()).unwrap_or(0.99);
                let name = s.name.clone().unwrap_or_else(|| format!("{scope} p{} <= {:?}", quantile * 100.0, max.0));
                out.push(Slo {
                    name,
                    service: service.clone(),
                    kind: SloKind::Latency { quantile, max_ns: ns(max.0) },
                });
            }
            if let Some(a) = &s.availability {
                let min_ratio = *a.get_ref();
                let name = s.name.clone().unwrap_or_else(|| format!("{scope} availability >= {}%", min_ratio * 100.0));
                out.push(Slo { name, service, kind: SloKind::Availability { min_ratio } });
            }
            if let Some(max) = &s.max_sessions_lost {
                let max = *max.get_ref();
                let name = s.name.clone().unwrap_or_else(|| format!("sessions lost <= {max}"));
                out.push(Slo { name, service: None, kind: SloKind::SessionsLost { max } });
            }
            if let Some(within) = &s.converged_within {
                let within = within.get_ref().0;
                let name = s.name.clone().unwrap_or_else(|| format!("regions converged within {within:?}"));
                out.push(Slo { name, service: None, kind: SloKind::Converged { within_ns: ns(within) } });
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{LoadApi, ServicePlan};

    fn plan_of(file: &str, seed: Option<u64>) -> RunPlan {
        let path = format!("{}/../scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
        let scenario = crate::scenario::load_file(std::path::Path::new(&path)).expect("a valid scenario");
        compile(&scenario, seed)
    }

    #[test]
    fn compiling_is_deterministic_and_takes_the_seed() {
        let a = serde_json::to_string(&plan_of("failover-async.toml", Some(9))).unwrap();
        let b = serde_json::to_string(&plan_of("failover-async.toml", Some(9))).unwrap();
        assert_eq!(a, b);
        assert_eq!(plan_of("failover-async.toml", Some(9)).seed, 9);
        assert_eq!(plan_of("failover-async.toml", None).seed, 1, "the scenario's own seed");
    }

    #[test]
    fn users_speak_their_target_kinds_api_and_faults_carry_their_undo() {
        let echo = plan_of("echo.toml", None);
        assert!(echo.loadgens.iter().flat_map(|lg| &lg.users).all(|u| u.api == LoadApi::Echo));
        let quick = plan_of("quickstart.toml", None);
        assert!(quick.loadgens.iter().flat_map(|lg| &lg.users).all(|u| u.api == LoadApi::Store));
        assert_eq!(quick.loadgen_index(0) as usize, quick.hosts.len(), "load generators follow the hosts");
        let at: Vec<u64> = quick.faults.iter().map(|f| f.at_ns).collect();
        assert_eq!(at, vec![12_000_000_000, 17_000_000_000]);
    }

    #[test]
    fn managed_kv_nodes_are_known_to_their_plan() {
        let plan = plan_of("failover-async.toml", None);
        let managed: Vec<bool> = plan
            .hosts
            .iter()
            .filter_map(|h| match &h.service {
                ServicePlan::Kv(kv) => Some(kv.managed),
                _ => None,
            })
            .collect();
        assert!(!managed.is_empty());
        let failover = plan.hosts.iter().find(|h| h.kind == "failover").expect("a controller");
        assert_eq!(failover.addr, None, "a controller listens on no port");
        assert_eq!(plan.hosts[0].addr.as_deref(), Some("db1:7000"));
        assert!(managed.iter().all(|m| *m), "every kv node of the group is run by the controller: {managed:?}");
    }
}
