//! The kv store's messages: its data API (`Get`, `Put`, `Delete`, `Cas`, `Hold` and their
//! replies `Value`, `Written`, `Error`), which the app, the cache, the pool and the router speak
//! too, as its clients or in front of it; replication between its nodes (`Subscribe`, `Log`,
//! `Applied`, `Truncate`); and failover control (`Check`, `Promote`, `Follow`, `Status`). The
//! tag table below is the only place their tags and field orders are written.
//!
//! This module owns the family's wire forms and classification; it must not know how a node
//! answers a message (that is `node`, `primary` and `replica`).

use crate::proto::{
    Address, Bytes, Code, Detail, ErrorCode, Family, Field, OptBytes, ProtoError, Reader, U32, U64, wire_byte_enum,
    wire_messages,
};
use crate::seam::RequestKind;
use crate::server::{Class, Refusal};

/// One log entry shipped from a primary to a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Log sequence number, 1-based and dense.
    pub lsn: u64,
    /// The epoch of the primary that wrote it (1 for the first primary).
    pub epoch: u64,
    /// The key written.
    pub key: Vec<u8>,
    /// The value written; `None` is a delete.
    pub value: Option<Vec<u8>>,
}

/// A replicated store node's place in its group, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeRole {
    /// Accepts writes and ships its log.
    Primary = 1,
    /// Applies a primary's log and serves reads.
    Replica = 2,
    /// Serves reads only and waits for orders: a deposed primary, or one whose lease ran out,
    /// or a managed node that restarted and has not yet been told its role.
    Fenced = 3,
}

impl NodeRole {
    /// The role's name in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => faultline_vocab::role::PRIMARY,
            Self::Replica => faultline_vocab::role::REPLICA,
            Self::Fenced => faultline_vocab::role::FENCED,
        }
    }
}

/// What a store node says about itself in reply to [`Msg::Check`], [`Msg::Promote`] and
/// [`Msg::Follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its role now.
    pub role: NodeRole,
    /// The highest epoch it knows of.
    pub epoch: u64,
    /// The last LSN in its log (a primary: written; a replica: applied).
    pub lsn: u64,
    /// The epoch of the entry at `lsn` (0 for an empty log): with `lsn`, how caught up it is.
    pub last_epoch: u64,
    /// A replica: how long it has been behind the newest LSN it has heard of, nanoseconds
    /// (0 when caught up). A primary: 0.
    pub lag_ns: u64,
}

/// Every message of the kv store's protocol, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Read `key`. `min_lsn` is a read-your-writes token: the reply must come from a node that
    /// has applied at least this LSN (0: any node will do).
    Get { key: Vec<u8>, min_lsn: u64 },
    /// Write `value` under `key`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Delete `key`.
    Delete { key: Vec<u8> },
    /// Compare-and-set: write `value` under `key` only if it holds `expected` now (`None`: the
    /// key must be absent), in one atomic step at the primary. Replied to with `Written`, or
    /// `Error { code: CasMismatch }` when the key holds something else (nothing was written).
    Cas { key: Vec<u8>, expected: Option<Vec<u8>>, value: Vec<u8> },
    /// A replica asks for the log from `from_lsn` (inclusive) on, then keeps streaming.
    /// `last_epoch` is the epoch of its entry at `from_lsn - 1` (0 if none), so the primary can
    /// tell whether their logs agree up to there.
    Subscribe { from_lsn: u64, last_epoch: u64 },
    /// Reply to a read: the value (if any) and the LSN the server had applied.
    Value { value: Option<Vec<u8>>, lsn: u64 },
    /// Reply to a write: its LSN and the epoch of the primary that accepted it.
    Written { lsn: u64, epoch: u64 },
    /// Log entries pushed to a subscribed replica; `head` is the primary's last LSN when sent
    /// (an empty `Log` is a heartbeat).
    Log { entries: Vec<LogEntry>, head: u64 },
    /// A replica acknowledges it applied everything up to `lsn`.
    Applied { lsn: u64 },
    /// Reply: the request failed.
    Error { code: ErrorCode, detail: String },
    /// A health check from a failover controller that knows of `epoch`. To the primary of that
    /// epoch, `lease_ms > 0` also grants a lease: it may accept writes for that long after it
    /// received this. Replied to with `Status`.
    Check { epoch: u64, lease_ms: u32 },
    /// Reply: a node's status.
    Status(NodeStatus),
    /// Become the primary of `epoch` (higher than any the node knows). Replied to with `Status`.
    Promote { epoch: u64 },
    /// Follow the primary at `primary` ("host:port") of `epoch`, as a replica. Replied to with
    /// `Status`.
    Follow { primary: String, epoch: u64 },
    /// Reply to `Subscribe` from a replica whose log diverges from the primary's (of `epoch`)
    /// after `to_lsn`: it must drop its entries after `to_lsn` and subscribe again.
    Truncate { to_lsn: u64, epoch: u64 },
    /// A long transaction: a query that holds its worker (and its connection) for `ms`
    /// milliseconds before it answers, like a report query or `pg_sleep`. Replied to with
    /// `Value { value: None, lsn }`.
    Hold { ms: u32 },
    /// Add `delta` (negative: subtract) to the counter `key`, as Redis's `INCRBY` does.
    /// Replied to with `Counted`. A kv node keeps no counters (it answers `BadRequest`); an
    /// active-active store keeps them as PN-counters, which lose no update.
    Add { key: Vec<u8>, delta: i64 },
    /// Reply to `Add`: the counter's value at the answering node, after the addition.
    Counted { value: i64 },
}

wire_messages! {
    Msg;
    1 => Get { key: Bytes, min_lsn: U64 },
    2 => Put { key: Bytes, value: Bytes },
    3 => Delete { key: Bytes },
    5 => Subscribe { from_lsn: U64, last_epoch: U64 },
    6 => Value { value: OptBytes, lsn: U64 },
    7 => Written { lsn: U64, epoch: U64 },
    8 => Log { head: U64, entries: Entries },
    9 => Applied { lsn: U64 },
    10 => Error { code: Code, detail: Detail },
    11 => Check { epoch: U64, lease_ms: U32 },
    12 => Status(status: Status),
    13 => Promote { epoch: U64 },
    14 => Follow { primary: Address, epoch: U64 },
    15 => Truncate { to_lsn: U64, epoch: U64 },
    16 => Hold { ms: U32 },
    17 => Cas { key: Bytes, expected: OptBytes, value: Bytes },
    18 => Add { key: Bytes, delta: I64 },
    19 => Counted { value: I64 },
}

impl Family for Msg {
    /// A query of some kind takes a worker slot and its service time; control traffic
    /// (replication, failover management, and replies, which a server answers `BadRequest`)
    /// does not.
    fn class(&self) -> Class {
        match self {
            Msg::Get { .. } => Class::Query(RequestKind::Read),
            Msg::Put { .. } | Msg::Delete { .. } | Msg::Cas { .. } | Msg::Add { .. } => {
                Class::Query(RequestKind::Write)
            }
            Msg::Hold { .. } => Class::Query(RequestKind::Other),
            Msg::Subscribe { .. }
            | Msg::Applied { .. }
            | Msg::Check { .. }
            | Msg::Promote { .. }
            | Msg::Follow { .. }
            | Msg::Value { .. }
            | Msg::Written { .. }
            | Msg::Counted { .. }
            | Msg::Log { .. }
            | Msg::Error { .. }
            | Msg::Status(_)
            | Msg::Truncate { .. } => Class::Control,
        }
    }

    /// A compare-and-set that found another value was served correctly: the refusal is the
    /// caller's concern (like HTTP 409), not a failure of the server.
    fn is_failure(&self) -> bool {
        matches!(self, Msg::Error { code, .. } if *code != ErrorCode::CasMismatch)
    }

    fn refusal(why: Refusal, detail: String) -> Msg {
        Msg::Error { code: ErrorCode::refusing(why), detail }
    }
}

/// An `i64` as its two's-complement `u64 BE`.
pub struct I64;

impl Field for I64 {
    type Value = i64;
    fn put(v: &i64, out: &mut Vec<u8>) {
        U64::put(&(*v as u64), out);
    }
    fn take(r: &mut Reader<'_>) -> Result<i64, ProtoError> {
        Ok(r.u64()? as i64)
    }
}

/// A [`NodeStatus`]: role as one byte, then epoch, lsn, last epoch and lag as `u64 BE`.
pub struct Status;
/// Log entries: a `u32 BE` count, then each entry's lsn, epoch, key and optional value.
pub struct Entries;

impl Field for Status {
    type Value = NodeStatus;
    fn put(s: &NodeStatus, out: &mut Vec<u8>) {
        out.push(s.role.to_u8());
        for v in [s.epoch, s.lsn, s.last_epoch, s.lag_ns] {
            U64::put(&v, out);
        }
    }
    fn take(r: &mut Reader<'_>) -> Result<NodeStatus, ProtoError> {
        let role = NodeRole::from_u8(r.u8()?).ok_or(ProtoError::BadValue("node role"))?;
        let (epoch, lsn, last_epoch, lag_ns) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        Ok(NodeStatus { role, epoch, lsn, last_epoch, lag_ns })
    }
}

impl Field for Entries {
    type Value = Vec<LogEntry>;
    fn put(entries: &Vec<LogEntry>, out: &mut Vec<u8>) {
        U32::put(&(entries.len() as u32), out);
        for e in entries {
            U64::put(&e.lsn, out);
            U64::put(&e.epoch, out);
            Bytes::put(&e.key, out);
            OptBytes::put(&e.value, out);
        }
    }
    fn take(r: &mut Reader<'_>) -> Result<Vec<LogEntry>, ProtoError> {
        let n = U32::take(r)?;
        // A count from the peer bounds nothing: grow as entries really arrive.
        let mut entries = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            entries.push(LogEntry { lsn: r.u64()?, epoch: r.u64()?, key: Bytes::take(r)?, value: OptBytes::take(r)? });
        }
        Ok(entries)
    }
}

wire_byte_enum!(NodeRole { Primary, Replica, Fenced });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Frame;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn check(msg: Msg) {
        let frame = Frame { id: 42, msg };
        let bytes = frame.to_bytes();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(Frame::<Msg>::decode(&bytes[4..]).unwrap(), frame);
    }

    #[test]
    fn every_message_round_trips() {
        check(Msg::Get { key: b"k1".to_vec(), min_lsn: 0 });
        check(Msg::Get { key: b"k1".to_vec(), min_lsn: 77 });
        check(Msg::Put { key: b"k".to_vec(), value: vec![0; 100] });
        check(Msg::Delete { key: vec![] });
        check(Msg::Subscribe { from_lsn: 9, last_epoch: 2 });
        check(Msg::Value { value: None, lsn: 3 });
        check(Msg::Value { value: Some(b"v".to_vec()), lsn: 3 });
        check(Msg::Written { lsn: u64::MAX, epoch: 3 });
        check(Msg::Log { entries: vec![LogEntry { lsn: 1, epoch: 1, key: b"a".to_vec(), value: None }], head: 4 });
        check(Msg::Log { entries: vec![], head: 0 });
        check(Msg::Check { epoch: 2, lease_ms: 1500 });
        let status = NodeStatus { role: NodeRole::Fenced, epoch: 3, lsn: 10, last_epoch: 2, lag_ns: 5 };
        check(Msg::Status(status));
        check(Msg::Promote { epoch: 4 });
        check(Msg::Follow { primary: "db2:7000".into(), epoch: 4 });
        check(Msg::Truncate { to_lsn: 8, epoch: 4 });
        check(Msg::Hold { ms: 5_000 });
        check(Msg::Cas { key: b"k".to_vec(), expected: None, value: b"v".to_vec() });
        check(Msg::Add { key: b"c".to_vec(), delta: -7 });
        check(Msg::Add { key: b"c".to_vec(), delta: i64::MAX });
        check(Msg::Counted { value: i64::MIN });
        check(Msg::Cas { key: b"k".to_vec(), expected: Some(b"old".to_vec()), value: b"new".to_vec() });
        check(Msg::Error { code: ErrorCode::CasMismatch, detail: "k holds another value".into() });
        check(Msg::Error { code: ErrorCode::PoolTimeout, detail: "no connection in 1s".into() });
        check(Msg::Error { code: ErrorCode::TooManyConnections, detail: "100 in use".into() });
        check(Msg::Applied { lsn: 5 });
        check(Msg::Error { code: ErrorCode::Fenced, detail: "epoch 3 < 4".into() });
    }

    #[test]
    fn messages_are_classified_for_the_server() {
        use crate::seam::RequestKind::{Other, Read, Write};
        let get = Msg::Get { key: vec![], min_lsn: 0 };
        assert_eq!(get.class(), Class::Query(Read));
        assert_eq!(Msg::Cas { key: vec![], expected: None, value: vec![] }.class(), Class::Query(Write));
        assert_eq!(Msg::Delete { key: vec![] }.class(), Class::Query(Write));
        assert_eq!(Msg::Hold { ms: 1 }.class(), Class::Query(Other));
        assert_eq!(Msg::Subscribe { from_lsn: 1, last_epoch: 0 }.class(), Class::Control);
        assert_eq!(Msg::Check { epoch: 1, lease_ms: 0 }.class(), Class::Control);
        assert_eq!(Msg::Written { lsn: 1, epoch: 1 }.class(), Class::Control, "a reply sent as a request");
    }

    #[test]
    fn only_errors_other_than_a_cas_mismatch_are_failures() {
        let error = |code| Msg::Error { code, detail: String::new() };
        assert!(error(ErrorCode::Overloaded).is_failure());
        assert!(error(ErrorCode::NotPrimary).is_failure());
        assert!(!error(ErrorCode::CasMismatch).is_failure());
        assert!(!Msg::Written { lsn: 1, epoch: 1 }.is_failure());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::<Msg>::decode(&body);
        }

        #[test]
        fn puts_round_trip(id in any::<u64>(), key in proptest::collection::vec(any::<u8>(), 0..32),
                           value in proptest::collection::vec(any::<u8>(), 0..256)) {
            let frame = Frame { id, msg: Msg::Put { key, value } };
            let bytes = frame.to_bytes();
            prop_assert_eq!(Frame::<Msg>::decode(&bytes[4..]).unwrap(), frame);
        }
    }

    /// One or more samples of every message, with the frame bytes (id 0x0102030405060708) that
    /// the protocol has always produced for them.
    fn golden() -> Vec<(Msg, &'static str)> {
        let status = NodeStatus { role: NodeRole::Fenced, epoch: 3, lsn: 10, last_epoch: 2, lag_ns: 5 };
        let entries = vec![
            LogEntry { lsn: 1, epoch: 1, key: b"a".to_vec(), value: None },
            LogEntry { lsn: 2, epoch: 1, key: b"b".to_vec(), value: Some(b"x".to_vec()) },
        ];
        vec![
            (Msg::Get { key: b"k1".to_vec(), min_lsn: 77 }, "00000017010203040506070801000000026b31000000000000004d"),
            (
                Msg::Put { key: b"k".to_vec(), value: b"val".to_vec() },
                "00000015010203040506070802000000016b0000000376616c",
            ),
            (Msg::Delete { key: b"dk".to_vec() }, "0000000f01020304050607080300000002646b"),
            (
                Msg::Cas { key: b"k".to_vec(), expected: Some(b"old".to_vec()), value: b"new".to_vec() },
                "0000001d010203040506070811000000016b01000000036f6c64000000036e6577",
            ),
            (
                Msg::Cas { key: b"k".to_vec(), expected: None, value: b"v".to_vec() },
                "00000014010203040506070811000000016b000000000176",
            ),
            (
                Msg::Subscribe { from_lsn: 9, last_epoch: 2 },
                "0000001901020304050607080500000000000000090000000000000002",
            ),
            (
                Msg::Value { value: Some(b"v".to_vec()), lsn: 3 },
                "000000170102030405060708060100000001760000000000000003",
            ),
            (Msg::Value { value: None, lsn: 4 }, "00000012010203040506070806000000000000000004"),
            (Msg::Written { lsn: 5, epoch: 6 }, "0000001901020304050607080700000000000000050000000000000006"),
            (
                Msg::Log { entries, head: 4 },
                "000000460102030405060708080000000000000004000000020000000000000001000000000000000100000001610000\
                 0000000000000200000000000000010000000162010000000178",
            ),
            (Msg::Applied { lsn: 11 }, "00000011010203040506070809000000000000000b"),
            (Msg::Error { code: ErrorCode::CasMismatch, detail: "d".into() }, "0000000f01020304050607080a090000000164"),
            (Msg::Check { epoch: 2, lease_ms: 1500 }, "0000001501020304050607080b0000000000000002000005dc"),
            (
                Msg::Status(status),
                "0000002a01020304050607080c030000000000000003000000000000000a0000000000000002000000000000\
                 0005",
            ),
            (Msg::Promote { epoch: 4 }, "0000001101020304050607080d0000000000000004"),
            (
                Msg::Follow { primary: "db2:7000".into(), epoch: 4 },
                "0000001d01020304050607080e000000086462323a373030300000000000000004",
            ),
            (Msg::Truncate { to_lsn: 8, epoch: 4 }, "0000001901020304050607080f00000000000000080000000000000004"),
            (Msg::Hold { ms: 5_000 }, "0000000d01020304050607081000001388"),
            (Msg::Add { key: b"c".to_vec(), delta: -7 }, "000000160102030405060708120000000163fffffffffffffff9"),
            (Msg::Counted { value: i64::MIN }, "000000110102030405060708138000000000000000"),
        ]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_message_keeps_its_bytes_and_round_trips() {
        let mut covered = BTreeSet::new();
        for (msg, want) in golden() {
            let frame = Frame { id: 0x0102_0304_0506_0708, msg };
            let bytes = frame.to_bytes();
            assert_eq!(hex(&bytes), want, "{} changed on the wire", frame.msg.name());
            assert_eq!(Frame::decode(&bytes[4..]), Ok(frame.clone()), "{} round-trips", frame.msg.name());
            covered.insert(frame.msg.name());
        }
        let all: BTreeSet<_> = Msg::NAMES.iter().copied().collect();
        assert_eq!(covered, all, "every message has a golden sample");
    }

    #[test]
    fn roles_round_trip_and_refuse_unknown_bytes() {
        for v in 0..=u8::MAX {
            if let Some(role) = NodeRole::from_u8(v) {
                assert_eq!(role.to_u8(), v);
            }
        }
        assert_eq!(NodeRole::from_u8(3), Some(NodeRole::Fenced));
        assert_eq!(NodeRole::from_u8(4), None);
    }

    #[test]
    fn a_bad_address_or_flag_is_a_bad_value() {
        let mut b = Frame { id: 1, msg: Msg::Follow { primary: "a".into(), epoch: 1 } }.to_bytes();
        b[17] = 0xff;
        assert_eq!(Frame::<Msg>::decode(&b[4..]), Err(ProtoError::BadValue("primary address")));
        let mut b = Frame { id: 1, msg: Msg::Value { value: None, lsn: 1 } }.to_bytes();
        b[13] = 2;
        assert_eq!(Frame::<Msg>::decode(&b[4..]), Err(ProtoError::BadValue("option flag")));
    }
}
