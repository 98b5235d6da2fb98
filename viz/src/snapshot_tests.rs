//! Image snapshots of single panels over the tests' synthetic run ([`crate::testkit`]),
//! rendered headless with egui_kittest's wgpu renderer on Mesa's software Vulkan, lavapipe
//! (`scripts/install-test-deps.sh` installs it; llvmpipe over GL draws the same pictures).
//! The references are `tests/snapshots/*.png` (egui_kittest's place for them, under the crate);
//! refresh them with `UPDATE_SNAPSHOTS=1 cargo nextest run -p faultline-viz snapshot_tests` and
//! look at them.
//!
//! Small on purpose: a few panels at fixed sizes and a fixed cursor. Behaviour is tested by
//! label in [`crate::ui_tests`]; these catch what labels cannot see (colours, layout, drawing).
//! Without an adapter they fail, never skip: the renderer panics when it finds none.

use crate::panels::{plots::PlotsPanel, report::ReportPanel, timeline::TimelinePanel, topology::TopologyPanel};
use crate::state::ReplayState;
use crate::testkit::{MS, loaded, loaded_with_breaker};
use egui_kittest::{Harness, SnapshotOptions};

/// A pixel counts as changed when its weighted squared YIQ distance (0 to 35215) exceeds 0.6,
/// about one step in one 8-bit channel; no changed pixel is allowed. Lavapipe (Vulkan) and
/// llvmpipe (GL) draw these pictures identically, so this only absorbs rounding; anti-aliased
/// edge pixels are not counted by egui_kittest. A host colour moved by 10 of 255 in red
/// changes ~700 pixels.
fn options() -> SnapshotOptions {
    SnapshotOptions::new().threshold(0.6).max_failed_pixels(0)
}

/// The fixture with the cursor at `t_ns`.
fn state_at(t_ns: u64) -> ReplayState {
    let mut state = ReplayState::new(loaded());
    state.set_cursor(t_ns);
    state
}

/// A harness of `width` x `height` points drawing `panel` over `state` with the dark theme.
fn harness<P: 'static>(
    width: f32,
    height: f32,
    panel: P,
    state: ReplayState,
    mut draw: impl FnMut(&mut P, &mut egui::Ui, &mut ReplayState) + 'static,
) -> Harness<'static, (P, ReplayState)> {
    let mut harness = Harness::builder()
        .with_size([width, height])
        .with_theme(egui::Theme::Dark)
        .with_options(options())
        .wgpu()
        .build_ui_state(move |ui, (panel, state): &mut (P, ReplayState)| draw(panel, ui, state), (panel, state));
    harness.run();
    harness
}

#[test]
fn topology_while_the_replica_is_down() {
    let mut harness =
        harness(400.0, 300.0, TopologyPanel::default(), state_at(4_500 * MS), |panel, ui, state| panel.ui(ui, state));
    harness.snapshot("topology_replica_down");
}

#[test]
fn timeline_at_the_first_violation() {
    let mut harness =
        harness(640.0, 100.0, TimelinePanel, state_at(4_050 * MS), |panel, ui, state| panel.ui(ui, state));
    harness.snapshot("timeline_first_violation");
}

#[test]
fn report_with_a_failed_check_selected() {
    let mut state = state_at(0);
    assert!(state.jump_to_check(0), "the fixture's first check fails and is located");
    let mut harness = harness(360.0, 392.0, ReportPanel::default(), state, |panel, ui, state| panel.ui(ui, state));
    harness.snapshot("report_failed_check");
}

#[test]
fn plots_with_a_breaker_draw_its_steps() {
    // The breaker's plot is a step line (0 closed, 1 half-open, 2 open), not a filled band.
    let mut state = ReplayState::new(loaded_with_breaker());
    state.set_cursor(5_500 * MS);
    let mut harness = harness(900.0, 760.0, PlotsPanel, state, |panel, ui, state| panel.ui(ui, state));
    harness.snapshot("plots_breaker");
}
