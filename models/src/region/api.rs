//! The messages active-active store nodes exchange on their peer port: a node ships the
//! writes it accepted, in order, to every other region, and each peer says how far it has
//! them. Clients never speak this family; they use the kv store's data API
//! ([`crate::kv::api::Msg`]) on the service port.
//!
//! This module owns the family's wire forms (its tag table below is the only place its tags
//! and field orders are written); it must not know how a node applies what it receives.

use super::counter::Totals;
use super::hlc::Stamp;
use crate::proto::{
    Bytes, Code, Detail, ErrorCode, Family, Field, OptBytes, ProtoError, Reader, U32, U64, wire_messages,
};
use crate::server::{Class, Refusal};

/// What one entry of a region's log does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Set the key's last-writer-wins value (`None`: delete it).
    Write(Option<Vec<u8>>),
    /// The origin region's running totals of the key's PN-counter after an update.
    Count(Totals),
}

/// One write a region accepted, as it ships to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the origin's log, 1-based and dense.
    pub seq: u64,
    /// Its hybrid logical stamp at the origin.
    pub stamp: Stamp,
    /// The key.
    pub key: Vec<u8>,
    /// What it does.
    pub body: Body,
}

/// The peer protocol's messages, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoMsg {
    /// A shipper introduces itself as region `origin`. Replied to with `Have`.
    Hello { origin: u32 },
    /// Reply: the receiver holds `origin`'s log up to `upto` (inclusive).
    Have { upto: u64 },
    /// The origin's next entries, in order, and its clock when it sent them: it has no
    /// entry stamped at or below `clock` that is not in this batch or an earlier one. An empty
    /// batch is a heartbeat that moves the receiver's view of the origin forward. Replied to
    /// with `Have`, or `Refused` when `clock` is too far ahead of the receiver's.
    Ship { origin: u32, clock: Stamp, entries: Vec<Entry> },
    /// Reply: the batch was refused because the sender's clock is `ahead_ns` ahead of the
    /// receiver's, beyond the maximum offset; nothing of it was applied.
    Refused { ahead_ns: u64 },
    /// Reply: the request failed.
    Error { code: ErrorCode, detail: String },
}

wire_messages! {
    GeoMsg;
    10 => Error { code: Code, detail: Detail },
    60 => Hello { origin: U32 },
    61 => Have { upto: U64 },
    62 => Ship { origin: U32, clock: StampField, entries: Entries },
    63 => Refused { ahead_ns: U64 },
}

impl Family for GeoMsg {
    /// Replication is control traffic: it takes no worker slot.
    fn class(&self) -> Class {
        match self {
            GeoMsg::Hello { .. }
            | GeoMsg::Have { .. }
            | GeoMsg::Ship { .. }
            | GeoMsg::Refused { .. }
            | GeoMsg::Error { .. } => Class::Control,
        }
    }

    fn is_failure(&self) -> bool {
        matches!(self, GeoMsg::Error { .. })
    }

    fn refusal(why: Refusal, detail: String) -> GeoMsg {
        GeoMsg::Error { code: ErrorCode::refusing(why), detail }
    }
}

/// A [`Stamp`]: wall time as `u64 BE`, then the logical counter as `u32 BE`.
pub struct StampField;
/// Entries: a `u32 BE` count, then each entry's seq, stamp, key, and body (a kind byte: 1 a
/// write with its optional value, 2 a counter's totals as two `u64 BE`).
pub struct Entries;

impl Field for StampField {
    type Value = Stamp;
    fn put(s: &Stamp, out: &mut Vec<u8>) {
        U64::put(&s.wall_ns, out);
        U32::put(&s.logical, out);
    }
    fn take(r: &mut Reader<'_>) -> Result<Stamp, ProtoError> {
        Ok(Stamp { wall_ns: r.u64()?, logical: U32::take(r)? })
    }
}

impl Field for Entries {
    type Value = Vec<Entry>;
    fn put(entries: &Vec<Entry>, out: &mut Vec<u8>) {
        U32::put(&(entries.len() as u32), out);
        for e in entries {
            put_entry(e, out);
        }
    }
    fn take(r: &mut Reader<'_>) -> Result<Vec<Entry>, ProtoError> {
        let n = U32::take(r)?;
        // A count from the peer bounds nothing: grow as entries really arrive.
        let mut entries = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            entries.push(take_entry(r)?);
        }
        Ok(entries)
    }
}

/// Appends one entry's wire form (also its form in a node's journal).
pub(crate) fn put_entry(e: &Entry, out: &mut Vec<u8>) {
    U64::put(&e.seq, out);
    StampField::put(&e.stamp, out);
    Bytes::put(&e.key, out);
    match &e.body {
        Body::Write(value) => {
            out.push(1);
            OptBytes::put(value, out);
        }
        Body::Count(t) => {
            out.push(2);
            U64::put(&t.p, out);
            U64::put(&t.n, out);
        }
    }
}

/// Reads one entry written by [`put_entry`].
pub(crate) fn take_entry(r: &mut Reader<'_>) -> Result<Entry, ProtoError> {
    let seq = r.u64()?;
    let stamp = StampField::take(r)?;
    let key = Bytes::take(r)?;
    let body = match r.u8()? {
        1 => Body::Write(OptBytes::take(r)?),
        2 => Body::Count(Totals { p: r.u64()?, n: r.u64()? }),
        _ => return Err(ProtoError::BadValue("entry kind")),
    };
    Ok(Entry { seq, stamp, key, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Frame;

    fn check(msg: GeoMsg) {
        let frame = Frame { id: 7, msg };
        let bytes = frame.to_bytes();
        assert_eq!(Frame::<GeoMsg>::decode(&bytes[4..]).unwrap(), frame);
    }

    #[test]
    fn every_message_round_trips() {
        let stamp = Stamp { wall_ns: 1_000_000_123, logical: 4 };
        check(GeoMsg::Hello { origin: 2 });
        check(GeoMsg::Have { upto: 99 });
        check(GeoMsg::Ship { origin: 1, clock: stamp, entries: vec![] });
        check(GeoMsg::Ship {
            origin: 1,
            clock: stamp,
            entries: vec![
                Entry { seq: 1, stamp, key: b"k".to_vec(), body: Body::Write(Some(b"v".to_vec())) },
                Entry { seq: 2, stamp, key: b"k".to_vec(), body: Body::Write(None) },
                Entry { seq: 3, stamp, key: b"c".to_vec(), body: Body::Count(Totals { p: 5, n: 2 }) },
            ],
        });
        check(GeoMsg::Refused { ahead_ns: 600_000_000 });
        check(GeoMsg::Error { code: ErrorCode::BadRequest, detail: "x".into() });
    }

    #[test]
    fn a_bad_entry_kind_is_refused() {
        let mut out = Vec::new();
        put_entry(&Entry { seq: 1, stamp: Stamp::default(), key: vec![], body: Body::Write(None) }, &mut out);
        let kind_at = 8 + 12 + 4;
        out[kind_at] = 9;
        assert_eq!(take_entry(&mut Reader { buf: &out }), Err(ProtoError::BadValue("entry kind")));
    }
}
