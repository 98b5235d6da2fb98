//! Clients of the framed protocol, for any message family.
//!
//! - [`Client`]: a multiplexed client: many concurrent calls share one connection, replies are
//!   matched by request id, and a broken connection is re-opened on the next call.
//! - [`call_once`]: one connection per call, opened, used for one request and closed: an
//!   application without a connection pool, which pays a server's connect cost on every call
//!   and holds one of its connections while it waits.
//!
//! Pending calls live in a deque ordered by request id, so that failing them all (when the
//! connection drops) wakes them in id order: no hash order reaches the simulation.
//!
//! Only transport failures are errors here; a server's refusal is a reply (its family's `Error`).

use crate::lock::LocalLock;
use crate::proto::{Frame, FrameReader, Wire, read_frame, write_frame};
use crate::seam::{self, Env, Stream};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::Mutex;

/// Why a call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection could not be opened.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The peer.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// Writing the request failed.
    #[error("send to {addr}: {source}")]
    Send {
        /// The peer.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The connection closed before the reply arrived.
    #[error("connection to {0} closed before the reply")]
    Disconnected(String),
    /// No reply within the call's timeout.
    #[error("no reply from {0} in time")]
    Timeout(String),
}

/// A call's entry among a connection's pending calls.
enum Waiter<M> {
    /// No reply yet; the task to wake when it comes.
    Waiting(Option<Waker>),
    /// The reply, for the call to take.
    Replied(M),
}

/// The calls on one connection that wait for a reply, by request id.
///
/// A reply is left in its call's entry and the call's task woken; the call takes it when it
/// runs. When the connection ends, the calls still waiting lose their entries and are woken (in
/// id order) to fail as disconnected, while a reply that came before the end stays for its call.
///
/// A connection's calls take ids in increasing order, so the entries are a deque indexed by
/// `id - first`: registering appends, finding is an index, and the slots of calls that ended
/// are dropped from the front as soon as no older call waits.
pub(crate) struct Pending<M>(RefCell<Slots<M>>);

struct Slots<M> {
    /// The id of the slot at the front.
    first: u64,
    slots: VecDeque<Option<Waiter<M>>>,
}

impl<M> Default for Pending<M> {
    fn default() -> Self {
        Self(RefCell::new(Slots { first: 0, slots: VecDeque::new() }))
    }
}

impl<M> Slots<M> {
    fn get_mut(&mut self, id: u64) -> Option<&mut Waiter<M>> {
        let at = usize::try_from(id.checked_sub(self.first)?).ok()?;
        self.slots.get_mut(at)?.as_mut()
    }

    fn remove(&mut self, id: u64) -> Option<Waiter<M>> {
        let at = usize::try_from(id.checked_sub(self.first)?).ok()?;
        let waiter = self.slots.get_mut(at)?.take();
        self.trim_front();
        waiter
    }

    /// Drops the slots of ended calls from the front, up to the oldest call with an entry.
    fn trim_front(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
    }
}

impl<M> Pending<M> {
    /// Starts waiting for the reply to `id`, which is higher than every id registered before.
    pub(crate) fn register(&self, id: u64) {
        let mut table = self.0.borrow_mut();
        if table.slots.is_empty() {
            table.first = id;
        }
        let end = table.first + table.slots.len() as u64;
        debug_assert!(id >= end, "request ids on a connection increase");
        for _ in end..id {
            table.slots.push_back(None);
        }
        table.slots.push_back(Some(Waiter::Waiting(None)));
    }

    /// The reply to `id` once it has come; `None` when the connection ended without one (or
    /// `id` was never registered).
    pub(crate) fn poll_reply(&self, id: u64, cx: &mut Context<'_>) -> Poll<Option<M>> {
        let mut table = self.0.borrow_mut();
        match table.get_mut(id) {
            None => Poll::Ready(None),
            Some(Waiter::Waiting(waker)) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Some(Waiter::Replied(_)) => match table.remove(id) {
                Some(Waiter::Replied(msg)) => Poll::Ready(Some(msg)),
                _ => unreachable!("the entry was a reply"),
            },
        }
    }

    /// Hands `msg` to the call waiting for `id`, if one is (it may have timed out and gone).
    pub(crate) fn deliver(&self, id: u64, msg: M) {
        let woken = match self.0.borrow_mut().get_mut(id) {
            Some(entry) => match std::mem::replace(entry, Waiter::Replied(msg)) {
                Waiter::Waiting(waker) => waker,
                Waiter::Replied(_) => None,
            },
            None => None,
        };
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// The connection ended: every call still waiting fails.
    pub(crate) fn close(&self) {
        let mut woken = Vec::new();
        {
            let mut table = self.0.borrow_mut();
            for slot in table.slots.iter_mut() {
                if let Some(Waiter::Waiting(waker)) = slot {
                    woken.extend(waker.take());
                    *slot = None;
                }
            }
            table.trim_front();
        }
        for waker in woken {
            waker.wake();
        }
    }

    /// Drops the entry of `id` (its call ended, however).
    pub(crate) fn forget(&self, id: u64) {
        self.0.borrow_mut().remove(id);
    }

    /// Calls with an entry.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.borrow().slots.iter().filter(|s| s.is_some()).count()
    }
}

struct Conn<E: Env, M> {
    writer: LocalLock<(<E::Stream as Stream>::WriteHalf, Vec<u8>)>,
    pending: Pending<M>,
    alive: Cell<bool>,
}

/// A client of one server address, speaking the message family `M`.
pub struct Client<E: Env, M: Wire> {
    env: E,
    addr: String,
    /// Held while connecting, so concurrent callers share one new connection.
    conn: Mutex<Option<Rc<Conn<E, M>>>>,
    /// The live connection, readable without the lock (the common case).
    current: RefCell<Option<Rc<Conn<E, M>>>>,
    next_id: Cell<u64>,
    connect_timeout: Duration,
}

impl<E: Env, M: Wire> Client<E, M> {
    /// A client of `addr` ("host:port"); it connects lazily, within `connect_timeout`.
    pub fn new(env: E, addr: impl Into<String>, connect_timeout: Duration) -> Self {
        Self {
            env,
            addr: addr.into(),
            conn: Mutex::new(None),
            current: RefCell::new(None),
            next_id: Cell::new(1),
            connect_timeout,
        }
    }

    /// The server address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connection(&self) -> Result<Rc<Conn<E, M>>, CallError> {
        if let Some(conn) = self.current.borrow().as_ref().filter(|c| c.alive.get()) {
            return Ok(conn.clone());
        }
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| c.alive.get()) {
            return Ok(conn.clone());
        }
        let stream = connect_within(&self.env, &self.addr, self.connect_timeout).await?;
        let (reader, writer) = stream.into_split();
        let conn = Rc::new(Conn {
            writer: LocalLock::new((writer, Vec::with_capacity(128))),
            pending: Pending::default(),
            alive: Cell::new(true),
        });
        self.env.spawn(read_replies::<E, M>(reader, conn.clone()));
        *slot = Some(conn.clone());
        *self.current.borrow_mut() = Some(conn.clone());
        Ok(conn)
    }

    /// Sends `msg` and waits up to `limit` for the reply. A server-side failure comes back as
    /// `Ok` of its family's `Error`; only transport failures are `Err`.
    pub async fn call(&self, msg: M, limit: Duration) -> Result<M, CallError> {
        self.call_until(msg, self.env.sleep(limit)).await
    }

    /// Sends `msg` and waits for the reply until `expiry` completes, which is a `Timeout`: for
    /// a caller that keeps the deadlines of many calls itself, with one timer for all of them.
    /// A reply ready when `expiry` completes wins.
    pub async fn call_until(&self, msg: M, expiry: impl Future<Output = ()>) -> Result<M, CallError> {
        let work = async {
            let conn = self.connection().await?;
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            conn.pending.register(id);
            let mut call = PendingCall { conn, id, sending: true };
            let sent = {
                let mut w = call.conn.writer.lock().await;
                let (writer, scratch) = &mut *w;
                write_frame(writer, &Frame { id, msg }, scratch).await
            };
            call.sending = false;
            if let Err(source) = sent {
                call.conn.alive.set(false);
                return Err(CallError::Send { addr: self.addr.clone(), source });
            }
            let reply = std::future::poll_fn(|cx| call.conn.pending.poll_reply(id, cx)).await;
            let out = reply.ok_or_else(|| CallError::Disconnected(self.addr.clone()));
            Ok::<_, CallError>(out)
        };
        // The call's state stays where it is (pinned in place) rather than being moved into a
        // timeout future: this runs once per request, and the move was a copy of all of it.
        tokio::pin!(work);
        tokio::select! {
            biased;
            out = &mut work => out.and_then(|out| out),
            () = expiry => Err(CallError::Timeout(self.addr.clone())),
        }
    }
}

/// Opens a connection to `addr` within `limit`: a refusal or a connect that runs out of time
/// is `Connect`.
pub(crate) async fn connect_within<E: Env>(env: &E, addr: &str, limit: Duration) -> Result<E::Stream, CallError> {
    match seam::timeout(env, limit, env.connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(CallError::Connect { addr: addr.to_string(), source }),
        Err(_) => {
            let source = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
            Err(CallError::Connect { addr: addr.to_string(), source })
        }
    }
}

/// The request id [`call_once`] sends.
const ONCE_ID: u64 = 1;

/// Opens a connection to `addr`, sends `msg`, reads its reply and closes the connection, all
/// within `timeout`. A connect that fails or runs out of time is `Connect`; a reply that does
/// not come in time is `Timeout`; a connection closed, or a frame that cannot be read, before
/// the reply is `Disconnected`. Frames with another id are skipped.
pub async fn call_once<E: Env, M: Wire>(env: &E, addr: &str, msg: M, timeout: Duration) -> Result<M, CallError> {
    let started = env.now();
    let mut stream = connect_within(env, addr, timeout).await?;
    let exchange = async {
        let mut scratch = Vec::with_capacity(128);
        let request = Frame { id: ONCE_ID, msg };
        if let Err(source) = write_frame(&mut stream, &request, &mut scratch).await {
            return Err(CallError::Send { addr: addr.to_string(), source });
        }
        loop {
            match read_frame::<M, _>(&mut stream, &mut scratch).await {
                Ok(Some(frame)) if frame.id == ONCE_ID => return Ok(frame.msg),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return Err(CallError::Disconnected(addr.to_string())),
            }
        }
    };
    let left = timeout.saturating_sub(env.now().saturating_sub(started));
    match seam::timeout(env, left, exchange).await {
        Ok(out) => out,
        Err(_) => Err(CallError::Timeout(addr.to_string())),
    }
}

/// A call in flight. However the call ends (reply, error, or its timeout dropping it), its
/// pending entry goes, so a peer that never answers cannot grow the map; and a call dropped in
/// the middle of writing its frame marks the connection dead, since a half-written frame would
/// garble every frame after it.
struct PendingCall<E: Env, M> {
    conn: Rc<Conn<E, M>>,
    id: u64,
    sending: bool,
}

impl<E: Env, M> Drop for PendingCall<E, M> {
    fn drop(&mut self) {
        self.conn.pending.forget(self.id);
        if self.sending {
            self.conn.alive.set(false);
        }
    }
}

async fn read_replies<E: Env, M: Wire>(reader: <E::Stream as Stream>::ReadHalf, conn: Rc<Conn<E, M>>) {
    let mut reader = FrameReader::new(reader);
    while let Ok(Some(frame)) = reader.next::<M>().await {
        conn.pending.deliver(frame.id, frame.msg);
    }
    conn.alive.set(false);
    conn.pending.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::TokioEnv;

    use crate::echo::{Echo, EchoMsg};
    use crate::kv::api::Msg;
    use crate::proto::ErrorCode;
    use crate::server::tests::bind_any;
    use crate::server::{Capacity, ServiceTime, serve};
    use crate::testenv::{TestEnv, block_on};

    /// A waker that counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn counting() -> (std::sync::Arc<Count>, Waker) {
        let count = std::sync::Arc::new(Count(0.into()));
        (count.clone(), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn a_reply_wakes_its_call_once_and_is_taken_once() {
        let pending = Pending::default();
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        pending.register(7);
        assert!(pending.poll_reply(7, &mut cx).is_pending());
        pending.deliver(8, echo()); // a call that already gave up: nothing happens
        assert_eq!(woken(&count), 0);
        pending.deliver(7, echo());
        assert_eq!(woken(&count), 1);
        assert_eq!(pending.poll_reply(7, &mut cx), Poll::Ready(Some(echo())));
        assert_eq!(pending.len(), 0, "the reply was taken with its entry");
    }

    #[test]
    fn pending_calls_are_found_by_id_across_gaps_and_out_of_order_endings() {
        let pending = Pending::default();
        let mut cx = Context::from_waker(Waker::noop());
        for id in [5, 6, 9, 12] {
            pending.register(id);
        }
        assert_eq!(pending.len(), 4);
        pending.forget(6);
        pending.deliver(12, echo());
        pending.forget(5); // the front ends: the table now starts at 9
        assert_eq!(pending.0.borrow().first, 9);
        assert!(pending.poll_reply(9, &mut cx).is_pending());
        assert_eq!(pending.poll_reply(12, &mut cx), Poll::Ready(Some(echo())));
        assert_eq!(pending.poll_reply(5, &mut cx), Poll::Ready(None), "an ended call has no entry");
        assert_eq!(pending.poll_reply(40, &mut cx), Poll::Ready(None), "nor has one never registered");
        pending.forget(9);
        assert_eq!(pending.len(), 0);
        assert!(pending.0.borrow().slots.is_empty(), "no slot is kept once every call ended");
        pending.register(13);
        assert!(pending.poll_reply(13, &mut cx).is_pending());
    }

    #[test]
    fn a_reply_that_came_before_the_connection_ended_still_reaches_its_call() {
        let pending = Pending::default();
        let (answered, answered_waker) = counting();
        let (waiting, waiting_waker) = counting();
        pending.register(1);
        pending.register(2);
        assert!(pending.poll_reply(1, &mut Context::from_waker(&answered_waker)).is_pending());
        assert!(pending.poll_reply(2, &mut Context::from_waker(&waiting_waker)).is_pending());
        // The reply to 1 and the end of the stream are read before either call runs again.
        pending.deliver(1, echo());
        pending.close();
        assert_eq!((woken(&answered), woken(&waiting)), (1, 1));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(pending.poll_reply(1, &mut cx), Poll::Ready(Some(echo())), "the reply is not lost");
        assert_eq!(pending.poll_reply(2, &mut cx), Poll::Ready(None), "the unanswered call fails");
        assert_eq!(pending.len(), 0);
    }

    fn echo() -> EchoMsg {
        EchoMsg::Echo { payload: b"once".to_vec() }
    }

    #[test]
    fn call_once_opens_a_connection_per_call() {
        block_on(async {
            let env = TestEnv::new("app");
            let (listener, addr) = bind_any(&env).await;
            let capacity = Capacity { max_connections: Some(1), ..Capacity::default() };
            tokio::task::spawn_local(serve(env.clone(), listener, capacity, Echo));
            for _ in 0..3 {
                let reply = call_once(&env, &addr, echo(), Duration::from_secs(2)).await.expect("a reply");
                assert_eq!(reply, echo());
                // Each call closes its connection: with a limit of one, the next is accepted
                // once the server has seen the close.
                for _ in 0..200 {
                    if env.gauge("connections") == Some(0) {
                        break;
                    }
                    env.sleep(Duration::from_millis(2)).await;
                }
                assert_eq!(env.gauge("connections"), Some(0));
            }
            let served = env.served_log();
            assert_eq!(served.len(), 3, "{served:?}");
        });
    }

    #[test]
    fn call_once_reports_a_refusal_as_a_reply_and_transport_failures_as_errors() {
        block_on(async {
            let env = TestEnv::new("app");
            // A slow server holding its only connection: the second caller is refused.
            let (listener, addr) = bind_any(&env).await;
            let capacity = Capacity {
                max_connections: Some(1),
                ..Capacity::new(1, 10, ServiceTime::Fixed(Duration::from_millis(200)))
            };
            tokio::task::spawn_local(serve(env.clone(), listener, capacity, Echo));
            let (slow, refused) = tokio::join!(call_once(&env, &addr, echo(), Duration::from_secs(2)), async {
                env.sleep(Duration::from_millis(50)).await;
                call_once(&env, &addr, echo(), Duration::from_secs(2)).await
            });
            assert_eq!(slow.expect("a reply"), echo());
            let refused = refused.expect("a refusal is a reply");
            assert!(matches!(refused, EchoMsg::Error { code: ErrorCode::TooManyConnections, .. }), "got {refused:?}");
            // A listener that never accepts: the connection opens (backlog) but nobody answers.
            let (silent, silent_addr) = bind_any(&env).await;
            let out = call_once(&env, &silent_addr, echo(), Duration::from_millis(30)).await;
            assert!(matches!(out, Err(CallError::Timeout(_))), "got {out:?}");
            drop(silent);
            // Nobody listens on the port any more.
            let out = call_once(&env, &silent_addr, echo(), Duration::from_secs(1)).await;
            assert!(matches!(out, Err(CallError::Connect { .. })), "got {out:?}");
        });
    }

    #[test]
    fn a_timed_out_call_leaves_nothing_pending() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        tokio::task::LocalSet::new().block_on(&rt, async {
            let env = TokioEnv::new("client", "127.0.0.1", 1);
            // A listener that never accepts: the connection opens (backlog) but nobody answers.
            let silent = env.bind(0).await.expect("bind");
            let addr = silent.local_addr().expect("an address").to_string();
            let client = Client::new(env, addr, Duration::from_secs(1));
            for _ in 0..3 {
                let out = client.call(Msg::Get { key: vec![1], min_lsn: 0 }, Duration::from_millis(20)).await;
                assert!(matches!(out, Err(CallError::Timeout(_))), "got {out:?}");
            }
            let conn = client.conn.lock().await.clone().expect("a connection was opened");
            assert!(conn.pending.len() == 0);
            assert!(conn.alive.get());
        });
    }

    #[test]
    fn a_call_with_an_earlier_deadline_expires_before_an_older_one() {
        block_on(async {
            let env = TokioEnv::new("client", "127.0.0.1", 1);
            let silent = env.bind(0).await.expect("bind");
            let addr = silent.local_addr().expect("an address").to_string();
            let client = Client::new(env.clone(), addr, Duration::from_secs(1));
            let get = || Msg::Get { key: vec![1], min_lsn: 0 };
            let long = client.call(get(), Duration::from_secs(1));
            let short = async {
                env.sleep(Duration::from_millis(20)).await;
                let out = client.call(get(), Duration::from_millis(30)).await;
                let conn = client.current.borrow().clone().expect("a connection");
                (out, conn.pending.len())
            };
            let (long, (short, pending_then)) = tokio::join!(long, short);
            assert!(matches!(short, Err(CallError::Timeout(_))), "got {short:?}");
            assert_eq!(pending_then, 1, "the longer call was still waiting when the shorter one expired");
            assert!(matches!(long, Err(CallError::Timeout(_))), "got {long:?}");
            let conn = client.current.borrow().clone().expect("a connection");
            assert!(conn.pending.len() == 0);
        });
    }
}
