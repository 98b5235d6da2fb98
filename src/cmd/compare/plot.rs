//! A scenario's latency over time as an inline SVG: p50 and p99 of the successful requests per
//! report window (each the median over the seeds), with axes, ticks, labels and a legend.
//!
//! Drawn from the JSON value's `plot` (what the JSON prints), so the picture shows the JSON's
//! figures. Owns: the drawing. Must not: compute a figure, or fetch anything (no external font,
//! script or stylesheet: the HTML is one self-contained file).

use serde_json::Value;
use std::fmt::Write;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
const P50_COLOUR: &str = "#1f77b4";
const P99_COLOUR: &str = "#d62728";

/// Text safe inside HTML or SVG, in an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round step for about `ticks` ticks over `range`: 1, 2 or 5 times a power of ten.
fn step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

/// A tick's label: no more decimals than the step needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    format!("{value:.decimals$}")
}

/// The plot of one scenario's object of the JSON.
pub fn svg(column: &Value) -> String {
    let name = column["name"].as_str().unwrap_or("");
    let window_s = column["plot"]["window_ns"].as_f64().unwrap_or(1e9) / 1e9;
    let points: Vec<(f64, f64, f64)> = column["plot"]["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| {
            let start = w["start_ns"].as_f64()? / 1e9;
            Some((start + window_s / 2.0, w["p50_ns"].as_f64()? / 1e6, w["p99_ns"].as_f64()? / 1e6))
        })
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"latency over time, {}\" data-scenario=\"{}\">",
        escape(name),
        escape(name)
    );
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"18\" class=\"title\">{}: p50 and p99 per {window_s} s window, median over seeds</text>",
        escape(name)
    );
    if points.is_empty() {
        let _ = write!(out, "<text x=\"{LEFT}\" y=\"{}\">no successful request to plot</text></svg>", HEIGHT / 2.0);
        return out;
    }
    let x_max = points.iter().map(|p| p.0 + window_s / 2.0).fold(window_s, f64::max);
    let y_top = points.iter().map(|p| p.2.max(p.1)).fold(0.0, f64::max);
    let y_step = step(y_top.max(1e-3), 5.0);
    let y_max = (y_top / y_step).ceil().max(1.0) * y_step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |s: f64| LEFT + s / x_max * plot_w;
    let y = |ms: f64| TOP + plot_h - ms / y_max * plot_h;
    axes(&mut out, x_max, y_max, y_step, &x, &y);
    for (colour, label) in [(P99_COLOUR, "p99"), (P50_COLOUR, "p50")] {
        let value = |&(_, p50, p99): &(f64, f64, f64)| if label == "p50" { p50 } else { p99 };
        let line: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(value(p)))).collect();
        let _ = write!(
            out,
            "<polyline class=\"{label}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    // The legend sits under the plot, left of the time axis' label, where no line can run.
    let ly = HEIGHT - 12.0;
    for (i, (colour, label)) in [(P50_COLOUR, "p50"), (P99_COLOUR, "p99")].iter().enumerate() {
        let lx = LEFT + i as f64 * 60.0;
        let _ = write!(
            out,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"{}\">{label}</text>",
            lx + 22.0,
            lx + 28.0,
            ly + 4.0
        );
    }
    out.push_str("</svg>");
    out
}

/// The frame, the ticks and the axes' labels.
fn axes(out: &mut String, x_max: f64, y_max: f64, y_step: f64, x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) {
    let (x0, x1, y0, y1) = (x(0.0), x(x_max), y(0.0), y(y_max));
    let _ = write!(out, "<path d=\"M{x0},{y1} V{y0} H{x1}\" fill=\"none\" stroke=\"#333\"/>");
    let mut value = 0.0;
    while value <= y_max + y_step / 2.0 {
        let py = y(value);
        let _ = write!(
            out,
            "<line x1=\"{x0}\" y1=\"{py:.1}\" x2=\"{x1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            py + 4.0,
            tick_label(value, y_step)
        );
        value += y_step;
    }
    let x_step = step(x_max, 8.0);
    let mut value = 0.0;
    while value <= x_max + x_step / 1e6 {
        let px = x(value);
        let _ = write!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{y0}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"#333\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y0 + 5.0,
            y0 + 18.0,
            tick_label(value, x_step)
        );
        value += x_step;
    }
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">simulated time (s)</text>\
         <text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">latency (ms)</text>",
        (x0 + x1) / 2.0,
        HEIGHT - 8.0,
        (y0 + y1) / 2.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_are_round() {
        assert_eq!(step(100.0, 5.0), 20.0);
        assert_eq!(step(7.3, 5.0), 2.0);
        assert_eq!(step(0.04, 5.0), 0.01);
        assert_eq!(step(40.0, 8.0), 5.0);
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(20.0, 20.0), "20");
    }

    #[test]
    fn a_plot_has_axes_both_lines_and_a_legend() {
        let column = json!({"name": "a<b", "plot": {"window_ns": 1_000_000_000u64, "windows": [
            {"start_ns": 0, "p50_ns": 2_000_000, "p99_ns": 9_000_000},
            {"start_ns": 1_000_000_000u64, "p50_ns": 3_000_000, "p99_ns": 40_000_000}]}});
        let svg = svg(&column);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(svg.contains("a&lt;b: p50 and p99"), "escaped name: {svg}");
        for piece in ["class=\"p50\"", "class=\"p99\"", "latency (ms)", "simulated time (s)", ">40<", ">p99</text>"] {
            assert!(svg.contains(piece), "{piece} in {svg}");
        }
        let empty = super::svg(&json!({"name": "x", "plot": {"window_ns": 1, "windows": []}}));
        assert!(empty.contains("no successful request") && empty.ends_with("</svg>"));
    }
}
