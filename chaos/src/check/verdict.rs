//! Verdicts on a [`DataReport`]: which measurements are judged, against what, the words that
//! say why, and the evidence (time, hosts, requests) that shows it.
//!
//! Owns: [`judge`]. Must not: pass a check it cannot decide (a check asked for with nothing to
//! judge, a linearizability search that ran out of budget, or an RTO bound longer than the run
//! could show is Unknown and says so), or judge what the [`CheckConfig`] leaves as a
//! measurement.
//!
//! Judged: lost writes (always, once a node took the primary role: no loss, or the RPO within
//! `max_rpo_ns`), one primary per epoch (always, with `Role` events), read-your-writes and
//! linearizability (when asked for), staleness (when `max_staleness_ns` is set), RTO per fault
//! (when `max_rto_ns` is set).
//!
//! Evidence: lost writes: the time of the loss (the start of the epoch that dropped them), the
//! primaries involved, the lost writes; one primary: when it first broke, the primaries, the
//! deposed writes; read-your-writes and staleness: the first offending read's time, each
//! offending read followed by the write it missed; linearizability: the blocked operation's
//! invocation and the operations around it; RTO: the fault's time and hosts.

use super::CheckConfig;
use super::data::DataReport;
use super::durability::{Durability, OnePrimary};
use super::linear::{LinVerdict, Linearizability};
use super::reads::{ReadYourWrites, Staleness};
use super::rto::Recovery;
use crate::report::{Check, Evidence, Verdict};

/// Request ids a check's words list; the evidence keeps more.
const SHOWN: usize = 5;

/// Nanoseconds as milliseconds, one decimal: `480.0 ms`.
pub fn ms_text(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Nanoseconds as seconds, three decimals: `4.210 s`.
pub fn s_text(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// Request ids as `req 3, 8` (the first [`SHOWN`], then `...`).
fn reqs(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(SHOWN).map(|id| id.to_string()).collect();
    let more = if ids.len() > SHOWN { ", ..." } else { "" };
    format!("req {}{more}", shown.join(", "))
}

/// Pairs of (offending read, the write it missed) as a request list: read, write, read, ...
fn pairs(pairs: &[(u64, u64)], total: u64) -> Evidence {
    Evidence::default().with_requests(pairs.iter().flat_map(|&(r, w)| [r, w]), total.saturating_mul(2))
}

/// The checks `data` is judged on under `config`.
pub fn judge(data: &DataReport, config: &CheckConfig) -> Vec<Check> {
    let mut out = Vec::new();
    match &data.durability {
        Some(durability) => out.push(durability_check(durability, config.max_rpo_ns)),
        None if config.max_rpo_ns.is_some() && data.acknowledged_writes > 0 => out.push(Check::new(
            rpo_name(config.max_rpo_ns),
            Verdict::Unknown,
            "no store node reported its role: the lineage of the log is unknown",
        )),
        None => {}
    }
    if let Some(found) = &data.one_primary {
        out.push(one_primary_check(found));
    }
    if config.read_your_writes {
        out.push(ryw_check(&data.read_your_writes));
    }
    if let Some(bound_ns) = config.max_staleness_ns {
        out.push(staleness_check(&data.staleness, bound_ns));
    }
    if config.linearizable {
        out.push(match &data.linearizability {
            Some(found) => lin_check(found),
            None => Check::new("linearizable", Verdict::Unknown, "not measured"),
        });
    }
    if let Some(bound_ns) = config.max_rto_ns {
        out.extend(data.recovery.iter().map(|r| rto_check(r, bound_ns)));
    }
    out
}

fn rpo_name(max_rpo_ns: Option<u64>) -> String {
    match max_rpo_ns {
        None => "no acknowledged write lost".into(),
        Some(bound_ns) => format!("RPO <= {}", ms_text(bound_ns)),
    }
}

fn durability_check(found: &Durability, max_rpo_ns: Option<u64>) -> Check {
    let counts = format!("{} of {} acknowledged writes lost", found.lost, found.acknowledged_writes);
    let first = match found.lost_first.is_empty() {
        true => String::new(),
        false => format!("; first: {}", reqs(&found.lost_first)),
    };
    let (pass, detail, t_ns) = match max_rpo_ns {
        None if found.lost == 0 => (true, counts, None),
        None => (false, format!("{counts} (RPO {}){first}", ms_text(found.rpo_ns)), found.first_loss_ns),
        Some(bound_ns) => {
            let pass = found.rpo_ns <= bound_ns;
            let op = if pass { "<=" } else { ">" };
            let detail = format!("RPO {} {op} {} ({counts}{first})", ms_text(found.rpo_ns), ms_text(bound_ns));
            (pass, detail, found.worst.as_ref().map(|w| w.dropped_ns))
        }
    };
    let evidence = Evidence::at(t_ns)
        .with_hosts(found.hosts.iter().copied())
        .with_requests(found.lost_first.iter().copied(), found.lost);
    Check::new(rpo_name(max_rpo_ns), Verdict::of(pass), detail).with(evidence)
}

fn one_primary_check(found: &OnePrimary) -> Check {
    let mut what = Vec::new();
    for shared in &found.shared_epochs {
        what.push(format!("epoch {} had primaries {}", shared.epoch, shared.hosts.join(", ")));
    }
    if let Some(d) = &found.first_deposed {
        what.push(format!(
            "{} write(s) accepted by a deposed primary; first: req {} acknowledged in epoch {} ({}) was invoked at {}, \
             after epoch {} began at {}",
            found.deposed_writes,
            d.req,
            d.epoch,
            d.hosts.join(", "),
            s_text(d.invoke_ns),
            d.newer_epoch,
            s_text(d.newer_start_ns)
        ));
    }
    let detail = if what.is_empty() { "every epoch had one primary".into() } else { what.join("; ") };
    let evidence = Evidence::at(found.broke_ns)
        .with_hosts(found.hosts.iter().copied())
        .with_requests(found.deposed_first.iter().copied(), found.deposed_writes);
    Check::new("one primary per epoch", Verdict::of(found.holds()), detail).with(evidence)
}

fn ryw_check(found: &ReadYourWrites) -> Check {
    let name = "read-your-writes";
    if found.reads_checked == 0 {
        let detail = "no read followed its user's own acknowledged write to the key: nothing to judge";
        return Check::new(name, Verdict::Unknown, detail);
    }
    let mut detail =
        format!("{} of {} reads after the user's own write missed it", found.violations, found.reads_checked);
    if !found.first.is_empty() {
        let listed = found.first.iter().take(SHOWN).map(|(r, w)| format!("read {r} missed write {w}"));
        let more = if found.first.len() > SHOWN { ", ..." } else { "" };
        detail.push_str(&format!(" ({}{more})", listed.collect::<Vec<_>>().join(", ")));
    }
    let evidence = Evidence { t_ns: found.first_ns, ..pairs(&found.first, found.violations) };
    Check::new(name, Verdict::of(found.violations == 0), detail).with(evidence)
}

fn staleness_check(found: &Staleness, bound_ns: u64) -> Check {
    let name = format!("staleness <= {}", ms_text(bound_ns));
    if found.reads == 0 {
        return Check::new(name, Verdict::Unknown, "no successful read to measure");
    }
    let pass = found.over_bound == 0;
    let op = if pass { "<=" } else { ">" };
    let worst = found.worst_read.map(|r| format!("; worst: read {r}")).unwrap_or_default();
    let detail = format!(
        "max {} {op} {} ({} of {} reads over; p99 {}{worst})",
        ms_text(found.max_ns),
        ms_text(bound_ns),
        found.over_bound,
        found.reads,
        ms_text(found.p99_ns)
    );
    let evidence = Evidence { t_ns: found.first_over_ns, ..pairs(&found.over_first, found.over_bound) };
    Check::new(name, Verdict::of(pass), detail).with(evidence)
}

fn lin_check(found: &Linearizability) -> Check {
    let name = "linearizable";
    if found.ops == 0 {
        return Check::new(name, Verdict::Unknown, "no reads or writes to check");
    }
    let counts = format!("{} operations on {} keys", found.ops, found.keys);
    let (verdict, detail) = match found.verdict {
        LinVerdict::Ok => (Verdict::Pass, format!("ok: {counts}")),
        LinVerdict::Illegal => (Verdict::Fail, format!("illegal: {} ({counts})", found.detail)),
        LinVerdict::Unknown => (Verdict::Unknown, format!("unknown: {} ({counts})", found.detail)),
    };
    let evidence = Evidence::at(found.blocked_ns).with_requests(found.shown.iter().copied(), found.shown.len() as u64);
    Check::new(name, verdict, detail).with(evidence)
}

/// "after kill db1 at 10.000 s".
pub fn rto_label(found: &Recovery) -> String {
    format!("after {} at {}", found.fault, s_text(found.t_ns))
}

/// "4.891 s (detection 3.010 s, promotion 0.020 s)" or "not recovered by the end of the run";
/// after a DNS answer changed, the rest is DNS's: "95.000 s (detection 30.000 s, DNS 65.000 s:
/// the answer changed after 30.500 s)".
pub fn rto_text(found: &Recovery) -> String {
    let Some(rto_ns) = found.rto_ns else {
        return "not recovered by the end of the run".into();
    };
    let mut parts = Vec::new();
    if let Some(ns) = found.detection_ns {
        parts.push(format!("detection {}", s_text(ns)));
    }
    if let Some(ns) = found.promotion_ns {
        parts.push(format!("promotion {}", s_text(ns)));
    }
    if let Some(switch_ns) = found.dns_switch_ns {
        let before = found.detection_ns.unwrap_or(0) + found.promotion_ns.unwrap_or(0);
        let dns = rto_ns.saturating_sub(before);
        parts.push(format!("DNS {}: the answer changed after {}", s_text(dns), s_text(switch_ns)));
    }
    if !found.dropped {
        parts.push("the success rate never dropped".into());
    }
    let breakdown = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
    format!("{}{breakdown}", s_text(rto_ns))
}

fn rto_check(found: &Recovery, bound_ns: u64) -> Check {
    let (verdict, detail) = match found.rto_ns {
        Some(rto_ns) => {
            let op = if rto_ns <= bound_ns { "<=" } else { ">" };
            (Verdict::of(rto_ns <= bound_ns), format!("{} {op} {}", rto_text(found), s_text(bound_ns)))
        }
        None if found.observable_ns >= bound_ns => {
            (Verdict::Fail, format!("{} (bound {})", rto_text(found), s_text(bound_ns)))
        }
        None => (
            Verdict::Unknown,
            format!(
                "{}: the run shows at most {} after the fault, less than the bound {}",
                rto_text(found),
                s_text(found.observable_ns),
                s_text(bound_ns)
            ),
        ),
    };
    let evidence = Evidence::at(Some(found.t_ns)).with_hosts(found.hosts.iter().copied());
    Check::new(format!("RTO {}", rto_label(found)), verdict, detail).with(evidence).as_objective()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::data::evaluate;
    use crate::check::testkit::{DB1, DB2, MS, Run, S};

    /// The check named `name` among `checks`, after checking its verdict and detail.
    fn check<'a>(checks: &'a [Check], name: &str, verdict: Verdict, detail: &str) -> &'a Check {
        let found = checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name:?} in {checks:#?}"));
        assert_eq!(found.verdict, verdict, "{found:?}");
        assert!(found.detail.contains(detail), "{:?} does not contain {detail:?}", found.detail);
        found
    }

    /// `evidence` holds exactly this time, these hosts and these requests.
    fn evidence(found: &Check, t_ns: Option<u64>, hosts: &[u16], requests: &[u64]) {
        let e = &found.evidence;
        assert_eq!((e.t_ns, &e.hosts[..], &e.requests[..]), (t_ns, hosts, requests), "{found:#?}");
        assert!(e.requests_total >= e.requests.len() as u64, "{found:#?}");
    }

    fn lossy_run() -> Run {
        Run::lossy_failover()
    }

    fn judged(run: &Run, config: &CheckConfig) -> Vec<Check> {
        judge(&evaluate(&run.history(), config, &Run::names()).expect("data"), config)
    }

    fn strict() -> CheckConfig {
        CheckConfig {
            max_rpo_ns: Some(3 * S),
            read_your_writes: true,
            max_staleness_ns: Some(500 * MS),
            linearizable: true,
            max_rto_ns: Some(10 * S),
            ..CheckConfig::default()
        }
    }

    #[test]
    fn default_config_judges_loss_and_primaries_only() {
        let checks = judged(&lossy_run(), &CheckConfig::default());
        assert_eq!(checks.len(), 2, "{checks:#?}");
        let lost = check(
            &checks,
            "no acknowledged write lost",
            Verdict::Fail,
            "1 of 2 acknowledged writes lost (RPO 1000.0 ms); first: req 1",
        );
        // Request 1 (LSN 2) was lost when db2 took epoch 2 at 5 s from LSN 1.
        evidence(lost, Some(5 * S), &[DB1, DB2], &[1]);
        let primaries = check(&checks, "one primary per epoch", Verdict::Pass, "every epoch had one primary");
        assert!(primaries.evidence.is_empty(), "{primaries:#?}");
    }

    #[test]
    fn bounds_make_verdicts() {
        let checks = judged(&lossy_run(), &strict());
        check(
            &checks,
            "RPO <= 3000.0 ms",
            Verdict::Pass,
            "RPO 1000.0 ms <= 3000.0 ms (1 of 2 acknowledged writes lost; first: req 1)",
        );
        check(
            &checks,
            "read-your-writes",
            Verdict::Fail,
            "1 of 1 reads after the user's own write missed it (read 2 missed write 1)",
        );
        check(&checks, "staleness <= 500.0 ms", Verdict::Fail, "max 999.0 ms > 500.0 ms (1 of 1 reads over");
        check(&checks, "linearizable", Verdict::Fail, "illegal: key 1: op 2");
        check(
            &checks,
            "RTO after kill db1 at 4.000 s",
            Verdict::Pass,
            "0.000 s (the success rate never dropped) <= 10.000 s",
        );
    }

    #[test]
    fn every_check_carries_its_evidence() {
        let checks = judged(&lossy_run(), &strict());
        // Read 2 (invoked at 3 s) returned write 0 after write 1 was acknowledged.
        let rpo = check(&checks, "RPO <= 3000.0 ms", Verdict::Pass, "");
        evidence(rpo, Some(5 * S), &[DB1, DB2], &[1]);
        evidence(check(&checks, "read-your-writes", Verdict::Fail, ""), Some(3 * S), &[], &[2, 1]);
        evidence(check(&checks, "staleness <= 500.0 ms", Verdict::Fail, ""), Some(3 * S), &[], &[2, 1]);
        let lin = check(&checks, "linearizable", Verdict::Fail, "");
        assert_eq!(lin.evidence.t_ns, Some(3 * S), "the read that cannot be placed");
        assert_eq!(lin.evidence.requests.first(), Some(&2), "{lin:#?}");
        let rto = check(&checks, "RTO after kill db1 at 4.000 s", Verdict::Pass, "");
        evidence(rto, Some(4 * S), &[DB1], &[]);
        let json = serde_json::to_value(rto).unwrap();
        assert_eq!(json["verdict"], "pass");
        assert_eq!(json["evidence"]["t_ns"], 4 * S);
    }

    #[test]
    fn checks_with_nothing_to_judge_are_unknown() {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        let config = CheckConfig {
            read_your_writes: true,
            max_staleness_ns: Some(MS),
            linearizable: true,
            ..CheckConfig::default()
        };
        let checks = judged(&run, &config);
        check(&checks, "read-your-writes", Verdict::Unknown, "nothing to judge");
        check(&checks, "staleness <= 1.0 ms", Verdict::Unknown, "no successful read");
        check(&checks, "linearizable", Verdict::Unknown, "no reads or writes");
        check(&checks, "no acknowledged write lost", Verdict::Pass, "0 of 0 acknowledged writes lost");
    }

    #[test]
    fn an_rpo_bound_without_roles_is_unknown() {
        let mut run = Run::new();
        run.write(S, MS, 0, 1, Some((1, 1)));
        let config = CheckConfig { max_rpo_ns: Some(S), ..CheckConfig::default() };
        check(&judged(&run, &config), "RPO <= 1000.0 ms", Verdict::Unknown, "lineage of the log is unknown");
    }

    #[test]
    fn a_spent_linearizability_budget_is_unknown() {
        let mut run = Run::with_primary();
        run.write(S, MS, 0, 1, Some((1, 1)));
        let mut data = evaluate(&run.history(), &strict(), &Run::names()).expect("data");
        let lin = data.linearizability.as_mut().expect("measured");
        (lin.verdict, lin.detail) = (LinVerdict::Unknown, "key 1: the search spent its budget".into());
        let found = judge(&data, &strict());
        let lin = check(&found, "linearizable", Verdict::Unknown, "unknown: key 1: the search spent its budget");
        assert!(lin.evidence.is_empty(), "the search names no operation when it runs out");
    }

    #[test]
    fn split_brain_names_hosts_epochs_and_the_write() {
        let mut run = lossy_run();
        run.primary(6 * S, DB1, 2, 2, 1);
        let deposed = run.write(6 * S, MS, 0, 1, Some((1, 3)));
        let checks = judged(&run, &CheckConfig::default());
        check(&checks, "one primary per epoch", Verdict::Fail, "epoch 2 had primaries db2, db1");
        let found = check(
            &checks,
            "one primary per epoch",
            Verdict::Fail,
            "1 write(s) accepted by a deposed primary; first: req 3 acknowledged in epoch 1 (db1) was invoked at 6.000 s, \
             after epoch 2 began at 5.000 s",
        );
        evidence(found, Some(6 * S), &[DB1, DB2], &[deposed]);
    }

    #[test]
    fn rto_texts() {
        let mut found = Recovery {
            fault: "kill db1".into(),
            t_ns: 10 * S,
            dropped: true,
            rto_ns: Some(4_210 * MS),
            detection_ns: Some(3_010 * MS),
            promotion_ns: Some(20 * MS),
            dns_switch_ns: None,
            lag_at_loss_ms: None,
            hosts: vec![DB1],
            observable_ns: 9 * S,
        };
        assert_eq!(rto_label(&found), "after kill db1 at 10.000 s");
        assert_eq!(rto_text(&found), "4.210 s (detection 3.010 s, promotion 0.020 s)");
        let dns = Recovery { dns_switch_ns: Some(3_500 * MS), rto_ns: Some(40 * S), ..found.clone() };
        assert_eq!(
            rto_text(&dns),
            "40.000 s (detection 3.010 s, promotion 0.020 s, DNS 36.970 s: the answer changed after 3.500 s)",
            "the three parts add up to the RTO"
        );
        let failing = rto_check(&found, 4 * S);
        assert_eq!(failing.verdict, Verdict::Fail);
        assert_eq!(failing.detail, "4.210 s (detection 3.010 s, promotion 0.020 s) > 4.000 s");
        evidence(&failing, Some(10 * S), &[DB1], &[]);
        found.rto_ns = None;
        let never = rto_check(&found, 4 * S);
        assert_eq!(never.verdict, Verdict::Fail, "the run watched 9 s, past the 4 s bound");
        assert_eq!(never.detail, "not recovered by the end of the run (bound 4.000 s)");
        let too_soon = rto_check(&found, 10 * S);
        assert_eq!(too_soon.verdict, Verdict::Unknown, "the run ended before the 10 s bound could pass");
        assert!(too_soon.detail.contains("at most 9.000 s after the fault"), "{}", too_soon.detail);
    }
}
