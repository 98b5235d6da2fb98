//! Where a failed check broke: the moment to jump to and the operations that show it.
//!
//! Owns: [`locate`]. Rules, first that applies:
//! 1. The check's name or detail names a request (`req=N`, `req N`, `request N`, `req #N`,
//!    `read N`, `write N`) that the trace holds: its invoke time, and that request.
//! 2. The check is an SLO of the header (same name):
//!    - end to end: the first report window (the report's width, requests by issue time) whose
//!      measured value crosses the bound (the window's percentile nearest the SLO's quantile
//!      above the bound; availability below the target); the moment is the first request of
//!      that window that crosses it (slower than the bound; failed), and those requests (up to
//!      [`MAX_RELATED`]) are the related operations;
//!    - per service: the start of the first of that service's windows that crosses it.
//! 3. Otherwise the check names no moment (`None`), and the GUI says so.

use crate::index::{Kind, TraceIndex};
use faultline_chaos::report::{Check, LatencySummary, Report, WindowStats};
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
    /// How the moment was found, in words.
    pub why: String,
}

/// Where `check` broke, if the trace and report can say.
pub fn locate(index: &TraceIndex, report: &Report, check: &Check) -> Option<Located> {
    if let Some(req) = named_request(&check.name).or_else(|| named_request(&check.detail))
        && let Some(request) = index.request(req)
    {
        let t_ns = index.t_ns[request.invoke as usize];
        return Some(Located { t_ns, requests: vec![req], why: format!("the check names request {req}") });
    }
    let slo = index.header.slos.iter().find(|s| s.name == check.name)?;
    let window_ns = (report.window_s * 1e9) as u64;
    match (&slo.service, &slo.kind) {
        (None, SloKind::Latency { quantile, max_ns }) => {
            let max_ms = *max_ns as f64 / 1e6;
            let w = report.windows.iter().find(|w| pick(&w.latency, *quantile) > max_ms)?;
            let slow = |r: &crate::index::RequestRow| r.answered && r.latency_ns > *max_ns;
            Some(in_window(
                index,
                w,
                window_ns,
                slow,
                format!("first window with {} over {max_ms} ms", label(*quantile)),
            ))
        }
        (None, SloKind::Availability { min_ratio }) => {
            let w = report.windows.iter().find(|w| w.requests > 0 && (w.ok as f64 / w.requests as f64) < *min_ratio)?;
            let why = format!("first window with availability under {:.2}%", min_ratio * 100.0);
            Some(in_window(index, w, window_ns, |r| !r.ok, why))
        }
        (Some(service), kind) => {
            let windows = &report.services.iter().find(|s| &s.name == service)?.windows;
            let w = windows.iter().find(|w| match kind {
                SloKind::Latency { quantile, max_ns } => pick(&w.latency, *quantile) > *max_ns as f64 / 1e6,
                SloKind::Availability { min_ratio } => w.requests > 0 && (w.ok as f64 / w.requests as f64) < *min_ratio,
            })?;
            let t_ns = (w.start_s * 1e9) as u64;
            Some(Located { t_ns, requests: Vec::new(), why: format!("first window of {service} over the bound") })
        }
    }
}

/// The requests issued in window `w` that `bad` picks; the moment is the first of them.
fn in_window(
    index: &TraceIndex,
    w: &WindowStats,
    window_ns: u64,
    bad: impl Fn(&crate::index::RequestRow) -> bool,
    why: String,
) -> Located {
    let start_ns = (w.start_s * 1e9).round() as u64;
    let width_ns = if w.width_s > 0.0 { (w.width_s * 1e9).round() as u64 } else { window_ns };
    let mut requests = Vec::new();
    let mut first = None;
    for row in index.rows_between(start_ns, start_ns + width_ns) {
        if index.kind[row] != Kind::Invoke || requests.len() >= MAX_RELATED {
            continue;
        }
        let Some(Event::Invoke { req, .. }) = index.event(row) else { continue };
        if index.request(req).is_some_and(&bad) {
            first.get_or_insert(index.t_ns[row]);
            requests.push(req);
        }
    }
    Located { t_ns: first.unwrap_or(start_ns), requests, why }
}

/// The window's latency at the summary's percentile nearest `quantile`, ms.
fn pick(latency: &LatencySummary, quantile: f64) -> f64 {
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

fn label(quantile: f64) -> String {
    format!("p{}", quantile * 100.0)
}

/// Words that, followed by a number, name a request in a check's detail.
const REQUEST_WORDS: [&str; 4] = ["request", "req", "read", "write"];

/// The first request id named in `text`: `req=N`, `req N`, `req #N`, `request N`, `read N`,
/// `write N` (the word, then optional `=`, `#`, `:` or spaces, then digits).
pub fn named_request(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let mut best: Option<(usize, u64)> = None;
    for word in REQUEST_WORDS {
        for (at, _) in lower.match_indices(word) {
            let word_start = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let after = &lower[at + word.len()..];
            let digits = after.trim_start_matches(['=', ' ', '#', ':']);
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            if word_start
                && end > 0
                && let Ok(req) = digits[..end].parse()
                && best.is_none_or(|(b, _)| at < b)
            {
                best = Some((at, req));
            }
        }
    }
    best.map(|(_, req)| req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<u64>) {
        assert_eq!(named_request(text), expected, "{text}");
    }

    #[test]
    fn request_ids_in_words() {
        check("lost write req=42 at lsn 7", Some(42));
        check("read of request 17 saw an old value", Some(17));
        check("req #9", Some(9));
        check("requests 5 of 10 ok", None);
        check("no id here", None);
        check("req=", None);
        check("max 3058.0 ms > 250.0 ms (5571 of 14011 reads over; worst: read 1099511641711)", Some(1099511641711));
        check("lost write 12 of user 3", Some(12));
        check("prereq 5", None);
    }
}
