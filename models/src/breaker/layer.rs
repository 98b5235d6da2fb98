//! The circuit breaker as a tower layer: [`BreakerLayer`] wraps any `tower::Service` in a
//! [`BreakerService`] that asks a shared [`Breaker`] before each call.
//!
//! An inner error counts as a failure; so does a response the classifier marks (an HTTP 5xx,
//! say), though it is still handed back as `Ok`. A rejected request fails fast with
//! [`BreakerError::Open`] and never reaches the inner service. Readiness is the inner
//! service's. The response future is boxed, `'static` and not `Send` (models run on one
//! thread). Every service the layer makes shares the layer's breaker, so a breaker guards one
//! dependency however many clones of its client there are.
//!
//! Owns: the tower adapter and response classification. Must not: keep state of its own beyond
//! the breaker's, or decide anything the state machine decides.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::call::{Breaker, BreakerError};
use crate::seam::Env;

/// Says whether a response (an `Ok` from the inner service) counts as a failure.
pub trait Classify<R> {
    /// True when `response` counts as a failure.
    fn is_failure(&self, response: &R) -> bool;
}

/// The default classifier: every response is a success, only errors fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsOnly;

impl<R> Classify<R> for ErrorsOnly {
    fn is_failure(&self, _response: &R) -> bool {
        false
    }
}

impl<R> Classify<R> for fn(&R) -> bool {
    fn is_failure(&self, response: &R) -> bool {
        self(response)
    }
}

/// A tower layer that puts a breaker in front of a service.
pub struct BreakerLayer<E: Env, C = ErrorsOnly> {
    breaker: Breaker<E>,
    classify: C,
}

impl<E: Env, C: Clone> Clone for BreakerLayer<E, C> {
    fn clone(&self) -> Self {
        Self { breaker: self.breaker.clone(), classify: self.classify.clone() }
    }
}

impl<E: Env> BreakerLayer<E> {
    /// A layer whose services share `breaker`; only inner errors count as failures.
    pub fn new(breaker: Breaker<E>) -> Self {
        Self { breaker, classify: ErrorsOnly }
    }

    /// The same layer, also counting the responses `is_failure` marks as failures.
    pub fn classify<R>(self, is_failure: fn(&R) -> bool) -> BreakerLayer<E, fn(&R) -> bool> {
        BreakerLayer { breaker: self.breaker, classify: is_failure }
    }
}

impl<S, E: Env, C: Clone> tower::Layer<S> for BreakerLayer<E, C> {
    type Service = BreakerService<S, E, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService { inner, breaker: self.breaker.clone(), classify: self.classify.clone() }
    }
}

/// A service behind a breaker (made by [`BreakerLayer`]).
pub struct BreakerService<S, E: Env, C = ErrorsOnly> {
    inner: S,
    breaker: Breaker<E>,
    classify: C,
}

impl<S: Clone, E: Env, C: Clone> Clone for BreakerService<S, E, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), breaker: self.breaker.clone(), classify: self.classify.clone() }
    }
}

impl<S, E: Env, C> BreakerService<S, E, C> {
    /// The breaker in front of the service.
    pub fn breaker(&self) -> &Breaker<E> {
        &self.breaker
    }
}

/// The future of a [`BreakerService`] call.
pub type BreakerFuture<R, Er> = Pin<Box<dyn Future<Output = Result<R, BreakerError<Er>>>>>;

impl<S, E, C, Req> tower::Service<Req> for BreakerService<S, E, C>
where
    S: tower::Service<Req>,
    S::Future: 'static,
    S::Response: 'static,
    S::Error: 'static,
    E: Env,
    C: Classify<S::Response> + Clone + 'static,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = BreakerFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let guard = match self.breaker.admit() {
            Ok(guard) => guard,
            Err(rejected) => return Box::pin(std::future::ready(Err(rejected))),
        };
        let fut = self.inner.call(req);
        let classify = self.classify.clone();
        Box::pin(async move {
            let out = fut.await;
            let failed = match &out {
                Ok(response) => classify.is_failure(response),
                Err(_) => true,
            };
            guard.finish(failed);
            out.map_err(BreakerError::Inner)
        })
    }
}
