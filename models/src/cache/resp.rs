//! RESP2, the Redis serialization protocol: the frames a reply is made of, the request parser
//! (multibulk arrays of bulk strings, and inline commands) and the encoder.
//!
//! This file must not know any command's meaning: it only frames bytes.

/// A RESP2 reply value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+OK`: a simple string (no CR or LF inside).
    Simple(String),
    /// `-ERR ...`: an error; the text after the `-`, starting with its code (`ERR`, `WRONGTYPE`,
    /// `OOM`).
    Error(String),
    /// `:42`: an integer.
    Integer(i64),
    /// `$3\r\nfoo`: a bulk string.
    Bulk(Vec<u8>),
    /// `$-1`: the null bulk string (a missing key).
    Null,
    /// `*2\r\n...`: an array of frames.
    Array(Vec<Frame>),
    /// `*-1`: the null array.
    NullArray,
}

impl Frame {
    /// `+OK`.
    pub fn ok() -> Self {
        Frame::Simple("OK".into())
    }

    /// An error reply with the given text (its code first, e.g. `ERR syntax error`).
    pub fn error(text: impl Into<String>) -> Self {
        Frame::Error(text.into())
    }
}
