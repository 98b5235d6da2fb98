//! The GUI's panels. Each is a struct with `ui(&mut self, ui, &mut ReplayState)`: it draws
//! from the state and changes it only through `ReplayState`'s methods, so every panel runs in
//! a test harness without a window.
//!
//! - [`timeline`]: playback controls, the scrub bar with fault and violation markers.
//! - [`topology`]: hosts and links, each host coloured by its state at the cursor.
//! - [`flow`]: messages around the cursor as a sequence diagram.
//! - [`plots`]: metric plots with linked time axes and the cursor line.
//! - [`log`]: the filterable event log that follows the cursor.
//! - [`report`]: checks, SLOs, faults and any other report section.

pub mod flow;
pub mod log;
pub mod plots;
pub mod report;
pub mod timeline;
pub mod topology;

use egui::Color32;

/// Colour of fault markers.
pub const FAULT_COLOR: Color32 = Color32::from_rgb(230, 70, 60);
/// Colour of violation markers and highlighted operations.
pub const VIOLATION_COLOR: Color32 = Color32::from_rgb(250, 170, 30);
/// Colour of the cursor.
pub const CURSOR_COLOR: Color32 = Color32::from_rgb(80, 170, 255);

/// `t_ns` as seconds for people, e.g. `12.345678 s`.
pub fn seconds(t_ns: u64) -> String {
    format!("{:.6} s", t_ns as f64 / 1e9)
}
