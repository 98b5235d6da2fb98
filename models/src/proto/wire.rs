//! The framed protocol's bytes: the field forms every message family is written in, and the
//! `wire_messages!` macro that turns a family's table of tags and fields into its encoder and
//! decoder.
//!
//! Each family's table (in the module of the model that owns the family) is the only place its
//! tags and field orders are written: the macro generates the encoder, the decoder, the message
//! names and the tag list from it, so the two directions cannot disagree. Each field names its
//! wire form (a type implementing [`Field`]): big-endian fixed-width integers, byte strings as
//! `u32 BE` length + bytes, optional byte strings as a flag byte then the string, and a few
//! composite forms.
//!
//! This module must not know what a message means to a model (classification is each family's
//! `proto::Family` impl), nor how frames travel on a stream (`proto::stream`).

use super::{ErrorCode, ProtoError};

/// The reading side of a frame body: takes fields off the front of a byte slice.
pub struct Reader<'a> {
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
pub trait Field {
    /// The Rust type the field holds.
    type Value;
    /// Appends the field's bytes to `out`.
    fn put(value: &Self::Value, out: &mut Vec<u8>);
    /// Reads the field off the front of `r`.
    fn take(r: &mut Reader<'_>) -> Result<Self::Value, ProtoError>;
}

/// `u32 BE`.
pub struct U32;
/// `u64 BE`.
pub struct U64;
/// A byte string: `u32 BE` length + bytes.
pub struct Bytes;
/// An optional byte string: 0, or 1 then a [`Bytes`].
pub struct OptBytes;
/// A peer's address ("host:port") as a [`Bytes`] of UTF-8; invalid UTF-8 is refused.
pub struct Address;
/// A human-readable detail as a [`Bytes`]; invalid UTF-8 is replaced, never refused.
pub struct Detail;
/// An [`ErrorCode`] as one byte.
pub struct Code;
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

/// Generates, for the message family `$ty` (an enum), from one table of
/// `tag => Variant { field: Form, ... }` (fields in wire order) or `tag => Variant(binding: Form)`:
/// its [`Wire`](super::Wire) impl (encoder and decoder), `name`, `NAMES` and `TAGS`. A tag used
/// twice in one table is a compile error (unreachable pattern, denied below); across families,
/// `proto`'s tests check that tags stay apart.
macro_rules! wire_messages {
    ($ty:ident; $($tag:literal => $name:ident $fields:tt,)*) => {
        impl $ty {
            /// Every message kind's name, in table order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Every message kind's tag, in table order.
            pub const TAGS: &'static [u8] = &[$($tag),*];

            /// The message kind's name, for errors and logs.
            pub fn name(&self) -> &'static str {
                match self {
                    $($crate::proto::wire_messages!(@any $ty $name $fields) => stringify!($name),)*
                }
            }
        }

        impl $crate::proto::Wire for $ty {
            fn encode_body(&self, out: &mut Vec<u8>) {
                match self {
                    $($crate::proto::wire_messages!(@pattern $ty $name $fields) => {
                        out.push($tag);
                        $crate::proto::wire_messages!(@put out $fields);
                    })*
                }
            }

            #[deny(unreachable_patterns)]
            fn decode_body(r: &mut $crate::proto::Reader<'_>) -> Result<Self, $crate::proto::ProtoError> {
                Ok(match r.u8()? {
                    $($tag => $crate::proto::wire_messages!(@take r $ty $name $fields),)*
                    other => return Err($crate::proto::ProtoError::UnknownTag(other)),
                })
            }
        }
    };
    (@pattern $ty:ident $name:ident { $($field:ident : $form:ty),* }) => { $ty::$name { $($field),* } };
    (@pattern $ty:ident $name:ident ($field:ident : $form:ty)) => { $ty::$name($field) };
    (@any $ty:ident $name:ident { $($field:ident : $form:ty),* }) => { $ty::$name { .. } };
    (@any $ty:ident $name:ident ($field:ident : $form:ty)) => { $ty::$name(..) };
    (@put $out:ident { $($field:ident : $form:ty),* }) => {
        $(<$form as $crate::proto::Field>::put($field, $out);)*
    };
    (@put $out:ident ($field:ident : $form:ty)) => { <$form as $crate::proto::Field>::put($field, $out) };
    // Struct literal fields are evaluated in the order written: the wire order.
    (@take $r:ident $ty:ident $name:ident { $($field:ident : $form:ty),* }) => {
        $ty::$name { $($field: <$form as $crate::proto::Field>::take($r)?),* }
    };
    (@take $r:ident $ty:ident $name:ident ($field:ident : $form:ty)) => {
        $ty::$name(<$form as $crate::proto::Field>::take($r)?)
    };
}

pub(crate) use wire_messages;

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
            pub fn from_u8(v: u8) -> Option<Self> {
                // Exhaustive: a variant missing from the list is a compile error.
                let _check = |x: $ty| match x {
                    $($ty::$variant => (),)*
                };
                [$($ty::$variant),*].into_iter().find(|x| *x as u8 == v)
            }
        }
    };
}

pub(crate) use wire_byte_enum;

wire_byte_enum!(ErrorCode {
    NotPrimary,
    Upstream,
    Overloaded,
    BadRequest,
    Fenced,
    Storage,
    PoolTimeout,
    TooManyConnections,
    CasMismatch,
    RateLimited,
    Unauthorized
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_and_refuse_unknown_bytes() {
        for v in 0..=u8::MAX {
            if let Some(code) = ErrorCode::from_u8(v) {
                assert_eq!(code.to_u8(), v);
            }
        }
        assert_eq!(ErrorCode::from_u8(9), Some(ErrorCode::CasMismatch));
        assert_eq!(ErrorCode::from_u8(10), Some(ErrorCode::RateLimited));
        assert_eq!(ErrorCode::from_u8(0), None);
        assert_eq!(ErrorCode::from_u8(11), Some(ErrorCode::Unauthorized));
        assert_eq!(ErrorCode::from_u8(12), None);
    }
}
