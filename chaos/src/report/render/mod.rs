//! The terminal form of a [`Report`]: sections of aligned tables, a unit on every figure (in the
//! column header or after the value), the evidence of every check that did not pass, and a
//! final verdict line.
//!
//! The sections of the optional parts (cache tier, circuit breakers, sessions) are in `tiers`.
//!
//! Owns: layout and number formatting. Must not: compute anything the JSON report lacks (a
//! reader of either sees the same figures).

mod tiers;

use super::sessions::SessionsReport;
use super::{CacheReport, DataReport, LatencySummary, Report, RetryReport, Verdict, WindowStats};
use crate::check::{ms_text, rto_label, rto_text, s_text};
use crate::trace::text::seconds_text;
use tiers::{autoscale, breakers, cache, cache_window, deploy, dns, geo, queue, regions, sessions, tenants};

/// The most window rows shown; longer series show every k-th window.
pub(crate) const MAX_WINDOW_ROWS: usize = 30;

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// A table whose columns are as wide as their widest cell.
struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named in `spec`; a name starting with `<` is left-aligned (the `<` is dropped).
    fn new(spec: &[&str]) -> Self {
        let columns = spec
            .iter()
            .map(|c| match c.strip_prefix('<') {
                Some(name) => (name.to_string(), Align::Left),
                None => (c.to_string(), Align::Right),
            })
            .collect();
        Self { columns, rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.columns.len(), "a row has one cell per column");
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|r| r[i].chars().count());
            cells.chain([self.columns[i].0.chars().count()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let headers: Vec<String> = self.columns.iter().map(|c| c.0.clone()).collect();
        for cells in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::from(" ");
            for (i, cell) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                match self.columns[i].1 {
                    Align::Left => line.push_str(&format!(" {cell}{pad}")),
                    Align::Right => line.push_str(&format!(" {pad}{cell}")),
                }
                line.push(' ');
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// The whole report as text.
pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    header(report, &mut out);
    end_to_end(report, &mut out);
    targets(report, &mut out);
    regions(report, &mut out);
    dns(report, &mut out);
    tenants(report, &mut out);
    services(report, &mut out);
    cache(report, &mut out);
    breakers(report, &mut out);
    sessions(report, &mut out);
    autoscale(report, &mut out);
    deploy(report, &mut out);
    queue(report, &mut out);
    geo(report, &mut out);
    windows(&report.windows, report.cache.as_ref(), report.retry.as_ref(), report.sessions.as_ref(), &mut out);
    swarm(report, &mut out);
    faults(report, &mut out);
    changes(report, &mut out);
    data(report, &mut out);
    checks(report, &mut out);
    error_budgets(report, &mut out);
    little(report, &mut out);
    verdict(report, &mut out);
    out
}

fn section(out: &mut String, title: &str) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
}

pub(super) fn ms(value: f64, latency: &LatencySummary) -> String {
    if latency.count == 0 { "-".into() } else { format!("{value:.3}") }
}

fn pct(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".into(), |r| format!("{:.3}", r * 100.0))
}

fn header(report: &Report, out: &mut String) {
    out.push_str(&format!(
        "Faultline report: scenario {}  seed {}  duration {:.3} s  window {:.3} s  trace {}  ({} records)\n",
        report.scenario, report.seed, report.duration_s, report.window_s, report.trace_hash, report.records
    ));
}

fn end_to_end(report: &Report, out: &mut String) {
    let e = &report.end_to_end;
    section(out, "End to end (as the load generators saw it)");
    let mut spec = vec!["requests", "ok", "errors", "unreachable", "timeouts"];
    let mut row = vec![
        e.requests.to_string(),
        e.ok.to_string(),
        e.errors.to_string(),
        e.unreachable.to_string(),
        e.timeouts.to_string(),
    ];
    // Shown only when a rate limiter refused something, so other reports read as before.
    if e.limited > 0 {
        spec.push("rate limited");
        row.push(e.limited.to_string());
    }
    if e.unauthorized > 0 {
        spec.push("unauthorized");
        row.push(e.unauthorized.to_string());
    }
    spec.extend(["outstanding at end", "availability %", "throughput ok/s", "offered req/s"]);
    row.extend([
        e.outstanding_at_end.to_string(),
        pct(e.availability),
        format!("{:.2}", e.throughput_rps),
        format!("{:.2}", e.offered_rps),
    ]);
    let mut counts = Table::new(&spec);
    counts.row(row);
    counts.render(out);
    if let Some(r) = &report.retry {
        let attempts = r.amplification.map_or_else(|| "-".into(), |a| format!("{a:.2}"));
        let line = format!(
            "  retries: {} sent, {} denied by the budget, {attempts} attempts per request\n",
            r.retries, r.denied
        );
        out.push_str(&line);
        let drain = r
            .drain_s
            .map_or_else(|| "no success".into(), |s| format!("the last success {s:.3} s after the first request"));
        out.push_str(&format!("  work: {} attempts, {drain}\n", r.attempts));
    }
    let l = &e.latency;
    let mut latency = Table::new(&["answered", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "mean ms"]);
    latency.row(vec![
        l.count.to_string(),
        ms(l.p50_ms, l),
        ms(l.p95_ms, l),
        ms(l.p99_ms, l),
        ms(l.p999_ms, l),
        ms(l.max_ms, l),
        ms(l.mean_ms, l),
    ]);
    out.push('\n');
    latency.render(out);
}

/// End to end per target host, when the workload has more than one (one is the end-to-end
/// section already).
fn targets(report: &Report, out: &mut String) {
    if report.targets.len() < 2 {
        return;
    }
    section(out, "End to end per target (the users sending to each host)");
    let mut table = Table::new(&["<target", "requests", "available", "p50 ms", "p99 ms", "max ms"]);
    for t in &report.targets {
        let l = &t.latency;
        table.row(vec![
            t.name.clone(),
            t.requests.to_string(),
            pct(t.availability),
            ms(l.p50_ms, l),
            ms(l.p99_ms, l),
            ms(l.max_ms, l),
        ]);
    }
    table.render(out);
}

fn services(report: &Report, out: &mut String) {
    section(out, "Per service (as each server measured it)");
    if report.services.is_empty() {
        out.push_str("  no server reported a served request\n");
        return;
    }
    let mut table =
        Table::new(&["<service", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "errors"]);
    for s in &report.services {
        let l = &s.latency;
        table.row(vec![
            s.name.clone(),
            s.requests.to_string(),
            format!("{:.2}", s.rps),
            ms(l.p50_ms, l),
            ms(l.p95_ms, l),
            ms(l.p99_ms, l),
            ms(l.p999_ms, l),
            ms(l.max_ms, l),
            s.errors.to_string(),
        ]);
    }
    table.render(out);
}

fn windows(
    windows: &[WindowStats],
    cache: Option<&CacheReport>,
    retry: Option<&RetryReport>,
    sessions: Option<&SessionsReport>,
    out: &mut String,
) {
    section(out, "End to end per window (by the time requests were issued)");
    if windows.is_empty() {
        out.push_str("  no windows (the run has no length)\n");
        return;
    }
    let step = windows.len().div_ceil(MAX_WINDOW_ROWS);
    if step > 1 {
        out.push_str(&format!(
            "  showing 1 window in {step} ({} windows in all; the JSON report has every one)\n",
            windows.len()
        ));
    }
    let mut spec = vec!["start s", "requests", "req/s", "ok/s", "p50 ms", "p99 ms", "errors"];
    if cache.is_some() {
        spec.extend(["cache hit %", "db loads/s"]);
    }
    if retry.is_some() {
        spec.push("attempts/req");
    }
    if sessions.is_some() {
        spec.push("sessions lost");
    }
    let mut table = Table::new(&spec);
    for (i, w) in windows.iter().enumerate().step_by(step) {
        let l = &w.latency;
        let mut row = vec![
            format!("{:.3}", w.start_s),
            w.requests.to_string(),
            format!("{:.2}", w.rps),
            format!("{:.2}", w.ok_rps),
            ms(l.p50_ms, l),
            ms(l.p99_ms, l),
            w.failed.to_string(),
        ];
        if let Some(cache) = cache {
            let c = cache_window(&cache.windows, w.start_s);
            row.push(pct(c.and_then(|c| c.hit_rate)));
            row.push(c.map_or_else(|| "-".into(), |c| format!("{:.2}", c.db_loads_per_s)));
        }
        if let Some(retry) = retry {
            let j = retry.windows.partition_point(|r| r.start_s < w.start_s);
            let a = retry.windows.get(j).filter(|r| r.start_s == w.start_s).and_then(|r| r.amplification);
            row.push(a.map_or_else(|| "-".into(), |a| format!("{a:.2}")));
        }
        if let Some(sessions) = sessions {
            // The sessions windows start with the report's (index i is the same window).
            row.push(sessions.windows.get(i).map_or_else(|| "-".into(), |s| s.lost.to_string()));
        }
        table.row(row);
    }
    table.render(out);
}

/// The users' sessions, when they logged in.
fn seconds(t_s: f64) -> String {
    seconds_text((t_s * 1e9).round() as u64).trim_start().to_string()
}

fn faults(report: &Report, out: &mut String) {
    section(out, "Faults");
    if report.faults.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let mut table = Table::new(&["t s", "<fault"]);
    for f in &report.faults {
        table.row(vec![seconds(f.t_s), f.description.clone()]);
    }
    table.render(out);
    if report.faults_omitted > 0 {
        out.push_str(&format!("  ... and {} more faults\n", report.faults_omitted));
    }
}

fn changes(report: &Report, out: &mut String) {
    section(out, "State changes and power events");
    if report.changes.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let mut table = Table::new(&["t s", "<host", "<change"]);
    for c in &report.changes {
        table.row(vec![seconds(c.t_s), c.host.clone(), c.what.clone()]);
    }
    table.render(out);
    if report.changes_omitted > 0 {
        out.push_str(&format!("  ... and {} more changes\n", report.changes_omitted));
    }
}

fn data(report: &Report, out: &mut String) {
    let Some(data) = &report.data else {
        return;
    };
    section(out, "Data tier");
    let mut table = Table::new(&["<measure", "<value"]);
    table.row(vec!["successful reads observed".into(), data.reads.to_string()]);
    table.row(vec!["acknowledged writes".into(), data.acknowledged_writes.to_string()]);
    if let Some(d) = &data.durability {
        let mut value = format!("{} (RPO {})", d.lost, ms_text(d.rpo_ns));
        if !d.lost_first.is_empty() {
            let ids: Vec<String> = d.lost_first.iter().take(5).map(u64::to_string).collect();
            let more = if d.lost_first.len() > 5 { ", ..." } else { "" };
            value.push_str(&format!("; first: req {}{more}", ids.join(", ")));
        }
        table.row(vec!["lost acknowledged writes".into(), value]);
        table.row(vec!["final epoch".into(), d.final_epoch.to_string()]);
    }
    if let Some(p) = &data.one_primary {
        let value = if p.holds() {
            "one per epoch".to_string()
        } else {
            format!("{} shared epoch(s), {} write(s) to a deposed primary", p.shared_epochs.len(), p.deposed_writes)
        };
        table.row(vec!["primaries".into(), value]);
    }
    let ryw = &data.read_your_writes;
    table.row(vec![
        "read-your-writes".into(),
        format!("{} violation(s) in {} read(s) after the user's own write", ryw.violations, ryw.reads_checked),
    ]);
    let st = &data.staleness;
    let mut staleness = format!("p99 {}, max {} ({} reads", ms_text(st.p99_ns), ms_text(st.max_ns), st.reads);
    if let Some(bound_ns) = st.bound_ns {
        staleness.push_str(&format!("; {} over {}", st.over_bound, ms_text(bound_ns)));
    }
    staleness.push(')');
    table.row(vec!["staleness".into(), staleness]);
    if let Some(l) = &data.linearizability {
        let detail = if l.detail.is_empty() { String::new() } else { format!(": {}", l.detail) };
        table.row(vec![
            "linearizability".into(),
            format!("{} ({} ops, {} of them CAS, on {} keys){detail}", l.verdict.as_str(), l.ops, l.cas, l.keys),
        ]);
    }
    for r in &data.recovery {
        table.row(vec![format!("RTO {}", rto_label(r)), rto_text(r)]);
        if let Some(lag) = r.lag_at_loss_ms {
            let value = format!("{lag} ms (the promoted replicas' own measure; entries on the link not counted)");
            table.row(vec![format!("replication lag just before {} at {}", r.fault, s_text(r.t_ns)), value]);
        }
    }
    table.render(out);
    if data.faults_omitted > 0 {
        out.push_str(&format!("  ... and {} more faults not measured\n", data.faults_omitted));
    }
    epochs(data, out);
}

fn epochs(data: &DataReport, out: &mut String) {
    if data.epochs.is_empty() {
        return;
    }
    out.push('\n');
    // A sharded database's groups each have their own epochs.
    let grouped = data.epochs.iter().any(|e| e.group.is_some());
    let columns = ["<group", "epoch", "start", "base lsn", "from epoch", "<primaries"];
    let mut table = Table::new(if grouped { &columns } else { &columns[1..] });
    for e in &data.epochs {
        let mut row = vec![
            e.epoch.to_string(),
            s_text(e.start_ns),
            e.base_lsn.to_string(),
            e.last_epoch.to_string(),
            e.primaries.join(", "),
        ];
        if grouped {
            row.insert(0, e.group.clone().unwrap_or_default());
        }
        table.row(row);
    }
    table.render(out);
}

/// The faults a swarm run drew, as the scenario file writes them (paste them under
/// `[[faults]]` to script them).
fn swarm(report: &Report, out: &mut String) {
    let Some(swarm) = &report.swarm else { return };
    section(out, "Swarm faults drawn from the seed (on top of the scripted ones)");
    out.push_str(&format!("  kinds enabled: {}\n", swarm.enabled.join(", ")));
    for fault in &swarm.faults {
        out.push_str(&format!("  {fault}\n"));
    }
    match swarm.judge.is_empty() {
        true => out.push_str("  judged: the invariants; objectives (SLOs, RTOs) are measured, in parentheses\n"),
        false => {
            out.push_str(&format!("  judged: {}; the others are measured, in parentheses\n", swarm.judge.join(", ")))
        }
    }
}

fn checks(report: &Report, out: &mut String) {
    section(out, "Checks");
    if report.checks.is_empty() {
        out.push_str("  none declared\n");
        return;
    }
    let mut table = Table::new(&["<check", "<verdict", "<measured"]);
    for c in &report.checks {
        table.row(vec![c.name.clone(), c.label().into(), c.detail.clone()]);
    }
    table.render(out);
    let shown: Vec<_> = report.checks.iter().filter(|c| c.verdict != Verdict::Pass && !c.evidence.is_empty()).collect();
    if shown.is_empty() {
        return;
    }
    out.push('\n');
    let mut evidence = Table::new(&["<evidence of", "<where"]);
    for c in shown {
        evidence.row(vec![c.name.clone(), c.evidence.text(&report.hosts)]);
    }
    evidence.render(out);
}

fn error_budgets(report: &Report, out: &mut String) {
    if report.error_budgets.is_empty() {
        return;
    }
    section(out, "Error budget (burned 100% = exhausted)");
    let mut table = Table::new(&["<slo", "<scope", "target %", "availability %", "budget %", "burned %"]);
    for b in &report.error_budgets {
        table.row(vec![
            b.slo.clone(),
            b.service.clone().unwrap_or_else(|| "end to end".into()),
            format!("{:.3}", b.target * 100.0),
            pct(b.availability),
            format!("{:.3}", b.budget * 100.0),
            b.burned.map_or_else(|| "-".into(), |f| format!("{:.1}", f * 100.0)),
        ]);
    }
    table.render(out);
}

fn little(report: &Report, out: &mut String) {
    if report.little.is_empty() {
        return;
    }
    section(out, "Little's law (L = λW against the mean of the inflight gauge)");
    let mut table = Table::new(&["<service", "λ req/s", "W ms", "λW req", "measured L req", "error %", "<verdict"]);
    for l in &report.little {
        table.row(vec![
            l.service.clone(),
            format!("{:.2}", l.lambda_rps),
            format!("{:.3}", l.w_ms),
            format!("{:.3}", l.predicted_l),
            format!("{:.3}", l.measured_l),
            l.error_pct.map_or_else(|| "-".into(), |e| format!("{e:+.1}")),
            if l.pass { "PASS" } else { "FAIL" }.into(),
        ]);
    }
    table.render(out);
}

fn verdict(report: &Report, out: &mut String) {
    let measured = report.not_judged().count();
    let total = report.checks.len() - measured;
    let failed = report.failures().count();
    let undecided = report.undecided().count();
    out.push('\n');
    let line = match (failed, undecided) {
        (0, 0) => format!("all {total} checks hold"),
        (0, u) => format!("{u} of {total} checks could not decide (UNKNOWN is not a pass)"),
        (f, 0) => format!("{f} of {total} checks failed"),
        (f, u) => format!("{f} of {total} checks failed, {u} could not decide"),
    };
    out.push_str(&line);
    if measured > 0 {
        out.push_str(&format!(" ({measured} more measured, not judged)"));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use crate::fault::Fault;
    use crate::report::testkit::{MS, S, Stream};
    use crate::slo::{Slo, SloKind};
    use crate::trace::{Event, Outcome};

    fn stream(duration_s: u64) -> Stream {
        let mut stream = Stream::new(duration_s, 1);
        stream.slo(Slo {
            name: "p99 under 50ms".into(),
            service: None,
            kind: SloKind::Latency { quantile: 0.99, max_ns: 50 * MS },
        });
        stream.slo(Slo { name: "three nines".into(), service: None, kind: SloKind::Availability { min_ratio: 0.999 } });
        for i in 0..100 {
            stream.request(i * 20 * MS, (1 + i % 10) * MS, Outcome::Ok);
            stream.served(i * 20 * MS + MS, 1, MS, true);
        }
        stream.push(S / 2, Event::Fault(Fault::Kill { host: 2 }));
        stream.push(S / 2, Event::Power { host: 2, up: false });
        stream
    }

    /// Renders `stream` and checks that every one of `expected` appears in the text.
    fn check(stream: &Stream, expected: &[&str]) -> String {
        let text = stream.analyze().render_text();
        for piece in expected {
            assert!(text.contains(piece), "missing {piece:?} in:\n{text}");
        }
        text
    }

    #[test]
    fn text_has_headers_units_and_verdict() {
        let text = check(
            &stream(3),
            &[
                "scenario synthetic  seed 7  duration 3.000 s",
                "trace 0000000000000000000000000000feed",
                "requests",
                "availability %",
                "p50 ms",
                "p99.9 ms",
                "req/s",
                "  service  requests  req/s",
                "app",
                "start s",
                "0.500000  kill db",
                "db    down",
                "PASS",
                "p99 = 10.0 ms <= 50.0 ms",
                "burned %",
                "all 2 checks hold",
            ],
        );
        let table_lines: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("End to end per window")).skip(1).take(4).collect();
        let width = table_lines[0].len();
        assert!(table_lines.iter().all(|l| l.len() == width), "aligned columns:\n{}", table_lines.join("\n"));
    }

    #[test]
    fn failures_are_counted_in_the_verdict() {
        let mut failing = stream(3);
        failing.invoke(2 * S);
        check(
            &failing,
            &[
                "FAIL",
                "availability = 99.01% < 99.90%",
                "evidence of",
                "three nines  at 2.000000 s",
                "1 of 2 checks failed",
            ],
        );
    }

    #[test]
    fn undecided_checks_are_counted_apart() {
        let mut undecided = stream(3);
        undecided.slo(Slo {
            name: "ghost".into(),
            service: Some("nope".into()),
            kind: SloKind::Availability { min_ratio: 0.9 },
        });
        let text =
            check(&undecided, &["ghost           UNKNOWN", "1 of 3 checks could not decide (UNKNOWN is not a pass)"]);
        assert!(!text.contains("evidence of"), "an undecided objective has no window to show:\n{text}");
        undecided.invoke(2 * S);
        check(&undecided, &["1 of 3 checks failed, 1 could not decide"]);
    }

    #[test]
    fn long_series_show_every_kth_window() {
        let text = check(&stream(120), &["showing 1 window in 4 (120 windows in all"]);
        let rows =
            text.lines().skip_while(|l| !l.contains("showing 1 window")).skip(2).take_while(|l| !l.is_empty()).count();
        assert_eq!(rows, 30);
    }

    #[test]
    fn little_table_appears_with_units() {
        let mut stream = stream(3);
        stream.sample(3 * S, 1, 0.05 / 3.0);
        check(&stream, &["λ req/s", "W ms", "measured L req", "little's law: app", "all 3 checks hold"]);
    }
}
