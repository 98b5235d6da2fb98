//! The judgement of a run, computed from its trace alone. SKELETON: API fixed, bodies to come.

use crate::trace::codec::TraceHash;
use crate::trace::{Header, Record};
use serde::Serialize;

/// One check and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub pass: bool,
    /// The measured value and the bound, in words.
    pub detail: String,
}

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every check, SLOs included.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
    /// The report for a terminal: aligned columns, units on every figure.
    pub fn render_text(&self) -> String {
        todo!()
    }
}

/// Builds a report from records fed in time order.
pub struct Analyzer {}

impl Analyzer {
    /// An analyzer for a run with `header`.
    pub fn new(header: &Header) -> Self {
        let _ = header;
        todo!()
    }
    /// Feeds one record.
    pub fn observe(&mut self, record: &Record) {
        let _ = record;
        todo!()
    }
    /// The report; `hash` and `records` come from the trace writer.
    pub fn finish(self, hash: TraceHash, records: u64) -> Report {
        let _ = (hash, records);
        todo!()
    }
}
