//! The L2 cache engine: a pure, deterministic Redis-semantics keyspace and its command
//! dispatch. [`Engine::execute`] takes one command (its arguments as RESP bulk strings) and the
//! seam's clock, and returns the reply [`Frame`]; there is no I/O, no clock and no global RNG
//! (the engine's own ChaCha8 stream, seeded at construction, drives sampling and the LFU
//! counter), so the same seed and the same commands give the same replies.
//!
//! - `keyspace`: entries, byte accounting, the TTL index.
//! - `evict`: the policies, the sampling pool, the LFU counter.
//! - `strings`: the string and key commands (GET, SET, INCR, EXPIRE, ...).
//! - `admin`: the server commands (INFO, CONFIG, CLIENT, COMMAND, SELECT, FLUSHALL, ...).
//! - `info`: the INFO and CONFIG text; `throttle`: CL.THROTTLE's arguments, reply and errors (its
//!   GCRA arithmetic is `crate::ratelimit::gcra`'s).
//!
//! Memory: with `maxmemory > 0`, a command that may grow memory (Redis's `denyoom` flag: SET,
//! MSET, INCR and kin, CL.THROTTLE) first evicts by the policy until `used_memory` is within
//! the limit; if nothing can be evicted it is refused with Redis's OOM error, even if it would
//! shrink memory; reads and DEL always run. Redis evicts only before a command, so after a write
//! it may sit above the limit until the next one; this engine also evicts right after such a
//! write, so `used_memory` never stays above the limit after a successful write (unless nothing
//! is evictable, as with noeviction, where the next write gets the OOM error). Under a random
//! policy that eviction may take the key just written, as Redis's next command would.
//! [`Engine::set_maxmemory`] and `CONFIG SET maxmemory` take effect at the next write.
//!
//! Values are strings only: no WRONGTYPE is ever answered (CL.THROTTLE keeps its state as a
//! decimal string, as redis-cell does).
//!
//! This module must not know sockets, framing or the simulation: the server glue parses RESP
//! and calls [`Engine::execute`]; the clock comes in as `now`.

mod admin;
mod evict;
mod info;
mod keyspace;
mod strings;
mod throttle;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cache::resp::Frame;

pub use evict::{MAX_SAMPLES, Policy};
pub use info::parse_memory;
pub use keyspace::{BASE_BYTES, ENTRY_OVERHEAD_BYTES};

use evict::{Evictor, Pool};
use keyspace::Keyspace;

/// The engine's settings (`maxmemory`, `maxmemory-policy`, `maxmemory-samples`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The memory limit in bytes; 0 = no limit.
    pub maxmemory: u64,
    /// What to evict at the limit.
    pub policy: Policy,
    /// Keys sampled per eviction (Redis's default 5; 10 comes close to true LRU).
    pub samples: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { maxmemory: 0, policy: Policy::NoEviction, samples: 5 }
    }
}

/// The engine's figures, as INFO reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Keys held (expired ones not yet collected included, as DBSIZE).
    pub keys: u64,
    /// Keys with a TTL.
    pub expires: u64,
    /// `used_memory`: [`BASE_BYTES`] plus key, value and [`ENTRY_OVERHEAD_BYTES`] per entry.
    pub used_memory: u64,
    /// The current limit (0 = none).
    pub maxmemory: u64,
    /// `keyspace_hits`: read lookups that found a key.
    pub hits: u64,
    /// `keyspace_misses`: read lookups that did not.
    pub misses: u64,
    /// `evicted_keys`.
    pub evicted: u64,
    /// `expired_keys`: keys deleted because their TTL passed (lazily or by the active cycle).
    pub expired: u64,
    /// `total_commands_processed`: commands that ran (not unknown, wrong-arity or OOM ones).
    pub commands: u64,
}

/// The counters the engine keeps beside the keyspace.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    hits: u64,
    misses: u64,
    evicted: u64,
    expired: u64,
    commands: u64,
}

/// Keys sampled per round of the active expiry cycle (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub const ACTIVE_EXPIRE_KEYS_PER_ROUND: usize = 20;
/// The cycle repeats while more than this percentage of a round's sample was stale (Redis 7's
/// `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE` at effort 1).
pub const ACTIVE_EXPIRE_STALE_PERCENT: usize = 10;
/// Rounds one [`Engine::active_expire`] call may run, so a call is bounded (Redis bounds the
/// cycle by 25 ms of CPU instead).
pub const ACTIVE_EXPIRE_MAX_ROUNDS: usize = 16;

/// The commands the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Ping,
    Echo,
    Get,
    Set,
    Del,
    Exists,
    Expire,
    PExpire,
    Ttl,
    PTtl,
    Incr,
    IncrBy,
    Decr,
    DecrBy,
    MGet,
    MSet,
    FlushAll,
    DbSize,
    Info,
    Config,
    Client,
    Command,
    Select,
    Quit,
    Throttle,
}

/// A command's table row: its lowercase name, Redis's arity (n exact, -n at least n) and
/// whether it may grow memory (`denyoom`).
struct Spec {
    cmd: Cmd,
    name: &'static str,
    arity: i32,
    deny_oom: bool,
}

/// Every command by uppercase name (no allocation: the caller uppercases into a stack buffer).
fn spec(upper: &[u8]) -> Option<Spec> {
    let (cmd, name, arity, deny_oom) = match upper {
        b"GET" => (Cmd::Get, "get", 2, false),
        b"SET" => (Cmd::Set, "set", -3, true),
        b"INCR" => (Cmd::Incr, "incr", 2, true),
        b"PING" => (Cmd::Ping, "ping", -1, false),
        b"MGET" => (Cmd::MGet, "mget", -2, false),
        b"MSET" => (Cmd::MSet, "mset", -3, true),
        b"DEL" => (Cmd::Del, "del", -2, false),
        b"UNLINK" => (Cmd::Del, "unlink", -2, false),
        b"EXISTS" => (Cmd::Exists, "exists", -2, false),
        b"INCRBY" => (Cmd::IncrBy, "incrby", 3, true),
        b"DECR" => (Cmd::Decr, "decr", 2, true),
        b"DECRBY" => (Cmd::DecrBy, "decrby", 3, true),
        b"EXPIRE" => (Cmd::Expire, "expire", -3, false),
        b"PEXPIRE" => (Cmd::PExpire, "pexpire", -3, false),
        b"TTL" => (Cmd::Ttl, "ttl", 2, false),
        b"PTTL" => (Cmd::PTtl, "pttl", 2, false),
        b"ECHO" => (Cmd::Echo, "echo", 2, false),
        b"FLUSHALL" => (Cmd::FlushAll, "flushall", -1, false),
        b"FLUSHDB" => (Cmd::FlushAll, "flushdb", -1, false),
        b"DBSIZE" => (Cmd::DbSize, "dbsize", 1, false),
        b"INFO" => (Cmd::Info, "info", -1, false),
        b"CONFIG" => (Cmd::Config, "config", -2, false),
        b"CLIENT" => (Cmd::Client, "client", -2, false),
        b"COMMAND" => (Cmd::Command, "command", -1, false),
        b"SELECT" => (Cmd::Select, "select", 2, false),
        b"QUIT" => (Cmd::Quit, "quit", -1, false),
        b"CL.THROTTLE" => (Cmd::Throttle, "cl.throttle", -1, true),
        _ => return None,
    };
    Some(Spec { cmd, name, arity, deny_oom })
}

/// Whether `n` arguments (the name included) satisfy `arity`.
fn arity_ok(arity: i32, n: usize) -> bool {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if arity >= 0 { n == i64::from(arity) } else { n >= -i64::from(arity) }
}

/// `ERR wrong number of arguments for '<name>' command`.
pub(crate) fn wrong_arity(name: &str) -> Frame {
    Frame::Error(format!("ERR wrong number of arguments for '{name}' command"))
}

/// Text of an argument for an error message: lossy UTF-8, CR and LF as spaces (Redis's
/// `addReplyErrorFormat`).
pub(crate) fn sanitize(arg: &[u8], max: usize) -> String {
    let cut = &arg[..arg.len().min(max)];
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
}

/// Redis's reply to an unknown command: the name (128 bytes at most) and the arguments while
/// their text stays under 128 bytes.
fn unknown_command(args: &[Bytes]) -> Frame {
    let mut listed = String::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&sanitize(arg, room));
        listed.push_str("' ");
    }
    Frame::Error(format!("ERR unknown command '{}', with args beginning with: {listed}", sanitize(&args[0], 128)))
}

/// Redis's `string2ll`: a strict decimal i64 (no sign but `-`, no leading zeros or spaces).
pub(crate) fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    let valid = match digits {
        [b'0'] => !negative,
        [b'1'..=b'9', rest @ ..] => rest.len() < 19 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !valid {
        return None;
    }
    let magnitude: i128 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// The deterministic Redis-semantics engine.
pub struct Engine {
    config: EngineConfig,
    keyspace: Keyspace,
    pool: Pool,
    rng: ChaCha8Rng,
    counters: Counters,
}

/// Milliseconds of the seam's clock (saturating: a clock past 584 million years is a bug).
fn millis(now: Duration) -> u64 {
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// An empty engine with its own RNG stream from `seed`.
    pub fn new(config: EngineConfig, seed: u64) -> Self {
        Engine {
            config,
            keyspace: Keyspace::default(),
            pool: Pool::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            counters: Counters::default(),
        }
    }

    /// Runs one command (args[0] is the name, any case). `now` = time since an arbitrary epoch
    /// (the seam's clock); all TTLs are computed from it.
    pub fn execute(&mut self, args: &[Bytes], now: Duration) -> Frame {
        let Some(name) = args.first() else {
            return Frame::error("ERR empty command");
        };
        let mut buf = [0u8; 16];
        let spec = match buf.get_mut(..name.len()) {
            Some(upper) => {
                upper.copy_from_slice(name);
                upper.make_ascii_uppercase();
                spec(upper)
            }
            None => None,
        };
        let Some(spec) = spec else {
            return unknown_command(args);
        };
        if !arity_ok(spec.arity, args.len()) {
            return wrong_arity(spec.name);
        }
        let now_ms = millis(now);
        let guarded = spec.deny_oom && self.config.maxmemory > 0;
        if guarded && !self.free_memory(now_ms) {
            return Frame::error("OOM command not allowed when used memory > 'maxmemory'.");
        }
        let reply = self.run(spec.cmd, args, now);
        // After the command, as Redis's `call()`: CONFIG RESETSTAT counts itself.
        self.counters.commands += 1;
        if guarded {
            self.free_memory(now_ms);
        }
        reply
    }

    /// Dispatches a checked command.
    fn run(&mut self, cmd: Cmd, args: &[Bytes], now: Duration) -> Frame {
        let now_ms = millis(now);
        match cmd {
            Cmd::Get => self.get(&args[1], now_ms),
            Cmd::Set => self.set(args, now_ms),
            Cmd::Incr => self.incr_by(&args[1], 1, now_ms),
            Cmd::Decr => self.incr_by(&args[1], -1, now_ms),
            Cmd::IncrBy => self.incr_by_arg(args, false, now_ms),
            Cmd::DecrBy => self.incr_by_arg(args, true, now_ms),
            Cmd::MGet => self.mget(&args[1..], now_ms),
            Cmd::MSet => self.mset(args, now_ms),
            Cmd::Del => self.del(&args[1..], now_ms),
            Cmd::Exists => self.exists(&args[1..], now_ms),
            Cmd::Expire => self.expire(args, 1_000, now_ms),
            Cmd::PExpire => self.expire(args, 1, now_ms),
            Cmd::Ttl => self.ttl(&args[1], false, now_ms),
            Cmd::PTtl => self.ttl(&args[1], true, now_ms),
            Cmd::Ping => admin::ping(args),
            Cmd::Echo => Frame::Bulk(args[1].to_vec()),
            Cmd::FlushAll => self.flush_command(args),
            Cmd::DbSize => Frame::Integer(self.keyspace.len() as i64),
            Cmd::Info => self.info(args),
            Cmd::Config => self.config_command(args),
            Cmd::Client => admin::client(args),
            Cmd::Command => admin::command(args),
            Cmd::Select => admin::select(&args[1]),
            Cmd::Quit => Frame::ok(),
            Cmd::Throttle => self.throttle(args, now),
        }
    }

    /// Redis's active expiry cycle, run by the server every 100 ms (hz 10): rounds of
    /// [`ACTIVE_EXPIRE_KEYS_PER_ROUND`] random keys with a TTL, deleting the stale ones, again
    /// while more than [`ACTIVE_EXPIRE_STALE_PERCENT`]% were stale, at most
    /// [`ACTIVE_EXPIRE_MAX_ROUNDS`] rounds.
    pub fn active_expire(&mut self, now: Duration) {
        let now_ms = millis(now);
        for _ in 0..ACTIVE_EXPIRE_MAX_ROUNDS {
            let sampled = self.keyspace.volatile_len().min(ACTIVE_EXPIRE_KEYS_PER_ROUND);
            if sampled == 0 {
                return;
            }
            let mut stale = 0;
            for _ in 0..sampled {
                let Some(index) = self.keyspace.random_volatile_index(&mut self.rng) else {
                    break;
                };
                if self.keyspace.at(index).1.is_expired(now_ms) {
                    self.keyspace.remove_at(index);
                    self.counters.expired += 1;
                    stale += 1;
                }
            }
            if stale * 100 <= sampled * ACTIVE_EXPIRE_STALE_PERCENT {
                return;
            }
        }
    }

    /// The engine's figures.
    pub fn stats(&self) -> Stats {
        Stats {
            keys: self.keyspace.len() as u64,
            expires: self.keyspace.volatile_len() as u64,
            used_memory: self.keyspace.used_bytes(),
            maxmemory: self.config.maxmemory,
            hits: self.counters.hits,
            misses: self.counters.misses,
            evicted: self.counters.evicted,
            expired: self.counters.expired,
            commands: self.counters.commands,
        }
    }

    /// The current settings.
    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// Memory pressure mid-run: the new limit is enforced at the next write, as Redis.
    pub fn set_maxmemory(&mut self, bytes: u64) {
        self.config.maxmemory = bytes;
    }

    /// FLUSHALL: drops every key (the counters stay, as Redis's).
    pub fn flush(&mut self) {
        self.keyspace.clear();
        self.pool.clear();
    }

    /// Evicts by the policy until within `maxmemory`; false if over the limit with nothing to
    /// evict.
    fn free_memory(&mut self, now_ms: u64) -> bool {
        let limit = self.config.maxmemory;
        if limit == 0 {
            return true;
        }
        let mut evictor = Evictor {
            keyspace: &mut self.keyspace,
            pool: &mut self.pool,
            rng: &mut self.rng,
            policy: self.config.policy,
            samples: self.config.samples,
            now_ms,
        };
        while evictor.keyspace.used_bytes() > limit {
            if !evictor.evict_one() {
                return false;
            }
            self.counters.evicted += 1;
        }
        true
    }

    /// The index of a live `key`: a stale one is deleted first (lazy expiry).
    fn find(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let index = self.keyspace.index_of(key)?;
        if self.keyspace.at(index).1.is_expired(now_ms) {
            self.keyspace.remove_at(index);
            self.counters.expired += 1;
            return None;
        }
        Some(index)
    }

    /// A read lookup (Redis's `lookupKeyRead`): counts a hit or a miss and records the access.
    fn find_read(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let found = self.find_no_touch(key, now_ms);
        if let Some(index) = found {
            self.touch(index, now_ms);
        }
        found
    }

    /// A read lookup that counts a hit or a miss but leaves the access time (Redis's
    /// `LOOKUP_NOTOUCH`: EXISTS, TTL).
    fn find_no_touch(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let found = self.find(key, now_ms);
        match found {
            Some(_) => self.counters.hits += 1,
            None => self.counters.misses += 1,
        }
        found
    }

    /// A write lookup (Redis's `lookupKeyWrite`): no hit/miss counted, access recorded.
    fn find_write(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let found = self.find(key, now_ms);
        if let Some(index) = found {
            self.touch(index, now_ms);
        }
        found
    }

    /// Records an access to the entry at `index` (LRU clock, LFU counter).
    fn touch(&mut self, index: usize, now_ms: u64) {
        let entry = self.keyspace.access_mut(index);
        evict::touch(entry, self.config.policy, now_ms, &mut self.rng);
    }

    /// Writes `value` under `key` (a new entry, or a new value for an existing one, whose
    /// access history is kept as Redis's `dbSetValue`); `expire_ms` None keeps the TTL, Some(0)
    /// clears it.
    fn store(&mut self, key: &[u8], value: Vec<u8>, expire_ms: Option<u64>, now_ms: u64) {
        match self.find_write(key, now_ms) {
            Some(index) => {
                self.keyspace.set_value(index, value);
                if let Some(ms) = expire_ms {
                    self.keyspace.set_expire(index, ms);
                }
            }
            None => {
                let entry = evict::new_entry(value, expire_ms.unwrap_or(0), now_ms);
                self.keyspace.insert(key, entry);
            }
        }
    }
}
