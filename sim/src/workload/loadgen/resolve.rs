//! Users who find their target through DNS. A user looks its name up before its first request
//! and again only when it must open a new connection: after a request that could not reach
//! its target or timed out. Until then it keeps its connection, and so its address, whatever
//! DNS answers meanwhile (a pooled connection keeps the old address until it reconnects).
//! When it looks up, it takes its cached answer while that is fresh (its TTL, longer behind a
//! resolver that extends TTLs, for good when its client pins answers), else asks the server;
//! when the server cannot answer, it keeps its stale answer.
//!
//! A lookup happens before the request's `Invoke`: its time is not in the request's latency,
//! and its target is the address the request is sent to. A user with no answer at all (the
//! server unreachable on its first lookup) records a request that failed unsent.
//!
//! Owns the users' caches and when they look up; must not pick answers (the server does).

use super::UserPlan;
use super::{Gen, UserClient};
use crate::scenario::resolve::{CachingPlan, ResolvePlan};
use crate::world::SimEnv;
use faultline_chaos::trace::{Event, Op, Outcome};
use faultline_models::dns::{Caching, DnsClient, Resolver};
use faultline_models::seam::Env;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The resolving state of a load generator's users.
pub(super) struct UserResolvers {
    plan: ResolvePlan,
    client: DnsClient<SimEnv>,
    /// Each user's cached answer.
    caches: RefCell<Vec<Resolver>>,
    /// Users who must look up before their next request.
    reconnect: RefCell<Vec<bool>>,
}

impl UserResolvers {
    /// Every user of `users` yet to look up, caching as its plan says.
    pub(super) fn new(env: &SimEnv, plan: &ResolvePlan, users: &[UserPlan]) -> Self {
        let caching = |u: &UserPlan| match u.caching.unwrap_or(CachingPlan::Honour) {
            CachingPlan::Honour => Caching::Honour,
            CachingPlan::Extend(min_ns) => Caching::Extend { min_ttl: Duration::from_nanos(min_ns) },
            CachingPlan::Pinned => Caching::Pinned,
        };
        UserResolvers {
            client: DnsClient::new(
                env.clone(),
                plan.server.clone(),
                plan.region.clone(),
                Duration::from_nanos(plan.timeout_ns),
            ),
            caches: RefCell::new(users.iter().map(|u| Resolver::new(caching(u))).collect()),
            reconnect: RefCell::new(vec![true; users.len()]),
            plan: plan.clone(),
        }
    }

    /// Makes sure `user` has an address to send to: looks up when it must, and moves its
    /// client to the answer when that differs. Err: the request failed unsent (recorded).
    pub(super) async fn connect(&self, lg: &Gen, user: usize) -> Result<(), Outcome> {
        if !self.reconnect.borrow()[user] {
            return Ok(());
        }
        let now = lg.env.now();
        let fresh = self.caches.borrow()[user].fresh(now).map(str::to_string);
        let addr = match fresh {
            Some(addr) => Some(addr),
            None => {
                if let Ok((addr, ttl)) = self.client.query(&self.plan.name).await {
                    self.caches.borrow_mut()[user].store(&addr, ttl, lg.env.now());
                }
                // A pinned client keeps its first answer; a failed lookup keeps the stale one.
                self.caches.borrow()[user].stale().map(str::to_string)
            }
        };
        let Some(addr) = addr else {
            return Err(fail_unsent(lg, user));
        };
        self.reconnect.borrow_mut()[user] = false;
        let (current, _) = lg.client(user);
        if current_addr(&current) != addr {
            let target = self.plan.endpoints.iter().find(|(_, a)| *a == addr).map(|(host, _)| *host);
            if let Some(target) = target {
                let api = lg.plan.users[user].api;
                let client = UserClient::new(&lg.env, api, &addr, lg.plan.timeout());
                lg.clients.borrow_mut()[user] = (Rc::new(client), target);
            }
        }
        Ok(())
    }

    /// After a request of `user` ended with `outcome`: a connection that failed or timed out
    /// is given up, so the next request looks up again.
    pub(super) fn after(&self, user: usize, outcome: &Outcome) {
        if matches!(outcome, Outcome::Unreachable | Outcome::Timeout) {
            self.reconnect.borrow_mut()[user] = true;
        }
    }
}

/// The address a user's client sends to.
fn current_addr(client: &UserClient) -> &str {
    match client {
        UserClient::Store(c) => c.addr(),
        UserClient::Echo(c) => c.addr(),
        UserClient::Resp(c) => c.addr(),
        UserClient::Http(c) => c.addr(),
        UserClient::Queue(c) => c.addr(),
    }
}

/// Records a request of `user` that had nowhere to go: invoked and failed at once.
fn fail_unsent(lg: &Gen, user: usize) -> Outcome {
    let req = lg.next_req.get();
    lg.next_req.set(req + 1);
    let (_, target) = lg.client(user);
    let id = lg.plan.users[user].id;
    lg.env.record(Event::Invoke { req, user: id, client: lg.env.host(), service: target, op: Op::Other, key: 0 });
    lg.env.record(Event::Complete { req, outcome: Outcome::Unreachable });
    Outcome::Unreachable
}
