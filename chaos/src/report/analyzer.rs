//! The [`Analyzer`]: folds a run's records, in time order, into the counters a [`Report`] is
//! made of.
//!
//! Owns: matching `Invoke` to `Complete`, per-host served statistics, the time-weighted
//! `inflight` gauge, the fault and change timelines, handing the cache section its gauges'
//! samples and the retry section its retries, and feeding the data tier's [`History`] (whose map of outstanding requests is also
//! the one `Invoke` and `Complete` are matched through). Must not: keep records (memory is
//! bounded apart from outstanding requests, open windows, the capped timelines, the cache
//! section's per-window counts and the data history, whose bound `check::history` documents),
//! or decide verdicts (that is `checks`).

use super::autoscale::AutoscaleAcc;
use super::breakers::BreakerAcc;
use super::cache::CacheAcc;
use super::deploy::DeployAcc;
use super::geo::GeoAcc;
use super::metrics::{Latency, WindowSeries};
use super::queue::QueueAcc;
use super::retry::RetryAcc;
use super::sessions::SessionsAcc;
use super::tenants::TenantsAcc;
use super::{Anomalies, ChangeEntry, FaultEntry, Report};
use crate::check::{History, Matched};
use crate::trace::codec::TraceHash;
use crate::trace::text::host_names;
use crate::trace::{Event, Header, Outcome, Record};
use std::collections::BTreeMap;

/// The gauge whose time-weighted mean is a host's measured L in Little's law.
pub const INFLIGHT_GAUGE: &str = faultline_vocab::gauge::INFLIGHT;
/// The most windows a series holds; a longer run gets wider windows.
pub(crate) const MAX_WINDOWS: u64 = 10_000;
/// The window width when the header gives none.
pub(crate) const DEFAULT_WINDOW_NS: u64 = 1_000_000_000;
/// The most state changes and power events a report lists.
pub(crate) const MAX_CHANGES: usize = 1_000;
/// The most faults a report lists.
pub(crate) const MAX_FAULTS: usize = 10_000;

const NS_PER_S: f64 = 1e9;

/// The end-to-end view being accumulated.
pub(super) struct EndToEndAcc {
    pub(super) requests: u64,
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) unreachable: u64,
    pub(super) timeouts: u64,
    /// Refused by a rate limiter (`RATE_LIMITED`), counted apart from errors.
    pub(super) limited: u64,
    /// Answered `UNAUTHORIZED` (a lost session), counted apart from errors.
    pub(super) unauthorized: u64,
    pub(super) outstanding_at_end: u64,
    pub(super) latency: Latency<u64>,
    pub(super) windows: WindowSeries,
}

impl EndToEndAcc {
    /// Requests out of availability: refused by a rate limiter, or of a lost session.
    pub(super) fn excluded(&self) -> u64 {
        self.limited + self.unauthorized
    }
}

/// One host's served requests being accumulated.
pub(super) struct ServiceAcc {
    pub(super) requests: u64,
    pub(super) ok: u64,
    pub(super) latency: Latency<u64>,
    pub(super) windows: WindowSeries,
}

/// The end-to-end requests sent to one target host being accumulated.
pub(super) struct TargetAcc {
    pub(super) requests: u64,
    pub(super) ok: u64,
    /// Refused by a rate limiter: out of its availability, as end to end.
    pub(super) limited: u64,
    pub(super) latency: Latency<u64>,
}

/// A host's `inflight` gauge: the integral of its mean over the sampled time.
#[derive(Default)]
pub(super) struct GaugeAcc {
    last_t_ns: u64,
    pub(super) weighted_sum: f64,
    pub(super) covered_ns: u64,
}

/// Builds a report from records fed in time order.
pub struct Analyzer {
    pub(super) header: Header,
    pub(super) window_ns: u64,
    pub(super) last_t_ns: u64,
    pub(super) end_t_ns: Option<u64>,
    settled_window: u64,
    pub(super) e2e: EndToEndAcc,
    pub(super) services: BTreeMap<u16, ServiceAcc>,
    /// End to end by the host each request was sent to.
    pub(super) targets: BTreeMap<u16, TargetAcc>,
    /// The target of each outstanding request.
    pub(super) pending_targets: BTreeMap<u64, u16>,
    pub(super) inflight: BTreeMap<u16, GaugeAcc>,
    pub(super) faults: Vec<FaultEntry>,
    pub(super) faults_omitted: u64,
    pub(super) changes: Vec<ChangeEntry>,
    pub(super) changes_omitted: u64,
    pub(super) anomalies: Anomalies,
    /// What the data-tier checks need.
    pub(super) data: History,
    /// The cache gauges' samples.
    pub(super) cache: CacheAcc,
    /// The circuit breakers' state changes.
    pub(super) breakers: BreakerAcc,
    /// The active-active store's reports.
    pub(super) geo: GeoAcc,
    /// The clients' retries.
    pub(super) retry: RetryAcc,
    /// The sessions gauges' samples.
    pub(super) sessions: SessionsAcc,
    pub(super) tenants: TenantsAcc,
    /// End to end by the users' regions.
    pub(super) regions: super::regions::RegionsAcc,
    /// DNS failovers and the users who followed them.
    pub(super) dns: super::dns::DnsAcc,
    /// The autoscaler's states and gauge.
    pub(super) autoscale: AutoscaleAcc,
    /// The deploy controller's states and gauges, and the failures during a deploy.
    pub(super) deploy: DeployAcc,
    /// The queue brokers' and workers' gauges, and the brokers' accepted sends.
    pub(super) queue: QueueAcc,
}

impl Analyzer {
    /// An analyzer for a run with `header`.
    pub fn new(header: &Header) -> Self {
        let window_ns = effective_window_ns(header.window_ns, header.duration_ns);
        Self {
            header: header.clone(),
            window_ns,
            last_t_ns: 0,
            end_t_ns: None,
            settled_window: 0,
            e2e: EndToEndAcc {
                requests: 0,
                ok: 0,
                errors: 0,
                unreachable: 0,
                timeouts: 0,
                limited: 0,
                unauthorized: 0,
                outstanding_at_end: 0,
                latency: Latency::new(),
                windows: WindowSeries::new(window_ns),
            },
            services: BTreeMap::new(),
            targets: BTreeMap::new(),
            pending_targets: BTreeMap::new(),
            inflight: BTreeMap::new(),
            faults: Vec::new(),
            faults_omitted: 0,
            changes: Vec::new(),
            changes_omitted: 0,
            anomalies: Anomalies::default(),
            data: History::for_shards(&header.shards),
            cache: CacheAcc::new(window_ns),
            breakers: BreakerAcc::default(),
            geo: GeoAcc::default(),
            autoscale: AutoscaleAcc::new(header.sample_ns),
            deploy: DeployAcc::default(),
            retry: RetryAcc::new(window_ns),
            sessions: SessionsAcc::new(window_ns),
            tenants: TenantsAcc::new(&header.shards.tenants, window_ns),
            regions: super::regions::RegionsAcc::new(header),
            dns: super::dns::DnsAcc::new(header),
            queue: QueueAcc::new(window_ns, header.sample_ns),
        }
    }

    /// Feeds one record.
    pub fn observe(&mut self, record: &Record) {
        let t_ns = if record.t_ns < self.last_t_ns {
            self.anomalies.out_of_order += 1;
            self.last_t_ns
        } else {
            record.t_ns
        };
        self.last_t_ns = t_ns;
        if t_ns / self.window_ns > self.settled_window {
            self.settle(t_ns);
        }
        // Requests are matched through the data history's map of outstanding requests.
        let matched = self.data.observe(t_ns, &record.event);
        match &record.event {
            Event::Invoke { req, service, key, client, user, .. } => {
                if matched == Matched::Invoked {
                    self.tenants.invoke(t_ns, *key);
                    self.retry.invoke(t_ns);
                    self.regions.invoke(*req, *client);
                    self.dns.invoke(t_ns, *user, *service);
                }
                self.on_invoke(t_ns, matched, *req, *service);
            }
            Event::Complete { req, outcome } => {
                if outcome.is_success() && matches!(matched, Matched::Completed { .. }) {
                    self.retry.success(t_ns);
                }
                self.on_complete(t_ns, matched, *req, outcome)
            }
            Event::Served { host, latency_ns, ok, op } => {
                self.queue.served(*host, *op, *ok);
                self.on_served(t_ns, *host, *latency_ns, *ok);
            }
            Event::Sample { host, gauge, mean, .. } if gauge == INFLIGHT_GAUGE => self.on_inflight(t_ns, *host, *mean),
            Event::Sample { host, gauge, last, .. } => {
                self.geo.sample(t_ns, *host, gauge, *last);
                if !self.sessions.sample(t_ns, *host, gauge, *last)
                    && !self.autoscale.sample(t_ns, gauge, *last)
                    && !self.deploy.sample(t_ns, gauge, *last)
                    && !self.queue.sample(t_ns, *host, gauge, *last)
                {
                    self.cache.sample(t_ns, *host, gauge, *last);
                }
            }
            Event::Message { .. } | Event::Observed { .. } => {}
            Event::Role { host, role, epoch, .. } => self.on_change(t_ns, *host, format!("role={role} epoch={epoch}")),
            Event::State { host, key, value } => {
                if self.geo.change(t_ns, *host, key, value) {
                    return;
                }
                self.dns.change(t_ns, key, value);
                self.breakers.change(t_ns, *host, key, value);
                self.autoscale.change(t_ns, *host, key, value);
                self.deploy.change(t_ns, key, value);
                self.on_change(t_ns, *host, format!("{key}={value}"));
            }
            Event::Power { host, up } => {
                self.geo.power(t_ns, *host, *up);
                self.on_change(t_ns, *host, if *up { "up" } else { "down" }.into());
            }
            Event::Fault(fault) => {
                self.geo.fault(t_ns);
                if self.faults.len() < MAX_FAULTS {
                    let description = fault.describe(&host_names(&self.header));
                    self.faults.push(FaultEntry { t_s: t_ns as f64 / NS_PER_S, description });
                } else {
                    self.faults_omitted += 1;
                }
            }
            Event::End => self.end_t_ns = Some(t_ns),
            Event::Retry { denied, .. } => self.retry.retry(t_ns, *denied),
        }
    }

    fn settle(&mut self, t_ns: u64) {
        self.settled_window = t_ns / self.window_ns;
        self.e2e.windows.settle(t_ns);
        for service in self.services.values_mut() {
            service.windows.settle(t_ns);
        }
    }

    fn on_invoke(&mut self, t_ns: u64, matched: Matched, req: u64, target: u16) {
        if matched != Matched::Invoked {
            self.anomalies.duplicate_invokes += 1;
            return;
        }
        self.e2e.requests += 1;
        self.pending_targets.insert(req, target);
        self.targets
            .entry(target)
            .or_insert_with(|| TargetAcc { requests: 0, ok: 0, limited: 0, latency: Latency::new() })
            .requests += 1;
        let index = self.e2e.windows.index(t_ns);
        self.e2e.windows.invoke(index);
    }

    fn on_complete(&mut self, t_ns: u64, matched: Matched, req: u64, outcome: &Outcome) {
        let Matched::Completed { invoked_ns, key } = matched else {
            self.anomalies.unmatched_completes += 1;
            return;
        };
        self.on_target_complete(req, t_ns - invoked_ns, outcome);
        self.regions.complete(req, t_ns - invoked_ns, outcome);
        self.tenants.complete(invoked_ns, key, t_ns - invoked_ns, outcome);
        let e2e = &mut self.e2e;
        let latency_ns = t_ns - invoked_ns;
        // What counts as a success is the outcome's to say (a CAS mismatch is one).
        let success = outcome.is_success();
        self.deploy.complete(invoked_ns, !success && !outcome.is_limited() && !outcome.is_unauthorized());
        match outcome {
            Outcome::Error(_) if outcome.is_limited() => e2e.limited += 1,
            Outcome::Error(_) if outcome.is_unauthorized() => e2e.unauthorized += 1,
            Outcome::Error(_) if !success => e2e.errors += 1,
            Outcome::Ok | Outcome::Error(_) => e2e.ok += 1,
            Outcome::Unreachable => e2e.unreachable += 1,
            Outcome::Timeout => e2e.timeouts += 1,
        }
        let answered = matches!(outcome, Outcome::Ok | Outcome::Error(_));
        let latency_ns = answered.then_some(latency_ns);
        if let Some(ns) = latency_ns {
            e2e.latency.record(ns);
        }
        let index = e2e.windows.index(invoked_ns);
        let counted = e2e.windows.complete(index, success, latency_ns, t_ns);
        assert!(counted, "every outstanding request was counted in its window");
    }

    /// Counts a completed request against the host it was sent to.
    fn on_target_complete(&mut self, req: u64, latency_ns: u64, outcome: &Outcome) {
        let target = self.pending_targets.remove(&req).and_then(|t| self.targets.get_mut(&t));
        let target = target.expect("an outstanding request has its target");
        match outcome {
            Outcome::Error(_) if outcome.is_limited() => target.limited += 1,
            Outcome::Ok | Outcome::Error(_) if outcome.is_success() => target.ok += 1,
            Outcome::Ok | Outcome::Error(_) | Outcome::Unreachable | Outcome::Timeout => {}
        }
        if matches!(outcome, Outcome::Ok | Outcome::Error(_)) {
            target.latency.record(latency_ns);
        }
    }

    fn on_served(&mut self, t_ns: u64, host: u16, latency_ns: u64, ok: bool) {
        let window_ns = self.window_ns;
        let service = self.services.entry(host).or_insert_with(|| ServiceAcc {
            requests: 0,
            ok: 0,
            latency: Latency::new(),
            windows: WindowSeries::new(window_ns),
        });
        service.requests += 1;
        service.ok += u64::from(ok);
        service.latency.record(latency_ns);
        let index = service.windows.index(t_ns);
        service.windows.served(index, ok, latency_ns);
    }

    fn on_inflight(&mut self, t_ns: u64, host: u16, mean: f64) {
        if !mean.is_finite() {
            self.anomalies.bad_samples += 1;
            return;
        }
        let gauge = self.inflight.entry(host).or_default();
        let interval_ns = t_ns - gauge.last_t_ns;
        gauge.weighted_sum += mean * interval_ns as f64;
        gauge.covered_ns += interval_ns;
        gauge.last_t_ns = t_ns;
    }

    fn on_change(&mut self, t_ns: u64, host: u16, what: String) {
        if self.changes.len() < MAX_CHANGES {
            let host = crate::trace::text::host_name(&self.header, host);
            self.changes.push(ChangeEntry { t_s: t_ns as f64 / NS_PER_S, host, what });
        } else {
            self.changes_omitted += 1;
        }
    }

    /// The report; `hash` and `records` come from the trace writer.
    pub fn finish(self, hash: TraceHash, records: u64) -> Report {
        super::assemble::report(self, hash, records)
    }
}

/// The window width to use: the header's, or [`DEFAULT_WINDOW_NS`] when it is zero, widened
/// so that a run holds at most [`MAX_WINDOWS`] windows.
fn effective_window_ns(window_ns: u64, duration_ns: u64) -> u64 {
    let window_ns = if window_ns == 0 { DEFAULT_WINDOW_NS } else { window_ns };
    window_ns.max(duration_ns.div_ceil(MAX_WINDOWS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{MS, S, Stream};

    /// Checks a measured latency against the exact one, within HDR's 3 significant digits.
    fn check(what: &str, got_ms: f64, expected_ms: f64) {
        let error = (got_ms - expected_ms).abs() / expected_ms;
        assert!(error <= 0.001, "{what}: got {got_ms} ms, expected {expected_ms} ms");
    }

    #[test]
    fn a_cas_mismatch_is_a_success_and_other_errors_are_not() {
        let mut stream = Stream::new(20, 1);
        stream.request(10 * MS, MS, Outcome::Error(crate::trace::CAS_MISMATCH));
        stream.request(20 * MS, MS, Outcome::Error(3));
        stream.request(30 * MS, MS, Outcome::Ok);
        let e2e = stream.analyze().end_to_end;
        assert_eq!((e2e.requests, e2e.ok, e2e.errors), (3, 2, 1));
        assert_eq!(e2e.availability, Some(2.0 / 3.0));
    }

    #[test]
    fn end_to_end_percentiles_of_known_latencies() {
        let mut stream = Stream::new(20, 1);
        for ms in 1..=1000 {
            stream.request(ms * 10 * MS, ms * MS, Outcome::Ok);
        }
        let e2e = stream.analyze().end_to_end;
        assert_eq!((e2e.requests, e2e.ok, e2e.timeouts), (1000, 1000, 0));
        check("p50", e2e.latency.p50_ms, 500.0);
        check("p95", e2e.latency.p95_ms, 950.0);
        check("p99", e2e.latency.p99_ms, 990.0);
        check("p99.9", e2e.latency.p999_ms, 999.0);
        assert_eq!(e2e.latency.max_ms, 1000.0);
        assert_eq!(e2e.latency.mean_ms, 500.5);
        assert_eq!(e2e.availability, Some(1.0));
        assert_eq!(e2e.throughput_rps, 50.0, "1000 ok over 20 s");
    }

    #[test]
    fn windows_with_zero_requests_appear() {
        let mut stream = Stream::new(5, 1);
        stream.request(100 * MS, 10 * MS, Outcome::Ok);
        stream.request(3 * S + 100 * MS, 20 * MS, Outcome::Ok);
        stream.request(3 * S + 200 * MS, 1_500 * MS, Outcome::Ok);
        let windows = stream.analyze().windows;
        let requests: Vec<u64> = windows.iter().map(|w| w.requests).collect();
        assert_eq!(requests, [1, 0, 0, 2, 0]);
        let starts: Vec<f64> = windows.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(windows[3].latency.max_ms, 1500.0, "latency lands in the window of the invoke");
        assert_eq!(windows[1].latency.count, 0);
    }

    #[test]
    fn per_service_stats_from_served() {
        let mut stream = Stream::new(4, 1);
        for i in 0..400 {
            stream.served(i * 10 * MS, 1, (1 + i % 4) * MS, i % 100 != 0);
        }
        stream.served(S, 2, 7 * MS, true);
        let report = stream.analyze();
        let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["app", "db"]);
        let app = &report.services[0];
        assert_eq!((app.requests, app.ok, app.errors), (400, 396, 4));
        assert_eq!(app.rps, 100.0);
        assert_eq!(app.latency.max_ms, 4.0);
        assert_eq!(app.latency.mean_ms, 2.5);
        assert_eq!(app.windows.len(), 4);
        assert!(app.windows.iter().all(|w| w.requests == 100 && w.failed == 1), "{:?}", app.windows);
    }

    #[test]
    fn end_to_end_per_target_host() {
        let mut stream = Stream::new(4, 1);
        let invoke =
            |req, service| Event::Invoke { req, user: 0, client: 0, service, op: crate::trace::Op::Read, key: 0 };
        for i in 0..100 {
            // Requests to host 1 take 2 ms, to host 2 take 40 ms; one in ten of host 2's fail.
            stream.push(i * 10 * MS, invoke(2 * i, 1));
            stream.push(i * 10 * MS + 2 * MS, Event::Complete { req: 2 * i, outcome: Outcome::Ok });
            stream.push(i * 10 * MS + 3 * MS, invoke(2 * i + 1, 2));
            let outcome = if i % 10 == 0 { Outcome::Timeout } else { Outcome::Ok };
            stream.push(i * 10 * MS + 43 * MS, Event::Complete { req: 2 * i + 1, outcome });
        }
        stream.push(3 * S, invoke(1_000, 2));
        let report = stream.analyze();
        let names: Vec<&str> = report.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["app", "db"]);
        let (near, far) = (&report.targets[0], &report.targets[1]);
        assert_eq!((near.requests, near.ok, near.availability), (100, 100, Some(1.0)));
        check("near p99", near.latency.p99_ms, 2.0);
        assert_eq!((far.requests, far.ok), (101, 90), "the outstanding request is one of its failures");
        assert_eq!(far.availability, Some(90.0 / 101.0));
        check("far p50", far.latency.p50_ms, 40.0);
        assert_eq!(far.latency.count, 90, "timeouts have no latency");
        let text = report.render_text();
        assert!(text.contains("End to end per target"), "{text}");
    }

    #[test]
    fn out_of_order_records_do_not_panic() {
        let header = Stream::new(1, 1).header;
        let mut analyzer = Analyzer::new(&header);
        analyzer.observe(&Record {
            t_ns: 500,
            event: Event::Invoke { req: 1, user: 0, client: 0, service: 1, op: crate::trace::Op::Read, key: 0 },
        });
        analyzer.observe(&Record { t_ns: 100, event: Event::Complete { req: 1, outcome: Outcome::Ok } });
        analyzer.observe(&Record {
            t_ns: 50,
            event: Event::Served { host: 1, op: crate::trace::Op::Read, latency_ns: 5, ok: true },
        });
        analyzer.observe(&Record { t_ns: 900, event: Event::End });
        let report = analyzer.finish(TraceHash(1), 4);
        assert_eq!(report.anomalies.out_of_order, 2);
        assert_eq!(report.end_to_end.latency.max_ms, 0.0, "taken as completing at t = 500 ns");
        assert_eq!(report.end_to_end.ok, 1);
    }

    #[test]
    fn window_width_defaults_and_widens() {
        assert_eq!(effective_window_ns(0, 10 * S), DEFAULT_WINDOW_NS);
        assert_eq!(effective_window_ns(MS, 10 * S), MS);
        assert_eq!(effective_window_ns(1, 1_000 * S), 1_000 * S / MAX_WINDOWS);
    }
}
