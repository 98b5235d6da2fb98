//! A connection pooler in front of a store, like PgBouncer: many client connections share a
//! few connections to the backend.
//!
//! It owns the server connections and who may use them; it knows nothing of what the store
//! does with a request. Clients speak the framed protocol to the pooler as they would to the
//! store (requests may be pipelined on one connection); each server connection carries one
//! request at a time, as a PostgreSQL connection does, so at most `max_server_conns` requests
//! are at the backend at once.
//!
//! - Transaction mode: each request takes an idle server connection (the most recently
//!   released first, so a quiet pool keeps few connections warm), opens a new one while below
//!   the cap (paying the backend's connect cost on its first request), or queues FIFO; it gets
//!   `Error { PoolTimeout }` after waiting `wait_timeout`. The connection goes back to the pool
//!   as soon as the reply is in.
//! - Session mode: a client connection is bound to one server connection from its first request
//!   until it disconnects; its requests run on it one at a time, in arrival order. A client whose
//!   first request finds every connection bound waits FIFO for one to be released; each such
//!   request gets `PoolTimeout` after `wait_timeout`, and the next one queues again.
//! - A freed connection is handed straight to the first waiter, so a waiter is never overtaken
//!   by a request that arrived later.
//! - A transport failure on the backend (connect refused, connection closed, no reply within
//!   `server_timeout`) is answered `Error { Upstream }`, its detail naming the backend's
//!   address; that server connection is discarded and a new one opened on demand. The
//!   backend's own error replies (`NotPrimary`, `Overloaded`, ...) are passed through unchanged:
//!   the pooler is transparent to the store's answers. The exception is `TooManyConnections`,
//!   which is about the pooler's connection, not the client's request: that connection is
//!   discarded and the client gets `Upstream`.
//! - Only queries (by the class of the kv `Msg`: `Get`, `Put`, `Delete`, `Cas` and `Hold`, a long
//!   transaction) are forwarded; anything else (replication, control) is answered `BadRequest`.
//!
//! The pooler runs on [`crate::server`]'s accept loop as a handler that gives its worker slot
//! back while it waits for the backend (an event loop, as PgBouncer is): `capacity` models the
//! pooler process itself (its per-request CPU cost, its own client-connection limit), and served
//! requests are reported through the seam with their whole latency at the pooler, waits included.
//!
//! Gauges: "server_conns" (open or opening), "server_conns_busy" (leased to a request or a
//! session, or opening), "clients_waiting" (requests waiting for a server connection) and
//! "pool_timeouts" (cumulative).
//!
//! Limits: no prepared-statement or transaction tracking (a session is a connection's life, a
//! transaction is one request); no idle-connection expiry; the server-connection cap is the only
//! bound on connections opened, and waiters are bounded by the server's own queue limit.

use crate::kv::api::Msg;
use crate::proto::{ErrorCode, Family, Frame, Framed, read_frame, write_frame};
use crate::seam::{Env, timeout};
use crate::server::{Class, Handler, Replier};
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};

/// How long a client keeps a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// From its first request until it disconnects.
    Session,
    /// For one request.
    Transaction,
}

/// Configuration of a pooler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The store ("host:port").
    pub backend: String,
    /// Session or transaction pooling.
    pub mode: PoolMode,
    /// Server connections open at once, at most (at least 1 is used).
    pub max_server_conns: usize,
    /// The longest a request waits for a server connection before `PoolTimeout`.
    pub wait_timeout: Duration,
    /// The longest the backend may take to accept a connection, or to answer one request.
    pub server_timeout: Duration,
}

/// One connection to the backend, carrying one request at a time.
struct ServerConn<E: Env> {
    stream: E::Stream,
    scratch: Vec<u8>,
    next_id: u64,
}

impl<E: Env> ServerConn<E> {
    /// Sends `msg` and reads its reply.
    async fn call(&mut self, msg: Msg) -> Result<Msg, &'static str> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.stream, &Frame { id, msg }, &mut self.scratch).await.map_err(|_| "send failed")?;
        match read_frame(&mut self.stream, &mut self.scratch).await {
            Ok(Some(frame)) if frame.id == id => Ok(frame.msg),
            Ok(Some(_)) => Err("reply out of order"),
            Ok(None) => Err("connection closed"),
            Err(_) => Err("unreadable reply"),
        }
    }
}

/// What a waiter is handed: an idle connection, or the right to open one (counted already).
enum Grant<E: Env> {
    Conn(ServerConn<E>),
    Open,
}

/// The pool's state, shared by every request and session.
struct PoolState<E: Env> {
    env: E,
    config: PoolConfig,
    /// Idle connections; the last one released is reused first.
    idle: RefCell<Vec<ServerConn<E>>>,
    /// Connections open or opening.
    open: Cell<usize>,
    /// Requests waiting for a connection, in arrival order (a timed-out one leaves a closed
    /// sender, skipped when a grant is handed out and purged when another times out).
    waiters: RefCell<VecDeque<oneshot::Sender<Grant<E>>>>,
    waiting: Cell<usize>,
    timeouts: Cell<u64>,
    /// Session mode: the session of each client connection open now.
    sessions: RefCell<BTreeMap<u64, Rc<Session<E>>>>,
}

/// A client connection's binding to a server connection (session mode). Dropping it (the
/// client left and its last request ended) releases the binding.
struct Session<E: Env> {
    lease: Mutex<Option<Lease<E>>>,
}

/// A server connection taken from the pool. Dropped with a connection, it goes back to the
/// pool; dropped without one (it broke, or never opened), its place is freed.
struct Lease<E: Env> {
    pool: Rc<PoolState<E>>,
    conn: Option<ServerConn<E>>,
}

impl<E: Env> Drop for Lease<E> {
    fn drop(&mut self) {
        match self.conn.take() {
            Some(conn) => self.pool.put_back(conn),
            None => self.pool.lost(),
        }
    }
}

/// Counts a request as waiting while it lives.
struct Waiting<'a, E: Env>(&'a PoolState<E>);

impl<E: Env> Drop for Waiting<'_, E> {
    fn drop(&mut self) {
        self.0.waiting.set(self.0.waiting.get() - 1);
        self.0.publish();
    }
}

impl<E: Env> PoolState<E> {
    fn new(env: E, config: PoolConfig) -> Self {
        Self {
            env,
            config,
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            waiting: Cell::new(0),
            timeouts: Cell::new(0),
            sessions: RefCell::new(BTreeMap::new()),
        }
    }

    fn publish(&self) {
        let open = self.open.get();
        self.env.gauge(gauge::SERVER_CONNS, open as i64);
        self.env.gauge(gauge::SERVER_CONNS_BUSY, open.saturating_sub(self.idle.borrow().len()) as i64);
        self.env.gauge(gauge::CLIENTS_WAITING, self.waiting.get() as i64);
        self.env.gauge(gauge::POOL_TIMEOUTS, self.timeouts.get() as i64);
    }

    fn max_server_conns(&self) -> usize {
        self.config.max_server_conns.max(1)
    }

    /// Hands `grant` to the first live waiter; gives it back when there is none.
    fn grant(&self, mut grant: Grant<E>) -> Option<Grant<E>> {
        loop {
            let Some(waiter) = self.waiters.borrow_mut().pop_front() else { return Some(grant) };
            match waiter.send(grant) {
                Ok(()) => return None,
                Err(back) => grant = back,
            }
        }
    }

    /// A healthy connection is free again.
    fn put_back(&self, conn: ServerConn<E>) {
        if let Some(Grant::Conn(conn)) = self.grant(Grant::Conn(conn)) {
            self.idle.borrow_mut().push(conn);
        }
        self.publish();
    }

    /// A connection broke, or failed to open: its place goes to the first waiter, if any.
    fn lost(&self) {
        self.open.set(self.open.get() - 1);
        if !self.waiters.borrow().is_empty() {
            self.open.set(self.open.get() + 1);
            if self.grant(Grant::Open).is_some() {
                self.open.set(self.open.get() - 1);
            }
        }
        self.publish();
    }

    /// An `Upstream` error naming the backend.
    fn upstream(&self, why: impl std::fmt::Display) -> Msg {
        Msg::Error { code: ErrorCode::Upstream, detail: format!("backend {}: {why}", self.config.backend) }
    }

    /// A server connection for one request (or one session), or the error to answer with.
    async fn acquire(self: &Rc<Self>) -> Result<Lease<E>, Msg> {
        let idle = self.idle.borrow_mut().pop();
        let grant = match idle {
            Some(conn) => Grant::Conn(conn),
            None if self.open.get() < self.max_server_conns() => {
                self.open.set(self.open.get() + 1);
                Grant::Open
            }
            None => self.wait().await?,
        };
        self.publish();
        let mut lease = Lease { pool: self.clone(), conn: None };
        match grant {
            Grant::Conn(conn) => lease.conn = Some(conn),
            Grant::Open => lease.conn = Some(self.connect().await?),
        }
        Ok(lease)
    }

    /// Queues for a grant, up to the wait timeout.
    async fn wait(&self) -> Result<Grant<E>, Msg> {
        let (tx, mut rx) = oneshot::channel();
        self.waiters.borrow_mut().push_back(tx);
        self.waiting.set(self.waiting.get() + 1);
        let _waiting = Waiting(self);
        self.publish();
        match timeout(&self.env, self.config.wait_timeout, &mut rx).await {
            Ok(Ok(grant)) => return Ok(grant),
            // The pool is shutting down (its senders were dropped with it).
            Ok(Err(_)) => return Err(self.upstream("pool closed")),
            Err(_) => {}
        }
        rx.close();
        if let Ok(grant) = rx.try_recv() {
            // Handed over at the deadline: take it rather than waste it.
            return Ok(grant);
        }
        self.waiters.borrow_mut().retain(|tx| !tx.is_closed());
        self.timeouts.set(self.timeouts.get() + 1);
        let detail = format!("no server connection free within {:?}", self.config.wait_timeout);
        Err(Msg::Error { code: ErrorCode::PoolTimeout, detail })
    }

    /// Opens a new server connection (its place is counted already).
    async fn connect(&self) -> Result<ServerConn<E>, Msg> {
        match timeout(&self.env, self.config.server_timeout, self.env.connect(&self.config.backend)).await {
            Ok(Ok(stream)) => Ok(ServerConn { stream, scratch: Vec::with_capacity(128), next_id: 1 }),
            Ok(Err(e)) => Err(self.upstream(format_args!("connect: {e}"))),
            Err(_) => Err(self.upstream(format_args!("connect: no answer in {:?}", self.config.server_timeout))),
        }
    }

    /// Runs `msg` on the lease's connection; a connection that failed is taken out of the lease.
    async fn forward(&self, lease: &mut Lease<E>, msg: Msg) -> Msg {
        let mut conn = lease.conn.take().expect("a lease holds a connection between requests");
        let reply = match timeout(&self.env, self.config.server_timeout, conn.call(msg)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(why)) => return self.upstream(why),
            Err(_) => return self.upstream(format_args!("no reply in {:?}", self.config.server_timeout)),
        };
        if let Msg::Error { code: ErrorCode::TooManyConnections, detail } = &reply {
            return self.upstream(format_args!("refused the connection: {detail}"));
        }
        lease.conn = Some(conn);
        reply
    }

    /// Transaction mode: one request on a connection taken for it alone.
    async fn transaction(self: &Rc<Self>, msg: Msg) -> Msg {
        match self.acquire().await {
            Ok(mut lease) => self.forward(&mut lease, msg).await,
            Err(refusal) => refusal,
        }
    }

    /// Session mode: one request on the connection bound to the client's connection.
    async fn in_session(self: &Rc<Self>, conn: u64, msg: Msg) -> Msg {
        let session = self.sessions.borrow().get(&conn).cloned();
        let Some(session) = session else {
            // Only a request read before its connection closed lands here: nobody to answer.
            return Msg::Error { code: ErrorCode::BadRequest, detail: "client connection closed".into() };
        };
        let mut bound = session.lease.lock().await;
        if bound.is_none() {
            match self.acquire().await {
                Ok(lease) => *bound = Some(lease),
                Err(refusal) => return refusal,
            }
        }
        let lease = bound.as_mut().expect("bound just above");
        let reply = self.forward(lease, msg).await;
        if lease.conn.is_none() {
            // The connection broke: unbind, so the next request opens or takes another.
            *bound = None;
        }
        reply
    }
}

/// The pooler as a server model: build it with [`Pooler::new`] and serve it with
/// [`crate::server::serve`].
pub struct Pooler<E: Env> {
    pool: Rc<PoolState<E>>,
}

impl<E: Env> Pooler<E> {
    /// A pooler with no server connection open yet; publishes its gauges.
    pub fn new(env: E, config: PoolConfig) -> Self {
        let pool = Rc::new(PoolState::new(env, config));
        pool.publish();
        Self { pool }
    }
}

impl<E: Env> Handler<E> for Pooler<E> {
    type Codec = Framed<Msg>;

    const HOLDS_SLOT: bool = false;

    async fn handle(&self, msg: Msg, replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        if msg.class() == Class::Control {
            let detail = format!("the pool forwards Get, Put, Delete, Cas and Hold, not {}", msg.name());
            return Some(Msg::Error { code: ErrorCode::BadRequest, detail });
        }
        Some(match self.pool.config.mode {
            PoolMode::Transaction => self.pool.transaction(msg).await,
            PoolMode::Session => self.pool.in_session(replier.connection(), msg).await,
        })
    }

    fn connected(&self, conn: u64) {
        if self.pool.config.mode == PoolMode::Session {
            let session = Rc::new(Session { lease: Mutex::new(None) });
            self.pool.sessions.borrow_mut().insert(conn, session);
        }
    }

    fn disconnected(&self, conn: u64) {
        // Taken out before it drops: releasing its lease touches the pool's other fields.
        let session = self.pool.sessions.borrow_mut().remove(&conn);
        drop(session);
    }
}

impl<E: Env> Drop for Pooler<E> {
    /// The server stopped (its host died): break the cycle sessions and leases make with the
    /// pool, so its connections close.
    fn drop(&mut self) {
        let sessions = std::mem::take(&mut *self.pool.sessions.borrow_mut());
        drop(sessions);
        let idle = std::mem::take(&mut *self.pool.idle.borrow_mut());
        drop(idle);
        self.pool.waiters.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::seam::TokioListener;
    use crate::server::tests::{Raw, bind_any};
    use crate::server::{Capacity, serve};
    use crate::testenv::{TestEnv, block_on};
    use std::future::Future;
    use std::io;
    use tokio::task::{JoinHandle, LocalSet};

    /// What the fake backend saw.
    #[derive(Default)]
    struct Seen {
        at_once: Cell<usize>,
        peak: Cell<usize>,
    }

    /// A store that takes `delay` per request and answers with the number of the connection the
    /// request came on, so a test can tell which server connection served it.
    struct SlowBackend<E: Env> {
        env: E,
        delay: Duration,
        seen: Rc<Seen>,
    }

    impl<E: Env> Handler<E> for SlowBackend<E> {
        type Codec = Framed<Msg>;

        async fn handle(&self, _msg: Msg, replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
            self.seen.at_once.set(self.seen.at_once.get() + 1);
            self.seen.peak.set(self.seen.peak.get().max(self.seen.at_once.get()));
            self.env.sleep(self.delay).await;
            self.seen.at_once.set(self.seen.at_once.get() - 1);
            Some(Msg::Value { value: Some(replier.connection().to_be_bytes().to_vec()), lsn: 0 })
        }
    }

    /// Runs `model` as a host on its own `LocalSet`; aborting the handle kills the host.
    fn start(model: impl Future<Output = io::Result<()>> + 'static) -> JoinHandle<()> {
        tokio::task::spawn_local(async move {
            let host = LocalSet::new();
            let _ = host.run_until(model).await;
        })
    }

    fn start_backend(env: &TestEnv, listener: TokioListener, delay: Duration) -> (JoinHandle<()>, Rc<Seen>) {
        let seen = Rc::new(Seen::default());
        let backend = SlowBackend { env: env.clone(), delay, seen: seen.clone() };
        (start(serve(env.clone(), listener, Capacity::default(), backend)), seen)
    }

    fn config(backend: &str, mode: PoolMode, max_server_conns: usize, wait_timeout: Duration) -> PoolConfig {
        PoolConfig {
            backend: backend.to_string(),
            mode,
            max_server_conns,
            wait_timeout,
            server_timeout: Duration::from_millis(500),
        }
    }

    /// Starts a pooler; returns its environment (which records its gauges) and address.
    async fn start_pool(config: PoolConfig) -> (TestEnv, String) {
        let env = TestEnv::new("pool");
        let (listener, addr) = bind_any(&env).await;
        start(serve(env.clone(), listener, Capacity::default(), Pooler::new(env.clone(), config)));
        (env, addr)
    }

    fn get() -> Msg {
        Msg::Get { key: b"k".to_vec(), min_lsn: 0 }
    }

    /// The backend connection that served a reply, if it was served.
    fn server_conn(reply: &Option<Msg>) -> Option<u64> {
        match reply {
            Some(Msg::Value { value: Some(conn), .. }) => Some(u64::from_be_bytes(conn.as_slice().try_into().ok()?)),
            _ => None,
        }
    }

    fn error_code(reply: &Option<Msg>) -> Option<ErrorCode> {
        match reply {
            Some(Msg::Error { code, .. }) => Some(*code),
            _ => None,
        }
    }

    /// Polls `ready` every 5 ms, at most ~2 s; whether it became true.
    async fn eventually(env: &TestEnv, mut ready: impl FnMut() -> bool) -> bool {
        for _ in 0..400 {
            if ready() {
                return true;
            }
            env.sleep(Duration::from_millis(5)).await;
        }
        ready()
    }

    #[test]
    fn transaction_mode_caps_the_requests_at_the_backend() {
        block_on(async {
            let backend_env = TestEnv::new("db");
            let (listener, backend) = bind_any(&backend_env).await;
            let (_db, seen) = start_backend(&backend_env, listener, Duration::from_millis(10));
            let (env, addr) = start_pool(config(&backend, PoolMode::Transaction, 3, Duration::from_secs(5))).await;
            // Twelve clients, each pipelining four requests on its one connection.
            let mut calls = Vec::new();
            for _ in 0..12 {
                let client = Rc::new(Client::new(env.clone(), addr.clone(), Duration::from_secs(1)));
                for _ in 0..4 {
                    let client = client.clone();
                    calls.push(tokio::task::spawn_local(
                        async move { client.call(get(), Duration::from_secs(5)).await },
                    ));
                }
            }
            let mut conns = std::collections::BTreeSet::new();
            for call in calls {
                let reply = call.await.expect("the call ran").ok();
                conns.insert(server_conn(&reply).unwrap_or_else(|| panic!("served, got {reply:?}")));
            }
            assert_eq!(seen.peak.get(), 3, "never more than max_server_conns requests at the backend");
            assert_eq!(conns.len(), 3, "three server connections carried all 48 requests: {conns:?}");
            assert_eq!(env.gauge("server_conns"), Some(3));
            assert_eq!(env.gauge("server_conns_busy"), Some(0));
            assert_eq!(env.gauge("clients_waiting"), Some(0));
            assert_eq!(env.gauge("pool_timeouts"), Some(0));
            let served = env.served_log();
            assert_eq!(served.len(), 48);
            assert!(served.iter().all(|&(kind, _, ok)| ok && kind == crate::seam::RequestKind::Read), "{served:?}");
            let mut raw = Raw::open(&env, &addr).await;
            let refused = raw.call(Msg::Subscribe { from_lsn: 1, last_epoch: 0 }).await;
            assert_eq!(error_code(&refused), Some(ErrorCode::BadRequest), "got {refused:?}");
        });
    }

    #[test]
    fn requests_that_wait_past_the_wait_timeout_get_pool_timeout() {
        block_on(async {
            let backend_env = TestEnv::new("db");
            let (listener, backend) = bind_any(&backend_env).await;
            let (_db, seen) = start_backend(&backend_env, listener, Duration::from_millis(300));
            let (env, addr) = start_pool(config(&backend, PoolMode::Transaction, 1, Duration::from_millis(40))).await;
            let mut first = Raw::open(&env, &addr).await;
            let (mut second, mut third) = (Raw::open(&env, &addr).await, Raw::open(&env, &addr).await);
            let late = async {
                // Arrive after the first took the only connection.
                env.sleep(Duration::from_millis(20)).await;
                tokio::join!(second.call(get()), third.call(get()))
            };
            let (served, (second, third)) = tokio::join!(first.call(get()), late);
            assert!(server_conn(&served).is_some(), "got {served:?}");
            assert_eq!(error_code(&second), Some(ErrorCode::PoolTimeout), "got {second:?}");
            assert_eq!(error_code(&third), Some(ErrorCode::PoolTimeout), "got {third:?}");
            assert_eq!(seen.peak.get(), 1);
            assert_eq!(env.gauge("pool_timeouts"), Some(2));
            assert_eq!(env.gauge("clients_waiting"), Some(0));
            let failed = env.served_log().iter().filter(|(_, _, ok)| !ok).count();
            assert_eq!(failed, 2, "timeouts are reported as failed requests");
            // The connection is free again, and serves the next request.
            assert!(server_conn(&first.call(get()).await).is_some());
        });
    }

    #[test]
    fn session_mode_pins_a_client_to_one_server_connection_until_it_leaves() {
        block_on(async {
            let backend_env = TestEnv::new("db");
            let (listener, backend) = bind_any(&backend_env).await;
            let (_db, _seen) = start_backend(&backend_env, listener, Duration::from_millis(1));
            let (env, addr) = start_pool(config(&backend, PoolMode::Session, 2, Duration::from_secs(5))).await;
            let (mut a, mut c) = (Raw::open(&env, &addr).await, Raw::open(&env, &addr).await);
            let mut a_conns = Vec::new();
            let mut c_conns = Vec::new();
            for _ in 0..3 {
                a_conns.push(server_conn(&a.call(get()).await).expect("a is served"));
                c_conns.push(server_conn(&c.call(get()).await).expect("c is served"));
            }
            assert!(a_conns.iter().all(|&conn| conn == a_conns[0]), "a stays on one connection: {a_conns:?}");
            assert!(c_conns.iter().all(|&conn| conn == c_conns[0]), "c stays on one connection: {c_conns:?}");
            assert_ne!(a_conns[0], c_conns[0], "two sessions, two server connections");
            // Every server connection is bound: a third client waits.
            let mut b = Raw::open(&env, &addr).await;
            let waiting = tokio::task::spawn_local(async move { b.call(get()).await });
            assert!(eventually(&env, || env.gauge("clients_waiting") == Some(1)).await, "b waits");
            assert_eq!(server_conn(&a.call(get()).await), Some(a_conns[0]), "a keeps its connection");
            assert!(!waiting.is_finished(), "b is still waiting while a and c are connected");
            drop(a);
            let reply = waiting.await.expect("b's call ran");
            assert_eq!(server_conn(&reply), Some(a_conns[0]), "b gets the connection a released");
            assert_eq!(env.gauge("clients_waiting"), Some(0));
            assert_eq!(env.gauge("server_conns"), Some(2));
            assert_eq!(env.gauge("pool_timeouts"), Some(0));
        });
    }

    #[test]
    fn a_dead_backend_gives_upstream_errors_and_the_pool_recovers_when_it_returns() {
        block_on(async {
            let backend_env = TestEnv::new("db");
            let (listener, backend) = bind_any(&backend_env).await;
            let port = listener.local_addr().expect("a bound address").port();
            let (db, _seen) = start_backend(&backend_env, listener, Duration::from_millis(1));
            let (env, addr) = start_pool(config(&backend, PoolMode::Transaction, 2, Duration::from_secs(1))).await;
            let mut client = Raw::open(&env, &addr).await;
            assert!(server_conn(&client.call(get()).await).is_some());
            db.abort();
            let _ = db.await;
            // The first request finds its idle connection closed; the next cannot connect.
            for _ in 0..2 {
                let reply = client.call(get()).await;
                assert_eq!(error_code(&reply), Some(ErrorCode::Upstream), "got {reply:?}");
                let Some(Msg::Error { detail, .. }) = reply else { unreachable!("checked above") };
                assert!(detail.contains(&backend), "the detail names the backend: {detail}");
            }
            assert_eq!(env.gauge("server_conns"), Some(0), "broken connections are discarded");
            let listener = backend_env.bind(port).await.expect("the backend's port again");
            let (_db, seen) = start_backend(&backend_env, listener, Duration::from_millis(1));
            let mut reply = None;
            for _ in 0..200 {
                reply = client.call(get()).await;
                if server_conn(&reply).is_some() {
                    break;
                }
                env.sleep(Duration::from_millis(10)).await;
            }
            assert!(server_conn(&reply).is_some(), "the pool recovers: got {reply:?}");
            assert_eq!(seen.peak.get(), 1);
            assert_eq!(env.gauge("server_conns"), Some(1));
        });
    }
}
