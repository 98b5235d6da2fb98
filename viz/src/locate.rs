//! Where a check broke: the moment to jump to and the operations that show it, read from the
//! check's [`Evidence`] (never from its words).
//!
//! Owns: [`locate`]. Rules:
//! 1. A check whose evidence has no time names no moment (`None`), and the GUI says so.
//! 2. An end-to-end SLO of the header (same name): the evidence's time is the start of the
//!    first report window over the bound; within that window (requests by issue time), the
//!    requests that cross it (answered slower than the bound; failed) are the related
//!    operations (up to [`MAX_RELATED`]) and the first of them is the moment (the window's
//!    start when the trace holds none).
//! 3. Any other check: the evidence's time, its requests and its hosts.

use crate::index::{Kind, RequestRow, TraceIndex};
use faultline_chaos::report::{Check, Evidence, Report};
use faultline_chaos::slo::SloKind;
use faultline_chaos::trace::Event;

/// The most related operations kept for one check.
pub const MAX_RELATED: usize = 200;

/// Where a check broke.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The moment, nanoseconds since the start of the run.
    pub t_ns: u64,
    /// Request ids of the operations that show the violation.
    pub requests: Vec<u64>,
    /// The hosts involved (indices into the trace header's hosts).
    pub hosts: Vec<u16>,
    /// How the moment was found, in words.
    pub why: String,
}

/// Where `check` broke, if its evidence says.
pub fn locate(index: &TraceIndex, report: &Report, check: &Check) -> Option<Located> {
    let evidence = &check.evidence;
    let t_ns = evidence.t_ns?;
    let slo = index.header.slos.iter().find(|s| s.name == check.name && s.service.is_none());
    let Some(slo) = slo else {
        return Some(from_evidence(t_ns, evidence));
    };
    let window_ns = (report.window_s * 1e9).round() as u64;
    let located = match &slo.kind {
        SloKind::Latency { quantile, max_ns } => {
            let slow = |r: &RequestRow| r.answered && r.latency_ns > *max_ns;
            let why = format!("first window with p{} over {} ms", quantile * 100.0, *max_ns as f64 / 1e6);
            in_window(index, t_ns, window_ns, slow, why)
        }
        SloKind::Availability { min_ratio } => {
            let why = format!("first window with availability under {:.2}%", min_ratio * 100.0);
            in_window(index, t_ns, window_ns, |r| !r.ok, why)
        }
        // Its evidence is the first window with a session lost: no request to point at.
        SloKind::SessionsLost { .. } | SloKind::Converged { .. } => return Some(from_evidence(t_ns, evidence)),
    };
    Some(Located { hosts: evidence.hosts.clone(), ..located })
}

fn from_evidence(t_ns: u64, evidence: &Evidence) -> Located {
    let why = match evidence.requests.len() {
        0 => "the check's evidence".to_string(),
        n => format!("the check's evidence ({n} of {} requests)", evidence.requests_total),
    };
    Located { t_ns, requests: evidence.requests.clone(), hosts: evidence.hosts.clone(), why }
}

/// The requests issued in the window from `start_ns` that `bad` picks; the moment is the first
/// of them.
fn in_window(
    index: &TraceIndex,
    start_ns: u64,
    window_ns: u64,
    bad: impl Fn(&RequestRow) -> bool,
    why: String,
) -> Located {
    let mut requests = Vec::new();
    let mut first = None;
    for row in index.rows_between(start_ns, start_ns.saturating_add(window_ns)) {
        if index.kind[row] != Kind::Invoke || requests.len() >= MAX_RELATED {
            continue;
        }
        let Some(Event::Invoke { req, .. }) = index.event(row) else { continue };
        if index.request(req).is_some_and(&bad) {
            first.get_or_insert(index.t_ns[row]);
            requests.push(req);
        }
    }
    Located { t_ns: first.unwrap_or(start_ns), requests, hosts: Vec::new(), why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_reader;
    use crate::state::ReplayState;
    use crate::testkit::{APP, DB, LG, MS, REPLICA, S, header, loaded};
    use faultline_chaos::report::Verdict;
    use faultline_chaos::trace::codec::TraceWriter;
    use faultline_chaos::trace::{Observation, Op, Outcome, Record};
    use std::path::Path;

    /// `db` acknowledges writes 0..4 (LSNs 1..=4 of epoch 1, one every 100 ms from 1 s); the
    /// replica is promoted at 3 s from LSN 2: writes 2 and 3 are lost then.
    fn lossy() -> ReplayState {
        let mut records = vec![
            Record {
                t_ns: 0,
                event: Event::Role { host: DB, role: "primary".into(), epoch: 1, lsn: 0, last_epoch: 0 },
            },
            Record {
                t_ns: 0,
                event: Event::Role { host: REPLICA, role: "replica".into(), epoch: 1, lsn: 0, last_epoch: 0 },
            },
        ];
        for req in 0..4u64 {
            let t_ns = S + req * 100 * MS;
            let invoke = Event::Invoke { req, user: 0, client: LG, service: APP, op: Op::Write, key: 1 };
            let what = Observation::Written { lsn: req + 1, epoch: 1 };
            records.push(Record { t_ns, event: invoke });
            records.push(Record { t_ns: t_ns + MS, event: Event::Observed { req, what } });
            records.push(Record { t_ns: t_ns + MS, event: Event::Complete { req, outcome: Outcome::Ok } });
        }
        let promoted = Event::Role { host: REPLICA, role: "primary".into(), epoch: 2, lsn: 2, last_epoch: 1 };
        records.push(Record { t_ns: 3 * S, event: promoted });
        records.push(Record { t_ns: 10 * S, event: Event::End });
        let mut header = header();
        header.slos.clear();
        let mut writer = TraceWriter::new(Vec::new(), &header).expect("the header encodes");
        for record in &records {
            writer.write(record).expect("records in time order");
        }
        let bytes = writer.finish().expect("the trace finishes").1;
        ReplayState::new(load_reader(bytes.as_slice(), Path::new("lossy.fltrace")).expect("the trace loads"))
    }

    #[test]
    fn a_lost_write_check_jumps_to_the_loss() {
        let mut state = lossy();
        let checks = &state.loaded.report.checks;
        let lost = checks.iter().position(|c| c.name == "no acknowledged write lost").expect("judged");
        assert_eq!(checks[lost].verdict, Verdict::Fail, "{:?}", checks[lost]);
        let located = locate(&state.loaded.index, &state.loaded.report, &checks[lost]).expect("evidence");
        assert_eq!(located.t_ns, 3 * S, "the promotion that dropped them");
        assert_eq!(located.requests, [2, 3]);
        assert_eq!(located.hosts, [DB, REPLICA]);
        assert!(state.jump_to_check(lost));
        assert_eq!(state.cursor_ns, 3 * S);
        assert_eq!(state.highlight.iter().copied().collect::<Vec<_>>(), [2, 3]);
        assert!(state.status.contains("the check's evidence (2 of 2 requests)"), "{}", state.status);
    }

    #[test]
    fn no_evidence_time_no_moment() {
        let state = ReplayState::new(loaded());
        let report = &state.loaded.report;
        let mut check = report.checks.iter().find(|c| c.verdict == Verdict::Fail).expect("a failed check").clone();
        assert!(locate(&state.loaded.index, report, &check).is_some());
        check.evidence = Evidence::default();
        check.detail = "req 42 named in words only".into();
        assert_eq!(locate(&state.loaded.index, report, &check), None, "words are never parsed");
    }

    #[test]
    fn an_end_to_end_slo_refines_its_window() {
        let state = ReplayState::new(loaded());
        let report = &state.loaded.report;
        let check = report.checks.iter().find(|c| c.name == "p99 under 50 ms").expect("the SLO");
        assert_eq!(check.evidence.t_ns, Some(4 * S), "the report's first window over the bound");
        let located = locate(&state.loaded.index, report, check).expect("located");
        assert_eq!(located.t_ns, 4_050 * MS, "the first slow answer in that window");
        assert!(located.requests.iter().all(|&r| (81..100).contains(&r)), "{:?}", located.requests);
    }
}
