//! The framed wire protocol the models speak over the seam's streams: its frames, and the
//! [`Family`] contract a model's messages meet to travel in them. No model's messages live
//! here.
//!
//! A frame is `len: u32 BE` (bytes after this field), `id: u64 BE` (the caller's request id,
//! echoed in the reply, so many requests share one connection), `tag: u8`, then the body.
//! Byte strings are `u32 BE` length + bytes; integers are big-endian fixed width.
//! Frames larger than [`MAX_FRAME_BYTES`] are refused, so a bad peer cannot make us allocate
//! without bound.
//!
//! A message family is an enum owned by the model that serves it (the echo server's
//! `echo::EchoMsg`, the kv store's `kv::api::Msg`, the queue's `queue::api::QueueMsg`), with
//! one `wire_messages!` table of its tags and fields (which generates its [`Wire`] impl) and a
//! [`Family`] impl (how each message is classified, which replies are failures, how a refusal
//! looks). Tags stay apart across families (this module's tests check it), except the `Error` reply every family shares at
//! [`ERROR_TAG`]; a tag outside a server's family is a malformed frame to it, which ends the
//! connection (as a tag no family has always did). Adding a message: one variant in its family, one arm in its `Family::class`
//! (the compiler asks for it), and one line in its table. This module must not know how a model
//! answers a message.

mod stream;
mod wire;

pub use stream::{FrameReader, Framed, read_frame, write_frame};
pub use wire::{Address, Bytes, Code, Detail, Field, OptBytes, Reader, U32, U64};

pub(crate) use wire::{wire_byte_enum, wire_messages};

use crate::server::{Class, Refusal};
use faultline_vocab::error_code as code;
use std::io;

/// The tag of the `Error { code: Code, detail: Detail }` reply, the one row every family's
/// table shares: a server refuses in it whatever it speaks.
pub const ERROR_TAG: u8 = 10;

/// A message family's bytes, generated from its table by `wire_messages!`.
pub trait Wire: Sized + 'static {
    /// Appends the message's tag and fields.
    fn encode_body(&self, out: &mut Vec<u8>);
    /// Reads a message (tag and fields) off the front of `r`.
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, ProtoError>;
}

/// A message family, as the framed codec and the server's queueing model see it.
pub trait Family: Wire {
    /// What serving this message costs the server, when it arrives as a request.
    fn class(&self) -> Class;
    /// Whether this reply reports a failure of the server that sent it.
    fn is_failure(&self) -> bool;
    /// The reply that refuses a request for `why`; `detail` says more, for a person.
    fn refusal(why: Refusal, detail: String) -> Self;
}

/// The largest frame accepted (16 MiB).
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// Why a request failed at the server (the codes are `faultline_vocab::error_code`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    /// The server cannot serve this (e.g. a replica asked to write).
    NotPrimary = code::NOT_PRIMARY,
    /// A dependency of the server failed or timed out.
    Upstream = code::UPSTREAM,
    /// The server is overloaded and shed the request.
    Overloaded = code::OVERLOADED,
    /// The request was malformed.
    BadRequest = code::BAD_REQUEST,
    /// The write's epoch is older than the server's (fenced).
    Fenced = code::FENCED,
    /// The server's storage failed.
    Storage = code::STORAGE,
    /// A connection pool had no server connection free within its wait timeout.
    PoolTimeout = code::POOL_TIMEOUT,
    /// The server is at its connection limit and refused a new connection.
    TooManyConnections = code::TOO_MANY_CONNECTIONS,
    /// A compare-and-set found another value than the one expected, and wrote nothing.
    CasMismatch = code::CAS_MISMATCH,
    /// A rate limiter refused the request; a retry after a while can pass.
    RateLimited = code::RATE_LIMITED,
    /// The request's session is unknown or expired: the user must log in again.
    Unauthorized = code::UNAUTHORIZED,
}

impl ErrorCode {
    /// The code of a server's refusal for `why`, in every family.
    pub fn refusing(why: Refusal) -> ErrorCode {
        match why {
            Refusal::Overloaded => ErrorCode::Overloaded,
            Refusal::TooManyConnections => ErrorCode::TooManyConnections,
        }
    }
}

/// A message of family `M` with the id that pairs a request with its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<M> {
    /// Request id chosen by the caller.
    pub id: u64,
    /// The message.
    pub msg: M,
}

/// Appends the frame of `msg` with `id` (length prefix included) to `out`.
pub(crate) fn encode_frame<M: Wire>(id: u64, msg: &M, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&id.to_be_bytes());
    msg.encode_body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

impl<M: Wire> Frame<M> {
    /// Appends the encoded frame (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_frame(self.id, &self.msg, out);
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.encode(&mut out);
        out
    }

    /// Decodes one frame body (everything after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Frame<M>, ProtoError> {
        let mut r = Reader { buf: body };
        let id = r.u64()?;
        let msg = M::decode_body(&mut r)?;
        if !r.buf.is_empty() {
            return Err(ProtoError::TrailingBytes(r.buf.len()));
        }
        Ok(Frame { id, msg })
    }
}

/// A malformed frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// The frame ended in the middle of a field.
    #[error("frame truncated")]
    Truncated,
    /// The message tag is not one we know.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// A field held a value outside its domain.
    #[error("bad value in field {0}")]
    BadValue(&'static str),
    /// Bytes were left after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The length prefix exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(u32),
}

impl From<ProtoError> for io::Error {
    fn from(e: ProtoError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo::EchoMsg;
    use crate::kv::api::Msg;

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(Frame::<Msg>::decode(&[]), Err(ProtoError::Truncated));
        let mut b = Frame { id: 1, msg: Msg::Written { lsn: 1, epoch: 1 } }.to_bytes();
        b[12] = 99;
        assert_eq!(Frame::<Msg>::decode(&b[4..]), Err(ProtoError::UnknownTag(99)));
        let mut b = Frame { id: 1, msg: Msg::Written { lsn: 1, epoch: 1 } }.to_bytes();
        b.push(0);
        assert_eq!(Frame::<Msg>::decode(&b[4..]), Err(ProtoError::TrailingBytes(1)));
    }
    /// Every family's tags and names, as its table lists them.
    fn families() -> Vec<(&'static str, &'static [u8], &'static [&'static str])> {
        vec![
            ("kv", Msg::TAGS, Msg::NAMES),
            ("echo", EchoMsg::TAGS, EchoMsg::NAMES),
            ("queue", crate::queue::api::QueueMsg::TAGS, crate::queue::api::QueueMsg::NAMES),
            ("geo", crate::region::api::GeoMsg::TAGS, crate::region::api::GeoMsg::NAMES),
            ("dns", crate::dns::DnsMsg::TAGS, crate::dns::DnsMsg::NAMES),
        ]
    }

    #[test]
    fn tags_are_unique_across_families_but_the_shared_error_reply() {
        let mut owner = std::collections::BTreeMap::new();
        for (family, tags, names) in families() {
            assert_eq!(tags.len(), names.len());
            let error = tags.iter().zip(names).find(|(_, name)| **name == "Error");
            assert_eq!(error.map(|(tag, _)| *tag), Some(ERROR_TAG), "{family} refuses in the shared Error row");
            for (tag, name) in tags.iter().zip(names).filter(|(tag, _)| **tag != ERROR_TAG) {
                if let Some((other, other_name)) = owner.insert(*tag, (family, *name)) {
                    panic!("tag {tag} is both {other}'s {other_name} and {family}'s {name}");
                }
            }
        }
        assert!(owner.len() >= 16, "every family is listed");
    }

    #[test]
    fn a_refusal_names_its_cause() {
        assert_eq!(ErrorCode::refusing(Refusal::Overloaded), ErrorCode::Overloaded);
        assert_eq!(ErrorCode::refusing(Refusal::TooManyConnections), ErrorCode::TooManyConnections);
    }
}
