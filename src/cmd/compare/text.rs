//! The comparison as text for a terminal: one column per scenario (headed by its name, wrapped
//! over lines when long), one row per figure, aligned; then the failed checks and each run's
//! trace hash.
//!
//! Three scenarios fit 100 columns: labels take at most [`LABEL_WIDTH`] characters (a longer
//! one, a fault's text, is shortened to a numbered note under the table), a column at most
//! [`COLUMN_WIDTH`].
//!
//! Owns: the text layout. Must not: compute a figure (cells come from [`super::rows`]).

use super::rows::{Row, Unit};
use serde_json::Value;
use std::fmt::Write;

/// The widest label.
pub const LABEL_WIDTH: usize = 40;

/// The widest scenario column.
pub const COLUMN_WIDTH: usize = 18;

/// The narrowest scenario column.
const MIN_COLUMN_WIDTH: usize = 10;

/// `text` cut into lines of at most `width` characters, after a `-`, `_` or space when one is
/// near the end of a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines = Vec::new();
    let mut start = 0;
    while chars.len() - start > width {
        let window = &chars[start..start + width];
        let cut = window.iter().rposition(|c| matches!(c, '-' | '_' | ' ')).filter(|&i| i >= width / 2);
        let end = cut.map_or(start + width, |i| start + i + 1);
        lines.push(chars[start..end].iter().collect::<String>().trim_end().to_string());
        start = end;
    }
    lines.push(chars[start..].iter().collect());
    lines
}

/// The table's labels, each at most [`LABEL_WIDTH`], and the notes for those shortened.
fn labels(rows: &[Row]) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let labels = rows
        .iter()
        .map(|row| {
            if row.unit == Unit::Section {
                return row.label.clone();
            }
            let label = format!("  {}", row.label);
            if label.chars().count() <= LABEL_WIDTH {
                return label;
            }
            let (head, tail) = row.label.split_once(", ").unwrap_or(("", row.label.as_str()));
            let n = match notes.iter().position(|t| t == tail) {
                Some(i) => i + 1,
                None => {
                    notes.push(tail.to_string());
                    notes.len()
                }
            };
            format!("  {head} [{n}]")
        })
        .collect();
    (labels, notes.iter().enumerate().map(|(i, t)| format!("[{}] {t}", i + 1)).collect())
}

/// The comparison for a terminal. `comparison` is the JSON value of the whole comparison.
pub fn render(comparison: &Value, rows: &[Row]) -> String {
    let columns: Vec<&Value> = comparison["scenarios"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let seeds: Vec<u64> =
        comparison["seeds"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let mut out = String::new();
    let seed_text = match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if a != b => format!("seeds {a}..{b}"),
        (Some(a), _) => format!("seed {a}"),
        (None, _) => "no seed".to_string(),
    };
    let _ = writeln!(out, "faultline compare: {} scenario(s), each under {seed_text}", columns.len());
    let _ = writeln!(out);
    let (labels, notes) = labels(rows);
    let label_width = labels
        .iter()
        .zip(rows)
        .filter(|(_, row)| row.unit != Unit::Section)
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let cells: Vec<Vec<String>> = rows.iter().map(|r| columns.iter().map(|c| r.cell(c)).collect()).collect();
    let names: Vec<&str> = columns.iter().map(|c| c["name"].as_str().unwrap_or("")).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            let widest = cells.iter().map(|row| row[i].chars().count()).chain([names[i].chars().count()]).max();
            widest.unwrap_or(0).clamp(MIN_COLUMN_WIDTH, COLUMN_WIDTH)
        })
        .collect();
    let headers: Vec<Vec<String>> = names.iter().zip(&widths).map(|(n, &w)| wrap(n, w)).collect();
    let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..header_lines {
        let mut text = format!("{:label_width$}", "");
        for (header, &w) in headers.iter().zip(&widths) {
            let _ = write!(text, "  {:>w$}", header.get(line).map_or("", String::as_str));
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    for ((label, row), cells) in labels.iter().zip(rows).zip(&cells) {
        let mut text = format!("{label:label_width$}");
        if row.unit != Unit::Section {
            for (cell, &w) in cells.iter().zip(&widths) {
                let _ = write!(text, "  {cell:>w$}");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "latency: {}", comparison["latency"].as_str().unwrap_or(""));
    let _ = writeln!(out, "plots (--format html): {}", comparison["plot"].as_str().unwrap_or(""));
    for note in notes {
        let _ = writeln!(out, "{note}");
    }
    for column in &columns {
        footer(&mut out, column);
    }
    out
}

/// A scenario's failed and undecided checks, and its runs' trace hashes.
fn footer(out: &mut String, column: &Value) {
    let name = column["name"].as_str().unwrap_or("");
    let file = column["file"].as_str().unwrap_or("");
    let _ = writeln!(out);
    let _ = writeln!(out, "{name} ({file})");
    for (what, key) in [("failed", "failed"), ("could not decide", "undecided")] {
        let Some(checks) = column["checks"][key].as_object() else { continue };
        for (check, seeds) in checks {
            let seeds: Vec<String> = seeds.as_array().into_iter().flatten().map(|s| s.to_string()).collect();
            let _ = writeln!(out, "  {what}: {check} (seed {})", seeds.join(", "));
        }
    }
    if let Some(note) = column["capacity"]["note"].as_str() {
        let _ = writeln!(out, "  capacity: {note}");
    }
    for run in column["runs"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  seed {}: trace {}", run["seed"], run["trace_hash"].as_str().unwrap_or(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_wrap_after_a_dash() {
        assert_eq!(wrap("quickstart", 18), ["quickstart"]);
        assert_eq!(wrap("sessions-memory-round-robin", 18), ["sessions-memory-", "round-robin"]);
        assert_eq!(wrap("abcdefghijklmnopqrstuvwxyz", 10), ["abcdefghij", "klmnopqrst", "uvwxyz"]);
    }

    #[test]
    fn long_labels_become_numbered_notes() {
        let rows = vec![
            Row { key: "/a".into(), label: "p50".into(), unit: Unit::Ns },
            Row {
                key: "/b".into(),
                label: "RTO mean, partition [db1,db2,db3] | [app,cache] at 9s".into(),
                unit: Unit::Rto,
            },
            Row {
                key: "/c".into(),
                label: "RTO max, partition [db1,db2,db3] | [app,cache] at 9s".into(),
                unit: Unit::Rto,
            },
        ];
        let (labels, notes) = labels(&rows);
        assert_eq!(labels, ["  p50", "  RTO mean [1]", "  RTO max [1]"]);
        assert_eq!(notes, ["[1] partition [db1,db2,db3] | [app,cache] at 9s"]);
    }
}
