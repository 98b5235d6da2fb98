//! The sessions of a load generator's users, with the workload's `login = true`: each user logs
//! in (`POST /login`, recorded as a request of its own) before its first request, keeps the
//! `session` cookie it was given and sends it with every request; a `401` to a request that
//! carried the user's current cookie is a lost session: the cookie is dropped and the user's
//! next request logs in again. A user logs in once at a time (a lock per user): requests that
//! arrive meanwhile wait for its cookie; a failed login is the outcome of the request that
//! needed it.
//!
//! Gauges (cumulative, on the load generator's host): "sessions_created" (successful logins)
//! and "sessions_lost" (cookies found lost; several requests that shared a cookie count once).
//!
//! Must not: know how an app keeps sessions; it sees only the HTTP answers.

use super::{Gen, UserClient};
use crate::world::SimEnv;
use faultline_chaos::trace::{Event, Op, Outcome};
use faultline_chaos::vocab::gauge;
use faultline_models::app::http::code_of;
use faultline_models::app::session::COOKIE;
use faultline_models::client::CallError;
use faultline_models::http::{self, Bytes, Method};
use faultline_models::proto::ErrorCode;
use faultline_models::seam::Env;
use std::cell::Cell;
use std::rc::Rc;
use tokio::sync::Mutex;

/// Every user's session on one load generator.
pub(super) struct UserSessions {
    env: SimEnv,
    /// Each user's session id (`None`: logged out), locked while the user logs in.
    cookies: Vec<Mutex<Option<Rc<str>>>>,
    created: Cell<u64>,
    lost: Cell<u64>,
}

impl UserSessions {
    pub(super) fn new(env: SimEnv, users: usize) -> Self {
        let sessions = Self {
            env,
            cookies: (0..users).map(|_| Mutex::new(None)).collect(),
            created: Cell::new(0),
            lost: Cell::new(0),
        };
        sessions.publish();
        sessions
    }

    fn publish(&self) {
        self.env.gauge(gauge::SESSIONS_CREATED, self.created.get() as i64);
        self.env.gauge(gauge::SESSIONS_LOST, self.lost.get() as i64);
    }
}

/// The session id a `set-cookie` value gives, if it is the session cookie.
fn session_of(set_cookie: &str) -> Option<&str> {
    let first = set_cookie.split(';').next()?;
    let (name, value) = first.trim().split_once('=')?;
    (name == COOKIE && !value.is_empty()).then_some(value)
}

/// The `cookie` header of session `id`.
pub(super) fn cookie_header(id: &str) -> (&'static str, String) {
    ("cookie", format!("{COOKIE}={id}"))
}

impl Gen {
    /// The session of `user`, logging in first when it has none; `Err` holds the outcome of a
    /// login that failed.
    pub(super) async fn session(&self, sessions: &UserSessions, user: usize) -> Result<Rc<str>, Outcome> {
        let mut cookie = sessions.cookies[user].lock().await;
        if let Some(id) = &*cookie {
            return Ok(id.clone());
        }
        let id = self.login(user).await?;
        *cookie = Some(id.clone());
        sessions.created.set(sessions.created.get() + 1);
        sessions.publish();
        Ok(id)
    }

    /// A request that carried session `id` was answered `401`: the session is lost, unless
    /// the user has already dropped it (another request found it lost first).
    pub(super) async fn session_lost(&self, sessions: &UserSessions, user: usize, id: &Rc<str>) {
        let mut cookie = sessions.cookies[user].lock().await;
        if cookie.as_ref() == Some(id) {
            *cookie = None;
            sessions.lost.set(sessions.lost.get() + 1);
            sessions.publish();
        }
    }

    /// Logs `user` in, recorded as a request: the session id, or the outcome of a failure.
    async fn login(&self, user: usize) -> Result<Rc<str>, Outcome> {
        let plan = &self.plan.users[user];
        let (client, target) = self.client(user);
        let UserClient::Http(client) = &*client else {
            unreachable!("validated: a workload that logs in has HTTP targets only")
        };
        let req = self.next_req.get();
        self.next_req.set(req + 1);
        let headers = [(http::USER, plan.id.to_string())];
        let request = client.request(Method::POST, "/login", &headers, Bytes::new()).expect("a login is valid HTTP");
        let event =
            Event::Invoke { req, user: plan.id, client: self.env.host(), service: target, op: Op::Other, key: 0 };
        self.env.record(event);
        let expiry = self.deadlines.start();
        let reply = client.send_until(request, expiry.wait()).await;
        drop(expiry);
        let (outcome, id) = match reply {
            Ok(response) => match code_of(response.status) {
                Some(code) => (Outcome::Error(code as u8), None),
                None => {
                    let set_cookie = response.headers.get_all("set-cookie");
                    let id = set_cookie.iter().filter_map(|v| v.to_str().ok()).find_map(session_of).map(Rc::from);
                    // A success without a session cookie is an answer the client cannot use.
                    let outcome = if id.is_some() { Outcome::Ok } else { Outcome::Error(ErrorCode::Upstream as u8) };
                    (outcome, id)
                }
            },
            Err(CallError::Timeout(_)) => (Outcome::Timeout, None),
            Err(_) => (Outcome::Unreachable, None),
        };
        self.env.record(Event::Complete { req, outcome: outcome.clone() });
        id.ok_or(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_read_from_set_cookie() {
        assert_eq!(session_of("session=abc; Path=/; HttpOnly"), Some("abc"));
        assert_eq!(session_of("session=abc"), Some("abc"));
        assert_eq!(session_of("theme=dark; session=abc"), None, "only the cookie's own name counts");
        assert_eq!(session_of("session=; Path=/"), None);
        assert_eq!(cookie_header("abc"), ("cookie", "session=abc".to_string()));
    }
}
