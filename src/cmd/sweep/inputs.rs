//! The scenario files a sweep runs: its PATHS, a directory expanded to the `*.toml` files under
//! it, recursively, sorted, each file once.
//!
//! A directory named `bad` found inside a directory is skipped: by the library's convention it
//! holds the negative-test corpus (`scenarios/bad`: files that must not parse, for the scenario
//! error tests). Named on the command line, it is swept like any other (and its files fail to
//! load, with located errors). Owns: expanding paths. Must not: parse or run a scenario.

use std::path::{Component, Path, PathBuf};

/// The directory name of a negative-test corpus, skipped when found inside a swept directory.
pub const NEGATIVE_CORPUS: &str = "bad";

/// How deep a directory is walked: deeper is a symbolic-link loop, not a scenario library.
const MAX_DEPTH: usize = 32;

/// `path` without `.` components, so `./scenarios/x.toml` and `scenarios/x.toml` are one run.
pub fn normal(path: &Path) -> PathBuf {
    let kept: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
    if kept.as_os_str().is_empty() { PathBuf::from(".") } else { kept }
}

/// The scenario files of `paths`, sorted, each once: a file as it is (whatever its extension:
/// loading it says whether it is a scenario), a directory as its `*.toml` files.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let path = normal(path);
        if path.is_dir() {
            let before = files.len();
            walk(&path, 0, &mut files)?;
            if files.len() == before {
                return Err(format!("{}: no *.toml scenario file in this directory", path.display()));
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Adds the `*.toml` files under `dir` to `files`.
fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: directories nest deeper than {MAX_DEPTH} (a symbolic-link loop?)", dir.display()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: cannot list: {e}", dir.display()))?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == NEGATIVE_CORPUS) {
                continue;
            }
            walk(&path, depth + 1, files)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_expands_to_its_toml_files_recursively_sorted_without_the_negative_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["b.toml", "a.toml", "notes.md", "deep/c.toml", "deep/er/d.toml", "bad/broken.toml"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        let files = expand(&[root.to_path_buf(), root.join("a.toml")]).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.strip_prefix(root).unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.toml", "b.toml", "deep/c.toml", "deep/er/d.toml"]);
        let named = expand(&[root.join("bad")]).unwrap();
        assert_eq!(named, [root.join("bad/broken.toml")], "named on the command line, it is swept");
        std::fs::create_dir(root.join("empty")).unwrap();
        assert!(expand(&[root.join("empty")]).unwrap_err().contains("no *.toml"));
    }

    #[test]
    fn paths_lose_their_dot_components() {
        assert_eq!(normal(Path::new("./scenarios/./x.toml")), PathBuf::from("scenarios/x.toml"));
        assert_eq!(normal(Path::new(".")), PathBuf::from("."));
        assert_eq!(normal(Path::new("/a/../b.toml")), PathBuf::from("/a/../b.toml"));
    }
}
