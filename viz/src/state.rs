//! [`ReplayState`]: a loaded trace and where the user is in it — cursor, playback, log
//! filter, selection — with every move the panels make, testable without a window.
//!
//! Owns: the cursor (a time, plus the row it sits on so stepping walks rows that share a time),
//! playback, the markers (faults and located check violations), the log filter and its cached
//! result, the highlighted operations. Must not: draw anything, or scan the trace per frame
//! (the filtered log rows are recomputed only when the filter changes).

use crate::index::{Kind, NO_HOST};
use crate::load::Loaded;
use crate::locate::{Located, locate};
use faultline_chaos::report::Verdict;
use faultline_chaos::trace::Event;
use faultline_chaos::trace::text::host_names;
use std::collections::BTreeSet;

/// Playback speeds offered, in simulated seconds per wall second.
pub const SPEEDS: [f64; 8] = [0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 20.0];

/// What a timeline marker marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// A fault was applied.
    Fault,
    /// A check that did not pass (failed, or could not decide) points here.
    Violation,
}

/// A point of interest on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// When.
    pub t_ns: u64,
    /// What.
    pub kind: MarkerKind,
    /// Text for people.
    pub label: String,
    /// For a violation, the index of its check in the report.
    pub check: Option<usize>,
}

/// The event log's filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only rows that name this host (as sender or receiver, client or target).
    pub host: Option<u16>,
    /// Only rows of this kind.
    pub kind: Option<Kind>,
    /// Only rows whose text contains this (case-insensitive).
    pub text: String,
}

impl LogFilter {
    fn is_empty(&self) -> bool {
        *self == LogFilter::default()
    }
}

/// The state of one replay.
#[derive(Debug)]
pub struct ReplayState {
    /// The trace, its index, plot series and report.
    pub loaded: Loaded,
    /// The cursor, nanoseconds since the start of the run.
    pub cursor_ns: u64,
    /// The row the cursor sits on (the last row at or before the cursor), if any.
    pub cursor_row: Option<usize>,
    /// Whether playback is running.
    pub playing: bool,
    /// Playback speed, simulated seconds per wall second.
    pub speed: f64,
    /// The log's filter.
    pub filter: LogFilter,
    filtered: Option<(LogFilter, Vec<u32>)>,
    /// Half-width of the message-flow window around the cursor, nanoseconds.
    pub flow_half_ns: u64,
    /// Highlighted operations (request ids).
    pub highlight: BTreeSet<u64>,
    /// The check selected in the report panel.
    pub selected_check: Option<usize>,
    /// Faults and located violations, in time order.
    pub markers: Vec<Marker>,
    /// The last thing a jump or command said, for the status line.
    pub status: String,
    /// Set when the cursor moved by anything but the log itself: the log scrolls to it.
    pub log_follow: bool,
}

impl ReplayState {
    /// A replay of `loaded`, the cursor at the start.
    pub fn new(loaded: Loaded) -> Self {
        let markers = markers(&loaded);
        let mut state = ReplayState {
            loaded,
            cursor_ns: 0,
            cursor_row: None,
            playing: false,
            speed: 1.0,
            filter: LogFilter::default(),
            filtered: None,
            flow_half_ns: 10_000_000,
            highlight: BTreeSet::new(),
            selected_check: None,
            markers,
            status: String::new(),
            log_follow: true,
        };
        state.set_cursor(0);
        state
    }

    /// The run's length as shown, nanoseconds.
    pub fn span_ns(&self) -> u64 {
        self.loaded.index.span_ns()
    }

    /// Moves the cursor to `t_ns` (clamped to the run).
    pub fn set_cursor(&mut self, t_ns: u64) {
        self.cursor_ns = t_ns.min(self.span_ns());
        let index = &self.loaded.index;
        self.cursor_row = index.t_ns.partition_point(|&t| t <= self.cursor_ns).checked_sub(1);
        self.log_follow = true;
    }

    /// Moves the cursor onto row `row`.
    pub fn set_cursor_row(&mut self, row: usize) {
        if let Some(&t_ns) = self.loaded.index.t_ns.get(row) {
            self.cursor_ns = t_ns;
            self.cursor_row = Some(row);
            self.log_follow = true;
        }
    }

    /// Steps to the next row (`forward`) or the previous one; `false` at either end.
    pub fn step(&mut self, forward: bool) -> bool {
        let len = self.loaded.index.len();
        let next = match (self.cursor_row, forward) {
            (None, true) => (len > 0).then_some(0),
            (None, false) => None,
            (Some(row), true) => (row + 1 < len).then_some(row + 1),
            (Some(row), false) => row.checked_sub(1),
        };
        match next {
            Some(row) => {
                self.set_cursor_row(row);
                true
            }
            None => false,
        }
    }

    /// Jumps to the next (`forward`) or previous marker of `kind`; `false` when there is none.
    pub fn jump(&mut self, kind: MarkerKind, forward: bool) -> bool {
        let now = self.cursor_ns;
        let found = if forward {
            self.markers.iter().find(|m| m.kind == kind && m.t_ns > now)
        } else {
            self.markers.iter().rev().find(|m| m.kind == kind && m.t_ns < now)
        };
        let Some(marker) = found.cloned() else {
            let what = if kind == MarkerKind::Fault { "fault" } else { "violation" };
            self.status = format!("no {} {what}", if forward { "next" } else { "previous" });
            return false;
        };
        self.status = marker.label.clone();
        match marker.check {
            Some(check) => {
                self.jump_to_check(check);
            }
            None => self.set_cursor(marker.t_ns),
        }
        true
    }

    /// Selects the report's check `check`, moves the cursor to where it broke and highlights
    /// the operations that show it; `false` when the check names no moment.
    pub fn jump_to_check(&mut self, check: usize) -> bool {
        self.selected_check = Some(check);
        let Some(c) = self.loaded.report.checks.get(check) else { return false };
        let name = c.name.clone();
        match locate(&self.loaded.index, &self.loaded.report, c) {
            Some(Located { t_ns, requests, why, .. }) => {
                self.highlight = requests.into_iter().collect();
                self.set_cursor(t_ns);
                // Sit on the first highlighted row at that time, if any.
                let index = &self.loaded.index;
                let first = index.row_at_or_after(t_ns);
                if let Some(row) = (first..index.len().min(first + 64))
                    .take_while(|&r| index.t_ns[r] == t_ns)
                    .find(|&r| index.request_of_row(r).is_some_and(|q| self.highlight.contains(&q)))
                {
                    self.cursor_row = Some(row);
                }
                self.status = format!("{name}: {why} at {:.3} s", t_ns as f64 / 1e9);
                true
            }
            None => {
                self.highlight.clear();
                self.status = format!("{name}: the trace names no moment for this check");
                false
            }
        }
    }

    /// Advances playback by `wall_s` seconds of wall time; stops at the end.
    pub fn tick(&mut self, wall_s: f64) {
        if !self.playing {
            return;
        }
        let advance_ns = (wall_s.max(0.0) * self.speed * 1e9) as u64;
        let target = self.cursor_ns.saturating_add(advance_ns.max(1));
        self.set_cursor(target);
        if self.cursor_ns >= self.span_ns() {
            self.playing = false;
        }
    }

    /// Rows of the log under the current filter: how many.
    pub fn log_len(&mut self) -> usize {
        match self.filtered_rows() {
            Some(rows) => rows.len(),
            None => self.loaded.index.len(),
        }
    }

    /// The trace row shown at log position `i`.
    pub fn log_row(&mut self, i: usize) -> Option<usize> {
        match self.filtered_rows() {
            Some(rows) => rows.get(i).map(|&r| r as usize),
            None => (i < self.loaded.index.len()).then_some(i),
        }
    }

    /// The log position of the last shown row at or before the cursor (0 when none).
    pub fn log_position_of_cursor(&mut self) -> usize {
        let limit = self.cursor_row.map_or(0, |r| r + 1);
        match self.filtered_rows() {
            // Rows are in time order, so the row number orders them like the cursor does.
            Some(rows) => rows.partition_point(|&r| (r as usize) < limit).saturating_sub(1),
            None => limit.saturating_sub(1),
        }
    }

    fn filtered_rows(&mut self) -> Option<&[u32]> {
        if self.filter.is_empty() {
            self.filtered = None;
            return None;
        }
        if self.filtered.as_ref().is_none_or(|(f, _)| *f != self.filter) {
            let rows = filter_rows(&self.loaded, &self.filter);
            self.filtered = Some((self.filter.clone(), rows));
        }
        self.filtered.as_ref().map(|(_, rows)| rows.as_slice())
    }
}

/// The rows that pass `filter`: columns first, text (decoded) last.
fn filter_rows(loaded: &Loaded, filter: &LogFilter) -> Vec<u32> {
    let index = &loaded.index;
    let needle = filter.text.to_lowercase();
    (0..index.len())
        .filter(|&r| filter.kind.is_none_or(|k| index.kind[r] == k))
        .filter(|&r| filter.host.is_none_or(|h| h != NO_HOST && (index.host[r] == h || index.peer[r] == h)))
        .filter(|&r| needle.is_empty() || index.text(r).to_lowercase().contains(&needle))
        .map(|r| r as u32)
        .collect()
}

/// Faults from the trace and the located moment of every check that did not pass, in time
/// order.
fn markers(loaded: &Loaded) -> Vec<Marker> {
    let index = &loaded.index;
    let names = host_names(&index.header);
    let mut markers: Vec<Marker> = index
        .faults
        .iter()
        .filter_map(|&row| match index.event(row as usize)? {
            Event::Fault(fault) => Some(Marker {
                t_ns: index.t_ns[row as usize],
                kind: MarkerKind::Fault,
                label: fault.describe(&names),
                check: None,
            }),
            _ => None,
        })
        .collect();
    for (i, check) in loaded.report.checks.iter().enumerate().filter(|(_, c)| c.verdict != Verdict::Pass) {
        if let Some(located) = locate(index, &loaded.report, check) {
            let what = if check.verdict == Verdict::Fail { "failed" } else { "could not decide" };
            let label = format!("{} {what}: {}", check.name, check.detail);
            markers.push(Marker { t_ns: located.t_ns, kind: MarkerKind::Violation, label, check: Some(i) });
        }
    }
    markers.sort_by_key(|m| m.t_ns);
    markers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{APP, MS, REPLICA, S, loaded};

    fn state() -> ReplayState {
        ReplayState::new(loaded())
    }

    #[test]
    fn markers_hold_faults_and_violations_in_time_order() {
        let state = state();
        let faults: Vec<u64> = state.markers.iter().filter(|m| m.kind == MarkerKind::Fault).map(|m| m.t_ns).collect();
        assert_eq!(faults, [4 * S, 6 * S, 7 * S, 8 * S]);
        let violations: Vec<&Marker> = state.markers.iter().filter(|m| m.kind == MarkerKind::Violation).collect();
        assert_eq!(violations.len(), 2, "{violations:?}");
        // Availability breaks with the first timeout (4 s), p99 with the first slow answer (4.05 s).
        assert_eq!(violations[0].t_ns, 4 * S, "{violations:?}");
        assert_eq!(violations[1].t_ns, 4_050 * MS, "{violations:?}");
        assert!(state.markers.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
    }

    #[test]
    fn stepping_walks_rows_one_by_one() {
        let mut state = state();
        assert_eq!(state.cursor_row, Some(2), "two role rows and an invoke at t = 0");
        assert!(state.step(false));
        assert_eq!(state.cursor_row, Some(1));
        state.set_cursor_row(0);
        assert!(!state.step(false), "nothing before the first row");
        assert!(state.step(true));
        assert_eq!(state.cursor_row, Some(1));
        assert_eq!(state.cursor_ns, 0);
        let last = state.loaded.index.len() - 1;
        state.set_cursor_row(last);
        assert!(!state.step(true), "nothing after the last row");
        assert_eq!(state.cursor_ns, 10 * S);
    }

    #[test]
    fn jumps_to_faults_both_ways() {
        let mut state = state();
        assert!(state.jump(MarkerKind::Fault, true));
        assert_eq!(state.cursor_ns, 4 * S);
        assert!(state.status.contains("kill db-replica"), "{}", state.status);
        assert!(state.jump(MarkerKind::Fault, true));
        assert_eq!(state.cursor_ns, 6 * S);
        assert!(state.jump(MarkerKind::Fault, false));
        assert_eq!(state.cursor_ns, 4 * S);
        assert!(!state.jump(MarkerKind::Fault, false));
        assert_eq!(state.status, "no previous fault");
    }

    #[test]
    fn a_failed_latency_check_jumps_to_its_first_slow_request() {
        let mut state = state();
        let check = state.loaded.report.checks.iter().position(|c| c.name == "p99 under 50 ms").expect("the SLO check");
        assert_eq!(state.loaded.report.checks[check].verdict, Verdict::Fail);
        assert!(state.jump_to_check(check));
        assert_eq!(state.cursor_ns, 4_050 * MS);
        assert_eq!(state.selected_check, Some(check));
        // Requests 80..=99 run from 4 s; those of the 4 s window (80..=99) answered are slow.
        assert!(state.highlight.contains(&81), "{:?}", state.highlight);
        assert!(!state.highlight.contains(&80), "request 80 timed out: it has no latency");
        let row = state.cursor_row.expect("a row");
        assert_eq!(state.loaded.index.request_of_row(row), Some(81));
        let passing = state.loaded.report.checks.iter().position(|c| c.passed()).expect("a passing check");
        assert!(!state.jump_to_check(passing));
        assert!(state.highlight.is_empty());
    }

    #[test]
    fn the_availability_check_highlights_failed_requests() {
        let mut state = state();
        let check = state.loaded.report.checks.iter().position(|c| c.name == "availability 99%").expect("the SLO");
        assert!(state.jump_to_check(check));
        assert_eq!(state.highlight.iter().copied().collect::<Vec<_>>(), [80, 84, 88, 92, 96]);
        assert_eq!(state.cursor_ns, 4 * S);
    }

    #[test]
    fn the_log_filter_narrows_rows_and_follows_the_cursor() {
        let mut state = state();
        let all = state.log_len();
        assert_eq!(all, state.loaded.index.len());
        state.filter.kind = Some(Kind::Fault);
        assert_eq!(state.log_len(), 4);
        state.filter.text = "PARTITION".into();
        assert_eq!(state.log_len(), 1);
        let row = state.log_row(0).expect("one row");
        assert!(state.loaded.index.text(row).contains("partition [db] | [db-replica]"));
        state.filter = LogFilter { host: Some(REPLICA), ..LogFilter::default() };
        let replica_rows = state.log_len();
        assert!(replica_rows > 4 && replica_rows < all, "{replica_rows}");
        state.filter = LogFilter { host: Some(APP), kind: Some(Kind::Sample), text: String::new() };
        assert_eq!(state.log_len(), 36);
        state.set_cursor(5 * S + 1);
        let position = state.log_position_of_cursor();
        let row = state.log_row(position).expect("a row");
        assert_eq!(state.loaded.index.t_ns[row], 5 * S, "the last app sample at or before the cursor");
    }

    #[test]
    fn playback_advances_at_its_speed_and_stops_at_the_end() {
        let mut state = state();
        state.tick(1.0);
        assert_eq!(state.cursor_ns, 0, "paused: no move");
        state.playing = true;
        state.speed = 0.5;
        state.tick(0.2);
        assert_eq!(state.cursor_ns, 100 * MS);
        state.speed = 20.0;
        state.tick(1.0);
        assert_eq!(state.cursor_ns, 10 * S);
        assert!(!state.playing);
    }
}
