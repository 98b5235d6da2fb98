//! The regression corpus: runs that once failed, kept in a TOML file (`scenarios/
//! regressions.toml`) and re-run by every sweep that is given the file, so a failure once found
//! stays found.
//!
//! Each entry names a scenario (relative to the corpus file), a seed and the whole fault
//! schedule the failing run applied (scripted and drawn, one `[[faults]]` entry per line), so
//! it replays even if the scenario's own faults or the swarm's drawing change. It is judged on
//! the checks that failed when it was recorded (`checks`; none listed: every invariant), which
//! must hold now; `swarm = true` says a swarm drew some of its faults (for the reader: the
//! schedule is whole either way). `faultline sweep --record-failures` appends the
//! failures a sweep found: the file is only ever appended to, so its comments stay.
//!
//! Owns: the corpus format ([`Entry`]), reading it with located errors ([`load`]), whether a
//! file is a corpus ([`is_corpus`]), the scenario an entry runs ([`Entry::scenario`]) and
//! appending ([`append`]). Must not: run anything (the sweep does).

use faultline_sim::scenario::emit::with_faults;
use faultline_sim::scenario::{Scenario, parse_str};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One run that once failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The scenario file, as the corpus names it (relative to the corpus file).
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// A swarm drew some of its faults (the schedule below holds them all).
    pub swarm: bool,
    /// The checks that failed when it was recorded.
    pub checks: Vec<String>,
    /// The whole schedule, one `[[faults]]` entry per line (`at = "12s", fault = { ... }`).
    pub faults: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    regression: Vec<Spanned<EntrySpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    scenario: String,
    seed: u64,
    #[serde(default)]
    swarm: bool,
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    faults: Vec<String>,
}

/// Whether `text` is a corpus rather than a scenario: its only top-level key is `regression`
/// (an empty file is neither).
pub fn is_corpus(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("regression") && t.len() == 1)
}

/// `file:line:col` of byte `offset` in `text`.
fn place(file: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{column}", file.display())
}

/// The corpus in `file`, each entry with where it starts; errors say file:line:col and what
/// was expected.
pub fn load(file: &Path) -> Result<Vec<(String, Entry)>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let spec: FileSpec = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or_else(|| file.display().to_string(), |s| place(file, &text, s.start));
        format!("{at}: {}; expected [[regression]] entries with scenario, seed, swarm, checks and faults", e.message())
    })?;
    let mut out = Vec::new();
    for entry in spec.regression {
        let at = place(file, &text, entry.span().start);
        let e = entry.into_inner();
        if e.scenario.trim().is_empty() {
            return Err(format!("{at}: an entry with an empty `scenario`; expected a scenario file's path"));
        }
        let entry = Entry { scenario: e.scenario, seed: e.seed, swarm: e.swarm, checks: e.checks, faults: e.faults };
        out.push((at, entry));
    }
    Ok(out)
}

impl Entry {
    /// The scenario file, resolved against the corpus file's directory.
    pub fn scenario_path(&self, corpus: &Path) -> PathBuf {
        corpus.parent().unwrap_or(Path::new(".")).join(&self.scenario)
    }

    /// The scenario this entry runs: the file with the entry's schedule as its scripted faults.
    /// `at` is where the entry starts (for errors).
    pub fn scenario(&self, corpus: &Path, at: &str) -> Result<Scenario, String> {
        let path = self.scenario_path(corpus);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
        let rewritten =
            with_faults(&text, &self.faults, "").map_err(|e| format!("{at}: {} is not TOML: {e}", path.display()))?;
        parse_str(&path.display().to_string(), &rewritten).map_err(|e| {
            let what: Vec<String> = e.report_lines();
            format!("{at}: the entry's scenario with its faults is not valid: {}", what.join("; "))
        })
    }

    /// The entry as the corpus file writes it.
    pub fn text(&self) -> String {
        let quote = |s: &str| format!("{s:?}");
        let mut out = String::from("[[regression]]\n");
        out.push_str(&format!("scenario = {}\nseed = {}\n", quote(&self.scenario), self.seed));
        if self.swarm {
            out.push_str("swarm = true\n");
        }
        let checks: Vec<String> = self.checks.iter().map(|c| quote(c)).collect();
        out.push_str(&format!("checks = [{}]\n", checks.join(", ")));
        out.push_str("faults = [\n");
        for f in &self.faults {
            out.push_str(&format!("  {},\n", quote(f)));
        }
        out.push_str("]\n");
        out
    }
}

/// `(CORPUS, N)` when `path` is `CORPUS#N` and CORPUS is a regression corpus file.
pub fn entry_name(path: &Path) -> Option<(PathBuf, usize)> {
    let text = path.to_str()?;
    let (file, n) = text.rsplit_once('#')?;
    let n: usize = n.parse().ok()?;
    let file = PathBuf::from(file);
    let corpus = std::fs::read_to_string(&file).is_ok_and(|t| is_corpus(&t));
    corpus.then_some((file, n))
}

/// The scenario the `n`-th entry (from 1) of the corpus `file` runs, with the entry's seed as
/// its own.
pub fn load_entry(file: &Path, n: usize) -> Result<Scenario, String> {
    let entries = load(file)?;
    let count = entries.len();
    let (at, entry) = n
        .checked_sub(1)
        .and_then(|i| entries.into_iter().nth(i))
        .ok_or_else(|| format!("{} has {count} entries; expected #1 to #{count}", file.display()))?;
    let mut scenario = entry.scenario(file, &at)?;
    scenario.seed = entry.seed;
    Ok(scenario)
}

/// Appends `entries` to the corpus `file` (created with a header if missing), leaving out any
/// already in it; returns how many were added.
pub fn append(file: &Path, entries: &[Entry]) -> Result<usize, String> {
    let existing: Vec<Entry> = match file.exists() {
        true => load(file)?.into_iter().map(|(_, e)| e).collect(),
        false => Vec::new(),
    };
    let mut text = match file.exists() {
        true => std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?,
        false => {
            "# Regression corpus: runs that once failed, re-run by `faultline sweep` given this file.\n".to_string()
        }
    };
    let mut added = 0;
    for entry in entries.iter().filter(|e| !existing.contains(e)) {
        if !text.ends_with("\n\n") {
            text.push('\n');
        }
        text.push_str(&entry.text());
        added += 1;
    }
    std::fs::write(file, text).map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seed: u64) -> Entry {
        Entry {
            scenario: "partition.toml".into(),
            seed,
            swarm: true,
            checks: vec!["availability at least 99%".into()],
            faults: vec!["at = \"8s\", for = \"2s\", fault = { partition = { a = [\"app\"], b = [\"db\"] } }".into()],
        }
    }

    #[test]
    fn appended_entries_read_back_and_duplicates_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("regressions.toml");
        assert_eq!(append(&file, &[entry(1), entry(2)]).unwrap(), 2);
        assert_eq!(append(&file, &[entry(2), entry(3)]).unwrap(), 1, "seed 2 is there already");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# Regression corpus"), "{text}");
        assert!(is_corpus(&text));
        let back: Vec<Entry> = load(&file).unwrap().into_iter().map(|(_, e)| e).collect();
        assert_eq!(back, vec![entry(1), entry(2), entry(3)]);
        let (at, _) = &load(&file).unwrap()[1];
        assert!(at.ends_with("regressions.toml:11:1") || at.contains("regressions.toml:"), "{at}");
    }

    #[test]
    fn an_entry_runs_its_scenario_with_its_schedule() {
        let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join("regressions.toml");
        let scenario = entry(1).scenario(&corpus, "here").unwrap();
        assert_eq!(scenario.faults.len(), 1);
        assert_eq!(scenario.faults[0].get_ref().length.as_ref().unwrap().get_ref().0.as_secs(), 2);
        let mut bad = entry(1);
        bad.faults = vec!["at = \"1s\", fault = { kill = \"nowhere\" }".into()];
        let err = bad.scenario(&corpus, "c.toml:3:1").unwrap_err();
        assert!(
            err.starts_with("c.toml:3:1: the entry's scenario with its faults is not valid") && err.contains("nowhere"),
            "{err}"
        );
        let mut missing = entry(1);
        missing.scenario = "gone.toml".into();
        assert!(missing.scenario(&corpus, "c.toml:3:1").unwrap_err().contains("cannot read"));
    }

    #[test]
    fn bad_corpora_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[[regression]]\nscenario = \"a.toml\"\nseed = \"seven\"\n").unwrap();
        let err = load(&file).unwrap_err();
        assert!(err.contains("c.toml:3:8") && err.contains("expected [[regression]] entries"), "{err}");
        std::fs::write(&file, "[[regression]]\nscenario = \"a.toml\"\nseed = 1\ncolour = 2\n").unwrap();
        assert!(load(&file).unwrap_err().contains("c.toml:4:1"), "{}", load(&file).unwrap_err());
        assert!(!is_corpus("name = \"x\"\n[[hosts]]\nname = \"a\"\n"), "a scenario is not a corpus");
        assert!(!is_corpus(""), "nor is an empty file");
    }
}
