//! From the [`Analyzer`]'s counters to the [`Report`]: resolves requests still outstanding at
//! the end (timeouts), picks the statistics each objective is judged on, and lays out the
//! report's parts.
//!
//! Owns: the end of a run. Must not: decide verdicts (that is `checks`, and `crate::check` for
//! the data tier: its verdicts join the SLO checks before the trace's own sanity check).

use super::analyzer::{Analyzer, EndToEndAcc, MAX_WINDOWS};
use super::checks::{self, ViewStats};
use super::sessions::SessionsReport;
use super::{EndToEnd, Evidence, Report, ServiceReport, TargetReport, Verdict, WindowStats};
use crate::check;
use crate::slo::{Slo, SloKind};
use crate::trace::codec::TraceHash;
use crate::trace::text::{host_name, host_names};

const NS_PER_S: f64 = 1e9;

/// The report of everything `analyzer` has seen.
pub(super) fn report(mut analyzer: Analyzer, hash: TraceHash, records: u64) -> Report {
    analyzer.anomalies.missing_end = analyzer.end_t_ns.is_none();
    let run_ns = analyzer.end_t_ns.unwrap_or(analyzer.header.duration_ns.max(analyzer.last_t_ns));
    // In time order, not the map's: nothing here may depend on a hash.
    let mut outstanding: Vec<u64> = analyzer.data.outstanding_invokes().collect();
    outstanding.sort_unstable();
    for invoked_ns in outstanding {
        analyzer.e2e.timeouts += 1;
        analyzer.e2e.outstanding_at_end += 1;
        let index = analyzer.e2e.windows.index(invoked_ns);
        analyzer.e2e.windows.complete(index, false, None, run_ns);
    }
    // The workload issues requests during the scenario's duration; the run goes on only to
    // collect late replies. End-to-end rates and windows cover the duration.
    let issue_ns = if analyzer.header.duration_ns > 0 { analyzer.header.duration_ns } else { run_ns };
    let run_s = issue_ns as f64 / NS_PER_S;
    let end_to_end = end_to_end(&analyzer.e2e, run_s);
    let sessions = analyzer.sessions.finish(issue_ns, MAX_WINDOWS);
    let mut checks_out = Vec::new();
    let (geo, agreement) =
        match std::mem::take(&mut analyzer.geo).finish(&analyzer.data, &host_names(&analyzer.header), run_ns) {
            Some((geo, checks)) => (Some(geo), checks),
            None => (None, Vec::new()),
        };
    for slo in &analyzer.header.slos {
        checks_out.push(checks::slo_check(slo, &view(&analyzer, slo), sessions.as_ref(), geo.as_ref()));
    }
    // After the objectives: their evidence is matched to them by place below.
    checks_out.extend(agreement);
    let slo_checks = checks_out.len();
    // Little's law compares served requests with the inflight gauge over the whole run.
    let little = checks::little(&analyzer.services, &analyzer.inflight, run_ns as f64 / NS_PER_S, &analyzer.header);
    checks_out.extend(little.iter().map(checks::little_check));
    let error_budgets =
        analyzer.header.slos.iter().filter_map(|slo| checks::error_budget(slo, &view(&analyzer, slo))).collect();
    analyzer.data.finish(run_ns);
    let data = check::evaluate(&analyzer.data, &analyzer.header.checks, &host_names(&analyzer.header));
    if let Some(data) = &data {
        checks_out.extend(check::judge(data, &analyzer.header.checks));
    }
    let queue = analyzer.queue.finish(issue_ns, MAX_WINDOWS).map(|(queue, check)| {
        checks_out.push(check);
        queue
    });
    if !analyzer.anomalies.is_empty() {
        checks_out.push(checks::anomalies_check(&analyzer.anomalies));
    }
    let services = service_reports(&mut analyzer, run_ns);
    let targets = target_reports(&mut analyzer);
    // Cache hosts work until the end of the run; their windows are the end-to-end ones.
    let cache = analyzer.cache.finish(&host_names(&analyzer.header), run_ns as f64 / NS_PER_S, issue_ns, MAX_WINDOWS);
    let windows = analyzer.e2e.windows.finish(issue_ns, MAX_WINDOWS);
    let breakers = std::mem::take(&mut analyzer.breakers).finish(run_ns, &host_names(&analyzer.header));
    let retry = analyzer.retry.finish(end_to_end.requests, &windows);
    let tenants = analyzer.tenants.finish();
    let regions = std::mem::take(&mut analyzer.regions).finish();
    let dns = std::mem::take(&mut analyzer.dns).finish();
    let autoscale = std::mem::take(&mut analyzer.autoscale).finish(&windows, &analyzer.header.slos);
    let deploy = std::mem::take(&mut analyzer.deploy).finish().map(|(deploy, check)| {
        checks_out.push(check);
        deploy
    });
    for (check, slo) in checks_out[..slo_checks].iter_mut().zip(&analyzer.header.slos) {
        if check.verdict == Verdict::Fail {
            check.evidence = slo_evidence(slo, &windows, &services, sessions.as_ref());
        }
    }
    Report {
        scenario: analyzer.header.scenario.clone(),
        seed: analyzer.header.seed,
        duration_s: run_s,
        window_s: analyzer.window_ns as f64 / NS_PER_S,
        trace_hash: hash.to_string(),
        records,
        hosts: host_names(&analyzer.header),
        end_to_end,
        windows,
        targets,
        services,
        little,
        error_budgets,
        faults: analyzer.faults,
        faults_omitted: analyzer.faults_omitted,
        changes: analyzer.changes,
        changes_omitted: analyzer.changes_omitted,
        anomalies: analyzer.anomalies,
        data,
        cache,
        breakers,
        retry,
        sessions,
        tenants,
        regions,
        dns,
        autoscale,
        deploy,
        queue,
        geo,
        swarm: None,
        checks: checks_out,
    }
}

fn end_to_end(e2e: &EndToEndAcc, run_s: f64) -> EndToEnd {
    let per_s = |n: u64| if run_s > 0.0 { n as f64 / run_s } else { 0.0 };
    EndToEnd {
        requests: e2e.requests,
        ok: e2e.ok,
        errors: e2e.errors,
        unreachable: e2e.unreachable,
        timeouts: e2e.timeouts,
        limited: e2e.limited,
        unauthorized: e2e.unauthorized,
        outstanding_at_end: e2e.outstanding_at_end,
        availability: (e2e.requests > e2e.excluded()).then(|| e2e.ok as f64 / (e2e.requests - e2e.excluded()) as f64),
        throughput_rps: per_s(e2e.ok),
        offered_rps: per_s(e2e.requests),
        latency: e2e.latency.summary(),
    }
}

/// The statistics an objective is judged on, or why there are none.
fn view<'a>(analyzer: &'a Analyzer, slo: &'a Slo) -> Result<ViewStats<'a>, String> {
    let Some(name) = &slo.service else {
        let e2e = &analyzer.e2e;
        // Requests a rate limiter refused, and those of lost sessions, are out of the measure
        // (see `Outcome::is_limited` and `Outcome::is_unauthorized`).
        let total = e2e.requests - e2e.excluded();
        return Ok(ViewStats { scope: None, latency: &e2e.latency, ok: e2e.ok, total });
    };
    let Some(host) = analyzer.header.hosts.iter().position(|h| &h.name == name) else {
        let names = host_names(&analyzer.header);
        let shown = names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
        let more = if names.len() > 10 { ", ..." } else { "" };
        return Err(format!("no host named '{name}' in this run (hosts: {shown}{more})"));
    };
    match u16::try_from(host).ok().and_then(|h| analyzer.services.get(&h)) {
        Some(s) => Ok(ViewStats { scope: Some(name), latency: &s.latency, ok: s.ok, total: s.requests }),
        None => Err(format!("host '{name}' served no requests in this run; nothing to measure")),
    }
}

/// The evidence of a failed objective: its first window over the bound (end to end, or its
/// service's).
fn slo_evidence(
    slo: &Slo,
    windows: &[WindowStats],
    services: &[ServiceReport],
    sessions: Option<&SessionsReport>,
) -> Evidence {
    match slo.kind {
        SloKind::SessionsLost { .. } => return checks::sessions_evidence(sessions),
        SloKind::Converged { .. } => return Evidence::default(),
        SloKind::Latency { .. } | SloKind::Availability { .. } => {}
    }
    match &slo.service {
        None => checks::slo_evidence(slo, windows, None),
        Some(name) => match services.iter().find(|s| &s.name == name) {
            Some(service) => checks::slo_evidence(slo, &service.windows, Some(service.host)),
            None => Evidence::default(),
        },
    }
}

/// End to end per target; requests still outstanding count as failed.
fn target_reports(analyzer: &mut Analyzer) -> Vec<TargetReport> {
    let targets = std::mem::take(&mut analyzer.targets);
    targets
        .into_iter()
        .map(|(host, t)| TargetReport {
            name: host_name(&analyzer.header, host),
            host,
            requests: t.requests,
            ok: t.ok,
            availability: (t.requests > t.limited).then(|| t.ok as f64 / (t.requests - t.limited) as f64),
            latency: t.latency.summary(),
        })
        .collect()
}

fn service_reports(analyzer: &mut Analyzer, run_ns: u64) -> Vec<ServiceReport> {
    let run_s = run_ns as f64 / NS_PER_S;
    let services = std::mem::take(&mut analyzer.services);
    services
        .into_iter()
        .map(|(host, s)| ServiceReport {
            name: host_name(&analyzer.header, host),
            host,
            service: analyzer.header.hosts.get(host as usize).map(|h| h.service.clone()).unwrap_or_default(),
            requests: s.requests,
            ok: s.ok,
            errors: s.requests - s.ok,
            rps: if run_s > 0.0 { s.requests as f64 / run_s } else { 0.0 },
            latency: s.latency.summary(),
            windows: s.windows.finish(run_ns, MAX_WINDOWS),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::report::testkit::{MS, S, Stream};
    use crate::trace::{Event, Outcome};

    #[test]
    fn outstanding_requests_count_as_timeouts() {
        let mut stream = Stream::new(10, 1);
        stream.request(0, MS, Outcome::Ok);
        stream.request(MS, MS, Outcome::Unreachable);
        stream.request(2 * MS, MS, Outcome::Error(5));
        stream.request(3 * MS, 9 * S, Outcome::Timeout);
        stream.invoke(9 * S);
        let report = stream.analyze();
        let e2e = &report.end_to_end;
        assert_eq!((e2e.requests, e2e.ok, e2e.errors, e2e.unreachable), (5, 1, 1, 1));
        assert_eq!((e2e.timeouts, e2e.outstanding_at_end), (2, 1));
        assert_eq!(e2e.availability, Some(0.2));
        assert_eq!(e2e.latency.count, 2, "ok and error answered; the rest have no latency");
        assert_eq!(report.windows[9].failed, 1, "the outstanding request fails in its window");
        assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    }

    #[test]
    fn broken_traces_fail_the_well_formed_check() {
        let mut stream = Stream::new(1, 1);
        stream.push(10, Event::Complete { req: 99, outcome: Outcome::Ok });
        stream.without_end();
        let report = stream.analyze();
        assert_eq!(report.anomalies.unmatched_completes, 1);
        assert!(report.anomalies.missing_end);
        let check = report.checks.iter().find(|c| c.name == "trace well-formed").expect("present");
        assert_eq!(check.verdict, crate::report::Verdict::Fail);
        assert!(check.detail.contains("1 complete(s) without an outstanding invoke"), "{}", check.detail);
        assert!(!report.passed());
    }
}
