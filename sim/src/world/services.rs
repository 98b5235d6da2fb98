//! Which model each service kind runs, and how a host's scenario settings become its config.
//! Adding a service kind: a variant in `scenario::Service`, an arm here.

use super::SimEnv;
use crate::scenario::{Fsync, Host, Service, ServiceTimeSpec};
use faultline_models::server::{Capacity, ServiceTime};
use std::future::Future;

/// The port every simulated service listens on.
pub const SERVICE_PORT: u16 = 7000;

/// "host:port" of a service host.
pub(crate) fn addr(host: &str) -> String {
    format!("{host}:{SERVICE_PORT}")
}

fn capacity(host: &Host) -> Capacity {
    let service_time = match &host.service_time {
        ServiceTimeSpec::Zero => ServiceTime::Zero,
        ServiceTimeSpec::Fixed(d) => ServiceTime::Fixed(d.0),
        ServiceTimeSpec::Exponential(d) => ServiceTime::Exponential(d.0),
    };
    Capacity { workers: host.workers, queue_limit: host.queue_limit, service_time }
}

/// The future a host runs (again after every restart).
pub(crate) fn start(env: SimEnv, host: &Host) -> impl Future<Output = turmoil::Result> + use<> {
    let capacity = capacity(host);
    let service = host.service.clone();
    async move {
        use faultline_models::{app, cache, echo, kv};
        match service {
            Service::Echo => faultline_models::server::serve(env, SERVICE_PORT, capacity, echo::Echo).await?,
            Service::Kv(k) => {
                let fsync = match k.fsync {
                    Fsync::Always => kv::FsyncPolicy::Always,
                    Fsync::Never => kv::FsyncPolicy::Never,
                };
                let config = kv::KvConfig { fsync };
                match k.primary {
                    None => kv::run_primary(env, SERVICE_PORT, capacity, config).await?,
                    Some(p) => kv::run_replica(env, SERVICE_PORT, capacity, addr(p.get_ref()), config).await?,
                }
            }
            Service::Cache(c) => {
                let config = cache::CacheConfig { capacity: c.capacity, ttl: c.ttl.map(|d| d.0) };
                cache::run_cache(env, SERVICE_PORT, capacity, config).await?
            }
            Service::App(a) => {
                let read = a.read_from.as_ref().unwrap_or(&a.db);
                let config = app::AppConfig {
                    db_addr: addr(a.db.get_ref()),
                    read_addr: addr(read.get_ref()),
                    cache_addr: a.cache.as_ref().map(|c| addr(c.get_ref())),
                    timeout: a.timeout.0,
                };
                app::run_app(env, SERVICE_PORT, capacity, config).await?
            }
        }
        Ok(())
    }
}
