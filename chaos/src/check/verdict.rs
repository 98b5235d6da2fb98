//! Verdicts on a [`DataReport`]: which measurements are judged, against what, and the words
//! that say why.
//!
//! Owns: [`judge`]. Must not: pass a check it cannot measure (a check asked for with nothing to
//! judge fails and says so), or judge what the [`CheckConfig`] leaves as a measurement.
//!
//! Judged: lost writes (always, once a node took the primary role: no loss, or the RPO within
//! `max_rpo_ns`), one primary per epoch (always, with `Role` events), read-your-writes and
//! linearizability (when asked for), staleness (when `max_staleness_ns` is set), RTO per fault
//! (when `max_rto_ns` is set).

use super::CheckConfig;
use super::data::DataReport;
use super::durability::{Durability, OnePrimary};
use super::linear::Linearizability;
use super::reads::{ReadYourWrites, Staleness};
use super::rto::Recovery;
use crate::report::Check;

/// Nanoseconds as milliseconds, one decimal: `480.0 ms`.
pub fn ms_text(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Nanoseconds as seconds, three decimals: `4.210 s`.
pub fn s_text(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// Request ids as `req 3, 8`.
fn reqs(ids: impl IntoIterator<Item = u64>) -> String {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    format!("req {}", ids.join(", "))
}

/// The checks `data` is judged on under `config`.
pub fn judge(data: &DataReport, config: &CheckConfig) -> Vec<Check> {
    let mut out = Vec::new();
    match &data.durability {
        Some(durability) => out.push(durability_check(durability, config.max_rpo_ns)),
        None if config.max_rpo_ns.is_some() && data.acknowledged_writes > 0 => out.push(Check {
            name: rpo_name(config.max_rpo_ns),
            pass: false,
            detail: "no store node reported its role: the lineage of the log is unknown".into(),
        }),
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
            None => Check { name: "linearizable".into(), pass: false, detail: "not measured".into() },
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
        false => format!("; first: {}", reqs(found.lost_first.iter().copied())),
    };
    let (pass, detail) = match max_rpo_ns {
        None if found.lost == 0 => (true, counts),
        None => (false, format!("{counts} (RPO {}){first}", ms_text(found.rpo_ns))),
        Some(bound_ns) => {
            let pass = found.rpo_ns <= bound_ns;
            let op = if pass { "<=" } else { ">" };
            (pass, format!("RPO {} {op} {} ({counts}{first})", ms_text(found.rpo_ns), ms_text(bound_ns)))
        }
    };
    Check { name: rpo_name(max_rpo_ns), pass, detail }
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
    Check { name: "one primary per epoch".into(), pass: found.holds(), detail }
}

fn ryw_check(found: &ReadYourWrites) -> Check {
    let name = "read-your-writes".to_string();
    if found.reads_checked == 0 {
        let detail = "no read followed its user's own acknowledged write to the key: nothing to judge".into();
        return Check { name, pass: false, detail };
    }
    let mut detail =
        format!("{} of {} reads after the user's own write missed it", found.violations, found.reads_checked);
    if !found.first.is_empty() {
        let pairs: Vec<String> = found.first.iter().map(|(r, w)| format!("read {r} missed write {w}")).collect();
        detail.push_str(&format!(" ({})", pairs.join(", ")));
    }
    Check { name, pass: found.violations == 0, detail }
}

fn staleness_check(found: &Staleness, bound_ns: u64) -> Check {
    let name = format!("staleness <= {}", ms_text(bound_ns));
    if found.reads == 0 {
        return Check { name, pass: false, detail: "no successful read to measure".into() };
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
    Check { name, pass, detail }
}

fn lin_check(found: &Linearizability) -> Check {
    let name = "linearizable".to_string();
    if found.ops == 0 {
        return Check { name, pass: false, detail: "no reads or writes to check".into() };
    }
    let counts = format!("{} operations on {} keys", found.ops, found.keys);
    let detail = match found.verdict.as_str() {
        "ok" => format!("ok: {counts}"),
        verdict => format!("{verdict}: {} ({counts})", found.detail),
    };
    Check { name, pass: found.pass(), detail }
}

/// "after kill db1 at 10.000 s".
pub fn rto_label(found: &Recovery) -> String {
    format!("after {} at {}", found.fault, s_text(found.t_ns))
}

/// "4.891 s (detection 3.010 s, promotion 0.020 s)" or "not recovered by the end of the run".
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
    if !found.dropped {
        parts.push("the success rate never dropped".into());
    }
    let breakdown = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
    format!("{}{breakdown}", s_text(rto_ns))
}

fn rto_check(found: &Recovery, bound_ns: u64) -> Check {
    let pass = found.rto_ns.is_some_and(|ns| ns <= bound_ns);
    let detail = if found.rto_ns.is_some() {
        format!("{} {} {}", rto_text(found), if pass { "<=" } else { ">" }, s_text(bound_ns))
    } else {
        format!("{} (bound {})", rto_text(found), s_text(bound_ns))
    };
    Check { name: format!("RTO {}", rto_label(found)), pass, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::data::evaluate;
    use crate::check::testkit::{DB1, MS, Run, S};

    /// Checks the verdict and detail of the check named `name` among `checks`.
    fn check(checks: &[Check], name: &str, pass: bool, detail: &str) {
        let found = checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name:?} in {checks:#?}"));
        assert_eq!(found.pass, pass, "{found:?}");
        assert!(found.detail.contains(detail), "{:?} does not contain {detail:?}", found.detail);
    }

    fn lossy_run() -> Run {
        Run::lossy_failover()
    }

    fn judged(run: &Run, config: &CheckConfig) -> Vec<Check> {
        judge(&evaluate(&run.history(), config, &Run::names()).expect("data"), config)
    }

    #[test]
    fn default_config_judges_loss_and_primaries_only() {
        let checks = judged(&lossy_run(), &CheckConfig::default());
        assert_eq!(checks.len(), 2, "{checks:#?}");
        check(
            &checks,
            "no acknowledged write lost",
            false,
            "1 of 2 acknowledged writes lost (RPO 1000.0 ms); first: req 1",
        );
        check(&checks, "one primary per epoch", true, "every epoch had one primary");
    }

    #[test]
    fn bounds_make_verdicts() {
        let config = CheckConfig {
            max_rpo_ns: Some(3 * S),
            read_your_writes: true,
            max_staleness_ns: Some(500 * MS),
            linearizable: true,
            max_rto_ns: Some(10 * S),
            ..CheckConfig::default()
        };
        let checks = judged(&lossy_run(), &config);
        check(
            &checks,
            "RPO <= 3000.0 ms",
            true,
            "RPO 1000.0 ms <= 3000.0 ms (1 of 2 acknowledged writes lost; first: req 1)",
        );
        check(
            &checks,
            "read-your-writes",
            false,
            "1 of 1 reads after the user's own write missed it (read 2 missed write 1)",
        );
        check(&checks, "staleness <= 500.0 ms", false, "max 999.0 ms > 500.0 ms (1 of 1 reads over");
        check(&checks, "linearizable", false, "illegal: key 1: op 2");
        check(&checks, "RTO after kill db1 at 4.000 s", true, "0.000 s (the success rate never dropped) <= 10.000 s");
    }

    #[test]
    fn checks_with_nothing_to_judge_fail() {
        let mut run = Run::new();
        run.primary(0, DB1, 1, 0, 0);
        let config = CheckConfig {
            read_your_writes: true,
            max_staleness_ns: Some(MS),
            linearizable: true,
            ..CheckConfig::default()
        };
        let checks = judged(&run, &config);
        check(&checks, "read-your-writes", false, "nothing to judge");
        check(&checks, "staleness <= 1.0 ms", false, "no successful read");
        check(&checks, "linearizable", false, "no reads or writes");
        check(&checks, "no acknowledged write lost", true, "0 of 0 acknowledged writes lost");
    }

    #[test]
    fn split_brain_names_hosts_epochs_and_the_write() {
        let mut run = lossy_run();
        run.primary(6 * S, DB1, 2, 2, 1);
        run.write(6 * S, MS, 0, 1, Some((1, 3)));
        let checks = judged(&run, &CheckConfig::default());
        check(&checks, "one primary per epoch", false, "epoch 2 had primaries db2, db1");
        check(
            &checks,
            "one primary per epoch",
            false,
            "1 write(s) accepted by a deposed primary; first: req 3 acknowledged in epoch 1 (db1) was invoked at 6.000 s, \
             after epoch 2 began at 5.000 s",
        );
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
        };
        assert_eq!(rto_label(&found), "after kill db1 at 10.000 s");
        assert_eq!(rto_text(&found), "4.210 s (detection 3.010 s, promotion 0.020 s)");
        let failing = rto_check(&found, 4 * S);
        assert!(!failing.pass);
        assert_eq!(failing.detail, "4.210 s (detection 3.010 s, promotion 0.020 s) > 4.000 s");
        found.rto_ns = None;
        assert_eq!(rto_check(&found, 4 * S).detail, "not recovered by the end of the run (bound 4.000 s)");
    }
}
