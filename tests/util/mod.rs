//! Helpers shared by the CLI tests: run the real `faultline` binary and read what it printed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root (where `scenarios/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scenario of the library by file name.
pub fn scenario(name: &str) -> PathBuf {
    root().join("scenarios").join(name)
}

/// `partition.toml` without its `expected_failures`, written in `dir`: a run of it fails
/// (availability) and exits 1, as a run whose failure nobody expected does.
pub fn unexpected_partition(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(scenario("partition.toml")).expect("the library's partition");
    let line = "expected_failures = [\"availability at least 99%\"]\n";
    assert!(text.contains(line), "partition.toml expects its availability to fail");
    let file = dir.join("partition.toml");
    std::fs::write(&file, text.replace(line, "")).expect("a temporary scenario");
    file
}

/// The variables `faultline sweep` reads its shard from: a test suite run inside a CI matrix, a
/// Kubernetes Indexed Job or a Slurm array must not shard the sweeps its tests run.
pub const SHARD_VARIABLES: [&str; 4] =
    ["FAULTLINE_SHARD", "JOB_COMPLETION_INDEX", "FAULTLINE_SHARD_COUNT", "SLURM_ARRAY_TASK_ID"];

/// The `faultline` binary, without the shard variables of the test's environment.
pub fn command() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("faultline").expect("the binary is built");
    for name in SHARD_VARIABLES {
        cmd.env_remove(name);
    }
    cmd
}

/// Runs `faultline ARGS` and returns its output.
pub fn faultline(args: &[&str]) -> Output {
    command().args(args).output().expect("it runs")
}

/// Like [`faultline`], with the working directory set.
pub fn faultline_in(dir: &Path, args: &[&str]) -> Output {
    command().current_dir(dir).args(args).output().expect("it runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// The trace hash (the first 32-hex-digit word) printed in a report or determinism output.
pub fn hash_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_hexdigit()).find(|w| w.len() == 32).expect("a 32-hex-digit hash").to_string()
}

/// Writes, in `dir`, a scenario whose store only takes writes and is judged on staleness: there
/// is no read to measure, so that check cannot decide. Returns its path.
pub fn write_only(dir: &Path) -> PathBuf {
    let file = dir.join("write-only.toml");
    let text = r#"
name = "write-only"
duration = "2s"

[[hosts]]
name = "db"
service = { kv = { role = "primary" } }

[workload]
targets = ["db"]
users = 4
arrival = { poisson = { rate = 50 } }
read_ratio = 0.0

[checks]
max_staleness = "100ms"
"#;
    std::fs::write(&file, text).expect("the temp dir is writable");
    file
}

/// The path of a real peer tool (redis-cli, curl, wrk, ...), or `None` (with the reason on
/// stderr) when it is not installed and the run does not require it: with
/// `FAULTLINE_REQUIRE_PEERS` set (as `.ci/run` sets it), a missing tool fails the test.
pub fn peer(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(tool)).find(|path| path.is_file()));
    if found.is_none() {
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_PEERS").is_none(),
            "{tool} is not installed, and FAULTLINE_REQUIRE_PEERS is set: run scripts/install-test-deps.sh"
        );
        eprintln!("skipped: {tool} is not installed (scripts/install-test-deps.sh installs it)");
    }
    found
}
