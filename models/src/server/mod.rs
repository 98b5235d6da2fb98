//! The server's queueing model, for any protocol: accept connections, read requests with a
//! [`Codec`], run them concurrently through a [`Handler`], and write the replies (tagged with
//! their request's id, or in arrival order on each connection, as the codec says).
//!
//! It owns the service-time and concurrency model shared by every server model (its worker
//! side, [`Workers`], is shared with the HTTP front too): a fixed
//! number of worker slots, a bounded wait queue and a per-request cost drawn from a seeded
//! distribution, so saturation shows as queueing, rising latency and shed load, as it does in
//! real servers. The codec classifies each request ([`Class`]): a query takes a slot and its
//! cost and is reported through [`Env::served`] with its kind (failed when the codec says its
//! reply is a failure); control traffic is handled at once. The gauges `inflight` (requests
//! being served or queued) and `queue` (waiting for a slot) are set through the seam on every
//! change. Slots are granted in arrival order (tokio's semaphore is fair), and a cost is slept
//! on tokio's 1 ms timer grid with a dither that keeps its mean exact (see
//! `service_time::dithered_sleep`); `docs/fidelity.md` checks the whole model against the M/M/c
//! formulas. A query shed because the queue is full gets the codec's [`Refusal::Overloaded`].
//!
//! The model of a database server's connections and timeouts, each off by default:
//! - `max_connections`: a connection accepted beyond the limit gets the codec's
//!   [`Refusal::TooManyConnections`] in reply to its first request and is closed (PostgreSQL's
//!   "too many clients already"). The protocols have no startup message, so the refusal waits
//!   for that first request. Refused connections are not counted.
//! - `connect_cost`: a new connection holds its connection slot this long (process fork and
//!   authentication) before its first request is served; that request's reported latency
//!   includes the wait. It holds no worker slot meanwhile.
//! - `queue_timeout`: a query that waited longer than this for a worker slot is answered
//!   [`Refusal::Overloaded`] without being served (a statement or lock timeout), and reported as
//!   a failed request with the time it waited. (A query shed because the queue is full is
//!   answered at once and not reported: it spent no time here.)
//! - The gauge `connections` (open, accepted connections) is published only when one of the
//!   two connection settings is on, so servers without them add nothing to a trace.
//! - The knob [`Knob::Slowdown`] multiplies every sampled cost by (100 + value) / 100, read per
//!   request so chaos can turn it during a run; a zero cost stays zero.
//!
//! A handler sees which connection a request came on ([`Replier::connection`]) and is told
//! when a connection opens and closes ([`Handler::connected`], [`Handler::disconnected`]), so
//! per-connection state (a pooler's session) can live beside it. A handler that waits on a
//! dependency without occupying a worker (an event loop) sets [`Handler::HOLDS_SLOT`] to false.
//!
//! A handler that names the key a request reads ([`Handler::read_key`]) has the server count
//! the reads of each key it holds at once, from arrival to reply, and publish the largest count
//! as the gauge `key_reads_peak` (see `key_reads`).
//!
//! This module must not know any protocol's messages or any model's logic.
//!
//! Hot path: with these settings off, a request allocates nothing beyond its one boxed future,
//! arms no timer for a queue timeout, and reads the knob only when its cost is nonzero.

mod codec;
#[cfg(test)]
mod in_order_tests;
mod key_reads;
mod service_time;
#[cfg(test)]
pub(crate) mod tests;
mod workers;

pub use codec::{Class, Codec, Endpoint, Handler, Incoming, Refusal, Replier, ReplyOf, ReplyTo, RequestOf};
pub use service_time::{Capacity, ServiceTime};
pub(crate) use service_time::{dithered_sleep, slowed};
pub use workers::{Shed, Workers};

use crate::seam::{Env, Listener, Stream};
use codec::{Slot, shared_writer};
use faultline_vocab::gauge;
use key_reads::KeyReads;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

struct Shared<E: Env, H> {
    env: E,
    handler: H,
    workers: Workers<E>,
    /// Accepted connections not yet closed (refused ones are not counted).
    connections: Cell<usize>,
    /// The number of the last accepted connection.
    last_conn: Cell<u64>,
    /// The reads of each key held now, for the handlers that name them.
    key_reads: KeyReads,
}

impl<E: Env, H> Shared<E, H> {
    fn publish_connections(&self) {
        if self.workers.capacity().models_connections() {
            self.env.gauge(gauge::CONNECTIONS, self.connections.get() as i64);
        }
    }
}

/// Serves `handler` on `endpoint` (a port to bind, or a listener already bound) until the
/// listener fails.
pub async fn serve<E: Env, H: Handler<E>>(
    env: E,
    endpoint: impl Endpoint<E>,
    capacity: Capacity,
    handler: H,
) -> io::Result<()> {
    let listener = endpoint.listen(&env).await?;
    let shared = Rc::new(Shared {
        workers: Workers::new(env.clone(), capacity),
        env: env.clone(),
        handler,
        connections: Cell::new(0),
        last_conn: Cell::new(0),
        key_reads: KeyReads::default(),
    });
    shared.publish_connections();
    loop {
        let (stream, _peer) = listener.accept().await?;
        let full = capacity.max_connections.is_some_and(|max| shared.connections.get() >= max);
        if full {
            env.spawn(refuse_connection::<E, H::Codec>(stream, shared.connections.get()));
            continue;
        }
        let conn = shared.last_conn.get() + 1;
        shared.last_conn.set(conn);
        shared.connections.set(shared.connections.get() + 1);
        shared.publish_connections();
        shared.handler.connected(conn);
        env.spawn(serve_connection(stream, conn, shared.clone()));
    }
}

/// Answers the first request of a connection over the limit with the codec's
/// [`Refusal::TooManyConnections`], then closes it.
async fn refuse_connection<E: Env, C: Codec>(stream: E::Stream, open: usize) {
    let (reader, writer) = stream.into_split();
    let mut reader = C::reader(reader);
    if let Ok(Some(incoming)) = C::read(&mut reader).await {
        let detail = format!("too many connections: {open} open");
        let slot = match incoming.reply_to {
            ReplyTo::Id(id) => Slot::Id(id),
            ReplyTo::InOrder => Slot::Seq(0),
        };
        let replier = Replier::<E, C>::new(slot, 0, shared_writer(writer));
        replier.finish(Some(C::refusal(Refusal::TooManyConnections, detail))).await;
    }
}

async fn serve_connection<E: Env, H: Handler<E>>(stream: E::Stream, conn: u64, shared: Rc<Shared<E, H>>) {
    // Set when the connection has a cost: the time its first request may be served from.
    let mut ready_at = match shared.workers.capacity().connect_cost {
        cost if cost.is_zero() => None,
        cost => Some(shared.env.now() + cost),
    };
    let (reader, writer) = stream.into_split();
    let writer = shared_writer(writer);
    let mut reader = H::Codec::reader(reader);
    // The arrival number of the next request answered in order.
    let mut seq = 0;
    // A pipelining peer's replies go out together: while another whole request is buffered
    // behind the one being served, replies gather; they are written once the last buffered
    // one is served (before the reader can wait on the network).
    let mut corked = false;
    // The box of the last request served inline, for the next one: most requests never need
    // one of their own.
    let mut spare = None;
    loop {
        let Ok(Some(incoming)) = H::Codec::read(&mut reader).await else { break };
        let more = H::Codec::has_buffered(&mut reader);
        if more && !corked {
            writer.lock().await.cork();
            corked = true;
        }
        let mut arrived = None;
        if let Some(ready) = ready_at.take() {
            let now = shared.env.now();
            arrived = Some(now);
            if ready > now {
                shared.env.sleep(ready - now).await;
            }
        }
        let slot = match incoming.reply_to {
            ReplyTo::Id(id) => Slot::Id(id),
            ReplyTo::InOrder => {
                seq += 1;
                Slot::Seq(seq - 1)
            }
        };
        let replier = Replier::new(slot, conn, writer.clone());
        let served = serve_request(incoming.request, arrived, replier, shared.clone());
        let mut request: Pin<Box<_>> = match spare.take() {
            Some(mut boxed) => {
                Pin::set(&mut boxed, served);
                boxed
            }
            None => Box::pin(served),
        };
        // Most requests with no service time finish at their first poll (an echo, a cache
        // hit): serve those here rather than paying for a task. One that must wait (a slot, a
        // dependency, its service time) becomes a task, which polls it again with a real waker.
        if poll_once(request.as_mut()).is_pending() {
            shared.env.spawn(request);
        } else {
            spare = Some(request);
        }
        if !more && corked {
            writer.lock().await.uncork().await;
            corked = false;
        }
    }
    if corked {
        writer.lock().await.uncork().await;
    }
    shared.connections.set(shared.connections.get() - 1);
    shared.publish_connections();
    shared.handler.disconnected(conn);
}

/// Polls `fut` once without a waker to register: only for futures that are polled again
/// (spawned) if they are not ready.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    fut.poll(&mut cx)
}

/// Serves one request and sends its reply. `arrived` is when it reached the server, when that
/// was before now (it waited for its connection to be ready). A query goes through the
/// workers (see [`Workers::query`]); control traffic is handled at once.
async fn serve_request<E: Env, H: Handler<E>>(
    request: RequestOf<H, E>,
    arrived: Option<Duration>,
    replier: Replier<E, H::Codec>,
    shared: Rc<Shared<E, H>>,
) {
    let held = shared.handler.read_key(&request).map(|key| shared.key_reads.hold(key, &shared.env));
    let reply = match H::Codec::class(&request) {
        Class::Control => shared.handler.handle(request, replier.clone()).await,
        Class::Query(kind) => {
            let work = || shared.handler.handle(request, replier.clone());
            let is_failure = |reply: &Option<ReplyOf<H, E>>| reply.as_ref().is_some_and(H::Codec::is_failure);
            match shared.workers.query(kind, arrived, H::HOLDS_SLOT, work, is_failure).await {
                Ok(reply) => reply,
                Err(shed) => Some(H::Codec::refusal(Refusal::Overloaded, shed.detail())),
            }
        }
    };
    drop(held);
    replier.finish(reply).await;
}
