//! The bridge from axum's handlers to the models: axum requires `Send` handlers, while the
//! models run on one host's single-threaded executor and hold `Rc`s. A handler parses its
//! request into a plain, `Send` value and [`Submitter::submit`]s it; [`dispatch`], a task on the
//! host's executor, takes each in arrival order and runs the model's answer to it as a task of
//! its own, sending the response back through a one-shot channel.
//!
//! This module must not know what the requests are: the model names them.

use crate::seam::Env;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// A request handed to the dispatcher, with where its response goes.
pub struct Job<R> {
    request: R,
    reply: oneshot::Sender<Response>,
}

/// The handlers' end: cheap to clone, `Send` when `R` is.
pub struct Submitter<R>(mpsc::UnboundedSender<Job<R>>);

impl<R> Clone for Submitter<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The dispatcher's end.
pub type Queue<R> = mpsc::UnboundedReceiver<Job<R>>;

/// A new bridge.
pub fn bridge<R>() -> (Submitter<R>, Queue<R>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Submitter(tx), rx)
}

fn stopping() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n").into_response()
}

impl<R> Submitter<R> {
    /// Hands `request` over and waits for its response (`503` when the dispatcher is gone).
    pub async fn submit(&self, request: R) -> Response {
        let (reply, answer) = oneshot::channel();
        if self.0.send(Job { request, reply }).is_err() {
            return stopping();
        }
        answer.await.unwrap_or_else(|_| stopping())
    }
}

/// Runs `serve` on every request handed over, each as a task on `env`'s executor, until every
/// submitter is gone.
pub async fn dispatch<E: Env, R: 'static, F, Fut>(env: E, mut queue: Queue<R>, serve: F)
where
    F: Fn(R) -> Fut,
    Fut: Future<Output = Response> + 'static,
{
    while let Some(Job { request, reply }) = queue.recv().await {
        // Boxed where it is made: a handler's future runs to kilobytes, and the task would
        // otherwise copy it at every hand-over on its way into the executor.
        let answer = Box::pin(serve(request));
        env.spawn(async move {
            // A client that hung up gets nothing.
            let _ = reply.send(answer.await);
        });
    }
}
