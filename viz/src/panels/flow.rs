//! Message flow around the cursor as a small sequence diagram: one lane per host, time running
//! down, every `Message` in the selected range an arrow from sender to receiver at its send
//! time, slanted by the link's configured latency when the header has it. Retransmitted
//! messages are red. At most [`MAX_ARROWS`] arrows are drawn (the ones nearest the cursor);
//! the panel says when the range holds more.

use super::{CURSOR_COLOR, FAULT_COLOR, seconds};
use crate::index::TraceIndex;
use crate::state::ReplayState;
use egui::{Align2, FontId, Pos2, Sense, Stroke, Vec2};
use faultline_chaos::trace::Event;

/// The most arrows drawn per frame.
pub const MAX_ARROWS: usize = 300;

/// The message-flow panel.
#[derive(Debug, Default)]
pub struct FlowPanel;

impl FlowPanel {
    /// Draws the range control and the diagram.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let mut half_ms = state.flow_half_ns as f64 / 1e6;
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut half_ms, 1.0..=2_000.0).logarithmic(true).text("ms either side"));
        });
        state.flow_half_ns = (half_ms * 1e6) as u64;
        let index = &state.loaded.index;
        let from_ns = state.cursor_ns.saturating_sub(state.flow_half_ns);
        let to_ns = state.cursor_ns.saturating_add(state.flow_half_ns);
        let (rows, total) = messages_near(index, state.cursor_ns, from_ns, to_ns);
        ui.small(format!(
            "{total} message(s) from {} to {}{}",
            seconds(from_ns),
            seconds(to_ns),
            if total > rows.len() { format!(", the {} nearest the cursor shown", rows.len()) } else { String::new() }
        ));
        let size = ui.available_size().max(Vec2::new(120.0, 80.0));
        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(rect);
        let hosts = index.header.hosts.len().max(1);
        let lane_x = |h: u16| rect.left() + rect.width() * (h as f32 + 0.5) / hosts as f32;
        let top = rect.top() + 18.0;
        let y_of = |t_ns: u64| {
            let fraction = (t_ns.saturating_sub(from_ns)) as f32 / (to_ns - from_ns).max(1) as f32;
            top + fraction.clamp(0.0, 1.0) * (rect.bottom() - top)
        };
        let weak = ui.visuals().weak_text_color();
        for h in 0..hosts as u16 {
            let x = lane_x(h);
            painter.line_segment([Pos2::new(x, top), Pos2::new(x, rect.bottom())], (1.0, weak));
            let name = index.host_name(h);
            painter.text(Pos2::new(x, rect.top()), Align2::CENTER_TOP, name, FontId::proportional(11.0), weak);
        }
        let normal = ui.visuals().text_color();
        for row in rows {
            let Some(Event::Message { from, to, retransmitted, .. }) = index.event(row) else { continue };
            let t_ns = index.t_ns[row];
            let start = Pos2::new(lane_x(from), y_of(t_ns));
            let end = Pos2::new(lane_x(to), y_of(t_ns + link_latency_ns(index, from, to)));
            let color = if retransmitted { FAULT_COLOR } else { normal.gamma_multiply(0.7) };
            painter.arrow(start, end - start, Stroke::new(if retransmitted { 2.0 } else { 1.0 }, color));
        }
        let y = y_of(state.cursor_ns);
        painter.line_segment([Pos2::new(rect.left(), y), Pos2::new(rect.right(), y)], (1.5, CURSOR_COLOR));
    }
}

/// The message rows in `[from_ns, to_ns]` nearest `cursor_ns` (at most [`MAX_ARROWS`]), and
/// how many the range holds.
pub fn messages_near(index: &TraceIndex, cursor_ns: u64, from_ns: u64, to_ns: u64) -> (Vec<usize>, usize) {
    let time = |r: &u32| index.t_ns[*r as usize];
    let lo = index.messages.partition_point(|r| time(r) < from_ns);
    let hi = index.messages.partition_point(|r| time(r) <= to_ns).max(lo);
    let total = hi - lo;
    let mid = index.messages.partition_point(|r| time(r) < cursor_ns).clamp(lo, hi);
    let half = MAX_ARROWS / 2;
    let start = mid.saturating_sub(half).max(lo);
    let end = (start + MAX_ARROWS).min(hi);
    let start = end.saturating_sub(MAX_ARROWS).max(lo);
    (index.messages[start..end].iter().map(|&r| r as usize).collect(), total)
}

/// The configured one-way latency between two hosts, 0 when the header has no such link.
fn link_latency_ns(index: &TraceIndex, a: u16, b: u16) -> u64 {
    index.header.links.iter().find(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a)).map_or(0, |l| l.latency_ns)
}
