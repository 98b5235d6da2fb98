//! The geo kind: a node of an active-active store, one per region, every one accepting writes
//! and shipping them to the others (`faultline_models::region`). Its settings name the other
//! regions' nodes (`peers`: a full mesh, each node lists every other), the largest clock
//! offset it accepts from a peer, the heartbeat of idle replication and the width of the
//! windows whose digests show convergence. Load generators and apps use it as a store.
//!
//! A node's region index (the tie-break of equal stamps) is its place in the group's names in
//! order, so every node computes the same indices without being told.

use super::{Kind, LoadApi, PlanContext, Running, Service, Start, Want, ns};
use crate::scenario::validate::Checker;
use crate::scenario::{Dur, Host, Sp};
use crate::world::SimEnv;
use faultline_models::region::{GeoConfig, GeoNode, GeoPeer, PEER_PORT};
use faultline_models::server::{Capacity, serve};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// An active-active store node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoService {
    /// The other regions' nodes (host names of geo hosts); each of them lists this one too.
    #[schemars(with = "Vec<String>")]
    pub peers: Vec<Sp<String>>,
    /// The largest clock offset accepted from a peer: a batch stamped further ahead is
    /// refused. Default "500ms".
    #[serde(default = "max_offset")]
    pub max_offset: Dur,
    /// How often idle replication sends a heartbeat. Default "100ms".
    #[serde(default = "heartbeat")]
    pub heartbeat: Dur,
    /// Width of the windows of stamps whose digests the node reports. Default "1s".
    #[serde(default = "window")]
    pub window: Dur,
}

fn max_offset() -> Dur {
    Dur(Duration::from_millis(500))
}
fn heartbeat() -> Dur {
    Dur(Duration::from_millis(100))
}
fn window() -> Dur {
    Dur(Duration::from_secs(1))
}

/// A geo node in the run plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoPlan {
    /// Its region index.
    pub origin: u16,
    /// The other nodes: region index and "host:port" of their peer port.
    pub peers: Vec<(u16, String)>,
    /// Largest accepted clock offset, nanoseconds.
    pub max_offset_ns: u64,
    /// Heartbeat, nanoseconds.
    pub heartbeat_ns: u64,
    /// Window width, nanoseconds.
    pub window_ns: u64,
}

impl GeoService {
    /// The group's names in order: this node's and its peers'.
    fn group(&self, name: &str) -> Vec<String> {
        let set: BTreeSet<String> =
            self.peers.iter().map(|p| p.get_ref().clone()).chain(std::iter::once(name.to_string())).collect();
        set.into_iter().collect()
    }
}

impl Kind for GeoService {
    type Plan = GeoPlan;
    /// Load generators read and write it, as a kv primary.
    const LOAD: Option<LoadApi> = Some(LoadApi::Store);

    fn kind(&self) -> &'static str {
        "geo"
    }

    /// Writes can go to it.
    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Store => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn validate(&self, c: &mut Checker, _index: usize, host: &Host) {
        let me = host.name.get_ref();
        let group = self.group(me);
        let mut seen = BTreeSet::new();
        for peer in &self.peers {
            let name = peer.get_ref();
            if name == me {
                c.report(
                    peer.span(),
                    "itself",
                    format!("geo node {me:?} lists itself as a peer; expected the other regions' nodes"),
                );
                continue;
            }
            if !seen.insert(name.clone()) {
                c.report(peer.span(), "listed twice", format!("peer {name:?} is listed twice"));
                continue;
            }
            let Some(other) = c.host(peer, "not a host") else { continue };
            let Service::Geo(theirs) = &other.service else {
                let message = format!(
                    "peer {name:?} runs {}, not geo; expected the host name of a geo node",
                    other.service.kind()
                );
                c.report(peer.span(), "not a geo node", message);
                continue;
            };
            if theirs.group(name) != group {
                let message = format!(
                    "geo node {name:?} has the group {:?} and {me:?} has {group:?}; expected every node of an active-active \
                     group to list every other as a peer",
                    theirs.group(name)
                );
                c.report(peer.span(), "not a full mesh", message);
            }
        }
        if group.len() > usize::from(u16::MAX) {
            c.report(host.name.span(), "too many", "a geo group has at most 65535 nodes".into());
        }
    }

    fn compile(&self, name: &str, _cx: &PlanContext) -> GeoPlan {
        let group = self.group(name);
        let index = |n: &str| group.iter().position(|g| g == n).unwrap_or(0) as u16;
        GeoPlan {
            origin: index(name),
            peers: self.peers.iter().map(|p| (index(p.get_ref()), format!("{}:{PEER_PORT}", p.get_ref()))).collect(),
            max_offset_ns: ns(self.max_offset.0),
            heartbeat_ns: ns(self.heartbeat.0),
            window_ns: ns(self.window.0),
        }
    }
}

impl GeoPlan {
    fn config(&self) -> GeoConfig {
        let peers = self.peers.iter().map(|(origin, addr)| GeoPeer { origin: *origin, addr: addr.clone() }).collect();
        GeoConfig {
            max_offset: Duration::from_nanos(self.max_offset_ns),
            heartbeat: Duration::from_nanos(self.heartbeat_ns),
            window: Duration::from_nanos(self.window_ns),
            ..GeoConfig::new(self.origin, peers)
        }
    }

    /// Opens the node from its disk, starts replication, and serves clients and peers.
    async fn run(self, env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
        let node = GeoNode::open(env.clone(), self.config()).map_err(std::io::Error::other)?;
        node.replicate();
        let peers = serve(env.clone(), PEER_PORT, Capacity::default(), node.peer_port());
        let clients = serve(env, super::SERVICE_PORT, capacity, node);
        tokio::try_join!(peers, clients).map(|_| ())
    }
}

impl Start for GeoPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(self.clone().run(env, capacity))
    }
}
