//! A part service: one HTTP microservice of a page an app composes (profile, catalogue,
//! pricing, ...), as a service split out of a monolith is. `GET /part/{key}` spends the
//! request's cost in the server's queueing model (worker slots, queue, service time slowed by
//! the Slowdown knob) and, when the service has a store of its own, reads `key` there:
//! `200` with the value as the body, `404` when the key is absent, `502` when the store failed
//! or was slow past the timeout, `503` when the queue shed it. `GET /health` answers `200` at
//! once, outside the worker queue.
//!
//! Chaos makes it slow by turning the Slowdown knob and down by killing its host; an app
//! calling it sees a timeout or a refused connection.
//!
//! This file must not know who calls it or what the parts mean: the key is what the caller
//! sent.

use crate::client::Client;
use crate::http::bridge::{Submitter, bridge, dispatch};
use crate::http::server::serve_router;
use crate::kv::api::Msg;
use crate::seam::{Env, RequestKind};
use crate::server::{Capacity, Endpoint, Workers};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// Configuration of a part service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// "host:port" of its own store (a kv node), if it has one.
    pub db: Option<String>,
    /// The longest a read of its store may take (connect included).
    pub timeout: Duration,
}

/// A part request: the key to read.
struct PartRequest {
    key: Vec<u8>,
}

struct Part<E: Env> {
    workers: Workers<E>,
    db: Option<Client<E, Msg>>,
    timeout: Duration,
}

impl<E: Env> Part<E> {
    async fn serve(&self, request: PartRequest) -> Response {
        let work = || self.read(request.key);
        let is_failure = |response: &Response| response.status().is_server_error();
        match self.workers.query(RequestKind::Read, None, true, work, is_failure).await {
            Ok(response) => response,
            Err(shed) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", shed.detail())).into_response(),
        }
    }

    /// Reads `key` from its store; without one, the part is computed: `200` with an empty body.
    async fn read(&self, key: Vec<u8>) -> Response {
        let Some(db) = &self.db else {
            return StatusCode::OK.into_response();
        };
        match db.call(Msg::Get { key, min_lsn: 0 }, self.timeout).await {
            Ok(Msg::Value { value: Some(value), .. }) => (StatusCode::OK, value).into_response(),
            Ok(Msg::Value { value: None, .. }) => StatusCode::NOT_FOUND.into_response(),
            Ok(Msg::Error { code, detail }) => {
                (StatusCode::BAD_GATEWAY, format!("db at {} answered {code:?}: {detail}\n", db.addr())).into_response()
            }
            Ok(other) => {
                (StatusCode::BAD_GATEWAY, format!("db at {} answered an unexpected {}\n", db.addr(), other.name()))
                    .into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, format!("db: {e}\n")).into_response(),
        }
    }
}

async fn part(State(parts): State<Submitter<PartRequest>>, Path(key): Path<String>) -> Response {
    parts.submit(PartRequest { key: key.into_bytes() }).await
}

async fn health() -> &'static str {
    "ok\n"
}

/// Serves a part service on `endpoint` with `capacity` until the listener fails.
pub async fn serve_service<E: Env>(
    env: E,
    endpoint: impl Endpoint<E>,
    capacity: Capacity,
    config: ServiceConfig,
) -> io::Result<()> {
    let max_connections = capacity.max_connections;
    let service = Rc::new(Part {
        workers: Workers::new(env.clone(), capacity),
        db: config.db.map(|addr| Client::new(env.clone(), addr, config.timeout)),
        timeout: config.timeout,
    });
    let (parts, queue) = bridge();
    env.spawn(dispatch(env.clone(), queue, move |request| {
        let service = service.clone();
        async move { service.serve(request).await }
    }));
    let router = Router::new().route("/part/{key}", get(part)).route("/health", get(health)).with_state(parts);
    serve_router(env, endpoint, max_connections, router).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client::HttpClient;
    use crate::http::{Bytes, Method};
    use crate::kv::{KvConfig, KvNode};
    use crate::seam::TokioEnv;
    use crate::server::{ServiceTime, serve};
    use crate::testenv::block_on;

    const LIMIT: Duration = Duration::from_secs(2);

    /// Starts a part service (with a kv primary holding `profile:k1` when `with_db`); a client.
    async fn start(env: &TokioEnv, with_db: bool) -> HttpClient<TokioEnv> {
        let db = if with_db {
            let listener = env.bind(0).await.expect("bind");
            let addr = listener.local_addr().expect("an address").to_string();
            let store = KvNode::primary(env.clone(), KvConfig::default()).expect("a fresh store opens");
            tokio::task::spawn_local(serve(env.clone(), listener, Capacity::default(), store));
            let client: Client<TokioEnv, Msg> = Client::new(env.clone(), addr.clone(), LIMIT);
            let put = Msg::Put { key: b"profile:k1".to_vec(), value: b"alice".to_vec() };
            assert!(matches!(client.call(put, LIMIT).await, Ok(Msg::Written { .. })));
            Some(addr)
        } else {
            None
        };
        let listener = env.bind(0).await.expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        let capacity = Capacity::new(2, 10, ServiceTime::Fixed(Duration::from_millis(1)));
        let config = ServiceConfig { db, timeout: LIMIT };
        tokio::task::spawn_local(serve_service(env.clone(), listener, capacity, config));
        HttpClient::new(env.clone(), addr, LIMIT)
    }

    async fn get(client: &HttpClient<TokioEnv>, path: &str) -> (StatusCode, Vec<u8>) {
        let request = client.request(Method::GET, path, &[], Bytes::new()).expect("valid");
        let response = client.send(request).await.expect("answered");
        (response.status, response.body.to_vec())
    }

    #[test]
    fn a_part_reads_its_own_store() {
        block_on(async {
            let env = TokioEnv::new("svc", "127.0.0.1", 1);
            let client = start(&env, true).await;
            assert_eq!(get(&client, "/part/profile:k1").await, (StatusCode::OK, b"alice".to_vec()));
            assert_eq!(get(&client, "/part/profile:k2").await.0, StatusCode::NOT_FOUND);
            assert_eq!(get(&client, "/health").await, (StatusCode::OK, b"ok\n".to_vec()));
            assert_eq!(get(&client, "/nothing").await.0, StatusCode::NOT_FOUND);
        });
    }

    #[test]
    fn a_part_without_a_store_is_computed() {
        block_on(async {
            let env = TokioEnv::new("svc", "127.0.0.1", 2);
            let client = start(&env, false).await;
            assert_eq!(get(&client, "/part/recs:k9").await, (StatusCode::OK, Vec::new()));
        });
    }
}
