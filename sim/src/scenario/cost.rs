//! The scenario's `[cost]` table: the price of one host-hour per service kind, and the
//! currency they are in, which `faultline compare` multiplies by the hosts a run keeps; its
//! validation with located errors.
//!
//! A kind is named as a file names its service (`app`, `kv`, `cache`, `lb`, ...: the
//! registry's variants in snake case, [`kinds`]). A kind the table does not list costs
//! [`DEFAULT_PRICE`] per host-hour; without a currency the prices are in [`DEFAULT_CURRENCY`].
//!
//! Owns: [`CostSpec`], its defaults (documented in `docs/scenario.md`) and its checks. Must
//! not: count hosts (the comparison does) or reach a run: no simulation reads the table, so it
//! changes no plan, trace or hash.

use super::spans::{Seg, name_list, suggest};
use super::types::Sp;
use super::validate::Checker;
use crate::services::Service;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The currency of a table that names none.
pub const DEFAULT_CURRENCY: &str = "units";

/// The price of one host-hour of a kind the table does not list.
pub const DEFAULT_PRICE: f64 = 1.0;

/// The longest currency name.
pub const MAX_CURRENCY_CHARS: usize = 16;

/// Prices per host-hour: `[cost] currency = "USD"`, `prices = { app = 0.10, kv = 0.40 }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// What the prices are in, shown beside every cost ("USD", "EUR", "credits"). Default
    /// "units".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub currency: Option<Sp<String>>,
    /// The price of one host-hour per service kind (`app`, `kv`, `cache`, `lb`, `pool`, ...),
    /// at least 0. A kind not listed costs 1.0. Default: none listed.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, f64>")]
    pub prices: BTreeMap<Sp<String>, Sp<f64>>,
}

impl CostSpec {
    /// The currency the prices are in.
    pub fn currency(&self) -> &str {
        self.currency.as_ref().map_or(DEFAULT_CURRENCY, |c| c.get_ref().as_str())
    }

    /// The price of one host-hour of `kind` (a name from [`kinds`]).
    pub fn price(&self, kind: &str) -> f64 {
        self.prices.iter().find(|(k, _)| k.get_ref() == kind).map_or(DEFAULT_PRICE, |(_, p)| *p.get_ref())
    }
}

/// A variant name in snake case, as serde's `rename_all = "snake_case"` writes it.
fn snake(variant: &str) -> String {
    let mut out = String::with_capacity(variant.len() + 2);
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Every service kind's name as a scenario file writes it, in the registry's order.
pub fn kinds() -> Vec<String> {
    Service::VARIANTS.iter().map(|v| snake(v)).collect()
}

/// Checks the `[cost]` table: a currency of 1 to 16 characters, known kinds (with the closest
/// name when one is a likely typo), prices finite and at least 0.
pub(crate) fn check(c: &mut Checker) {
    let Some(spec) = &c.scenario.cost else { return };
    if let Some(currency) = &spec.currency {
        let chars = currency.get_ref().trim().chars().count();
        if !(1..=MAX_CURRENCY_CHARS).contains(&chars) {
            let message = format!(
                "currency {:?}; expected a name of 1 to {MAX_CURRENCY_CHARS} characters, such as \"USD\"",
                currency.get_ref()
            );
            c.report(currency.span(), "bad currency", message);
        }
    }
    let known = kinds();
    for (kind, price) in &spec.prices {
        let name = kind.get_ref();
        if !known.iter().any(|k| k == name) {
            let mut message = format!(
                "unknown service kind {name:?}; the kinds are: {}",
                name_list(known.iter().map(String::as_str))
            );
            if let Some(close) = suggest(name, known.iter().map(String::as_str)) {
                message.push_str(&format!("; did you mean {close:?}?"));
            }
            let span = key_span(c, kind);
            c.report(span, "unknown kind", message);
        }
        let value = *price.get_ref();
        if !value.is_finite() || value < 0.0 {
            let message = format!("price {value} for {name:?}; expected a price per host-hour of at least 0");
            c.report(price.span(), "not a price", message);
        }
    }
}

/// The span of a price's key: the key's own when the parser kept it, else its value's.
fn key_span(c: &Checker, kind: &Sp<String>) -> std::ops::Range<usize> {
    let span = kind.span();
    if span.end > span.start {
        return span;
    }
    c.span_at(&[Seg::Key("cost"), Seg::Key("prices"), Seg::Key(kind.get_ref())], 0..0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::validate::tests::{QUICKSTART, check_in};

    /// The quickstart with `table` as its `[cost]` table.
    fn with(table: &str) -> String {
        format!("{QUICKSTART}\n[cost]\n{table}\n")
    }

    fn check(table: &str, expected: &[(&str, &str)]) {
        check_in(&with(table), "", "", expected);
    }

    fn parsed(table: &str) -> crate::scenario::Scenario {
        crate::scenario::parse_str("t.toml", &with(table)).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn kinds_are_the_names_a_file_writes() {
        let kinds = kinds();
        for kind in ["app", "kv", "cache", "lb", "pool", "echo", "failover", "cdn", "queue", "worker"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }
        assert_eq!(snake("GeoDns"), "geo_dns");
        assert_eq!(snake("Kv"), "kv");
    }

    #[test]
    fn prices_and_currency_with_their_defaults() {
        let s = parsed("currency = \"USD\"\nprices = { app = 0.10, kv = 0.4, cache = 0 }");
        let cost = s.cost.as_ref().expect("a cost table");
        assert_eq!(cost.currency(), "USD");
        assert_eq!((cost.price("app"), cost.price("kv"), cost.price("cache")), (0.10, 0.4, 0.0));
        assert_eq!(cost.price("lb"), DEFAULT_PRICE, "a kind not listed");
        let plain = parsed("prices = { app = 2 }");
        assert_eq!(plain.cost.as_ref().unwrap().currency(), DEFAULT_CURRENCY);
        assert_eq!(plain.cost.as_ref().unwrap().price("app"), 2.0, "an integer price");
        assert!(crate::scenario::parse_str("t.toml", QUICKSTART).unwrap().cost.is_none());
    }

    #[test]
    fn bad_tables_are_located_errors() {
        check(
            "prices = { app = -0.5 }",
            &[("price -0.5 for \"app\"; expected a price per host-hour of at least 0", "-0.5")],
        );
        check("prices = { app = nan }", &[("price NaN", "nan")]);
        check("prices = { ap = 0.1 }", &[("unknown service kind \"ap\"; the kinds are: echo, payment, kv", "ap")]);
        check("prices = { ap = 0.1 }", &[("; did you mean \"app\"?", "ap")]);
        check("prices = { kvv = 0.1 }", &[("did you mean \"kv\"?", "kvv")]);
        check("prices = { database = 0.1 }", &[("unknown service kind \"database\"", "database")]);
        check("currency = \"\"", &[("expected a name of 1 to 16 characters", "\"\"")]);
        check("currency = \"EUR\"\nprices = { kv = 1, cache = -1 }", &[("price -1 for \"cache\"", "-1")]);
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let err = crate::scenario::parse_str("t.toml", &with("price = { app = 1 }")).expect_err("unknown field");
        assert!(err.message().contains("price"), "{err}");
    }
}
