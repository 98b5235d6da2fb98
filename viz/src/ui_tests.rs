//! The whole window driven by egui_kittest: widgets found by their labels, clicked and typed
//! into, and what the window then shows asserted. Pictures are [`crate::snapshot_tests`]'s.

use crate::app::{PATH_LABEL, ReplayApp};
use crate::panels::log::SEARCH_LABEL;
use crate::panels::plots::{
    BREAKERS_TITLE, BROKER_TITLE, CACHE_TITLE, INSTANCES_TITLE, THROUGHPUT_LOADS_TITLE, THROUGHPUT_TITLE,
};
use crate::panels::timeline::BAR_LABEL;
use crate::state::ReplayState;
use crate::testkit::{MS, S, loaded, loaded_with_breaker, loaded_with_cache, loaded_with_pool_and_broker, trace_bytes};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn harness(app: ReplayApp) -> Harness<'static, ReplayApp> {
    Harness::builder().with_size([1600.0, 1000.0]).build_ui_state(|ui, app: &mut ReplayApp| app.show(ui), app)
}

fn with_fixture() -> Harness<'static, ReplayApp> {
    let mut harness = harness(ReplayApp::new(Some(ReplayState::new(loaded()))));
    harness.run();
    harness
}

fn cursor(harness: &Harness<'_, ReplayApp>) -> u64 {
    harness.state().state.as_ref().expect("a trace is open").cursor_ns
}

#[test]
fn shows_the_run_and_every_panel() {
    let harness = with_fixture();
    harness.get_by_label_contains("fixture seed 7");
    harness.get_by_label("Topology");
    harness.get_by_label("Message flow");
    harness.get_by_label("Latency (ms)");
    harness.get_by_label("Replication lag");
    harness.get_by_label(THROUGHPUT_TITLE);
    assert!(harness.query_by_label(CACHE_TITLE).is_none(), "the fixture's app has no cache");
    assert!(harness.query_by_label(THROUGHPUT_LOADS_TITLE).is_none());
    assert!(harness.query_by_label(BREAKERS_TITLE).is_none(), "the fixture's app has no breaker");
    assert!(harness.query_by_label(BROKER_TITLE).is_none(), "the fixture has no queue broker");
    assert!(harness.query_by_label(INSTANCES_TITLE).is_none(), "the fixture has no autoscaled pool");
    harness.get_by_label_contains("checks failed");
    harness.get_by_label("FAIL p99 under 50 ms");
    harness.get_by_label("FAIL availability 99%");
    harness.get_by_label("t = 0.000000 s");
}

#[test]
fn a_broker_and_a_pool_bring_their_plots() {
    let mut harness = harness(ReplayApp::new(Some(ReplayState::new(loaded_with_pool_and_broker()))));
    harness.run();
    harness.get_by_label(BROKER_TITLE);
    harness.get_by_label(INSTANCES_TITLE);
    for legend in ["db queue_depth", "db queue_dlq", "app pool_ready", "app pool_starting", "app deploy_new_ready"] {
        harness.get_by_label(legend);
    }
}

#[test]
fn a_breaker_brings_its_state_plot_and_report() {
    let mut harness = harness(ReplayApp::new(Some(ReplayState::new(loaded_with_breaker()))));
    harness.run();
    harness.get_by_label(BREAKERS_TITLE);
    harness.get_by_label("app db-replica");
    let report = &harness.state().state.as_ref().expect("open").loaded.report;
    let breaker = &report.breakers[0];
    assert_eq!((breaker.host.as_str(), breaker.breaker.as_str(), breaker.opened), ("app", "db-replica", 2));
    assert!((breaker.open_s - 1.9).abs() < 1e-9, "open 4.1-5 s and 5-6 s: {}", breaker.open_s);
}

#[test]
fn a_cache_brings_its_hit_rates_and_loads() {
    let mut harness = harness(ReplayApp::new(Some(ReplayState::new(loaded_with_cache()))));
    harness.run();
    harness.get_by_label(CACHE_TITLE);
    harness.get_by_label(THROUGHPUT_LOADS_TITLE);
    assert!(harness.query_by_label(THROUGHPUT_TITLE).is_none(), "the loads join the throughput plot");
    for legend in ["L1 %", "L2 %", "overall %", "ok/s", "db loads/s"] {
        harness.get_by_label(legend);
    }
    // The report's cache section shows with the report's other sections.
    harness.get_by_label("key_loads_peak_sum: 0");
    let report = &harness.state().state.as_ref().expect("open").loaded.report;
    let cache = report.cache.as_ref().expect("the report has a cache section");
    assert_eq!(cache.total.hit_rate, Some(0.75));
    assert_eq!(cache.nodes[0].name, "cache");
}

#[test]
fn next_fault_moves_the_cursor_and_the_log_follows() {
    let mut harness = with_fixture();
    harness.get_by_label("Next fault").click();
    harness.run();
    assert_eq!(cursor(&harness), 4 * S);
    harness.get_by_label("t = 4.000000 s");
    // The log row under the cursor (the status line says it too).
    harness.get_by_label("    4.000000  fault    kill db-replica");
    harness.get_by_label("Next fault").click();
    harness.run();
    harness.get_by_label("t = 6.000000 s");
    harness.get_by_label("Previous fault").click();
    harness.run();
    assert_eq!(cursor(&harness), 4 * S);
}

#[test]
fn stepping_goes_event_by_event() {
    let mut harness = with_fixture();
    harness.get_by_label_contains("event 3 of");
    harness.get_by_label("Step forward").click();
    harness.run();
    harness.get_by_label_contains("event 4 of");
    harness.get_by_label("Step back").click();
    harness.run();
    harness.get_by_label("Step back").click();
    harness.run();
    harness.get_by_label_contains("event 2 of");
}

#[test]
fn clicking_the_timeline_scrubs() {
    let mut harness = with_fixture();
    harness.get_by_label(BAR_LABEL).click();
    harness.run();
    let t = cursor(&harness);
    assert!((4 * S..6 * S).contains(&t), "a click in the middle lands mid-run: {t}");
}

#[test]
fn next_violation_jumps_to_where_a_check_broke() {
    let mut harness = with_fixture();
    harness.get_by_label("Next violation").click();
    harness.run();
    assert_eq!(cursor(&harness), 4 * S);
    harness.get_by_label_contains("availability 99%: first window with availability under 99.00%");
    harness.get_by_label("Next violation").click();
    harness.run();
    assert_eq!(cursor(&harness), 4_050 * MS);
}

#[test]
fn clicking_a_failed_check_highlights_its_operations() {
    let mut harness = with_fixture();
    harness.get_by_label("FAIL p99 under 50 ms").click();
    harness.run();
    assert_eq!(cursor(&harness), 4_050 * MS);
    let state = harness.state().state.as_ref().expect("open");
    assert!(state.highlight.contains(&81));
    harness.get_by_label_contains("p99 under 50 ms: first window with p99 over 50 ms at 4.050 s");
}

#[test]
fn the_log_filters_by_text() {
    let mut harness = with_fixture();
    harness.get_by_label(SEARCH_LABEL).click();
    harness.run();
    harness.get_by_label(SEARCH_LABEL).type_text("partition");
    harness.run();
    assert!(harness.query_by_label_contains("1 event(s) shown of").is_none(), "applied on Enter only");
    harness.key_press(egui::Key::Enter);
    harness.run();
    harness.get_by_label_contains("1 event(s) shown of");
    harness.get_by_label("    7.000000  fault    partition [db] | [db-replica]");
    assert!(harness.query_by_label("    4.000000  fault    kill db-replica").is_none(), "filtered out");
    harness.get_by_label("Clear filters").click();
    harness.run();
    assert!(harness.query_by_label_contains("1 event(s) shown of").is_none());
    harness.get_by_label_contains(&format!("{n} event(s) shown of {n}", n = crate::testkit::records().len()));
}

#[test]
fn the_open_field_loads_a_trace_and_reports_a_bad_one() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let good = dir.path().join("good.fltrace");
    std::fs::write(&good, trace_bytes()).expect("write");
    let bad = dir.path().join("bad.fltrace");
    let bytes = trace_bytes();
    std::fs::write(&bad, &bytes[..bytes.len() - 30]).expect("write");

    let mut harness = harness(ReplayApp::new(None));
    harness.run();
    harness.get_by_label("No trace open");
    harness.get_by_label(PATH_LABEL).click();
    harness.run();
    harness.get_by_label(PATH_LABEL).type_text(&bad.display().to_string());
    harness.run();
    harness.get_by_label("Open").click();
    harness.run();
    harness.get_by_label_contains("is not a readable trace");
    assert!(harness.state().state.is_none());

    harness.state_mut().open_path = good.display().to_string();
    harness.get_by_label("Open").click();
    harness.run();
    assert!(harness.state().state.is_some());
    assert!(harness.state().error.is_none());
    harness.get_by_label_contains("fixture seed 7");
}

#[test]
fn the_log_filters_by_kind_from_its_menu() {
    let mut harness = with_fixture();
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Kind").click();
    harness.run();
    harness.get_by_label("fault").click();
    harness.run();
    harness.get_by_label_contains("4 event(s) shown of");
    let state = harness.state().state.as_ref().expect("open");
    assert_eq!(state.filter.kind, Some(crate::index::Kind::Fault));
}
