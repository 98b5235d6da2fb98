//! How the app reaches its store: fixed addresses, a router over one replicated group, or a
//! sharded database (several replicated groups, each key's tenant looked up in a directory).
//!
//! Owns [`DbRoute`] (the configuration), [`Store`] (the connections and routers it builds),
//! the reads and writes over each, the health read, and [`UpstreamError`] (how a dependency's
//! failure is named in the reply). Must not know caches, HTTP or anything above the store call.
//!
//! - `Fixed`: writes to one address, reads to another; a failed replica read falls back to the
//!   primary once (counted in "read_fallbacks"), through the replica breaker when there is one.
//! - `Routed`: a [`Router`] follows the group's primary (see [`crate::router`]).
//! - `Sharded`: one router per group; a key's tenant (its bytes up to the first `:`) picks
//!   the group through a [`Directory`](crate::shard::directory::Directory). The routers share
//!   their counters, so the host's router gauges add up its groups. A health read asks every
//!   group and passes when any answers: an app that can serve some tenants is up, and a
//!   load balancer that took it out for one shard would fail every tenant with it.

use super::AppError;
use crate::breaker::{Breaker, BreakerError};
use crate::client::CallError;
use crate::kv::api::Msg;
use crate::proto::ErrorCode;
use crate::router::{Connections, Counters, Link, RouteError, Router, RouterConfig};
use crate::seam::Env;
use crate::shard::{Node, Scheme, ShardError, Sharder};
use faultline_vocab::gauge;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// Where the app's store calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbRoute {
    /// Fixed addresses ("host:port").
    Fixed {
        /// The primary: every write goes here.
        write_addr: String,
        /// Where reads that miss the cache go: a replica or the primary.
        read_addr: String,
    },
    /// A router over a replicated group that follows its primary.
    Routed(RouterConfig),
    /// Several replicated groups, keys placed by their tenant.
    Sharded(ShardedDb),
}

/// A sharded database: replicated groups and the tenant directory that places keys on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedDb {
    /// Each group's name and its router's configuration, in a fixed order (unknown tenants
    /// without a default are jump-hashed over this order).
    pub groups: Vec<(String, RouterConfig)>,
    /// Tenant -> group name.
    pub tenants: BTreeMap<String, String>,
    /// The group of tenants the table does not name; `None`: they are jump-hashed.
    pub default: Option<String>,
}

impl ShardedDb {
    /// The tenant directory over the groups, in their order; an error when a tenant or the
    /// default names no group, or a tenant name could match no key.
    pub fn directory(&self) -> Result<Sharder, ShardError> {
        let node = |name: &String| Node::from(name.as_str());
        let scheme = Scheme::Directory {
            tenants: self.tenants.iter().map(|(tenant, group)| (tenant.clone(), node(group))).collect(),
            default: self.default.as_ref().map(node),
        };
        Sharder::new(scheme, self.groups.iter().map(|(name, _)| node(name)).collect())
    }
}

/// Why a dependency did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The dependency could not be reached, or did not answer in time.
    #[error("{dependency}: {source}")]
    Transport {
        /// Which dependency ("db", "read store", "cache").
        dependency: &'static str,
        /// The transport failure (it names the address).
        source: CallError,
    },
    /// The dependency answered with an error.
    #[error("{dependency} at {addr} answered {code:?}: {detail}")]
    Refused {
        /// Which dependency.
        dependency: &'static str,
        /// Its address.
        addr: String,
        /// Its error code.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// The dependency answered with a message that does not fit the request.
    #[error("{dependency} at {addr} answered an unexpected {got}")]
    Unexpected {
        /// Which dependency.
        dependency: &'static str,
        /// Its address.
        addr: String,
        /// The kind of message it sent.
        got: &'static str,
    },
    /// The routed store gave no usable answer (the error names the member or the cause).
    #[error("db: {0}")]
    Routed(#[from] RouteError),
}

impl UpstreamError {
    /// The error reply to the app's client: `Upstream`, except for a compare-and-set the store
    /// refused because the value differed, a definite answer the client must see as it is.
    pub(crate) fn reply(&self) -> Msg {
        let code = match self {
            UpstreamError::Refused { code: ErrorCode::CasMismatch, .. }
            | UpstreamError::Routed(RouteError::Refused { code: ErrorCode::CasMismatch, .. }) => ErrorCode::CasMismatch,
            _ => ErrorCode::Upstream,
        };
        Msg::Error { code, detail: self.to_string() }
    }
}

/// One dependency at a fixed address, and the name errors give it.
pub(super) struct Dependency<E: Env> {
    name: &'static str,
    pub(super) link: Link<E>,
}

impl<E: Env> Dependency<E> {
    fn new(env: &E, name: &'static str, addr: &str, timeout: Duration, connections: Connections) -> Self {
        Self { name, link: Link::new(env, addr, timeout, connections) }
    }

    /// Calls the dependency; an `Error` reply becomes [`UpstreamError::Refused`].
    pub(super) async fn call(&self, msg: Msg, limit: Duration) -> Result<Msg, UpstreamError> {
        match self.link.call(msg, limit).await {
            Ok(Msg::Error { code, detail }) => {
                Err(UpstreamError::Refused { dependency: self.name, addr: self.link.addr().to_string(), code, detail })
            }
            Ok(reply) => Ok(reply),
            Err(source) => Err(UpstreamError::Transport { dependency: self.name, source }),
        }
    }

    fn unexpected(&self, reply: &Msg) -> UpstreamError {
        UpstreamError::Unexpected { dependency: self.name, addr: self.link.addr().to_string(), got: reply.name() }
    }

    /// Reads `key`: the value and the LSN the store answered with.
    async fn get(&self, key: &[u8], limit: Duration) -> Result<(Option<Vec<u8>>, u64), UpstreamError> {
        match self.call(Msg::Get { key: key.to_vec(), min_lsn: 0 }, limit).await? {
            Msg::Value { value, lsn } => Ok((value, lsn)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Sends a write (`Put`, `Delete` or `Cas`): the `Written` reply.
    async fn write(&self, msg: Msg, limit: Duration) -> Result<Msg, UpstreamError> {
        match self.call(msg, limit).await? {
            written @ Msg::Written { .. } => Ok(written),
            other => Err(self.unexpected(&other)),
        }
    }
}

/// The store behind the app, as built from a [`DbRoute`].
pub(super) enum Route<E: Env> {
    Fixed {
        db: Dependency<E>,
        read: Dependency<E>,
        /// Reads go to a different node than writes (a replica): a failed read falls back to `db`.
        read_is_replica: bool,
    },
    Routed(Router<E>),
    Sharded {
        /// The tenant directory over the group names.
        directory: Sharder,
        /// One router per group, in the directory's node order.
        groups: Vec<Router<E>>,
    },
}

/// The store and the counter of reads that fell back from a replica to the primary.
pub(super) struct Store<E: Env> {
    env: E,
    timeout: Duration,
    pub(super) route: Route<E>,
    read_fallbacks: Cell<u64>,
}

impl<E: Env> Store<E> {
    /// Builds the connections (they open lazily) and routers (they start probing at once).
    pub(super) fn new(env: &E, db: &DbRoute, timeout: Duration, connections: Connections) -> Result<Self, AppError> {
        let route = match db {
            DbRoute::Fixed { write_addr, read_addr } => Route::Fixed {
                db: Dependency::new(env, "db", write_addr, timeout, connections),
                read: Dependency::new(env, "read store", read_addr, timeout, connections),
                read_is_replica: read_addr != write_addr,
            },
            DbRoute::Routed(routes) => {
                Route::Routed(Router::with_connections(env.clone(), routes.clone(), timeout, connections))
            }
            DbRoute::Sharded(sharded) => {
                let directory = sharded.directory().map_err(AppError::Directory)?;
                let counters = Rc::new(Counters::default());
                let groups = sharded
                    .groups
                    .iter()
                    .map(|(_, config)| {
                        Router::with_counters(env.clone(), config.clone(), timeout, connections, counters.clone())
                    })
                    .collect();
                Route::Sharded { directory, groups }
            }
        };
        Ok(Self { env: env.clone(), timeout, route, read_fallbacks: Cell::new(0) })
    }

    /// Reads that fell back from a replica to the primary so far.
    pub(super) fn read_fallbacks(&self) -> u64 {
        self.read_fallbacks.get()
    }

    /// Reads `key` with read token `min_lsn`: the value and its LSN, or the error reply to
    /// send. `replica_breaker` guards reads from a fixed replica.
    pub(super) async fn get(
        &self,
        key: &[u8],
        min_lsn: u64,
        replica_breaker: Option<&Breaker<E>>,
    ) -> Result<(Option<Vec<u8>>, u64), Msg> {
        let timeout = self.timeout;
        match &self.route {
            Route::Fixed { db, read, read_is_replica } => {
                let replica_breaker = replica_breaker.filter(|_| *read_is_replica);
                let first = match replica_breaker {
                    Some(breaker) => match breaker.call(read.get(key, timeout)).await {
                        Ok(found) => return Ok(found),
                        Err(BreakerError::Inner(e)) => e.to_string(),
                        Err(open @ BreakerError::Open { .. }) => format!("read store: {open}"),
                    },
                    None => match read.get(key, timeout).await {
                        Ok(found) => return Ok(found),
                        Err(first) if *read_is_replica => first.to_string(),
                        Err(e) => return Err(e.reply()),
                    },
                };
                // A failed replica read falls back to the primary, as read/write routers do.
                self.read_fallbacks.set(self.read_fallbacks.get() + 1);
                self.env.gauge(gauge::READ_FALLBACKS, self.read_fallbacks.get() as i64);
                db.get(key, timeout).await.map_err(|e| {
                    let detail = format!("{first}; then, falling back: {e}");
                    Msg::Error { code: ErrorCode::Upstream, detail }
                })
            }
            Route::Routed(router) => routed_get(router, key, min_lsn, timeout).await,
            Route::Sharded { directory, groups } => {
                routed_get(&groups[directory.owner_index(key)], key, min_lsn, timeout).await
            }
        }
    }

    /// Sends a write (`Put`, `Delete` or `Cas` of `key`): its `Written` reply, or the error
    /// reply to send.
    pub(super) async fn write(&self, key: &[u8], msg: Msg) -> Msg {
        let written = match &self.route {
            Route::Fixed { db, .. } => db.write(msg, self.timeout).await,
            Route::Routed(router) => router.write(msg, self.timeout).await.map_err(UpstreamError::from),
            Route::Sharded { directory, groups } => {
                groups[directory.owner_index(key)].write(msg, self.timeout).await.map_err(UpstreamError::from)
            }
        };
        written.unwrap_or_else(|e| e.reply())
    }

    /// Reads `key` (kept for health checks) wherever it lives, or, sharded, from every group
    /// until one answers: `Err` names what failed.
    pub(super) async fn health(&self, key: &[u8], replica_breaker: Option<&Breaker<E>>) -> Result<(), String> {
        let Route::Sharded { directory, groups } = &self.route else {
            return self.get(key, 0, replica_breaker).await.map(|_| ()).map_err(detail);
        };
        let mut failures = Vec::with_capacity(groups.len());
        for (name, router) in directory.nodes().iter().zip(groups) {
            match routed_get(router, key, 0, self.timeout).await {
                Ok(_) => return Ok(()),
                Err(reply) => failures.push(format!("group {name}: {}", detail(reply))),
            }
        }
        Err(failures.join("; "))
    }
}

/// The words of an error reply.
fn detail(reply: Msg) -> String {
    match reply {
        Msg::Error { detail, .. } => detail,
        other => format!("db: answered an unexpected {}", other.name()),
    }
}

/// A read through a router: the value and its LSN, or the error reply to send.
async fn routed_get<E: Env>(
    router: &Router<E>,
    key: &[u8],
    min_lsn: u64,
    timeout: Duration,
) -> Result<(Option<Vec<u8>>, u64), Msg> {
    match router.read(key.to_vec(), min_lsn, timeout).await {
        Ok(Msg::Value { value, lsn }) => Ok((value, lsn)),
        Ok(other) => {
            let detail = format!("db: the router passed on an unexpected {}", other.name());
            Err(Msg::Error { code: ErrorCode::Upstream, detail })
        }
        Err(e) => Err(UpstreamError::from(e).reply()),
    }
}
