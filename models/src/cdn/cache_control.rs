//! A response's `Cache-Control` as a shared cache reads it (RFC 9111, 5.2.2; the
//! `stale-while-revalidate` and `stale-if-error` extensions of RFC 5861).
//!
//! Parsing follows the RFC's leniency rules, and never fails:
//! - directive names are case-insensitive; unknown directives are ignored;
//! - a directive given twice keeps its first occurrence (RFC 9111, 4.2.1);
//! - an argument is a token or a quoted string; commas inside quotes do not split;
//! - a `delta-seconds` past 2^31 is 2^31 (RFC 9111, 1.2.2);
//! - a malformed `max-age` or `s-maxage` (not digits) makes the response stale at once
//!   (RFC 9111, 4.2.1: "consider responses that have invalid freshness information to be
//!   stale"); a malformed `stale-while-revalidate` or `stale-if-error` grants nothing;
//! - the field-qualified forms `no-cache="f"` and `private="f"` are taken unqualified (RFC 9111,
//!   5.2.2.4, 5.2.2.7 allow it: the most restrictive reading).
//!
//! What it means for a shared cache is here too: whether a response may be stored, its
//! freshness lifetime (`s-maxage` wins over `max-age`), and whether it may be served stale.
//!
//! This file must not read a clock or know a store: it turns header text into numbers.

use axum::http::HeaderMap;
use axum::http::header::CACHE_CONTROL;
use std::time::Duration;

/// The largest `delta-seconds` a cache keeps (RFC 9111, 1.2.2).
pub const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// The directives of a response's `Cache-Control` that a shared cache acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age=N`: fresh for N seconds.
    pub max_age: Option<u64>,
    /// `s-maxage=N`: fresh for N seconds in a shared cache (wins over `max-age` there).
    pub s_maxage: Option<u64>,
    /// `no-store`: never stored.
    pub no_store: bool,
    /// `no-cache`: must be revalidated before every use; this cache, which sends no
    /// conditional requests, does not store it.
    pub no_cache: bool,
    /// `private`: for one user's cache; a shared cache does not store it.
    pub private: bool,
    /// `public`: a shared cache may store it even for a request with `Authorization`.
    pub public: bool,
    /// `immutable`: will not change while fresh (browsers skip reload revalidation).
    pub immutable: bool,
    /// `must-revalidate`: never served stale.
    pub must_revalidate: bool,
    /// `proxy-revalidate`: never served stale by a shared cache.
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate=N`: may be served up to N seconds stale while it is refreshed.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N`: may be served up to N seconds stale when the origin fails.
    pub stale_if_error: Option<u64>,
}

/// One directive's argument as read: absent, a number, or something else.
enum Arg {
    None,
    Seconds(u64),
    Malformed,
}

impl CacheControl {
    /// The directives of one `Cache-Control` value (several lines joined by commas).
    pub fn parse(value: &str) -> Self {
        let mut cc = CacheControl::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, arg) in directives(value) {
            let name = name.to_ascii_lowercase();
            if seen.contains(&name) {
                continue;
            }
            seen.push(name.clone());
            cc.apply(&name, arg);
        }
        cc
    }

    /// The directives of every `Cache-Control` line of `headers` (lines that are not text are
    /// skipped).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let lines: Vec<&str> = headers.get_all(CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()).collect();
        Self::parse(&lines.join(","))
    }

    fn apply(&mut self, name: &str, arg: Option<&str>) {
        let seconds = || match arg.map(delta_seconds) {
            None => Arg::None,
            Some(Some(n)) => Arg::Seconds(n),
            Some(None) => Arg::Malformed,
        };
        match name {
            "max-age" => self.max_age = Some(freshness(seconds())),
            "s-maxage" => self.s_maxage = Some(freshness(seconds())),
            "stale-while-revalidate" => self.stale_while_revalidate = extension(seconds()),
            "stale-if-error" => self.stale_if_error = extension(seconds()),
            "no-store" => self.no_store = true,
            "no-cache" => self.no_cache = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "immutable" => self.immutable = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            _ => {}
        }
    }

    /// Whether a shared cache may store the response (of a request with an `Authorization`
    /// header when `authorized`): not `no-store`, `no-cache` or `private`, and, for an
    /// authorized request, explicitly allowed (RFC 9111, 3.5).
    pub fn storable(&self, authorized: bool) -> bool {
        let forbidden = self.no_store || self.no_cache || self.private;
        let allowed_with_auth = self.public || self.s_maxage.is_some() || self.must_revalidate;
        !forbidden && (!authorized || allowed_with_auth)
    }

    /// The freshness lifetime in a shared cache: `s-maxage`, else `max-age`, else none (this
    /// cache uses no heuristic freshness: nothing is fresh without a directive).
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.s_maxage.or(self.max_age).unwrap_or(0))
    }

    /// Whether a stale copy may ever be served: not with `must-revalidate` or
    /// `proxy-revalidate` (RFC 9111, 4.2.4). The explicit grants of RFC 5861 are honoured with
    /// `s-maxage`, as CDNs do.
    pub fn may_serve_stale(&self) -> bool {
        !self.must_revalidate && !self.proxy_revalidate
    }

    /// How long past its lifetime a copy may be served while it is refreshed.
    pub fn while_revalidate(&self) -> Duration {
        self.stale_grant(self.stale_while_revalidate)
    }

    /// How long past its lifetime a copy may be served when the origin fails.
    pub fn if_error(&self) -> Duration {
        self.stale_grant(self.stale_if_error)
    }

    fn stale_grant(&self, seconds: Option<u64>) -> Duration {
        match seconds {
            Some(n) if self.may_serve_stale() => Duration::from_secs(n),
            Some(_) | None => Duration::ZERO,
        }
    }

    /// Whether a copy is worth storing at all: storable and either fresh for a while or
    /// servable stale.
    pub fn worth_storing(&self, authorized: bool) -> bool {
        let useful = !self.lifetime().is_zero() || !self.while_revalidate().is_zero() || !self.if_error().is_zero();
        self.storable(authorized) && useful
    }
}

/// A freshness directive's value: a malformed or missing argument makes the response stale.
fn freshness(arg: Arg) -> u64 {
    match arg {
        Arg::Seconds(n) => n,
        Arg::None | Arg::Malformed => 0,
    }
}

/// An RFC 5861 extension's value: a malformed or missing argument grants nothing.
fn extension(arg: Arg) -> Option<u64> {
    match arg {
        Arg::Seconds(n) => Some(n),
        Arg::None | Arg::Malformed => None,
    }
}

/// `1*DIGIT` (a quoted form is accepted too), capped at [`MAX_DELTA_SECONDS`]; `None` when it
/// is not digits.
pub fn delta_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = text.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0')));
    Some(value.min(MAX_DELTA_SECONDS))
}

/// The directives of `value`: (name, argument), in order; empty elements skipped; commas
/// inside a quoted string do not split.
fn directives(value: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                push_directive(&mut out, &value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_directive(&mut out, &value[start..]);
    out
}

fn push_directive<'a>(out: &mut Vec<(&'a str, Option<&'a str>)>, element: &'a str) {
    let element = element.trim();
    if element.is_empty() {
        return;
    }
    match element.split_once('=') {
        Some((name, arg)) => out.push((name.trim(), Some(arg.trim()))),
        None => out.push((element, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(value: &str, expected: CacheControl) {
        assert_eq!(CacheControl::parse(value), expected, "{value:?}");
    }

    #[test]
    fn the_common_forms() {
        check("max-age=5", CacheControl { max_age: Some(5), ..Default::default() });
        check(
            "public, max-age=60, s-maxage=300",
            CacheControl { public: true, max_age: Some(60), s_maxage: Some(300), ..Default::default() },
        );
        check(
            "max-age=5, stale-while-revalidate=10, stale-if-error=60",
            CacheControl {
                max_age: Some(5),
                stale_while_revalidate: Some(10),
                stale_if_error: Some(60),
                ..Default::default()
            },
        );
        check("no-store", CacheControl { no_store: true, ..Default::default() });
        check(
            "private, no-cache, must-revalidate, proxy-revalidate, immutable",
            CacheControl {
                private: true,
                no_cache: true,
                must_revalidate: true,
                proxy_revalidate: true,
                immutable: true,
                ..Default::default()
            },
        );
        check("", CacheControl::default());
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_ones_ignored() {
        check(
            "Max-Age=7, NO-STORE, x-vendor=3",
            CacheControl { max_age: Some(7), no_store: true, ..Default::default() },
        );
    }

    #[test]
    fn the_first_of_a_repeated_directive_wins() {
        check("max-age=5, max-age=100", CacheControl { max_age: Some(5), ..Default::default() });
    }

    #[test]
    fn malformed_freshness_is_stale_and_malformed_extensions_grant_nothing() {
        check("max-age=soon", CacheControl { max_age: Some(0), ..Default::default() });
        check("max-age", CacheControl { max_age: Some(0), ..Default::default() });
        check("s-maxage=-1", CacheControl { s_maxage: Some(0), ..Default::default() });
        check("stale-if-error=a, stale-while-revalidate", CacheControl::default());
        check("max-age=1.5", CacheControl { max_age: Some(0), ..Default::default() });
    }

    #[test]
    fn huge_values_are_capped_and_quoted_digits_read() {
        check(
            "max-age=99999999999999999999999",
            CacheControl { max_age: Some(MAX_DELTA_SECONDS), ..Default::default() },
        );
        check("max-age=\"30\"", CacheControl { max_age: Some(30), ..Default::default() });
    }

    #[test]
    fn commas_inside_quotes_do_not_split() {
        check(
            "no-cache=\"set-cookie, x-a\", max-age=9",
            CacheControl { no_cache: true, max_age: Some(9), ..Default::default() },
        );
        check(
            "private=\"a\\\"b, c\", max-age=2",
            CacheControl { private: true, max_age: Some(2), ..Default::default() },
        );
    }

    #[test]
    fn s_maxage_wins_in_a_shared_cache() {
        let cc = CacheControl::parse("max-age=10, s-maxage=100");
        assert_eq!(cc.lifetime(), Duration::from_secs(100));
        assert_eq!(CacheControl::parse("max-age=10").lifetime(), Duration::from_secs(10));
        assert_eq!(CacheControl::default().lifetime(), Duration::ZERO);
    }

    #[test]
    fn what_may_be_stored() {
        assert!(CacheControl::parse("max-age=5").storable(false));
        assert!(!CacheControl::parse("max-age=5, private").storable(false));
        assert!(!CacheControl::parse("max-age=5, no-store").storable(false));
        assert!(!CacheControl::parse("max-age=5, no-cache").storable(false));
        assert!(!CacheControl::parse("max-age=5").storable(true), "an authorized request's response is private");
        assert!(CacheControl::parse("max-age=5, public").storable(true));
        assert!(CacheControl::parse("s-maxage=5").storable(true));
        assert!(!CacheControl::parse("").worth_storing(false), "no lifetime, no stale grant");
        assert!(CacheControl::parse("max-age=0, stale-if-error=60").worth_storing(false));
    }

    #[test]
    fn revalidation_directives_forbid_stale_copies() {
        let cc = CacheControl::parse("max-age=5, stale-while-revalidate=10, stale-if-error=60");
        assert_eq!((cc.while_revalidate(), cc.if_error()), (Duration::from_secs(10), Duration::from_secs(60)));
        let strict = CacheControl::parse("max-age=5, must-revalidate, stale-if-error=60");
        assert_eq!(strict.if_error(), Duration::ZERO);
        let proxy = CacheControl::parse("max-age=5, proxy-revalidate, stale-while-revalidate=60");
        assert_eq!(proxy.while_revalidate(), Duration::ZERO);
    }

    #[test]
    fn every_line_of_a_header_counts() {
        let mut headers = HeaderMap::new();
        headers.append(CACHE_CONTROL, "max-age=5".parse().expect("a value"));
        headers.append(CACHE_CONTROL, "stale-if-error=30".parse().expect("a value"));
        let cc = CacheControl::from_headers(&headers);
        assert_eq!((cc.max_age, cc.stale_if_error), (Some(5), Some(30)));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(value in ".{0,80}") {
            let cc = CacheControl::parse(&value);
            prop_assert!(cc.max_age.is_none_or(|n| n <= MAX_DELTA_SECONDS));
            prop_assert!(cc.lifetime() <= Duration::from_secs(MAX_DELTA_SECONDS));
        }

        #[test]
        fn never_panics_on_directive_soup(parts in proptest::collection::vec(
            "(max-age|s-maxage|no-store|private|stale-if-error|stale-while-revalidate|\"|,|=| |[0-9]{1,25}|x)",
            0..16,
        )) {
            let value = parts.concat();
            let cc = CacheControl::parse(&value);
            prop_assert!(cc.stale_if_error.is_none_or(|n| n <= MAX_DELTA_SECONDS));
        }

        #[test]
        fn a_written_max_age_reads_back(n in 0u64..MAX_DELTA_SECONDS, swr in 0u64..1000) {
            let cc = CacheControl::parse(&format!("max-age={n}, stale-while-revalidate={swr}"));
            prop_assert_eq!(cc.max_age, Some(n));
            prop_assert_eq!(cc.stale_while_revalidate, Some(swr));
        }
    }
}
