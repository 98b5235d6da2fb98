//! The queue's messages on the framed protocol (its own family, tags 40 to 49 and the shared
//! `Error` row): producers send, consumers receive, acknowledge and nack.
//!
//! A request naming the queue "" names the broker's first queue.
//!
//! Owns: the family's tags, fields, classification and refusals. Must not: know how the broker
//! answers.

use crate::proto::{Address, Bytes, Code, Detail, ErrorCode, Family, U32, U64, wire_messages};
use crate::seam::RequestKind;
use crate::server::{Class, Refusal};

/// The queue protocol's messages, requests and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueMsg {
    /// Put a message on `queue`. Replied to with `Sent`, `Full` or `Error`.
    Send { queue: String, key: Vec<u8>, body: Vec<u8> },
    /// Reply: the message is accepted (durably, under fsync "always") with this id.
    Sent { id: u64, partition: u32 },
    /// Reply: the queue is at its bound (and a waiting send's timeout passed); nothing was sent.
    Full { depth: u32 },
    /// Lease one message of `queue`; with a non-empty `group`, only from the partitions
    /// `consumer` owns in it. Replied to with `Delivered` or `Empty`.
    Receive { queue: String, group: String, consumer: String },
    /// Reply: a message, its receipt handle and its receive count (this one included).
    Delivered { id: u64, receipt: u64, receives: u32, key: Vec<u8>, body: Vec<u8> },
    /// Reply: nothing to receive now.
    Empty { depth: u32 },
    /// Delete message `id` of `queue`, received with `receipt`. Replied to with `Acked`.
    Ack { queue: String, id: u64, receipt: u64 },
    /// Give message `id` back, visible again after `delay_ms`. Replied to with `Acked`.
    Nack { queue: String, id: u64, receipt: u64, delay_ms: u32 },
    /// Reply to `Ack` or `Nack`: `done` 1 when it took effect, 0 when the handle was stale.
    Acked { id: u64, done: u32 },
    /// Reply: the request failed.
    Error { code: ErrorCode, detail: String },
}

wire_messages! {
    QueueMsg;
    40 => Send { queue: Address, key: Bytes, body: Bytes },
    41 => Sent { id: U64, partition: U32 },
    42 => Full { depth: U32 },
    43 => Receive { queue: Address, group: Address, consumer: Address },
    44 => Delivered { id: U64, receipt: U64, receives: U32, key: Bytes, body: Bytes },
    45 => Empty { depth: U32 },
    46 => Ack { queue: Address, id: U64, receipt: U64 },
    47 => Nack { queue: Address, id: U64, receipt: U64, delay_ms: U32 },
    48 => Acked { id: U64, done: U32 },
    10 => Error { code: Code, detail: Detail },
}

impl Family for QueueMsg {
    /// A send is a write, a receive a read, an ack or nack another query; a reply sent as a
    /// request is control traffic the broker answers `BadRequest`.
    fn class(&self) -> Class {
        match self {
            QueueMsg::Send { .. } => Class::Query(RequestKind::Write),
            QueueMsg::Receive { .. } => Class::Query(RequestKind::Read),
            QueueMsg::Ack { .. } | QueueMsg::Nack { .. } => Class::Query(RequestKind::Other),
            QueueMsg::Sent { .. }
            | QueueMsg::Full { .. }
            | QueueMsg::Delivered { .. }
            | QueueMsg::Empty { .. }
            | QueueMsg::Acked { .. }
            | QueueMsg::Error { .. } => Class::Control,
        }
    }

    /// `Full` is a failure: the producer's message was not taken.
    fn is_failure(&self) -> bool {
        matches!(self, QueueMsg::Full { .. } | QueueMsg::Error { .. })
    }

    fn refusal(why: Refusal, detail: String) -> QueueMsg {
        QueueMsg::Error { code: ErrorCode::refusing(why), detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Frame, ProtoError};
    use proptest::prelude::*;

    fn all() -> Vec<QueueMsg> {
        vec![
            QueueMsg::Send { queue: "q".into(), key: b"k".to_vec(), body: vec![1] },
            QueueMsg::Sent { id: 7, partition: 1 },
            QueueMsg::Full { depth: 3 },
            QueueMsg::Receive { queue: "q".into(), group: "g".into(), consumer: "w1".into() },
            QueueMsg::Delivered { id: 7, receipt: 9, receives: 2, key: vec![], body: vec![4] },
            QueueMsg::Empty { depth: 0 },
            QueueMsg::Ack { queue: "q".into(), id: 7, receipt: 9 },
            QueueMsg::Nack { queue: "q".into(), id: 7, receipt: 9, delay_ms: 50 },
            QueueMsg::Acked { id: 7, done: 1 },
            QueueMsg::Error { code: ErrorCode::BadRequest, detail: "no".into() },
        ]
    }

    #[test]
    fn every_message_round_trips_and_the_table_is_whole() {
        let msgs = all();
        assert_eq!(msgs.len(), QueueMsg::NAMES.len(), "one sample per row");
        for msg in msgs {
            let frame = Frame { id: 3, msg };
            let bytes = frame.to_bytes();
            assert_eq!(Frame::decode(&bytes[4..]), Ok(frame.clone()), "{} round-trips", frame.msg.name());
        }
    }

    #[test]
    fn sends_are_writes_receives_reads_and_full_is_a_failure() {
        assert_eq!(all()[0].class(), Class::Query(RequestKind::Write));
        assert_eq!(all()[3].class(), Class::Query(RequestKind::Read));
        assert_eq!(all()[6].class(), Class::Query(RequestKind::Other));
        assert!(QueueMsg::Full { depth: 1 }.is_failure());
        assert!(!QueueMsg::Sent { id: 1, partition: 0 }.is_failure());
        assert_eq!(QueueMsg::Acked { id: 1, done: 0 }.class(), Class::Control);
    }

    #[test]
    fn a_store_message_is_no_queue_message() {
        let get = Frame { id: 1, msg: crate::kv::api::Msg::Get { key: vec![], min_lsn: 0 } }.to_bytes();
        assert_eq!(Frame::<QueueMsg>::decode(&get[4..]), Err(ProtoError::UnknownTag(1)));
    }

    proptest! {
        #[test]
        fn bad_bytes_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::<QueueMsg>::decode(&bytes);
        }
    }
}
