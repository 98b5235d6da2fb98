//! The window: [`ReplayApp`] lays the panels out, opens traces (path field, Open button,
//! dropped files), drives playback and keyboard shortcuts; [`run_window`] hands it to eframe;
//! [`measure_frames`] runs the same UI headless to time frames.
//!
//! Layout: a top bar (trace path, Open, the run's identity, errors), the timeline at the
//! bottom, the event log on the left, the report on the right, and in the middle the topology
//! and the message flow side by side above the plots.
//!
//! Keys (when no text field has focus): Space plays or pauses, Left / Right step one event,
//! Page Up / Page Down jump to the previous / next fault.

use crate::load::load_path;
use crate::panels::{
    flow::FlowPanel, log::LogPanel, plots::PlotsPanel, report::ReportPanel, timeline::TimelinePanel,
    topology::TopologyPanel,
};
use crate::state::{MarkerKind, ReplayState};
use egui::{Color32, Key, RichText};
use std::path::Path;
use std::time::{Duration, Instant};

/// The accessible name of the trace path field.
pub const PATH_LABEL: &str = "Trace file";

/// The replay GUI: the state of the open trace (if any) and its panels.
#[derive(Debug, Default)]
pub struct ReplayApp {
    /// The open trace.
    pub state: Option<ReplayState>,
    /// Why the last open failed.
    pub error: Option<String>,
    /// The path field's text.
    pub open_path: String,
    timeline: TimelinePanel,
    topology: TopologyPanel,
    flow: FlowPanel,
    plots: PlotsPanel,
    log: LogPanel,
    report: ReportPanel,
}

impl ReplayApp {
    /// An app showing `state` (or the open prompt when `None`).
    pub fn new(state: Option<ReplayState>) -> Self {
        let open_path = state.as_ref().map(|s| s.loaded.path.display().to_string()).unwrap_or_default();
        ReplayApp { state, open_path, ..ReplayApp::default() }
    }

    /// Opens the trace at `path`; on failure keeps the current trace and shows why.
    pub fn open(&mut self, path: &Path) -> bool {
        self.open_path = path.display().to_string();
        match load_path(path) {
            Ok(loaded) => {
                self.state = Some(ReplayState::new(loaded));
                self.error = None;
                true
            }
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    /// Draws the whole window into `ui`.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let dropped: Vec<std::path::PathBuf> = ui.ctx().input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if let Some(path) = dropped.last() {
            self.open(path);
        }
        egui::Panel::top("open").show(ui, |ui| self.top_bar(ui));
        let Some(state) = &mut self.state else {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.heading("No trace open");
                ui.label("Type a trace path above and press Open, or drop a trace file on this window.");
                ui.label("A run writes one with: faultline run SCENARIO --out DIR (DIR/trace.fltrace).");
            });
            return;
        };
        keys(ui, state);
        if state.playing {
            let dt = ui.ctx().input(|i| i.stable_dt).min(0.1) as f64;
            state.tick(dt);
            ui.ctx().request_repaint();
        }
        egui::Panel::bottom("timeline").show(ui, |ui| self.timeline.ui(ui, state));
        egui::Panel::left("log").resizable(true).default_size(520.0).show(ui, |ui| self.log.ui(ui, state));
        egui::Panel::right("report").resizable(true).default_size(330.0).show(ui, |ui| self.report.ui(ui, state));
        egui::CentralPanel::default().show(ui, |ui| {
            let top_height = (ui.available_height() * 0.42).max(160.0);
            let width = ui.available_width();
            ui.horizontal(|ui| {
                ui.set_height(top_height);
                ui.allocate_ui(egui::Vec2::new(width * 0.5 - 6.0, top_height), |ui| {
                    ui.vertical(|ui| {
                        ui.strong("Topology");
                        self.topology.ui(ui, state);
                    });
                });
                ui.separator();
                ui.allocate_ui(egui::Vec2::new(ui.available_width(), top_height), |ui| {
                    ui.vertical(|ui| {
                        ui.strong("Message flow");
                        self.flow.ui(ui, state);
                    });
                });
            });
            ui.separator();
            self.plots.ui(ui, state);
        });
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label(PATH_LABEL);
            let field =
                ui.add(egui::TextEdit::singleline(&mut self.open_path).desired_width(360.0)).labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if ui.button("Open").clicked() || enter {
                let path = self.open_path.trim().to_string();
                self.open(Path::new(&path));
            }
            if let Some(state) = &self.state {
                let h = &state.loaded.index.header;
                ui.separator();
                ui.label(format!(
                    "{} seed {}  {} events  {:.1} s  hash {}",
                    h.scenario,
                    h.seed,
                    state.loaded.index.len(),
                    state.span_ns() as f64 / 1e9,
                    state.loaded.hash
                ));
            }
        });
        if let Some(error) = &self.error {
            ui.label(RichText::new(format!("Error: {error}")).color(Color32::from_rgb(230, 70, 60)));
        }
    }
}

/// Keyboard shortcuts, unless a text field has the keyboard.
fn keys(ui: &egui::Ui, state: &mut ReplayState) {
    if ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let pressed = |key| ui.input(|i| i.key_pressed(key));
    if pressed(Key::Space) {
        state.playing = !state.playing;
    }
    if pressed(Key::ArrowRight) {
        state.step(true);
    }
    if pressed(Key::ArrowLeft) {
        state.step(false);
    }
    if pressed(Key::PageDown) {
        state.jump(MarkerKind::Fault, true);
    }
    if pressed(Key::PageUp) {
        state.jump(MarkerKind::Fault, false);
    }
}

impl eframe::App for ReplayApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Opens the window and runs until it is closed.
pub fn run_window(app: ReplayApp, title: &str) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1600.0, 1000.0])
            .with_drag_and_drop(true),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(title, options, Box::new(|_| Ok(Box::new(app)))).map_err(|e| e.to_string())
}

/// Frame times of a headless run of the whole UI (layout and tessellation, no GPU).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameStats {
    /// Frames timed (after one warm-up frame).
    pub frames: usize,
    /// Mean frame time.
    pub mean: Duration,
    /// Slowest frame.
    pub max: Duration,
}

/// Scrubs the cursor across the whole run in `frames` steps, drawing the full window of
/// `width` x `height` points each time, and times each frame.
pub fn measure_frames(app: &mut ReplayApp, frames: usize, width: f32, height: f32) -> FrameStats {
    let size = egui::Vec2::new(width, height);
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
        ..egui::RawInput::default()
    };
    let frame = |app: &mut ReplayApp| {
        let mut output = ctx.run_ui(input(), |ui| app.show(ui));
        // No renderer takes the font atlas updates: drop them on purpose.
        output.textures_delta.clear();
        let _ = ctx.tessellate(output.shapes, output.pixels_per_point);
    };
    frame(app);
    let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
    for i in 0..frames {
        if let Some(state) = &mut app.state {
            let span = state.span_ns();
            state.set_cursor(span / frames.max(1) as u64 * i as u64);
        }
        let started = Instant::now();
        frame(app);
        let elapsed = started.elapsed();
        total += elapsed;
        max = max.max(elapsed);
    }
    FrameStats { frames, mean: total / frames.max(1) as u32, max }
}
