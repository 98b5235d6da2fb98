//! Serves an axum [`Router`] over HTTP/1.1 on a seam listener: one hyper connection task per
//! accepted connection (keep-alive, requests answered in order), a request head bounded by
//! [`super::MAX_HEAD`] bytes, and a connection limit like the codec servers' (a connection
//! beyond it gets `503` and `connection: close` to its first request; the gauge
//! `connections` is published when a limit is set). A malformed request gets hyper's `400`
//! (or `431` for a head too long) and its connection is closed; the server lives on.
//!
//! This module must not know the routes: the caller builds the router, and queues its work
//! through `crate::server::Workers` where it wants the queueing model.

use crate::seam::{Env, Listener, Stream};
use crate::server::Endpoint;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use faultline_vocab::gauge;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::rc::Rc;
use tower::Service;

/// The HTTP/1.1 connection settings every server here uses.
fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.auto_date_header(false).max_buf_size(super::MAX_HEAD);
    builder
}

/// Serves `router` on `endpoint` until the listener fails; at most `max_connections` open at
/// once when set.
pub async fn serve_router<E: Env>(
    env: E,
    endpoint: impl Endpoint<E>,
    max_connections: Option<usize>,
    router: Router,
) -> io::Result<()> {
    let listener = endpoint.listen(&env).await?;
    let open = Rc::new(Cell::new(0usize));
    let publish = {
        let env = env.clone();
        move |open: usize| {
            if max_connections.is_some() {
                env.gauge(gauge::CONNECTIONS, open as i64);
            }
        }
    };
    publish(0);
    loop {
        let (stream, _peer) = listener.accept().await?;
        if max_connections.is_some_and(|max| open.get() >= max) {
            env.spawn(refuse(stream, open.get()));
            continue;
        }
        open.set(open.get() + 1);
        publish(open.get());
        let (router, open, publish) = (router.clone(), open.clone(), publish.clone());
        env.spawn(async move {
            let _ = serve_connection(stream, router).await;
            open.set(open.get() - 1);
            publish(open.get());
        });
    }
}

/// Serves the requests of one connection until either side closes it.
async fn serve_connection<S: Stream>(stream: S, router: Router) -> hyper::Result<()> {
    let service = service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    builder().serve_connection(TokioIo::new(stream), service).await
}

/// Answers the first request of a connection over the limit with `503`, then closes it.
async fn refuse<S: Stream>(stream: S, open: usize) {
    let service = service_fn(move |_request: Request<Incoming>| async move {
        let response = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::CONNECTION, "close")
            .body(Body::from(format!("too many connections: {open} open\n")));
        Ok::<_, Infallible>(response.expect("a static response is valid"))
    });
    let mut builder = builder();
    builder.keep_alive(false);
    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
}
