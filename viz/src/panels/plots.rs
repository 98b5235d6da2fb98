//! Metric plots over time (egui_plot): latency percentiles, throughput, error rate, cache hit
//! rate, replication lag and queue depth. The x axes are linked (zoom or pan one, all follow),
//! and so are the hover cursors; every plot draws the replay cursor as a vertical line; a click
//! on a plot moves the cursor there. The data is precomputed ([`crate::series`]); a frame only
//! borrows it.

use super::CURSOR_COLOR;
use crate::series::NamedLine;
use crate::state::ReplayState;
use egui_plot::{Legend, Line, Plot, PlotPoint, PlotPoints, VLine};

/// The plots' titles, in order.
pub const TITLES: [&str; 6] =
    ["Latency (ms)", "Throughput (ok/s)", "Error rate (%)", "Cache hit rate (%)", "Replication lag", "Queue depth"];

/// The plots panel.
#[derive(Debug, Default)]
pub struct PlotsPanel;

impl PlotsPanel {
    /// Draws the six plots in a grid of two columns.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let link = egui::Id::unique("faultline-linked-plots");
        let width = (ui.available_width() / 2.0 - 8.0).max(100.0);
        let height = ((ui.available_height() - 3.0 * 22.0) / 3.0).clamp(60.0, 400.0);
        let cursor_s = state.cursor_ns as f64 / 1e9;
        let span_s = state.span_ns() as f64 / 1e9;
        let mut clicked = None;
        egui::Grid::new("plots").num_columns(2).spacing([8.0, 2.0]).show(ui, |ui| {
            for (i, title) in TITLES.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.small(*title);
                    let series = &state.loaded.series;
                    let lines: Vec<(&str, &[PlotPoint])> = match i {
                        0 => named(&series.latency),
                        1 => vec![("ok/s", &series.throughput)],
                        2 => vec![("failed %", &series.error_rate)],
                        3 => vec![("hit %", &series.cache_hit_rate)],
                        4 => named(&series.lag),
                        _ => named(&series.queue),
                    };
                    let plot = Plot::new(("plot", i))
                        .width(width)
                        .height(height)
                        .link_axis(link, [true, false])
                        .link_cursor(link, [true, false])
                        .include_x(0.0)
                        .include_x(span_s)
                        .include_y(0.0)
                        .allow_scroll(false)
                        .legend(Legend::default());
                    let response = plot.show(ui, |plot_ui| {
                        for (name, points) in &lines {
                            plot_ui.line(Line::new(*name, PlotPoints::Borrowed(points)));
                        }
                        if lines.iter().all(|(_, p)| p.is_empty()) {
                            plot_ui.text(egui_plot::Text::new("none", PlotPoint::new(span_s / 2.0, 0.5), "no data"));
                        }
                        plot_ui.vline(VLine::new("cursor", cursor_s).color(CURSOR_COLOR));
                        plot_ui.pointer_coordinate()
                    });
                    if response.response.clicked()
                        && let Some(p) = response.inner
                    {
                        clicked = Some(p.x);
                    }
                });
                if i % 2 == 1 {
                    ui.end_row();
                }
            }
        });
        if let Some(x) = clicked {
            state.set_cursor((x.max(0.0) * 1e9) as u64);
        }
    }
}

fn named(lines: &[NamedLine]) -> Vec<(&str, &[PlotPoint])> {
    lines.iter().map(|l| (l.name.as_str(), l.points.as_slice())).collect()
}
