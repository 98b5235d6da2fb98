//! `faultline compare --format html` rendered by a real browser: headless Chromium loads the
//! page from disk (it may fetch nothing) and dumps the DOM it built; the DOM must hold the table
//! and one `<svg>` plot per scenario, and every figure cell's `data-value` must be the JSON's
//! figure at the cell's `data-figure` key for its scenario.
//!
//! Chromium is a peer tool, as redis-cli is for the cache tests: without it the test says on
//! stderr that it skipped, unless `FAULTLINE_REQUIRE_PEERS` is set (as `.ci/run` sets it, after
//! installing it), when it fails.

use crate::util;
use serde_json::Value;
use std::path::Path;
use util::*;

/// The DOM headless Chromium builds from `page`, with a profile in `profile`.
fn dump_dom(chromium: &Path, page: &Path, profile: &Path) -> String {
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "chromium failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("the DOM is UTF-8")
}

/// An attribute value as the DOM serializer writes it, unescaped.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in the tag text `tag`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// Every figure cell of the table, row by row: (key, value) in the scenarios' order.
fn cells(dom: &str) -> Vec<Vec<(String, String)>> {
    let body = &dom[dom.find("<tbody>").expect("a table body")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .filter_map(|td| {
                    let tag = &td[..td.find('>')?];
                    Some((attribute(tag, "data-figure")?, attribute(tag, "data-value")?))
                })
                .collect()
        })
        .filter(|row: &Vec<(String, String)>| !row.is_empty())
        .collect()
}

#[test]
fn the_page_renders_and_every_cell_is_its_json_figure() {
    let Some(chromium) = peer("chromium") else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = [scenario("failover-async.toml"), scenario("quickstart.toml")];
    let mut args: Vec<String> = vec!["compare".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--seeds", "2"].map(String::from));
    let page = dir.path().join("compare.html");
    let html = command().args(&args).args(["--format", "html", "--out"]).arg(&page).output().unwrap();
    assert_eq!(code(&html), 0, "{}", stderr(&html));
    let json = command().args(&args).args(["--format", "json"]).output().unwrap();
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let json: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let scenarios = json["scenarios"].as_array().unwrap();

    let dom = dump_dom(&chromium, &page, &dir.path().join("profile"));
    assert!(dom.contains("<table id=\"comparison\">"), "the table: {dom}");
    assert_eq!(dom.matches("<svg").count(), scenarios.len(), "a plot per scenario");
    for scenario in scenarios {
        let name = scenario["name"].as_str().unwrap();
        assert!(dom.contains(&format!("data-scenario=\"{name}\"")), "{name}'s plot");
    }
    let rows = cells(&dom);
    assert!(rows.len() >= 15, "{} rows", rows.len());
    let mut compared = 0;
    for row in &rows {
        assert_eq!(row.len(), scenarios.len(), "a cell per scenario: {row:?}");
        for ((key, value), scenario) in row.iter().zip(scenarios) {
            let shown: Value = serde_json::from_str(value).unwrap_or_else(|e| panic!("{key}: {value:?}: {e}"));
            let expected = scenario.pointer(key).cloned().unwrap_or(Value::Null);
            assert_eq!(shown, expected, "{key} of {}", scenario["name"]);
            compared += usize::from(!expected.is_null());
        }
    }
    for key in
        ["/latency/p99_ns", "/availability/share", "/recovery/rto/kill db1 at 10s/mean_ns", "/cost/total_per_hour"]
    {
        assert!(rows.iter().flatten().any(|(k, _)| k == key), "a {key} row");
    }
    assert!(compared >= 30, "{compared} figures compared");
}
