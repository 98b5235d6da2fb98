//! The comparison as one self-contained HTML page: the table (one column per scenario, one
//! row per figure), the notes, then each scenario's latency plot as inline SVG.
//!
//! Every figure cell carries `data-figure` (its row's key: a JSON pointer into the scenario's
//! object of the JSON) and `data-value` (the JSON value there, as the JSON writes it: a number,
//! or `null`), so a tool can check the page against the JSON.
//!
//! Owns: the page. Must not: compute a figure, or refer to anything outside the file (no
//! external script, stylesheet, font or image: it opens offline).

use super::plot::{escape, svg};
use super::rows::{Row, Unit};
use serde_json::Value;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222}\
table{border-collapse:collapse;margin-bottom:16px}\
th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4}\
thead th{text-align:right;vertical-align:bottom;border-bottom:2px solid #888}\
tbody th{text-align:left;font-weight:normal}\
tr.section th{font-weight:bold;padding-top:12px;border-bottom:1px solid #aaa}\
td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.note{color:#555;font-size:90%}\
figure{display:inline-block;margin:8px 16px 8px 0}\
svg text{font-family:sans-serif;font-size:11px;fill:#333}\
svg text.title{font-size:12px;font-weight:bold}";

/// The page for `comparison` (the JSON value of the whole comparison).
pub fn render(comparison: &Value, rows: &[Row]) -> String {
    let columns: Vec<&Value> = comparison["scenarios"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<title>faultline compare</title>\n");
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let seeds: Vec<String> = comparison["seeds"].as_array().into_iter().flatten().map(|s| s.to_string()).collect();
    let _ = writeln!(out, "<h1>faultline compare</h1>");
    let _ = writeln!(
        out,
        "<p class=\"note\">{} scenario(s), each under seeds {}. Latency: {}. Plots: {}.</p>",
        columns.len(),
        seeds.join(", "),
        escape(comparison["latency"].as_str().unwrap_or("")),
        escape(comparison["plot"].as_str().unwrap_or(""))
    );
    table(&mut out, &columns, rows);
    notes(&mut out, &columns);
    out.push_str("<section id=\"plots\">\n");
    for column in &columns {
        let _ = writeln!(out, "<figure>{}</figure>", svg(column));
    }
    out.push_str("</section>\n</body>\n</html>\n");
    out
}

fn table(out: &mut String, columns: &[&Value], rows: &[Row]) {
    out.push_str("<table id=\"comparison\">\n<thead><tr><th></th>");
    for column in columns {
        let name = escape(column["name"].as_str().unwrap_or(""));
        let file = escape(column["file"].as_str().unwrap_or(""));
        let _ = write!(out, "<th scope=\"col\" title=\"{file}\">{name}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        if row.unit == Unit::Section {
            let _ = writeln!(
                out,
                "<tr class=\"section\"><th colspan=\"{}\">{}</th></tr>",
                columns.len() + 1,
                escape(&row.label)
            );
            continue;
        }
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(&row.label));
        for column in columns {
            let _ = write!(
                out,
                "<td data-figure=\"{}\" data-value=\"{}\">{}</td>",
                escape(&row.key),
                escape(&row.value(column).to_string()),
                escape(&row.cell(column))
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Each scenario's failed checks and runs.
fn notes(out: &mut String, columns: &[&Value]) {
    for column in columns {
        let name = escape(column["name"].as_str().unwrap_or(""));
        let file = escape(column["file"].as_str().unwrap_or(""));
        let _ = write!(out, "<p class=\"note\"><b>{name}</b> ({file})");
        for (what, key) in [("failed", "failed"), ("could not decide", "undecided")] {
            for (check, seeds) in column["checks"][key].as_object().into_iter().flatten() {
                let seeds: Vec<String> = seeds.as_array().into_iter().flatten().map(|s| s.to_string()).collect();
                let _ = write!(out, "<br>{what}: {} (seed {})", escape(check), seeds.join(", "));
            }
        }
        if let Some(note) = column["capacity"]["note"].as_str() {
            let _ = write!(out, "<br>capacity: {}", escape(note));
        }
        for run in column["runs"].as_array().into_iter().flatten() {
            let hash = escape(run["trace_hash"].as_str().unwrap_or(""));
            let _ = write!(out, "<br>seed {}: trace <code>{hash}</code>", run["seed"]);
        }
        out.push_str("</p>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_carry_their_key_and_json_value_and_nothing_is_fetched() {
        let comparison = json!({"seeds": [1, 2], "latency": "pooled", "plot": "median", "scenarios": [
            {"name": "a&b", "file": "a.toml", "availability": {"share": 0.5}, "checks": {"seeds": 2, "passed_seeds": 1,
             "failed": {"p99 < 5 ms": [2]}}, "plot": {"window_ns": 1, "windows": []}, "runs": []}]});
        let rows = vec![
            Row { key: "/availability/share".into(), label: "successes / requests".into(), unit: Unit::Share },
            Row { key: "/latency/p99_ns".into(), label: "p99".into(), unit: Unit::Ns },
        ];
        let page = render(&comparison, &rows);
        assert!(page.contains("<td data-figure=\"/availability/share\" data-value=\"0.5\">50.000%</td>"), "{page}");
        assert!(page.contains("<td data-figure=\"/latency/p99_ns\" data-value=\"null\">-</td>"), "{page}");
        assert!(page.contains("<th scope=\"col\" title=\"a.toml\">a&amp;b</th>"));
        assert!(page.contains("failed: p99 &lt; 5 ms (seed 2)"));
        assert_eq!(page.matches("<svg").count(), 1);
        for outside in ["src=", "href=", "@import", "url("] {
            assert!(!page.contains(outside), "{outside} refers outside the page");
        }
    }
}
