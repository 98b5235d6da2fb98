//! A third-party payment API, as an app's checkout calls one: `POST /charge` charges once per
//! `idempotency-key` (a repeated key answers the first charge again, as payment providers do,
//! so a retried call never charges twice) and answers `200` with the charge's number;
//! `GET /health` answers `200`. Each charge goes through the server's queueing model (worker
//! slots, queue, service time slowed by the Slowdown knob), so chaos makes it slow by turning
//! the knob, and down by killing its host.
//!
//! Gauges: `charges` (distinct charges made) and `charge_repeats` (calls answered from an
//! earlier charge of the same key).
//!
//! This file must not know who calls it.

use crate::http::bridge::{Submitter, bridge, dispatch};
use crate::http::server::serve_router;
use crate::seam::{Env, RequestKind};
use crate::server::{Capacity, Endpoint, Workers};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

/// The request header naming a charge, so a retry is not charged twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The most idempotency keys remembered; past it the oldest charge is forgotten.
const MAX_KEYS: usize = 100_000;

/// A charge request.
struct Charge {
    key: Option<String>,
}

struct Ledger<E: Env> {
    env: E,
    workers: Workers<E>,
    /// Charge number by idempotency key, and the keys in charge order (to forget the oldest).
    charged: RefCell<(BTreeMap<String, u64>, std::collections::VecDeque<String>)>,
    charges: Cell<u64>,
    repeats: Cell<u64>,
}

impl<E: Env> Ledger<E> {
    fn publish(&self) {
        self.env.gauge(gauge::CHARGES, self.charges.get() as i64);
        self.env.gauge(gauge::CHARGE_REPEATS, self.repeats.get() as i64);
    }

    /// Charges once per key: the charge's number, and whether it was made before.
    fn charge(&self, key: Option<String>) -> (u64, bool) {
        let mut charged = self.charged.borrow_mut();
        if let Some(key) = &key
            && let Some(&number) = charged.0.get(key)
        {
            self.repeats.set(self.repeats.get() + 1);
            return (number, true);
        }
        self.charges.set(self.charges.get() + 1);
        let number = self.charges.get();
        if let Some(key) = key {
            if charged.1.len() >= MAX_KEYS
                && let Some(oldest) = charged.1.pop_front()
            {
                charged.0.remove(&oldest);
            }
            charged.0.insert(key.clone(), number);
            charged.1.push_back(key);
        }
        (number, false)
    }

    async fn serve(&self, request: Charge) -> Response {
        let work = || async {
            let (number, repeat) = self.charge(request.key);
            self.publish();
            let text = if repeat { format!("charged {number} (before)\n") } else { format!("charged {number}\n") };
            (StatusCode::OK, text).into_response()
        };
        let is_failure = |response: &Response| response.status().is_server_error();
        match self.workers.query(RequestKind::Write, None, true, work, is_failure).await {
            Ok(response) => response,
            Err(shed) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", shed.detail())).into_response(),
        }
    }
}

async fn charge(State(charges): State<Submitter<Charge>>, headers: HeaderMap) -> Response {
    let key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()).map(str::to_string);
    charges.submit(Charge { key }).await
}

async fn health() -> &'static str {
    "ok\n"
}

/// Serves the payment API on `endpoint` with `capacity` until the listener fails.
pub async fn serve_payment<E: Env>(env: E, endpoint: impl Endpoint<E>, capacity: Capacity) -> io::Result<()> {
    let max_connections = capacity.max_connections;
    let ledger = Rc::new(Ledger {
        workers: Workers::new(env.clone(), capacity),
        charged: RefCell::default(),
        charges: Cell::new(0),
        repeats: Cell::new(0),
        env: env.clone(),
    });
    ledger.publish();
    let (charges, queue) = bridge();
    env.spawn(dispatch(env.clone(), queue, move |request| {
        let ledger = ledger.clone();
        async move { ledger.serve(request).await }
    }));
    let router = Router::new().route("/charge", post(charge)).route("/health", get(health)).with_state(charges);
    serve_router(env, endpoint, max_connections, router).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client::HttpClient;
    use crate::http::{Bytes, Method};
    use crate::seam::TokioEnv;
    use crate::server::ServiceTime;
    use crate::testenv::block_on;
    use std::time::Duration;

    #[test]
    fn a_charge_is_made_once_per_idempotency_key() {
        block_on(async {
            let env = TokioEnv::new("pay", "127.0.0.1", 1);
            let listener = env.bind(0).await.expect("bind");
            let addr = listener.local_addr().expect("an address").to_string();
            let capacity = Capacity::new(2, 10, ServiceTime::Fixed(Duration::from_millis(1)));
            tokio::task::spawn_local(serve_payment(env.clone(), listener, capacity));
            let client = HttpClient::new(env.clone(), addr, Duration::from_secs(2));
            let charge = |key: &str| {
                let headers = [(IDEMPOTENCY_KEY, key.to_string())];
                client.request(Method::POST, "/charge", &headers, Bytes::new()).expect("valid")
            };
            let first = client.send(charge("order-1")).await.expect("answered");
            assert_eq!((first.status, first.body.as_ref()), (StatusCode::OK, &b"charged 1\n"[..]));
            let again = client.send(charge("order-1")).await.expect("answered");
            assert_eq!(again.body.as_ref(), b"charged 1 (before)\n", "a retry is not charged twice");
            let second = client.send(charge("order-2")).await.expect("answered");
            assert_eq!(second.body.as_ref(), b"charged 2\n");
            let health = client.request(Method::GET, "/health", &[], Bytes::new()).expect("valid");
            assert_eq!(client.send(health).await.expect("answered").status, StatusCode::OK);
            let wrong = client.request(Method::GET, "/charge", &[], Bytes::new()).expect("valid");
            assert_eq!(client.send(wrong).await.expect("answered").status, StatusCode::METHOD_NOT_ALLOWED);
        });
    }
}
