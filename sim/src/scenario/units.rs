//! Units in scenario files: durations as text ("250ms", "1.5s", "5m").

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
}
