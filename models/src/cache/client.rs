//! A RESP2 client on the seam: many concurrent calls share one connection, pipelined, and the
//! n-th reply on the connection answers the n-th command sent (RESP answers in order).
//!
//! A command takes its place in the order while it holds the connection's writer, so the order
//! of places is the order on the wire. A call that gives up (its timeout) after sending leaves
//! its place: its reply, when it comes, is read and dropped, and the replies after it still
//! find their calls. A call dropped while writing its command marks the connection dead (a
//! half-written command would garble the rest), and a reply that cannot be decoded ends it; the
//! next call opens a new one.
//!
//! Only transport failures are errors here; a server's error reply is `Ok(Frame::Error)`.

use super::resp::{Frame, encode_command};
use crate::client::{CallError, Pending, connect_within};
use crate::lock::LocalLock;
use crate::seam::{Env, Stream};
use bytes::{Buf, BytesMut};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

struct Conn<E: Env> {
    /// The write half, the encode buffer, and the place of the next command sent.
    writer: LocalLock<(<E::Stream as Stream>::WriteHalf, Vec<u8>, u64)>,
    pending: Pending<Frame>,
    alive: Cell<bool>,
}

/// A client of one RESP server ("host:port").
pub struct RespClient<E: Env> {
    env: E,
    addr: String,
    /// Held while connecting, so concurrent callers share one new connection.
    connecting: Mutex<()>,
    current: RefCell<Option<Rc<Conn<E>>>>,
    connect_timeout: Duration,
}

impl<E: Env> RespClient<E> {
    /// A client of `addr`; it connects lazily, within `connect_timeout`.
    pub fn new(env: E, addr: impl Into<String>, connect_timeout: Duration) -> Self {
        Self { env, addr: addr.into(), connecting: Mutex::new(()), current: RefCell::new(None), connect_timeout }
    }

    /// The server's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn live(&self) -> Option<Rc<Conn<E>>> {
        self.current.borrow().as_ref().filter(|c| c.alive.get()).cloned()
    }

    async fn connection(&self) -> Result<Rc<Conn<E>>, CallError> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let stream = connect_within(&self.env, &self.addr, self.connect_timeout).await?;
        let (reader, writer) = stream.into_split();
        let conn = Rc::new(Conn {
            writer: LocalLock::new((writer, Vec::with_capacity(128), 0)),
            pending: Pending::default(),
            alive: Cell::new(true),
        });
        self.env.spawn(read_replies::<E>(reader, conn.clone()));
        *self.current.borrow_mut() = Some(conn.clone());
        Ok(conn)
    }

    /// Sends the command `args` and waits up to `limit` for its reply.
    pub async fn call<A: AsRef<[u8]>>(&self, args: &[A], limit: Duration) -> Result<Frame, CallError> {
        self.call_until(args, self.env.sleep(limit)).await
    }

    /// Sends the command `args` and waits for its reply until `expiry` completes (a
    /// `Timeout`). A reply ready when `expiry` completes wins.
    pub async fn call_until<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        expiry: impl Future<Output = ()>,
    ) -> Result<Frame, CallError> {
        let work = async {
            let conn = self.connection().await?;
            let mut call = InFlight { conn, place: None, sending: true };
            let sent = {
                let mut w = call.conn.writer.lock().await;
                let (half, scratch, next) = &mut *w;
                let place = *next;
                *next += 1;
                call.conn.pending.register(place);
                call.place = Some(place);
                scratch.clear();
                encode_command(args, scratch);
                let sent = half.write_all(scratch).await;
                match sent {
                    Ok(()) => half.flush().await,
                    Err(e) => Err(e),
                }
            };
            call.sending = false;
            if let Err(source) = sent {
                call.conn.alive.set(false);
                return Err(CallError::Send { addr: self.addr.clone(), source });
            }
            let place = call.place.unwrap_or_default();
            let reply = std::future::poll_fn(|cx| call.conn.pending.poll_reply(place, cx)).await;
            reply.ok_or_else(|| CallError::Disconnected(self.addr.clone()))
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            out = &mut work => out,
            () = expiry => Err(CallError::Timeout(self.addr.clone())),
        }
    }
}

/// A call on a connection. However it ends, its place goes; dropped while writing, it kills
/// the connection.
struct InFlight<E: Env> {
    conn: Rc<Conn<E>>,
    place: Option<u64>,
    sending: bool,
}

impl<E: Env> Drop for InFlight<E> {
    fn drop(&mut self) {
        if let Some(place) = self.place {
            self.conn.pending.forget(place);
        }
        if self.sending {
            self.conn.alive.set(false);
        }
    }
}

/// Reads replies and hands the n-th to the n-th place, until the connection ends or a reply
/// cannot be decoded.
async fn read_replies<E: Env>(mut reader: <E::Stream as Stream>::ReadHalf, conn: Rc<Conn<E>>) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut place = 0;
    'read: loop {
        loop {
            match Frame::decode(&buf) {
                Ok(Some((frame, len))) => {
                    buf.advance(len);
                    conn.pending.deliver(place, frame);
                    place += 1;
                }
                Ok(None) => break,
                Err(_) => break 'read,
            }
        }
        buf.reserve(4096);
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    conn.alive.set(false);
    conn.pending.close();
}
