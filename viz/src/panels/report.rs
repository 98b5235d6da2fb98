//! The report side panel: the verdict, every check with its evidence (click one that did not
//! pass to jump to the moment its evidence names and highlight the operations that show it),
//! end-to-end figures, error budgets, the
//! fault timeline (click to jump), and every other section of the report (such as the data
//! tier's RTO/RPO) as a collapsible tree, so sections added to the report later show too.

use super::{FAULT_COLOR, VIOLATION_COLOR, seconds};
use crate::state::ReplayState;
use egui::{Color32, RichText};
use faultline_chaos::report::Verdict;

/// The colour of a verdict that holds.
const PASS_COLOR: Color32 = Color32::from_rgb(60, 170, 80);
use serde_json::Value;

/// Report fields this panel shows in its own way; every other top-level field is shown as a tree.
const SHOWN: [&str; 18] = [
    "scenario",
    "seed",
    "duration_s",
    "window_s",
    "trace_hash",
    "records",
    "hosts",
    "end_to_end",
    "windows",
    "services",
    "little",
    "error_budgets",
    "faults",
    "faults_omitted",
    "changes",
    "changes_omitted",
    "anomalies",
    "checks",
];

/// The report panel.
#[derive(Debug, Default)]
pub struct ReportPanel {
    /// Other report sections, for the trace hash they were computed for.
    extras: Option<(u128, Vec<(String, Value)>)>,
}

impl ReportPanel {
    /// Draws the report.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let hash = state.loaded.hash.0;
        if self.extras.as_ref().is_none_or(|(h, _)| *h != hash) {
            self.extras = Some((hash, extras(state)));
        }
        egui::ScrollArea::vertical().id_salt("report").show(ui, |ui| {
            self.verdict(ui, state);
            self.checks(ui, state);
            self.figures(ui, state);
            self.faults(ui, state);
            if let Some((_, extras)) = &self.extras {
                for (key, value) in extras {
                    egui::CollapsingHeader::new(key.as_str()).default_open(true).show(ui, |ui| tree(ui, key, value));
                }
            }
        });
    }

    fn verdict(&self, ui: &mut egui::Ui, state: &ReplayState) {
        let report = &state.loaded.report;
        let total = report.checks.len();
        let (text, color) = match report.verdict() {
            Verdict::Pass => ("PASS: every check holds".to_string(), PASS_COLOR),
            Verdict::Fail => (format!("FAIL: {} of {total} checks failed", report.failures().count()), FAULT_COLOR),
            Verdict::Unknown => {
                (format!("UNKNOWN: {} of {total} checks could not decide", report.undecided().count()), VIOLATION_COLOR)
            }
        };
        ui.heading(RichText::new(text).color(color));
        if !state.status.is_empty() {
            ui.label(RichText::new(&state.status).color(VIOLATION_COLOR));
        }
    }

    fn checks(&self, ui: &mut egui::Ui, state: &mut ReplayState) {
        ui.strong("Checks");
        let mut jump = None;
        let report = &state.loaded.report;
        for (i, check) in report.checks.iter().enumerate() {
            let color = match check.verdict {
                Verdict::Pass => ui.visuals().text_color(),
                Verdict::Fail => FAULT_COLOR,
                Verdict::Unknown => VIOLATION_COLOR,
            };
            let text = RichText::new(format!("{} {}", check.label(), check.name)).color(color);
            let response = ui.selectable_label(state.selected_check == Some(i), text);
            let response = match check.passed() {
                true => response,
                false => response.on_hover_text("Jump to where its evidence points"),
            };
            if response.clicked() {
                jump = Some(i);
            }
            ui.small(&check.detail);
            if !check.passed() && !check.evidence.is_empty() {
                ui.small(format!("evidence: {}", check.evidence.text(&report.hosts)));
            }
        }
        if let Some(i) = jump {
            state.jump_to_check(i);
        }
        ui.separator();
    }

    fn figures(&self, ui: &mut egui::Ui, state: &ReplayState) {
        let report = &state.loaded.report;
        let e2e = &report.end_to_end;
        ui.strong("End to end");
        let availability = e2e.availability.map_or("-".to_string(), |a| format!("{:.3}%", a * 100.0));
        ui.label(format!("{} requests, {} ok, availability {availability}", e2e.requests, e2e.ok));
        let l = &e2e.latency;
        ui.label(format!("latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms));
        ui.label(format!("{:.1} ok/s over {:.1} s", e2e.throughput_rps, report.duration_s));
        if !report.error_budgets.is_empty() {
            ui.strong("Error budgets");
            for budget in &report.error_budgets {
                let burned = budget.burned.map_or("-".to_string(), |b| format!("{:.0}%", b * 100.0));
                ui.label(format!("{}: {burned} burned", budget.slo));
            }
        }
        ui.separator();
    }

    fn faults(&self, ui: &mut egui::Ui, state: &mut ReplayState) {
        ui.strong("Faults");
        let mut jump = None;
        for fault in &state.loaded.report.faults {
            let t_ns = (fault.t_s * 1e9).round() as u64;
            if ui.link(format!("{}  {}", seconds(t_ns), fault.description)).clicked() {
                jump = Some(t_ns);
            }
        }
        if state.loaded.report.faults.is_empty() {
            ui.weak("none");
        }
        if let Some(t_ns) = jump {
            state.set_cursor(t_ns);
        }
        ui.separator();
    }
}

/// The report's top-level fields this panel does not show in its own way.
fn extras(state: &ReplayState) -> Vec<(String, Value)> {
    match serde_json::to_value(&state.loaded.report) {
        Ok(Value::Object(map)) => {
            map.into_iter().filter(|(k, v)| !SHOWN.contains(&k.as_str()) && !v.is_null()).collect()
        }
        _ => Vec::new(),
    }
}

/// A JSON value as nested collapsible sections, leaves as `key: value`.
fn tree(ui: &mut egui::Ui, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaf_or_branch(ui, k, v);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaf_or_branch(ui, &format!("{key}[{i}]"), v);
            }
        }
        leaf => {
            ui.label(format!("{key}: {leaf}"));
        }
    }
}

fn leaf_or_branch(ui: &mut egui::Ui, key: &str, value: &Value) {
    if value.is_object() || value.is_array() {
        egui::CollapsingHeader::new(key).id_salt(ui.scope_id().with(key)).show(ui, |ui| tree(ui, key, value));
    } else {
        ui.label(format!("{key}: {value}"));
    }
}
