//! The encoding of the most frequent records, written by hand: byte for byte what postcard
//! writes for them, at a fraction of serde's cost.
//!
//! Owns: [`encode_hot`], for `Invoke`, `Complete`, `Served` and `Message` (about nine records in
//! ten of a busy run). Must not: encode anything else (those take postcard's path), or differ
//! from postcard by a single byte: the trace hash is over these bytes, and the tests compare
//! the two encodings on arbitrary records.
//!
//! Postcard's rules used here: unsigned integers wider than a byte are LEB128 varints (`u16`,
//! `u32`, `u64`), a `u8` and a `bool` are one byte, and an enum is its variant index as a varint
//! followed by its fields in order.

use crate::trace::{Event, Op, Outcome};

/// Appends `v` as a LEB128 varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The variant index of `op` (its position in [`Op`]).
fn op_index(op: Op) -> u8 {
    match op {
        Op::Read => 0,
        Op::Write => 1,
        Op::Other => 2,
        Op::Cas => 3,
        Op::Add => 4,
    }
}

/// Appends the record `(dt_ns, event)` as postcard would and returns true, if `event` is one of
/// the hot kinds; otherwise appends nothing and returns false.
pub(crate) fn encode_hot(out: &mut Vec<u8>, dt_ns: u64, event: &Event) -> bool {
    match event {
        Event::Invoke { req, user, client, service, op, key } => {
            varint(out, dt_ns);
            out.push(0);
            varint(out, *req);
            varint(out, u64::from(*user));
            varint(out, u64::from(*client));
            varint(out, u64::from(*service));
            out.push(op_index(*op));
            varint(out, *key);
        }
        Event::Complete { req, outcome } => {
            varint(out, dt_ns);
            out.push(1);
            varint(out, *req);
            match outcome {
                Outcome::Ok => out.push(0),
                Outcome::Error(code) => out.extend_from_slice(&[1, *code]),
                Outcome::Unreachable => out.push(2),
                Outcome::Timeout => out.push(3),
            }
        }
        Event::Served { host, op, latency_ns, ok } => {
            varint(out, dt_ns);
            out.push(2);
            varint(out, u64::from(*host));
            out.push(op_index(*op));
            varint(out, *latency_ns);
            out.push(u8::from(*ok));
        }
        Event::Message { from, to, bytes, retransmitted } => {
            varint(out, dt_ns);
            out.push(3);
            varint(out, u64::from(*from));
            varint(out, u64::from(*to));
            varint(out, u64::from(*bytes));
            out.push(u8::from(*retransmitted));
        }
        // The rare kinds go through postcard itself.
        Event::State { .. }
        | Event::Power { .. }
        | Event::Sample { .. }
        | Event::Fault(_)
        | Event::End
        | Event::Role { .. }
        | Event::Observed { .. }
        | Event::Retry { .. } => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::codec::WireRecordRef;
    use crate::trace::codec::tests::arb_hot_event;
    use proptest::prelude::*;

    fn postcard_bytes(dt_ns: u64, event: &Event) -> Vec<u8> {
        postcard::to_stdvec(&WireRecordRef { dt_ns, event }).unwrap()
    }

    fn hot_bytes(dt_ns: u64, event: &Event) -> Option<Vec<u8>> {
        let mut out = vec![0xEE]; // something before: the encoder appends
        encode_hot(&mut out, dt_ns, event).then(|| out.split_off(1))
    }

    #[test]
    fn edges_of_every_varint_width_match_postcard() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let event = Event::Invoke { req: v, user: v as u32, client: v as u16, service: 3, op: Op::Cas, key: v };
            assert_eq!(hot_bytes(v, &event), Some(postcard_bytes(v, &event)), "{v}");
        }
    }

    #[test]
    fn other_kinds_are_left_to_postcard() {
        let mut out = Vec::new();
        assert!(!encode_hot(&mut out, 5, &Event::End));
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn hot_records_are_encoded_exactly_as_postcard_does(dt_ns in any::<u64>(), event in arb_hot_event()) {
            prop_assert_eq!(hot_bytes(dt_ns, &event), Some(postcard_bytes(dt_ns, &event)));
        }
    }
}
