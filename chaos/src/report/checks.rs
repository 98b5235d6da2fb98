//! Verdicts: SLO checks, error budgets, Little's law cross-checks and the trace's own sanity.
//!
//! Owns: what passes and what fails, the words that say why, and the evidence of a broken
//! objective (the first window whose measure crosses its bound). Must not: pass a check it
//! cannot measure (an objective with no data, or a host that served nothing, is Unknown and
//! says so).
//!
//! Little's law: for a host, λ = requests served per simulated second over the run, W = mean
//! served latency, so the mean number in service should be L = λW. The measured L is the
//! time-weighted mean of the host's `inflight` gauge: each sample's `mean` weighted by the
//! time since that host's previous sample (or since t = 0). The check passes when
//! |measured - predicted| <= max(10% of predicted, 0.05).

use super::analyzer::{GaugeAcc, ServiceAcc};
use super::geo::{GeoReport, converged_verdict};
use super::metrics::Latency;
use super::sessions::SessionsReport;
use super::{Anomalies, Check, ErrorBudget, Evidence, LatencySummary, LittleLaw, Verdict, WindowStats};
use crate::slo::{Slo, SloKind};
use crate::trace::Header;
use crate::trace::text::host_name;
use std::collections::BTreeMap;

/// Little's law tolerance relative to the predicted L.
pub(crate) const LITTLE_RELATIVE_TOLERANCE: f64 = 0.1;
/// Little's law absolute tolerance floor (for nearly idle hosts).
pub(crate) const LITTLE_ABSOLUTE_TOLERANCE: f64 = 0.05;

/// The statistics an objective is judged on.
pub(super) struct ViewStats<'a> {
    /// The host's name; `None` for end to end.
    pub(super) scope: Option<&'a str>,
    pub(super) latency: &'a Latency<u64>,
    pub(super) ok: u64,
    pub(super) total: u64,
}

impl ViewStats<'_> {
    fn availability(&self) -> Option<f64> {
        (self.total > 0).then(|| self.ok as f64 / self.total as f64)
    }

    fn prefix(&self) -> String {
        self.scope.map(|s| format!("{s} ")).unwrap_or_default()
    }
}

/// The check for one objective.
pub(super) fn slo_check(
    slo: &Slo,
    view: &Result<ViewStats<'_>, String>,
    sessions: Option<&SessionsReport>,
    geo: Option<&GeoReport>,
) -> Check {
    let verdict = match (&slo.kind, view) {
        (SloKind::SessionsLost { max }, _) => sessions_verdict(sessions, *max),
        (SloKind::Converged { within_ns }, _) => {
            let (verdict, detail) = converged_verdict(geo, *within_ns);
            return Check::new(slo.name.clone(), verdict, detail).as_objective();
        }
        (_, Err(why)) => Err(why.clone()),
        (SloKind::Latency { quantile, max_ns }, Ok(view)) => latency_verdict(view, *quantile, *max_ns),
        (SloKind::Availability { min_ratio }, Ok(view)) => availability_verdict(view, *min_ratio),
    };
    let check = match verdict {
        Ok((pass, detail)) => Check::new(slo.name.clone(), Verdict::of(pass), detail),
        Err(detail) => Check::new(slo.name.clone(), Verdict::Unknown, detail),
    };
    check.as_objective()
}

/// The evidence of an objective that did not hold: the start of the first of `windows` whose
/// measure crosses its bound, and `host` (the objective's service, if it has one).
pub(super) fn slo_evidence(slo: &Slo, windows: &[WindowStats], host: Option<u16>) -> Evidence {
    let first = windows.iter().find(|w| crosses(&slo.kind, w));
    Evidence::at(first.map(|w| (w.start_s * 1e9).round() as u64)).with_hosts(host)
}

/// Whether window `w`'s measure crosses an objective of `kind`: its latency at the summary's
/// percentile nearest the quantile (at or below it) above the bound, or its availability below
/// the target.
pub fn crosses(kind: &SloKind, w: &WindowStats) -> bool {
    match kind {
        SloKind::Latency { quantile, max_ns } => {
            w.latency.count > 0 && nearest_percentile_ms(&w.latency, *quantile) > *max_ns as f64 / 1e6
        }
        SloKind::Availability { min_ratio } => w.requests > 0 && (w.ok as f64 / w.requests as f64) < *min_ratio,
        // Judged on the sessions section's windows (`sessions_evidence`), or on the
        // active-active section, not these.
        SloKind::SessionsLost { .. } | SloKind::Converged { .. } => false,
    }
}

/// The sessions lost against `max`; unknown when the users kept no sessions.
fn sessions_verdict(sessions: Option<&SessionsReport>, max: u64) -> Result<(bool, String), String> {
    let Some(sessions) = sessions else {
        return Err("sessions lost: the users kept no sessions in this run (workload `login = true`)".into());
    };
    let pass = sessions.lost <= max;
    let op = if pass { "<=" } else { ">" };
    Ok((pass, format!("sessions lost = {} {op} {max} (of {} created)", sessions.lost, sessions.created)))
}

/// The evidence of a `max_sessions_lost` objective that did not hold: the first window in
/// which a session was lost.
pub(super) fn sessions_evidence(sessions: Option<&SessionsReport>) -> Evidence {
    let first = sessions.and_then(|s| s.windows.iter().find(|w| w.lost > 0));
    Evidence::at(first.map(|w| (w.start_s * 1e9).round() as u64))
}

/// The summary's latency at the percentile nearest `quantile` at or below it (p50 below 0.95), ms.
fn nearest_percentile_ms(latency: &LatencySummary, quantile: f64) -> f64 {
    if quantile >= 0.999 {
        latency.p999_ms
    } else if quantile >= 0.99 {
        latency.p99_ms
    } else if quantile >= 0.95 {
        latency.p95_ms
    } else {
        latency.p50_ms
    }
}

fn latency_verdict(view: &ViewStats<'_>, quantile: f64, max_ns: u64) -> Result<(bool, String), String> {
    if !(quantile > 0.0 && quantile <= 1.0) {
        return Err(format!("quantile {quantile} is outside (0, 1]"));
    }
    let label = quantile_label(quantile);
    let Some(value_ns) = view.latency.quantile_ns(quantile) else {
        return Err(format!("{}{label}: no answered requests to measure", view.prefix()));
    };
    let pass = value_ns <= max_ns;
    let (value, bound) = distinct(value_ns as f64 / 1e6, max_ns as f64 / 1e6, 1);
    let op = if pass { "<=" } else { ">" };
    Ok((pass, format!("{}{label} = {value} ms {op} {bound} ms", view.prefix())))
}

fn availability_verdict(view: &ViewStats<'_>, min_ratio: f64) -> Result<(bool, String), String> {
    if !(min_ratio > 0.0 && min_ratio <= 1.0) {
        return Err(format!("target ratio {min_ratio} is outside (0, 1]"));
    }
    let Some(availability) = view.availability() else {
        return Err(format!("{}availability: no requests to measure", view.prefix()));
    };
    let pass = availability >= min_ratio;
    let (value, bound) = distinct(availability * 100.0, min_ratio * 100.0, 2);
    let op = if pass { ">=" } else { "<" };
    let counts = format!("{} of {} ok", view.ok, view.total);
    Ok((pass, format!("{}availability = {value}% {op} {bound}% ({counts})", view.prefix())))
}

/// The error budget of an availability objective; `None` for other objectives.
pub(super) fn error_budget(slo: &Slo, view: &Result<ViewStats<'_>, String>) -> Option<ErrorBudget> {
    let SloKind::Availability { min_ratio } = slo.kind else {
        return None;
    };
    let availability = view.as_ref().ok().and_then(ViewStats::availability);
    let budget = 1.0 - min_ratio;
    let burned = availability.and_then(|a| {
        let failed = 1.0 - a;
        if budget > 0.0 { Some(failed / budget) } else { (failed <= 0.0).then_some(0.0) }
    });
    Some(ErrorBudget {
        slo: slo.name.clone(),
        service: slo.service.clone(),
        target: min_ratio,
        availability,
        budget,
        burned,
    })
}

/// Little's law for every host that has both served requests and an `inflight` gauge.
pub(super) fn little(
    services: &BTreeMap<u16, ServiceAcc>,
    inflight: &BTreeMap<u16, GaugeAcc>,
    run_s: f64,
    header: &Header,
) -> Vec<LittleLaw> {
    let mut out = Vec::new();
    for (host, service) in services {
        let Some(gauge) = inflight.get(host).filter(|g| g.covered_ns > 0) else {
            continue;
        };
        if run_s <= 0.0 {
            continue;
        }
        let lambda_rps = service.requests as f64 / run_s;
        let w_s = service.latency.mean_ns() / 1e9;
        let predicted_l = lambda_rps * w_s;
        let measured_l = gauge.weighted_sum / gauge.covered_ns as f64;
        let tolerance = (LITTLE_RELATIVE_TOLERANCE * predicted_l).max(LITTLE_ABSOLUTE_TOLERANCE);
        out.push(LittleLaw {
            service: host_name(header, *host),
            host: *host,
            lambda_rps,
            w_ms: w_s * 1e3,
            predicted_l,
            measured_l,
            error_pct: (predicted_l > 0.0).then(|| (measured_l - predicted_l) / predicted_l * 100.0),
            tolerance,
            pass: (measured_l - predicted_l).abs() <= tolerance,
        });
    }
    out
}

/// The check for one Little's law cross-check.
pub(super) fn little_check(little: &LittleLaw) -> Check {
    let error = little.error_pct.map(|e| format!("error {e:+.1}%, ")).unwrap_or_default();
    let op = if little.pass { "within" } else { "outside" };
    let detail = format!(
        "measured L = {:.3}, λW = {:.3} ({error}{op} ±{:.3})",
        little.measured_l, little.predicted_l, little.tolerance
    );
    Check::new(format!("little's law: {}", little.service), Verdict::of(little.pass), detail)
        .with(Evidence::default().with_hosts([little.host]))
}

/// The failing check that says what is wrong with the trace itself.
pub(super) fn anomalies_check(anomalies: &Anomalies) -> Check {
    let mut what = Vec::new();
    let mut count = |n: u64, label: &str| {
        if n > 0 {
            what.push(format!("{n} {label}"));
        }
    };
    count(anomalies.unmatched_completes, "complete(s) without an outstanding invoke");
    count(anomalies.duplicate_invokes, "invoke(s) reusing an outstanding request id");
    count(anomalies.out_of_order, "record(s) out of time order");
    count(anomalies.bad_samples, "inflight sample(s) with a non-finite mean");
    if anomalies.missing_end {
        what.push("no End record (the trace is incomplete)".into());
    }
    Check::new("trace well-formed", Verdict::of(what.is_empty()), what.join("; "))
}

/// `0.99` -> `p99`, `0.999` -> `p99.9`, `0.5` -> `p50`.
pub(super) fn quantile_label(quantile: f64) -> String {
    let text = format!("{:.4}", quantile * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

/// `a` and `b` with at least `decimals` decimals, and more (up to 6) until they read
/// differently when they differ, so a verdict never shows "99.90% < 99.90%".
pub(super) fn distinct(a: f64, b: f64, decimals: usize) -> (String, String) {
    let mut d = decimals;
    loop {
        let (x, y) = (format!("{a:.d$}"), format!("{b:.d$}"));
        if x != y || a == b || d >= 6 {
            return (x, y);
        }
        d += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{MS, S, Stream};
    use crate::slo::Slo;
    use crate::trace::Outcome;

    fn slo(name: &str, service: Option<&str>, kind: SloKind) -> Slo {
        Slo { name: name.into(), service: service.map(String::from), kind }
    }

    const PASS: Verdict = Verdict::Pass;
    const FAIL: Verdict = Verdict::Fail;
    const UNKNOWN: Verdict = Verdict::Unknown;

    /// Runs `stream`, checks the verdict and detail of the check named `name`, and returns it.
    fn check(stream: Stream, name: &str, verdict: Verdict, detail: &str) -> Check {
        let report = stream.analyze();
        let found = report.checks.iter().find(|c| c.name == name).expect("check present");
        assert_eq!(found.verdict, verdict, "{found:?}");
        assert!(found.detail.contains(detail), "{:?} does not contain {detail:?}", found.detail);
        found.clone()
    }

    /// 10,000 requests of 5 ms of which `failed` time out.
    fn availability_stream(failed: u64, target: f64) -> Stream {
        let mut stream = Stream::new(100, 1);
        stream.slo(slo("avail", None, SloKind::Availability { min_ratio: target }));
        for i in 0..10_000 {
            let outcome = if i < failed { Outcome::Timeout } else { Outcome::Ok };
            stream.request(i * 10 * MS, 5 * MS, outcome);
        }
        stream
    }

    #[test]
    fn availability_fails_at_98_percent() {
        check(availability_stream(200, 0.999), "avail", FAIL, "availability = 98.00% < 99.90% (9800 of 10000 ok)");
    }

    #[test]
    fn availability_passes_at_99_95_percent() {
        check(availability_stream(5, 0.999), "avail", PASS, "availability = 99.95% >= 99.90%");
    }

    #[test]
    fn rate_limited_requests_are_out_of_availability_and_counted_apart() {
        let mut stream = availability_stream(5, 0.999);
        for i in 0..5_000 {
            stream.request(i * 10 * MS + 5 * MS, MS, Outcome::Error(crate::trace::RATE_LIMITED));
        }
        let report = stream.analyze();
        let found = report.checks.iter().find(|c| c.name == "avail").expect("check present");
        assert_eq!(found.verdict, PASS, "{found:?}");
        assert!(found.detail.contains("availability = 99.95% >= 99.90% (9995 of 10000 ok)"), "{found:?}");
        let e2e = &report.end_to_end;
        assert_eq!((e2e.requests, e2e.ok, e2e.errors, e2e.limited), (15_000, 9_995, 0, 5_000));
        assert_eq!(e2e.availability, Some(0.9995));
        assert!((report.error_budgets[0].burned.unwrap() - 0.5).abs() < 1e-9, "429s burn no budget");
        let text = report.render_text();
        assert!(text.contains("rate limited"), "{text}");
        let without = availability_stream(5, 0.999).analyze();
        assert!(!without.render_text().contains("rate limited"), "shown only when there are some");
        assert_eq!(without.end_to_end.limited, 0);
    }

    #[test]
    fn error_budget_burn() {
        let burned = |failed| availability_stream(failed, 0.999).analyze().error_budgets[0].burned.unwrap();
        assert!((burned(200) - 20.0).abs() < 1e-9, "2% failed of a 0.1% budget");
        assert!((burned(5) - 0.5).abs() < 1e-9, "0.05% failed of a 0.1% budget");
        let strict = availability_stream(1, 1.0).analyze();
        assert_eq!(strict.error_budgets[0].burned, None, "a 100% target with a failure");
    }

    #[test]
    fn latency_slo_fails_and_passes() {
        let stream = |max_ms: u64| {
            let mut stream = Stream::new(20, 1);
            stream.slo(slo("p99", None, SloKind::Latency { quantile: 0.99, max_ns: max_ms * MS }));
            for ms in 1..=1000 {
                stream.request(ms * 10 * MS, ms * MS, Outcome::Ok);
            }
            stream
        };
        check(stream(50), "p99", FAIL, "p99 = 990.");
        let failed = check(stream(50), "p99", FAIL, "ms > 50.0 ms");
        // Latencies grow 1 ms per request, one request every 10 ms: the first 1 s window has
        // latencies 1..=100 ms, so its p99 is already over 50 ms.
        assert_eq!(failed.evidence.t_ns, Some(0), "{failed:?}");
        assert!(failed.evidence.hosts.is_empty(), "an end-to-end objective names no host");
        let passed = check(stream(2000), "p99", PASS, "ms <= 2000.0 ms");
        assert!(passed.evidence.is_empty(), "{passed:?}");
    }

    #[test]
    fn a_failed_objective_points_at_its_first_window_over_the_bound() {
        // 200 of 10,000 requests time out: those issued in the first 2 s (windows 0 and 1).
        let found = check(availability_stream(200, 0.999), "avail", FAIL, "");
        assert_eq!(found.evidence.t_ns, Some(0));
        let mut late = Stream::new(100, 1);
        late.slo(slo("avail", None, SloKind::Availability { min_ratio: 0.999 }));
        for i in 0..10_000 {
            let outcome = if (4_200..4_250).contains(&i) { Outcome::Timeout } else { Outcome::Ok };
            late.request(i * 10 * MS, 5 * MS, outcome);
        }
        let found = check(late, "avail", FAIL, "availability = 99.50% < 99.90%");
        assert_eq!(found.evidence.t_ns, Some(42 * S), "the timeouts were issued from 42 s on");
        let mut per_service = Stream::new(10, 1);
        per_service.slo(slo("app p50", Some("app"), SloKind::Latency { quantile: 0.5, max_ns: 3 * MS }));
        for i in 0..100 {
            let latency = if i >= 70 { 5 * MS } else { 2 * MS };
            per_service.served(i * 100 * MS, 1, latency, true);
        }
        let found = check(per_service, "app p50", PASS, "app p50 = 2.0 ms");
        assert!(found.evidence.is_empty());
        let mut slow = Stream::new(10, 1);
        slow.slo(slo("app p50", Some("app"), SloKind::Latency { quantile: 0.5, max_ns: 3 * MS }));
        for i in 0..100 {
            let latency = if i >= 40 { 5 * MS } else { 2 * MS };
            slow.served(i * 100 * MS, 1, latency, true);
        }
        let found = check(slow, "app p50", FAIL, "app p50 = 5.0 ms");
        assert_eq!(found.evidence.t_ns, Some(4 * S), "served requests from 4 s on are slow");
        assert_eq!(found.evidence.hosts, [1], "the app");
    }

    #[test]
    fn slo_without_data_is_unknown_and_says_why() {
        let mut stream = Stream::new(10, 1);
        stream.slo(slo("ghost", Some("nope"), SloKind::Availability { min_ratio: 0.9 }));
        stream.slo(slo("idle", Some("db"), SloKind::Latency { quantile: 0.5, max_ns: MS }));
        stream.slo(slo("e2e", None, SloKind::Latency { quantile: 0.5, max_ns: MS }));
        check(stream.clone(), "ghost", UNKNOWN, "no host named 'nope' in this run (hosts: lg0, app, db)");
        check(stream.clone(), "idle", UNKNOWN, "host 'db' served no requests");
        let found = check(stream, "e2e", UNKNOWN, "p50: no answered requests to measure");
        assert!(found.evidence.is_empty());
    }

    #[test]
    fn service_slo_uses_served_records() {
        let mut stream = Stream::new(10, 1);
        stream.slo(slo("app p50", Some("app"), SloKind::Latency { quantile: 0.5, max_ns: 3 * MS }));
        for i in 0..100 {
            stream.served(i * MS, 1, 2 * MS, true);
        }
        check(stream, "app p50", PASS, "app p50 = 2.0 ms <= 3.0 ms");
    }

    /// A single-server FIFO queue with fixed service time and pseudo-random arrivals (M/D/1
    /// like); `inflight` samples every 100 ms carry the exact time-weighted number in service,
    /// times `scale`.
    fn queue_stream(scale: f64) -> Stream {
        let mut stream = Stream::new(60, 1);
        let (service_ns, mut state) = (8 * MS, 0x2545_f491_4f6c_dd1du64);
        let (mut t_ns, mut free_ns) = (0u64, 0u64);
        let mut spans = Vec::new();
        while t_ns < 55_000 * MS {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            t_ns += (-(1.0 - u).ln() * 20.0 * MS as f64) as u64 + 1;
            let start_ns = t_ns.max(free_ns);
            free_ns = start_ns + service_ns;
            stream.served(free_ns, 1, free_ns - t_ns, true);
            spans.push((t_ns, free_ns));
        }
        let step_ns = 100 * MS;
        for k in 1..=600u64 {
            let (from, to) = ((k - 1) * step_ns, k * step_ns);
            let busy: u64 = spans.iter().map(|&(a, b)| b.min(to).saturating_sub(a.max(from))).sum();
            stream.sample(to, 1, busy as f64 / step_ns as f64 * scale);
        }
        stream
    }

    #[test]
    fn littles_law_holds_on_a_consistent_queue() {
        let report = queue_stream(1.0).analyze();
        let little = &report.little[0];
        assert_eq!(little.service, "app");
        assert!(little.predicted_l > 0.3, "a loaded queue: {little:?}");
        assert!(little.error_pct.unwrap().abs() < 1.0, "{little:?}");
        assert!(little.pass);
        let found = check(queue_stream(1.0), "little's law: app", PASS, "within");
        assert_eq!(found.evidence.hosts, [1], "the app");
    }

    #[test]
    fn littles_law_fails_when_the_gauge_is_inconsistent() {
        check(queue_stream(2.0), "little's law: app", FAIL, "outside");
        let little = &queue_stream(2.0).analyze().little[0];
        assert!((little.error_pct.unwrap() - 100.0).abs() < 2.0, "{little:?}");
    }

    #[test]
    fn littles_law_needs_both_served_and_inflight() {
        let mut stream = Stream::new(10, 1);
        stream.served(MS, 1, MS, true);
        stream.sample(MS, 2, 1.0);
        let report = stream.analyze();
        assert!(report.little.is_empty());
        assert!(report.checks.iter().all(|c| !c.name.starts_with("little")));
    }

    #[test]
    fn labels_and_distinct_precision() {
        assert_eq!(quantile_label(0.99), "p99");
        assert_eq!(quantile_label(0.999), "p99.9");
        assert_eq!(quantile_label(0.5), "p50");
        assert_eq!(distinct(99.899, 99.9, 2), ("99.899".to_string(), "99.900".to_string()));
        assert_eq!(distinct(12.34, 50.0, 1), ("12.3".to_string(), "50.0".to_string()));
    }
}
