//! A sweep's progress on standard error while it runs: on a terminal a bar (runs done of all,
//! failures so far, seeds per second, time left); elsewhere (CI logs) plain lines, one per run
//! that did not pass as it finishes and one each tenth of the runs.
//!
//! Owns: those lines and the bar. Must not: write to standard output (it holds the summary
//! alone) or decide anything about a run.

use super::results::RunResult;
use super::run_line;
use faultline_chaos::report::Verdict;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// How progress is shown.
enum Mode {
    /// An indicatif bar on a terminal.
    Bar(ProgressBar),
    /// Plain lines on standard error; the count at which the next tenth is reported.
    Lines { next_report: usize },
}

/// Progress of `total` runs.
pub struct Progress {
    total: usize,
    done: usize,
    failed: usize,
    started: Instant,
    mode: Mode,
}

impl Progress {
    /// Progress of `total` runs: a bar when `terminal`, else plain lines.
    pub fn new(total: usize, terminal: bool) -> Progress {
        let mode = match terminal {
            true => {
                let style = ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} runs, {msg}, {per_sec}, ETA {eta} ({elapsed} so far)",
                )
                .expect("a valid template");
                let bar = ProgressBar::new(total as u64).with_style(style).with_message("0 failed");
                Mode::Bar(bar)
            }
            false => Mode::Lines { next_report: step(total, 1) },
        };
        Progress { total, done: 0, failed: 0, started: Instant::now(), mode }
    }

    /// Counts a finished run and shows it.
    pub fn finished(&mut self, result: &RunResult) {
        for line in self.advance(result) {
            match &self.mode {
                Mode::Bar(bar) => bar.println(line),
                Mode::Lines { .. } => eprintln!("{line}"),
            }
        }
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(format!("{} failed", self.failed));
            bar.inc(1);
        }
    }

    /// Counts a finished run; returns the lines to show for it.
    fn advance(&mut self, result: &RunResult) -> Vec<String> {
        self.done += 1;
        let mut lines = Vec::new();
        match (&result.internal_error, result.verdict()) {
            (Some(error), _) => lines.push(run_line("INTERNAL ERROR", result, error)),
            (None, Verdict::Fail) => lines.push(run_line("FAIL", result, &result.failed.join("; "))),
            (None, Verdict::Unknown) => lines.push(run_line("UNKNOWN", result, &result.undecided.join("; "))),
            (None, Verdict::Pass) => {}
        }
        self.failed += usize::from(result.verdict() == Verdict::Fail || result.internal_error.is_some());
        if let Mode::Lines { next_report } = &mut self.mode
            && self.done >= *next_report
        {
            let tenths = self.done * 10 / self.total.max(1);
            *next_report = step(self.total, tenths + 1);
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let percent = self.done * 100 / self.total.max(1);
            lines.push(format!(
                "progress: {}/{} runs ({percent}%), {} failed, {rate:.1} seeds/s",
                self.done, self.total, self.failed
            ));
        }
        lines
    }

    /// Ends the bar (its last state stays on the terminal).
    pub fn close(self) {
        if let Mode::Bar(bar) = self.mode {
            bar.finish();
        }
    }
}

/// The number of runs done at which `tenths` tenths of `total` are done (at least 1 run).
fn step(total: usize, tenths: usize) -> usize {
    (total * tenths).div_ceil(10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::sweep::results::RunKey;
    use std::path::Path;

    #[test]
    fn plain_lines_say_each_failure_and_each_tenth() {
        let mut progress = Progress::new(40, false);
        let mut lines = Vec::new();
        for seed in 1..=40 {
            let mut r = RunResult::new(&RunKey::new(Path::new("s.toml"), seed), "00");
            if seed % 8 == 0 {
                r.failed = vec!["availability".into()];
            }
            lines.extend(progress.advance(&r));
        }
        let failures: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL ")).collect();
        assert_eq!(failures.len(), 5, "{lines:#?}");
        assert_eq!(failures[0], "FAIL s.toml --seed 8: availability");
        let reports: Vec<&String> = lines.iter().filter(|l| l.starts_with("progress: ")).collect();
        assert_eq!(reports.len(), 10, "{lines:#?}");
        assert!(reports[0].starts_with("progress: 4/40 runs (10%), 0 failed"), "{}", reports[0]);
        assert!(reports[9].starts_with("progress: 40/40 runs (100%), 5 failed"), "{}", reports[9]);
    }

    #[test]
    fn the_bar_counts_runs_and_failures() {
        let mut progress = Progress::new(3, true);
        let mut failing = RunResult::new(&RunKey::new(Path::new("s.toml"), 1), "00");
        failing.failed = vec!["availability".into()];
        progress.finished(&failing);
        progress.finished(&RunResult::new(&RunKey::new(Path::new("s.toml"), 2), "00"));
        let Mode::Bar(bar) = &progress.mode else { panic!("a terminal gets the bar") };
        assert_eq!((bar.position(), bar.length()), (2, Some(3)));
        assert_eq!(bar.message(), "1 failed");
        progress.close();
    }

    #[test]
    fn a_short_sweep_reports_every_run() {
        let mut progress = Progress::new(3, false);
        let r = RunResult::new(&RunKey::new(Path::new("s.toml"), 1), "00");
        let reports: usize = (0..3).map(|_| progress.advance(&r).len()).sum();
        assert_eq!(reports, 3);
        assert_eq!((step(3, 1), step(3, 4), step(0, 1)), (1, 2, 1));
    }
}
