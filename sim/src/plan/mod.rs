//! The run plan: what a validated scenario compiles to, and all the world is built from.
//!
//! A [`RunPlan`] is pure, typed data: times in nanoseconds, hosts by index with what runs on
//! each and where it listens, links, regions, load generators and their users, the fault schedule, the
//! objectives and checks. [`compile`] builds it once from a validated scenario and a seed;
//! [`crate::World::build`] takes it, so no spanned scenario value travels past the compiler.
//! `faultline plan` prints it ([`RunPlan::render_text`], or JSON through `Serialize`), so a
//! user sees what will run before running it.
//!
//! A plan can be changed before a world is built from it: its open-loop arrivals scaled
//! ([`RunPlan::scale_arrivals`], what `faultline capacity` searches over) and its faults dropped
//! ([`RunPlan::drop_faults`]).
//!
//! Owns: the plan's types, their text form, and those two changes. Must not: know turmoil, or
//! read anything but the scenario it is handed (compiling is deterministic: the same scenario
//! and seed, the same plan).

mod compile;
mod regions;
mod text;

pub use compile::{compile, compile_planted};
pub use regions::{RegionLinkPlan, RegionPlan};

use crate::services::ServicePlan;
use crate::workload::arrivals::ArrivalProcess;
use crate::workload::{LoadgenPlan, Mode};
use faultline_chaos::check::CheckConfig;
use faultline_chaos::fault::ScheduledFault;
use faultline_chaos::slo::Slo;
use faultline_chaos::trace::{Header, HostInfo, LinkInfo, Shards};
use serde::Serialize;

/// How often the world samples gauges (rounded up to whole ticks: [`RunPlan::sample_ns`]).
pub const SAMPLE_EVERY_NS: u64 = 100_000_000;

/// Everything one run does.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed every random stream derives from.
    pub seed: u64,
    /// Length of the workload, nanoseconds.
    pub duration_ns: u64,
    /// When the world stops at the latest (the duration, the drain of late replies, two
    /// ticks), nanoseconds.
    pub end_ns: u64,
    /// Width of a metrics window in the report, nanoseconds.
    pub window_ns: u64,
    /// The simulation step, nanoseconds.
    pub tick_ns: u64,
    /// Settings of every link not listed in `links`.
    pub network: NetworkPlan,
    /// The service hosts, by index (the trace's host ids); the load generators follow them.
    pub hosts: Vec<HostPlan>,
    /// Links whose settings differ from the network's: the `[[links]]` entries, then the
    /// pairs of hosts the regions' settings reach.
    pub links: Vec<LinkInfo>,
    /// The regions, each with its hosts, its users and the settings inside it (empty without
    /// regions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionPlan>,
    /// The settings between two regions, as the file states them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub region_links: Vec<RegionLinkPlan>,
    /// The load generators, hosts `hosts.len()` on.
    pub loadgens: Vec<LoadgenPlan>,
    /// The faults in time order, each undo in its place.
    pub faults: Vec<ScheduledFault>,
    /// The objectives.
    pub slos: Vec<Slo>,
    /// The data-tier checks.
    pub checks: CheckConfig,
    /// The workload's tenants and the sharded database's groups (empty without them).
    #[serde(skip_serializing_if = "Shards::is_empty")]
    pub shards: Shards,
    /// The autoscaled pool, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<crate::autoscale::AutoscalePlan>,
    /// The deploy, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy::DeployPlan>,
    /// The bug planted in the models for this run, if any (tests of the checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plant: Option<crate::plant::Plant>,
}

/// Latency, jitter and loss of the links no `[[links]]` entry names, and the retransmission
/// timeout of every link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkPlan {
    /// One-way latency, nanoseconds.
    pub latency_ns: u64,
    /// Extra random one-way latency up to this, nanoseconds.
    pub jitter_ns: u64,
    /// Probability that a segment is lost once.
    pub loss: f64,
    /// Retransmission timeout, nanoseconds.
    pub rto_ns: u64,
}

/// One service host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPlan {
    /// Its name (also its network name).
    pub name: String,
    /// Tier or region for grouping.
    pub group: String,
    /// The kind of service, as reports show it.
    pub kind: String,
    /// "host:port" it listens on; `None` when it listens on no port.
    pub addr: Option<String>,
    /// How far its clock is off from the start, nanoseconds (negative: behind).
    pub clock_skew_ns: i64,
    /// Its worker slots, queue, service time and connection limits.
    pub capacity: CapacityPlan,
    /// What it runs.
    pub service: ServicePlan,
}

/// A host's capacity, as `faultline_models::server::Capacity` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityPlan {
    /// Worker slots serving requests at once.
    pub workers: usize,
    /// Requests allowed to wait for a slot.
    pub queue_limit: usize,
    /// Cost of one request.
    pub service_time: ServiceTimePlan,
    /// Connections open at once; `None`: no limit.
    pub max_connections: Option<usize>,
    /// How long a new connection takes to set up, nanoseconds.
    pub connect_cost_ns: u64,
    /// The longest a request may wait for a slot, nanoseconds; `None`: no limit.
    pub queue_timeout_ns: Option<u64>,
}

/// The cost of one request, in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTimePlan {
    /// None.
    Zero,
    /// Always this long, nanoseconds.
    Fixed {
        /// The cost.
        ns: u64,
    },
    /// Exponential with this mean, nanoseconds.
    Exponential {
        /// The mean.
        mean_ns: u64,
    },
    /// Log-normal with this mean and shape.
    Lognormal {
        /// The mean, nanoseconds.
        mean_ns: u64,
        /// The spread of the logarithm.
        sigma: f64,
    },
}

impl CapacityPlan {
    /// The model's capacity.
    pub(crate) fn capacity(&self) -> faultline_models::server::Capacity {
        use faultline_models::server::{Capacity, ServiceTime};
        use std::time::Duration;
        let service_time = match self.service_time {
            ServiceTimePlan::Zero => ServiceTime::Zero,
            ServiceTimePlan::Fixed { ns } => ServiceTime::Fixed(Duration::from_nanos(ns)),
            ServiceTimePlan::Exponential { mean_ns } => ServiceTime::Exponential(Duration::from_nanos(mean_ns)),
            ServiceTimePlan::Lognormal { mean_ns, sigma } => {
                ServiceTime::LogNormal { mean: Duration::from_nanos(mean_ns), sigma }
            }
        };
        let mut capacity = Capacity::new(self.workers, self.queue_limit, service_time);
        capacity.max_connections = self.max_connections;
        capacity.connect_cost = Duration::from_nanos(self.connect_cost_ns);
        capacity.queue_timeout = self.queue_timeout_ns.map(Duration::from_nanos);
        capacity
    }
}

/// Why a plan's load cannot be scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    /// The workload is closed loop: its pace follows the replies, it has no rate.
    #[error(
        "the workload is closed loop (`arrival = {{ closed = ... }}`): its pace follows the replies, so it has no \
         rate to scale; expected an open-loop arrival: constant, poisson, step or spike"
    )]
    ClosedLoop,
    /// The workload's rate is 0 over the whole run.
    #[error("the workload's arrival rate is 0 over the whole run, so it has no rate to scale; expected a rate above 0")]
    NoRate,
}

/// The mean rate of one generator's arrivals over `[0, duration_ns)`, per second.
fn mean_rate(process: &ArrivalProcess, duration_ns: u64) -> f64 {
    match process {
        ArrivalProcess::Constant { rate, .. } => *rate,
        ArrivalProcess::Poisson { segments } => {
            let mut weighted = 0.0;
            for (i, &(from_ns, rate)) in segments.iter().enumerate() {
                let to_ns = segments.get(i + 1).map_or(duration_ns, |s| s.0).min(duration_ns);
                weighted += rate * to_ns.saturating_sub(from_ns) as f64;
            }
            weighted / duration_ns.max(1) as f64
        }
        ArrivalProcess::Burst { requests, at_ns } => {
            let requests = if *at_ns < duration_ns { *requests } else { 0 };
            requests as f64 * 1e9 / duration_ns.max(1) as f64
        }
    }
}

impl RunPlan {
    /// The mean arrival rate of the workload over the run, all load generators together, per
    /// second.
    pub fn offered_rate(&self) -> Result<f64, ScaleError> {
        let mut total = 0.0;
        for lg in &self.loadgens {
            match &lg.mode {
                Mode::Open(process) => total += mean_rate(process, self.duration_ns),
                Mode::Closed { .. } => return Err(ScaleError::ClosedLoop),
            }
        }
        if total > 0.0 { Ok(total) } else { Err(ScaleError::NoRate) }
    }

    /// Multiplies every open-loop arrival rate by `factor` (finite, > 0): the same shape over
    /// time (a step still steps, a spike still spikes), `factor` times the load. An evenly
    /// spaced generator's phase shrinks with its gap, so generators stay interleaved.
    pub fn scale_arrivals(&mut self, factor: f64) -> Result<(), ScaleError> {
        assert!(factor.is_finite() && factor > 0.0, "a scale factor is finite and > 0, not {factor}");
        self.offered_rate()?;
        for lg in &mut self.loadgens {
            match &mut lg.mode {
                Mode::Open(ArrivalProcess::Constant { rate, phase_ns }) => {
                    *rate *= factor;
                    *phase_ns = (*phase_ns as f64 / factor) as u64;
                }
                Mode::Open(ArrivalProcess::Poisson { segments }) => {
                    for (_, rate) in segments.iter_mut() {
                        *rate *= factor;
                    }
                }
                Mode::Open(ArrivalProcess::Burst { requests, .. }) => {
                    *requests = (*requests as f64 * factor).round() as u64;
                }
                Mode::Closed { .. } => return Err(ScaleError::ClosedLoop),
            }
        }
        Ok(())
    }

    /// Removes every scheduled fault (and its undo): the system as built, undisturbed.
    pub fn drop_faults(&mut self) {
        self.faults.clear();
    }

    /// The name of load generator `g`.
    pub fn loadgen_name(g: u32) -> String {
        format!("lg{g}")
    }

    /// The host index of load generator `g`.
    pub fn loadgen_index(&self, g: u32) -> u16 {
        u16::try_from(self.hosts.len() + g as usize).expect("validated: every host index fits in a u16")
    }

    /// The trace header of this run.
    pub fn header(&self) -> Header {
        let mut hosts: Vec<HostInfo> = self
            .hosts
            .iter()
            .map(|h| HostInfo { name: h.name.clone(), service: h.kind.clone(), group: h.group.clone() })
            .collect();
        for lg in &self.loadgens {
            let name = Self::loadgen_name(lg.index);
            hosts.push(HostInfo { name, service: "loadgen".into(), group: "loadgen".into() });
        }
        Header {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            rand_version: "rand 0.9 / rand_chacha 0.9 (ChaCha8)".to_string(),
            scenario: self.scenario.clone(),
            seed: self.seed,
            duration_ns: self.duration_ns,
            window_ns: self.window_ns,
            hosts,
            links: self.links.clone(),
            slos: self.slos.clone(),
            checks: self.checks.clone(),
            shards: self.shards.clone(),
            regions: regions::header_regions(&self.regions),
            sample_ns: self.sample_ns(),
        }
    }

    /// How often gauges are sampled: every [`SAMPLE_EVERY_NS`], rounded up to whole ticks (the
    /// world samples at the end of a step).
    pub fn sample_ns(&self) -> u64 {
        SAMPLE_EVERY_NS.div_ceil(self.tick_ns.max(1)) * self.tick_ns.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(toml: &str) -> RunPlan {
        let scenario = crate::scenario::parse_str("test.toml", toml).expect("a valid scenario");
        compile(&scenario, None)
    }

    const HOSTS: &str = "name = \"t\"\nduration = \"10s\"\n[[hosts]]\nname = \"e\"\nservice = \"echo\"\n";

    fn with_arrival(arrival: &str) -> RunPlan {
        plan_of(&format!(
            "{HOSTS}[workload]\ntargets = [\"e\"]\nusers = 4\nloadgens = 2\narrival = {arrival}\n\
             [[faults]]\nat = \"1s\"\nfault = {{ kill = \"e\" }}\n"
        ))
    }

    #[test]
    fn scaling_multiplies_every_rate_and_keeps_the_shape() {
        let mut poisson = with_arrival("{ poisson = { rate = 100 } }");
        assert_eq!(poisson.offered_rate(), Ok(100.0));
        poisson.scale_arrivals(2.5).unwrap();
        assert_eq!(poisson.offered_rate(), Ok(250.0));
        let mut step = with_arrival("{ step = { from = 100, to = 300, at = \"5s\" } }");
        assert_eq!(step.offered_rate(), Ok(200.0), "half the run at each rate");
        step.scale_arrivals(0.5).unwrap();
        assert_eq!(step.offered_rate(), Ok(100.0));
        let Mode::Open(ArrivalProcess::Poisson { segments }) = &step.loadgens[1].mode else { panic!("poisson") };
        assert_eq!(segments, &vec![(0, 25.0), (5_000_000_000, 75.0)], "each generator's half, halved");
        let mut constant = with_arrival("{ constant = { rate = 100 } }");
        constant.scale_arrivals(4.0).unwrap();
        let Mode::Open(ArrivalProcess::Constant { rate, phase_ns }) = constant.loadgens[1].mode else { panic!() };
        assert_eq!((rate, phase_ns), (200.0, 2_500_000), "the second generator half a gap behind the first");
    }

    #[test]
    fn a_burst_is_shared_between_the_generators_and_scaled_by_its_count() {
        let mut burst = with_arrival("{ burst = { requests = 5, at = \"2s\" } }");
        let mine: Vec<_> = burst.loadgens.iter().map(|lg| lg.mode.clone()).collect();
        assert_eq!(
            mine,
            [
                Mode::Open(ArrivalProcess::Burst { requests: 3, at_ns: 2_000_000_000 }),
                Mode::Open(ArrivalProcess::Burst { requests: 2, at_ns: 2_000_000_000 }),
            ],
            "the first generator takes the odd one"
        );
        assert_eq!(burst.offered_rate(), Ok(0.5), "5 requests over 10 s");
        burst.scale_arrivals(2.0).unwrap();
        assert_eq!(burst.offered_rate(), Ok(1.0));
        let text = burst.render_text();
        assert!(text.contains("burst of 6 at 2s"), "{text}");
    }

    #[test]
    fn a_closed_loop_or_a_zero_rate_cannot_be_scaled() {
        let mut closed = with_arrival("{ closed = { think = \"1ms\" } }");
        assert_eq!(closed.offered_rate(), Err(ScaleError::ClosedLoop));
        assert_eq!(closed.scale_arrivals(2.0), Err(ScaleError::ClosedLoop));
        assert!(ScaleError::ClosedLoop.to_string().contains("open-loop"));
        let mut idle = with_arrival("{ poisson = { rate = 0 } }");
        assert_eq!(idle.scale_arrivals(2.0), Err(ScaleError::NoRate));
    }

    #[test]
    fn dropping_faults_leaves_the_rest_of_the_plan() {
        let mut plan = with_arrival("{ poisson = { rate = 100 } }");
        assert_eq!(plan.faults.len(), 1);
        let hosts = plan.hosts.clone();
        plan.drop_faults();
        assert!(plan.faults.is_empty());
        assert_eq!(plan.hosts, hosts);
    }
}
