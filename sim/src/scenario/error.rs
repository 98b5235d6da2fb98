//! The errors a scenario file can cause: [`ScenarioError`] and the located [`Problem`]s in it.
//!
//! Every error names the file, the 1-based line and column (counted in characters) and what was
//! expected. `Display` is one line per error, `file:line:col: message`, for CI logs; miette's
//! fancy rendering shows the snippet, and for [`ScenarioError::Invalid`] every other problem as a
//! related diagnostic. Nothing here panics on any input: spans are clamped to the text.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use std::fmt;
use std::sync::Arc;

/// One thing wrong with a scenario file, located in it.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{file}:{line}:{column}: {message}")]
pub struct Problem {
    /// The file's name as given to the loader.
    pub file: String,
    /// The file's text, for the snippet.
    #[source_code]
    pub src: NamedSource<Arc<str>>,
    /// The byte range of the offending text.
    #[label("{label}")]
    pub span: SourceSpan,
    /// What is wrong and what was expected.
    pub message: String,
    /// A short note shown under the offending text.
    pub label: String,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
}

impl Problem {
    /// A problem at byte range `span` of `src` (clamped to the text and to char boundaries).
    pub fn new(
        src: &NamedSource<Arc<str>>,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Problem {
        let text: &str = src.inner();
        let start = floor_char_boundary(text, span.start);
        let end = floor_char_boundary(text, span.end.max(start));
        let (line, column) = line_column(text, start);
        Problem {
            file: src.name().to_string(),
            src: src.clone(),
            span: SourceSpan::from(start..end),
            message: message.into(),
            label: label.into(),
            line,
            column,
        }
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read: missing, a directory, no permission, or too large.
    #[error("{file}: cannot read the scenario file: {source}")]
    Io {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not text: it holds a NUL byte or is not valid UTF-8. The span is at the first
    /// bad byte; the snippet shows the text before it.
    #[error("{0}")]
    NotText(Box<Problem>),
    /// The file holds nothing but whitespace and comments.
    #[error("{file}:1:1: the file is empty; a scenario needs name, duration, hosts and workload")]
    Empty {
        /// The file's name.
        file: String,
    },
    /// A TOML syntax error, or a value of the wrong type, an unknown or missing field, a bad unit.
    #[error("{0}")]
    Toml(Box<Problem>),
    /// The file parsed but breaks rules of the format (see `docs/scenario.md`). Holds every
    /// problem found, in file order; never empty. `Display` shows the first and the count.
    #[error("{}", invalid_summary(problems))]
    Invalid {
        /// Every problem, in the order they appear in the file.
        problems: Vec<Problem>,
    },
}

/// The first problem and how many more there are.
fn invalid_summary(problems: &[Problem]) -> String {
    match problems {
        [] => "the scenario is invalid".to_string(),
        [only] => only.to_string(),
        [first, rest @ ..] if rest.len() == 1 => format!("{first} (and 1 more problem)"),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

impl ScenarioError {
    /// The file's name as given to the loader.
    pub fn file(&self) -> &str {
        match self {
            ScenarioError::Io { file, .. } | ScenarioError::Empty { file } => file,
            other => other.primary().map_or("", |p| &p.file),
        }
    }

    /// 1-based line of the (first) error; `None` when the file could not be read.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Empty { .. } => Some(1),
            other => other.primary().map(|p| p.line),
        }
    }

    /// 1-based column, in characters, of the (first) error; `None` when the file could not be read.
    pub fn column(&self) -> Option<usize> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Empty { .. } => Some(1),
            other => other.primary().map(|p| p.column),
        }
    }

    /// What is wrong and what was expected, without the location.
    pub fn message(&self) -> String {
        match self {
            ScenarioError::Io { source, .. } => format!("cannot read the scenario file: {source}"),
            ScenarioError::Empty { .. } => {
                "the file is empty; a scenario needs name, duration, hosts and workload".to_string()
            }
            other => other.primary().map_or_else(|| other.to_string(), |p| p.message.clone()),
        }
    }

    /// The located problems: one for `NotText` and `Toml`, all of them for `Invalid`, none for
    /// `Io` and `Empty`.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Io { .. } | ScenarioError::Empty { .. } => &[],
            ScenarioError::NotText(p) | ScenarioError::Toml(p) => std::slice::from_ref(&**p),
            ScenarioError::Invalid { problems } => problems,
        }
    }

    /// One `file:line:col: message` line per problem (one line for `Io` and `Empty`): what a CI
    /// log should show.
    pub fn report_lines(&self) -> Vec<String> {
        match self.problems() {
            [] => vec![self.to_string()],
            problems => problems.iter().map(Problem::to_string).collect(),
        }
    }

    fn primary(&self) -> Option<&Problem> {
        self.problems().first()
    }
}

impl Diagnostic for ScenarioError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            ScenarioError::Io { .. } => "faultline::scenario::io",
            ScenarioError::NotText(_) => "faultline::scenario::not_text",
            ScenarioError::Empty { .. } => "faultline::scenario::empty",
            ScenarioError::Toml(_) => "faultline::scenario::toml",
            ScenarioError::Invalid { .. } => "faultline::scenario::invalid",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match self {
            ScenarioError::Io { .. } => return None,
            ScenarioError::NotText(_) => "a scenario is a UTF-8 TOML text file",
            _ => "the format is described in docs/scenario.md; `faultline schema` prints it as JSON Schema",
        };
        Some(Box::new(help))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.primary().map(|p| &p.src as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.primary().and_then(|p| p.labels())
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            ScenarioError::Invalid { problems } if problems.len() > 1 => {
                Some(Box::new(problems[1..].iter().map(|p| p as &dyn Diagnostic)))
            }
            _ => None,
        }
    }
}

/// The largest char boundary of `text` at or below `offset` (clamped to the text's length).
pub(crate) fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, offset: usize, expected: (usize, usize)) {
        assert_eq!(line_column(text, offset), expected, "{text:?} at {offset}");
    }

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        check("", 0, (1, 1));
        check("abc", 2, (1, 3));
        check("a\nbc", 2, (2, 1));
        check("a\nbc", 3, (2, 2));
        check("a\r\nb", 3, (2, 1));
        check("é = 1", 2, (1, 2));
        check("é = 1", 1, (1, 1)); // inside a character: its start
        check("ab", 99, (1, 3)); // past the end: the end
    }

    fn source(text: &str) -> NamedSource<Arc<str>> {
        NamedSource::new("s.toml", Arc::from(text))
    }

    #[test]
    fn problem_clamps_its_span_to_the_text() {
        let p = Problem::new(&source("é\nx"), 1..99, "m", "l");
        assert_eq!(p.span, SourceSpan::from(0..4));
        assert_eq!((p.line, p.column), (1, 1));
        assert_eq!(p.to_string(), "s.toml:1:1: m");
    }

    #[test]
    fn invalid_shows_the_first_problem_and_counts_the_rest() {
        let src = source("a = 1\nb = 2\nc = 3\n");
        let problems = vec![
            Problem::new(&src, 6..7, "first", "here"),
            Problem::new(&src, 12..13, "second", "here"),
            Problem::new(&src, 0..1, "third", "here"),
        ];
        let err = ScenarioError::Invalid { problems };
        assert_eq!(err.to_string(), "s.toml:2:1: first (and 2 more problems)");
        assert_eq!((err.line(), err.column()), (Some(2), Some(1)));
        assert_eq!(err.report_lines().len(), 3);
        assert_eq!(err.related().map(Iterator::count), Some(2));
        let rendered = render(&err);
        assert!(rendered.contains("b = 2"), "{rendered}");
        assert!(rendered.contains("second"), "{rendered}");
    }

    #[test]
    fn io_and_empty_have_no_snippet() {
        let err = ScenarioError::Empty { file: "e.toml".into() };
        assert!(err.to_string().starts_with("e.toml:1:1: the file is empty"));
        assert!(err.source_code().is_none());
        let io = ScenarioError::Io { file: "x".into(), source: std::io::ErrorKind::NotFound.into() };
        assert_eq!(io.line(), None);
        assert_eq!(io.report_lines(), vec![io.to_string()]);
        let none = ScenarioError::Invalid { problems: Vec::new() };
        assert_eq!(none.to_string(), "the scenario is invalid");
        assert_eq!((none.line(), none.file()), (None, ""));
    }

    pub(crate) fn render(err: &dyn Diagnostic) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, err)
            .expect("rendering into a String cannot fail");
        out
    }
}
