//! Semantic checks of a parsed [`Scenario`]: the rules its types cannot express (names that
//! must refer to hosts of the right kind, numbers in range, times inside the run).
//!
//! Every check reports a [`Finding`] at the offending value's span and says what was expected;
//! all findings are collected, none stops the others. This file owns the entry point, run
//! timing, the workload and the SLOs; `topology.rs` owns hosts, services, links and faults.
//! Nothing here panics on any parsed scenario.

use super::spans::{Seg, fmt_dur, name_list, suggest, value_span};
use super::topology::MAX_HOSTS;
use super::types::{Arrival, Host, Popularity, Scenario, Sp};
use indexmap::IndexMap;
use std::ops::Range;
use std::time::Duration;

/// The highest request rate a scenario may ask for, per second.
pub const MAX_RATE: f64 = 10_000_000.0;
/// The most phases a phased arrival rate may have.
pub const MAX_PHASES: usize = 1000;
/// The most requests of a `burst` arrival.
pub const MAX_BURST: u64 = 1_000_000;
/// The most virtual users a workload may have.
pub const MAX_USERS: u32 = 1_000_000;
/// The coarsest simulation tick.
pub const MAX_TICK: Duration = Duration::from_secs(1);
/// A tick is a whole number of these. Turmoil steps a host by sleeping one tick on the host's
/// tokio runtime, whose paused clock moves only to timer deadlines, which tokio rounds up to
/// the millisecond: with a tick of 1.5 ms (or 1 ns) a host's clock would run ahead of the
/// simulation's, and the trace's records would come out of time order.
pub const TICK_GRAIN: Duration = Duration::from_millis(1);
/// The most virtual users one load generator runs. Each user holds a connection, which takes
/// one of the host's 16384 ephemeral ports (49152 to 65535, as on Linux and in turmoil) for as
/// long as it is open; the rest are left for reconnections.
pub const MAX_USERS_PER_LOADGEN: u32 = 10_000;

/// One broken rule, located in the scenario's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Byte range of the offending value (0..0 when it has no place in the file).
    pub span: Range<usize>,
    /// What is wrong and what was expected.
    pub message: String,
    /// A short note for under the offending text.
    pub label: String,
}

/// Every rule `scenario` breaks, in file order. `text` is the file it was parsed from; it is
/// only read to locate values the types keep no span for. Empty when the scenario is valid.
pub fn validate(scenario: &Scenario, text: &str) -> Vec<Finding> {
    let mut checker = Checker::new(scenario, text);
    checker.timing();
    super::topology::check(&mut checker);
    checker.workload();
    super::resolve::check(&mut checker);
    super::retry::check(&mut checker);
    checker.arrival();
    checker.slos();
    checker.checks();
    checker.expected_failures();
    super::autoscale::check(&mut checker);
    super::deploy::check(&mut checker);
    super::swarm::check(&mut checker);
    super::cost::check(&mut checker);
    let mut findings = checker.findings;
    findings.sort_by_key(|f| f.span.start);
    findings
}

/// The state of one validation: the scenario, its text, its hosts by name, and what was found.
pub(crate) struct Checker<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) text: &'a str,
    /// Hosts by name, the first of each name, in file order.
    pub(crate) hosts: IndexMap<&'a str, &'a Host>,
    pub(crate) findings: Vec<Finding>,
}

impl<'a> Checker<'a> {
    fn new(scenario: &'a Scenario, text: &'a str) -> Self {
        let mut hosts = IndexMap::new();
        for host in &scenario.hosts {
            hosts.entry(host.get_ref().name.get_ref().as_str()).or_insert(host.get_ref());
        }
        Checker { scenario, text, hosts, findings: Vec::new() }
    }

    pub(crate) fn report(&mut self, span: Range<usize>, label: &str, message: String) {
        self.findings.push(Finding { span, message, label: label.to_string() });
    }

    /// The run's length.
    pub(crate) fn end(&self) -> Duration {
        self.scenario.duration.get_ref().0
    }

    /// The span of the value at `path`, or `fallback` when the file does not hold it.
    pub(crate) fn span_at(&self, path: &[Seg], fallback: Range<usize>) -> Range<usize> {
        value_span(self.text, path).unwrap_or(fallback)
    }

    /// The host `name` refers to; reports an unknown host (`label` says what refers to it).
    pub(crate) fn host(&mut self, name: &Sp<String>, label: &str) -> Option<&'a Host> {
        if let Some(host) = self.hosts.get(name.get_ref().as_str()) {
            return Some(host);
        }
        let wanted = name.get_ref();
        let mut message = if self.hosts.is_empty() {
            format!("unknown host {wanted:?}; the file defines no hosts")
        } else {
            format!("unknown host {wanted:?}; the hosts are: {}", name_list(self.hosts.keys().copied()))
        };
        if let Some(close) = suggest(wanted, self.hosts.keys().copied()) {
            message.push_str(&format!("; did you mean {close:?}?"));
        }
        self.report(name.span(), label, message);
        None
    }

    /// Reports `at` unless it is before the end of the run; `what` names it ("fault", "step").
    pub(crate) fn before_end(&mut self, at: &Sp<super::types::Dur>, what: &str) {
        let (at_d, end) = (at.get_ref().0, self.end());
        if end.is_zero() || at_d < end {
            return;
        }
        let relation = if at_d == end { "at" } else { "after" };
        let message = format!(
            "{what} at {} is {relation} the end of the run ({}); expected a time before {}",
            fmt_dur(at_d),
            fmt_dur(end),
            fmt_dur(end)
        );
        self.report(at.span(), "after the end of the run", message);
    }

    /// Reports a probability outside `[0, 1)`.
    pub(crate) fn loss(&mut self, loss: &Sp<f64>) {
        let value = *loss.get_ref();
        if !(0.0..1.0).contains(&value) {
            let message =
                format!("loss {value} is out of range; expected a probability in [0, 1): 0 for none, 0.01 for 1%");
            self.report(loss.span(), "not in [0, 1)", message);
        }
    }

    fn timing(&mut self) {
        let duration = &self.scenario.duration;
        let (end, tick, window) = (self.end(), self.scenario.tick.get_ref().0, self.scenario.window.get_ref().0);
        if end.is_zero() {
            let message = "the run's duration is 0; expected a duration longer than 0, e.g. \"60s\"".to_string();
            self.report(duration.span(), "zero", message);
        }
        let tick_span = or_span(self.scenario.tick.span(), duration.span());
        if tick.is_zero() || tick > MAX_TICK {
            let message = format!(
                "tick {} is out of range; expected a whole number of milliseconds from 1ms to 1s",
                fmt_dur(tick)
            );
            self.report(tick_span.clone(), "out of range", message);
        } else if tick.as_nanos() % TICK_GRAIN.as_nanos() != 0 {
            let below = Duration::from_millis(tick.as_millis() as u64).max(TICK_GRAIN);
            let above = Duration::from_millis(tick.as_millis() as u64 + 1);
            let close =
                if below == above { fmt_dur(below) } else { format!("{} or {}", fmt_dur(below), fmt_dur(above)) };
            let message = format!(
                "tick {} is not a whole number of milliseconds; expected e.g. {close}: each host keeps time on tokio's 1 ms timer grid, so its clock would drift from the simulation's",
                fmt_dur(tick)
            );
            self.report(tick_span.clone(), "not whole milliseconds", message);
        } else if !end.is_zero() && tick > end {
            let message = format!(
                "the run ({}) is shorter than one tick ({}); expected a tick no longer than the duration",
                fmt_dur(end),
                fmt_dur(tick)
            );
            self.report(tick_span.clone(), "longer than the run", message);
        }
        let window_span = or_span(self.scenario.window.span(), tick_span);
        if window.is_zero() || window < tick {
            let message = format!(
                "window {} is too short; expected a metrics window of at least one tick ({})",
                fmt_dur(window),
                fmt_dur(tick)
            );
            self.report(window_span, "shorter than a tick", message);
        }
    }

    fn workload(&mut self) {
        let workload = &self.scenario.workload;
        if workload.targets.is_empty() && workload.resolve.is_none() {
            let span = self.span_at(&[Seg::Key("workload"), Seg::Key("targets")], 0..0);
            self.report(span, "empty", "the workload has no targets; expected at least one host name".into());
        }
        for target in &workload.targets {
            if let Some(host) = self.host(target, "not a host")
                && host.service.load_api().is_none()
            {
                let message = format!(
                    "host {:?} runs {} and serves no requests; expected an app, kv, cache or echo host",
                    target.get_ref(),
                    host.service.kind()
                );
                self.report(target.span(), "serves no requests", message);
            }
        }
        let users = *workload.users.get_ref();
        if users == 0 || users > MAX_USERS {
            let message = format!("users = {users} is out of range; expected between 1 and {MAX_USERS} virtual users");
            self.report(workload.users.span(), "out of range", message);
        }
        let loadgens = *workload.loadgens.get_ref();
        let loadgens_span = or_span(workload.loadgens.span(), workload.users.span());
        if users != 0 && (loadgens == 0 || loadgens > users) {
            let message = format!(
                "loadgens = {loadgens} is out of range; expected between 1 and {users} (no more load generators than users)"
            );
            self.report(loadgens_span, "out of range", message);
        } else if loadgens != 0 && users <= MAX_USERS {
            self.loadgen_capacity(users, loadgens, loadgens_span);
        }
        let ratio = *workload.read_ratio.get_ref();
        if !(0.0..=1.0).contains(&ratio) {
            let message = format!("read_ratio {ratio} is out of range; expected a share of reads in [0, 1], e.g. 0.9");
            self.report(workload.read_ratio.span(), "not in [0, 1]", message);
        }
        let cas = *workload.cas_ratio.get_ref();
        if !(0.0..=1.0).contains(&cas) {
            let message = format!("cas_ratio {cas} is out of range; expected a share of compare-and-sets in [0, 1]");
            self.report(workload.cas_ratio.span(), "not in [0, 1]", message);
        } else if (0.0..=1.0).contains(&ratio) && ratio + cas > 1.0 + 1e-9 {
            let message = format!(
                "read_ratio {ratio} + cas_ratio {cas} is more than 1; expected reads and compare-and-sets to share at most all requests"
            );
            self.report(workload.cas_ratio.span(), "more than all requests", message);
        }
        if cas > 0.0 {
            for target in &workload.targets {
                if let Some(host) = self.scenario.hosts.iter().find(|h| h.get_ref().name.get_ref() == target.get_ref())
                    && host.get_ref().service.load_api() == Some(crate::services::LoadApi::Resp)
                {
                    let message = format!(
                        "cas_ratio is {cas} but host {:?} is a cache, which has no compare-and-set; expected cas_ratio = 0 or an app or kv target",
                        target.get_ref()
                    );
                    self.report(workload.cas_ratio.span(), "no compare-and-set", message);
                }
            }
        }
        self.increments(workload, ratio + cas);
        let checkout = *workload.checkout_ratio.get_ref();
        if !(0.0..=1.0).contains(&checkout) {
            let message = format!("checkout_ratio {checkout} is out of range; expected a share of checkouts in [0, 1]");
            self.report(workload.checkout_ratio.span(), "not in [0, 1]", message);
        } else if checkout > 0.0
            && (0.0..=1.0).contains(&ratio)
            && (0.0..=1.0).contains(&cas)
            && ratio + cas + checkout > 1.0 + 1e-9
        {
            let message = format!(
                "read_ratio {ratio} + cas_ratio {cas} + checkout_ratio {checkout} is more than 1; expected them to share at most all requests"
            );
            self.report(workload.checkout_ratio.span(), "more than all requests", message);
        }
        if checkout > 0.0 {
            for target in &workload.targets {
                if let Some(host) = self.scenario.hosts.iter().find(|h| h.get_ref().name.get_ref() == target.get_ref())
                    && host.get_ref().service.load_api() != Some(crate::services::LoadApi::Http)
                {
                    let message = format!(
                        "checkout_ratio is {checkout} but host {:?} does not serve `POST /checkout`; expected an app with protocol = \"http\"",
                        target.get_ref()
                    );
                    self.report(workload.checkout_ratio.span(), "no checkout", message);
                }
            }
        }
        if workload.login {
            for target in &workload.targets {
                if let Some(host) = self.scenario.hosts.iter().find(|h| h.get_ref().name.get_ref() == target.get_ref())
                    && host.get_ref().service.load_api() != Some(crate::services::LoadApi::Http)
                {
                    let message = format!(
                        "login = true but host {:?} does not serve `POST /login`; expected an HTTP app (or a load balancer in front of some) as every target",
                        target.get_ref()
                    );
                    let span = self.span_at(&[Seg::Key("workload"), Seg::Key("login")], target.span());
                    self.report(span, "no login", message);
                }
            }
        }
        crate::services::app::page_ratio(self, workload, [ratio, cas, checkout]);
        if *workload.keys.get_ref() == 0 {
            self.report(workload.keys.span(), "zero", "keys = 0; expected at least 1 distinct key".into());
        }
        super::tenants::validate(self, workload);
        if let Popularity::Zipf { s } = &workload.popularity {
            let value = *s.get_ref();
            if !(value.is_finite() && value > 0.0) {
                let message =
                    format!("zipf exponent s = {value} is out of range; expected a finite number > 0, e.g. 0.99");
                self.report(s.span(), "not > 0", message);
            }
        }
        if workload.timeout.0.is_zero() {
            let span = self.span_at(&[Seg::Key("workload"), Seg::Key("timeout")], 0..0);
            self.report(
                span,
                "zero",
                "the workload's timeout is 0; expected a timeout longer than 0, e.g. \"1s\"".into(),
            );
        }
    }

    /// Reports load generators the world cannot lay out: too many simulated hosts in all, or
    /// more users on one than it has ports for their connections.
    fn loadgen_capacity(&mut self, users: u32, loadgens: u32, span: Range<usize>) {
        let hosts = self.scenario.hosts.len();
        if hosts <= MAX_HOSTS && hosts + loadgens as usize > MAX_HOSTS {
            let message = format!(
                "loadgens = {loadgens} beside the file's {hosts} host(s) makes {} simulated hosts; expected at most {} load generators (at most {MAX_HOSTS} hosts in all)",
                hosts + loadgens as usize,
                MAX_HOSTS - hosts
            );
            self.report(span, "too many hosts", message);
        } else if users.div_ceil(loadgens) > MAX_USERS_PER_LOADGEN {
            let message = format!(
                "{users} users on {loadgens} load generator(s) puts {} on one; each user holds a connection, and a load generator has ports for at most {MAX_USERS_PER_LOADGEN}; expected loadgens of at least {}",
                users.div_ceil(loadgens),
                users.div_ceil(MAX_USERS_PER_LOADGEN)
            );
            self.report(span, "too many users per load generator", message);
        }
    }

    fn arrival(&mut self) {
        match &self.scenario.workload.arrival {
            Arrival::Constant { rate } | Arrival::Poisson { rate } => self.rate(rate, "rate"),
            Arrival::Step { from, to, at } => {
                self.rate(from, "from");
                self.rate(to, "to");
                self.before_end(at, "step");
            }
            Arrival::Spike { base, peak, at, length } => {
                self.rate(base, "base");
                self.rate(peak, "peak");
                self.before_end(at, "spike");
                if length.get_ref().0.is_zero() {
                    let message = "the spike lasts 0s; expected a `for` longer than 0".to_string();
                    self.report(length.span(), "zero", message);
                }
            }
            Arrival::Phases(phases) => self.phases(phases),
            Arrival::Burst { requests, at } => {
                let count = *requests.get_ref();
                if !(1..=MAX_BURST).contains(&count) {
                    let message = format!("a burst of {count} requests; expected 1 to {MAX_BURST}");
                    self.report(requests.span(), "out of range", message);
                }
                self.before_end(at, "burst");
            }
            Arrival::Closed { .. } => {}
        }
    }

    /// Phases: 1 to [`MAX_PHASES`], the first at 0, each after the one before and before the
    /// end, each rate in range.
    fn phases(&mut self, phases: &Sp<Vec<super::types::RatePhase>>) {
        let list = phases.get_ref();
        if list.is_empty() || list.len() > MAX_PHASES {
            let message = format!("{} phases; expected 1 to {MAX_PHASES}", list.len());
            self.report(phases.span(), "phase count", message);
            return;
        }
        if !list[0].at.get_ref().0.is_zero() {
            let message = "the first phase starts after 0s; expected it at \"0s\" (or no `at`)".to_string();
            self.report(list[0].at.span(), "not at 0s", message);
        }
        for (i, phase) in list.iter().enumerate() {
            self.rate(&phase.rate, "rate");
            if i == 0 {
                continue;
            }
            self.before_end(&phase.at, "phase");
            if phase.at.get_ref() <= list[i - 1].at.get_ref() {
                let message = "a phase starts no later than the one before; expected phases in time order".to_string();
                self.report(or_span(phase.at.span(), phases.span()), "out of order", message);
            }
        }
    }

    fn rate(&mut self, rate: &Sp<f64>, what: &str) {
        let value = *rate.get_ref();
        if !(value.is_finite() && (0.0..=MAX_RATE).contains(&value)) {
            let message =
                format!("{what} {value} is out of range; expected a rate between 0 and {MAX_RATE} requests per second");
            self.report(rate.span(), "out of range", message);
        }
    }

    fn expected_failures(&mut self) {
        let mut seen = std::collections::BTreeSet::new();
        for name in &self.scenario.expected_failures {
            let text = name.get_ref().trim();
            if text.is_empty() {
                let message = "an expected failure names no check; expected a check's name or its first words, e.g. \"availability\"".to_string();
                self.report(name.span(), "empty", message);
            } else if !seen.insert(text) {
                let message = format!("{text:?} is named twice in `expected_failures`; expected each check once");
                self.report(name.span(), "named twice", message);
            }
        }
    }

    /// Counter increments: a share that fits beside `taken` (reads and compare-and-sets), sent
    /// only to active-active stores, which keep counters.
    fn increments(&mut self, workload: &super::types::Workload, taken: f64) {
        let incr = *workload.incr_ratio.get_ref();
        let span = workload.incr_ratio.span();
        if !(0.0..=1.0).contains(&incr) {
            let message =
                format!("incr_ratio {incr} is out of range; expected a share of counter increments in [0, 1]");
            self.report(span, "not in [0, 1]", message);
            return;
        }
        if taken <= 1.0 + 1e-9 && taken + incr > 1.0 + 1e-9 {
            let message = format!(
                "read_ratio + cas_ratio + incr_ratio is {}; expected reads, compare-and-sets and increments to share at most all requests",
                taken + incr
            );
            self.report(span.clone(), "more than all requests", message);
        }
        if incr == 0.0 {
            return;
        }
        for target in &workload.targets {
            let host = self.hosts.get(target.get_ref().as_str());
            if let Some(host) = host.filter(|h| !matches!(h.service, crate::services::Service::Geo(_))) {
                let message = format!(
                    "incr_ratio is {incr} but target {:?} runs {}, which keeps no counters; expected incr_ratio = 0 or geo targets",
                    target.get_ref(),
                    host.service.kind()
                );
                self.report(span.clone(), "no counters", message);
            }
        }
    }

    fn slos(&mut self) {
        for slo in &self.scenario.slos {
            let entry = slo.get_ref();
            if let Some(service) = &entry.service {
                self.host(service, "not a host");
            }
            let others = [entry.latency.is_some(), entry.availability.is_some(), entry.max_sessions_lost.is_some()];
            if let Some(within) = &entry.converged_within {
                if others.iter().any(|o| *o) {
                    let message = "an SLO has one objective, found `converged_within` beside another; expected two [[slos]] entries".to_string();
                    self.report(within.span(), "second objective", message);
                }
                if let Some(service) = &entry.service {
                    let message =
                        "`converged_within` judges every region of the active-active store; expected no `service`"
                            .to_string();
                    self.report(service.span(), "not end to end", message);
                }
                if !self.hosts.values().any(|h| matches!(h.service, crate::services::Service::Geo(_))) {
                    let message = "`converged_within` needs an active-active store; expected `geo` hosts".to_string();
                    self.report(within.span(), "no geo hosts", message);
                }
            }
            match (&entry.latency, &entry.availability, &entry.max_sessions_lost) {
                (None, None, None) if entry.converged_within.is_some() => {}
                (None, None, None) => {
                    let message =
                        "an SLO needs `latency`, `availability`, `max_sessions_lost` or `converged_within`; found none"
                            .to_string();
                    self.report(slo.span(), "no objective", message);
                }
                (Some(_), Some(a), _) => {
                    let message = "an SLO has one objective, found both `latency` and `availability`; expected two [[slos]] entries".to_string();
                    self.report(a.span(), "second objective", message);
                }
                (Some(_), None, Some(m)) | (None, Some(_), Some(m)) => {
                    let message = "an SLO has one objective, found `max_sessions_lost` beside another; expected two [[slos]] entries".to_string();
                    self.report(m.span(), "second objective", message);
                }
                (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => {}
            }
            if let Some(max) = &entry.max_sessions_lost {
                if let Some(service) = &entry.service {
                    let message = "`max_sessions_lost` counts the sessions the load generators' users lost, end to end; expected no `service`".to_string();
                    self.report(service.span(), "not end to end", message);
                }
                if !self.scenario.workload.login {
                    let message = "`max_sessions_lost` needs users that log in; expected `login = true` in [workload]"
                        .to_string();
                    self.report(max.span(), "no login", message);
                }
            }
            if let Some(q) = &entry.quantile {
                self.quantile(q, entry.latency.is_some());
            }
            if let Some(a) = &entry.availability {
                let value = *a.get_ref();
                if !(value > 0.0 && value <= 1.0) {
                    let message = format!(
                        "availability {value} is out of range; expected a share of successful requests in (0, 1], e.g. 0.999"
                    );
                    self.report(a.span(), "not in (0, 1]", message);
                }
            }
        }
    }

    fn checks(&mut self) {
        let checks = &self.scenario.checks;
        if let Some(ratio) = &checks.recovery_ratio {
            let value = *ratio.get_ref();
            if !(value > 0.0 && value <= 1.0) {
                let message =
                    format!("recovery_ratio {value} is out of range; expected a success rate in (0, 1], e.g. 0.99");
                self.report(ratio.span(), "not in (0, 1]", message);
            }
        }
        if checks.rto_window.0.is_zero() {
            let span = self.span_at(&[Seg::Key("checks"), Seg::Key("rto_window")], 0..0);
            self.report(span, "zero", "rto_window is 0; expected a window longer than 0, e.g. \"1s\"".into());
        }
    }

    fn quantile(&mut self, q: &Sp<f64>, has_latency: bool) {
        let value = *q.get_ref();
        if !(value > 0.0 && value <= 1.0) {
            let message = format!("quantile {value} is out of range; expected a quantile in (0, 1], e.g. 0.99");
            self.report(q.span(), "not in (0, 1]", message);
        } else if !has_latency {
            let message = "`quantile` applies to a latency objective; expected `latency` next to it".to_string();
            self.report(q.span(), "no latency", message);
        }
    }
}

/// `span` unless it is empty (a default value, which has no place in the file); then `fallback`.
pub(crate) fn or_span(span: Range<usize>, fallback: Range<usize>) -> Range<usize> {
    if span.is_empty() { fallback } else { span }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const QUICKSTART: &str = include_str!("testdata/quickstart.toml");

    /// The quickstart with `from` replaced by `to`: each finding's message and the text its
    /// span covers.
    pub(crate) fn findings(from: &str, to: &str) -> Vec<(String, String)> {
        findings_in(QUICKSTART, from, to)
    }

    /// What validation finds in `base` (a scenario's text) with `from` replaced by `to`: each
    /// finding's message and the text its span covers.
    pub(crate) fn findings_in(base: &str, from: &str, to: &str) -> Vec<(String, String)> {
        assert!(base.contains(from), "{from:?} is not in the scenario");
        let text = base.replacen(from, to, 1);
        let scenario: Scenario = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let found = validate(&scenario, &text);
        found.into_iter().map(|f| (f.message, text[f.span].to_string())).collect()
    }

    /// Asserts the edit of the quickstart yields exactly the `expected` (message substring,
    /// spanned text) pairs.
    pub(crate) fn check(from: &str, to: &str, expected: &[(&str, &str)]) {
        check_in(QUICKSTART, from, to, expected);
    }

    /// Asserts the edit of `base` (a scenario's text) yields exactly the `expected` (message
    /// substring, spanned text) pairs.
    pub(crate) fn check_in(base: &str, from: &str, to: &str, expected: &[(&str, &str)]) {
        let got = findings_in(base, from, to);
        assert_eq!(got.len(), expected.len(), "{from:?} -> {to:?}: {got:#?}");
        for ((message, spanned), (want, want_spanned)) in got.iter().zip(expected) {
            assert!(message.contains(want), "{message:?} should contain {want:?}");
            assert_eq!(spanned, want_spanned, "the span of {message:?}");
        }
    }

    #[test]
    fn the_quickstart_is_valid() {
        check("", "", &[]);
    }

    #[test]
    fn timing() {
        check("\"20s\"", "\"0s\"", &[("duration is 0", "\"0s\"")]);
        check("duration = \"20s\"", "duration = \"20s\"\ntick = \"0ms\"", &[("tick 0s is out of range", "\"0ms\"")]);
        check(
            "duration = \"20s\"",
            "duration = \"20s\"\ntick = \"2s\"",
            &[("tick 2s is out of range", "\"2s\""), ("window 1s is too short", "\"2s\"")],
        );
        check("\"20s\"", "\"500us\"", &[("shorter than one tick (1ms)", "\"500us\""), ("after the end", "\"10s\"")]);
        let grain = "is not a whole number of milliseconds; expected e.g.";
        check(
            "duration = \"20s\"",
            "duration = \"20s\"\ntick = \"1ns\"",
            &[(&format!("tick 1ns {grain} 1ms: each host keeps time"), "\"1ns\"")],
        );
        check(
            "duration = \"20s\"",
            "duration = \"20s\"\ntick = \"1500us\"",
            &[(&format!("tick 1500us {grain} 1ms or 2ms"), "\"1500us\"")],
        );
        check("duration = \"20s\"", "duration = \"20s\"\ntick = \"999us\"", &[("tick 999us is not", "\"999us\"")]);
        check("duration = \"20s\"", "duration = \"20s\"\ntick = \"7ms\"", &[]);
        check("duration = \"20s\"", "duration = \"20s\"\ntick = \"1s\"", &[]);
        check("duration = \"20s\"", "duration = \"20s\"\nwindow = \"0s\"", &[("window 0s is too short", "\"0s\"")]);
    }

    #[test]
    fn workload_numbers() {
        check("users = 50", "users = 0", &[("users = 0 is out of range", "0")]);
        check("users = 50", "users = 1000001", &[("expected between 1 and 1000000", "1000001")]);
        check("users = 50", "users = 50\nloadgens = 51", &[("no more load generators than users", "51")]);
        check("users = 50", "users = 50\nloadgens = 0", &[("loadgens = 0", "0")]);
        check("users = 50", "users = 50\nread_ratio = 1.5", &[("read_ratio 1.5", "1.5")]);
        check("users = 50", "users = 50\ncas_ratio = -0.1", &[("cas_ratio -0.1 is out of range", "-0.1")]);
        check(
            "users = 50",
            "users = 50\nread_ratio = 0.8\ncas_ratio = 0.3",
            &[("cas_ratio 0.3 is more than 1", "0.3")],
        );
        check(
            "users = 50",
            "users = 50\nread_ratio = 0.8\ncheckout_ratio = 0.3",
            &[("checkout_ratio 0.3 is more than 1", "0.3"), ("does not serve `POST /checkout`", "0.3")],
        );
        check("users = 50", "users = 50\nkeys = 0", &[("keys = 0", "0")]);
        check(
            "users = 50",
            "users = 20001\nloadgens = 2",
            &[(
                "puts 10001 on one; each user holds a connection, and a load generator has ports for at most 10000; expected loadgens of at least 3",
                "2",
            )],
        );
        check("users = 50", "users = 20000\nloadgens = 2", &[]);
        check("users = 50", "users = 10001", &[("expected loadgens of at least 2", "10001")]);
        check(
            "users = 50",
            "users = 1000000\nloadgens = 65532",
            &[("makes 65536 simulated hosts; expected at most 65531 load generators", "65532")],
        );
        check("users = 50", "users = 1000000\nloadgens = 65531", &[]);
        check("s = 0.99", "s = -1.0", &[("zipf exponent s = -1", "-1.0")]);
        check("s = 0.99", "s = nan", &[("s = NaN", "nan")]);
        check("users = 50", "users = 50\ntimeout = \"0s\"", &[("timeout is 0", "\"0s\"")]);
        check("targets = [\"app\"]", "targets = []", &[("no targets", "[]")]);
        check(
            "targets = [\"app\"]",
            "targets = [\"ap\"]",
            &[("unknown host \"ap\"; the hosts are: db, replica, cache, app; did you mean \"app\"?", "\"ap\"")],
        );
    }

    #[test]
    fn arrival_rates_and_times() {
        let rate = "expected a rate between 0 and 10000000 requests per second";
        check("rate = 200", "rate = -5", &[(rate, "-5")]);
        check("rate = 200", "rate = 10000001", &[(rate, "10000001")]);
        check("rate = 200", "rate = inf", &[("rate inf", "inf")]);
        check("rate = 200", "rate = 0", &[]);
        let step = "{ step = { from = 1, to = -2.5, at = \"30s\" } }";
        check(
            "{ poisson = { rate = 200 } }",
            step,
            &[(rate, "-2.5"), ("step at 30s is after the end of the run (20s)", "\"30s\"")],
        );
        let spike = "{ spike = { base = 1, peak = 5, at = \"20s\", for = \"0s\" } }";
        check(
            "{ poisson = { rate = 200 } }",
            spike,
            &[("spike at 20s is at the end of the run (20s)", "\"20s\""), ("spike lasts 0s", "\"0s\"")],
        );
        check("{ poisson = { rate = 200 } }", "{ closed = { think = \"1ms\" } }", &[]);
        check("{ poisson = { rate = 200 } }", "{ burst = { requests = 100 } }", &[]);
        check(
            "{ poisson = { rate = 200 } }",
            "{ burst = { requests = 0, at = \"25s\" } }",
            &[("a burst of 0 requests; expected 1 to 1000000", "0"), ("burst at 25s is after the end", "\"25s\"")],
        );
        check(
            "{ poisson = { rate = 200 } }",
            "{ burst = { requests = 1000001 } }",
            &[("a burst of 1000001 requests", "1000001")],
        );
    }

    #[test]
    fn slos() {
        check(
            "latency = \"50ms\"",
            "name = \"none\"",
            &[("needs `latency`, `availability`, `max_sessions_lost` or `converged_within`", "[[slos]]")],
        );
        check("latency = \"50ms\"", "latency = \"50ms\"\navailability = 0.9", &[("found both", "0.9")]);
        check("latency = \"50ms\"", "latency = \"50ms\"\nquantile = 0", &[("quantile 0 is out of range", "0")]);
        check("latency = \"50ms\"", "latency = \"50ms\"\nquantile = 1.0\nservice = \"db\"", &[]);
        check("availability = 0.99", "availability = 1.01", &[("availability 1.01 is out of range", "1.01")]);
        check(
            "availability = 0.99",
            "availability = 0.99\nquantile = 0.5",
            &[("applies to a latency objective", "0.5")],
        );
        check("latency = \"50ms\"", "latency = \"50ms\"\nservice = \"dbb\"", &[("unknown host \"dbb\"", "\"dbb\"")]);
    }

    #[test]
    fn expected_failures_name_each_check_once() {
        let first = "name = \"quickstart\"";
        assert!(QUICKSTART.contains(first), "the quickstart starts with its name");
        let with = |list: &str| format!("expected_failures = {list}\n{first}");
        check(first, &with("[\"availability\"]"), &[]);
        check(first, &with("[\" \"]"), &[("names no check", "\" \"")]);
        check(first, &with("[\"staleness\", \"staleness\"]"), &[("named twice", "\"staleness\"")]);
    }

    #[test]
    fn findings_come_in_file_order() {
        let got = findings("users = 50", "users = 0\nkeys = 0");
        assert_eq!(got.len(), 2);
        assert!(got[0].0.starts_with("users"), "{got:?}");
        assert!(got[1].0.starts_with("keys"), "{got:?}");
    }
}
