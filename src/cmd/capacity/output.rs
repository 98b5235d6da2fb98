//! The capacity answer as text for a terminal (JSON is the [`Answer`]'s `Serialize`).
//!
//! The text shows the same figures as the JSON, rounded: rates to 0.1 req/s (0.001 below
//! 10 req/s), latencies to 0.1 ms, availability to 0.001%.
//!
//! Owns: the text layout. Must not: compute a figure the JSON does not carry.

use super::Answer;
use std::fmt::Write;

/// A rate as the text shows it: 0.1 req/s, or 0.001 req/s below 10 req/s (a search that
/// halves from a low rate goes there).
pub fn rate(rps: f64) -> String {
    if rps < 10.0 { format!("{rps:.3}") } else { format!("{rps:.1}") }
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_string(), |a| format!("{:.3}%", a * 100.0))
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// The answer for a terminal.
pub fn text(answer: &Answer) -> String {
    let mut out = String::new();
    let seeds = match answer.seeds {
        1 => "seed 1".to_string(),
        n => format!("seeds 1..{n}"),
    };
    let _ = writeln!(
        out,
        "faultline capacity: scenario {:?}, its arrival rate {} req/s scaled, {seeds} at each rate",
        answer.scenario,
        rate(answer.base_rate_rps)
    );
    let _ = writeln!(
        out,
        "objective: p99 of successful requests <= {} ms, availability >= {}",
        ms(Some(answer.slo_p99_ms)),
        percent(Some(answer.availability_target))
    );
    let faults = match (answer.faults_in_file, answer.with_faults) {
        (0, _) => "none in the file".to_string(),
        (n, true) => format!("the file's {n} kept (--with-faults)"),
        (n, false) => format!("the file's {n} removed for the search (--with-faults keeps them)"),
    };
    let _ = writeln!(out, "faults: {faults}");
    let _ = writeln!(out, "knee: {}", knee(answer));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>12}  {:<7}  {:>10}  {:>12}  {:>16}",
        "rate req/s", "verdict", "p99 ms", "availability", "throughput req/s"
    );
    for row in &answer.rates {
        let verdict = if row.pass { "pass" } else { "FAIL" };
        let _ = writeln!(
            out,
            "{:>12}  {verdict:<7}  {:>10}  {:>12}  {:>16}",
            rate(row.rate_rps),
            ms(row.p99_ms),
            percent(row.availability),
            format!("{:.1}", row.throughput_rps)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", saturation(answer));
    out
}

fn knee(answer: &Answer) -> String {
    let tried = format!("{} rates tried, {} runs", answer.rates.len(), answer.runs);
    match (answer.passing_rps, answer.failing_rps) {
        (Some(p), Some(f)) => format!("passes at {} req/s, fails at {} req/s ({tried})", rate(p), rate(f)),
        (Some(p), None) => {
            format!(
                "passes at {} req/s, the largest rate allowed (--max-rate); no failing rate found ({tried})",
                rate(p)
            )
        }
        (None, Some(f)) => format!("no rate passes: even {} req/s breaks the objective ({tried})", rate(f)),
        (None, None) => format!("no rate tried ({tried})"),
    }
}

fn saturation(answer: &Answer) -> String {
    let Some(failing) = answer.failing_rps else {
        return "saturated first: nothing failed, so nothing to name".to_string();
    };
    match &answer.saturated {
        Some(s) => format!(
            "saturated first at {} req/s: {} of {} at {:.3} s (seed {}: {})",
            rate(failing),
            s.onset.resource.text(),
            s.onset.host,
            s.onset.t_s,
            s.seed,
            s.onset.detail
        ),
        None => format!("saturated first at {} req/s: latency grew without a saturated resource", rate(failing)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_keep_three_decimals_below_ten() {
        assert_eq!(rate(181.25), "181.2");
        assert_eq!(rate(10.0), "10.0");
        assert_eq!(rate(100.0 / 1024.0), "0.098");
        assert_eq!(rate(1.0 / 1024.0), "0.001");
    }
}
