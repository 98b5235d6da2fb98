//! A keep-alive HTTP/1.1 client over the seam, as a browser or a service's HTTP library is:
//! a request takes an idle connection to its peer or opens one, one request at a time on a
//! connection (no pipelining), and the connection goes back to the idle set once its response
//! is read in full. At most `max_connections` are open at once (Envoy's default for a cluster
//! is 1024); a request that finds them all busy waits for one. A connection the peer closed
//! is dropped, never reused.
//!
//! A call gives up when its `expiry` fires first (its timeout), but its exchange runs on to
//! the end in the background and its connection goes back to the idle set then, as a pool
//! that must not churn connections does: every new connection takes an ephemeral port, and
//! churning them under timeouts would run through the ports while the peer still holds the
//! old ones. The response body is read whole, up to [`MAX_BODY`] bytes.
//!
//! This module must not know what the requests mean: callers build them and read the replies.

use crate::client::{CallError, connect_within};
use crate::seam::Env;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// The most connections a client opens to its peer unless told otherwise (Envoy's default).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The largest response body a call reads.
pub const MAX_BODY: usize = 16 << 20;

/// A response read in full.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The value of header `name` as an unsigned integer, if it is one.
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.parse().ok()
    }
}

/// The connections of a client: the idle ones, how many are open, and a wake-up for a
/// request waiting for one.
#[derive(Default)]
struct Pool {
    idle: RefCell<Vec<SendRequest<Full<Bytes>>>>,
    open: Cell<usize>,
    freed: Notify,
}

impl Pool {
    /// A connection finished its exchange: back to the idle set, or closed.
    fn give_back(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            self.open.set(self.open.get() - 1);
        } else {
            self.idle.borrow_mut().push(sender);
        }
        self.freed.notify_one();
    }

    /// A connection that failed or closed is gone.
    fn lost(&self) {
        self.open.set(self.open.get() - 1);
        self.freed.notify_one();
    }
}

/// A client of one peer.
pub struct HttpClient<E: Env> {
    env: E,
    addr: String,
    connect_timeout: Duration,
    max_connections: usize,
    pool: Rc<Pool>,
    /// Connections opened so far.
    opened: Cell<u64>,
}

impl<E: Env> HttpClient<E> {
    /// A client of `addr` ("host:port") with at most [`DEFAULT_MAX_CONNECTIONS`]; connections
    /// open lazily, each within `connect_timeout`.
    pub fn new(env: E, addr: impl Into<String>, connect_timeout: Duration) -> Self {
        Self::with_max_connections(env, addr, connect_timeout, DEFAULT_MAX_CONNECTIONS)
    }

    /// A client with at most `max` connections open at once (at least 1).
    pub fn with_max_connections(env: E, addr: impl Into<String>, connect_timeout: Duration, max: usize) -> Self {
        Self {
            env,
            addr: addr.into(),
            connect_timeout,
            max_connections: max.max(1),
            pool: Rc::default(),
            opened: Cell::new(0),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.get()
    }

    /// A request of `method` to `path` with `headers` and `body`, as this client sends it; an
    /// error when the path or a header is not valid HTTP.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<super::OutRequest, axum::http::Error> {
        let mut request = Request::builder().method(method).uri(path).header(header::HOST, self.addr.as_str());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        request.body(Full::new(body))
    }

    /// Sends `request` and reads its response, unless `expiry` fires first; the exchange then
    /// runs on in the background and gives its connection back when it ends.
    pub async fn send_until(
        &self,
        request: super::OutRequest,
        expiry: impl Future<Output = ()>,
    ) -> Result<HttpResponse, CallError> {
        let mut expiry = std::pin::pin!(expiry);
        let sender = tokio::select! {
            biased;
            sender = self.lease() => sender?,
            () = &mut expiry => return Err(CallError::Timeout(self.addr.clone())),
        };
        let mut exchange = Box::pin(exchange(self.pool.clone(), sender, request, self.addr.clone()));
        tokio::select! {
            biased;
            response = &mut exchange => response,
            () = expiry => {
                self.env.spawn(async move {
                    let _ = exchange.await;
                });
                Err(CallError::Timeout(self.addr.clone()))
            }
        }
    }

    /// Sends `request` and reads its response.
    pub async fn send(&self, request: super::OutRequest) -> Result<HttpResponse, CallError> {
        let sender = self.lease().await?;
        exchange(self.pool.clone(), sender, request, self.addr.clone()).await
    }

    /// An idle connection, a new one while fewer than the maximum are open, or the first one
    /// freed.
    async fn lease(&self) -> Result<SendRequest<Full<Bytes>>, CallError> {
        loop {
            if let Some(sender) = self.take_idle() {
                return Ok(sender);
            }
            if self.pool.open.get() < self.max_connections {
                self.pool.open.set(self.pool.open.get() + 1);
                return self.open().await.inspect_err(|_| self.pool.lost());
            }
            self.pool.freed.notified().await;
        }
    }

    /// An idle connection that can take a request now; closed ones are dropped.
    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.pool.idle.borrow_mut();
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
            self.pool.open.set(self.pool.open.get() - 1);
        }
        None
    }

    /// Opens a connection and starts its driver.
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, CallError> {
        let stream = connect_within(&self.env, &self.addr, self.connect_timeout).await?;
        let (sender, connection) =
            http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(|e| failed(&self.addr, e))?;
        self.opened.set(self.opened.get() + 1);
        self.env.spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// One request and its response on `sender`'s connection, which goes back to `pool` after.
async fn exchange(
    pool: Rc<Pool>,
    mut sender: SendRequest<Full<Bytes>>,
    request: super::OutRequest,
    addr: String,
) -> Result<HttpResponse, CallError> {
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(e) => {
            pool.lost();
            return Err(failed(&addr, e));
        }
    };
    let (parts, body) = response.into_parts();
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => {
            pool.give_back(sender);
            Ok(HttpResponse { status: parts.status, headers: parts.headers, body: body.to_bytes() })
        }
        Err(e) => {
            pool.lost();
            Err(CallError::Send { addr, source: io::Error::other(e.to_string()) })
        }
    }
}

/// A hyper error as a call error: the connection closed before the response, or a write failed.
fn failed(addr: &str, error: hyper::Error) -> CallError {
    if error.is_closed() || error.is_incomplete_message() || error.is_canceled() {
        CallError::Disconnected(addr.to_string())
    } else {
        CallError::Send { addr: addr.to_string(), source: io::Error::other(error.to_string()) }
    }
}
