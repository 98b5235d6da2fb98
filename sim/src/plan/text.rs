//! The run plan for people: what `faultline plan` prints by default.
//!
//! One section per part of the plan, hosts and load generators one line each, every fault
//! with its time and its words. A kind's settings are printed from their serialized form
//! (`key=value`, nested keys joined by dots), so a kind added to the registry prints without
//! a line of code here.

use super::RunPlan;
use crate::workload::Mode;
use crate::workload::arrivals::ArrivalProcess;
use faultline_chaos::slo::SloKind;
use std::fmt::Write;

/// Nanoseconds for people: "250ms", "1.5s", "200us".
pub(super) fn dur(ns: u64) -> String {
    match ns {
        0 => "0s".into(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n >= 1_000_000_000 => format!("{}s", n as f64 / 1e9),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n >= 1_000_000 => format!("{}ms", n as f64 / 1e6),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// `value` flattened to `key=value` pairs; keys ending in `_ns` are printed as durations.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::Number(n) if prefix.ends_with("_ns") => {
            let key = prefix.trim_end_matches("_ns");
            out.push(format!("{key}={}", n.as_u64().map_or_else(|| n.to_string(), dur)));
        }
        serde_json::Value::String(s) if prefix.is_empty() => out.push(s.clone()),
        other => out.push(format!("{prefix}={other}")),
    }
}

/// `value`'s settings on one line.
fn settings(value: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    flatten("", &serde_json::to_value(value).expect("plans serialize"), &mut out);
    out.join(" ")
}

impl RunPlan {
    /// The plan as text, one line per host, load generator, link, fault and check.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let names: Vec<String> = self.header().hosts.into_iter().map(|h| h.name).collect();
        let _ = writeln!(s, "plan: scenario {:?}, seed {}", self.scenario, self.seed);
        let _ = writeln!(
            s,
            "time: duration {}, ends by {}, tick {}, window {}",
            dur(self.duration_ns),
            dur(self.end_ns),
            dur(self.tick_ns),
            dur(self.window_ns)
        );
        let _ = writeln!(s, "network: {}", settings(&self.network));
        let _ = writeln!(s, "hosts ({}):", self.hosts.len());
        for (i, h) in self.hosts.iter().enumerate() {
            let at = h.addr.as_deref().map_or_else(|| "listening on no port".to_string(), |a| format!("at {a}"));
            let _ = writeln!(s, "  #{i} {} [{}] {} {at}", h.name, h.group, h.kind);
            let _ = writeln!(s, "      capacity: {}", settings(&h.capacity));
            let service = settings(&h.service);
            if !service.is_empty() {
                let _ = writeln!(s, "      service: {service}");
            }
            for note in h.service.notes(self.loadgens.first().map_or(0, |lg| lg.keys)) {
                let _ = writeln!(s, "      {note}");
            }
        }
        if !self.links.is_empty() {
            let _ = writeln!(s, "links:");
            for l in &self.links {
                let _ = writeln!(
                    s,
                    "  {} <-> {}: latency {} jitter {} loss {}",
                    names[l.a as usize],
                    names[l.b as usize],
                    dur(l.latency_ns),
                    dur(l.jitter_ns),
                    l.loss
                );
            }
        }
        super::regions::render(self, &names, &mut s);
        let _ = writeln!(s, "load generators ({}):", self.loadgens.len());
        for lg in &self.loadgens {
            self.loadgen_line(&mut s, lg, &names);
        }
        let _ = writeln!(s, "faults ({}):", self.faults.len());
        for f in &self.faults {
            let _ = writeln!(s, "  at {:>8}  {}", dur(f.at_ns), f.fault.describe(&names));
        }
        let _ = writeln!(s, "objectives ({}):", self.slos.len());
        for slo in &self.slos {
            let what = match &slo.kind {
                SloKind::Latency { quantile, max_ns } => format!("p{} <= {}", quantile * 100.0, dur(*max_ns)),
                SloKind::Availability { min_ratio } => format!("availability >= {}%", min_ratio * 100.0),
                SloKind::SessionsLost { max } => format!("sessions lost <= {max}"),
                SloKind::Converged { within_ns } => format!("regions converged within {}", dur(*within_ns)),
            };
            let _ = writeln!(s, "  {}: {} of {}", slo.name, what, slo.service.as_deref().unwrap_or("end to end"));
        }
        let _ = writeln!(s, "checks: {}", settings(&self.checks));
        if let Some(pool) = &self.autoscale {
            let _ = writeln!(s, "autoscale: {}", settings(pool));
        }
        if let Some(deploy) = &self.deploy {
            let _ = writeln!(s, "deploy: {}", settings(deploy));
        }
        s
    }

    fn loadgen_line(&self, s: &mut String, lg: &crate::workload::LoadgenPlan, names: &[String]) {
        let mut per_target: std::collections::BTreeMap<u16, usize> = Default::default();
        for u in &lg.users {
            *per_target.entry(u.target).or_default() += 1;
        }
        let targets: Vec<String> = per_target.iter().map(|(t, n)| format!("{n} to {}", names[*t as usize])).collect();
        let pace = match &lg.mode {
            Mode::Open(ArrivalProcess::Constant { rate, .. }) => format!("constant {rate}/s"),
            Mode::Open(ArrivalProcess::Poisson { segments }) => {
                let parts: Vec<String> = segments.iter().map(|(at, r)| format!("{r}/s from {}", dur(*at))).collect();
                format!("poisson {}", parts.join(", "))
            }
            Mode::Open(ArrivalProcess::Burst { requests, at_ns }) => format!("burst of {requests} at {}", dur(*at_ns)),
            Mode::Closed { think_ns } => format!("closed loop, think {}", dur(*think_ns)),
        };
        let mut checkouts =
            if lg.checkout_ratio > 0.0 { format!(" checkouts {}", lg.checkout_ratio) } else { String::new() };
        let retry = lg.retry.as_ref().map_or_else(String::new, |r| format!("; {}", r.text(dur)));
        if lg.login {
            checkouts.push_str(" (users log in)");
        }
        if lg.page_ratio > 0.0 {
            checkouts.push_str(&format!(" pages {}", lg.page_ratio));
        }
        if lg.incr_ratio > 0.0 {
            checkouts.push_str(&format!(" increments {}", lg.incr_ratio));
        }
        let host = self.loadgen_index(lg.index);
        let region = self.regions.iter().find(|r| r.loadgens.contains(&host));
        let near = region.map_or_else(String::new, |r| format!(" in {}", r.name));
        let _ = writeln!(
            s,
            "  {} (#{}){near}: {} users ({}); {pace}; reads {} cas {}{checkouts} keys {} values {}B timeout {}{retry}",
            RunPlan::loadgen_name(lg.index),
            host,
            lg.users.len(),
            targets.join(", "),
            lg.read_ratio,
            lg.cas_ratio,
            lg.keys,
            lg.value_bytes,
            dur(lg.timeout_ns)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(dur(0), "0s");
        assert_eq!(dur(2_000_000_000), "2s");
        assert_eq!(dur(1_500_000_000), "1.5s");
        assert_eq!(dur(250_000_000), "250ms");
        assert_eq!(dur(200_000), "200us");
        assert_eq!(dur(7), "7ns");
    }

    #[test]
    fn settings_flatten_nested_values_and_name_durations() {
        let value = serde_json::json!({ "store": { "fixed": { "write": "db:7000" } }, "timeout_ns": 100_000_000u64, "cache": null });
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        assert_eq!(out, vec!["store.fixed.write=\"db:7000\"", "timeout=100ms"]);
    }
}
