//! The framed protocol's bytes: each message's wire tag and field layout, written once.
//!
//! The table in [`wire_messages!`]'s invocation below is the only place a tag or a field order
//! is written: the macro generates the encoder, the decoder and the message names from it, so
//! the two directions cannot disagree. Each field names its wire form (a type implementing
//! [`Field`]): big-endian fixed-width integers, byte strings as `u32 BE` length + bytes,
//! optional byte strings as a flag byte then the string, and a few composite forms.
//!
//! This module must not know what a message means to a model (classification lives in
//! `proto::Msg::class`), nor how frames travel on a stream (`proto::stream`).

use super::{ErrorCode, LogEntry, Msg, NodeRole, NodeStatus, ProtoError};

/// The reading side of a frame body: takes fields off the front of a byte slice.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProtoError> {
        if self.buf.len() < n {
            return Err(ProtoError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        Ok(self.take(N)?.try_into().expect("take returns exactly N bytes"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

/// A field's wire form: how a value of type `Value` is written and read back.
pub(crate) trait Field {
    /// The Rust type the field holds.
    type Value;
    /// Appends the field's bytes to `out`.
    fn put(value: &Self::Value, out: &mut Vec<u8>);
    /// Reads the field off the front of `r`.
    fn take(r: &mut Reader<'_>) -> Result<Self::Value, ProtoError>;
}

/// `u32 BE`.
pub(crate) struct U32;
/// `u64 BE`.
pub(crate) struct U64;
/// A byte string: `u32 BE` length + bytes.
pub(crate) struct Bytes;
/// An optional byte string: 0, or 1 then a [`Bytes`].
pub(crate) struct OptBytes;
/// A peer's address ("host:port") as a [`Bytes`] of UTF-8; invalid UTF-8 is refused.
pub(crate) struct Address;
/// A human-readable detail as a [`Bytes`]; invalid UTF-8 is replaced, never refused.
pub(crate) struct Detail;
/// An [`ErrorCode`] as one byte.
pub(crate) struct Code;
/// A [`NodeStatus`]: role as one byte, then epoch, lsn, last epoch and lag as `u64 BE`.
pub(crate) struct Status;
/// Log entries: a `u32 BE` count, then each entry's lsn, epoch, key and optional value.
pub(crate) struct Entries;

impl Field for U32 {
    type Value = u32;
    fn put(value: &u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&value.to_be_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(r.array()?))
    }
}

impl Field for U64 {
    type Value = u64;
    fn put(value: &u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&value.to_be_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Result<u64, ProtoError> {
        r.u64()
    }
}

fn put_slice(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn take_slice<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], ProtoError> {
    let n = U32::take(r)? as usize;
    if r.buf.len() < n {
        return Err(ProtoError::Truncated);
    }
    let (head, tail) = r.buf.split_at(n);
    r.buf = tail;
    Ok(head)
}

impl Field for Bytes {
    type Value = Vec<u8>;
    fn put(value: &Vec<u8>, out: &mut Vec<u8>) {
        put_slice(value, out);
    }
    fn take(r: &mut Reader<'_>) -> Result<Vec<u8>, ProtoError> {
        Ok(take_slice(r)?.to_vec())
    }
}

impl Field for OptBytes {
    type Value = Option<Vec<u8>>;
    fn put(value: &Option<Vec<u8>>, out: &mut Vec<u8>) {
        match value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                put_slice(v, out);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>, ProtoError> {
        match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Bytes::take(r)?)),
            _ => Err(ProtoError::BadValue("option flag")),
        }
    }
}

impl Field for Address {
    type Value = String;
    fn put(value: &String, out: &mut Vec<u8>) {
        put_slice(value.as_bytes(), out);
    }
    fn take(r: &mut Reader<'_>) -> Result<String, ProtoError> {
        String::from_utf8(Bytes::take(r)?).map_err(|_| ProtoError::BadValue("primary address"))
    }
}

impl Field for Detail {
    type Value = String;
    fn put(value: &String, out: &mut Vec<u8>) {
        put_slice(value.as_bytes(), out);
    }
    fn take(r: &mut Reader<'_>) -> Result<String, ProtoError> {
        Ok(String::from_utf8_lossy(take_slice(r)?).into_owned())
    }
}

impl Field for Code {
    type Value = ErrorCode;
    fn put(value: &ErrorCode, out: &mut Vec<u8>) {
        out.push(value.to_u8());
    }
    fn take(r: &mut Reader<'_>) -> Result<ErrorCode, ProtoError> {
        ErrorCode::from_u8(r.u8()?).ok_or(ProtoError::BadValue("error code"))
    }
}

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

/// Generates, from one table of `tag => Variant { field: Form, ... }` (fields in wire order)
/// or `tag => Variant(binding: Form)`: `Msg::encode_body`, `Msg::decode_body`, `Msg::name` and
/// `Msg::NAMES`. A tag used twice is a compile error (unreachable pattern, denied below).
macro_rules! wire_messages {
    ($($tag:literal => $name:ident $fields:tt,)*) => {
        impl Msg {
            /// Every message kind's name, in tag order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// The message kind's name, for errors and logs.
            pub fn name(&self) -> &'static str {
                match self {
                    $(wire_messages!(@any $name $fields) => stringify!($name),)*
                }
            }

            /// Appends the message's tag and fields.
            pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
                match self {
                    $(wire_messages!(@pattern $name $fields) => {
                        out.push($tag);
                        wire_messages!(@put out $fields);
                    })*
                }
            }

            /// Reads a message (tag and fields) off the front of `r`.
            #[deny(unreachable_patterns)]
            pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Msg, ProtoError> {
                Ok(match r.u8()? {
                    $($tag => wire_messages!(@take r $name $fields),)*
                    other => return Err(ProtoError::UnknownTag(other)),
                })
            }
        }
    };
    (@pattern $name:ident { $($field:ident : $form:ty),* }) => { Msg::$name { $($field),* } };
    (@pattern $name:ident ($field:ident : $form:ty)) => { Msg::$name($field) };
    (@any $name:ident { $($field:ident : $form:ty),* }) => { Msg::$name { .. } };
    (@any $name:ident ($field:ident : $form:ty)) => { Msg::$name(..) };
    (@put $out:ident { $($field:ident : $form:ty),* }) => { $(<$form as Field>::put($field, $out);)* };
    (@put $out:ident ($field:ident : $form:ty)) => { <$form as Field>::put($field, $out) };
    // Struct literal fields are evaluated in the order written: the wire order.
    (@take $r:ident $name:ident { $($field:ident : $form:ty),* }) => {
        Msg::$name { $($field: <$form as Field>::take($r)?),* }
    };
    (@take $r:ident $name:ident ($field:ident : $form:ty)) => { Msg::$name(<$form as Field>::take($r)?) };
}

wire_messages! {
    1 => Get { key: Bytes, min_lsn: U64 },
    2 => Put { key: Bytes, value: Bytes },
    3 => Delete { key: Bytes },
    4 => Echo { payload: Bytes },
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
}

/// Generates a one-byte wire enum's `to_u8` and `from_u8` from its variants' discriminants,
/// written once in the enum itself.
macro_rules! wire_byte_enum {
    ($ty:ident { $($variant:ident),* $(,)? }) => {
        impl $ty {
            /// The byte that stands for this value on the wire.
            pub(crate) fn to_u8(self) -> u8 {
                self as u8
            }

            /// The value a byte stands for, if any.
            pub(crate) fn from_u8(v: u8) -> Option<Self> {
                // Exhaustive: a variant missing from the list is a compile error.
                let _check = |x: $ty| match x {
                    $($ty::$variant => (),)*
                };
                [$($ty::$variant),*].into_iter().find(|x| *x as u8 == v)
            }
        }
    };
}

wire_byte_enum!(ErrorCode {
    NotPrimary,
    Upstream,
    Overloaded,
    BadRequest,
    Fenced,
    Storage,
    PoolTimeout,
    TooManyConnections,
    CasMismatch
});
wire_byte_enum!(NodeRole { Primary, Replica, Fenced });

#[cfg(test)]
mod tests {
    use super::super::Frame;
    use super::*;
    use std::collections::BTreeSet;

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
            (Msg::Echo { payload: vec![7, 8, 9] }, "0000001001020304050607080400000003070809"),
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
    fn byte_enums_round_trip_and_refuse_unknown_bytes() {
        for v in 0..=u8::MAX {
            if let Some(code) = ErrorCode::from_u8(v) {
                assert_eq!(code.to_u8(), v);
            }
            if let Some(role) = NodeRole::from_u8(v) {
                assert_eq!(role.to_u8(), v);
            }
        }
        assert_eq!(ErrorCode::from_u8(9), Some(ErrorCode::CasMismatch));
        assert_eq!(ErrorCode::from_u8(0), None);
        assert_eq!(ErrorCode::from_u8(10), None);
        assert_eq!(NodeRole::from_u8(3), Some(NodeRole::Fenced));
        assert_eq!(NodeRole::from_u8(4), None);
    }

    #[test]
    fn a_bad_address_or_flag_is_a_bad_value() {
        let mut b = Frame { id: 1, msg: Msg::Follow { primary: "a".into(), epoch: 1 } }.to_bytes();
        b[17] = 0xff;
        assert_eq!(Frame::decode(&b[4..]), Err(ProtoError::BadValue("primary address")));
        let mut b = Frame { id: 1, msg: Msg::Value { value: None, lsn: 1 } }.to_bytes();
        b[13] = 2;
        assert_eq!(Frame::decode(&b[4..]), Err(ProtoError::BadValue("option flag")));
    }
}
