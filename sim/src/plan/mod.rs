//! The run plan: what a validated scenario compiles to, and all the world is built from.
//!
//! A [`RunPlan`] is pure, typed data: times in nanoseconds, hosts by index with what runs on
//! each and where it listens, links, load generators and their users, the fault schedule, the
//! objectives and checks. [`compile`] builds it once from a validated scenario and a seed;
//! [`crate::World::build`] takes it, so no spanned scenario value travels past the compiler.
//! `faultline plan` prints it ([`RunPlan::render_text`], or JSON through `Serialize`), so a
//! user sees what will run before running it.
//!
//! Owns: the plan's types and their text form. Must not: know turmoil, or read anything but
//! the scenario it is handed (compiling is deterministic: the same scenario and seed, the same
//! plan).

mod compile;
mod text;

pub use compile::compile;

use crate::services::ServicePlan;
use crate::workload::LoadgenPlan;
use faultline_chaos::check::CheckConfig;
use faultline_chaos::fault::ScheduledFault;
use faultline_chaos::slo::Slo;
use faultline_chaos::trace::{Header, HostInfo, LinkInfo};
use serde::Serialize;

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
    /// Links whose settings differ from the network's.
    pub links: Vec<LinkInfo>,
    /// The load generators, hosts `hosts.len()` on.
    pub loadgens: Vec<LoadgenPlan>,
    /// The faults in time order, each undo in its place.
    pub faults: Vec<ScheduledFault>,
    /// The objectives.
    pub slos: Vec<Slo>,
    /// The data-tier checks.
    pub checks: CheckConfig,
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

impl RunPlan {
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
        }
    }
}
