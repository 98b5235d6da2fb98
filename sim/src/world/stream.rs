//! The simulation's streams and listeners: turmoil's TCP, traced and lossy.
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

use super::shared::Shared;
use faultline_chaos::trace::Event;
use faultline_models::seam::{Listener, Stream};
use rand::Rng;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Duplicate acknowledgements that trigger a fast retransmit.
const DUPACKS: u8 = 3;

/// The longest interval between two retransmissions of a segment (Linux's `TCP_RTO_MAX`).
pub(crate) const RTO_MAX: std::time::Duration = std::time::Duration::from_secs(120);

/// A segment waiting to be handed to turmoil.
struct Held {
    bytes: Vec<u8>,
    /// Not before this time.
    earliest: Instant,
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
    half: RefCell<Option<OwnedWriteHalf>>,
    held: RefCell<VecDeque<Held>>,
    /// Wakes the drain task when a held segment's time moves earlier.
    wake: Notify,
    draining: Cell<bool>,
    failed: RefCell<Option<io::ErrorKind>>,
}

/// A TCP stream between two simulated hosts.
pub struct SimStream {
    read: OwnedReadHalf,
    write: SimWriteHalf,
}

/// The writing half of a [`SimStream`]: traced, lossy, retransmitting.
pub struct SimWriteHalf {
    send: Rc<Sender>,
}

impl SimStream {
    pub(crate) fn new(inner: turmoil::net::TcpStream, shared: Rc<Shared>, from: u16, to: u16) -> Self {
        let (read, write) = inner.into_split();
        let send = Rc::new(Sender {
            link: (from, to),
            shared,
            half: RefCell::new(Some(write)),
            held: RefCell::new(VecDeque::new()),
            wake: Notify::new(),
            draining: Cell::new(false),
            failed: RefCell::new(None),
        });
        Self { read, write: SimWriteHalf { send } }
    }
}

impl Stream for SimStream {
    type ReadHalf = OwnedReadHalf;
    type WriteHalf = SimWriteHalf;

    fn into_split(self) -> (OwnedReadHalf, SimWriteHalf) {
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
    fn hold(self: &Rc<Self>, buf: &[u8], now: Instant, lost: bool) {
        let (rto, rtt, cut) = {
            let links = self.shared.links.borrow();
            let (from, to) = self.link;
            (links.rto, links.latency(from, to) * 2, links.is_cut(from, to))
        };
        let mut held = self.held.borrow_mut();
        let mut earlier = false;
        for h in held.iter_mut() {
            if let Some(n) = h.dupacks.as_mut().filter(|n| **n < DUPACKS) {
                *n += 1;
                if *n == DUPACKS && now + rtt < h.earliest {
                    h.earliest = now + rtt;
                    earlier = true;
                }
            }
        }
        // No acknowledgement crosses a partition, so nothing triggers a fast retransmit there.
        let (earliest, dupacks) = match (lost, cut) {
            (false, _) => (now, None),
            (true, false) => (now + rto, Some(0)),
            (true, true) => (now + rto, None),
        };
        held.push_back(Held { bytes: buf.to_vec(), earliest, dupacks, backoff: (rto * 2).min(RTO_MAX) });
        drop(held);
        if earlier {
            self.wake.notify_one();
        }
        if !self.draining.replace(true) {
            tokio::task::spawn_local(drain(self.clone()));
        }
    }
}

/// Delivers held-back segments in order, each at its time.
async fn drain(send: Rc<Sender>) {
    loop {
        let head = send.held.borrow().front().map(|h| h.earliest);
        let Some(at) = head else { break };
        if Instant::now() < at {
            tokio::select! {
                biased;
                () = send.wake.notified() => continue,
                () = tokio::time::sleep_until(at) => {}
            }
        }
        if send.links_cut() {
            // This retransmission is lost in the partition too: back off and try again.
            let mut held = send.held.borrow_mut();
            let head = held.front_mut().expect("the head is still there");
            head.earliest = at + head.backoff;
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
        Pin::new(&mut self.read).poll_read(cx, buf)
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
        if lost || !send.held.borrow().is_empty() {
            send.hold(buf, Instant::now(), lost);
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
    pub(crate) inner: turmoil::net::TcpListener,
    pub(crate) shared: Rc<Shared>,
    pub(crate) host: u16,
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&self) -> io::Result<(SimStream, String)> {
        let (stream, peer) = self.inner.accept().await?;
        let peer_host = self.shared.by_ip.borrow().get(&peer.ip()).copied();
        let peer_host = peer_host.ok_or_else(|| io::Error::other(format!("unknown peer {peer}")))?;
        let name = self.shared.hosts[peer_host as usize].name.clone();
        Ok((SimStream::new(stream, self.shared.clone(), self.host, peer_host), format!("{name}:{}", peer.port())))
    }
}
