//! Which model each service kind runs, and how a host's scenario settings become its config.
//! Adding a service kind: a variant in `scenario::Service`, an arm here.

use super::SimEnv;
use crate::scenario::{Fsync, Host, PoolModeSpec, ReadsSpec, ReplicationSpec, RouterSpec, Scenario, Service};
use crate::scenario::{ServiceTimeSpec, Sp};
use faultline_models::server::{Capacity, ServiceTime, serve};
use faultline_models::{app, cache, echo, failover, kv, pool, router};
use std::collections::BTreeSet;
use std::future::Future;

/// The port every simulated service listens on.
pub const SERVICE_PORT: u16 = 7000;

/// "host:port" of a service host.
pub(crate) fn addr(host: &str) -> String {
    format!("{host}:{SERVICE_PORT}")
}

fn addrs(hosts: &[Sp<String>]) -> Vec<String> {
    hosts.iter().map(|h| addr(h.get_ref())).collect()
}

fn capacity(host: &Host) -> Capacity {
    let service_time = match &host.service_time {
        ServiceTimeSpec::Zero => ServiceTime::Zero,
        ServiceTimeSpec::Fixed(d) => ServiceTime::Fixed(d.0),
        ServiceTimeSpec::Exponential(d) => ServiceTime::Exponential(d.0),
        ServiceTimeSpec::Lognormal { mean, sigma } => ServiceTime::LogNormal { mean: mean.0, sigma: *sigma.get_ref() },
    };
    let mut capacity = Capacity::new(host.workers, host.queue_limit, service_time);
    capacity.max_connections = host.max_connections;
    capacity.connect_cost = host.connect_cost.0;
    capacity.queue_timeout = host.queue_timeout.map(|d| d.0);
    capacity
}

/// Names of the kv hosts a failover controller manages.
pub(crate) fn managed(scenario: &Scenario) -> BTreeSet<String> {
    let members = scenario.hosts.iter().filter_map(|h| match &h.get_ref().service {
        Service::Failover(f) => Some(f.members.iter().map(|m| m.get_ref().clone())),
        _ => None,
    });
    members.flatten().collect()
}

fn kv_config(k: &crate::scenario::KvService, managed: bool) -> kv::KvConfig {
    let fsync = match k.fsync {
        Fsync::Always => kv::FsyncPolicy::Always,
        Fsync::Never => kv::FsyncPolicy::Never,
    };
    let replication = match &k.replication {
        ReplicationSpec::Async => kv::Replication::Async,
        ReplicationSpec::SemiSync { timeout } => kv::Replication::SemiSync { timeout: timeout.0 },
        ReplicationSpec::Sync { replicas } => kv::Replication::Sync { replicas: *replicas.get_ref() },
    };
    kv::KvConfig { fsync, replication, managed, apply_cost: k.apply_cost.0 }
}

fn router_config(r: &RouterSpec) -> router::RouterConfig {
    router::RouterConfig {
        members: addrs(&r.members),
        reads: match r.reads {
            ReadsSpec::Primary => router::ReadPolicy::Primary,
            ReadsSpec::RoundRobin => router::ReadPolicy::RoundRobin,
            ReadsSpec::LeastLag => router::ReadPolicy::LeastLag,
        },
        max_lag: r.max_lag.map(|d| d.0),
        read_your_writes: r.read_your_writes,
        probe_every: r.probe_every.0,
    }
}

/// The future a host runs (again after every restart). `managed`: a failover controller runs
/// this host's replication group.
pub(crate) fn start(env: SimEnv, host: &Host, managed: bool) -> impl Future<Output = turmoil::Result> + use<> {
    let capacity = capacity(host);
    let service = host.service.clone();
    async move {
        match service {
            Service::Echo => serve(env, SERVICE_PORT, capacity, echo::Echo).await?,
            Service::Kv(k) => {
                let config = kv_config(&k, managed);
                match k.primary {
                    None => serve(env.clone(), SERVICE_PORT, capacity, kv::KvNode::primary(env, config)?).await?,
                    Some(p) => {
                        let node = kv::KvNode::replica(env.clone(), config, addr(p.get_ref()))?;
                        serve(env, SERVICE_PORT, capacity, node).await?
                    }
                }
            }
            Service::Cache(c) => {
                let config = cache::CacheConfig { capacity: c.capacity, ttl: c.ttl.map(|d| d.0) };
                serve(env.clone(), SERVICE_PORT, capacity, cache::CacheNode::new(env, config)).await?
            }
            Service::App(a) => {
                let db = match (&a.db, &a.router) {
                    (_, Some(r)) => app::DbRoute::Routed(router_config(r)),
                    (Some(db), None) => {
                        let read = a.read_from.as_ref().unwrap_or(db);
                        app::DbRoute::Fixed { write_addr: addr(db.get_ref()), read_addr: addr(read.get_ref()) }
                    }
                    (None, None) => return Err("an app needs `db` or `router` (validation lets none through)".into()),
                };
                let config = app::AppConfig {
                    db,
                    cache_addr: a.cache.as_ref().map(|c| addr(c.get_ref())),
                    timeout: a.timeout.0,
                    connect_per_request: a.connect_per_request,
                };
                serve(env.clone(), SERVICE_PORT, capacity, app::App::new(env, &config)).await?
            }
            Service::Failover(f) => {
                let config = failover::FailoverConfig {
                    members: addrs(&f.members),
                    check_every: f.check_every.0,
                    fail_after: f.fail_after.0,
                    lease: f.lease.0,
                    timeout: f.timeout.0,
                };
                failover::run_controller(env, config).await?
            }
            Service::Pool(p) => {
                let config = pool::PoolConfig {
                    backend: addr(p.backend.get_ref()),
                    mode: match p.mode {
                        PoolModeSpec::Session => pool::PoolMode::Session,
                        PoolModeSpec::Transaction => pool::PoolMode::Transaction,
                    },
                    max_server_conns: p.max_server_conns,
                    wait_timeout: p.wait_timeout.0,
                    server_timeout: p.server_timeout.0,
                };
                serve(env.clone(), SERVICE_PORT, capacity, pool::Pooler::new(env, config)).await?
            }
        }
        Ok(())
    }
}
