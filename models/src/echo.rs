//! The echo server and its messages: it replies to `Echo { payload }` with the same payload.
//! The benchmark's closed-loop workload runs against it, on real sockets and in the simulation
//! alike.
//!
//! This module owns the echo family ([`EchoMsg`]): its tags, its classification and its
//! refusals. It must not know the store's messages.

use crate::proto::{Bytes, Code, Detail, ErrorCode, Family, Framed, wire_messages};
use crate::seam::{Env, RequestKind};
use crate::server::{Class, Handler, Refusal, Replier};

/// The echo protocol's messages, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoMsg {
    /// Return `payload` unchanged (the request, and its reply).
    Echo { payload: Vec<u8> },
    /// Reply: the request failed (the echo server is overloaded, or at its connection limit).
    Error { code: ErrorCode, detail: String },
}

wire_messages! {
    EchoMsg;
    4 => Echo { payload: Bytes },
    10 => Error { code: Code, detail: Detail },
}

impl Family for EchoMsg {
    /// An echo is a query; an error sent as a request is a reply the server refuses at once.
    fn class(&self) -> Class {
        match self {
            EchoMsg::Echo { .. } => Class::Query(RequestKind::Other),
            EchoMsg::Error { .. } => Class::Control,
        }
    }

    fn is_failure(&self) -> bool {
        match self {
            EchoMsg::Echo { .. } => false,
            EchoMsg::Error { .. } => true,
        }
    }

    fn refusal(why: Refusal, detail: String) -> EchoMsg {
        EchoMsg::Error { code: ErrorCode::refusing(why), detail }
    }
}

/// Echoes payloads back; anything else is a bad request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl<E: Env> Handler<E> for Echo {
    type Codec = Framed<EchoMsg>;

    async fn handle(&self, msg: EchoMsg, _replier: Replier<E, Framed<EchoMsg>>) -> Option<EchoMsg> {
        Some(match msg {
            EchoMsg::Echo { payload } => EchoMsg::Echo { payload },
            EchoMsg::Error { .. } => {
                EchoMsg::Error { code: ErrorCode::BadRequest, detail: "echo serves Echo only".into() }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Frame, ProtoError};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn echo_messages_keep_their_bytes_and_round_trip() {
        let golden = [
            (EchoMsg::Echo { payload: vec![7, 8, 9] }, "0000001001020304050607080400000003070809"),
            (
                EchoMsg::Error { code: ErrorCode::CasMismatch, detail: "d".into() },
                "0000000f01020304050607080a090000000164",
            ),
        ];
        for (msg, want) in golden {
            let frame = Frame { id: 0x0102_0304_0506_0708, msg };
            let bytes = frame.to_bytes();
            assert_eq!(hex(&bytes), want, "{} changed on the wire", frame.msg.name());
            assert_eq!(Frame::decode(&bytes[4..]), Ok(frame.clone()), "{} round-trips", frame.msg.name());
        }
        assert_eq!(EchoMsg::NAMES, ["Echo", "Error"]);
    }

    #[test]
    fn a_store_message_is_no_echo_message() {
        let get = Frame { id: 1, msg: crate::kv::api::Msg::Get { key: vec![], min_lsn: 0 } }.to_bytes();
        assert_eq!(Frame::<EchoMsg>::decode(&get[4..]), Err(ProtoError::UnknownTag(1)));
    }

    #[test]
    fn echoes_are_queries_and_errors_are_failures() {
        let echo = EchoMsg::Echo { payload: vec![] };
        assert_eq!(echo.class(), Class::Query(RequestKind::Other));
        assert!(!echo.is_failure());
        let refused = EchoMsg::refusal(Refusal::Overloaded, "full".into());
        assert_eq!(refused, EchoMsg::Error { code: ErrorCode::Overloaded, detail: "full".into() });
        assert!(refused.is_failure());
        assert_eq!(refused.class(), Class::Control, "a reply sent as a request");
    }
}
