//! Units in scenario files: durations as text ("250ms", "1.5s", "5m") and sizes as Redis
//! writes them ("64mb"), parsed and as the format's types [`Dur`] and [`Size`].

use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// The longest duration a scenario may state (about 31 years); larger is an error, not a wrap.
pub const MAX_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// Parses "250ms", "1.5s", "5m", "2h", "10us", "100ns" (a number, optional spaces, a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let expected = "expected a duration such as \"250ms\", \"1.5s\" or \"5m\" (units: ns, us, ms, s, m, h)";
    if num.is_empty() {
        return Err(format!("{expected}, found {text:?}"));
    }
    let value: f64 = num.parse().map_err(|_| format!("{expected}, found {text:?}"))?;
    let scale_ns = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => return Err(format!("{expected}: {text:?} has no unit")),
        other => return Err(format!("{expected}: unknown unit {other:?} in {text:?}")),
    };
    let ns = value * scale_ns;
    if !ns.is_finite() || ns > MAX_DURATION.as_nanos() as f64 {
        return Err(format!("duration {text:?} is too large (the limit is {}s)", MAX_DURATION.as_secs()));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

/// A duration written as text: "250ms", "1.5s", "5m", "2h". In the schema: a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurVisitor)
    }
}

/// Reads a duration from a string; any other type is "invalid type: ..., expected a duration
/// such as ..." (a bare number has no unit, so it is not a duration).
struct DurVisitor;

impl serde::de::Visitor<'_> for DurVisitor {
    type Value = Dur;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration string with a unit, such as \"250ms\", \"1.5s\" or \"5m\"")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Dur, E> {
        parse_duration(text).map(Dur).map_err(E::custom)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h), e.g. \"250ms\", \"1.5s\", \"5m\".",
            "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|m|min|h)$"
        })
    }
}

/// A size in bytes, written as Redis writes memory sizes: a number of bytes, or a number with
/// a unit, `k`/`m`/`g` (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), any case:
/// "64mb", "1gb", "500kb", "4096". In the schema: a string or an integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = Size;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a size such as \"64mb\", \"1gb\", \"500kb\" or a number of bytes")
    }
    fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<Size, E> {
        Ok(Size(bytes))
    }
    fn visit_i64<E: serde::de::Error>(self, bytes: i64) -> Result<Size, E> {
        u64::try_from(bytes).map(Size).map_err(|_| E::custom(format!("a size cannot be negative, found {bytes}")))
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Size, E> {
        faultline_models::cache::engine::parse_memory(text.trim().as_bytes()).map(Size).ok_or_else(|| {
            E::custom(format!(
                "expected a size such as \"64mb\", \"1gb\", \"500kb\" or a number of bytes (units k, kb, m, mb, g, gb), \
                 found {text:?}"
            ))
        })
    }
}

impl JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size in bytes: a number, or a number and a unit as Redis writes them (k, kb, m, mb, g, gb), e.g. \"64mb\".",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^[0-9]+([kKmMgG][bB]?)?$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, &str>) {
        match (parse_duration(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn durations() {
        check("250ms", Ok(Duration::from_millis(250)));
        check("1.5s", Ok(Duration::from_millis(1500)));
        check("5m", Ok(Duration::from_secs(300)));
        check("2h", Ok(Duration::from_secs(7200)));
        check("10 us", Ok(Duration::from_micros(10)));
        check("0ms", Ok(Duration::ZERO));
        check("10", Err("has no unit"));
        check("10 parsecs", Err("unknown unit"));
        check("ms", Err("expected a duration"));
        check("-5s", Err("expected a duration"));
        check("1e400s", Err("expected a duration"));
        check("99999999999999999999s", Err("too large"));
    }

    #[derive(Debug, Deserialize)]
    struct Holder {
        d: Dur,
    }

    fn check_field(value: &str, expected: Result<Duration, &str>) {
        let got = toml::from_str::<Holder>(&format!("d = {value}")).map(|h| h.d.0);
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
            (Err(got), Err(want)) => assert!(got.message().contains(want), "{value}: {got}"),
            (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn durations_are_strings_with_units() {
        check_field("\"250ms\"", Ok(Duration::from_millis(250)));
        check_field("\"2min\"", Ok(Duration::from_secs(120)));
        check_field("10", Err("invalid type: integer `10`, expected a duration string with a unit"));
        check_field("1.5", Err("expected a duration string with a unit"));
        check_field("\"10\"", Err("has no unit"));
        check_field("\"10 parsecs\"", Err("unknown unit \"parsecs\""));
    }
}
