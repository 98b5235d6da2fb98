//! A keep-alive HTTP/1.1 client over the seam, as a browser or a service's HTTP library is:
//! a request takes an idle connection to its peer or opens one, one request at a time on a
//! connection (no pipelining), and the connection goes back to the idle set once its response
//! is read in full. Connections open without limit, so concurrency shows as connections, as
//! it does for real clients; a connection the peer closed is dropped, never reused.
//!
//! A call gives up when its `expiry` fires first (its timeout), dropping the request and its
//! connection (the response may still be on its way; the connection cannot be reused). The
//! response body is read whole, up to [`MAX_BODY`] bytes.
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
use std::time::Duration;

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

/// A client of one peer.
pub struct HttpClient<E: Env> {
    env: E,
    addr: String,
    connect_timeout: Duration,
    idle: RefCell<Vec<SendRequest<Full<Bytes>>>>,
    /// Connections opened so far.
    opened: Cell<u64>,
}

impl<E: Env> HttpClient<E> {
    /// A client of `addr` ("host:port"); connections open lazily, each within `connect_timeout`.
    pub fn new(env: E, addr: impl Into<String>, connect_timeout: Duration) -> Self {
        Self { env, addr: addr.into(), connect_timeout, idle: RefCell::new(Vec::new()), opened: Cell::new(0) }
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

    /// Sends `request` and reads its response, unless `expiry` fires first.
    pub async fn send_until(
        &self,
        request: super::OutRequest,
        expiry: impl Future<Output = ()>,
    ) -> Result<HttpResponse, CallError> {
        tokio::select! {
            biased;
            response = self.send(request) => response,
            () = expiry => Err(CallError::Timeout(self.addr.clone())),
        }
    }

    /// Sends `request` and reads its response.
    pub async fn send(&self, request: super::OutRequest) -> Result<HttpResponse, CallError> {
        let mut sender = match self.take_idle() {
            Some(sender) => sender,
            None => self.open().await?,
        };
        let response = sender.send_request(request).await.map_err(|e| self.failed(e))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| CallError::Send { addr: self.addr.clone(), source: io::Error::other(e.to_string()) })?;
        if !sender.is_closed() {
            self.idle.borrow_mut().push(sender);
        }
        Ok(HttpResponse { status: parts.status, headers: parts.headers, body: body.to_bytes() })
    }

    /// An idle connection that can take a request now.
    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.borrow_mut();
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Opens a connection and starts its driver.
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, CallError> {
        let stream = connect_within(&self.env, &self.addr, self.connect_timeout).await?;
        let (sender, connection) =
            http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(|e| self.failed(e))?;
        self.opened.set(self.opened.get() + 1);
        self.env.spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// A hyper error as a call error: the connection closed before the response, or a write failed.
    fn failed(&self, error: hyper::Error) -> CallError {
        if error.is_closed() || error.is_incomplete_message() || error.is_canceled() {
            CallError::Disconnected(self.addr.clone())
        } else {
            CallError::Send { addr: self.addr.clone(), source: io::Error::other(error.to_string()) }
        }
    }
}
