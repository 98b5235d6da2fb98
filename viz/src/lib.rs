//! The Faultline replay GUI: a recorded run, scrubbed through time.
//!
//! Data flows one way: a trace file -> [`load`] (one streaming pass: the [`index`], the plot
//! [`series`] and chaos's report) -> [`state::ReplayState`] (cursor, playback, filters,
//! selection) -> the [`panels`], each a struct with `ui(&mut self, ui, &mut ReplayState)`, laid
//! out by [`app::ReplayApp`]. Everything but [`app::run_window`] runs without a window, so the
//! state is unit-tested and the panels are driven by egui_kittest.
//!
//! - [`index`]: time-sorted columns (time, kind, host), events kept encoded, per-host state
//!   change lists and gauge samples; every per-frame query is a binary search.
//! - [`series`]: per-bin aggregates for the plots, computed once.
//! - [`locate`]: where a failed check broke and which operations show it.
//! - [`state`]: the replay state and every move the panels make.
//! - [`panels`]: timeline, topology, message flow, plots, event log, report.
//! - [`app`]: the window, opening traces, keyboard, headless frame timing.
//!
//! Architecture invariant: this crate depends on `faultline-chaos` alone among Faultline's
//! crates: never on `faultline-sim`, `faultline-models`, turmoil or madsim. `faultline replay`
//! runs the scenario through the simulator and hands the trace file to this crate.

pub mod app;
pub mod index;
pub mod load;
pub mod locate;
pub mod panels;
pub mod series;
#[cfg(test)]
mod snapshot_tests;
pub mod state;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod ui_tests;

pub use app::{FrameStats, ReplayApp, measure_frames, run_window};
pub use load::{LoadError, Loaded, load_path, load_reader};
pub use state::ReplayState;

/// The figures `--headless-check` prints: what was loaded and indexed.
pub fn summary(state: &ReplayState) -> String {
    let loaded = &state.loaded;
    let index = &loaded.index;
    let report = &loaded.report;
    let failed = report.failures().count();
    let undecided = report.undecided().count();
    let violations = state.markers.iter().filter(|m| m.kind == state::MarkerKind::Violation).count();
    [
        format!("trace: {}", loaded.path.display()),
        format!("scenario: {} seed {}", index.header.scenario, index.header.seed),
        format!("format version: {}", loaded.format_version),
        format!("hash: {}", loaded.hash),
        format!("records: {}", index.len()),
        format!("hosts: {}", index.header.hosts.len()),
        format!("span: {:.3} s", index.span_ns() as f64 / 1e9),
        format!("requests: {}", index.requests.len()),
        format!("messages: {}", index.messages.len()),
        format!("faults: {}", index.faults.len()),
        format!("plot bins: {} of {:.3} s", loaded.series.bins.len(), loaded.series.bin_ns as f64 / 1e9),
        format!("checks: {} ({failed} failed, {undecided} undecided, {violations} located)", report.checks.len()),
        format!("index memory: {:.1} MiB", index.heap_bytes() as f64 / (1 << 20) as f64),
        format!("open time: {:.1} ms", loaded.load_time.as_secs_f64() * 1e3),
    ]
    .join("\n")
}
