//! Small helpers for locating and naming things in a scenario's text: the span of a value the
//! typed [`Scenario`](super::Scenario) keeps no span for (looked up by its key path in the TOML),
//! and durations and host lists written the way a user writes them.
//!
//! Lookups re-parse the text; they run only when there is something to report.

use std::ops::Range;
use std::time::Duration;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    /// `table.key`
    Key(&'a str),
    /// `array[i]` (also the i-th `[[array]]` table)
    Index(usize),
}

/// The byte span of the value at `path` in `text`, if the text parses and holds it.
pub(crate) fn value_span(text: &str, path: &[Seg]) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut table: Option<&DeTable> = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for seg in path {
        let value = match *seg {
            Seg::Key(key) => table?.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)?,
            Seg::Index(i) => array?.get(i)?,
        };
        span = value.span();
        table = value.get_ref().as_table();
        array = value.get_ref().as_array().map(|a| &a[..]);
    }
    Some(span)
}

/// A duration as a user would write it: "70s", "250ms", "1500us", "0s".
pub(crate) fn fmt_dur(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// Names as a list for a message: `a, b, c`, at most 20 of them, then "and N more".
pub(crate) fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let names: Vec<&str> = names.into_iter().collect();
    let mut out = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// The name among `candidates` closest to `name`, if it is a likely typo: at most one edit
/// (an insertion, deletion, substitution or swap of neighbours) for names of up to 3
/// characters, two for longer ones, and fewer edits than the name has characters.
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let length = name.chars().count();
    let limit = if length <= 3 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d > 0 && d <= limit && d < length)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus swaps of neighbouring characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, path: &[Seg], expected: Option<&str>) {
        let got = value_span(text, path).map(|r| &text[r]);
        assert_eq!(got, expected, "{path:?} in {text:?}");
    }

    #[test]
    fn finds_values_by_key_path() {
        let text = "a = 1\n[w]\ntargets = []\n[[h]]\nx = 1\n[[h]]\nworkers = 0\n";
        check(text, &[Seg::Key("a")], Some("1"));
        check(text, &[Seg::Key("w"), Seg::Key("targets")], Some("[]"));
        check(text, &[Seg::Key("h"), Seg::Index(1), Seg::Key("workers")], Some("0"));
        check(text, &[Seg::Key("h"), Seg::Index(2)], None);
        check(text, &[Seg::Key("a"), Seg::Key("b")], None);
        check("a = = 1", &[Seg::Key("a")], None);
    }

    #[test]
    fn durations_are_written_in_their_largest_whole_unit() {
        assert_eq!(fmt_dur(Duration::from_secs(70)), "70s");
        assert_eq!(fmt_dur(Duration::from_millis(1500)), "1500ms");
        assert_eq!(fmt_dur(Duration::from_micros(3)), "3us");
        assert_eq!(fmt_dur(Duration::from_nanos(7)), "7ns");
        assert_eq!(fmt_dur(Duration::ZERO), "0s");
    }

    #[test]
    fn lists_and_suggestions() {
        assert_eq!(name_list(["a", "b"]), "a, b");
        let many: Vec<String> = (0..25).map(|i| i.to_string()).collect();
        assert!(name_list(many.iter().map(String::as_str)).ends_with("19 and 5 more"));
        assert_eq!(suggest("replca", ["db", "replica"]), Some("replica"));
        assert_eq!(suggest("x", ["db", "app"]), None);
        assert_eq!(suggest("db", ["db"]), None);
        assert_eq!(suggest("bd", ["db", "app"]), Some("db"));
        assert_eq!(suggest("ap", ["db", "app"]), Some("app"));
        assert_eq!(suggest("q", ["a"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
