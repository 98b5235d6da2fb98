//! The text of `INFO` and the parameters of `CONFIG GET` / `CONFIG SET`, in Redis's formats.
//!
//! INFO is `# Section\r\nkey:value\r\n...`, sections separated by a blank line, with the
//! sections server, clients, memory, stats and keyspace (`default` and `all` give them all; an
//! unknown name gives nothing, as Redis). CONFIG knows `maxmemory` (sizes such as `100mb`, as
//! Redis's `memtoll`), `maxmemory-policy`, `maxmemory-samples` and a few read-only values the
//! usual clients ask for (`save` is empty, `appendonly` is `no`).
//!
//! This file must not change the keyspace: it reads figures and parses values.

use std::fmt::Write;

use super::evict::{ALL_POLICIES, LFU_DECAY_MINUTES, LFU_LOG_FACTOR, Policy};
use super::{EngineConfig, Stats};

/// The Redis version INFO reports (clients gate features on it).
pub const REDIS_VERSION: &str = "7.2.4";

/// The INFO sections, in Redis's order.
const SECTIONS: [&str; 5] = ["server", "clients", "memory", "stats", "keyspace"];

/// Redis's `bytesToHuman`.
fn human(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.2}K", b / K)
    } else if b < K * K * K {
        format!("{:.2}M", b / (K * K))
    } else {
        format!("{:.2}G", b / (K * K * K))
    }
}

/// Appends one section's body.
fn section(out: &mut String, name: &str, stats: &Stats, config: &EngineConfig) {
    // Writing into a String cannot fail.
    let w = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match name {
        "server" => {
            out.push_str("# Server\r\n");
            w(out, "redis_version", &REDIS_VERSION);
            w(out, "redis_mode", &"standalone");
            w(out, "arch_bits", &64);
            w(out, "hz", &10);
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            w(out, "blocked_clients", &0);
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            w(out, "used_memory", &stats.used_memory);
            w(out, "used_memory_human", &human(stats.used_memory));
            w(out, "maxmemory", &config.maxmemory);
            w(out, "maxmemory_human", &human(config.maxmemory));
            w(out, "maxmemory_policy", &config.policy.name());
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            w(out, "total_commands_processed", &stats.commands);
            w(out, "expired_keys", &stats.expired);
            w(out, "evicted_keys", &stats.evicted);
            w(out, "keyspace_hits", &stats.hits);
            w(out, "keyspace_misses", &stats.misses);
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            if stats.keys > 0 {
                let _ = write!(out, "db0:keys={},expires={},avg_ttl=0\r\n", stats.keys, stats.expires);
            }
        }
        // Not one of SECTIONS: the caller never asks.
        _ => {}
    }
}

/// The INFO text for the requested section names (none = the default set).
pub(crate) fn info_text(names: &[&[u8]], stats: &Stats, config: &EngineConfig) -> String {
    let everything = names.is_empty()
        || names.iter().any(|n| [&b"default"[..], b"all", b"everything"].iter().any(|all| n.eq_ignore_ascii_case(all)));
    let mut out = String::new();
    for name in SECTIONS {
        if everything || names.iter().any(|n| n.eq_ignore_ascii_case(name.as_bytes())) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section(&mut out, name, stats, config);
        }
    }
    out
}

/// Redis's `stringmatchlen` for `*`, `?` and literal characters, case-insensitive (CONFIG GET).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&text[t])) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Every CONFIG parameter and its current text.
pub(crate) fn config_params(config: &EngineConfig) -> [(&'static str, String); 9] {
    [
        ("maxmemory", config.maxmemory.to_string()),
        ("maxmemory-policy", config.policy.name().to_string()),
        ("maxmemory-samples", config.samples.to_string()),
        ("lfu-log-factor", LFU_LOG_FACTOR.to_string()),
        ("lfu-decay-time", LFU_DECAY_MINUTES.to_string()),
        ("hz", "10".to_string()),
        ("databases", "1".to_string()),
        ("save", String::new()),
        ("appendonly", "no".to_string()),
    ]
}

/// Redis's `memtoll`: digits with an optional unit, `k`/`m`/`g` (powers of 1000) or
/// `kb`/`mb`/`gb` (powers of 1024), any case.
pub fn parse_memory(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let number: u64 = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
    let unit = text[digits..].to_ascii_lowercase();
    let multiplier: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1_000,
        b"kb" => 1 << 10,
        b"m" => 1_000_000,
        b"mb" => 1 << 20,
        b"g" => 1_000_000_000,
        b"gb" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// The CONFIG SET error for a bad value of `name`.
pub(crate) fn config_set_error(name: &str, why: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

/// The list of policy names in Redis's CONFIG SET error.
pub(crate) fn policy_choices() -> String {
    let names: Vec<&str> = ALL_POLICIES.iter().map(|p: &Policy| p.name()).collect();
    format!("argument(s) must be one of the following: {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_as_redis() {
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"1k"), Some(1_000));
        assert_eq!(parse_memory(b"1KB"), Some(1_024));
        assert_eq!(parse_memory(b"100mb"), Some(100 << 20));
        assert_eq!(parse_memory(b"2g"), Some(2_000_000_000));
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"10xb"), None);
        assert_eq!(parse_memory(b"mb"), None);
    }

    #[test]
    fn glob_matches_stars_and_marks() {
        assert!(glob_match(b"*", b"maxmemory"));
        assert!(glob_match(b"maxmemory*", b"maxmemory-policy"));
        assert!(glob_match(b"MAXMEMORY", b"maxmemory"));
        assert!(glob_match(b"*policy", b"maxmemory-policy"));
        assert!(glob_match(b"max?emory", b"maxmemory"));
        assert!(!glob_match(b"maxmemory", b"maxmemory-policy"));
        assert!(!glob_match(b"*x", b"save"));
        assert!(glob_match(b"*e*o*", b"appendonly"));
    }

    #[test]
    fn human_sizes_as_redis() {
        assert_eq!(human(1000), "1000B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
    }
}
