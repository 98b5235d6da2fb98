//! A small reader for the subset of EDN that Jepsen and Knossos histories use.
//!
//! Owns: [`Reader`] (top-level values one at a time, each with its line and column) and
//! [`EdnError`] (line, column, what was expected and what was found). Reads maps, vectors,
//! lists, sets, keywords, integers, `nil`, `true`/`false`, strings, symbols, and, so that real
//! Jepsen files with exception maps still read, floats, tagged values (`#inst "..."`, kept with
//! their tag) and `#_` discards; `;` comments and commas are whitespace. Must not: panic or
//! recurse without bound on any input (nesting is capped at [`MAX_DEPTH`]), or know what a
//! history is (see `jepsen`).

use std::fmt;

/// How deeply values may nest.
pub const MAX_DEPTH: usize = 64;

/// A place in the text: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string, unescaped.
    Str(String),
    /// A keyword, without its colon.
    Keyword(String),
    /// Any other symbol.
    Symbol(String),
    /// `[...]`.
    Vector(Vec<Spanned>),
    /// `(...)`.
    List(Vec<Spanned>),
    /// `#{...}`.
    Set(Vec<Spanned>),
    /// `{...}`, as key-value pairs in text order.
    Map(Vec<(Spanned, Spanned)>),
    /// `#tag value`.
    Tagged(String, Box<Spanned>),
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub edn: Edn,
}

/// Why a text is not (supported) EDN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdnError {
    /// Something other than what the grammar allows at this point.
    #[error("{pos}: expected {expected}, found {found}")]
    Unexpected {
        /// Where.
        pos: Pos,
        /// What would have been allowed.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// The text ended inside a value.
    #[error("{pos}: expected {expected}, found the end of the input ({what} opened at {opened})")]
    UnexpectedEnd {
        /// The end of the text.
        pos: Pos,
        /// What would have been allowed.
        expected: &'static str,
        /// What was not closed.
        what: &'static str,
        /// Where it was opened.
        opened: Pos,
    },
    /// A closing bracket that does not match the open one.
    #[error("{pos}: expected '{close}' to close the {what} opened at {opened}, found '{found}'")]
    Mismatched {
        /// Where the wrong bracket is.
        pos: Pos,
        /// The bracket that would close the open value.
        close: char,
        /// What is open.
        what: &'static str,
        /// Where it was opened.
        opened: Pos,
        /// The bracket found.
        found: char,
    },
    /// An integer too large for 64 bits.
    #[error("{pos}: integer {text} does not fit in 64 bits")]
    IntegerOverflow {
        /// Where it starts.
        pos: Pos,
        /// Its text.
        text: String,
    },
    /// Values nested deeper than [`MAX_DEPTH`].
    #[error("{pos}: values nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Where the too-deep value starts.
        pos: Pos,
    },
}

impl EdnError {
    /// Where the error is.
    pub fn pos(&self) -> Pos {
        match self {
            EdnError::Unexpected { pos, .. }
            | EdnError::UnexpectedEnd { pos, .. }
            | EdnError::Mismatched { pos, .. }
            | EdnError::IntegerOverflow { pos, .. }
            | EdnError::TooDeep { pos } => *pos,
        }
    }
}

const VALUE: &str = "a value (map, vector, keyword, integer, string or nil)";

fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || ".*+!-_?$%&=<>/:#'".contains(c)
}

fn describe(c: char) -> String {
    if c.is_control() { format!("character U+{:04X}", c as u32) } else { format!("'{c}'") }
}

/// Reads top-level values from a text, one at a time.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
    pos: Pos,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader { text, at: 0, pos: Pos { line: 1, col: 1 } }
    }

    /// The next top-level value, or `None` at the end of the text.
    pub fn next_value(&mut self) -> Result<Option<Spanned>, EdnError> {
        loop {
            self.skip_blank();
            if self.peek().is_none() {
                return Ok(None);
            }
            if let Some(value) = self.value(0)? {
                return Ok(Some(value));
            }
        }
    }

    /// Where the reader is.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.pos = Pos { line: self.pos.line + 1, col: 1 };
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() || c == ',' {
                self.bump();
            } else {
                return;
            }
        }
    }

    /// One value at the cursor (blanks skipped); `None` for a `#_` discard.
    fn value(&mut self, depth: usize) -> Result<Option<Spanned>, EdnError> {
        let pos = self.pos;
        if depth >= MAX_DEPTH {
            return Err(EdnError::TooDeep { pos });
        }
        let Some(c) = self.peek() else {
            return Err(EdnError::Unexpected { pos, expected: VALUE, found: "the end of the input".into() });
        };
        let edn = match c {
            '{' => self.map(depth)?,
            '[' => Edn::Vector(self.seq(']', depth, "vector")?),
            '(' => Edn::List(self.seq(')', depth, "list")?),
            '"' => self.string()?,
            ':' => self.keyword()?,
            '#' => return self.dispatch(depth),
            c if is_symbol_char(c) => self.atom()?,
            c => return Err(EdnError::Unexpected { pos, expected: VALUE, found: describe(c) }),
        };
        Ok(Some(Spanned { pos, edn }))
    }

    /// The values up to `close` (the opener is at the cursor).
    fn seq(&mut self, close: char, depth: usize, what: &'static str) -> Result<Vec<Spanned>, EdnError> {
        let opened = self.pos;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    let expected = match close {
                        ']' => "']' or a value",
                        ')' => "')' or a value",
                        _ => "'}' or a value",
                    };
                    return Err(EdnError::UnexpectedEnd { pos: self.pos, expected, what, opened });
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(found @ (')' | ']' | '}')) => {
                    return Err(EdnError::Mismatched { pos: self.pos, close, what, opened, found });
                }
                Some(_) => items.extend(self.value(depth + 1)?),
            }
        }
    }

    fn map(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let items = self.seq('}', depth, "map")?;
        if items.len() % 2 == 1 {
            let last = &items[items.len() - 1];
            return Err(EdnError::Unexpected {
                pos: last.pos,
                expected: "a key followed by its value (this map has an odd number of forms)",
                found: "a key without a value".into(),
            });
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }

    /// `#{...}`, `#_ value`, `#tag value`.
    fn dispatch(&mut self, depth: usize) -> Result<Option<Spanned>, EdnError> {
        let pos = self.pos;
        self.bump();
        match self.peek() {
            Some('{') => Ok(Some(Spanned { pos, edn: Edn::Set(self.seq('}', depth, "set")?) })),
            Some('_') => {
                self.bump();
                self.skip_blank();
                self.value(depth + 1).map(|_| None)
            }
            Some(c) if c.is_alphabetic() => {
                let tag = self.token();
                self.skip_blank();
                match self.value(depth + 1)? {
                    Some(inner) => Ok(Some(Spanned { pos, edn: Edn::Tagged(tag, Box::new(inner)) })),
                    None => Err(EdnError::Unexpected { pos, expected: "a value after the tag", found: "#_".into() }),
                }
            }
            other => Err(EdnError::Unexpected {
                pos,
                expected: "'#{', '#_' or a tag after '#'",
                found: other.map_or("the end of the input".into(), |c| format!("'#' then {}", describe(c))),
            }),
        }
    }

    fn token(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(is_symbol_char) {
            self.bump();
        }
        self.text[start..self.at].to_string()
    }

    fn keyword(&mut self) -> Result<Edn, EdnError> {
        let pos = self.pos;
        self.bump();
        let name = self.token();
        if name.is_empty() || name.starts_with(':') {
            let found = self.peek().map_or("the end of the input".into(), describe);
            return Err(EdnError::Unexpected { pos, expected: "a keyword name after ':'", found });
        }
        Ok(Edn::Keyword(name))
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        let opened = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            let pos = self.pos;
            match self.bump() {
                None => {
                    let expected = "'\"' to close the string";
                    return Err(EdnError::UnexpectedEnd { pos, expected, what: "string", opened });
                }
                Some('"') => return Ok(Edn::Str(s)),
                Some('\\') => s.push(match self.bump() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some(c @ ('"' | '\\')) => c,
                    other => {
                        let found = other.map_or("the end of the input".into(), describe);
                        let expected = "an escape (\\n, \\t, \\r, \\\" or \\\\) after '\\'";
                        return Err(EdnError::Unexpected { pos, expected, found });
                    }
                }),
                Some(c) => s.push(c),
            }
        }
    }

    /// A number, `nil`, `true`, `false` or another symbol.
    fn atom(&mut self) -> Result<Edn, EdnError> {
        let pos = self.pos;
        let text = self.token();
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(&text);
        if !unsigned.starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(match text.as_str() {
                "nil" => Edn::Nil,
                "true" => Edn::Bool(true),
                "false" => Edn::Bool(false),
                _ => Edn::Symbol(text),
            });
        }
        let digits = text.strip_suffix('N').unwrap_or(&text);
        if digits.bytes().skip(1).all(|b| b.is_ascii_digit()) {
            return digits.parse::<i64>().map(Edn::Int).map_err(|_| EdnError::IntegerOverflow { pos, text });
        }
        match text.strip_suffix('M').unwrap_or(&text).parse::<f64>() {
            Ok(f) => Ok(Edn::Float(f)),
            Err(_) => Err(EdnError::Unexpected { pos, expected: "a number", found: format!("'{text}'") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(text: &str) -> Result<Vec<Edn>, EdnError> {
        let mut reader = Reader::new(text);
        let mut out = Vec::new();
        while let Some(v) = reader.next_value()? {
            out.push(v.edn);
        }
        Ok(out)
    }

    fn check(text: &str, expected: &str) {
        let got = match read_all(text) {
            Ok(values) => format!("{values:?}"),
            Err(e) => format!("error {e}"),
        };
        assert_eq!(got, expected, "reading {text:?}");
    }

    #[test]
    fn values() {
        check(
            "nil true -12 +3 7N 1.5 \"a\\\"b\" :f :jepsen/x sym",
            r#"[Nil, Bool(true), Int(-12), Int(3), Int(7), Float(1.5), Str("a\"b"), Keyword("f"), Keyword("jepsen/x"), Symbol("sym")]"#,
        );
        check(
            "[1 [2]] (3) #{4}",
            "[Vector([Spanned { pos: Pos { line: 1, col: 2 }, edn: Int(1) }, Spanned { pos: Pos { line: 1, col: 4 }, edn: Vector([Spanned { pos: Pos { line: 1, col: 5 }, edn: Int(2) }]) }]), List([Spanned { pos: Pos { line: 1, col: 10 }, edn: Int(3) }]), Set([Spanned { pos: Pos { line: 1, col: 15 }, edn: Int(4) }])]",
        );
        check(
            "; comment\n\n{:a 1, :b nil} ; trailing\n#_ {:x 1} #inst \"2020\"",
            r#"[Map([(Spanned { pos: Pos { line: 3, col: 2 }, edn: Keyword("a") }, Spanned { pos: Pos { line: 3, col: 5 }, edn: Int(1) }), (Spanned { pos: Pos { line: 3, col: 8 }, edn: Keyword("b") }, Spanned { pos: Pos { line: 3, col: 11 }, edn: Nil })]), Tagged("inst", Spanned { pos: Pos { line: 4, col: 17 }, edn: Str("2020") })]"#,
        );
        check("", "[]");
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        check(
            "{:a 1\n :b}",
            "error 2:2: expected a key followed by its value (this map has an odd number of forms), found a key without a value",
        );
        check("{:a 1\n", "error 2:1: expected '}' or a value, found the end of the input (map opened at 1:1)");
        check("[1 2}", "error 1:5: expected ']' to close the vector opened at 1:1, found '}'");
        check("1 }", "error 1:3: expected a value (map, vector, keyword, integer, string or nil), found '}'");
        check(
            "  \"abc",
            "error 1:7: expected '\"' to close the string, found the end of the input (string opened at 1:3)",
        );
        check("99999999999999999999", "error 1:1: integer 99999999999999999999 does not fit in 64 bits");
        check(": x", "error 1:1: expected a keyword name after ':', found ' '");
        check("\"\\q\"", "error 1:2: expected an escape (\\n, \\t, \\r, \\\" or \\\\) after '\\', found 'q'");
        check("1.2.3", "error 1:1: expected a number, found '1.2.3'");
        check("#", "error 1:1: expected '#{', '#_' or a tag after '#', found the end of the input");
        check(&"[".repeat(100), &format!("error 1:{}: values nested deeper than 64 levels", MAX_DEPTH + 1));
        assert_eq!(read_all("é é\n  @").unwrap_err().pos(), Pos { line: 2, col: 3 });
    }

    proptest! {
        /// No text makes the reader panic, and every error points inside the text.
        #[test]
        fn never_panics(text in "(\\PC|[{}\\[\\]()#_:;\"\\\\,\n 0-9a-z+-.N])*") {
            let lines = text.split('\n').count();
            if let Err(e) = read_all(&text) {
                prop_assert!(e.pos().line <= lines, "{e} for {text:?}");
            }
        }

        /// Nested vectors of integers read back as written.
        #[test]
        fn integers_round_trip(xs in prop::collection::vec(any::<i64>(), 0..20)) {
            let text = format!("[{}]", xs.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "));
            let values = read_all(&text).unwrap();
            let Edn::Vector(items) = &values[0] else { panic!("a vector") };
            let back: Vec<i64> = items.iter().map(|s| match s.edn { Edn::Int(i) => i, _ => panic!("an int") }).collect();
            prop_assert_eq!(back, xs);
        }
    }
}
