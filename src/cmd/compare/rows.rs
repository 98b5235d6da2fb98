//! The rows of the comparison table: which figure each row shows (its key, a JSON pointer into
//! a scenario's object of the JSON), its label and how its cells are written.
//!
//! The text and HTML tables read every cell through its row's key from the same JSON value the
//! JSON output prints, so a cell can only show what the JSON holds; the HTML writes the key and
//! the JSON number beside each cell (`data-figure`, `data-value`).
//!
//! Owns: the rows, their order and the cells' words. Must not: compute a figure.

use serde_json::Value;

/// How a row's cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A heading: no cells.
    Section,
    /// Nanoseconds, written in ms or s.
    Ns,
    /// An RTO in nanoseconds; null with seeds that never recovered is "not recovered k/n".
    Rto,
    /// A share in [0, 1], written as a percentage.
    Share,
    /// A multiple (error budget burned).
    Times,
    /// Per second.
    Rps,
    /// A count, possibly fractional (a pool's mean).
    Count,
    /// Seeds that passed every check, of the seeds.
    Passed,
    /// Money per hour in the scenario's currency.
    Money,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The JSON pointer of its figure in a scenario's object (empty for a heading).
    pub key: String,
    /// What it shows.
    pub label: String,
    pub unit: Unit,
}

impl Row {
    fn new(key: impl Into<String>, label: impl Into<String>, unit: Unit) -> Row {
        Row { key: key.into(), label: label.into(), unit }
    }

    fn section(label: &str) -> Row {
        Row::new("", label, Unit::Section)
    }

    /// The figure of this row in `column` (a scenario's object); `Null` when it has none.
    pub fn value<'a>(&self, column: &'a Value) -> &'a Value {
        column.pointer(&self.key).unwrap_or(&Value::Null)
    }

    /// The cell's words for `column`.
    pub fn cell(&self, column: &Value) -> String {
        let value = self.value(column);
        match self.unit {
            Unit::Section => String::new(),
            Unit::Rto if value.is_null() => {
                let parent = &self.key[..self.key.rfind('/').unwrap_or(0)];
                let of = |field: &str| column.pointer(&format!("{parent}/{field}")).and_then(Value::as_u64);
                match (of("not_recovered"), of("seeds")) {
                    (Some(k), Some(n)) if k > 0 => format!("not recovered {k}/{n}"),
                    _ => "-".to_string(),
                }
            }
            Unit::Passed => {
                let seeds = column.pointer("/checks/seeds").and_then(Value::as_u64).unwrap_or(0);
                value.as_u64().map_or_else(|| "-".to_string(), |k| format!("{k}/{seeds}"))
            }
            Unit::Money => {
                let currency = column.pointer("/cost/currency").and_then(Value::as_str).unwrap_or("");
                value.as_f64().map_or_else(|| "-".to_string(), |v| format!("{} {currency}", money(v)))
            }
            Unit::Ns | Unit::Rto | Unit::Share | Unit::Times | Unit::Rps | Unit::Count => {
                value.as_f64().map_or_else(|| "-".to_string(), |v| number(self.unit, v))
            }
        }
    }
}

/// A plain figure's words.
fn number(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Ns | Unit::Rto => duration(v),
        Unit::Share => format!("{:.3}%", v * 100.0),
        Unit::Times => format!("{v:.2}x"),
        Unit::Rps => format!("{v:.1}/s"),
        Unit::Count if v.fract() == 0.0 => format!("{v:.0}"),
        Unit::Count => format!("{v:.2}"),
        Unit::Section | Unit::Passed | Unit::Money => format!("{v}"),
    }
}

/// A duration in nanoseconds: ms below 1 s (0.01 ms below 10 ms), s above (0.001 s).
pub fn duration(ns: f64) -> String {
    let ms = ns / 1e6;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.3} s", ms / 1e3)
    }
}

/// An amount of money: 4 decimals below 1, 2 above.
fn money(v: f64) -> String {
    if v.abs() < 1.0 { format!("{v:.4}") } else { format!("{v:.2}") }
}

/// `name` as one step of a JSON pointer (RFC 6901: `~` is `~0`, `/` is `~1`).
pub fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The keys of the object at `pointer` in every column, each once, in first-seen order.
fn keys_in(columns: &[Value], pointer: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for map in columns.iter().filter_map(|c| c.pointer(pointer)).filter_map(Value::as_object) {
        for key in map.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// Whether any column has a figure at `pointer`.
fn any(columns: &[Value], pointer: &str) -> bool {
    columns.iter().any(|c| c.pointer(pointer).is_some_and(|v| !v.is_null()))
}

/// The table's rows for these columns (scenarios' objects): the rows every table has, and
/// those some column has a figure for (an error budget, each fault's RTO, an RPO, a capacity,
/// each kind of host).
pub fn rows(columns: &[Value]) -> Vec<Row> {
    let mut rows = vec![
        Row::section("latency of successful requests, seeds pooled"),
        Row::new("/latency/p50_ns", "p50", Unit::Ns),
        Row::new("/latency/p99_ns", "p99", Unit::Ns),
        Row::new("/latency/worst_window_p99_ns", "worst window p99", Unit::Ns),
        Row::section("availability, throughput, checks"),
        Row::new("/availability/share", "successes / requests", Unit::Share),
    ];
    if any(columns, "/error_budget") {
        rows.push(Row::new("/error_budget/burned_mean", "error budget burned, mean", Unit::Times));
        rows.push(Row::new("/error_budget/burned_max", "error budget burned, worst seed", Unit::Times));
    }
    rows.push(Row::new("/throughput_rps", "throughput (successes)", Unit::Rps));
    rows.push(Row::new("/checks/passed_seeds", "seeds passing every check", Unit::Passed));
    let mut faults: Vec<(u64, String)> = keys_in(columns, "/recovery/rto")
        .into_iter()
        .map(|key| {
            let pointer = format!("/recovery/rto/{}/at_ns", escape(&key));
            let at_ns = columns.iter().find_map(|c| c.pointer(&pointer).and_then(Value::as_u64)).unwrap_or(0);
            (at_ns, key)
        })
        .collect();
    faults.sort();
    if !faults.is_empty() || any(columns, "/recovery/rpo_max_ns") {
        rows.push(Row::section("recovery, over the seeds"));
    }
    for (_, fault) in &faults {
        let base = format!("/recovery/rto/{}", escape(fault));
        rows.push(Row::new(format!("{base}/mean_ns"), format!("RTO mean, {fault}"), Unit::Rto));
        rows.push(Row::new(format!("{base}/max_ns"), format!("RTO max, {fault}"), Unit::Rto));
    }
    if any(columns, "/recovery/rpo_max_ns") {
        rows.push(Row::new("/recovery/rpo_max_ns", "RPO, worst seed", Unit::Ns));
    }
    if any(columns, "/recovery/lag_at_loss_max_ns") {
        rows.push(Row::new("/recovery/lag_at_loss_max_ns", "replication lag at a loss, worst", Unit::Ns));
    }
    if columns.iter().any(|c| c.pointer("/capacity").is_some_and(|v| !v.is_null())) {
        rows.push(Row::section("capacity at the objective, faults dropped"));
        rows.push(Row::new("/capacity/rps", "highest rate meeting it", Unit::Rps));
    }
    rows.push(Row::section("cost"));
    for kind in keys_in(columns, "/cost/hosts") {
        let key = format!("/cost/hosts/{}", escape(&kind));
        rows.push(Row::new(key, format!("hosts: {kind}"), Unit::Count));
    }
    rows.push(Row::new("/cost/total_per_hour", "cost per hour", Unit::Money));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column() -> Value {
        json!({
            "latency": {"p50_ns": 1_234_000, "p99_ns": 98_700_000, "worst_window_p99_ns": null},
            "availability": {"share": 0.9336},
            "error_budget": null,
            "throughput_rps": 367.875,
            "checks": {"seeds": 3, "passed_seeds": 2},
            "recovery": {"rto": {
                "kill db1 at 10s": {"at_ns": 10_000_000_000u64, "seeds": 3, "not_recovered": 1, "mean_ns": null, "max_ns": null},
                "a/b at 2s": {"at_ns": 2_000_000_000u64, "seeds": 3, "not_recovered": 0, "mean_ns": 0, "max_ns": 0}
            }, "rpo_max_ns": 1_000_000_000u64},
            "capacity": null,
            "cost": {"currency": "USD", "hosts": {"app": 1.0, "kv": 2.5}, "total_per_hour": 1.1}
        })
    }

    #[test]
    fn rows_follow_the_figures_the_columns_have() {
        let rows = rows(&[column()]);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert!(!labels.iter().any(|l| l.contains("error budget") || l.contains("capacity")), "{labels:?}");
        let at =
            |label: &str| labels.iter().position(|l| *l == label).unwrap_or_else(|| panic!("{label} in {labels:?}"));
        assert!(at("RTO mean, a/b at 2s") < at("RTO mean, kill db1 at 10s"), "faults in time order");
        assert_eq!(rows[at("RTO max, a/b at 2s")].key, "/recovery/rto/a~1b at 2s/max_ns");
        assert!(at("hosts: app") < at("hosts: kv") && at("hosts: kv") < at("cost per hour"));
    }

    #[test]
    fn cells_read_their_figure() {
        let c = column();
        let rows = rows(std::slice::from_ref(&c));
        let cell = |label: &str| rows.iter().find(|r| r.label == label).unwrap().cell(&c);
        assert_eq!(cell("p50"), "1.23 ms");
        assert_eq!(cell("p99"), "98.7 ms");
        assert_eq!(cell("worst window p99"), "-");
        assert_eq!(cell("successes / requests"), "93.360%");
        assert_eq!(cell("throughput (successes)"), "367.9/s");
        assert_eq!(cell("seeds passing every check"), "2/3");
        assert_eq!(cell("RTO mean, kill db1 at 10s"), "not recovered 1/3");
        assert_eq!(cell("RTO max, a/b at 2s"), "0.00 ms");
        assert_eq!(cell("RPO, worst seed"), "1.000 s");
        assert_eq!(cell("hosts: kv"), "2.50");
        assert_eq!(cell("hosts: app"), "1");
        assert_eq!(cell("cost per hour"), "1.10 USD");
    }
}
