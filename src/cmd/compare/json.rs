//! The comparison as JSON: the [`Comparison`]'s own layout (stable key order: fields in their
//! declared order, maps sorted by key; the value the tables read has every key sorted), durations in nanoseconds, shares in [0, 1].
//!
//! Owns: the JSON value the text and HTML tables read their cells from. Must not: compute a
//! figure.

use super::figures::Comparison;
use serde_json::Value;

/// The comparison as a JSON value.
pub fn value(comparison: &Comparison) -> Value {
    serde_json::to_value(comparison).expect("comparisons serialize")
}

/// The comparison as pretty-printed JSON text, fields in their declared order.
pub fn render(comparison: &Comparison) -> String {
    serde_json::to_string_pretty(comparison).expect("comparisons serialize")
}
