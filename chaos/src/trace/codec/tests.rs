//! Tests of the trace codec: round trips, hashes, bounded memory, and every kind of damage.

use super::*;
use crate::fault::{Fault, Knob, RegionHosts};
use crate::slo::{Slo, SloKind};
use crate::trace::{FORMAT_VERSION, Header, Record};
use crate::trace::{HostInfo, LinkInfo, Observation, Op, Outcome, RegionInfo, ShardGroup, Shards};
use proptest::prelude::*;

fn header() -> Header {
    let host =
        |name: &str, service: &str| HostInfo { name: name.into(), service: service.into(), group: "tier".into() };
    Header {
        tool_version: "0.1.0".into(),
        rand_version: "0.9".into(),
        scenario: "unit".into(),
        seed: 42,
        duration_ns: 10_000_000_000,
        window_ns: 1_000_000_000,
        hosts: vec![host("lg0", "loadgen"), host("app", "app"), host("db", "kv-primary")],
        links: vec![LinkInfo { a: 0, b: 1, latency_ns: 500_000, jitter_ns: 100_000, loss: 0.01 }],
        slos: vec![Slo {
            name: "p99".into(),
            service: None,
            kind: SloKind::Latency { quantile: 0.99, max_ns: 50_000_000 },
        }],
        checks: Default::default(),
        shards: Default::default(),
        regions: Vec::new(),
        sample_ns: 0,
    }
}

/// One record of every event kind (and every outcome and fault kind).
fn every_variant() -> Vec<Record> {
    let events = vec![
        Event::Invoke { req: 1, user: 3, client: 0, service: 1, op: Op::Read, key: 42 },
        Event::Complete { req: 1, outcome: Outcome::Ok },
        Event::Complete { req: 2, outcome: Outcome::Error(7) },
        Event::Complete { req: 3, outcome: Outcome::Unreachable },
        Event::Complete { req: 4, outcome: Outcome::Timeout },
        Event::Served { host: 1, op: Op::Write, latency_ns: 1_234_567, ok: false },
        Event::Message { from: 1, to: 2, bytes: 512, retransmitted: true },
        Event::State { host: 2, key: "role".into(), value: "primary".into() },
        Event::Power { host: 2, up: false },
        Event::Sample { host: 1, gauge: "inflight".into(), last: -3, mean: 2.75 },
        Event::Fault(Fault::Kill { host: 2 }),
        Event::Fault(Fault::Restart { host: 2 }),
        Event::Fault(Fault::Partition { a: vec![0, 1], b: vec![2] }),
        Event::Fault(Fault::Heal { a: vec![0, 1], b: vec![2] }),
        Event::Fault(Fault::LinkDegrade { a: 1, b: 2, latency_ns: 9, jitter_ns: 8, loss: 0.5 }),
        Event::Fault(Fault::LinkRestore { a: 1, b: 2 }),
        Event::Fault(Fault::Tune { host: 2, knob: Knob::ApplyDelay, value: 2_000_000_000, grow_per_s: 100_000_000 }),
        Event::Fault(Fault::LongTransactions { target: 2, count: 10, hold_ns: 3_000_000_000 }),
        Event::Role { host: 2, role: "primary".into(), epoch: 3, lsn: 1200, last_epoch: 2 },
        Event::Observed { req: 1, what: Observation::Read { writer: Some(9), lsn: 12 } },
        Event::Observed { req: 2, what: Observation::Read { writer: None, lsn: 0 } },
        Event::Observed { req: 3, what: Observation::Written { lsn: 13, epoch: 3 } },
        Event::Invoke { req: 4, user: 2, client: 0, service: 1, op: Op::Cas, key: 7 },
        Event::Observed { req: 4, what: Observation::Expects { writer: Some(3) } },
        Event::Observed { req: 5, what: Observation::Expects { writer: None } },
        Event::Retry { req: 4, attempt: 1, after: Outcome::Timeout, denied: false },
        Event::Retry { req: 4, attempt: 2, after: Outcome::Error(3), denied: true },
        Event::Fault(Fault::RegionOutage { region: RegionHosts { name: "eu-west".into(), hosts: vec![1, 2] } }),
        Event::Fault(Fault::RegionLatency {
            a: RegionHosts { name: "us-east".into(), hosts: vec![0] },
            b: RegionHosts { name: "eu-west".into(), hosts: vec![1, 2] },
            latency_ns: 150_000_000,
            jitter_ns: 0,
            loss: 0.01,
        }),
        Event::End,
    ];
    events.into_iter().enumerate().map(|(i, event)| Record { t_ns: i as u64 * 1_000_003, event }).collect()
}

fn write_with(records: &[Record], block_target: usize) -> (TraceHash, Vec<u8>) {
    let mut writer = TraceWriter::with_block_target(Vec::new(), &header(), block_target).expect("header encodes");
    for record in records {
        writer.write(record).expect("record encodes");
    }
    writer.finish().expect("vec never fails")
}

fn write(records: &[Record]) -> (TraceHash, Vec<u8>) {
    write_with(records, BLOCK_TARGET_BYTES)
}

fn read(bytes: &[u8]) -> Result<(Header, Vec<Record>, TraceHash), TraceError> {
    let mut reader = TraceReader::new(bytes)?;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    assert_eq!(reader.records(), records.len() as u64);
    let hash = reader.hash().expect("a finished reader has a hash");
    Ok((reader.header().clone(), records, hash))
}

/// Writes `records`, reads them back and checks everything survived.
fn check(records: &[Record]) {
    let (hash, bytes) = write(records);
    let (read_header, read_records, read_hash) = read(&bytes).expect("own output reads back");
    assert_eq!(read_header, header());
    assert_eq!(read_records, records);
    assert_eq!(read_hash, hash);
}

#[test]
fn every_variant_round_trips() {
    check(&every_variant());
    check(&[]);
}

#[test]
fn file_starts_with_magic_version_and_header_length() {
    let (_, bytes) = write(&every_variant());
    assert_eq!(&bytes[..8], b"FLTRACE\0");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), FORMAT_VERSION);
    let header_len = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    assert_eq!(header_len, postcard::to_stdvec(&header()).unwrap().len());
    let footer = &bytes[bytes.len() - 32..];
    assert_eq!(&footer[..8], &[0; 8], "zero-length block marker");
    assert_eq!(u64::from_le_bytes(footer[8..16].try_into().unwrap()), every_variant().len() as u64);
}

/// The worked example in docs/trace-format.md.
#[test]
fn record_bytes_match_the_documented_example() {
    let records = [
        Record { t_ns: 1_000, event: Event::End },
        Record { t_ns: 1_500, event: Event::Invoke { req: 17, user: 3, client: 0, service: 1, op: Op::Read, key: 42 } },
    ];
    let (_, bytes) = write(&records);
    let header_len = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let block = &bytes[14 + header_len..];
    let (compressed_len, raw_len) = (u32::from_le_bytes(block[..4].try_into().unwrap()) as usize, block[4..8].to_vec());
    let mut raw = vec![0u8; u32::from_le_bytes(raw_len.try_into().unwrap()) as usize];
    lz4_flex::block::decompress_into(&block[8..8 + compressed_len], &mut raw).unwrap();
    assert_eq!(raw, [0xe8, 0x07, 0x08, 0xf4, 0x03, 0x00, 0x11, 0x03, 0x00, 0x01, 0x00, 0x2a]);
}

/// A retry's bytes: its variant's index (11, after the ten before it), then its fields in order,
/// as postcard writes them (the format version 6 row of docs/trace-format.md).
#[test]
fn retry_record_bytes() {
    let records =
        [Record { t_ns: 500, event: Event::Retry { req: 17, attempt: 2, after: Outcome::Error(3), denied: true } }];
    let (_, bytes) = write(&records);
    let header_len = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let block = &bytes[14 + header_len..];
    let (compressed_len, raw_len) = (u32::from_le_bytes(block[..4].try_into().unwrap()) as usize, block[4..8].to_vec());
    let mut raw = vec![0u8; u32::from_le_bytes(raw_len.try_into().unwrap()) as usize];
    lz4_flex::block::decompress_into(&block[8..8 + compressed_len], &mut raw).unwrap();
    assert_eq!(raw, [0xf4, 0x03, 0x0b, 0x11, 0x02, 0x01, 0x03, 0x01]);
}

#[test]
fn hash_is_deterministic_and_sensitive() {
    let records = every_variant();
    let (a, _) = write(&records);
    let (b, _) = write(&records);
    assert_eq!(a, b);
    assert_eq!(a.to_string().len(), 32);
    let mut changed = records.clone();
    changed[5].event = Event::Served { host: 1, op: Op::Write, latency_ns: 1_234_568, ok: false };
    assert_ne!(write(&changed).0, a, "one field changed");
    let mut later = records;
    later[3].t_ns += 1;
    assert_ne!(write(&later).0, a, "one time changed");
}

#[test]
fn hash_does_not_depend_on_block_size() {
    let records = every_variant();
    let (big, big_bytes) = write(&records);
    let (small, small_bytes) = write_with(&records, 16);
    assert_eq!(big, small);
    assert_ne!(big_bytes, small_bytes, "the small-block file has more blocks");
    assert_eq!(read(&small_bytes).unwrap().1, records);
}

#[test]
fn records_counts_what_was_written() {
    let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    assert_eq!(writer.records(), 0);
    for record in every_variant() {
        writer.write(&record).unwrap();
    }
    assert_eq!(writer.records(), every_variant().len() as u64);
}

#[test]
fn out_of_order_record_is_refused() {
    let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    writer.write(&Record { t_ns: 10, event: Event::End }).unwrap();
    let err = writer.write(&Record { t_ns: 9, event: Event::End }).unwrap_err();
    assert!(matches!(err, TraceError::OutOfOrder { t_ns: 9, previous_ns: 10 }), "{err}");
    assert_eq!(writer.records(), 1);
}

#[test]
fn every_truncation_is_an_error() {
    let (_, bytes) = write_with(&every_variant(), 40);
    for len in 0..bytes.len() {
        match read(&bytes[..len]) {
            Err(TraceError::Truncated { offset, .. }) => assert_eq!(offset, len as u64),
            other => panic!("prefix of {len} bytes: expected truncation, got {:?}", other.map(|r| r.1.len())),
        }
    }
    assert!(read(&bytes).is_ok());
}

/// A flipped byte is either reported or harmless: lz4 can copy a run of equal bytes from
/// more than one offset, so some flips decode to the very same records, and then the hash
/// rightly agrees. What must never happen is different content read back without an error.
#[test]
fn every_flipped_byte_is_reported_or_harmless() {
    let (hash, bytes) = write_with(&every_variant(), 40);
    let mut reported = 0;
    for i in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[i] ^= 0x01;
        match read(&corrupt) {
            Err(_) => reported += 1,
            Ok((read_header, records, read_hash)) => {
                assert_eq!(read_header, header(), "byte {i}");
                assert_eq!(records, every_variant(), "byte {i}");
                assert_eq!(read_hash, hash, "byte {i}");
            }
        }
    }
    assert!(reported > bytes.len() * 9 / 10, "{reported} of {} flips reported", bytes.len());
}

#[test]
fn bad_magic_is_not_a_trace() {
    let err = read(b"PK\x03\x04 this is a zip file").unwrap_err();
    assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
    assert!(err.to_string().contains("not a Faultline trace"), "{err}");
}

#[test]
fn newer_version_is_refused_with_both_versions() {
    let (_, mut bytes) = write(&every_variant());
    bytes[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = read(&bytes).unwrap_err();
    let expected =
        format!("written by format version {}; this build reads up to {}", FORMAT_VERSION + 1, FORMAT_VERSION);
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn huge_lengths_are_refused_before_allocating() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(read(&bytes).unwrap_err(), TraceError::TooLarge { what: "header", .. }));

    let (_, good) = write(&[]);
    let blocks_start = 14 + u32::from_le_bytes(good[10..14].try_into().unwrap()) as usize;
    let mut hostile = good[..blocks_start].to_vec();
    hostile.extend_from_slice(&100u32.to_le_bytes());
    hostile.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = read(&hostile).unwrap_err();
    assert!(matches!(err, TraceError::TooLarge { what: "uncompressed block", .. }), "{err}");
}

#[test]
fn corrupt_block_names_block_and_offset() {
    let (_, bytes) = write(&every_variant());
    let blocks_start = 14 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let mut corrupt = bytes.clone();
    // Claim the block decompresses to one byte less than it does.
    let raw_len = u32::from_le_bytes(corrupt[blocks_start + 4..blocks_start + 8].try_into().unwrap());
    corrupt[blocks_start + 4..blocks_start + 8].copy_from_slice(&(raw_len - 1).to_le_bytes());
    let err = read(&corrupt).unwrap_err();
    assert!(matches!(err, TraceError::CorruptBlock { block: 0, .. }), "{err}");
    assert!(err.to_string().contains(&format!("block #0 at byte {blocks_start}")), "{err}");
}

#[test]
fn garbage_in_a_block_is_reported_with_its_block() {
    let (_, bytes) = write_with(&every_variant(), 40);
    let blocks_start = 14 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let first_len = u32::from_le_bytes(bytes[blocks_start..blocks_start + 4].try_into().unwrap()) as usize;
    let second = blocks_start + 8 + first_len;
    let second_len = u32::from_le_bytes(bytes[second..second + 4].try_into().unwrap()) as usize;
    let mut corrupt = bytes.clone();
    corrupt[second + 8..second + 8 + second_len].fill(0xff);
    match read(&corrupt).unwrap_err() {
        TraceError::CorruptBlock { block, offset, .. } | TraceError::CorruptRecord { block, offset, .. } => {
            assert_eq!((block, offset), (1, second as u64));
        }
        other => panic!("expected a corrupt block, got {other}"),
    }
}

#[test]
fn reader_is_fused_after_an_error() {
    let (_, bytes) = write(&every_variant());
    let mut reader = TraceReader::new(&bytes[..bytes.len() - 5]).unwrap();
    let first_error = loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a truncated trace ended cleanly"),
            Err(e) => break e,
        }
    };
    assert!(matches!(first_error, TraceError::Truncated { .. }), "{first_error}");
    assert!(matches!(reader.next_record(), Err(TraceError::AfterError)));
    assert!(reader.next().is_none(), "the iterator ends after the error");
    assert!(reader.hash().is_none());
}

#[test]
fn long_trace_is_written_in_bounded_memory() {
    let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    let mut max_buffered = 0;
    let mut max_capacity = 0;
    let n = 200_000u64;
    for i in 0..n {
        let event = match i % 3 {
            0 => Event::Invoke { req: i, user: (i % 97) as u32, client: 0, service: 1, op: Op::Read, key: i * 7 },
            1 => Event::Served { host: 1, op: Op::Read, latency_ns: 1_000 + i % 5_000, ok: i % 11 != 0 },
            _ => Event::Complete { req: i - 2, outcome: Outcome::Ok },
        };
        writer.write(&Record { t_ns: i * 1_500, event }).unwrap();
        max_buffered = max_buffered.max(writer.buffered_bytes());
        max_capacity = max_capacity.max(writer.buffer_capacity_bytes());
    }
    assert!(writer.blocks() > 10, "{} blocks", writer.blocks());
    assert!(max_buffered <= BLOCK_TARGET_BYTES, "buffered {max_buffered}");
    assert!(max_capacity <= 4 * BLOCK_TARGET_BYTES, "capacity {max_capacity}");
    let (hash, bytes) = writer.finish().unwrap();
    let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
    let mut count = 0u64;
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.t_ns, count * 1_500);
        count += 1;
    }
    assert_eq!(count, n);
    assert_eq!(reader.hash(), Some(hash));
}

fn arb_fault() -> impl Strategy<Value = Fault> {
    let group = || prop::collection::vec(any::<u16>(), 0..4);
    prop_oneof![
        any::<u16>().prop_map(|host| Fault::Kill { host }),
        any::<u16>().prop_map(|host| Fault::Restart { host }),
        (group(), group()).prop_map(|(a, b)| Fault::Partition { a, b }),
        (group(), group()).prop_map(|(a, b)| Fault::Heal { a, b }),
        (any::<u16>(), any::<u16>(), any::<u64>(), any::<u64>(), 0.0..1.0f64)
            .prop_map(|(a, b, latency_ns, jitter_ns, loss)| Fault::LinkDegrade { a, b, latency_ns, jitter_ns, loss }),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Fault::LinkRestore { a, b }),
        any::<u16>().prop_map(|host| Fault::CacheFlush { host }),
        (group(), any::<u16>()).prop_map(|(apps, node)| Fault::ShardLeave { apps, node }),
        (group(), any::<u16>()).prop_map(|(apps, node)| Fault::ShardJoin { apps, node }),
        any::<u16>().prop_map(|host| Fault::CdnPurge { host }),
        arb_fault_of_regions(),
    ]
}

/// Any region fault.
fn arb_fault_of_regions() -> impl Strategy<Value = Fault> {
    let region = || {
        ("[a-z-]{0,10}", prop::collection::vec(any::<u16>(), 0..4))
            .prop_map(|(name, hosts)| RegionHosts { name, hosts })
    };
    prop_oneof![
        region().prop_map(|region| Fault::RegionOutage { region }),
        region().prop_map(|region| Fault::RegionRestore { region }),
        (region(), region(), any::<bool>()).prop_map(|(a, b, oneway)| Fault::RegionPartition { a, b, oneway }),
        (region(), region(), any::<bool>()).prop_map(|(a, b, oneway)| Fault::RegionHeal { a, b, oneway }),
        (region(), region(), any::<u64>(), any::<u64>(), 0.0..1.0f64).prop_map(
            |(a, b, latency_ns, jitter_ns, loss)| { Fault::RegionLatency { a, b, latency_ns, jitter_ns, loss } }
        ),
        (region(), region()).prop_map(|(a, b)| Fault::RegionLatencyRestore { a, b }),
        (region(), any::<i64>(), any::<i64>()).prop_map(|(region, offset_ns, drift_ppm)| Fault::RegionSkew {
            region,
            offset_ns,
            drift_ppm
        }),
    ]
}

/// Any record of the kinds `hot.rs` encodes by hand: `Invoke`, `Complete`, `Served`, `Message`.
pub(super) fn arb_hot_event() -> impl Strategy<Value = Event> {
    let op = prop_oneof![Just(Op::Read), Just(Op::Write), Just(Op::Other), Just(Op::Cas), Just(Op::Add)];
    let outcome = prop_oneof![
        Just(Outcome::Ok),
        any::<u8>().prop_map(Outcome::Error),
        Just(Outcome::Unreachable),
        Just(Outcome::Timeout)
    ];
    prop_oneof![
        (any::<u64>(), any::<u32>(), any::<u16>(), any::<u16>(), op.clone(), any::<u64>())
            .prop_map(|(req, user, client, service, op, key)| Event::Invoke { req, user, client, service, op, key }),
        (any::<u64>(), outcome).prop_map(|(req, outcome)| Event::Complete { req, outcome }),
        (any::<u16>(), op, any::<u64>(), any::<bool>()).prop_map(|(host, op, latency_ns, ok)| Event::Served {
            host,
            op,
            latency_ns,
            ok
        }),
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<bool>())
            .prop_map(|(from, to, bytes, retransmitted)| Event::Message { from, to, bytes, retransmitted }),
    ]
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        arb_hot_event(),
        (any::<u16>(), ".{0,12}", ".{0,12}").prop_map(|(host, key, value)| Event::State { host, key, value }),
        (any::<u16>(), any::<bool>()).prop_map(|(host, up)| Event::Power { host, up }),
        (any::<u16>(), "[a-z]{0,8}", any::<i64>(), -1e12..1e12f64)
            .prop_map(|(host, gauge, last, mean)| Event::Sample { host, gauge, last, mean }),
        arb_fault().prop_map(Event::Fault),
        Just(Event::End),
    ]
}

fn arb_records() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec((0..5_000_000u64, arb_event()), 0..200).prop_map(|items| {
        let mut t_ns = 0u64;
        items
            .into_iter()
            .map(|(dt_ns, event)| {
                t_ns += dt_ns;
                Record { t_ns, event }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn random_records_round_trip(records in arb_records(), block_target in 1usize..4096) {
        let (hash, bytes) = write_with(&records, block_target);
        let (_, read_records, read_hash) = read(&bytes).expect("own output reads back");
        prop_assert_eq!(read_records, records);
        prop_assert_eq!(read_hash, hash);
    }

    #[test]
    fn random_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512), keep in 0usize..64) {
        let (_, good) = write(&every_variant());
        let mut bytes = good[..keep.min(good.len())].to_vec();
        bytes.extend_from_slice(&tail);
        prop_assert!(read(&bytes).is_err());
    }
}

#[test]
fn shards_follow_the_header_only_when_there_are_some() {
    let records = every_variant();
    let plain = header();
    let (plain_hash, plain_bytes) = write(&records);
    let header_len = u32::from_le_bytes(plain_bytes[10..14].try_into().expect("4 bytes")) as usize;
    assert_eq!(header_len, postcard::to_stdvec(&plain).expect("encodes").len(), "no tenants: no extra bytes");

    let shards = Shards {
        tenants: vec!["acme".into(), "globex".into()],
        groups: vec![ShardGroup { name: "s1".into(), hosts: vec![2], tenants: vec![0, 1] }],
    };
    let tenanted = Header { shards, ..header() };
    let mut writer = TraceWriter::new(Vec::new(), &tenanted).expect("header encodes");
    for record in &records {
        writer.write(record).expect("record encodes");
    }
    let (hash, bytes) = writer.finish().expect("finishes");
    assert_ne!(hash, plain_hash, "the tenants are part of what the hash covers");
    let (read_header, read_records, read_hash) = read(&bytes).expect("reads back");
    assert_eq!((read_header, read_records, read_hash), (tenanted, records, hash));

    // Before version 7 nothing may follow the header.
    let mut older = bytes.clone();
    older[8..10].copy_from_slice(&6u16.to_le_bytes());
    match read(&older) {
        Err(TraceError::CorruptHeader { detail }) => assert!(detail.contains("unexpected bytes"), "{detail}"),
        other => panic!("expected a corrupt header, got {:?}", other.map(|(h, ..)| h)),
    }
}

#[test]
fn regions_follow_the_tenants_only_when_there_are_some() {
    let records = every_variant();
    let (plain_hash, _) = write(&records);
    let regions = vec![
        RegionInfo { name: "us-east".into(), hosts: vec![0, 1] },
        RegionInfo { name: "eu-west".into(), hosts: vec![2] },
    ];
    let placed = Header { regions: regions.clone(), ..header() };
    let mut writer = TraceWriter::new(Vec::new(), &placed).expect("header encodes");
    for record in &records {
        writer.write(record).expect("record encodes");
    }
    let (hash, bytes) = writer.finish().expect("finishes");
    assert_ne!(hash, plain_hash, "the regions are part of what the hash covers");
    let header_len = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes")) as usize;
    let mut expected = postcard::to_stdvec(&header()).expect("encodes");
    expected = postcard::to_extend(&Shards::default(), expected).expect("encodes");
    expected = postcard::to_extend(&regions, expected).expect("encodes");
    assert_eq!(&bytes[14..14 + header_len], &expected[..], "empty shards, then the regions");
    let (read_header, read_records, read_hash) = read(&bytes).expect("reads back");
    assert_eq!((read_header, read_records, read_hash), (placed, records, hash));

    // Before version 8 nothing may follow the tenants.
    let mut older = bytes.clone();
    older[8..10].copy_from_slice(&7u16.to_le_bytes());
    match read(&older) {
        Err(TraceError::CorruptHeader { detail }) => assert!(detail.contains("unexpected bytes"), "{detail}"),
        other => panic!("expected a corrupt header, got {:?}", other.map(|(h, ..)| h)),
    }
}

#[test]
fn the_sampling_interval_follows_the_regions_only_when_set() {
    let records = every_variant();
    let (plain_hash, _) = write(&records);
    let sampled = Header { sample_ns: 100_000_000, ..header() };
    let mut writer = TraceWriter::new(Vec::new(), &sampled).expect("header encodes");
    for record in &records {
        writer.write(record).expect("record encodes");
    }
    let (hash, bytes) = writer.finish().expect("finishes");
    assert_ne!(hash, plain_hash, "the sampling interval is part of what the hash covers");
    let header_len = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes")) as usize;
    let mut expected = postcard::to_stdvec(&header()).expect("encodes");
    expected = postcard::to_extend(&Shards::default(), expected).expect("encodes");
    expected = postcard::to_extend(&Vec::<RegionInfo>::new(), expected).expect("encodes");
    expected = postcard::to_extend(&100_000_000u64, expected).expect("encodes");
    assert_eq!(&bytes[14..14 + header_len], &expected[..], "empty shards and regions, then the interval");
    let (read_header, read_records, read_hash) = read(&bytes).expect("reads back");
    assert_eq!((read_header, read_records, read_hash), (sampled, records, hash));

    // Before version 10 nothing may follow the regions.
    let mut older = bytes.clone();
    older[8..10].copy_from_slice(&9u16.to_le_bytes());
    match read(&older) {
        Err(TraceError::CorruptHeader { detail }) => assert!(detail.contains("unexpected bytes"), "{detail}"),
        other => panic!("expected a corrupt header, got {:?}", other.map(|(h, ..)| h)),
    }
}
