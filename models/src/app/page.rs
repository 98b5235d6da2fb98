//! The app's page: `GET /page/{key}` composed from parts (profile, catalogue, pricing, ...),
//! each its own work and a read of `{part}:{key}`. Where a part runs is its [`PartAt`]:
//!
//! - `InProcess(work)` (a monolith): the part's work (a cost drawn from `work`, slowed by the
//!   host's Slowdown knob, as the server's worker cost is) is spent in the request's own worker,
//!   then the part reads `{part}:{key}` through the app's store and cache tier.
//! - `Remote { addr, breaker }` (services): the part is `GET /part/{part}:{key}` to a part
//!   service ([`crate::service`]) over a keep-alive HTTP client, bounded by the page's
//!   `timeout`, behind a circuit breaker when one is given. `200` and `404` (an absent key) are
//!   answers; a `5xx`, a timeout, a refused connection or an open breaker is a failure.
//!
//! With `Fanout::Parallel` every part starts at once and the page waits for the last (its
//! latency is the max over the parts, whose tail grows with their number); with
//! `Sequential` they run one after another, and a required part's failure ends the page.
//!
//! A failed part that is `optional` leaves the page degraded (served without it, named in the
//! reply, counted in the gauge `pages_degraded`); a failed required part fails the page:
//! `Error { Upstream }` naming the part, or `Error { Overloaded }` when its breaker was open.
//! The gauge `pages` counts pages served, whole or degraded.
//!
//! This file must not know how the app is reached, beyond answering the page's HTTP reply.

use super::App;
use crate::breaker::{Breaker, BreakerConfig, BreakerError, ConfigError};
use crate::client::CallError;
use crate::http::client::HttpClient;
use crate::http::{Bytes, Method};
use crate::kv::api::Msg;
use crate::proto::ErrorCode;
use crate::seam::{Env, Knob};
use crate::server::{ServiceTime, dithered_sleep, slowed};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use faultline_vocab::gauge;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// The response header naming the optional parts a degraded page was served without.
pub const DEGRADED: &str = "x-degraded";

/// A page and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct PageConfig {
    /// The parts, in the order the page shows them.
    pub parts: Vec<PartConfig>,
    /// Whether the parts run at once or one after another.
    pub fanout: Fanout,
    /// The longest a call to a part service may take (connect included).
    pub timeout: Duration,
}

/// One part of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct PartConfig {
    /// Its name: the prefix of the key it reads (`{name}:{key}`).
    pub name: String,
    /// Where it runs.
    pub at: PartAt,
    /// A failure leaves the page degraded instead of failing it.
    pub optional: bool,
}

/// Where a part runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PartAt {
    /// In the app's process, costing this much of the request's worker.
    InProcess(ServiceTime),
    /// On a part service at "host:port", behind a breaker if given.
    Remote {
        /// The part service's address.
        addr: String,
        /// A circuit breaker around its calls.
        breaker: Option<BreakerConfig>,
    },
}

/// How a page runs its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// All at once; the page waits for the last.
    Parallel,
    /// One after another.
    Sequential,
}

/// A part as the app holds it.
enum Runner<E: Env> {
    Local(ServiceTime),
    Remote { client: HttpClient<E>, breaker: Option<Breaker<E>> },
}

struct Part<E: Env> {
    name: String,
    optional: bool,
    runner: Runner<E>,
}

/// Why a part gave no answer: the reply a page failing on it gets.
type PartFailure = Msg;

/// The page as an app holds it.
pub(super) struct Page<E: Env> {
    parts: Vec<Part<E>>,
    fanout: Fanout,
    timeout: Duration,
    /// Draws the in-process parts' costs.
    rng: RefCell<ChaCha8Rng>,
    served: Cell<u64>,
    degraded: Cell<u64>,
}

impl<E: Env> Page<E> {
    pub(super) fn new(env: &E, config: &PageConfig) -> Result<Self, ConfigError> {
        let mut parts = Vec::with_capacity(config.parts.len());
        for part in &config.parts {
            let runner = match &part.at {
                PartAt::InProcess(work) => Runner::Local(*work),
                PartAt::Remote { addr, breaker } => Runner::Remote {
                    client: HttpClient::new(env.clone(), addr.clone(), config.timeout),
                    breaker: breaker.clone().map(|b| Breaker::new(env.clone(), &part.name, b)).transpose()?,
                },
            };
            parts.push(Part { name: part.name.clone(), optional: part.optional, runner });
        }
        env.gauge(gauge::PAGES, 0);
        env.gauge(gauge::PAGES_DEGRADED, 0);
        Ok(Self {
            parts,
            fanout: config.fanout,
            timeout: config.timeout,
            rng: RefCell::new(env.rng("page-work")),
            served: Cell::new(0),
            degraded: Cell::new(0),
        })
    }
}

/// A page composed: each part's line, and the optional parts it was served without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Composed {
    body: String,
    degraded: Vec<String>,
}

impl<E: Env> App<E> {
    /// Composes the page of `key`: the page, or the error reply of its first failed required
    /// part.
    pub(crate) async fn page(&self, key: &str) -> Result<Composed, Msg> {
        let Some(page) = &self.page else {
            let detail = "this app serves no page: it has no `page` parts".to_string();
            return Err(Msg::Error { code: ErrorCode::BadRequest, detail });
        };
        // Every cost is drawn before any part runs, in the parts' order: the stream's position
        // never depends on which part finishes first.
        let costs: Vec<Duration> = {
            let mut rng = page.rng.borrow_mut();
            let parts = page.parts.iter();
            parts
                .map(|p| if let Runner::Local(work) = &p.runner { work.sample(&mut rng) } else { Duration::ZERO })
                .collect()
        };
        let run = |i: usize| self.part(page, &page.parts[i], key, costs[i]);
        let outcomes = match page.fanout {
            Fanout::Parallel => {
                join_all((0..page.parts.len()).map(|i| Box::pin(run(i)) as Pin<Box<_>>).collect()).await
            }
            Fanout::Sequential => {
                let mut outcomes = Vec::with_capacity(page.parts.len());
                for (i, part) in page.parts.iter().enumerate() {
                    let outcome = run(i).await;
                    let stop = outcome.is_err() && !part.optional;
                    outcomes.push(outcome);
                    if stop {
                        break;
                    }
                }
                outcomes
            }
        };
        let mut composed = Composed { body: String::new(), degraded: Vec::new() };
        for (part, outcome) in page.parts.iter().zip(outcomes) {
            match outcome {
                Ok(line) => composed.body.push_str(&format!("{}: {line}\n", part.name)),
                Err(failure) if part.optional => {
                    composed.body.push_str(&format!("{}: left out ({})\n", part.name, detail_of(&failure)));
                    composed.degraded.push(part.name.clone());
                }
                Err(failure) => return Err(failure),
            }
        }
        page.served.set(page.served.get() + 1);
        self.env.gauge(gauge::PAGES, page.served.get() as i64);
        if !composed.degraded.is_empty() {
            page.degraded.set(page.degraded.get() + 1);
            self.env.gauge(gauge::PAGES_DEGRADED, page.degraded.get() as i64);
        }
        Ok(composed)
    }

    /// Runs one part for `key`: the line the page shows of it, or the reply naming its failure.
    async fn part(&self, page: &Page<E>, part: &Part<E>, key: &str, cost: Duration) -> Result<String, PartFailure> {
        let store_key = format!("{}:{key}", part.name);
        match &part.runner {
            Runner::Local(_) => {
                self.spend(cost).await;
                match self.get(store_key.into_bytes(), 0).await {
                    Msg::Value { value: Some(value), .. } => Ok(format!("{} bytes", value.len())),
                    Msg::Value { value: None, .. } => Ok("absent".into()),
                    Msg::Error { code, detail } => {
                        Err(Msg::Error { code, detail: format!("part {}: {detail}", part.name) })
                    }
                    other => {
                        Err(upstream(format!("part {}: the store answered an unexpected {}", part.name, other.name())))
                    }
                }
            }
            Runner::Remote { client, breaker } => {
                remote(&self.env, page.timeout, part, client, breaker.as_ref(), &store_key).await
            }
        }
    }

    /// Spends an in-process part's `cost` in the request's worker.
    async fn spend(&self, cost: Duration) {
        if cost.is_zero() {
            return;
        }
        let dither: f64 = self.page.as_ref().expect("a page runs its parts").rng.borrow_mut().random();
        spend(&self.env, cost, dither).await;
    }
}

/// Sleeps `cost`, slowed by the Slowdown knob, on the timer grid with `dither` (uniform in
/// [0, 1)) keeping its mean exact, as the server's worker cost is spent.
async fn spend<E: Env>(env: &E, cost: Duration, dither: f64) {
    let cost = match env.knob(Knob::Slowdown) {
        0 => cost,
        percent => slowed(cost, percent),
    };
    let sleep = dithered_sleep(cost, dither, env.timer_grid());
    if !sleep.is_zero() {
        env.sleep(sleep).await;
    }
}

/// Calls a part service for `store_key`, through the part's breaker if it has one.
async fn remote<E: Env>(
    env: &E,
    limit: Duration,
    part: &Part<E>,
    client: &HttpClient<E>,
    breaker: Option<&Breaker<E>>,
    store_key: &str,
) -> Result<String, PartFailure> {
    let name = &part.name;
    let request = client
        .request(Method::GET, &format!("/part/{store_key}"), &[], Bytes::new())
        .map_err(|e| upstream(format!("part {name}: {e}")))?;
    let call = client.send_until(request, env.sleep(limit));
    let failed = |answer: &Result<crate::http::client::HttpResponse, CallError>| {
        answer.as_ref().map_or(true, |r| r.status.is_server_error())
    };
    let answer = match breaker {
        Some(breaker) => breaker.call_classified(call, failed).await,
        None => call.await.map_err(BreakerError::Inner),
    };
    match answer {
        Ok(response) if response.status == StatusCode::OK => Ok(format!("{} bytes", response.body.len())),
        Ok(response) if response.status == StatusCode::NOT_FOUND => Ok("absent".into()),
        Ok(response) => Err(upstream(format!(
            "part {name} at {} answered {}: {}",
            client.addr(),
            response.status,
            String::from_utf8_lossy(&response.body).trim_end()
        ))),
        Err(BreakerError::Inner(e)) => Err(upstream(format!("part {name}: {e}"))),
        Err(open @ BreakerError::Open { .. }) => {
            Err(Msg::Error { code: ErrorCode::Overloaded, detail: format!("part {name}: {open}") })
        }
    }
}

fn upstream(detail: String) -> Msg {
    Msg::Error { code: ErrorCode::Upstream, detail }
}

fn detail_of(failure: &Msg) -> &str {
    match failure {
        Msg::Error { detail, .. } => detail,
        _ => "failed",
    }
}

/// The HTTP reply to a page: `200` with each part's line (and `x-degraded` naming the parts
/// left out), or the status of the failure.
pub(super) fn respond(page: Result<Composed, Msg>) -> Response {
    match page {
        Ok(Composed { body, degraded }) if degraded.is_empty() => (StatusCode::OK, body).into_response(),
        Ok(Composed { body, degraded }) => (StatusCode::OK, [(DEGRADED, degraded.join(","))], body).into_response(),
        Err(Msg::Error { code, detail }) => (super::http::status_of(code), format!("{detail}\n")).into_response(),
        Err(other) => {
            (StatusCode::BAD_GATEWAY, format!("the page failed with an unexpected {}\n", other.name())).into_response()
        }
    }
}

/// Runs `futures` at once, polling each in order on every wake-up (so the order they make
/// progress in is fixed), until all are done: their outputs, in order.
async fn join_all<'a, T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(out) => *output = Some(out),
                Poll::Pending => pending = true,
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
