//! `faultline sweep --out DIR`: each run's result is written as it finishes, a rerun resumes
//! (skipping what is done for the same scenario bytes), and `DIR/summary.json` is the same
//! bytes for the same work; and PATHS may be directories.

use crate::util;
use std::path::{Path, PathBuf};
use util::*;

/// A copy of the library's echo scenario in `dir`.
fn echo_in(dir: &Path) -> PathBuf {
    let file = dir.join("echo.toml");
    std::fs::copy(scenario("echo.toml"), &file).unwrap();
    file
}

/// The result files of `runs`, by file name.
fn run_files(runs: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(runs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn the_one(runs: &Path, suffix: &str) -> PathBuf {
    let names: Vec<String> = run_files(runs).into_iter().filter(|n| n.ends_with(suffix)).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    runs.join(&names[0])
}

#[test]
fn each_run_is_written_and_a_killed_sweep_resumes_with_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let file = echo_in(dir.path());
    let out = dir.path().join("out");
    let args = ["sweep", file.to_str().unwrap(), "--seeds", "3", "--jobs", "2", "--out", out.to_str().unwrap()];
    let first = faultline(&args);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let runs = out.join("runs");
    assert_eq!(run_files(&runs).len(), 3, "{:?}", run_files(&runs));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();

    // As a sweep killed after two runs leaves it: seed 3's result missing, a half-written
    // temporary file, and (to see that it is reused, not rerun) a marker in seed 2's result.
    std::fs::remove_file(the_one(&runs, "-seed-3.json")).unwrap();
    std::fs::write(runs.join(".echo-seed-3.json.999.tmp"), "{ \"file\": ").unwrap();
    let seed_2 = the_one(&runs, "-seed-2.json");
    let text = std::fs::read_to_string(&seed_2).unwrap();
    let hash = serde_json::from_str::<serde_json::Value>(&text).unwrap()["hash"].as_str().unwrap().to_string();
    std::fs::write(&seed_2, text.replace(&hash, "planted-marker")).unwrap();

    let resumed = faultline(&args);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    let printed = stdout(&resumed);
    assert!(printed.contains("sweep: 3 runs"), "{printed}");
    assert!(printed.contains("skipped 2 already done (results in the --out directory), ran 1"), "{printed}");
    assert!(stderr(&resumed).contains("removed 1 unfinished result file"), "{}", stderr(&resumed));
    assert_eq!(run_files(&runs).len(), 3, "the temporary file is gone: {:?}", run_files(&runs));
    let after = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(after.contains("planted-marker"), "the stored result was used, not rerun: {after}");
    assert_eq!(after.replace("planted-marker", &hash), summary, "the rest is as the first sweep wrote it");

    // A changed scenario file is run again, every seed.
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap() + "\n# changed\n").unwrap();
    let changed = faultline(&args);
    assert!(!stdout(&changed).contains("skipped"), "{}", stdout(&changed));
    assert!(!std::fs::read_to_string(out.join("summary.json")).unwrap().contains("planted-marker"));
}

#[test]
fn summary_json_is_the_same_bytes_for_the_same_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = echo_in(dir.path());
    let failing = unexpected_partition(dir.path());
    let mut summaries = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.path().join(format!("out-{jobs}"));
        let args = [
            "sweep",
            failing.to_str().unwrap(),
            file.to_str().unwrap(),
            "--seeds",
            "2",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ];
        assert_eq!(code(&faultline(&args)), 1, "the partition fails");
        summaries.push(std::fs::read_to_string(out.join("summary.json")).unwrap());
    }
    assert_eq!(summaries[0], summaries[1], "no thread count, wall time or rate in summary.json");
    let json: serde_json::Value = serde_json::from_str(&summaries[0]).unwrap();
    assert_eq!(json["runs"], 4);
    assert_eq!(json["failures"], 2);
    let files: Vec<&str> = json["results"].as_array().unwrap().iter().map(|r| r["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "sorted by file");
    assert!(!summaries[0].contains("wall"), "{}", summaries[0]);
}

#[test]
fn a_directory_sweeps_its_toml_files_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(lib.join("nested")).unwrap();
    std::fs::create_dir_all(lib.join("bad")).unwrap();
    std::fs::copy(scenario("echo.toml"), lib.join("nested/echo.toml")).unwrap();
    std::fs::copy(scenario("lost-replies.toml"), lib.join("lost-replies.toml")).unwrap();
    std::fs::write(lib.join("README.md"), "not a scenario").unwrap();
    std::fs::copy(root().join("scenarios/bad/latin1.toml"), lib.join("bad/latin1.toml")).unwrap();
    let o = faultline(&["sweep", lib.to_str().unwrap(), "--seeds", "1", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let files: Vec<String> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Path::new(r["file"].as_str().unwrap()).strip_prefix(&lib).unwrap().display().to_string())
        .collect();
    assert_eq!(files, ["lost-replies.toml", "nested/echo.toml"], "sorted, recursive, without bad/");

    // A file that does not parse, outside a negative corpus, stops the sweep with its place.
    std::fs::write(lib.join("nested/broken.toml"), "name = 3\n").unwrap();
    let o = faultline(&["sweep", lib.to_str().unwrap(), "--seeds", "1"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("broken.toml:1:"), "{}", stderr(&o));
    let o = faultline(&["sweep", lib.join("lost-replies.toml").to_str().unwrap(), "--junit", lib.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "a directory is no JUnit file");
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("progress:"), "refused before any run: {}", stderr(&o));
    let not_a_dir = lib.join("README.md");
    let o =
        faultline(&["sweep", lib.join("lost-replies.toml").to_str().unwrap(), "--out", not_a_dir.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot create"), "{}", stderr(&o));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = faultline(&["sweep", empty.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no *.toml scenario file"), "{}", stderr(&o));
}

#[test]
fn the_library_directory_loads_without_its_negative_corpus() {
    // One run (shard 1 of 1000) but every file loaded: a file of scenarios/bad would exit 2.
    let o = faultline_in(&root(), &["sweep", "scenarios", "--seeds", "1", "--shard", "1/1000", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["runs"], 1);
    assert_eq!(json["results"][0]["file"], "scenarios/active-active-partition.toml", "the first file, sorted");
}
