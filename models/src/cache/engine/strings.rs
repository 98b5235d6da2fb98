//! The string and key commands: GET, SET (EX/PX/EXAT/PXAT, NX/XX, GET, KEEPTTL), MGET, MSET,
//! INCR/DECR/INCRBY/DECRBY, DEL, EXISTS, EXPIRE/PEXPIRE (NX/XX/GT/LT), TTL/PTTL, CL.THROTTLE,
//! with Redis's replies, error strings and keyspace hit/miss counting.
//!
//! The hot path (GET, SET without options, INCR) allocates only the value it stores or
//! returns (and the two bytes of `+OK`, since [`Frame::Simple`] owns a `String`); INCR on an
//! existing key rewrites its digits in place. This file must not know eviction or memory limits: [`Engine::execute`] gates writes.

use std::time::Duration;

use bytes::Bytes;

use super::throttle::{OUT_OF_RANGE, gcra, parse_quota};
use super::{Engine, parse_i64, sanitize};
use crate::cache::resp::{Frame, push_decimal};

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// How SET's expiry argument is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: a Unix-like time in seconds (here: seconds since the engine's epoch).
    ExAt,
    /// PXAT: the same in milliseconds.
    PxAt,
}

/// SET's options.
#[derive(Debug, Default, Clone, Copy)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    expire: Option<(ExpireUnit, usize)>,
}

/// Parses SET's options (Redis's `parseExtendedStringArgumentsOrReply`).
fn parse_set_options(args: &[Bytes]) -> Result<SetOptions, Frame> {
    let mut options = SetOptions::default();
    let mut i = 3;
    while i < args.len() {
        let arg = &args[i][..];
        let has_next = i + 1 < args.len();
        let unit = [
            (&b"EX"[..], ExpireUnit::Ex),
            (b"PX", ExpireUnit::Px),
            (b"EXAT", ExpireUnit::ExAt),
            (b"PXAT", ExpireUnit::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| arg.eq_ignore_ascii_case(name))
        .map(|(_, unit)| unit);
        if arg.eq_ignore_ascii_case(b"NX") && !options.xx {
            options.nx = true;
        } else if arg.eq_ignore_ascii_case(b"XX") && !options.nx {
            options.xx = true;
        } else if arg.eq_ignore_ascii_case(b"GET") {
            options.get = true;
        } else if arg.eq_ignore_ascii_case(b"KEEPTTL") && options.expire.is_none() {
            options.keep_ttl = true;
        } else if let (Some(unit), true, false, None) = (unit, has_next, options.keep_ttl, options.expire) {
            options.expire = Some((unit, i + 1));
            i += 1;
        } else {
            return Err(Frame::error(SYNTAX));
        }
        i += 1;
    }
    Ok(options)
}

/// The absolute expiry in ms for `value` in `unit`, or Redis's error for the command `name`.
fn expire_at_ms(value: &[u8], unit: ExpireUnit, now_ms: u64, name: &str) -> Result<i64, Frame> {
    let invalid = || Frame::Error(format!("ERR invalid expire time in '{name}' command"));
    let n = parse_i64(value).ok_or_else(|| Frame::error(NOT_INTEGER))?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::ExAt => n.checked_mul(1_000).ok_or_else(invalid)?,
        ExpireUnit::Px | ExpireUnit::PxAt => n,
    };
    match unit {
        ExpireUnit::Ex | ExpireUnit::Px => {
            let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
            ms.checked_add(now).ok_or_else(invalid)
        }
        ExpireUnit::ExAt | ExpireUnit::PxAt => Ok(ms),
    }
}

impl Engine {
    /// GET key.
    pub(super) fn get(&mut self, key: &[u8], now_ms: u64) -> Frame {
        match self.find_read(key, now_ms) {
            Some(index) => Frame::Bulk(self.keyspace.at(index).1.value.clone()),
            None => Frame::Null,
        }
    }

    /// SET key value [EX s|PX ms|EXAT s|PXAT ms] [NX|XX] [GET] [KEEPTTL].
    pub(super) fn set(&mut self, args: &[Bytes], now_ms: u64) -> Frame {
        if args.len() == 3 {
            self.store(&args[1], args[2].to_vec(), Some(0), now_ms);
            return Frame::ok();
        }
        let options = match parse_set_options(args) {
            Ok(options) => options,
            Err(reply) => return reply,
        };
        let expire = match options.expire {
            Some((unit, at)) => match expire_at_ms(&args[at], unit, now_ms, "set") {
                Ok(ms) => Some(ms),
                Err(reply) => return reply,
            },
            None => None,
        };
        let key = &args[1][..];
        let old = options.get.then(|| self.get(key, now_ms));
        let found = self.find(key, now_ms).is_some();
        if (options.nx && found) || (options.xx && !found) {
            return old.unwrap_or(Frame::Null);
        }
        match expire {
            Some(ms) if ms <= i64::try_from(now_ms).unwrap_or(i64::MAX) => {
                // Already past: the write happens and the key is gone at once.
                self.keyspace.remove(key);
            }
            Some(ms) => {
                let ms = u64::try_from(ms).expect("a valid expiry is positive");
                self.store(key, args[2].to_vec(), Some(ms), now_ms);
            }
            None => {
                let ttl = (!options.keep_ttl).then_some(0);
                self.store(key, args[2].to_vec(), ttl, now_ms);
            }
        }
        old.unwrap_or_else(Frame::ok)
    }

    /// MGET key [key ...].
    pub(super) fn mget(&mut self, keys: &[Bytes], now_ms: u64) -> Frame {
        Frame::Array(keys.iter().map(|key| self.get(key, now_ms)).collect())
    }

    /// MSET key value [key value ...].
    pub(super) fn mset(&mut self, args: &[Bytes], now_ms: u64) -> Frame {
        if args.len().is_multiple_of(2) {
            return super::wrong_arity("mset");
        }
        for pair in args[1..].chunks_exact(2) {
            self.store(&pair[0], pair[1].to_vec(), Some(0), now_ms);
        }
        Frame::ok()
    }

    /// INCRBY / DECRBY: parses the amount, then [`Engine::incr_by`].
    pub(super) fn incr_by_arg(&mut self, args: &[Bytes], negate: bool, now_ms: u64) -> Frame {
        let Some(amount) = parse_i64(&args[2]) else {
            return Frame::error(NOT_INTEGER);
        };
        let delta = match (negate, amount.checked_neg()) {
            (false, _) => amount,
            (true, Some(negated)) => negated,
            (true, None) => return Frame::error("ERR decrement would overflow"),
        };
        self.incr_by(&args[1], delta, now_ms)
    }

    /// Adds `delta` to the integer at `key` (0 if missing), keeping its TTL.
    pub(super) fn incr_by(&mut self, key: &[u8], delta: i64, now_ms: u64) -> Frame {
        let found = self.find_write(key, now_ms);
        let current = match found {
            Some(index) => match parse_i64(&self.keyspace.at(index).1.value) {
                Some(n) => n,
                None => return Frame::error(NOT_INTEGER),
            },
            None => 0,
        };
        let Some(next) = current.checked_add(delta) else {
            return Frame::error("ERR increment or decrement would overflow");
        };
        let write = |value: &mut Vec<u8>| {
            value.clear();
            push_decimal(value, next);
        };
        match found {
            Some(index) => self.keyspace.edit_value(index, write),
            None => {
                let mut value = Vec::with_capacity(20);
                write(&mut value);
                self.store(key, value, None, now_ms);
            }
        }
        Frame::Integer(next)
    }

    /// DEL key [key ...] (and UNLINK): how many existed.
    pub(super) fn del(&mut self, keys: &[Bytes], now_ms: u64) -> Frame {
        let mut deleted = 0;
        for key in keys {
            if let Some(index) = self.find(key, now_ms) {
                self.keyspace.remove_at(index);
                deleted += 1;
            }
        }
        Frame::Integer(deleted)
    }

    /// EXISTS key [key ...]: how many exist (a key named twice counts twice).
    pub(super) fn exists(&mut self, keys: &[Bytes], now_ms: u64) -> Frame {
        let mut count = 0;
        for key in keys {
            if self.find_no_touch(key, now_ms).is_some() {
                count += 1;
            }
        }
        Frame::Integer(count)
    }

    /// TTL / PTTL key: -2 missing, -1 no TTL, else the time left (seconds rounded).
    pub(super) fn ttl(&mut self, key: &[u8], in_ms: bool, now_ms: u64) -> Frame {
        let Some(index) = self.find_no_touch(key, now_ms) else {
            return Frame::Integer(-2);
        };
        let expire_ms = self.keyspace.at(index).1.expire_ms;
        if expire_ms == 0 {
            return Frame::Integer(-1);
        }
        let left = i64::try_from(expire_ms.saturating_sub(now_ms)).unwrap_or(i64::MAX);
        Frame::Integer(if in_ms { left } else { left.saturating_add(500) / 1_000 })
    }

    /// EXPIRE / PEXPIRE key n [NX|XX|GT|LT] (`unit_ms` 1000 or 1): 1 if set, 0 if not.
    pub(super) fn expire(&mut self, args: &[Bytes], unit_ms: i64, now_ms: u64) -> Frame {
        let name = if unit_ms == 1 { "pexpire" } else { "expire" };
        let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
        for flag in &args[3..] {
            let slot = match flag.to_ascii_uppercase().as_slice() {
                b"NX" => &mut nx,
                b"XX" => &mut xx,
                b"GT" => &mut gt,
                b"LT" => &mut lt,
                _ => {
                    let text = sanitize(flag, 128);
                    return Frame::Error(format!("ERR Unsupported option {text}"));
                }
            };
            *slot = true;
        }
        if nx && (xx || gt || lt) {
            return Frame::error("ERR NX and XX, GT or LT options at the same time are not compatible");
        }
        if gt && lt {
            return Frame::error("ERR GT and LT options at the same time are not compatible");
        }
        let Some(n) = parse_i64(&args[2]) else {
            return Frame::error(NOT_INTEGER);
        };
        let invalid = || Frame::Error(format!("ERR invalid expire time in '{name}' command"));
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let Some(when) = n.checked_mul(unit_ms).and_then(|ms| ms.checked_add(now)) else {
            return invalid();
        };
        let Some(index) = self.find_write(&args[1], now_ms) else {
            return Frame::Integer(0);
        };
        let current = self.keyspace.at(index).1.expire_ms;
        let current = (current != 0).then(|| i64::try_from(current).unwrap_or(i64::MAX));
        let refused = (nx && current.is_some())
            || (xx && current.is_none())
            || (gt && current.is_none_or(|c| when <= c))
            || (lt && current.is_some_and(|c| when >= c));
        if refused {
            return Frame::Integer(0);
        }
        if when <= now {
            self.keyspace.remove_at(index);
        } else {
            let when = u64::try_from(when).expect("after now, so positive");
            self.keyspace.set_expire(index, when);
        }
        Frame::Integer(1)
    }

    /// CL.THROTTLE key max_burst count_per_period period [quantity] (redis-cell).
    pub(super) fn throttle(&mut self, args: &[Bytes], now: Duration) -> Frame {
        if args.len() != 5 && args.len() != 6 {
            return Frame::error(
                "Cell error: Usage: cl.throttle <key> <max_burst> <count per period> <period> \
                 [<quantity>]",
            );
        }
        let numbers: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
        let quota = match parse_quota(&numbers) {
            Ok(quota) => quota,
            Err(text) => return Frame::Error(text),
        };
        let now_ms = super::millis(now);
        let now_ns = i128::try_from(now.as_nanos()).unwrap_or(i128::MAX);
        let key = &args[1][..];
        let found = self.find(key, now_ms);
        let stored = match found {
            Some(index) => {
                let text = &self.keyspace.at(index).1.value;
                match std::str::from_utf8(text).ok().and_then(|t| t.parse::<i128>().ok()) {
                    Some(tat) => Some(tat),
                    None => return Frame::error(OUT_OF_RANGE),
                }
            }
            None => None,
        };
        let verdict = match gcra(quota, stored, now_ns) {
            Ok(verdict) => verdict,
            Err(text) => return Frame::Error(text),
        };
        if let Some((tat, ttl_ns)) = verdict.store {
            // Rounded up so the state outlives its TAT.
            let expire_ms = now_ns.saturating_add(ttl_ns).saturating_add(999_999) / 1_000_000;
            let expire_ms = u64::try_from(expire_ms).unwrap_or(u64::MAX).max(1);
            self.store(key, tat.to_string().into_bytes(), Some(expire_ms), now_ms);
        }
        Frame::Array(vec![
            Frame::Integer(i64::from(verdict.limited)),
            Frame::Integer(verdict.limit),
            Frame::Integer(verdict.remaining),
            Frame::Integer(verdict.retry_after_s),
            Frame::Integer(verdict.reset_after_s),
        ])
    }
}
