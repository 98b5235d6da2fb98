//! The DNS failover section of the report: when a DNS server found endpoints down or back, each
//! change of what a name answered, and how the users followed it: of the users whose requests
//! went to the old endpoint when the answer changed, how long each took to send one elsewhere,
//! and how many never did (their cache or their connection kept the old address).
//!
//! Owns: [`DnsReport`] and the fold of `State{key: "dns"}` and `Invoke` events into it. Must
//! not: decide a verdict, or know how users cache (the trace says where their requests went).
//!
//! Definitions: a user is on an endpoint when its latest request (by `Invoke`) went there. At a
//! change of what a name answers from endpoint A to B, the users on A are followed; a user has
//! moved at its first request sent anywhere but A; a user not moved by the next change of that
//! name (or the end of the run) is still on A.

use super::metrics::Latency;
use crate::trace::Header;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most health changes and answer changes the section lists.
const MAX_LISTED: usize = 100;

/// A DNS server found an endpoint unhealthy or healthy again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthEntry {
    /// When, s.
    pub t_s: f64,
    /// The endpoint (host name).
    pub endpoint: String,
    /// Whether it is healthy now.
    pub healthy: bool,
}

/// One change of what a name answers, and the users who followed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerChange {
    /// When, s.
    pub t_s: f64,
    /// The name ("shop", or "shop@eu-west" for a nearest record's view from a region).
    pub name: String,
    /// The endpoint it answered before.
    pub from: String,
    /// The endpoint it answers now.
    pub to: String,
    /// Users on `from` when it changed.
    pub users_on_old: u64,
    /// Of which sent a request elsewhere before the name changed again or the run ended.
    pub moved: u64,
    /// How long they took, s: median, 90th and 99th percentile, and the slowest.
    pub moved_p50_s: Option<f64>,
    /// 90th percentile, s.
    pub moved_p90_s: Option<f64>,
    /// 99th percentile, s.
    pub moved_p99_s: Option<f64>,
    /// The slowest, s.
    pub moved_max_s: Option<f64>,
    /// Users still on `from` when the name changed again or the run ended.
    pub still_on_old: u64,
}

/// The DNS section: every health and answer change, in time order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DnsReport {
    /// Endpoints found down or back.
    pub health: Vec<HealthEntry>,
    /// Changes of answers (not the first answers at start).
    pub changes: Vec<AnswerChange>,
    /// Changes left out past the listing limit.
    pub omitted: u64,
}

/// A change being followed.
struct Following {
    change: usize,
    name: String,
    from: u16,
    t_ns: u64,
    /// Users on `from` not moved yet.
    waiting: BTreeMap<u32, ()>,
    moved: Latency<u64>,
}

/// The DNS section's state as the trace goes by.
#[derive(Default)]
pub(super) struct DnsAcc {
    /// Host ids by name.
    hosts: BTreeMap<String, u16>,
    /// Where each user's latest request went.
    users: BTreeMap<u32, u16>,
    /// What each name answers now, as an endpoint host id.
    answers: BTreeMap<String, u16>,
    /// Changes whose users are still being followed.
    following: Vec<Following>,
    report: DnsReport,
    seen: bool,
}

impl DnsAcc {
    pub(super) fn new(header: &Header) -> Self {
        let hosts = header.hosts.iter().enumerate().map(|(i, h)| (h.name.clone(), i as u16)).collect();
        DnsAcc { hosts, ..DnsAcc::default() }
    }

    /// User `user` sent a request to `target`.
    pub(super) fn invoke(&mut self, t_ns: u64, user: u32, target: u16) {
        if !self.seen {
            return;
        }
        self.users.insert(user, target);
        for f in &mut self.following {
            if target != f.from && f.waiting.remove(&user).is_some() {
                f.moved.record(t_ns - f.t_ns);
            }
        }
    }

    /// A host reported a state change: true when it was a DNS server's.
    pub(super) fn change(&mut self, t_ns: u64, key: &str, value: &str) -> bool {
        if key != faultline_vocab::state::DNS {
            return false;
        }
        self.seen = true;
        let t_s = t_ns as f64 / 1e9;
        if let Some(rest) = value.strip_prefix("answer ") {
            let Some((name, endpoint)) = rest.split_once(' ') else { return true };
            let Some(&to) = self.hosts.get(endpoint) else { return true };
            let previous = self.answers.insert(name.to_string(), to);
            let Some(from) = previous.filter(|&from| from != to) else { return true };
            self.close(name);
            if self.report.changes.len() >= MAX_LISTED {
                self.report.omitted += 1;
                return true;
            }
            let waiting: BTreeMap<u32, ()> =
                self.users.iter().filter(|(_, t)| **t == from).map(|(&u, _)| (u, ())).collect();
            self.report.changes.push(AnswerChange {
                t_s,
                name: name.to_string(),
                from: self.name_of(from),
                to: endpoint.to_string(),
                users_on_old: waiting.len() as u64,
                moved: 0,
                moved_p50_s: None,
                moved_p90_s: None,
                moved_p99_s: None,
                moved_max_s: None,
                still_on_old: 0,
            });
            let change = self.report.changes.len() - 1;
            self.following.push(Following {
                change,
                name: name.to_string(),
                from,
                t_ns,
                waiting,
                moved: Latency::new(),
            });
        } else if let Some((endpoint, verdict)) = value.rsplit_once(':')
            && self.report.health.len() < MAX_LISTED
        {
            let healthy = verdict == "healthy";
            self.report.health.push(HealthEntry { t_s, endpoint: endpoint.to_string(), healthy });
        }
        true
    }

    fn name_of(&self, host: u16) -> String {
        self.hosts.iter().find(|(_, h)| **h == host).map_or_else(|| format!("#{host}"), |(n, _)| n.clone())
    }

    /// Ends the following of the change of `name` under way, if any.
    fn close(&mut self, name: &str) {
        if let Some(i) = self.following.iter().position(|f| f.name == name) {
            let f = self.following.remove(i);
            self.settle(f);
        }
    }

    fn settle(&mut self, f: Following) {
        let c = &mut self.report.changes[f.change];
        let s = |q: f64| f.moved.quantile_ns(q).map(|ns| ns as f64 / 1e9);
        c.moved = f.moved.count();
        (c.moved_p50_s, c.moved_p90_s, c.moved_p99_s, c.moved_max_s) = (s(0.5), s(0.9), s(0.99), s(1.0));
        c.still_on_old = f.waiting.len() as u64;
    }

    /// The section, or `None` when no DNS server reported.
    pub(super) fn finish(mut self) -> Option<DnsReport> {
        if !self.seen {
            return None;
        }
        for f in std::mem::take(&mut self.following) {
            self.settle(f);
        }
        Some(self.report)
    }
}

#[cfg(test)]
mod tests {
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::{Event, Op, Outcome};

    #[test]
    fn users_follow_a_failover_as_a_long_tail_and_some_never_do() {
        // Hosts: 0 lg0, 1 app (the primary), 2 db (standing in for the secondary).
        let mut stream = Stream::new(3, 1);
        let dns = |value: &str| Event::State { host: 2, key: "dns".into(), value: value.into() };
        stream.push(0, dns("answer shop app"));
        let invoke = |req, user, service| Event::Invoke { req, user, client: 0, service, op: Op::Read, key: 0 };
        let mut req = 0;
        let mut send = |stream: &mut Stream, t, user, service| {
            req += 1;
            stream.push(t, invoke(req, user, service));
            stream.push(t + MS, Event::Complete { req, outcome: Outcome::Ok });
        };
        for user in 0..10 {
            send(&mut stream, S + u64::from(user) * MS, user, 1);
        }
        stream.push(2 * S, dns("app:unhealthy"));
        stream.push(2 * S, dns("answer shop db"));
        // Users 0-8 move after 1 s, 2 s, ... 9 s; user 9 stays on the old endpoint.
        for user in 0..9 {
            send(&mut stream, 2 * S + (u64::from(user) + 1) * S, user, 2);
        }
        send(&mut stream, 12 * S, 9, 1);
        let report = stream.analyze();
        let dns = report.dns.as_ref().expect("a DNS section");
        assert_eq!(dns.health.len(), 1);
        assert!(!dns.health[0].healthy);
        assert_eq!(dns.changes.len(), 1, "the first answer at start is no change");
        let c = &dns.changes[0];
        assert_eq!((c.from.as_str(), c.to.as_str(), c.users_on_old, c.moved, c.still_on_old), ("app", "db", 10, 9, 1));
        assert!((c.moved_max_s.expect("moved") - 9.0).abs() < 0.01, "{c:?}");
        assert!((c.moved_p50_s.expect("moved") - 5.0).abs() < 0.01, "{c:?}");
        let text = report.render_text();
        assert!(text.contains("DNS failover"), "{text}");
        assert!(text.contains("app -> db"), "{text}");
    }

    #[test]
    fn without_a_dns_server_there_is_no_section() {
        let mut stream = Stream::new(3, 1);
        stream.push(0, Event::Invoke { req: 1, user: 0, client: 0, service: 1, op: Op::Read, key: 0 });
        stream.push(MS, Event::Complete { req: 1, outcome: Outcome::Ok });
        let report = stream.analyze();
        assert!(report.dns.is_none());
        assert!(serde_json::to_value(&report).expect("serializes").get("dns").is_none());
    }
}
