//! Loading a scenario: bytes -> text -> TOML -> typed [`Scenario`] -> validated.
//!
//! Each stage turns its failure into a located [`ScenarioError`]: unreadable file (`Io`), not
//! text (`NotText`), nothing but comments (`Empty`), TOML syntax or type errors (`Toml`, with
//! toml's own messages made clearer where they are terse), and broken rules (`Invalid`, every
//! problem found by `validate`). Never panics on any input.

use super::error::{Problem, ScenarioError};
use super::types::Scenario;
use super::validate::validate;
use miette::NamedSource;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The largest scenario file read; anything larger is refused as an `Io` error.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads, parses and validates the scenario file at `path`.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = read_limited(path).map_err(|source| ScenarioError::Io { file: file.clone(), source })?;
    parse_bytes(&file, &bytes)
}

/// Parses and validates scenario `bytes` (which must be UTF-8 text); `name` is the file name
/// errors show.
pub fn parse_bytes(name: &str, bytes: &[u8]) -> Result<Scenario, ScenarioError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_str(name, text),
        Err(e) => {
            // `valid_up_to` ends the valid prefix, so this slice is valid UTF-8.
            let prefix = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            if prefix.contains('\0') {
                return parse_str(name, prefix); // reports the NUL, which comes first
            }
            let byte = bytes.get(prefix.len()).copied().unwrap_or_default();
            let message =
                format!("the file is not text: byte 0x{byte:02x} is not valid UTF-8; expected a UTF-8 TOML file");
            Err(not_text(name, prefix, message))
        }
    }
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let reason = format!("the file is larger than {} MiB; a scenario is a small text file", MAX_FILE_BYTES >> 20);
        return Err(std::io::Error::other(reason));
    }
    Ok(bytes)
}

/// Parses and validates scenario `text`; `name` is the file name errors show.
pub fn parse_str(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    if let Some(nul) = text.find('\0') {
        let message = "the file is not text: it holds a NUL byte; expected a UTF-8 TOML file".to_string();
        return Err(not_text(name, &text[..nul], message));
    }
    if is_blank(text) {
        return Err(ScenarioError::Empty { file: name.to_string() });
    }
    let src = NamedSource::new(name, Arc::<str>::from(text)).with_language("TOML");
    let mut scenario: Scenario =
        toml::from_str(text).map_err(|e| ScenarioError::Toml(Box::new(toml_problem(&src, text, &e))))?;
    super::resolve::fill_targets(&mut scenario);
    let findings = validate(&scenario, text);
    if findings.is_empty() {
        return Ok(scenario);
    }
    let problems = findings.into_iter().map(|f| Problem::new(&src, f.span, f.message, f.label)).collect();
    Err(ScenarioError::Invalid { problems })
}

/// A `NotText` error at the end of `prefix`, the text before the first bad byte.
fn not_text(name: &str, prefix: &str, message: String) -> ScenarioError {
    let src = NamedSource::new(name, Arc::<str>::from(prefix));
    ScenarioError::NotText(Box::new(Problem::new(&src, prefix.len()..prefix.len(), message, "the text ends here")))
}

/// Whether `text` holds nothing but whitespace, comments and a byte-order mark.
fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

fn toml_problem(src: &NamedSource<Arc<str>>, text: &str, error: &toml::de::Error) -> Problem {
    let span = error.span().unwrap_or(0..0);
    let found = text.get(span.clone()).unwrap_or_default();
    let (message, label) = clarify(error.message(), found);
    Problem::new(src, span, message, label)
}

/// toml's message, made clearer where it is terse, and a label for under the offending text.
/// `found` is the text the error's span covers.
fn clarify(message: &str, found: &str) -> (String, String) {
    if let Some(field) = between(message, "missing field `", "`") {
        let place = if found.is_empty() {
            "at the top level of the file".to_string()
        } else if found.starts_with('[') {
            format!("in {}", found.lines().next().unwrap_or(found))
        } else {
            "in this table".to_string()
        };
        return (format!("missing field `{field}` {place}"), format!("`{field}` is missing"));
    }
    if let Some(number) = between(message, "integer `", "`")
        && let Some(range) = message.rsplit("expected ").next().and_then(integer_range)
    {
        let what = if number.starts_with('-') { "negative" } else { "too large" };
        let message = format!("the number {number} is {what} here; expected an integer from {range}");
        return (message, format!("{what} number"));
    }
    if message == "duplicate key" && !found.is_empty() {
        return (format!("duplicate key `{found}`; each key may appear once per table"), "duplicate".into());
    }
    if message.starts_with("wanted exactly 1 element") {
        let message =
            "expected exactly one kind in this table, e.g. `{ poisson = { rate = 100 } }`; found more than one or none";
        return (message.to_string(), "one kind expected".into());
    }
    if message.starts_with("unknown field") {
        return (message.to_string(), "unknown field".into());
    }
    (message.to_string(), "here".into())
}

/// The text between the first `start` and the next `end` after it.
fn between<'m>(message: &'m str, start: &str, end: &str) -> Option<&'m str> {
    let rest = &message[message.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// "0 to 4294967295" for an integer type name as serde writes it ("u32").
fn integer_range(type_name: &str) -> Option<String> {
    let range = match type_name.trim() {
        "u8" => format!("0 to {}", u8::MAX),
        "u16" => format!("0 to {}", u16::MAX),
        "u32" => format!("0 to {}", u32::MAX),
        "u64" => format!("0 to {}", u64::MAX),
        "usize" => format!("0 to {}", usize::MAX),
        "i64" => format!("{} to {}", i64::MIN, i64::MAX),
        _ => return None,
    };
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid scenario with every section, for tests to break.
    pub(crate) const QUICKSTART: &str = include_str!("testdata/quickstart.toml");

    fn check(input: &str, expected: Result<(), (usize, usize, &str)>) {
        match (parse_str("t.toml", input), expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err((line, column, text))) => {
                assert!(e.message().contains(text), "{e}\nwanted {text:?}");
                assert_eq!((e.line(), e.column()), (Some(line), Some(column)), "{e}");
            }
            (got, want) => panic!("got {:?}, want {want:?}", got.map(|_| "a scenario")),
        }
    }

    #[test]
    fn the_quickstart_loads() {
        check(QUICKSTART, Ok(()));
        let scenario = parse_str("q.toml", QUICKSTART).expect("valid");
        assert_eq!(scenario.name, "quickstart");
        assert_eq!(scenario.hosts.len(), 4);
    }

    #[test]
    fn empty_and_not_text() {
        check("", Err((1, 1, "the file is empty")));
        check(" \n# only a comment\n\t\n", Err((1, 1, "the file is empty")));
        check("name = \"a\"\n\0\0", Err((2, 1, "NUL byte")));
        assert!(matches!(parse_str("t", "\u{feff}"), Err(ScenarioError::Empty { .. })));
    }

    #[test]
    fn toml_messages_are_made_clear() {
        check("name = \"q\"\nduration = \"20s\"", Err((1, 1, "missing field `hosts` at the top level")));
        let huge = QUICKSTART.replace("users = 50", "users = 99999999999999999999");
        check(&huge, Err((20, 9, "expected an integer from 0 to 4294967295")));
        let negative = QUICKSTART.replace("users = 50", "users = -3");
        check(&negative, Err((20, 9, "the number -3 is negative")));
        let dup = QUICKSTART.replace("users = 50", "users = 50\nusers = 5");
        check(&dup, Err((21, 1, "duplicate key `users`")));
        let two =
            QUICKSTART.replace("{ poisson = { rate = 200 } }", "{ poisson = { rate = 1 }, constant = { rate = 1 } }");
        check(&two, Err((21, 11, "expected exactly one kind")));
        let bare = QUICKSTART.replace("duration = \"20s\"", "duration = 20");
        check(&bare, Err((2, 12, "expected a duration string with a unit")));
    }

    #[test]
    fn clarify_leaves_other_messages_alone() {
        assert_eq!(
            clarify("invalid type: string \"x\", expected f64", "\"x\"").0,
            "invalid type: string \"x\", expected f64"
        );
        assert_eq!(clarify("missing field `role`", "{ }").0, "missing field `role` in this table");
        assert_eq!(clarify("missing field `users`", "[workload]\nx").0, "missing field `users` in [workload]");
        assert_eq!(between("a `b` c", "`", "`"), Some("b"));
        assert_eq!(integer_range("f64"), None);
    }

    #[test]
    fn load_file_reports_io_and_binary() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let missing = dir.path().join("missing.toml");
        let err = load_file(&missing).expect_err("missing file");
        assert!(matches!(err, ScenarioError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing.toml"), "{err}");
        let binary = dir.path().join("bin.toml");
        std::fs::write(&binary, b"name = \"x\"\nab\xff\xfe").expect("write");
        let err = load_file(&binary).expect_err("binary file");
        assert_eq!((err.line(), err.column()), (Some(2), Some(3)));
        assert!(err.message().contains("0xff"), "{err}");
        let good = dir.path().join("good.toml");
        std::fs::write(&good, QUICKSTART).expect("write");
        assert!(load_file(&good).is_ok());
        let nul_first = parse_bytes("n.toml", b"a = 1\n\0\xff").expect_err("binary");
        assert!(nul_first.message().contains("NUL"), "{nul_first}");
        assert_eq!(nul_first.line(), Some(2));
    }
}
