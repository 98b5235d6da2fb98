//! The event log: every record as `faultline trace dump` prints it, filterable by host, kind
//! and text, virtualised (only the visible rows are decoded and laid out), following the
//! cursor. The row under the cursor is selected; rows of highlighted operations are amber.
//! Clicking a row moves the cursor onto it.

use super::VIOLATION_COLOR;
use crate::index::Kind;
use crate::state::ReplayState;
use egui::RichText;

/// The accessible name of the log's text filter.
pub const SEARCH_LABEL: &str = "Search";

/// The log panel.
#[derive(Debug, Default)]
pub struct LogPanel {
    /// The search text being typed: applied on Enter or when the field loses focus, since
    /// a text filter decodes every row (seconds on a trace of millions of events).
    search: String,
}

impl LogPanel {
    /// Draws the filters and the rows.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let before = state.filter.clone();
        self.filters(ui, state);
        if state.filter != before {
            state.log_follow = true;
        }
        let total = state.log_len();
        ui.small(format!("{total} event(s) shown of {}", state.loaded.index.len()));
        let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
        let mut area = egui::ScrollArea::both().id_salt("log").auto_shrink([false, false]);
        if state.log_follow {
            // Put the cursor's row a few rows below the top.
            let position = state.log_position_of_cursor().saturating_sub(5);
            area = area.vertical_scroll_offset(position as f32 * (row_height + ui.spacing().item_spacing.y));
            state.log_follow = false;
        }
        let mut clicked = None;
        area.show_rows(ui, row_height, total, |ui, range| {
            // One line per row, however long: the virtualisation counts on a fixed row height.
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            for i in range {
                let Some(row) = state.log_row(i) else { continue };
                let index = &state.loaded.index;
                let mut text = RichText::new(index.text(row)).monospace();
                let highlighted = !state.highlight.is_empty()
                    && index.request_of_row(row).is_some_and(|q| state.highlight.contains(&q));
                if highlighted {
                    text = text.color(VIOLATION_COLOR);
                }
                if ui.selectable_label(state.cursor_row == Some(row), text).clicked() {
                    clicked = Some(row);
                }
            }
        });
        if let Some(row) = clicked {
            state.set_cursor_row(row);
            state.log_follow = false;
        }
    }

    fn filters(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        ui.horizontal_wrapped(|ui| {
            let index = &state.loaded.index;
            let host_text = state.filter.host.map_or("all hosts".to_string(), |h| index.host_name(h));
            let label = ui.label("Host");
            let combo = egui::ComboBox::from_id_salt("log-host").selected_text(host_text).show_ui(ui, |ui| {
                ui.selectable_value(&mut state.filter.host, None, "all hosts");
                for h in 0..index.header.hosts.len() as u16 {
                    ui.selectable_value(&mut state.filter.host, Some(h), index.host_name(h));
                }
            });
            let _ = combo.response.labelled_by(label.id);
            let kind_text = state.filter.kind.map_or("all kinds", Kind::name);
            let label = ui.label("Kind");
            let combo = egui::ComboBox::from_id_salt("log-kind").selected_text(kind_text).show_ui(ui, |ui| {
                ui.selectable_value(&mut state.filter.kind, None, "all kinds");
                for kind in Kind::ALL {
                    ui.selectable_value(&mut state.filter.kind, Some(kind), kind.name());
                }
            });
            let _ = combo.response.labelled_by(label.id);
            let label = ui.label(SEARCH_LABEL);
            let field = egui::TextEdit::singleline(&mut self.search).desired_width(140.0).hint_text("text, Enter");
            if ui.add(field).labelled_by(label.id).lost_focus() {
                state.filter.text = self.search.clone();
            }
            if ui.button("Clear filters").clicked() {
                state.filter = Default::default();
                self.search.clear();
                state.log_follow = true;
            }
        });
    }
}
