//! The layout of a run: host indices, the trace header, and each load generator's share of
//! the workload.

use super::RunError;
use super::services::addr;
use crate::scenario::{Arrival, Popularity, Scenario, Service};
use crate::workload::arrivals::ArrivalProcess;
use crate::workload::{LoadgenPlan, Mode, UserPlan};
use faultline_chaos::check::CheckConfig;
use faultline_chaos::slo::{Slo, SloKind};
use faultline_chaos::trace::{Header, HostInfo, LinkInfo};
use std::collections::BTreeMap;

pub(crate) struct Layout {
    pub(crate) by_name: BTreeMap<String, u16>,
    hosts: usize,
    loadgens: u32,
}

impl Layout {
    pub(crate) fn new(scenario: &Scenario) -> Result<Self, RunError> {
        let loadgens = *scenario.workload.loadgens.get_ref();
        let total = scenario.hosts.len() + loadgens as usize;
        if total > usize::from(u16::MAX) {
            return Err(RunError::Layout(format!("{total} hosts: the limit is {}", u16::MAX)));
        }
        let mut by_name = BTreeMap::new();
        for (i, h) in scenario.hosts.iter().enumerate() {
            by_name.insert(h.get_ref().name.get_ref().clone(), i as u16);
        }
        for g in 0..loadgens {
            // Validation reserves every name of this form.
            let clash = by_name.insert(format!("lg{g}"), (scenario.hosts.len() + g as usize) as u16);
            debug_assert!(clash.is_none(), "a host is named like load generator {g}");
        }
        Ok(Self { by_name, hosts: scenario.hosts.len(), loadgens })
    }

    pub(crate) fn loadgen_index(&self, g: u32) -> u16 {
        (self.hosts + g as usize) as u16
    }

    pub(crate) fn header(&self, scenario: &Scenario, seed: u64) -> Header {
        let mut hosts: Vec<HostInfo> = scenario
            .hosts
            .iter()
            .map(|h| {
                let h = h.get_ref();
                let service = h.service.kind().to_string();
                HostInfo {
                    name: h.name.get_ref().clone(),
                    group: h.group.clone().unwrap_or_else(|| service.clone()),
                    service,
                }
            })
            .collect();
        for g in 0..self.loadgens {
            hosts.push(HostInfo { name: format!("lg{g}"), service: "loadgen".into(), group: "loadgen".into() });
        }
        let net = &scenario.network;
        let links = scenario
            .links
            .iter()
            .map(|l| {
                let l = l.get_ref();
                LinkInfo {
                    a: self.by_name[l.between[0].get_ref()],
                    b: self.by_name[l.between[1].get_ref()],
                    latency_ns: l.latency.unwrap_or(net.latency).0.as_nanos() as u64,
                    jitter_ns: l.jitter.unwrap_or(net.jitter).0.as_nanos() as u64,
                    loss: l.loss.as_ref().map(|x| *x.get_ref()).unwrap_or(*net.loss.get_ref()),
                }
            })
            .collect();
        Header {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            rand_version: "rand 0.9 / rand_chacha 0.9 (ChaCha8)".to_string(),
            scenario: scenario.name.clone(),
            seed,
            duration_ns: scenario.duration.get_ref().0.as_nanos() as u64,
            window_ns: scenario.window.get_ref().0.as_nanos() as u64,
            hosts,
            links,
            slos: slos(scenario),
            checks: checks(scenario),
        }
    }

    /// Each load generator's users and share of the arrivals.
    pub(crate) fn loadgens(&self, scenario: &Scenario) -> Vec<LoadgenPlan> {
        let w = &scenario.workload;
        let users = *w.users.get_ref();
        let zipf_s = match &w.popularity {
            Popularity::Uniform => None,
            Popularity::Zipf { s } => Some(*s.get_ref()),
        };
        // Which hosts serve echo only, found once rather than per user.
        let echo_hosts: std::collections::BTreeSet<u16> = scenario
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| matches!(h.get_ref().service, Service::Echo))
            .map(|(i, _)| i as u16)
            .collect();
        (0..self.loadgens)
            .map(|g| {
                let users = (0..users)
                    .filter(|u| u % self.loadgens == g)
                    .map(|u| {
                        let target = w.targets[u as usize % w.targets.len()].get_ref();
                        let target_index = self.by_name[target];
                        let echo = echo_hosts.contains(&target_index);
                        UserPlan { id: u, target: target_index, addr: addr(target), echo }
                    })
                    .collect();
                LoadgenPlan {
                    index: g,
                    users,
                    mode: mode(&w.arrival, g, self.loadgens),
                    read_ratio: *w.read_ratio.get_ref(),
                    cas_ratio: *w.cas_ratio.get_ref(),
                    keys: *w.keys.get_ref(),
                    zipf_s,
                    value_bytes: w.value_bytes,
                    timeout: w.timeout.0,
                    duration: scenario.duration.get_ref().0,
                }
            })
            .collect()
    }
}

/// Load generator `g`'s share (1/`n`) of the arrival process.
fn mode(arrival: &Arrival, g: u32, n: u32) -> Mode {
    let share = |r: &toml::Spanned<f64>| *r.get_ref() / f64::from(n);
    let ns = |d: &toml::Spanned<crate::scenario::Dur>| d.get_ref().0.as_nanos() as u64;
    Mode::Open(match arrival {
        Arrival::Constant { rate } => {
            let rate_each = share(rate);
            let phase_ns = if rate_each > 0.0 { (1e9 / rate_each * f64::from(g) / f64::from(n)) as u64 } else { 0 };
            ArrivalProcess::Constant { rate: rate_each, phase_ns }
        }
        Arrival::Poisson { rate } => ArrivalProcess::Poisson { segments: vec![(0, share(rate))] },
        Arrival::Step { from, to, at } => {
            ArrivalProcess::Poisson { segments: vec![(0, share(from)), (ns(at), share(to))] }
        }
        Arrival::Spike { base, peak, at, length } => ArrivalProcess::Poisson {
            segments: vec![(0, share(base)), (ns(at), share(peak)), (ns(at) + ns(length), share(base))],
        },
        Arrival::Closed { think } => return Mode::Closed { think: think.0 },
    })
}

/// The data-tier checks as the trace header carries them.
fn checks(scenario: &Scenario) -> CheckConfig {
    let c = &scenario.checks;
    let ns = |d: Option<crate::scenario::Dur>| d.map(|d| d.0.as_nanos() as u64);
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
                    kind: SloKind::Latency { quantile, max_ns: max.0.as_nanos() as u64 },
                });
            }
            if let Some(a) = &s.availability {
                let min_ratio = *a.get_ref();
                let name = s.name.clone().unwrap_or_else(|| format!("{scope} availability >= {}%", min_ratio * 100.0));
                out.push(Slo { name, service, kind: SloKind::Availability { min_ratio } });
            }
            out
        })
        .collect()
}
