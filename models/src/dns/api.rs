//! The DNS server's messages: a client asks for a name's address, telling the server which
//! region it asks from (as EDNS Client Subnet does for a real resolver), and gets one address
//! and the time it may keep it.
//!
//! This module owns the family's wire forms (its tag table below is the only place its tags
//! and field orders are written); it must not know how the server picks an answer.

use crate::proto::{Address, Code, Detail, ErrorCode, Family, U32, wire_messages};
use crate::seam::RequestKind;
use crate::server::{Class, Refusal};

/// The DNS protocol's messages, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMsg {
    /// Which address serves `name` for a client in `region` ("" when it is in none)? Replied
    /// to with `Answer`, or an `Error` (`BadRequest`) for a name the server does not hold.
    Query { name: String, region: String },
    /// Reply: `addr` ("host:port") serves the name; keep it at most `ttl_ms` milliseconds.
    Answer { addr: String, ttl_ms: u32 },
    /// Reply: the request failed.
    Error { code: ErrorCode, detail: String },
}

wire_messages! {
    DnsMsg;
    10 => Error { code: Code, detail: Detail },
    70 => Query { name: Address, region: Address },
    71 => Answer { addr: Address, ttl_ms: U32 },
}

impl Family for DnsMsg {
    /// A query takes a worker slot (a lookup is cheap, but it is served); anything else sent
    /// as a request is a reply the server refuses at once.
    fn class(&self) -> Class {
        match self {
            DnsMsg::Query { .. } => Class::Query(RequestKind::Read),
            DnsMsg::Answer { .. } | DnsMsg::Error { .. } => Class::Control,
        }
    }

    fn is_failure(&self) -> bool {
        match self {
            DnsMsg::Query { .. } | DnsMsg::Answer { .. } => false,
            DnsMsg::Error { .. } => true,
        }
    }

    fn refusal(why: Refusal, detail: String) -> DnsMsg {
        DnsMsg::Error { code: ErrorCode::refusing(why), detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Frame, ProtoError};

    fn round_trip(msg: DnsMsg) {
        let frame = Frame { id: 3, msg };
        let bytes = frame.to_bytes();
        assert_eq!(Frame::<DnsMsg>::decode(&bytes[4..]), Ok(frame));
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(DnsMsg::Query { name: "shop".into(), region: "eu-west".into() });
        round_trip(DnsMsg::Query { name: "shop".into(), region: String::new() });
        round_trip(DnsMsg::Answer { addr: "app-eu:7000".into(), ttl_ms: 300_000 });
        round_trip(DnsMsg::Error { code: ErrorCode::BadRequest, detail: "no such name".into() });
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused_not_replaced() {
        let mut bytes = Frame { id: 1, msg: DnsMsg::Query { name: "ab".into(), region: String::new() } }.to_bytes();
        // The name's two bytes follow len (4), id (8), tag (1) and the name's length (4).
        bytes[4 + 8 + 1 + 4] = 0xff;
        assert!(matches!(Frame::<DnsMsg>::decode(&bytes[4..]), Err(ProtoError::BadValue(_))));
    }

    #[test]
    fn queries_are_served_and_errors_are_failures() {
        assert_eq!(
            DnsMsg::Query { name: String::new(), region: String::new() }.class(),
            Class::Query(RequestKind::Read)
        );
        assert!(DnsMsg::refusal(Refusal::Overloaded, "full".into()).is_failure());
        assert!(!DnsMsg::Answer { addr: String::new(), ttl_ms: 0 }.is_failure());
    }
}
