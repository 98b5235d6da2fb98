//! The server commands: PING, SELECT, FLUSHALL/FLUSHDB, INFO, CONFIG GET/SET/RESETSTAT,
//! CLIENT (SETINFO, SETNAME, GETNAME), COMMAND (COUNT, LIST, DOCS, INFO), with Redis's replies
//! to what `redis-cli`, `redis-benchmark` and `redis-rs` send on connect.
//!
//! This file must not touch keys beyond FLUSHALL; per-connection state (a client's name) is
//! not kept: the engine is shared by every connection.

use bytes::Bytes;

use super::evict::Policy;
use super::info::{config_params, config_set_error, glob_match, info_text, parse_memory, policy_choices};
use super::{Counters, Engine, parse_i64, sanitize, wrong_arity};
use crate::cache::resp::Frame;

/// Every command name the engine answers (COMMAND COUNT and COMMAND LIST).
pub(crate) const COMMAND_NAMES: [&str; 27] = [
    "get",
    "set",
    "incr",
    "ping",
    "mget",
    "mset",
    "del",
    "unlink",
    "exists",
    "incrby",
    "decr",
    "decrby",
    "expire",
    "pexpire",
    "ttl",
    "pttl",
    "echo",
    "flushall",
    "flushdb",
    "dbsize",
    "info",
    "config",
    "client",
    "command",
    "select",
    "quit",
    "cl.throttle",
];

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
fn unknown_subcommand(sub: &[u8], cmd: &str) -> Frame {
    Frame::Error(format!("ERR unknown subcommand '{}'. Try {cmd} HELP.", sanitize(sub, 128)))
}

/// PING [message].
pub(super) fn ping(args: &[Bytes]) -> Frame {
    match args {
        [_] => Frame::Simple("PONG".into()),
        [_, message] => Frame::Bulk(message.to_vec()),
        _ => wrong_arity("ping"),
    }
}

/// SELECT index: only database 0 exists.
pub(super) fn select(index: &[u8]) -> Frame {
    match parse_i64(index) {
        Some(0) => Frame::ok(),
        Some(_) => Frame::error("ERR DB index is out of range"),
        None => Frame::error("ERR value is not an integer or out of range"),
    }
}

/// CLIENT SETINFO / SETNAME / GETNAME: accepted, names not kept.
pub(super) fn client(args: &[Bytes]) -> Frame {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"setinfo" if args.len() != 4 => wrong_arity("client|setinfo"),
        b"setinfo" => {
            let attr = &args[2];
            if attr.eq_ignore_ascii_case(b"lib-name") || attr.eq_ignore_ascii_case(b"lib-ver") {
                Frame::ok()
            } else {
                Frame::Error(format!("ERR Unrecognized option '{}'", sanitize(attr, 128)))
            }
        }
        b"setname" if args.len() != 3 => wrong_arity("client|setname"),
        b"setname" => Frame::ok(),
        b"getname" if args.len() != 2 => wrong_arity("client|getname"),
        b"getname" => Frame::Null,
        _ => unknown_subcommand(&args[1], "CLIENT"),
    }
}

/// COMMAND [COUNT | LIST | DOCS ... | INFO ...]: enough for clients to fall back.
pub(super) fn command(args: &[Bytes]) -> Frame {
    let Some(sub) = args.get(1) else {
        return Frame::Array(Vec::new());
    };
    let sub = sub.to_ascii_lowercase();
    match sub.as_slice() {
        b"count" if args.len() != 2 => wrong_arity("command|count"),
        b"count" => Frame::Integer(COMMAND_NAMES.len() as i64),
        b"list" => Frame::Array(COMMAND_NAMES.iter().map(|n| Frame::Bulk(n.as_bytes().to_vec())).collect()),
        b"docs" | b"info" => Frame::Array(Vec::new()),
        _ => unknown_subcommand(&args[1], "COMMAND"),
    }
}

impl Engine {
    /// FLUSHALL / FLUSHDB [ASYNC | SYNC].
    pub(super) fn flush_command(&mut self, args: &[Bytes]) -> Frame {
        match args {
            [_] => {}
            [_, mode] if mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async") => {}
            _ => return Frame::error("ERR syntax error"),
        }
        self.flush();
        Frame::ok()
    }

    /// INFO [section ...].
    pub(super) fn info(&mut self, args: &[Bytes]) -> Frame {
        let names: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
        Frame::Bulk(info_text(&names, &self.stats(), &self.config).into_bytes())
    }

    /// CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT.
    pub(super) fn config_command(&mut self, args: &[Bytes]) -> Frame {
        let sub = args[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"get" if args.len() < 3 => wrong_arity("config|get"),
            b"get" => self.config_get(&args[2..]),
            b"set" if args.len() < 4 || !args.len().is_multiple_of(2) => wrong_arity("config|set"),
            b"set" => self.config_set(&args[2..]),
            b"resetstat" if args.len() != 2 => wrong_arity("config|resetstat"),
            b"resetstat" => {
                self.counters = Counters::default();
                Frame::ok()
            }
            _ => unknown_subcommand(&args[1], "CONFIG"),
        }
    }

    /// CONFIG GET: a flat array of the matching names and their values.
    fn config_get(&self, patterns: &[Bytes]) -> Frame {
        let mut reply = Vec::new();
        for (name, value) in config_params(&self.config) {
            if patterns.iter().any(|p| glob_match(p, name.as_bytes())) {
                reply.push(Frame::Bulk(name.as_bytes().to_vec()));
                reply.push(Frame::Bulk(value.into_bytes()));
            }
        }
        Frame::Array(reply)
    }

    /// CONFIG SET: every pair is checked before any is applied.
    fn config_set(&mut self, pairs: &[Bytes]) -> Frame {
        let mut next = self.config;
        for pair in pairs.chunks_exact(2) {
            let (name, value) = (pair[0].to_ascii_lowercase(), &pair[1]);
            match name.as_slice() {
                b"maxmemory" => match parse_memory(value) {
                    Some(bytes) => next.maxmemory = bytes,
                    None => {
                        let why = "argument must be a memory value";
                        return Frame::Error(config_set_error("maxmemory", why));
                    }
                },
                b"maxmemory-policy" => match std::str::from_utf8(value).ok().and_then(Policy::parse) {
                    Some(policy) => next.policy = policy,
                    None => {
                        let why = policy_choices();
                        return Frame::Error(config_set_error("maxmemory-policy", &why));
                    }
                },
                b"maxmemory-samples" => match parse_i64(value) {
                    Some(n @ 1..=2_147_483_647) => {
                        next.samples = usize::try_from(n).expect("positive and small");
                    }
                    _ => {
                        let why = "argument must be between 1 and 2147483647 inclusive";
                        return Frame::Error(config_set_error("maxmemory-samples", why));
                    }
                },
                // Accepted and ignored: nothing is persisted.
                b"save" => {}
                b"appendonly" if value.eq_ignore_ascii_case(b"no") => {}
                _ => {
                    return Frame::Error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        sanitize(&pair[0], 128)
                    ));
                }
            }
        }
        if next.policy != self.config.policy {
            self.pool.clear();
        }
        self.config = next;
        Frame::ok()
    }
}
