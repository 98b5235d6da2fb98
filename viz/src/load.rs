//! Opening a trace: one streaming pass that builds the index, the plot series and the report.
//!
//! Owns: [`load_path`] / [`load_reader`] and [`LoadError`]. The report is the one chaos builds
//! ([`Analyzer`]), fed the same records in the same pass, so the GUI shows exactly what
//! `faultline run` printed. Must not: panic on any input (a damaged trace is an error value
//! naming what is wrong and where, a newer format says so).

use crate::index::{IndexBuilder, TraceIndex};
use crate::series::Series;
use faultline_chaos::report::{Analyzer, Report};
use faultline_chaos::trace::codec::{TraceError, TraceHash, TraceReader};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a trace could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a readable trace (not a trace, truncated, corrupt, newer format).
    #[error("{path} is not a readable trace: {source}")]
    Trace {
        /// The file.
        path: PathBuf,
        /// What the reader found.
        source: TraceError,
    },
}

/// A trace, loaded and indexed.
#[derive(Debug)]
pub struct Loaded {
    /// Where it came from (for the title bar).
    pub path: PathBuf,
    /// The index.
    pub index: TraceIndex,
    /// The plots' data.
    pub series: Series,
    /// The report, as chaos computes it from the trace.
    pub report: Report,
    /// The verified trace hash.
    pub hash: TraceHash,
    /// The trace's format version.
    pub format_version: u16,
    /// Wall time spent reading, indexing and judging.
    pub load_time: Duration,
}

/// Opens and indexes the trace at `path`.
pub fn load_path(path: &Path) -> Result<Loaded, LoadError> {
    let file = std::fs::File::open(path).map_err(|source| LoadError::Open { path: path.into(), source })?;
    load_reader(std::io::BufReader::with_capacity(1 << 16, file), path)
}

/// Indexes a trace read from `input`; `path` only names it in errors.
pub fn load_reader(input: impl Read, path: &Path) -> Result<Loaded, LoadError> {
    let started = Instant::now();
    let wrap = |source| LoadError::Trace { path: path.into(), source };
    let mut reader = TraceReader::new(input).map_err(wrap)?;
    let header = reader.header().clone();
    let format_version = reader.format_version();
    let mut builder = IndexBuilder::new(&header);
    let mut analyzer = Analyzer::new(&header);
    while let Some(record) = reader.next_record().map_err(wrap)? {
        analyzer.observe(&record);
        builder.push(&record);
    }
    let hash = reader.hash().expect("the reader verified the footer before its clean end");
    let report = analyzer.finish(hash, reader.records());
    let index = builder.finish();
    let series = Series::build(&index);
    Ok(Loaded { path: path.into(), index, series, report, hash, format_version, load_time: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::trace_bytes;

    fn error_of(bytes: &[u8]) -> String {
        match load_reader(bytes, Path::new("bad.fltrace")) {
            Ok(_) => panic!("a damaged trace loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_trace_loads_with_its_report() {
        let loaded = load_reader(trace_bytes().as_slice(), Path::new("t")).expect("loads");
        assert_eq!(loaded.report.end_to_end.requests, 200);
        assert_eq!(loaded.report.trace_hash, loaded.hash.to_string());
        assert!(!loaded.report.passed());
    }

    #[test]
    fn damaged_traces_are_errors_that_say_why() {
        let bytes = trace_bytes();
        let truncated = error_of(&bytes[..bytes.len() / 2]);
        assert!(truncated.contains("bad.fltrace is not a readable trace"), "{truncated}");
        assert!(truncated.contains("truncated") || truncated.contains("corrupt"), "{truncated}");
        let garbage = error_of(b"hello world, not a trace");
        assert!(garbage.contains("not a Faultline trace"), "{garbage}");
        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&999u16.to_le_bytes());
        let newer = error_of(&newer);
        assert!(newer.contains("format version 999"), "{newer}");
        assert!(error_of(&[]).contains("empty"));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let e = load_path(Path::new("/nonexistent/trace.fltrace")).expect_err("no such file");
        assert!(e.to_string().starts_with("cannot open /nonexistent/trace.fltrace"), "{e}");
    }
}
