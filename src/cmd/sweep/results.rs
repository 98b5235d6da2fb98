//! A sweep's results: what one run decided ([`RunResult`]), the key it is stored under
//! ([`RunKey`]), and the results directory `DIR/runs/` that `--out` fills and `merge` reads.
//!
//! Owns: the result's JSON fields (a boundary: add fields, never rename), the one function from
//! (scenario path, seed) to a result's file name, the scenario file's content hash, and the
//! write-then-rename that keeps a killed sweep from leaving half a file. Must not: run a
//! simulation or print a summary.

use crate::cmd::run::Variant;
use faultline_chaos::report::Verdict;
use std::path::{Path, PathBuf};

/// The subdirectory of an `--out` directory that holds one JSON file per finished run.
pub const RUNS_DIR: &str = "runs";

/// The suffix of a result file being written; such a file is never read as a result.
const TEMP_SUFFIX: &str = ".tmp";

/// What identifies a run among a sweep's results: one run per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunKey {
    /// The scenario file, as the sweep named it.
    pub file: PathBuf,
    /// The master seed.
    pub seed: u64,
    /// A swarm run, a planted bug.
    pub variant: Variant,
}

impl RunKey {
    /// The key of the plain run of `file` under `seed`.
    #[cfg(test)]
    pub fn new(file: &Path, seed: u64) -> RunKey {
        RunKey::of(file, seed, Variant::default())
    }

    /// The key of the run of `file` under `seed` as `variant` asks.
    pub fn of(file: &Path, seed: u64, variant: Variant) -> RunKey {
        RunKey { file: file.to_path_buf(), seed, variant }
    }

    /// The file name of the run's result in `DIR/runs/`: readable (the scenario's file stem
    /// and the seed) and unique (a hash of the whole path tells apart two `x.toml` in two
    /// directories).
    pub fn file_name(&self) -> String {
        let path = self.file.to_string_lossy();
        let stem = self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let readable: String =
            stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let swarm = if self.variant.swarm { "-swarm" } else { "" };
        let plant = self.variant.plant.map(|p| format!("-plant-{p}")).unwrap_or_default();
        let engine = match self.variant.engine {
            faultline_sim::Engine::Turmoil => "",
            faultline_sim::Engine::Madsim => "-madsim",
        };
        format!("{readable}-{:016x}-seed-{}{swarm}{plant}{engine}.json", fnv1a(path.as_bytes()), self.seed)
    }
}

/// Whether a result's engine is the default one (left out of its file).
fn is_turmoil(engine: &faultline_sim::Engine) -> bool {
    *engine == faultline_sim::Engine::Turmoil
}

/// One failed, undecided or expected-to-fail check of a run, in words, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckNote {
    /// The check's name.
    pub name: String,
    /// What it means for the run: `fail`, `unknown`, or `pass` for a check that failed as its
    /// scenario expects.
    pub outcome: Verdict,
    /// The measured value and the bound, in words.
    pub detail: String,
    /// Where it broke, in words (empty when there is no evidence).
    pub evidence: String,
}

/// What one run decided. Its JSON is a boundary (results files, `merge`, `--format json`):
/// fields are added, never renamed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    pub file: PathBuf,
    pub seed: u64,
    /// A swarm run: faults drawn from the seed on top of the scripted ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swarm: bool,
    /// The bug planted in the models (tests of the checks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plant: Option<faultline_sim::Plant>,
    /// The engine that ran it (absent: turmoil).
    #[serde(default, skip_serializing_if = "is_turmoil")]
    pub engine: faultline_sim::Engine,
    /// The faults a swarm run drew, one `[[faults]]` entry per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drawn: Vec<String>,
    /// Names of the failed checks; a run that could not complete fails "run completes".
    pub failed: Vec<String>,
    /// Names of the checks that could not decide.
    pub undecided: Vec<String>,
    /// Names of the checks that failed as the scenario expected (they pass the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
    /// Why the simulator gave this run no outcome (a panic): the sweep's verdict is incomplete.
    pub internal_error: Option<String>,
    /// The trace hash.
    pub hash: Option<String>,
    /// The hash of the scenario file's bytes when it ran ([`content_hash`]): a stored result
    /// of a file that changed since is run again.
    #[serde(default)]
    pub scenario_hash: String,
    /// The failed, undecided and expected-to-fail checks with their detail and evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckNote>,
    /// Wall time of the run, seconds. It varies from run to run, so it is no part of what a run
    /// decided: `summary.json` and `merge`'s comparison leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
}

impl RunResult {
    /// A result of `key` with nothing decided yet.
    pub fn new(key: &RunKey, scenario_hash: &str) -> RunResult {
        RunResult {
            file: key.file.clone(),
            seed: key.seed,
            swarm: key.variant.swarm,
            plant: key.variant.plant,
            engine: key.variant.engine,
            drawn: Vec::new(),
            failed: Vec::new(),
            undecided: Vec::new(),
            expected: Vec::new(),
            internal_error: None,
            hash: None,
            scenario_hash: scenario_hash.to_string(),
            checks: Vec::new(),
            wall_s: None,
        }
    }

    /// The key this result is stored under.
    pub fn key(&self) -> RunKey {
        RunKey::of(&self.file, self.seed, self.variant())
    }

    /// How the run differed from its scenario's own.
    pub fn variant(&self) -> Variant {
        Variant { swarm: self.swarm, plant: self.plant, engine: self.engine }
    }

    /// The command that reproduces it.
    pub fn reproduce(&self) -> String {
        crate::cmd::run::reproduce_with(&self.file, self.seed, &self.variant())
    }

    /// The command that replays it in the GUI.
    pub fn replay(&self) -> String {
        crate::cmd::run::replay_line(&self.file, self.seed, &self.variant())
    }

    /// The run's verdict: failed, else undecided, else passed.
    pub fn verdict(&self) -> Verdict {
        match (self.failed.is_empty(), self.undecided.is_empty()) {
            (false, _) => Verdict::Fail,
            (true, false) => Verdict::Unknown,
            (true, true) => Verdict::Pass,
        }
    }

    /// The result without what varies between equal runs (its wall time).
    pub fn decided(&self) -> RunResult {
        RunResult { wall_s: None, ..self.clone() }
    }
}

/// FNV-1a, 64 bits: a small stable hash (not a defence against anyone).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The hash of a scenario file's bytes, 16 hex digits: equal bytes, equal hash.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it, then a
/// rename, so a sweep killed at any moment leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}{TEMP_SUFFIX}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Writes a run's result into `runs` (a `DIR/runs/` directory) under its key's file name.
pub fn store(runs: &Path, result: &RunResult) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(result).expect("results serialize");
    write_atomic(&runs.join(result.key().file_name()), json.as_bytes())
}

/// Removes the temporary files a killed sweep left in `runs`; returns how many.
pub fn remove_unfinished(runs: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(runs)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(TEMP_SUFFIX) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The stored result of `key` in `runs`, when there is one for a scenario file with this
/// `scenario_hash` (a result that does not parse, or of another file's bytes, is none).
pub fn stored(runs: &Path, key: &RunKey, scenario_hash: &str) -> Option<RunResult> {
    let text = std::fs::read_to_string(runs.join(key.file_name())).ok()?;
    let result: RunResult = serde_json::from_str(&text).ok()?;
    (result.key() == *key && result.scenario_hash == scenario_hash).then_some(result)
}

/// Every result file in `runs`, sorted by file name, temporary files left out.
pub fn result_files(runs: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(runs)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".json") && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_file_by_stem_path_and_seed() {
        let key = RunKey::of(Path::new("scenarios/quick start.toml"), 7, Variant::default());
        let name = key.file_name();
        assert!(name.starts_with("quick_start-"), "{name}");
        assert!(name.ends_with("-seed-7.json"), "{name}");
        let other_dir = RunKey::of(Path::new("more/quick start.toml"), 7, Variant::default()).file_name();
        assert_ne!(name, other_dir, "two files of one name in two directories");
        assert_ne!(name, RunKey::of(Path::new("scenarios/quick start.toml"), 8, Variant::default()).file_name());
        assert_eq!(name, key.clone().file_name(), "one key, one name");
        let swarm = Variant { swarm: true, ..Variant::default() };
        let planted =
            Variant { swarm: true, plant: Some(faultline_sim::Plant::AckBeforeProcess), ..Variant::default() };
        let madsim = Variant { engine: faultline_sim::Engine::Madsim, ..Variant::default() };
        let path = Path::new("scenarios/quick start.toml");
        assert!(RunKey::of(path, 7, madsim).file_name().ends_with("-seed-7-madsim.json"));
        assert!(RunKey::of(path, 7, swarm).file_name().ends_with("-seed-7-swarm.json"));
        assert!(RunKey::of(path, 7, planted).file_name().ends_with("-seed-7-swarm-plant-ack-before-process.json"));
    }

    #[test]
    fn the_content_hash_is_stable() {
        assert_eq!(content_hash(b""), "cbf29ce484222325");
        assert_eq!(content_hash(b"a"), "af63dc4c8601ec8c");
        assert_ne!(content_hash(b"seed = 1"), content_hash(b"seed = 2"));
    }

    #[test]
    fn stored_results_are_found_only_for_the_same_key_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let key = RunKey::of(Path::new("a.toml"), 3, Variant::default());
        let mut result = RunResult::new(&key, "00aa");
        result.wall_s = Some(0.5);
        store(dir.path(), &result).unwrap();
        assert_eq!(stored(dir.path(), &key, "00aa"), Some(result.clone()));
        assert_eq!(stored(dir.path(), &key, "00bb"), None, "the scenario changed");
        assert_eq!(stored(dir.path(), &RunKey::of(Path::new("a.toml"), 4, Variant::default()), "00aa"), None);
        std::fs::write(dir.path().join(format!(".x.json.1{TEMP_SUFFIX}")), "{ half").unwrap();
        assert_eq!(result_files(dir.path()).unwrap(), vec![dir.path().join(key.file_name())]);
        assert_eq!(remove_unfinished(dir.path()).unwrap(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(result.decided().wall_s, None);
    }
}
