//! The timeline: playback controls (play, speed, step, jump to faults and violations) and the
//! scrub bar, with faults (red), located violations (amber), per-bin failures (a red strip)
//! and the cursor (blue). Click or drag the bar to move the cursor.

use super::{CURSOR_COLOR, FAULT_COLOR, VIOLATION_COLOR, seconds};
use crate::state::{MarkerKind, ReplayState, SPEEDS};
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};

/// The accessible name of the scrub bar.
pub const BAR_LABEL: &str = "Timeline";

/// The timeline panel.
#[derive(Debug, Default)]
pub struct TimelinePanel;

impl TimelinePanel {
    /// Draws the controls and the bar.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        ui.horizontal_wrapped(|ui| self.controls(ui, state));
        self.bar(ui, state);
    }

    fn controls(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let play = if state.playing { "Pause" } else { "Play" };
        if ui.button(play).on_hover_text("Space").clicked() {
            if !state.playing && state.cursor_ns >= state.span_ns() {
                state.set_cursor(0);
            }
            state.playing = !state.playing;
        }
        egui::ComboBox::from_label("Speed").selected_text(format!("{}x", state.speed)).show_ui(ui, |ui| {
            for speed in SPEEDS {
                ui.selectable_value(&mut state.speed, speed, format!("{speed}x"));
            }
        });
        if ui.button("Step back").on_hover_text("Left arrow: the previous event").clicked() {
            state.step(false);
        }
        if ui.button("Step forward").on_hover_text("Right arrow: the next event").clicked() {
            state.step(true);
        }
        ui.separator();
        let jumps = [
            ("Previous fault", MarkerKind::Fault, false),
            ("Next fault", MarkerKind::Fault, true),
            ("Previous violation", MarkerKind::Violation, false),
            ("Next violation", MarkerKind::Violation, true),
        ];
        for (label, kind, forward) in jumps {
            if ui.button(label).clicked() {
                state.jump(kind, forward);
            }
        }
        ui.separator();
        ui.monospace(format!("t = {}", seconds(state.cursor_ns)));
        if let Some(row) = state.cursor_row {
            ui.weak(format!("event {} of {}", row + 1, state.loaded.index.len()));
        }
    }

    fn bar(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let size = Vec2::new(ui.available_width(), 34.0);
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, BAR_LABEL));
        let span_ns = state.span_ns() as f64;
        let x_of = |t_ns: u64| rect.left() + (t_ns as f64 / span_ns) as f32 * rect.width();
        if let Some(pos) = response.interact_pointer_pos()
            && (response.clicked() || response.dragged())
        {
            let fraction = ((pos.x - rect.left()) / rect.width()).clamp(0.0, 1.0) as f64;
            state.set_cursor((fraction * span_ns) as u64);
        }
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, ui.visuals().extreme_bg_color);
        // Failures per bin as a strip along the bottom: the redder, the larger the failed share.
        let series = &state.loaded.series;
        for (b, bin) in series.bins.iter().enumerate().filter(|(_, b)| b.requests > b.ok) {
            let share = (bin.requests - bin.ok) as f32 / bin.requests as f32;
            let x0 = x_of(b as u64 * series.bin_ns);
            let x1 = x_of((b as u64 + 1) * series.bin_ns).max(x0 + 1.0);
            let strip = Rect::from_min_max(Pos2::new(x0, rect.bottom() - 6.0), Pos2::new(x1, rect.bottom()));
            painter.rect_filled(strip, 0.0, FAULT_COLOR.gamma_multiply(0.3 + 0.7 * share));
        }
        self.ticks(&painter, rect, span_ns, ui.visuals().weak_text_color());
        for marker in &state.markers {
            let x = x_of(marker.t_ns);
            match marker.kind {
                MarkerKind::Fault => {
                    painter.line_segment([Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())], (2.0, FAULT_COLOR));
                }
                MarkerKind::Violation => {
                    let top = rect.top() + 2.0;
                    let points = vec![Pos2::new(x - 5.0, top), Pos2::new(x + 5.0, top), Pos2::new(x, top + 9.0)];
                    painter.add(egui::Shape::convex_polygon(points, VIOLATION_COLOR, Stroke::NONE));
                }
            }
        }
        let x = x_of(state.cursor_ns);
        painter.line_segment([Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())], (2.5, CURSOR_COLOR));
        response.on_hover_text("Click or drag to move the cursor. Red lines: faults; amber: check violations.");
    }

    fn ticks(&self, painter: &egui::Painter, rect: Rect, span_ns: f64, color: Color32) {
        let span_s = span_ns / 1e9;
        let step = nice_step(span_s / 10.0);
        let mut t = 0.0;
        while t <= span_s && step > 0.0 {
            let x = rect.left() + (t / span_s) as f32 * rect.width();
            painter.line_segment([Pos2::new(x, rect.top()), Pos2::new(x, rect.top() + 4.0)], (1.0, color));
            painter.text(
                Pos2::new(x + 2.0, rect.top() + 4.0),
                Align2::LEFT_TOP,
                format!("{t}s"),
                FontId::proportional(10.0),
                color,
            );
            t += step;
        }
    }
}

/// The smallest of 1, 2, 5 x 10^k at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 0.0;
    }
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * base).find(|s| *s >= raw).unwrap_or(10.0 * base)
}
