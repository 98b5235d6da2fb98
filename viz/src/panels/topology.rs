//! The topology: hosts grouped by their header `group`, links from the header plus every pair
//! that exchanged messages, each host coloured by its state at the cursor, and a legend.
//!
//! Layout: the hosts and links form a petgraph graph; groups are columns, ordered by their hop
//! distance from the load generators (breadth first), so requests flow left to right. Links
//! that carried messages in the 100 ms before the cursor are drawn thick. Click a host to
//! filter the log by it (click again to clear).
//!
//! State colour, first that applies: down (Power), partitioned (Partition/Heal faults), role
//! (Role events: primary, replica, fenced), up. Under each host: queue depth and inflight
//! (the last `queue` / `inflight` samples' means) when it has those gauges.

use super::CURSOR_COLOR;
use crate::index::TraceIndex;
use crate::state::ReplayState;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};
use faultline_chaos::vocab::gauge;
use petgraph::graph::{NodeIndex, UnGraph};
use std::collections::{BTreeMap, VecDeque};

/// How far back from the cursor a link counts as active, nanoseconds.
pub const ACTIVE_NS: u64 = 100_000_000;
/// The most message rows looked at per frame to find active links.
const ACTIVE_SCAN_CAP: usize = 20_000;

/// A host's state at the cursor, as the topology colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Powered off.
    Down,
    /// Cut off by a partition.
    Partitioned,
    /// The primary of a replicated store.
    Primary,
    /// A replica.
    Replica,
    /// A deposed primary.
    Fenced,
    /// Running.
    Up,
}

impl NodeState {
    /// Every state, in legend order.
    pub const ALL: [NodeState; 6] = [
        NodeState::Up,
        NodeState::Primary,
        NodeState::Replica,
        NodeState::Fenced,
        NodeState::Partitioned,
        NodeState::Down,
    ];

    /// Legend text.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Down => "down",
            NodeState::Partitioned => "partitioned",
            NodeState::Primary => "primary",
            NodeState::Replica => "replica",
            NodeState::Fenced => "fenced",
            NodeState::Up => "up",
        }
    }

    /// Fill colour.
    pub fn color(self) -> Color32 {
        match self {
            NodeState::Down => Color32::from_rgb(90, 90, 90),
            NodeState::Partitioned => Color32::from_rgb(170, 90, 220),
            NodeState::Primary => Color32::from_rgb(40, 120, 220),
            NodeState::Replica => Color32::from_rgb(40, 180, 180),
            NodeState::Fenced => Color32::from_rgb(230, 120, 30),
            NodeState::Up => Color32::from_rgb(60, 170, 80),
        }
    }

    /// The state of `host` at `t_ns`.
    pub fn of(index: &TraceIndex, host: u16, t_ns: u64) -> NodeState {
        let Some(timeline) = index.hosts.get(host as usize) else { return NodeState::Up };
        if !timeline.up_at(t_ns) {
            return NodeState::Down;
        }
        if timeline.partitioned_at(t_ns) {
            return NodeState::Partitioned;
        }
        match timeline.role_at(t_ns).map(|r| r.role.as_str()) {
            Some("primary") => NodeState::Primary,
            Some("replica") => NodeState::Replica,
            Some("fenced") => NodeState::Fenced,
            _ => NodeState::Up,
        }
    }
}

/// The graph and its column layout, built once per trace.
#[derive(Debug)]
struct Layout {
    graph: UnGraph<u16, bool>,
    nodes: Vec<NodeIndex>,
    /// Columns left to right: (group, host ids).
    columns: Vec<(String, Vec<u16>)>,
}

impl Layout {
    fn build(index: &TraceIndex) -> Layout {
        let mut graph = UnGraph::<u16, bool>::new_undirected();
        let nodes: Vec<NodeIndex> = (0..index.header.hosts.len()).map(|h| graph.add_node(h as u16)).collect();
        let node = |h: u16| nodes.get(h as usize).copied();
        for link in &index.header.links {
            if let (Some(a), Some(b)) = (node(link.a), node(link.b)) {
                graph.update_edge(a, b, true);
            }
        }
        for &(from, to) in index.pairs.keys() {
            if let (Some(a), Some(b)) = (node(from), node(to))
                && a != b
                && graph.find_edge(a, b).is_none()
            {
                graph.add_edge(a, b, false);
            }
        }
        let depth = depths(&graph, &nodes, index);
        let mut groups: BTreeMap<String, (usize, Vec<u16>)> = BTreeMap::new();
        for (h, info) in index.header.hosts.iter().enumerate() {
            let entry = groups.entry(info.group.clone()).or_insert((usize::MAX, Vec::new()));
            entry.0 = entry.0.min(depth[h]);
            entry.1.push(h as u16);
        }
        let mut columns: Vec<(usize, String, Vec<u16>)> = groups.into_iter().map(|(g, (d, hs))| (d, g, hs)).collect();
        columns.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Layout { graph, nodes, columns: columns.into_iter().map(|(_, g, hs)| (g, hs)).collect() }
    }

    fn positions(&self, rect: Rect) -> Vec<Pos2> {
        let mut positions = vec![rect.center(); self.nodes.len()];
        let ncols = self.columns.len().max(1) as f32;
        for (c, (_, hosts)) in self.columns.iter().enumerate() {
            let x = rect.left() + rect.width() * (c as f32 + 0.5) / ncols;
            let nrows = hosts.len().max(1) as f32;
            for (r, &h) in hosts.iter().enumerate() {
                let y = rect.top() + 18.0 + (rect.height() - 36.0) * (r as f32 + 0.5) / nrows;
                positions[h as usize] = Pos2::new(x, y);
            }
        }
        positions
    }
}

/// Hop distance of every host from the nearest load generator (hosts out of reach last).
fn depths(graph: &UnGraph<u16, bool>, nodes: &[NodeIndex], index: &TraceIndex) -> Vec<usize> {
    let mut depth = vec![usize::MAX; nodes.len()];
    let mut queue = VecDeque::new();
    for (h, info) in index.header.hosts.iter().enumerate() {
        if info.service.contains("loadgen") {
            depth[h] = 0;
            queue.push_back(nodes[h]);
        }
    }
    while let Some(n) = queue.pop_front() {
        let d = depth[graph[n] as usize];
        for m in graph.neighbors(n) {
            let h = graph[m] as usize;
            if depth[h] == usize::MAX {
                depth[h] = d + 1;
                queue.push_back(m);
            }
        }
    }
    let reached = depth.iter().filter(|&&d| d != usize::MAX).max().copied().unwrap_or(0);
    depth.iter().map(|&d| if d == usize::MAX { reached + 1 } else { d }).collect()
}

/// The topology panel.
#[derive(Debug, Default)]
pub struct TopologyPanel {
    /// The layout and the trace hash it was built for.
    layout: Option<(u128, Layout)>,
}

impl TopologyPanel {
    /// Draws the graph and the legend.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &mut ReplayState) {
        let hash = state.loaded.hash.0;
        if self.layout.as_ref().is_none_or(|(h, _)| *h != hash) {
            self.layout = Some((hash, Layout::build(&state.loaded.index)));
        }
        let Some((_, layout)) = &self.layout else { return };
        legend(ui);
        let size = ui.available_size().max(Vec2::new(120.0, 80.0));
        let (rect, response) = ui.allocate_exact_size(size, Sense::click());
        let painter = ui.painter_at(rect);
        let positions = layout.positions(rect);
        let index = &state.loaded.index;
        let active = active_pairs(index, state.cursor_ns);
        for edge in layout.graph.edge_indices() {
            let Some((a, b)) = layout.graph.edge_endpoints(edge) else { continue };
            let (ha, hb) = (layout.graph[a], layout.graph[b]);
            let busy = active.contains(&(ha.min(hb), ha.max(hb)));
            let stroke =
                if busy { Stroke::new(3.0, CURSOR_COLOR) } else { Stroke::new(1.0, ui.visuals().weak_text_color()) };
            painter.line_segment([positions[ha as usize], positions[hb as usize]], stroke);
        }
        let text = ui.visuals().text_color();
        for h in 0..index.header.hosts.len() as u16 {
            let p = positions[h as usize];
            let node_state = NodeState::of(index, h, state.cursor_ns);
            let selected = state.filter.host == Some(h);
            painter.circle(p, 14.0, node_state.color(), Stroke::new(if selected { 3.0 } else { 1.0 }, text));
            painter.text(
                p + Vec2::new(0.0, 16.0),
                Align2::CENTER_TOP,
                index.host_name(h),
                FontId::proportional(12.0),
                text,
            );
            if let Some(load) = load_text(index, h, state.cursor_ns) {
                painter.text(p + Vec2::new(0.0, 30.0), Align2::CENTER_TOP, load, FontId::monospace(10.0), text);
            }
        }
        for (c, (group, _)) in layout.columns.iter().enumerate() {
            let x = rect.left() + rect.width() * (c as f32 + 0.5) / layout.columns.len() as f32;
            let color = ui.visuals().weak_text_color();
            painter.text(Pos2::new(x, rect.top() + 2.0), Align2::CENTER_TOP, group, FontId::proportional(11.0), color);
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let hit = (0..positions.len()).find(|&h| positions[h].distance(pos) <= 16.0);
            if let Some(h) = hit {
                let h = h as u16;
                state.filter.host = if state.filter.host == Some(h) { None } else { Some(h) };
            }
        }
    }
}

fn legend(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        for node_state in NodeState::ALL {
            let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.5, node_state.color());
            ui.small(node_state.name());
        }
        let (rect, _) = ui.allocate_exact_size(Vec2::new(16.0, 12.0), Sense::hover());
        ui.painter().line_segment([rect.left_center(), rect.right_center()], (3.0, CURSOR_COLOR));
        ui.small("messages in the last 100 ms");
    });
}

/// `q=… in=…` for a host with queue / inflight gauges.
fn load_text(index: &TraceIndex, host: u16, t_ns: u64) -> Option<String> {
    let timeline = index.hosts.get(host as usize)?;
    let queue = timeline.gauge_at(gauge::QUEUE, t_ns).map(|p| format!("q={:.1}", p.mean));
    let inflight = timeline.gauge_at(gauge::INFLIGHT, t_ns).map(|p| format!("in={:.1}", p.mean));
    match (queue, inflight) {
        (None, None) => None,
        (q, i) => Some([q, i].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    }
}

/// Host pairs (lower id first) that exchanged messages in the [`ACTIVE_NS`] before `t_ns`.
pub fn active_pairs(index: &TraceIndex, t_ns: u64) -> Vec<(u16, u16)> {
    let from = index.messages.partition_point(|&r| index.t_ns[r as usize] < t_ns.saturating_sub(ACTIVE_NS));
    let to = index.messages.partition_point(|&r| index.t_ns[r as usize] <= t_ns);
    let mut pairs: Vec<(u16, u16)> = index.messages[from..to.max(from)]
        .iter()
        .rev()
        .take(ACTIVE_SCAN_CAP)
        .map(|&r| {
            let (a, b) = (index.host[r as usize], index.peer[r as usize]);
            (a.min(b), a.max(b))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}
