//! Clock errors in scenario files: a signed offset ("-2s", "+250ms") and a drift rate ("-10%",
//! "+50ppm"), for a host's constant `clock_skew` and the `clock_skew` fault.
//!
//! Owns: their text forms, parsing and range (a clock never stops or runs backwards, so a drift
//! is above -100%). Must not: apply them (the world's clocks do, see `world::shared::HostClock`).

use super::units::parse_duration;
use schemars::JsonSchema;
use serde::Deserialize;

/// The fastest drift a scenario may state: a clock running 11 times as fast, +1000%.
pub const MAX_DRIFT_PPM: i64 = 10_000_000;

/// A signed duration written as text: "-2s", "+250ms", "1.5s" (no sign: ahead). In the schema:
/// a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offset {
    /// Nanoseconds; negative: behind.
    pub ns: i64,
}

/// A clock's rate error written as text: "-10%" (runs 10% slow), "+50ppm", "0.5%". In the
/// schema: a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drift {
    /// Parts per million; negative: slow. Always above -1,000,000 and at most [`MAX_DRIFT_PPM`].
    pub ppm: i64,
}

/// Splits a leading sign off: (-1 or 1, the rest).
fn sign(text: &str) -> (i64, &str) {
    let t = text.trim();
    match t.strip_prefix('-') {
        Some(rest) => (-1, rest.trim_start()),
        None => (1, t.strip_prefix('+').unwrap_or(t).trim_start()),
    }
}

/// Parses an offset: an optional sign and a duration.
pub fn parse_offset(text: &str) -> Result<Offset, String> {
    let (sign, rest) = sign(text);
    let duration = parse_duration(rest).map_err(|e| format!("{e} (an offset may have a sign: \"-2s\", \"+250ms\")"))?;
    let ns = i64::try_from(duration.as_nanos()).map_err(|_| format!("offset {text:?} is too large"))?;
    Ok(Offset { ns: sign * ns })
}

/// Parses a drift: an optional sign, a number and `%` or `ppm`.
pub fn parse_drift(text: &str) -> Result<Drift, String> {
    let expected = "expected a drift such as \"-10%\" (10% slow) or \"+50ppm\"";
    let (sign, rest) = sign(text);
    let (number, scale) = if let Some(n) = rest.strip_suffix('%') {
        (n, 10_000.0)
    } else if let Some(n) = rest.strip_suffix("ppm") {
        (n, 1.0)
    } else {
        return Err(format!("{expected}: {text:?} has no unit (% or ppm)"));
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("{expected}, found {text:?}"))?;
    let ppm = sign as f64 * value * scale;
    if !ppm.is_finite() || ppm <= -1_000_000.0 {
        return Err(format!(
            "drift {text:?} is -100% or below: the clock would stop or run backwards; {expected} above -100%"
        ));
    }
    if ppm > MAX_DRIFT_PPM as f64 {
        return Err(format!("drift {text:?} is above +1000%; {expected} of at most +1000%"));
    }
    Ok(Drift { ppm: ppm.round() as i64 })
}

/// Reads a string through `parse`; any other type is "invalid type: ..., expected `what`".
struct TextVisitor<T> {
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> serde::de::Visitor<'_> for TextVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor {
            what: "a signed duration string such as \"-2s\" or \"+250ms\"",
            parse: parse_offset,
        })
    }
}

impl<'de> Deserialize<'de> for Drift {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor { what: "a drift string such as \"-10%\" or \"+50ppm\"", parse: parse_drift })
    }
}

impl JsonSchema for Offset {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Offset".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A signed duration: an optional sign, a number and a unit, e.g. \"-2s\", \"+250ms\".",
            "pattern": "^[+-]?\\s*[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|m|min|h)$"
        })
    }
}

impl JsonSchema for Drift {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Drift".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A clock's rate error: an optional sign, a number and % or ppm, e.g. \"-10%\" (10% slow), \"+50ppm\"; above -100%, at most +1000%.",
            "pattern": "^[+-]?\\s*[0-9]+(\\.[0-9]+)?\\s*(%|ppm)$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        offset: Option<Offset>,
        drift: Option<Drift>,
    }

    fn check(toml_text: &str, expected: Result<(Option<i64>, Option<i64>), &str>) {
        let got = toml::from_str::<Holder>(toml_text).map(|h| (h.offset.map(|o| o.ns), h.drift.map(|d| d.ppm)));
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{toml_text}"),
            (Err(got), Err(want)) => {
                assert!(got.message().contains(want), "{toml_text}: {got}");
                assert!(got.span().is_some(), "{toml_text}: located");
            }
            (got, want) => panic!("{toml_text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn offsets_are_signed_durations() {
        check("offset = \"-2s\"", Ok((Some(-2_000_000_000), None)));
        check("offset = \"+250ms\"", Ok((Some(250_000_000), None)));
        check("offset = \"1.5s\"", Ok((Some(1_500_000_000), None)));
        check("offset = \"- 3ms\"", Ok((Some(-3_000_000), None)));
        check("offset = \"-2\"", Err("\"2\" has no unit (an offset may have a sign: \"-2s\""));
        check("offset = 5", Err("expected a signed duration string"));
    }

    #[test]
    fn drifts_are_percent_or_ppm_above_minus_100_percent() {
        check("drift = \"-50%\"", Ok((None, Some(-500_000))));
        check("drift = \"+50ppm\"", Ok((None, Some(50))));
        check("drift = \"0.5%\"", Ok((None, Some(5_000))));
        check("drift = \"-100%\"", Err("the clock would stop or run backwards"));
        check("drift = \"-150%\"", Err("-100% or below"));
        check("drift = \"2000%\"", Err("above +1000%"));
        check("drift = \"10\"", Err("has no unit (% or ppm)"));
        check("drift = \"fast%\"", Err("expected a drift such as"));
    }
}
