//! HTTP/1.1 on the seam: an axum router served by hyper over the seam's listener
//! ([`server`]), and a keep-alive client over the seam's streams ([`client`]). The same code
//! serves real sockets ([`crate::seam::TokioEnv`]) and the simulation's.
//!
//! Determinism: hyper's automatic `date` header (read from the wall clock) is off, and no
//! hyper timer is installed: every timeout a model needs goes through the seam's clock.
//!
//! The headers Faultline's services agree on are here, so a client and a server name them once.
//!
//! This module must not know a model's routes or logic: a model builds its router (see
//! `crate::app::http`).

pub mod bridge;
pub mod client;
pub mod relay;
pub mod server;

pub use axum::http::{Method, StatusCode};
pub use bytes::Bytes;

/// A request as [`client::HttpClient`] sends it.
pub type OutRequest = axum::http::Request<http_body_util::Full<Bytes>>;

/// Response header: the log position the store answered with (a read) or wrote at (a write).
pub const LSN: &str = "x-lsn";
/// Response header: the epoch of the primary that accepted a write.
pub const EPOCH: &str = "x-epoch";
/// Request header: a read-your-writes token, the LSN of the user's last acknowledged write.
pub const MIN_LSN: &str = "x-min-lsn";
/// Request header of a compare-and-set write: the value the key must hold, hex-encoded, or
/// `absent`.
pub const EXPECT: &str = "x-expect";
/// The `x-expect` value that asks for the key to be absent.
pub const EXPECT_ABSENT: &str = "absent";
/// The request header naming the user a rate limit keyed by user counts against.
pub const USER: &str = "x-user";

/// The longest request head (request line and headers) a server buffers: hyper's smallest
/// buffer limit. Longer heads get `431`.
pub const MAX_HEAD: usize = 8192;

/// Hex encoding of `bytes` (lower case), for header values.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes a hex string encodes, if it is one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn unhex_refuses_what_is_not_hex() {
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
        assert_eq!(unhex(""), Some(Vec::new()));
    }
}
