//! The two contracts the server's queueing model is generic over, and the reply path they meet
//! on: a [`Codec`] (a wire protocol: how requests are read off a connection and replies written,
//! what a request costs, how a refusal looks, which replies are failures) and a [`Handler`] (a
//! model: how a request is answered). The framed protocol is one codec (`proto::Framed`); a
//! protocol that answers in order on each connection (RESP, HTTP/1.1) is another.
//!
//! This module must not know any protocol's messages or any model's logic; the queueing model
//! itself (slots, queue, service time, connection limits, gauges) lives in `server`.

use crate::lock::LocalLock;
use crate::seam::{Env, Listener, RequestKind, Stream};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// What a request costs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A query: it takes a worker slot (waiting in the queue for one) and its service time,
    /// and is reported as served, with its kind.
    Query(RequestKind),
    /// Control traffic (replication, health checks, management): handled at once, outside the
    /// queueing model, and not reported.
    Control,
}

/// How the reply to a request finds its way back to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    /// The reply carries this correlation id and may overtake replies to earlier requests
    /// (the framed protocol).
    Id(u64),
    /// Replies on a connection are written in the order their requests arrived, whatever order
    /// they finish in (RESP, HTTP/1.1).
    InOrder,
}

/// A request read off a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<Q> {
    /// The request.
    pub request: Q,
    /// How its reply is matched to it.
    pub reply_to: ReplyTo,
}

/// Why the server answers a request without serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue was full, or the request waited past the queue timeout.
    Overloaded,
    /// The connection was over the server's connection limit (it is closed after this reply).
    TooManyConnections,
}

/// A wire protocol, as the server's queueing model sees it.
pub trait Codec: 'static {
    /// A request as read off a connection.
    type Request;
    /// A reply (or a further message a handler pushes on a connection).
    type Reply;
    /// The read side of one connection: its buffer and parse state around the stream.
    type Reader<R: AsyncRead + Unpin + 'static>;

    /// A reader of the requests that `read_half` carries.
    fn reader<R: AsyncRead + Unpin + 'static>(read_half: R) -> Self::Reader<R>;

    /// Whether `reader` already holds a whole further request (a pipelining peer), so that the
    /// next [`Codec::read`] needs no I/O. While it does, replies answered in order are gathered
    /// and written together once it runs dry, as Redis writes one batch of replies per batch
    /// of requests. The default: never.
    fn has_buffered<R: AsyncRead + Unpin + 'static>(reader: &mut Self::Reader<R>) -> bool {
        let _ = reader;
        false
    }

    /// The next request; `None` when the peer closed the connection between two requests. An
    /// error (a malformed request, a stream cut inside one) ends the connection.
    fn read<R: AsyncRead + Unpin + 'static>(
        reader: &mut Self::Reader<R>,
    ) -> impl Future<Output = io::Result<Option<Incoming<Self::Request>>>>;

    /// Appends `reply` to `out` as it goes on the wire. `id` is the request's correlation id
    /// ([`ReplyTo::Id`]); a protocol that answers in order ignores it.
    fn encode(reply: &Self::Reply, id: u64, out: &mut Vec<u8>);

    /// What serving `request` costs.
    fn class(request: &Self::Request) -> Class;

    /// The reply that refuses a request for `why`; `detail` says more, for a person.
    fn refusal(why: Refusal, detail: String) -> Self::Reply;

    /// Whether `reply` reports a failure of this server (counted as a failed request).
    fn is_failure(reply: &Self::Reply) -> bool;
}

/// The request type of a handler's codec.
pub type RequestOf<H, E> = <<H as Handler<E>>::Codec as Codec>::Request;
/// The reply type of a handler's codec.
pub type ReplyOf<H, E> = <<H as Handler<E>>::Codec as Codec>::Reply;

/// The application logic of a server: a model.
pub trait Handler<E: Env>: 'static {
    /// The protocol it speaks.
    type Codec: Codec;

    /// Whether a query keeps its worker slot while `handle` runs (a thread per request, the
    /// default) or gives it back once its service time is spent (an event loop that waits on a
    /// dependency without a worker, such as a connection pooler).
    const HOLDS_SLOT: bool = true;

    /// Serves one request. Returns the reply, or `None` when there is none to send (a one-way
    /// message, or a stream the handler feeds itself through `replier`).
    fn handle(
        &self,
        request: RequestOf<Self, E>,
        replier: Replier<E, Self::Codec>,
    ) -> impl Future<Output = Option<ReplyOf<Self, E>>>;

    /// The key `request` reads, when the server is to count the reads of one key it holds at
    /// once (the gauge `key_reads_peak`); `None`, the default, for a request not counted.
    fn read_key(&self, request: &RequestOf<Self, E>) -> Option<Vec<u8>> {
        let _ = request;
        None
    }

    /// Connection `conn` was accepted (and not refused); its requests follow.
    fn connected(&self, conn: u64) {
        let _ = conn;
    }

    /// The peer of connection `conn` closed it (or it failed). Requests read from it before may
    /// still be running, and will still call `handle`.
    fn disconnected(&self, conn: u64) {
        let _ = conn;
    }
}

/// Where a server listens: a port to bind on the host, or a listener already bound (tests bind
/// port 0 and read the port back before serving).
pub trait Endpoint<E: Env> {
    /// The listener to accept on.
    fn listen(self, env: &E) -> impl Future<Output = io::Result<E::Listener>>;
}

impl<E: Env> Endpoint<E> for u16 {
    async fn listen(self, env: &E) -> io::Result<E::Listener> {
        env.bind(self).await
    }
}

impl<E: Env<Listener = L>, L: Listener> Endpoint<E> for L {
    async fn listen(self, _env: &E) -> io::Result<E::Listener> {
        Ok(self)
    }
}

/// The write side of a connection, shared by the requests on it.
pub(crate) struct ConnWriter<W> {
    half: W,
    /// The encode buffer.
    scratch: Vec<u8>,
    /// In-order replies wait in `scratch` for [`ConnWriter::uncork`] (the peer pipelined more
    /// requests, which are being read).
    corked: bool,
    /// In-order replies: the arrival number of the next reply to write.
    next: u64,
    /// In-order replies that finished before their turn, encoded (`None`: no reply to write).
    /// Limit: nothing bounds it but the requests a peer pipelines behind a slow one (queries
    /// beyond the slots and the queue are refused at once, but their refusals wait here too);
    /// a real server would stop reading, or drop the peer, past an output buffer limit.
    held: BTreeMap<u64, Option<Vec<u8>>>,
}

/// A connection's writer, shared by the requests on it and their repliers.
pub(crate) type SharedWriter<E> = Rc<LocalLock<ConnWriter<<<E as Env>::Stream as Stream>::WriteHalf>>>;

/// A writer around the write half of a new connection.
pub(crate) fn shared_writer<W>(half: W) -> Rc<LocalLock<ConnWriter<W>>> {
    Rc::new(LocalLock::new(ConnWriter {
        half,
        scratch: Vec::with_capacity(128),
        corked: false,
        next: 0,
        held: BTreeMap::new(),
    }))
}

impl<W: AsyncWrite + Unpin> ConnWriter<W> {
    /// Writes what `scratch` holds with a single write call (one segment on the simulated
    /// network), and empties it.
    async fn flush_scratch(&mut self) -> io::Result<()> {
        let written = self.half.write_all(&self.scratch).await;
        self.scratch.clear();
        written?;
        self.half.flush().await
    }

    /// Gathers in-order replies from now on, until [`ConnWriter::uncork`].
    pub(crate) fn cork(&mut self) {
        self.corked = true;
    }

    /// Writes the gathered replies, and writes each reply as it comes from now on. A peer that
    /// hung up gets nothing.
    pub(crate) async fn uncork(&mut self) {
        self.corked = false;
        if !self.scratch.is_empty() {
            let _ = self.flush_scratch().await;
        }
    }
}

/// How a request's reply is placed on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Tagged with this correlation id, written when ready.
    Id(u64),
    /// The n-th request of its connection (from 0), written after the replies before it.
    Seq(u64),
}

/// Sends replies on the connection a request came in on.
pub struct Replier<E: Env, C: Codec> {
    slot: Slot,
    conn: u64,
    writer: SharedWriter<E>,
    codec: PhantomData<fn() -> C>,
}

impl<E: Env, C: Codec> Clone for Replier<E, C> {
    fn clone(&self) -> Self {
        Self { slot: self.slot, conn: self.conn, writer: self.writer.clone(), codec: PhantomData }
    }
}

impl<E: Env, C: Codec> Replier<E, C> {
    pub(crate) fn new(slot: Slot, conn: u64, writer: SharedWriter<E>) -> Self {
        Self { slot, conn, writer, codec: PhantomData }
    }

    /// The id of the request this replier answers: its correlation id (chosen by the caller; a
    /// replica uses a stable id for its subscription and acknowledgements, so the primary can
    /// tell replicas apart), or, in a protocol that answers in order, its arrival number on
    /// the connection (from 0).
    pub fn id(&self) -> u64 {
        match self.slot {
            Slot::Id(id) | Slot::Seq(id) => id,
        }
    }

    /// The connection the request came on: numbered from 1 in order of acceptance, never reused
    /// while the server runs (the number passed to [`Handler::connected`]).
    pub fn connection(&self) -> u64 {
        self.conn
    }

    /// Sends `reply` with the id of the request this replier belongs to, now (a stream of
    /// messages on a subscription). A request answered in order has exactly one reply, the
    /// handler's return value: sending on it is an `Unsupported` error.
    pub async fn send(&self, reply: C::Reply) -> io::Result<()> {
        match self.slot {
            Slot::Id(id) => {
                let mut w = self.writer.lock().await;
                w.scratch.clear();
                C::encode(&reply, id, &mut w.scratch);
                w.flush_scratch().await
            }
            Slot::Seq(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a request answered in order has one reply: the handler's return value",
            )),
        }
    }

    /// Sends the request's final reply (`None`: it has none). A peer that hung up gets no
    /// reply; its client sees the disconnect.
    pub(crate) async fn finish(&self, reply: Option<C::Reply>) {
        match (self.slot, reply) {
            (Slot::Id(_), None) => {}
            (Slot::Id(id), Some(reply)) => {
                let mut w = self.writer.lock().await;
                w.scratch.clear();
                C::encode(&reply, id, &mut w.scratch);
                let _ = w.flush_scratch().await;
            }
            (Slot::Seq(seq), reply) => self.finish_in_order(seq, reply).await,
        }
    }

    /// Writes the reply to the `seq`-th request once every earlier one is written: now, with
    /// the later ones that were waiting for it, or later, by the reply it waits for.
    async fn finish_in_order(&self, seq: u64, reply: Option<C::Reply>) {
        let mut w = self.writer.lock().await;
        if seq != w.next {
            debug_assert!(seq > w.next, "the reply to request {seq} is written once");
            let bytes = reply.map(|reply| {
                let mut out = Vec::new();
                C::encode(&reply, seq, &mut out);
                out
            });
            w.held.insert(seq, bytes);
            return;
        }
        if let Some(reply) = reply {
            C::encode(&reply, seq, &mut w.scratch);
        }
        w.next += 1;
        // The replies that finished early follow in the same write.
        loop {
            let next = w.next;
            let Some(bytes) = w.held.remove(&next) else { break };
            let ConnWriter { scratch, .. } = &mut *w;
            scratch.extend_from_slice(bytes.as_deref().unwrap_or_default());
            w.next += 1;
        }
        if !w.corked && !w.scratch.is_empty() {
            // A peer that hung up gets no reply.
            let _ = w.flush_scratch().await;
        }
    }
}
