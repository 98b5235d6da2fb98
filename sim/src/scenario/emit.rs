//! Faults written back as scenario text: a drawn or shrunk schedule becomes `[[faults]]`
//! entries a person can read, paste and run, and a scenario file can be rewritten with a given
//! schedule as its scripted faults (what `faultline shrink` saves).
//!
//! Owns: [`fault_line`] (one scheduled fault as a `[[faults]]` entry's keys on one line),
//! [`with_faults`] (a scenario's text with its `[[faults]]` and `[swarm]` replaced by a
//! schedule, the rest kept as written, comments included). Must not: parse faults (the format
//! is `types::FaultSpec`; a test reads every emitted form back through it).

use faultline_chaos::fault::{Fault, Knob};
use faultline_chaos::nemesis::Scripted;

/// A duration as the scenario format writes it, exactly: whole seconds, else milliseconds,
/// microseconds or nanoseconds.
fn dur(ns: u64) -> String {
    match ns {
        0 => "0s".to_string(),
        _ if ns.is_multiple_of(1_000_000_000) => format!("{}s", ns / 1_000_000_000),
        _ if ns.is_multiple_of(1_000_000) => format!("{}ms", ns / 1_000_000),
        _ if ns.is_multiple_of(1_000) => format!("{}us", ns / 1_000),
        _ => format!("{ns}ns"),
    }
}

fn quoted(name: &str) -> String {
    format!("{name:?}")
}

fn list(hosts: &[u16], names: &[String]) -> String {
    let items: Vec<String> = hosts.iter().map(|h| quoted(&name(*h, names))).collect();
    format!("[{}]", items.join(", "))
}

fn name(host: u16, names: &[String]) -> String {
    names.get(host as usize).cloned().unwrap_or_else(|| format!("host#{host}"))
}

/// The `fault = { ... }` value of `fault`, hosts by `names`; `None` for a fault the scenario
/// format cannot state (a link or knob put back, which only a `for` schedules; a knob only the
/// simulation turns).
fn fault_value(fault: &Fault, names: &[String]) -> Option<String> {
    let host = |h: &u16| quoted(&name(*h, names));
    Some(match fault {
        Fault::Kill { host: h } => format!("{{ kill = {} }}", host(h)),
        Fault::Restart { host: h } => format!("{{ restart = {} }}", host(h)),
        Fault::Partition { a, b } => format!("{{ partition = {{ a = {}, b = {} }} }}", list(a, names), list(b, names)),
        Fault::Heal { a, b } => format!("{{ heal = {{ a = {}, b = {} }} }}", list(a, names), list(b, names)),
        Fault::PartitionOneWay { from, to } => {
            format!("{{ partition = {{ a = {}, b = {}, oneway = true }} }}", list(from, names), list(to, names))
        }
        Fault::HealOneWay { from, to } => {
            format!("{{ heal = {{ a = {}, b = {}, oneway = true }} }}", list(from, names), list(to, names))
        }
        Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss } => format!(
            "{{ link = {{ between = [{}, {}], latency = {:?}, jitter = {:?}, loss = {loss:?} }} }}",
            host(a),
            host(b),
            dur(*latency_ns),
            dur(*jitter_ns)
        ),
        Fault::Tune { host: h, knob, value, grow_per_s } => tune(&host(h), *knob, *value, *grow_per_s)?,
        Fault::LongTransactions { target, count, hold_ns } => format!(
            "{{ long_transactions = {{ target = {}, count = {count}, hold = {:?} }} }}",
            host(target),
            dur(*hold_ns)
        ),
        Fault::ClockSkew { host: h, offset_ns, drift_ppm } => {
            format!("{{ clock_skew = {{ host = {}, {} }} }}", host(h), skew(*offset_ns, *drift_ppm))
        }
        Fault::CacheFlush { host: h } => format!("{{ cache_flush = {} }}", host(h)),
        Fault::CdnPurge { host: h } => format!("{{ cdn_purge = {} }}", host(h)),
        Fault::ShardLeave { apps, node } => {
            format!("{{ shard_leave = {{ app = {}, node = {} }} }}", list(apps, names), host(node))
        }
        Fault::ShardJoin { apps, node } => {
            format!("{{ shard_join = {{ app = {}, node = {} }} }}", list(apps, names), host(node))
        }
        Fault::RegionOutage { region } => format!("{{ region_outage = {} }}", quoted(&region.name)),
        Fault::RegionPartition { a, b, oneway } => {
            let oneway = if *oneway { ", oneway = true" } else { "" };
            format!("{{ region_partition = {{ a = {}, b = {}{oneway} }} }}", quoted(&a.name), quoted(&b.name))
        }
        Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss } => format!(
            "{{ region_latency = {{ between = [{}, {}], latency = {:?}, jitter = {:?}, loss = {loss:?} }} }}",
            quoted(&a.name),
            quoted(&b.name),
            dur(*latency_ns),
            dur(*jitter_ns)
        ),
        Fault::RegionSkew { region, offset_ns, drift_ppm } if *offset_ns != 0 || *drift_ppm != 0 => {
            format!("{{ region_skew = {{ region = {}, {} }} }}", quoted(&region.name), skew(*offset_ns, *drift_ppm))
        }
        Fault::LinkRestore { .. }
        | Fault::RegionRestore { .. }
        | Fault::RegionHeal { .. }
        | Fault::RegionLatencyRestore { .. }
        | Fault::RegionSkew { .. } => return None,
    })
}

/// A clock error's keys: `jump = "-2s", drift = "+100ppm"`.
fn skew(offset_ns: i64, drift_ppm: i64) -> String {
    let sign = if offset_ns < 0 { "-" } else { "+" };
    let jump = format!("{sign}{}", dur(offset_ns.unsigned_abs()));
    format!("jump = {jump:?}, drift = \"{drift_ppm:+}ppm\"")
}

/// A knob's fault as the scenario states it (`host` already quoted).
fn tune(host: &str, knob: Knob, value: u64, grow_per_s: u64) -> Option<String> {
    Some(match knob {
        Knob::ApplyDelay if grow_per_s > 0 => format!(
            "{{ replication_delay = {{ host = {host}, delay = {:?}, grow = {:?} }} }}",
            dur(value),
            dur(grow_per_s)
        ),
        Knob::ApplyDelay => format!("{{ replication_delay = {{ host = {host}, delay = {:?} }} }}", dur(value)),
        Knob::DiskDelay => format!("{{ disk_delay = {{ host = {host}, delay = {:?} }} }}", dur(value)),
        Knob::Slowdown => format!("{{ slowdown = {{ host = {host}, percent = {value} }} }}"),
        Knob::FailRequests => format!("{{ fail_requests = {{ host = {host}, percent = {value} }} }}"),
        Knob::MaxMemory if value > 0 => format!("{{ memory_pressure = {{ host = {host}, maxmemory = {value} }} }}"),
        Knob::DnsTtl if value > 0 => {
            format!("{{ dns_ttl = {{ host = {host}, ttl = {:?} }} }}", dur(value.saturating_mul(1_000_000)))
        }
        Knob::MaxMemory
        | Knob::CacheFlush
        | Knob::ShardMask
        | Knob::CdnPurge
        | Knob::LbOut
        | Knob::FailHealth
        | Knob::DnsTtl => {
            return None;
        }
    })
}

/// One scheduled fault as a `[[faults]]` entry's keys on one line: `at = "12s", for = "3s",
/// fault = { kill = "db" }`; hosts by `names` (the run's hosts by index). `None` for a fault
/// the format cannot state.
pub fn fault_line(fault: &Scripted, names: &[String]) -> Option<String> {
    let value = fault_value(&fault.fault, names)?;
    let length = fault.length_ns.filter(|_| fault.fault.undo().is_some()).map(|l| format!(", for = {:?}", dur(l)));
    Some(format!("at = {:?}{}, fault = {value}", dur(fault.at_ns), length.unwrap_or_default()))
}

/// `text` (a scenario file) with its `[[faults]]` and `[swarm]` removed and `faults` (lines
/// from [`fault_line`]) appended as its scripted faults, under `comment`'s lines. Everything
/// else stays as written. `Err` when `text` is not TOML.
pub fn with_faults(text: &str, faults: &[String], comment: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    doc.remove("faults");
    doc.remove("swarm");
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    for line in comment.lines() {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    for fault in faults {
        out.push_str("[[faults]]\n");
        // `at = .., for = .., fault = ..` becomes one key per line.
        for part in split_top(fault) {
            out.push_str(part.trim());
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

/// Splits `a = 1, b = { c = 2, d = 3 }` at its top-level commas (not inside braces, brackets
/// or strings).
fn split_top(line: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut in_string, mut start) = (Vec::new(), 0i32, false, 0);
    let mut escaped = false;
    for (i, ch) in line.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{FaultSpec, parse_str};

    const BASE: &str = "# a comment that stays\nname = \"t\"\nduration = \"30s\"\n\n[[hosts]]\nname = \"db\"\nservice = { kv = { role = \"primary\" } }\n\n[[hosts]]\nname = \"r\"\nservice = { kv = { role = \"replica\", primary = \"db\" } }\n\n[[hosts]]\nname = \"c\"\nservice = { cache = {} }\n\n[workload]\ntargets = [\"db\"]\nusers = 2\narrival = { constant = { rate = 10 } }\n\n[[faults]]\nat = \"1s\"\nfault = { kill = \"db\" }\n\n[swarm]\nmax_faults = 2\n";

    fn names() -> Vec<String> {
        ["db", "r", "c", "lg0"].map(String::from).to_vec()
    }

    fn every_form() -> Vec<Scripted> {
        let s = |at_ns, fault, length_ns| Scripted { at_ns, fault, length_ns };
        vec![
            s(1_000_000_000, Fault::Kill { host: 0 }, Some(2_500_000_000)),
            s(2_000_000, Fault::Restart { host: 0 }, None),
            s(3, Fault::Partition { a: vec![0], b: vec![1, 2] }, Some(1_000)),
            s(4_000, Fault::PartitionOneWay { from: vec![1], to: vec![0] }, None),
            s(5, Fault::Heal { a: vec![0], b: vec![1] }, None),
            s(5, Fault::HealOneWay { from: vec![0], to: vec![1] }, None),
            s(6, Fault::LinkDegrade { a: 0, b: 1, latency_ns: 25_000_000, jitter_ns: 0, loss: 0.3 }, Some(7)),
            s(7, Fault::Tune { host: 1, knob: Knob::ApplyDelay, value: 2_000_000_000, grow_per_s: 100_000_000 }, None),
            s(7, Fault::Tune { host: 0, knob: Knob::DiskDelay, value: 20_000_000, grow_per_s: 0 }, Some(1)),
            s(7, Fault::Tune { host: 0, knob: Knob::Slowdown, value: 400, grow_per_s: 0 }, None),
            s(8, Fault::LongTransactions { target: 0, count: 10, hold_ns: 3_000_000_000 }, None),
            s(9, Fault::ClockSkew { host: 1, offset_ns: -2_000_000_000, drift_ppm: -500_000 }, Some(1)),
            s(9, Fault::ClockSkew { host: 1, offset_ns: 1_500_000, drift_ppm: 0 }, None),
            s(10, Fault::CacheFlush { host: 2 }, None),
            s(11, Fault::Tune { host: 2, knob: Knob::MaxMemory, value: 2_000_000, grow_per_s: 0 }, None),
        ]
    }

    #[test]
    fn every_emitted_fault_reads_back_as_the_same_fault() {
        let names = names();
        let lines: Vec<String> = every_form().iter().map(|f| fault_line(f, &names).expect("stateable")).collect();
        let text = with_faults(BASE, &lines, "shrunk").unwrap();
        let scenario = parse_str("t.toml", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(scenario.faults.len(), lines.len());
        assert!(scenario.swarm.is_none(), "the swarm table is gone");
        let hosts: std::collections::BTreeMap<String, u16> =
            names.iter().enumerate().map(|(i, n)| (n.clone(), i as u16)).collect();
        let back = crate::nemesis::script(&scenario, &hosts);
        let expected: Vec<Scripted> = every_form()
            .into_iter()
            .map(|mut f| {
                f.length_ns = f.length_ns.filter(|_| f.fault.undo().is_some());
                f
            })
            .collect();
        assert_eq!(back, expected, "{text}");
        assert!(matches!(scenario.faults[0].get_ref().fault, FaultSpec::Kill(_)));
    }

    /// Two regions, a host in each, and a user near each.
    const REGIONS: &str = "name = \"t\"\nduration = \"30s\"\n\n[[regions]]\nname = \"us\"\n\n[[regions]]\nname = \"eu\"\n\n[[hosts]]\nname = \"db\"\nregion = \"us\"\nservice = { kv = { role = \"primary\" } }\n\n[[hosts]]\nname = \"e\"\nregion = \"eu\"\nservice = \"echo\"\n\n[workload]\ntargets = [\"db\"]\nusers = 2\nloadgens = 2\nnear = [\"us\", \"eu\"]\narrival = { constant = { rate = 10 } }\n";

    #[test]
    fn every_region_fault_reads_back_as_the_same_fault() {
        use faultline_chaos::fault::RegionHosts;
        let names: Vec<String> = ["db", "e", "lg0", "lg1"].map(String::from).to_vec();
        let region = |name: &str, hosts: &[u16]| RegionHosts { name: name.into(), hosts: hosts.to_vec() };
        let s = |at_ns, fault, length_ns| Scripted { at_ns, fault, length_ns };
        let forms = vec![
            s(1_000_000_000, Fault::RegionOutage { region: region("eu", &[1]) }, Some(2_000_000_000)),
            s(
                2_000_000_000,
                Fault::RegionPartition { a: region("us", &[0, 2]), b: region("eu", &[1, 3]), oneway: false },
                None,
            ),
            s(
                3_000_000_000,
                Fault::RegionPartition { a: region("eu", &[1, 3]), b: region("us", &[0, 2]), oneway: true },
                Some(1_000_000),
            ),
            s(
                4_000_000_000,
                Fault::RegionLatency {
                    a: region("us", &[0, 2]),
                    b: region("eu", &[1, 3]),
                    latency_ns: 150_000_000,
                    jitter_ns: 20_000_000,
                    loss: 0.01,
                },
                Some(5_000_000_000),
            ),
            s(
                5_000_000_000,
                Fault::RegionSkew { region: region("us", &[0]), offset_ns: -2_000_000_000, drift_ppm: 100_000 },
                Some(1_000_000_000),
            ),
        ];
        let lines: Vec<String> = forms.iter().map(|f| fault_line(f, &names).expect("stateable")).collect();
        assert_eq!(lines[0], "at = \"1s\", for = \"2s\", fault = { region_outage = \"eu\" }");
        assert_eq!(
            lines[2],
            "at = \"3s\", for = \"1ms\", fault = { region_partition = { a = \"eu\", b = \"us\", oneway = true } }"
        );
        let text = with_faults(REGIONS, &lines, "regions").unwrap();
        let scenario = parse_str("t.toml", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let hosts: std::collections::BTreeMap<String, u16> =
            names.iter().enumerate().map(|(i, n)| (n.clone(), i as u16)).collect();
        assert_eq!(crate::nemesis::script(&scenario, &hosts), forms, "{text}");
        let reset = Fault::RegionSkew { region: region("us", &[0]), offset_ns: 0, drift_ppm: 0 };
        for repair in [reset, Fault::RegionRestore { region: region("eu", &[1]) }] {
            assert_eq!(fault_line(&s(1, repair, None), &names), None, "a put-back is the undo's to schedule");
        }
    }

    #[test]
    fn the_rest_of_the_file_stays_as_written() {
        let text =
            with_faults(BASE, &["at = \"2s\", fault = { kill = \"r\" }".into()], "line one\n\nline two").unwrap();
        assert!(text.starts_with("# a comment that stays\nname = \"t\""), "{text}");
        assert!(!text.contains("max_faults") && !text.contains("{ kill = \"db\" }"), "{text}");
        assert!(
            text.contains("# line one\n#\n# line two\n[[faults]]\nat = \"2s\"\nfault = { kill = \"r\" }\n"),
            "{text}"
        );
        assert!(with_faults("not = [toml", &[], "").is_err());
    }

    #[test]
    fn a_put_back_has_no_scenario_form() {
        let restore = Scripted { at_ns: 1, fault: Fault::LinkRestore { a: 0, b: 1 }, length_ns: None };
        assert_eq!(fault_line(&restore, &names()), None);
        let lb = Scripted {
            at_ns: 1,
            fault: Fault::Tune { host: 0, knob: Knob::LbOut, value: 1, grow_per_s: 0 },
            length_ns: None,
        };
        assert_eq!(fault_line(&lb, &names()), None);
    }

    #[test]
    fn durations_are_written_exactly() {
        assert_eq!(dur(0), "0s");
        assert_eq!(dur(12_000_000_000), "12s");
        assert_eq!(dur(12_345_000_000), "12345ms");
        assert_eq!(dur(1_500), "1500ns");
        assert_eq!(dur(2_000), "2us");
    }
}
