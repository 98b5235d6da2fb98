//! Metric plots over time (egui_plot): latency percentiles, throughput, error rate, cache hit
//! rates (only when the run has a cache; its database loads per second then join the
//! throughput plot, in the same unit), replication lag, queue depth, circuit breaker states
//! (only when a breaker reported one), a queue broker's messages (only with a broker) and a
//! pool's instances and a deploy's progress (only with an autoscaled pool or a deploy). The x axes are linked (zoom or pan one, all follow),
//! and so are the hover cursors; every plot draws the replay cursor as a vertical line; a click
//! on a plot moves the cursor there. The data is precomputed ([`crate::series`]); a frame only
//! borrows it.

use super::CURSOR_COLOR;
use crate::series::{NamedLine, Series};
use crate::state::ReplayState;
use egui_plot::{Legend, Line, Plot, PlotPoint, PlotPoints, VLine};

/// The latency plot's title.
pub const LATENCY_TITLE: &str = "Latency (ms)";
/// The throughput plot's title without a cache.
pub const THROUGHPUT_TITLE: &str = "Throughput (ok/s)";
/// The throughput plot's title with a cache (its database loads join it).
pub const THROUGHPUT_LOADS_TITLE: &str = "Throughput and database loads (/s)";
/// The error rate plot's title.
pub const ERROR_RATE_TITLE: &str = "Error rate (%)";
/// The cache hit rate plot's title (only with a cache).
pub const CACHE_TITLE: &str = "Cache hit rate (%)";
/// The replication lag plot's title.
pub const LAG_TITLE: &str = "Replication lag";
/// The queue depth plot's title.
pub const QUEUE_TITLE: &str = "Queue depth";
/// The queue broker plot's title (only with a broker).
pub const BROKER_TITLE: &str = "Message queue (messages)";
/// The instances plot's title (only with an autoscaled pool or a deploy).
pub const INSTANCES_TITLE: &str = "Instances";
/// The circuit breakers plot's title (only when a breaker reported a state).
pub const BREAKERS_TITLE: &str = "Circuit breakers (0 closed, 1 half-open, 2 open)";

/// One plot: its title and its named lines.
type PlotLines<'a> = (&'static str, Vec<(&'a str, &'a [PlotPoint])>);

/// The plots to draw for `series`, in order.
pub fn plots(series: &Series) -> Vec<PlotLines<'_>> {
    let mut throughput = vec![("ok/s", series.throughput.as_slice())];
    let mut plots = vec![(LATENCY_TITLE, named(&series.latency))];
    match &series.cache {
        Some(cache) => {
            throughput.push(("db loads/s", cache.db_loads.as_slice()));
            plots.push((THROUGHPUT_LOADS_TITLE, throughput));
            plots.push((ERROR_RATE_TITLE, vec![("failed %", series.error_rate.as_slice())]));
            plots.push((CACHE_TITLE, named(&cache.hit_rate)));
        }
        None => {
            plots.push((THROUGHPUT_TITLE, throughput));
            plots.push((ERROR_RATE_TITLE, vec![("failed %", series.error_rate.as_slice())]));
        }
    }
    plots.push((LAG_TITLE, named(&series.lag)));
    plots.push((QUEUE_TITLE, named(&series.queue)));
    if !series.breakers.is_empty() {
        plots.push((BREAKERS_TITLE, named(&series.breakers)));
    }
    if !series.broker.is_empty() {
        plots.push((BROKER_TITLE, named(&series.broker)));
    }
    if !series.instances.is_empty() {
        plots.push((INSTANCES_TITLE, named(&series.instances)));
    }
    plots
}

/// The plots panel.
#[derive(Debug, Default)]
pub struct PlotsPanel;

impl PlotsPanel {
    /// Draws the plots in a grid of two columns.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let link = egui::Id::unique("faultline-linked-plots");
        let plots = plots(&state.loaded.series);
        let rows = plots.len().div_ceil(2) as f32;
        let width = (ui.available_width() / 2.0 - 8.0).max(100.0);
        let height = ((ui.available_height() - rows * 22.0) / rows).clamp(60.0, 400.0);
        let cursor_s = state.cursor_ns as f64 / 1e9;
        let span_s = state.span_ns() as f64 / 1e9;
        let mut clicked = None;
        egui::Grid::new("plots").num_columns(2).spacing([8.0, 2.0]).show(ui, |ui| {
            for (i, (title, lines)) in plots.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.small(*title);
                    let plot = Plot::new(("plot", *title))
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
                        for (name, points) in lines {
                            let line = Line::new(*name, PlotPoints::Borrowed(points));
                            // A step line's vertical edges share an x: drawn as a band (egui_plot's
                            // shortcut for dense series) they would be filled between the steps.
                            plot_ui.line(if *title == BREAKERS_TITLE { line.allow_band(false) } else { line });
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
