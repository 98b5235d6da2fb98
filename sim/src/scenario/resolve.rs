//! The workload's `resolve`: users find their target by asking a DNS server for a name, and
//! keep the answer as real clients do (most for its TTL, some longer, some until restart).
//!
//! Owns the setting, its checks, the filling of the workload's targets from the record (so
//! every check of targets applies to the record's endpoints) and what the plan holds of it. It
//! must not run lookups (the load generator does).

use super::types::{Dur, Scenario, Sp};
use super::validate::Checker;
use crate::services::{addr, dns, ns};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How users resolve their target.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// The DNS server (a host running `dns`).
    #[schemars(with = "String")]
    pub dns: Sp<String>,
    /// The name users resolve (one of the server's records).
    #[schemars(with = "String")]
    pub name: Sp<String>,
    /// Share of users behind resolvers that keep an answer at least `extend_to`, whatever its
    /// TTL, in [0, 1]. Default 0.
    #[serde(default = "zero")]
    #[schemars(with = "f64")]
    pub extend: Sp<f64>,
    /// The floor those resolvers keep answers for. Default "10m".
    #[serde(default = "default_extend_to")]
    pub extend_to: Dur,
    /// Share of users whose client keeps its first answer until it restarts (for the run), in
    /// [0, 1]. Default 0.
    #[serde(default = "zero")]
    #[schemars(with = "f64")]
    pub pinned: Sp<f64>,
    /// A lookup not answered within this fails; the user keeps its stale answer. Default "1s".
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn zero() -> Sp<f64> {
    Sp::new(0..0, 0.0)
}
fn default_extend_to() -> Dur {
    Dur(Duration::from_secs(600))
}
fn default_timeout() -> Dur {
    Dur(Duration::from_secs(1))
}

/// How one user's client keeps answers, in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CachingPlan {
    /// For their TTL.
    Honour,
    /// For their TTL, at least this many nanoseconds.
    Extend(u64),
    /// For good.
    Pinned,
}

/// What a load generator needs to resolve its users' target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvePlan {
    /// "host:port" of the DNS server.
    pub server: String,
    /// The name.
    pub name: String,
    /// The region the generator asks from ("" for none).
    pub region: String,
    /// Lookup timeout, nanoseconds.
    pub timeout_ns: u64,
    /// The record's endpoints: host index and "host:port".
    pub endpoints: Vec<(u16, String)>,
}

/// The dns server a validated-or-not scenario's `resolve` names, if it is one.
fn server<'a>(scenario: &'a Scenario, resolve: &Resolve) -> Option<&'a dns::DnsService> {
    let host = scenario.hosts.iter().find(|h| h.get_ref().name.get_ref() == resolve.dns.get_ref())?;
    dns::of(&host.get_ref().service)
}

/// Fills the workload's targets with the record's endpoints when it resolves and names none
/// (before validation, so the checks of targets see the endpoints).
pub(crate) fn fill_targets(scenario: &mut Scenario) {
    let Some(resolve) = &scenario.workload.resolve else { return };
    if !scenario.workload.targets.is_empty() {
        return;
    }
    let endpoints: Vec<Sp<String>> = match server(scenario, resolve) {
        Some(dns) => dns
            .endpoints(resolve.name.get_ref())
            .into_iter()
            .map(|e| Sp::new(resolve.name.span(), e.to_string()))
            .collect(),
        None => Vec::new(),
    };
    scenario.workload.targets = endpoints;
    scenario.workload.targets_filled = true;
}

/// Checks `resolve`: a dns host, one of its names, shares in range, no `targets` beside it.
pub(crate) fn check(c: &mut Checker) {
    let workload = &c.scenario.workload;
    let Some(resolve) = &workload.resolve else { return };
    if !workload.targets_filled && !workload.targets.is_empty() {
        let message =
            "the workload sets both `targets` and `resolve`; expected one: users resolve their target, or are given it"
                .to_string();
        c.report(resolve.dns.span(), "targets and resolve", message);
    }
    if let Some(host) = c.host(&resolve.dns, "not a host") {
        match dns::of(&host.service) {
            None => {
                let message = format!(
                    "resolve.dns names {:?}, which runs {}; expected a dns host",
                    resolve.dns.get_ref(),
                    host.service.kind()
                );
                c.report(resolve.dns.span(), "not a dns server", message);
            }
            Some(server) if server.record(resolve.name.get_ref()).is_none() => {
                let names: Vec<&str> = server.records.iter().map(|r| r.name.get_ref().as_str()).collect();
                let message = format!(
                    "dns server {:?} has no record {:?}; its names are: {}",
                    resolve.dns.get_ref(),
                    resolve.name.get_ref(),
                    super::spans::name_list(names)
                );
                c.report(resolve.name.span(), "no such name", message);
            }
            Some(_) => {}
        }
    }
    let (extend, pinned) = (*resolve.extend.get_ref(), *resolve.pinned.get_ref());
    for (what, share, span) in [("extend", extend, resolve.extend.span()), ("pinned", pinned, resolve.pinned.span())] {
        if !(0.0..=1.0).contains(&share) {
            c.report(
                span,
                "not in [0, 1]",
                format!("resolve.{what} {share} is out of range; expected a share of users in [0, 1]"),
            );
        }
    }
    if (0.0..=1.0).contains(&extend) && (0.0..=1.0).contains(&pinned) && extend + pinned > 1.0 + 1e-9 {
        let message = format!(
            "resolve.extend {extend} + resolve.pinned {pinned} is more than 1; expected shares of one set of users"
        );
        c.report(resolve.pinned.span(), "more than all users", message);
    }
    if resolve.timeout.0.is_zero() {
        c.report(
            resolve.name.span(),
            "zero timeout",
            "resolve.timeout is 0; expected a positive lookup timeout".into(),
        );
    }
}

impl Resolve {
    /// How user `u` keeps answers: users are spread over the shares by a low-discrepancy
    /// sequence, so any run of users holds close to the shares (the pinned first, then the
    /// extending).
    pub(crate) fn caching(&self, u: u32) -> CachingPlan {
        const GOLDEN: f64 = 0.618_033_988_749_894_9;
        let draw = ((f64::from(u) + 0.5) * GOLDEN).fract();
        let pinned = *self.pinned.get_ref();
        if draw < pinned {
            CachingPlan::Pinned
        } else if draw < pinned + *self.extend.get_ref() {
            CachingPlan::Extend(ns(self.extend_to.0))
        } else {
            CachingPlan::Honour
        }
    }

    /// The plan of load generator `g` in `region`, the record's endpoints resolved to hosts.
    pub(crate) fn plan(
        &self,
        scenario: &Scenario,
        region: Option<&str>,
        index_of: impl Fn(&str) -> u16,
    ) -> ResolvePlan {
        let endpoints = server(scenario, self)
            .map(|dns| dns.endpoints(self.name.get_ref()))
            .unwrap_or_default()
            .into_iter()
            .map(|e| (index_of(e), addr(e)))
            .collect();
        ResolvePlan {
            server: addr(self.dns.get_ref()),
            name: self.name.get_ref().clone(),
            region: region.unwrap_or_default().to_string(),
            timeout_ns: ns(self.timeout.0),
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(extend: f64, pinned: f64) -> Resolve {
        Resolve {
            dns: Sp::new(0..0, "dns".into()),
            name: Sp::new(0..0, "shop".into()),
            extend: Sp::new(0..0, extend),
            extend_to: Dur(Duration::from_secs(600)),
            pinned: Sp::new(0..0, pinned),
            timeout: Dur(Duration::from_secs(1)),
        }
    }

    #[test]
    fn users_are_spread_over_the_shares_closely() {
        let r = resolve(0.087, 0.02);
        let plans: Vec<CachingPlan> = (0..1000).map(|u| r.caching(u)).collect();
        let count = |want: CachingPlan| plans.iter().filter(|&&p| p == want).count();
        assert!((18..=22).contains(&count(CachingPlan::Pinned)), "{}", count(CachingPlan::Pinned));
        assert!(
            (84..=90).contains(&count(CachingPlan::Extend(600_000_000_000))),
            "{}",
            count(CachingPlan::Extend(600_000_000_000))
        );
        let first_hundred = (0..100).filter(|&u| r.caching(u) == CachingPlan::Pinned).count();
        assert!((1..=3).contains(&first_hundred), "a short run of users holds its share too: {first_hundred}");
        assert!((0..500).all(|u| resolve(0.0, 0.0).caching(u) == CachingPlan::Honour));
        assert!((0..500).all(|u| resolve(0.0, 1.0).caching(u) == CachingPlan::Pinned));
    }
}
