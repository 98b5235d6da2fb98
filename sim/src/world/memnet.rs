//! The world's own transport, for an engine with no TCP of its own (madsim): connections held
//! in memory whose bytes arrive after their link's latency and jitter, in order.
//!
//! The stream model on top (loss as retransmission delay, partitions as lasting loss, the
//! backlog and the ports: `stream.rs`) is the same on both engines; this is only what it hands
//! its segments to where turmoil's TCP would take them, and it behaves as turmoil's does:
//!
//! - a segment written at `t` on a link of latency `l` and jitter `j` arrives at `t + l + u`,
//!   `u` drawn uniformly from `0..=j`, and never before the segment written ahead of it;
//! - each direction holds at most [`WINDOW`] segments not yet read: a write past them waits for
//!   the reader (a full receive window);
//! - closing the writing half (or dropping it, as a crash drops every socket of the host) sends
//!   a FIN: the reader reads the end of the stream once the bytes before it are read;
//! - dropping the reading half with bytes unread, or writing to a peer whose reading half is
//!   gone, resets the connection (RFC 9293 3.10.4): the other side's reads and writes fail with
//!   `ConnectionReset` once the RST has crossed the link;
//! - a host that crashes (or restarts) drops its sockets, with the same FIN and RST as any drop
//!   (turmoil's crash drops them the same way);
//! - a connect takes a round trip; it is refused when nothing listens on the port, or when a
//!   partition cuts the link both ways (turmoil drops the SYN and refuses it too); to a host
//!   that is down it waits for the host's restart and is refused then, and bytes written to a
//!   socket of a host that is down get no answer (turmoil delivers nothing to a crashed host,
//!   and what waited for it reaches it before its restarted software has bound a port).
//!
//! Wake-ups cost what madsim's own TCP costs: one timer per segment. A reader waiting on an
//! empty pipe is not woken by the write (it would only find the segment on its way); the
//! writer sets a timer that wakes it when the segment arrives.
//!
//! Must not: draw randomness but from the writing host's network stream, or read any clock but
//! the world's.

use super::shared::Shared;
use rand::Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Segments one direction of a connection holds unread before a write waits: turmoil's window.
pub(crate) const WINDOW: usize = 64;

/// The first ephemeral port (Linux's and turmoil's range starts here).
const FIRST_PORT: u16 = 49_152;

/// The listeners of the world and the ports each host opened connections from.
#[derive(Default)]
pub(crate) struct MemNet {
    listeners: RefCell<BTreeMap<(u16, u16), Rc<Accepts>>>,
    next_port: RefCell<BTreeMap<u16, u16>>,
    /// Each host's incarnation: a crash or restart starts a new one.
    incarnations: RefCell<BTreeMap<u16, u32>>,
    /// Hosts crashed and not restarted: what is sent to one waits for its restart.
    down: RefCell<BTreeSet<u16>>,
    /// Wakes the connects waiting for a host to come back.
    restarted: Notify,
}

impl MemNet {
    /// Host `host` was crashed (`up` false) or restarted: the sockets and listeners of its old
    /// incarnation are gone (the engine drops their tasks a moment later, after a restarted
    /// one may have bound its ports again).
    pub(crate) fn new_incarnation(&self, host: u16, up: bool) {
        *self.incarnations.borrow_mut().entry(host).or_insert(0) += 1;
        let mut down = self.down.borrow_mut();
        if up {
            down.remove(&host);
            self.restarted.notify_waiters();
        } else {
            down.insert(host);
        }
    }

    /// Whether `host` is crashed and not restarted.
    fn is_down(&self, host: u16) -> bool {
        self.down.borrow().contains(&host)
    }

    fn incarnation(&self, host: u16) -> u32 {
        self.incarnations.borrow().get(&host).copied().unwrap_or(0)
    }
}

/// Connections that reached a listener and wait to be accepted.
struct Accepts {
    /// The incarnation of the host that listens.
    incarnation: u32,
    queue: RefCell<VecDeque<(super::SimStream, String)>>,
    ready: Notify,
}

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    /// Segments on their way or arrived and not yet read whole: (arrival ns, bytes, read offset).
    segs: VecDeque<(u64, Vec<u8>, usize)>,
    /// The latest arrival scheduled: no later segment arrives before it.
    last_ns: u64,
    /// When the writer's FIN arrives.
    fin_ns: Option<u64>,
    /// When the RST that reset the reader's connection arrives.
    reset_ns: Option<u64>,
    reader_gone: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// A wake-up the writer set for the waiting reader at a segment's arrival (ns), and the
    /// waker it wakes: the reader sets no timer of its own for that arrival.
    armed: Option<(u64, Waker)>,
}

/// A connection between two hosts: pipe `d` carries what `ends[d]` writes to `ends[1 - d]`.
pub(crate) struct Conn {
    shared: Rc<Shared>,
    ends: [u16; 2],
    pipes: [RefCell<Pipe>; 2],
}

impl Conn {
    /// When a segment `from` end `d` writes now arrives: the link's latency plus drawn jitter,
    /// never before the one ahead of it.
    fn arrival(&self, d: usize, now_ns: u64) -> u64 {
        let (from, to) = (self.ends[d], self.ends[1 - d]);
        let delay = one_way(&self.shared, from, to);
        let pipe = self.pipes[d].borrow();
        (now_ns + delay).max(pipe.last_ns)
    }

    /// Resets the connection for end `1 - d`'s reader: the RST end `d` sends arrives after the
    /// link's latency. Wakes it so it sees it.
    fn reset_towards(&self, d: usize, now_ns: u64) {
        let at = now_ns + one_way(&self.shared, self.ends[d], self.ends[1 - d]);
        let mut other = self.pipes[1 - d].borrow_mut();
        other.reset_ns = Some(other.reset_ns.map_or(at, |t| t.min(at)));
        if let Some(w) = other.read_waker.take() {
            w.wake();
        }
        if let Some(w) = other.write_waker.take() {
            w.wake();
        }
        drop(other);
        // Its writes to us fail too: wake a writer of ours waiting for room.
        if let Some(w) = self.pipes[d].borrow_mut().write_waker.take() {
            w.wake();
        }
    }
}

/// The delay of one message from `from` to `to` now: the link's latency plus jitter drawn from
/// the writer's network stream.
fn one_way(shared: &Shared, from: u16, to: u16) -> u64 {
    let links = shared.links.borrow();
    let (latency, max) = (links.latency(from, to), links.max_delay(from, to));
    let jitter = (max - latency).as_nanos() as u64;
    let drawn =
        if jitter == 0 { 0 } else { shared.hosts[from as usize].loss_rng.borrow_mut().random_range(0..=jitter) };
    latency.as_nanos() as u64 + drawn
}

/// A sleep to an arrival.
type Timer = Pin<Box<dyn Future<Output = ()>>>;

/// The reading half of one end of a connection.
pub(crate) struct MemReader {
    conn: Rc<Conn>,
    /// The pipe it reads (written by the other end).
    d: usize,
    /// A sleep to the next arrival it waits for, and that arrival's time.
    timer: Option<(u64, Timer)>,
}

/// The writing half of one end of a connection.
pub(crate) struct MemWriter {
    conn: Rc<Conn>,
    /// The pipe it writes.
    d: usize,
    shut: bool,
}

impl MemReader {
    fn me(&self) -> u16 {
        self.conn.ends[1 - self.d]
    }
}

impl AsyncRead for MemReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let now = self.conn.shared.now_ns(self.me());
            let mut pipe = self.conn.pipes[self.d].borrow_mut();
            if pipe.reset_ns.is_some_and(|t| t <= now) {
                pipe.segs.clear();
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")));
            }
            let (mut read, mut freed) = (false, false);
            while buf.remaining() > 0 {
                let Some((at, bytes, off)) = pipe.segs.front_mut() else { break };
                if *at > now {
                    break;
                }
                let n = buf.remaining().min(bytes.len() - *off);
                buf.put_slice(&bytes[*off..*off + n]);
                *off += n;
                read = true;
                if *off == bytes.len() {
                    pipe.segs.pop_front();
                    freed = true;
                }
            }
            if read {
                if freed && let Some(w) = pipe.write_waker.take() {
                    w.wake();
                }
                return Poll::Ready(Ok(()));
            }
            let next = match pipe.segs.front() {
                Some((at, ..)) => Some(*at),
                None if pipe.fin_ns.is_some_and(|t| t <= now) => return Poll::Ready(Ok(())),
                None => pipe.fin_ns,
            };
            let wake_at = match (next, pipe.reset_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            pipe.read_waker = Some(cx.waker().clone());
            let armed = pipe.armed.as_ref().is_some_and(|(t, w)| Some(*t) == wake_at && w.will_wake(cx.waker()));
            drop(pipe);
            let Some(at) = wake_at else { return Poll::Pending };
            if armed {
                // The writer's wake-up comes at this arrival.
                return Poll::Pending;
            }
            if self.timer.as_ref().is_none_or(|(t, _)| *t != at) {
                let sleep = self.conn.shared.sleep(Duration::from_nanos(at - now));
                self.timer = Some((at, Box::pin(sleep)));
            }
            let (_, timer) = self.timer.as_mut().expect("armed above");
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => self.timer = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for MemReader {
    fn drop(&mut self) {
        let now = self.conn.shared.now_ns(self.me());
        let mut pipe = self.conn.pipes[self.d].borrow_mut();
        pipe.reader_gone = true;
        // Bytes arrived and not read: a RST tells the peer they were lost (segments still on
        // their way are not yet the reader's).
        let unread = pipe.segs.front().is_some_and(|(at, ..)| *at <= now);
        pipe.segs.clear();
        let writer = pipe.write_waker.take();
        drop(pipe);
        if let Some(w) = writer {
            w.wake();
        }
        if unread {
            self.conn.reset_towards(1 - self.d, now);
        }
    }
}

impl MemWriter {
    fn me(&self) -> u16 {
        self.conn.ends[self.d]
    }

    /// Sends the FIN (once).
    fn close(&mut self) {
        if std::mem::replace(&mut self.shut, true) {
            return;
        }
        let now = self.conn.shared.now_ns(self.me());
        let at = self.conn.arrival(self.d, now);
        let mut pipe = self.conn.pipes[self.d].borrow_mut();
        pipe.fin_ns = Some(at);
        pipe.last_ns = at;
        if let Some(w) = pipe.read_waker.take() {
            w.wake();
        }
    }
}

impl AsyncWrite for MemWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the stream was shut for writing")));
        }
        let now = self.conn.shared.now_ns(self.me());
        if self.conn.pipes[1 - self.d].borrow().reset_ns.is_some_and(|t| t <= now) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")));
        }
        let (gone, full) = {
            let pipe = self.conn.pipes[self.d].borrow();
            (pipe.reader_gone, pipe.segs.len() >= WINDOW)
        };
        if gone && self.conn.shared.mem.is_down(self.conn.ends[1 - self.d]) {
            // Bytes to a host that is down: nothing answers them.
            return Poll::Ready(Ok(buf.len()));
        }
        if gone {
            // Bytes to a socket no one reads: its host answers with a RST.
            self.conn.reset_towards(1 - self.d, self.conn.arrival(self.d, now));
            return Poll::Ready(Ok(buf.len()));
        }
        if full {
            self.conn.pipes[self.d].borrow_mut().write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let at = self.conn.arrival(self.d, now);
        let mut pipe = self.conn.pipes[self.d].borrow_mut();
        let first = pipe.segs.is_empty();
        pipe.segs.push_back((at, buf.to_vec(), 0));
        pipe.last_ns = at;
        if let Some(w) = pipe.read_waker.take() {
            // A reader waiting on an empty pipe would only wake to set a timer for this
            // arrival: the timer is set here, and wakes it when the segment is there. It stays
            // the reader's waker too, for a FIN or RST that comes first.
            if first && at > now && self.conn.shared.engine_clock.wake_after(Duration::from_nanos(at - now), &w) {
                pipe.read_waker = Some(w.clone());
                pipe.armed = Some((at, w));
            } else {
                w.wake();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for MemWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// A listener's end in the world's listener table.
pub(crate) struct MemListener {
    shared: Rc<Shared>,
    key: (u16, u16),
    accepts: Rc<Accepts>,
}

impl MemListener {
    /// Binds `port` on `host`; `AddrInUse` when a listener of this host holds it.
    pub(crate) fn bind(shared: &Rc<Shared>, host: u16, port: u16) -> io::Result<MemListener> {
        let incarnation = shared.mem.incarnation(host);
        let mut listeners = shared.mem.listeners.borrow_mut();
        if listeners.get(&(host, port)).is_some_and(|a| a.incarnation == incarnation) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("port {port} is in use")));
        }
        let accepts = Rc::new(Accepts { incarnation, queue: RefCell::default(), ready: Notify::new() });
        listeners.insert((host, port), accepts.clone());
        Ok(MemListener { shared: shared.clone(), key: (host, port), accepts })
    }

    /// The next connection and its peer's address.
    pub(crate) async fn accept(&self) -> io::Result<(super::SimStream, String)> {
        loop {
            if let Some(conn) = self.accepts.queue.borrow_mut().pop_front() {
                return Ok(conn);
            }
            self.accepts.ready.notified().await;
        }
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        let mut listeners = self.shared.mem.listeners.borrow_mut();
        if listeners.get(&self.key).is_some_and(|a| Rc::ptr_eq(a, &self.accepts)) {
            listeners.remove(&self.key);
        }
        drop(listeners);
        // Connections never accepted close with the listener.
        let queued = std::mem::take(&mut *self.accepts.queue.borrow_mut());
        drop(queued);
    }
}

/// Opens a connection from `from` to `port` on `to`: the SYN crosses the link, the listener
/// queues the connection, the SYN-ACK crosses back. Returns the two ends' halves: `from`'s, and
/// `to`'s already queued on its listener.
pub(crate) async fn connect(shared: &Rc<Shared>, from: u16, to: u16, port: u16) -> io::Result<(MemReader, MemWriter)> {
    shared.sleep(Duration::from_nanos(one_way(shared, from, to))).await;
    let refused =
        || io::Error::new(io::ErrorKind::ConnectionRefused, format!("{}:{port}", shared.hosts[to as usize].name));
    let cut = {
        let links = shared.links.borrow();
        links.is_cut(from, to) && links.is_cut(to, from)
    };
    if cut {
        return Err(refused());
    }
    // A host that is down answers nothing: the SYN waits for its restart, unless the caller's
    // timeout gives up first, and is refused then (turmoil delivers nothing to a crashed host,
    // and what was queued for it reaches the restarted host before its software has bound a
    // port).
    if shared.mem.is_down(to) {
        loop {
            let restarted = shared.mem.restarted.notified();
            if !shared.mem.is_down(to) {
                break;
            }
            restarted.await;
        }
        shared.sleep(Duration::from_nanos(one_way(shared, to, from))).await;
        return Err(refused());
    }
    let incarnation = shared.mem.incarnation(to);
    let accepts = shared.mem.listeners.borrow().get(&(to, port)).filter(|a| a.incarnation == incarnation).cloned();
    let Some(accepts) = accepts else {
        shared.sleep(Duration::from_nanos(one_way(shared, to, from))).await;
        return Err(refused());
    };
    let conn = Rc::new(Conn { shared: shared.clone(), ends: [from, to], pipes: Default::default() });
    let local_port = {
        let mut ports = shared.mem.next_port.borrow_mut();
        let next = ports.entry(from).or_insert(FIRST_PORT);
        let port = *next;
        *next = next.checked_add(1).unwrap_or(FIRST_PORT);
        port
    };
    let server =
        (MemReader { conn: conn.clone(), d: 0, timer: None }, MemWriter { conn: conn.clone(), d: 1, shut: false });
    let server = super::SimStream::over_mem(server, shared.clone(), to, from);
    let peer = format!("{}:{local_port}", shared.hosts[from as usize].name);
    accepts.queue.borrow_mut().push_back((server, peer));
    accepts.ready.notify_one();
    let client = (MemReader { conn: conn.clone(), d: 1, timer: None }, MemWriter { conn, d: 0, shut: false });
    shared.sleep(Duration::from_nanos(one_way(shared, to, from))).await;
    Ok(client)
}
