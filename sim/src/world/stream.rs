//! The simulation's streams and listeners, traced and lossy, over turmoil's TCP or (on madsim)
//! the world's own transport (`memnet.rs`).
//!
//! Every write on a [`SimStream`] is one message (segment) on the simulated network and is
//! recorded as [`Event::Message`]. Loss is modelled the way TCP experiences it, not as data
//! that vanishes (turmoil's own `fail_rate` drops segments for good, which would wedge TCP):
//!
//! - a lost segment is resent, and the receiver cannot read past the gap until the resent copy
//!   arrives, so the segments written after it are held back too (head-of-line blocking);
//! - it is resent after the retransmission timeout (RTO) when nothing follows it (tail loss),
//!   or, as fast retransmit does, one round trip after the third later segment was written
//!   (three duplicate acknowledgements), whichever comes first;
//! - losses within one recovery overlap, as TCP's window lets them.
//!
//! So a segment written at `t` reaches turmoil (which adds the link's latency) at the latest of:
//! `t`; its recovery time if it was lost; the time the segment before it did. Without loss,
//! writes go straight to turmoil. Once a segment is held back, it and every later one wait in
//! a queue that a small task on the host drains in order.
//!
//! A partition is loss that lasts: a segment written across a cut link (turmoil would drop it
//! for good, and its receiver would wait for it forever) is retransmitted the way TCP does,
//! after the RTO and then after intervals that double up to [`RTO_MAX`], until an attempt finds
//! the link healed. So a connection survives a partition and resumes at the first
//! retransmission after the heal, as a real one does (this model never gives up on it). A
//! one-way partition cuts one direction: the writer's segments are held while its peer's still
//! arrive (so requests get through and their replies do not).
//!
//! Flow control, so that no load panics the engine where real TCP holds the sender back:
//!
//! - Data: turmoil gives each direction of a stream a window of 64 segments; a write past it
//!   waits for the reader to consume one (as a full receive window stops a TCP sender). A write
//!   made while the drain task waits so holds its segment in the queue behind the others.
//! - Connection requests: turmoil's listener queues at most [`BACKLOG`] of them and panics on one
//!   more ("server socket buffer full"), where a kernel would drop the SYN and the client would
//!   resend it. Here at most [`BACKLOG`] handshakes are under way to one listener at a time (a
//!   SYN on its way counts, as a full queue is only ever filled by SYNs that were on their way);
//!   a connect past them waits, in order, for one to complete: each completes within a round
//!   trip, as the servers accept at once. A connect given up (timed out) before its handshake
//!   resolved keeps its place until its SYN has surely arrived (the link's latency and jitter
//!   and two ticks after it was sent).
//! - Ports: a host opens connections from [`EPHEMERAL_PORTS`] ports, and turmoil panics when none
//!   is free ("ports exhausted"). A connect with none free fails with `AddrNotAvailable`, as
//!   `connect(2)` does. Turmoil keeps the port of a connect that failed or was given up for the
//!   rest of the run, so the count here keeps it too.
//!
//! While no listener has [`BACKLOG`] handshakes under way and no host runs out of ports, none of
//! this adds a wait or a task: a run below those limits is what it was without them.

use super::engine::Engine;
use super::memnet;
use super::shared::Shared;
use faultline_chaos::trace::Event;
use faultline_models::seam::{Listener, Stream};
use rand::Rng;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Duplicate acknowledgements that trigger a fast retransmit.
const DUPACKS: u8 = 3;

/// The longest interval between two retransmissions of a segment (Linux's `TCP_RTO_MAX`).
pub(crate) const RTO_MAX: std::time::Duration = std::time::Duration::from_secs(120);

/// Connection requests turmoil's listener queues before they are accepted (its `tcp_capacity`,
/// 64 unless the builder sets it): one more arriving panics.
pub(crate) const BACKLOG: usize = 64;

/// Ports a host opens connections from: 49152 to 65535, turmoil's range and Linux's.
pub(crate) const EPHEMERAL_PORTS: usize = 16_384;

/// The connections being opened in the world: each listener's handshakes, each host's ports.
pub(crate) struct Handshakes {
    /// The world's step: a SYN is handled within two steps of its arrival time.
    tick: Duration,
    /// By the listener's (host, port).
    backlogs: RefCell<BTreeMap<(u16, u16), Rc<Backlog>>>,
    /// Ports each host's connections hold (open, or kept by turmoil after a failed connect).
    ports: RefCell<BTreeMap<u16, usize>>,
}

/// The handshakes under way to one listener.
struct Backlog {
    places: Arc<Semaphore>,
    /// Places of handshakes given up before they resolved, by the simulated time (ns) from which
    /// their SYN has surely arrived.
    orphans: RefCell<BTreeMap<u64, Vec<OwnedSemaphorePermit>>>,
}

impl Handshakes {
    pub(crate) fn new(tick: Duration) -> Self {
        Handshakes { tick, backlogs: RefCell::default(), ports: RefCell::default() }
    }

    fn backlog(&self, host: u16, port: u16) -> Rc<Backlog> {
        let mut backlogs = self.backlogs.borrow_mut();
        let backlog = backlogs.entry((host, port)).or_insert_with(|| {
            Rc::new(Backlog { places: Arc::new(Semaphore::new(BACKLOG)), orphans: RefCell::default() })
        });
        backlog.clone()
    }

    /// Takes a port on `host` for a new connection; `AddrNotAvailable` when none is free.
    fn take_port(&self, host: u16, name: &str) -> io::Result<()> {
        let mut ports = self.ports.borrow_mut();
        let used = ports.entry(host).or_insert(0);
        if *used >= EPHEMERAL_PORTS {
            let message = format!("{name} has no free port: its {EPHEMERAL_PORTS} ports are all held");
            return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, message));
        }
        *used += 1;
        Ok(())
    }
}

impl Backlog {
    /// Waits for a place for one more handshake; at once (no wait, no yield) when one is free.
    async fn enter(&self, shared: &Shared, host: u16) -> OwnedSemaphorePermit {
        loop {
            let now_ns = shared.now_ns(host);
            let next_orphan = self.release_orphans(now_ns);
            if let Ok(place) = self.places.clone().try_acquire_owned() {
                return place;
            }
            let Some(at_ns) = next_orphan else {
                return self.places.clone().acquire_owned().await.expect("a backlog is never closed");
            };
            tokio::select! {
                biased;
                place = self.places.clone().acquire_owned() => return place.expect("a backlog is never closed"),
                () = shared.sleep(Duration::from_nanos(at_ns - now_ns)) => {}
            }
        }
    }

    /// Frees the places of given-up handshakes whose SYN has arrived by `now_ns`; returns when
    /// the next one's will have.
    fn release_orphans(&self, now_ns: u64) -> Option<u64> {
        let mut orphans = self.orphans.borrow_mut();
        while orphans.first_key_value().is_some_and(|(&at, _)| at <= now_ns) {
            orphans.pop_first();
        }
        orphans.first_key_value().map(|(&at, _)| at)
    }
}

/// One handshake's place in its listener's backlog, from its SYN to its resolution.
struct Handshake {
    backlog: Rc<Backlog>,
    place: Option<OwnedSemaphorePermit>,
    /// The simulated time (ns) from which its SYN has surely arrived.
    arrived_by_ns: u64,
}

impl Handshake {
    /// The handshake resolved (accepted or refused): its place is free.
    fn resolved(mut self) {
        self.place = None;
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        // Given up before it resolved: the SYN may still reach the listener's queue.
        if let Some(place) = self.place.take() {
            self.backlog.orphans.borrow_mut().entry(self.arrived_by_ns).or_default().push(place);
        }
    }
}

/// Opens a connection from host `from` to `addr` on host `to`, within the world's limits (see
/// the module doc): a port on `from`, a place in the listener's backlog.
pub(crate) async fn connect(shared: Rc<Shared>, from: u16, to: u16, addr: String) -> io::Result<SimStream> {
    let port = addr.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok());
    let mut entered = None;
    if let Some(port) = port {
        let backlog = shared.handshakes.backlog(to, port);
        let place = backlog.enter(&shared, from).await;
        entered = Some((backlog, place));
    }
    // From here to turmoil's SYN nothing waits, so nothing can give the connect up in between.
    shared.handshakes.take_port(from, &shared.hosts[from as usize].name)?;
    let handshake = entered.map(|(backlog, place)| {
        let delay = shared.links.borrow().max_delay(from, to) + shared.handshakes.tick * 2;
        let arrived_by_ns = shared.now_ns(from) + delay.as_nanos() as u64;
        Handshake { backlog, place: Some(place), arrived_by_ns }
    });
    let stream = match shared.engine {
        Engine::Turmoil => turmoil::net::TcpStream::connect(addr.as_str()).await.map(|stream| {
            let (read, write) = stream.into_split();
            (ReadWire::Turmoil(read), WriteWire::Turmoil(write))
        }),
        Engine::Madsim => match port {
            Some(port) => {
                memnet::connect(&shared, from, to, port).await.map(|(r, w)| (ReadWire::Mem(r), WriteWire::Mem(w)))
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no port in {addr}"))),
        },
    };
    if let Some(handshake) = handshake {
        handshake.resolved();
    }
    // A connect that failed keeps its port: turmoil does not free it.
    let (read, write) = stream?;
    let port = Rc::new(PortHold { shared: shared.clone(), host: from });
    Ok(SimStream::from_wires(read, write, shared, from, to, Some(port)))
}

/// The port a connection opened from `host` holds until both its halves are dropped.
struct PortHold {
    shared: Rc<Shared>,
    host: u16,
}

impl Drop for PortHold {
    fn drop(&mut self) {
        if let Some(used) = self.shared.handshakes.ports.borrow_mut().get_mut(&self.host) {
            *used -= 1;
        }
    }
}

/// A segment waiting to be handed to turmoil.
struct Held {
    bytes: Vec<u8>,
    /// Not before this time, simulated nanoseconds.
    earliest: u64,
    /// For a lost segment: later segments written since (its duplicate acknowledgements).
    dupacks: Option<u8>,
    /// The interval to the next retransmission should this one find the link cut.
    backoff: std::time::Duration,
}

/// The sending side of a stream, shared with its drain task while segments are held back.
struct Sender {
    /// The link's two ends, to ask whether a partition cuts it.
    link: (u16, u16),
    shared: Rc<Shared>,
    half: RefCell<Option<WriteWire>>,
    held: RefCell<VecDeque<Held>>,
    /// Wakes the drain task when a held segment's time moves earlier.
    wake: Notify,
    draining: Cell<bool>,
    failed: RefCell<Option<io::ErrorKind>>,
    /// The port of a connection this host opened, shared with the reading half.
    _port: Option<Rc<PortHold>>,
}

/// What a stream's reading half reads from: turmoil's TCP or the madsim engine's transport.
pub(crate) enum ReadWire {
    Turmoil(OwnedReadHalf),
    Mem(memnet::MemReader),
}

/// What a stream's writing half hands its segments to.
pub(crate) enum WriteWire {
    Turmoil(OwnedWriteHalf),
    Mem(memnet::MemWriter),
}

impl AsyncRead for ReadWire {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadWire::Turmoil(half) => Pin::new(half).poll_read(cx, buf),
            ReadWire::Mem(half) => Pin::new(half).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteWire {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteWire::Turmoil(half) => Pin::new(half).poll_write(cx, buf),
            WriteWire::Mem(half) => Pin::new(half).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteWire::Turmoil(half) => Pin::new(half).poll_flush(cx),
            WriteWire::Mem(half) => Pin::new(half).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteWire::Turmoil(half) => Pin::new(half).poll_shutdown(cx),
            WriteWire::Mem(half) => Pin::new(half).poll_shutdown(cx),
        }
    }
}

/// A TCP stream between two simulated hosts.
pub struct SimStream {
    read: SimReadHalf,
    write: SimWriteHalf,
}

/// The reading half of a [`SimStream`].
pub struct SimReadHalf {
    inner: ReadWire,
    /// The port of a connection this host opened, shared with the writing half.
    _port: Option<Rc<PortHold>>,
}

/// The writing half of a [`SimStream`]: traced, lossy, retransmitting.
pub struct SimWriteHalf {
    send: Rc<Sender>,
}

impl SimStream {
    /// A stream of the madsim engine's own transport, from `from`'s end to `to`.
    /// (The accepting end: it holds no port of its own.)
    pub(crate) fn over_mem(
        (read, write): (memnet::MemReader, memnet::MemWriter),
        shared: Rc<Shared>,
        from: u16,
        to: u16,
    ) -> Self {
        Self::from_wires(ReadWire::Mem(read), WriteWire::Mem(write), shared, from, to, None)
    }

    fn from_wires(
        read: ReadWire,
        write: WriteWire,
        shared: Rc<Shared>,
        from: u16,
        to: u16,
        port: Option<Rc<PortHold>>,
    ) -> Self {
        let send = Rc::new(Sender {
            link: (from, to),
            shared,
            half: RefCell::new(Some(write)),
            held: RefCell::new(VecDeque::new()),
            wake: Notify::new(),
            draining: Cell::new(false),
            failed: RefCell::new(None),
            _port: port.clone(),
        });
        Self { read: SimReadHalf { inner: read, _port: port }, write: SimWriteHalf { send } }
    }
}

impl Stream for SimStream {
    type ReadHalf = SimReadHalf;
    type WriteHalf = SimWriteHalf;

    fn into_split(self) -> (SimReadHalf, SimWriteHalf) {
        (self.read, self.write)
    }
}

impl Sender {
    /// Whether a partition cuts this stream's direction (writer -> peer) now.
    fn links_cut(&self) -> bool {
        self.shared.links.borrow().is_cut(self.link.0, self.link.1)
    }

    /// Whether the next segment is lost once on this link (a cut link loses every segment).
    fn draw_loss(&self) -> bool {
        let (from, to) = self.link;
        let links = self.shared.links.borrow();
        if links.is_cut(from, to) {
            return true;
        }
        let loss = links.loss(from, to);
        loss > 0.0 && self.shared.hosts[from as usize].loss_rng.borrow_mut().random::<f64>() < loss
    }

    fn record(&self, bytes: usize, retransmitted: bool) {
        let mut rec = self.shared.recorder.borrow_mut();
        if rec.config.messages {
            let (from, to) = self.link;
            let event = Event::Message { from, to, bytes: bytes as u32, retransmitted };
            rec.push(self.shared.now_ns(from), event);
        }
    }

    /// Queues a segment written `now`, counting it as a duplicate acknowledgement for the lost
    /// segments ahead of it.
    fn hold(self: &Rc<Self>, buf: &[u8], now: u64, lost: bool) {
        let (rto, rtt, cut) = {
            let links = self.shared.links.borrow();
            let (from, to) = self.link;
            (links.rto, links.latency(from, to) * 2, links.is_cut(from, to))
        };
        let (rto_ns, rtt_ns) = (rto.as_nanos() as u64, rtt.as_nanos() as u64);
        let mut held = self.held.borrow_mut();
        let mut earlier = false;
        for h in held.iter_mut() {
            if let Some(n) = h.dupacks.as_mut().filter(|n| **n < DUPACKS) {
                *n += 1;
                if *n == DUPACKS && now + rtt_ns < h.earliest {
                    h.earliest = now + rtt_ns;
                    earlier = true;
                }
            }
        }
        // No acknowledgement crosses a partition, so nothing triggers a fast retransmit there.
        let (earliest, dupacks) = match (lost, cut) {
            (false, _) => (now, None),
            (true, false) => (now + rto_ns, Some(0)),
            (true, true) => (now + rto_ns, None),
        };
        held.push_back(Held { bytes: buf.to_vec(), earliest, dupacks, backoff: (rto * 2).min(RTO_MAX) });
        drop(held);
        if earlier {
            self.wake.notify_one();
        }
        if !self.draining.replace(true) {
            self.shared.engine.spawn(drain(self.clone()));
        }
    }
}

/// Delivers held-back segments in order, each at its time.
async fn drain(send: Rc<Sender>) {
    loop {
        let head = send.held.borrow().front().map(|h| h.earliest);
        let Some(at) = head else { break };
        let now = send.shared.now_ns(send.link.0);
        if now < at {
            tokio::select! {
                biased;
                () = send.wake.notified() => continue,
                () = send.shared.sleep(Duration::from_nanos(at - now)) => {}
            }
        }
        if send.links_cut() {
            // This retransmission is lost in the partition too: back off and try again.
            let mut held = send.held.borrow_mut();
            let head = held.front_mut().expect("the head is still there");
            head.earliest = at + head.backoff.as_nanos() as u64;
            head.backoff = (head.backoff * 2).min(RTO_MAX);
            head.dupacks = None;
            continue;
        }
        let Some(Held { bytes, .. }) = send.held.borrow_mut().pop_front() else { break };
        let half = send.half.borrow_mut().take();
        let Some(mut half) = half else { break };
        let result = half.write_all(&bytes).await;
        *send.half.borrow_mut() = Some(half);
        if let Err(e) = result {
            *send.failed.borrow_mut() = Some(e.kind());
            send.held.borrow_mut().clear();
            break;
        }
    }
    send.draining.set(false);
}

impl AsyncRead for SimStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read.inner).poll_read(cx, buf)
    }
}

impl AsyncRead for SimReadHalf {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

impl AsyncWrite for SimWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let send = &self.send;
        if let Some(kind) = *send.failed.borrow() {
            return Poll::Ready(Err(io::Error::new(kind, "the connection failed while resending")));
        }
        let lost = send.draw_loss();
        // While the drain task hands a segment to turmoil (waiting for room in the window),
        // the stream's half is with it: this segment queues behind.
        if lost || !send.held.borrow().is_empty() || send.half.borrow().is_none() {
            send.hold(buf, send.shared.now_ns(send.link.0), lost);
            send.record(buf.len(), lost);
            return Poll::Ready(Ok(buf.len()));
        }
        let mut half = send.half.borrow_mut();
        let Some(half) = half.as_mut() else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the stream is being drained")));
        };
        let written = Pin::new(half).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            send.record(n, false);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.send.half.borrow_mut().as_mut() {
            Some(half) => Pin::new(half).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.send.held.borrow().is_empty() {
            // The drain task shuts the stream when it drops the last segment's sender.
            return Poll::Ready(Ok(()));
        }
        match self.send.half.borrow_mut().as_mut() {
            Some(half) => Pin::new(half).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A listening socket on a simulated host.
pub struct SimListener {
    pub(crate) inner: ListenWire,
    pub(crate) shared: Rc<Shared>,
    pub(crate) host: u16,
}

/// What a listener listens on: turmoil's TCP or the madsim engine's own transport.
pub(crate) enum ListenWire {
    Turmoil(turmoil::net::TcpListener),
    Mem(memnet::MemListener),
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&self) -> io::Result<(SimStream, String)> {
        let inner = match &self.inner {
            ListenWire::Turmoil(inner) => inner,
            ListenWire::Mem(inner) => return inner.accept().await,
        };
        let (stream, peer) = inner.accept().await?;
        let peer_host = self.shared.by_ip.borrow().get(&peer.ip()).copied();
        let peer_host = peer_host.ok_or_else(|| io::Error::other(format!("unknown peer {peer}")))?;
        let name = self.shared.hosts[peer_host as usize].name.clone();
        let (read, write) = stream.into_split();
        let (read, write) = (ReadWire::Turmoil(read), WriteWire::Turmoil(write));
        let stream = SimStream::from_wires(read, write, self.shared.clone(), self.host, peer_host, None);
        Ok((stream, format!("{name}:{}", peer.port())))
    }
}
