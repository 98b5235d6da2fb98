//! Read/write splitting over a replicated store group, the way a smart driver or ProxySQL
//! does it: writes to the primary, reads to a replica chosen by policy, read-your-writes by
//! LSN token, and lag-aware replica choice.
//!
//! A [`Router`] keeps one multiplexed [`Client`] per member and a probe task that sends
//! `Check { epoch: 0, lease_ms: 0 }` (a pure probe: it grants nothing and fences nobody) to
//! every member every `probe_every`, remembering each member's last [`NodeStatus`] (or that
//! its probe failed).
//!
//! - Writes go to the member whose last probe said `Primary` at the highest epoch (ties:
//!   member order). With none known, one probe round is run at once; still none is
//!   [`RouteError::NoPrimary`]. (Likewise a read before the first probe round has finished
//!   waits for one.) A write refused with `NotPrimary` or `Fenced`, or whose connection could
//!   not even be opened, was not applied: the router re-probes (a round that starts after the
//!   refusal) and retries once on the primary it then sees. A write that timed out or lost its
//!   connection is never retried: it may have been applied.
//! - Reads, by [`ReadPolicy`], go to a replica whose last probe succeeded, whose `lag_ns` is
//!   within `max_lag`, and (with `read_your_writes` and a token `min_lsn > 0`) whose probed
//!   `lsn` has reached the token; the token is sent along so the replica refuses if it is in
//!   fact behind ("behind read token"). With no eligible replica, or when the replica read
//!   fails in any way (reads are safe to repeat), the read goes to the primary. Without
//!   `read_your_writes` the token is neither used nor sent.
//! - Concurrent re-probes share one round: callers that need a fresh view wait for a round that
//!   started after they asked, so a burst of refusals costs one round, not one each.
//!
//! Gauges: "reads_primary" and "reads_replica" (cumulative reads sent to each; a fallback
//! counts once on each side), "replicas_excluded" (replicas by their last probe that the most
//! recent read left out for lag or for its token). [`Router::stats`] returns the same numbers.
//!
//! Limits: an LSN token means "this many entries of the log", which is only comparable
//! within one history; after a failover that lost acknowledged writes, the new primary's LSN N
//! is not the old primary's LSN N. The router's view is as old as its last probe: a replica
//! that fell behind since is caught by its own token check, not by the router.
//! With [`Connections::PerRequest`] every query opens its own connection (an app without a
//! pool); probes always use the member's long-lived client.

use crate::client::{CallError, Client, call_once};
use crate::failover::call_all;
use crate::kv::api::{Msg, NodeRole, NodeStatus};
use crate::proto::ErrorCode;
use crate::seam::Env;
use faultline_vocab::gauge;
use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Which member serves reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPolicy {
    /// Every read goes to the primary.
    Primary,
    /// Eligible replicas in turn.
    RoundRobin,
    /// The eligible replica with the least lag (ties: member order).
    LeastLag,
}

/// Configuration of a router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// "host:port" of every store node of the group, in a fixed order.
    pub members: Vec<String>,
    /// How reads are spread.
    pub reads: ReadPolicy,
    /// Replicas lagging more than this are not read from (`None`: any lag will do).
    pub max_lag: Option<Duration>,
    /// Honour read tokens (`min_lsn`): route to a replica that has reached it, and send it.
    pub read_your_writes: bool,
    /// How often every member is probed.
    pub probe_every: Duration,
}

/// How a router's queries reach a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connections {
    /// One long-lived multiplexed connection per member.
    #[default]
    Shared,
    /// A connection per query: open, send, read the reply, close.
    PerRequest,
}

/// Why a routed call produced no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No member's last probe reported it primary.
    #[error("no primary known: {cause}")]
    NoPrimary {
        /// What the router saw instead.
        cause: String,
    },
    /// The member could not be reached, or did not answer in time (the error names it).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The member answered with an error.
    #[error("{addr} answered {code:?}: {detail}")]
    Refused {
        /// The member.
        addr: String,
        /// Its error code.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// The member answered with a message that does not fit the request.
    #[error("{addr} answered an unexpected {got}")]
    Unexpected {
        /// The member.
        addr: String,
        /// The kind of message it sent.
        got: &'static str,
    },
}

impl RouteError {
    /// The call certainly changed nothing, and the member may just not be the primary any more:
    /// worth a re-probe and one more try elsewhere. `Fenced` does not qualify: a primary says it
    /// of a write it logged, and perhaps shipped, before it lost its role, so the write may
    /// still survive on the new primary, and a second try could apply it twice (and would
    /// report a compare-and-set that took effect as a mismatch).
    fn not_applied_elsewhere_maybe(&self) -> bool {
        match self {
            RouteError::Refused { code, .. } => *code == ErrorCode::NotPrimary,
            RouteError::Call(CallError::Connect { .. }) => true,
            _ => false,
        }
    }
}

/// Counters of a router, as its gauges report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterStats {
    /// Reads sent to the primary.
    pub reads_primary: u64,
    /// Reads sent to a replica.
    pub reads_replica: u64,
    /// Replicas the most recent read left out for lag or for its token.
    pub replicas_excluded: u64,
}

/// One way to call a member: its long-lived client, or a connection per call.
pub(crate) enum Link<E: Env> {
    /// Calls share the client's connection.
    Shared(Rc<Client<E, Msg>>),
    /// Every call opens and closes its own connection.
    PerRequest {
        /// The environment to connect through.
        env: E,
        /// The member.
        addr: String,
    },
}

impl<E: Env> Link<E> {
    pub(crate) fn new(env: &E, addr: &str, connect_timeout: Duration, connections: Connections) -> Self {
        match connections {
            Connections::Shared => Link::Shared(Rc::new(Client::new(env.clone(), addr, connect_timeout))),
            Connections::PerRequest => Link::PerRequest { env: env.clone(), addr: addr.to_string() },
        }
    }

    pub(crate) fn addr(&self) -> &str {
        match self {
            Link::Shared(client) => client.addr(),
            Link::PerRequest { addr, .. } => addr,
        }
    }

    /// Sends `msg` and waits up to `limit` for the reply; like [`Client::call`], a server-side
    /// failure is `Ok(Msg::Error { .. })`.
    pub(crate) async fn call(&self, msg: Msg, limit: Duration) -> Result<Msg, CallError> {
        match self {
            Link::Shared(client) => client.call(msg, limit).await,
            Link::PerRequest { env, addr } => call_once(env, addr, msg, limit).await,
        }
    }
}

struct Member<E: Env> {
    /// Used for probes, and for queries with shared connections.
    probe: Rc<Client<E, Msg>>,
    link: Link<E>,
    /// The last probe's answer; `None` when it failed (or nothing was probed yet).
    last: Cell<Option<NodeStatus>>,
}

struct Inner<E: Env> {
    env: E,
    config: RouterConfig,
    call_timeout: Duration,
    members: Vec<Member<E>>,
    /// Held while a probe round runs.
    probing: tokio::sync::Mutex<()>,
    /// Probe rounds started so far.
    rounds_started: Cell<u64>,
    /// Probe rounds finished so far.
    rounds_done: Cell<u64>,
    next_replica: Cell<usize>,
    counters: Rc<Counters>,
}

/// The counters behind a router's gauges; routers of one host's shard groups share one set, so
/// the host's gauges add up its groups.
#[derive(Default)]
pub struct Counters {
    reads_primary: Cell<u64>,
    reads_replica: Cell<u64>,
    replicas_excluded: Cell<u64>,
}

/// Routes writes to the primary and reads by policy over a replicated store group.
pub struct Router<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> Router<E> {
    /// A router over `config.members` with one long-lived connection each; every call is
    /// bounded by `call_timeout` (connect included). Spawns its probe task, which ends when the
    /// router is dropped.
    pub fn new(env: E, config: RouterConfig, call_timeout: Duration) -> Self {
        Self::with_connections(env, config, call_timeout, Connections::Shared)
    }

    /// Like [`Router::new`], choosing how queries reach the members.
    pub fn with_connections(env: E, config: RouterConfig, call_timeout: Duration, connections: Connections) -> Self {
        Self::with_counters(env, config, call_timeout, connections, Rc::default())
    }

    /// Like [`Router::with_connections`], counting into `counters`, which other routers of the
    /// host may share: its gauges then report the sum of their reads.
    pub fn with_counters(
        env: E,
        config: RouterConfig,
        call_timeout: Duration,
        connections: Connections,
        counters: Rc<Counters>,
    ) -> Self {
        let members = config
            .members
            .iter()
            .map(|addr| {
                let probe = Rc::new(Client::new(env.clone(), addr.as_str(), call_timeout));
                let link = match connections {
                    Connections::Shared => Link::Shared(probe.clone()),
                    Connections::PerRequest => Link::new(&env, addr, call_timeout, connections),
                };
                Member { probe, link, last: Cell::new(None) }
            })
            .collect();
        let inner = Rc::new(Inner {
            env: env.clone(),
            config,
            call_timeout,
            members,
            probing: tokio::sync::Mutex::new(()),
            rounds_started: Cell::new(0),
            rounds_done: Cell::new(0),
            next_replica: Cell::new(0),
            counters,
        });
        inner.publish();
        env.spawn(probe_forever(Rc::downgrade(&inner)));
        Self { inner }
    }

    /// Probes every member now (after any round already under way) and waits for the answers.
    pub async fn probe(&self) {
        self.inner.fresh_view().await;
    }

    /// The router's counters.
    pub fn stats(&self) -> RouterStats {
        let counters = &self.inner.counters;
        RouterStats {
            reads_primary: counters.reads_primary.get(),
            reads_replica: counters.reads_replica.get(),
            replicas_excluded: counters.replicas_excluded.get(),
        }
    }

    /// Sends a write (`Put`, `Delete` or `Cas`) to the primary; the primary's `Written` reply.
    pub async fn write(&self, msg: Msg, limit: Duration) -> Result<Msg, RouteError> {
        self.inner.to_primary(msg, limit, is_written).await
    }

    /// Reads `key` with read token `min_lsn` (0: none); the `Value` reply.
    pub async fn read(&self, key: Vec<u8>, min_lsn: u64, limit: Duration) -> Result<Msg, RouteError> {
        let inner = &self.inner;
        let token = if inner.config.read_your_writes { min_lsn } else { 0 };
        let msg = Msg::Get { key, min_lsn: token };
        if inner.rounds_done.get() == 0 {
            // Nothing known of the replicas yet: a read right after start waits for a view.
            inner.fresh_view().await;
        }
        if let Some(r) = inner.choose_replica(token) {
            inner.bump(&inner.counters.reads_replica);
            // Whatever went wrong on the replica (behind the token, gone, slow), the primary
            // can answer: reads are safe to repeat.
            if let Ok(value) = inner.call(r, msg.clone(), limit, is_value).await {
                return Ok(value);
            }
        }
        inner.bump(&inner.counters.reads_primary);
        inner.to_primary(msg, limit, is_value).await
    }
}

fn is_written(msg: &Msg) -> bool {
    matches!(msg, Msg::Written { .. })
}

fn is_value(msg: &Msg) -> bool {
    matches!(msg, Msg::Value { .. })
}

async fn probe_forever<E: Env>(inner: Weak<Inner<E>>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        strong.fresh_view().await;
        let (env, every) = (strong.env.clone(), strong.config.probe_every);
        drop(strong);
        env.sleep(every).await;
    }
}

impl<E: Env> Inner<E> {
    fn publish(&self) {
        let counters = &self.counters;
        self.env.gauge(gauge::READS_PRIMARY, counters.reads_primary.get() as i64);
        self.env.gauge(gauge::READS_REPLICA, counters.reads_replica.get() as i64);
        self.env.gauge(gauge::REPLICAS_EXCLUDED, counters.replicas_excluded.get() as i64);
    }

    fn bump(&self, counter: &Cell<u64>) {
        counter.set(counter.get() + 1);
        self.publish();
    }

    /// Waits for a probe round that started after this call: runs one, or waits for the one
    /// another caller started meanwhile.
    async fn fresh_view(&self) {
        let wanted = self.rounds_started.get() + 1;
        let _probing = self.probing.lock().await;
        if self.rounds_started.get() >= wanted {
            return;
        }
        self.rounds_started.set(wanted);
        let clients: Vec<_> = self.members.iter().map(|m| m.probe.clone()).collect();
        let calls = (0..clients.len()).map(|i| (i, Msg::Check { epoch: 0, lease_ms: 0 })).collect();
        let replies = call_all(&self.env, &clients, calls, self.call_timeout).await;
        for (member, reply) in self.members.iter().zip(replies) {
            let status = match reply {
                Some(Msg::Status(s)) => Some(s),
                _ => None,
            };
            member.last.set(status);
        }
        self.rounds_done.set(self.rounds_done.get() + 1);
    }

    /// The member whose last probe said `Primary` at the highest epoch.
    fn primary(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, member) in self.members.iter().enumerate() {
            if let Some(s) = member.last.get().filter(|s| s.role == NodeRole::Primary)
                && best.is_none_or(|(_, e)| s.epoch > e)
            {
                best = Some((i, s.epoch));
            }
        }
        best.map(|(i, _)| i)
    }

    async fn known_primary(&self) -> Result<usize, RouteError> {
        if let Some(p) = self.primary() {
            return Ok(p);
        }
        self.fresh_view().await;
        self.primary().ok_or_else(|| RouteError::NoPrimary { cause: self.describe_members() })
    }

    /// What the last probe said of each member, for an error.
    fn describe_members(&self) -> String {
        let each: Vec<String> = self
            .members
            .iter()
            .map(|m| match m.last.get() {
                Some(s) => format!("{} {} epoch {}", m.link.addr(), s.role.name(), s.epoch),
                None => format!("{} unreachable", m.link.addr()),
            })
            .collect();
        format!("no member reports primary ({})", each.join(", "))
    }

    /// Calls the primary; when it was not (or no longer) the primary and certainly did not
    /// apply the call, re-probes and tries once more on the primary it then sees.
    async fn to_primary(&self, msg: Msg, limit: Duration, fits: fn(&Msg) -> bool) -> Result<Msg, RouteError> {
        let p = self.known_primary().await?;
        let first = match self.call(p, msg.clone(), limit, fits).await {
            Err(e) if e.not_applied_elsewhere_maybe() => e,
            done => return done,
        };
        self.members[p].last.set(None);
        self.fresh_view().await;
        let Some(next) = self.primary() else {
            let cause = format!("{first}; then {}", self.describe_members());
            return Err(RouteError::NoPrimary { cause });
        };
        self.call(next, msg, limit, fits).await
    }

    async fn call(&self, i: usize, msg: Msg, limit: Duration, fits: fn(&Msg) -> bool) -> Result<Msg, RouteError> {
        let link = &self.members[i].link;
        match link.call(msg, limit).await? {
            Msg::Error { code, detail } => Err(RouteError::Refused { addr: link.addr().to_string(), code, detail }),
            reply if fits(&reply) => Ok(reply),
            other => Err(RouteError::Unexpected { addr: link.addr().to_string(), got: other.name() }),
        }
    }

    /// The replica a read with `token` goes to, by policy; `None`: the primary.
    fn choose_replica(&self, token: u64) -> Option<usize> {
        if self.config.reads == ReadPolicy::Primary {
            return None;
        }
        let max_lag_ns = self.config.max_lag.map_or(u64::MAX, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut eligible: Vec<(usize, NodeStatus)> = Vec::new();
        let mut excluded = 0;
        for (i, member) in self.members.iter().enumerate() {
            let Some(s) = member.last.get().filter(|s| s.role == NodeRole::Replica) else { continue };
            if s.lag_ns <= max_lag_ns && s.lsn >= token {
                eligible.push((i, s));
            } else {
                excluded += 1;
            }
        }
        self.counters.replicas_excluded.set(excluded);
        self.publish();
        match self.config.reads {
            ReadPolicy::Primary => None,
            _ if eligible.is_empty() => None,
            ReadPolicy::RoundRobin => {
                let k = self.next_replica.get();
                self.next_replica.set(k.wrapping_add(1));
                Some(eligible[k % eligible.len()].0)
            }
            ReadPolicy::LeastLag => {
                let mut best = eligible[0];
                for &(i, s) in &eligible[1..] {
                    if s.lag_ns < best.1.lag_ns {
                        best = (i, s);
                    }
                }
                Some(best.0)
            }
        }
    }
}

#[cfg(test)]
mod tests;
