//! `faultline gui`: opens a saved trace in the replay GUI (`faultline_viz`).
//!
//! With `--headless-check` it loads and indexes the trace, prints the index figures, times
//! `--frames` frames of the whole UI scrubbing across the run (no window, no GPU) and exits,
//! so CI can test this path without a display.

use super::fail;
use crate::exit::Exit;
use faultline_viz::{Loaded, ReplayApp, ReplayState};
use std::path::Path;

/// How to open the GUI.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Load, index, print the figures and exit without a window.
    pub headless_check: bool,
    /// Frames to time in a headless check (0: none).
    pub frames: u32,
    /// Where the cursor starts, seconds into the run.
    pub at_s: Option<f64>,
}

/// `faultline gui FILE`.
pub fn run(file: &Path, options: Options) -> Exit {
    match faultline_viz::load_path(file) {
        Ok(loaded) => open(loaded, options),
        Err(e) => fail("cannot open the trace", e),
    }
}

/// Shows a loaded trace: in a window, or as figures for a headless check.
pub fn open(loaded: Loaded, options: Options) -> Exit {
    let title = format!("Faultline replay: {} seed {}", loaded.index.header.scenario, loaded.index.header.seed);
    let mut state = ReplayState::new(loaded);
    if let Some(at_s) = options.at_s {
        if !(at_s.is_finite() && at_s >= 0.0) {
            return fail("bad --at", format!("{at_s} is not a time in seconds (a number >= 0)"));
        }
        state.set_cursor((at_s * 1e9) as u64);
    }
    if options.headless_check {
        outln!("{}", faultline_viz::summary(&state));
        outln!("cursor: {:.6} s", state.cursor_ns as f64 / 1e9);
        let mut app = ReplayApp::new(Some(state));
        if options.frames > 0 {
            let stats = faultline_viz::measure_frames(&mut app, options.frames as usize, 1600.0, 1000.0);
            let (mean, max) = (stats.mean.as_secs_f64() * 1e3, stats.max.as_secs_f64() * 1e3);
            outln!("scrub frames: {} at 1600x1000, mean {mean:.2} ms, max {max:.2} ms", stats.frames);
        }
        if let Some(peak) = peak_memory_kib() {
            outln!("peak memory: {:.1} MiB", peak as f64 / 1024.0);
        }
        outln!("headless check: ok");
        return Exit::Pass;
    }
    match faultline_viz::run_window(ReplayApp::new(Some(state)), &title) {
        Ok(()) => Exit::Pass,
        Err(e) => fail("cannot open the replay window (is a display available? try --headless-check)", e),
    }
}

/// The process's peak resident memory (Linux `VmHWM`), KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
