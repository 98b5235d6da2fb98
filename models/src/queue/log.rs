//! The broker's log on the seam's disk: the record format, its checksum, recovery from a torn
//! tail, the fsync choices, and the incarnation counter that keeps message ids unique.
//!
//! A record is `len: u32 LE` (bytes of the body), `sum: u64 LE` (xxh3 of the body), then the
//! body: `kind: u8` (1 accept, 2 delete, 3 dead), the queue (`u32 LE` length + bytes), `id: u64
//! LE` and, for an accept, `partition: u32 LE`, `at_ns: u64 LE`, the key and the body (each
//! `u32 LE` length + bytes). Recovery keeps the longest prefix of whole records that pass their
//! checksum and parse exactly, and cuts the rest off durably, as the kv store's log does.
//!
//! Owns bytes on the disk only; never panics on what it reads back.

use super::QueueFsync;
use super::broker::Record;
use crate::kv::wal::{take, take_bytes};
use crate::seam::{Disk, DiskError};
use std::rc::Rc;
use xxhash_rust::xxh3::xxh3_64;

/// The log's file name on the host's disk.
pub const LOG_FILE: &str = "queue-log";
/// The file counting the broker's starts (one byte per start, synced).
pub const STARTS_FILE: &str = "queue-starts";

const HEADER_BYTES: usize = 12;
const MAX_BODY_BYTES: usize = 16 << 20;

/// Appends the encoded `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    match record {
        Record::Accept { queue, id, partition, at_ns, key, body } => {
            out.push(1);
            put_bytes(out, queue.as_bytes());
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&partition.to_le_bytes());
            out.extend_from_slice(&at_ns.to_le_bytes());
            put_bytes(out, key);
            put_bytes(out, body);
        }
        Record::Delete { queue, id } | Record::Dead { queue, id } => {
            out.push(if matches!(record, Record::Delete { .. }) { 2 } else { 3 });
            put_bytes(out, queue.as_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    let len = out.len() - start - HEADER_BYTES;
    let sum = xxh3_64(&out[start + HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 12].copy_from_slice(&sum.to_le_bytes());
}

/// The valid records at the start of `bytes` and the length of that prefix.
pub fn scan(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some((record, used)) = decode(&bytes[at..]) {
        records.push(record);
        at += used;
    }
    (records, at)
}

fn decode(bytes: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    if len > MAX_BODY_BYTES {
        return None;
    }
    let body = bytes.get(HEADER_BYTES..HEADER_BYTES + len)?;
    if xxh3_64(body) != sum {
        return None;
    }
    let mut r = body;
    let kind = take(&mut r, 1)?[0];
    let queue = String::from_utf8(take_bytes(&mut r)?).ok()?;
    let id = u64::from_le_bytes(take(&mut r, 8)?.try_into().ok()?);
    let record = match kind {
        1 => {
            let partition = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
            let at_ns = u64::from_le_bytes(take(&mut r, 8)?.try_into().ok()?);
            let key = take_bytes(&mut r)?;
            let body = take_bytes(&mut r)?;
            Record::Accept { queue, id, partition, at_ns, key, body }
        }
        2 => Record::Delete { queue, id },
        3 => Record::Dead { queue, id },
        _ => return None,
    };
    r.is_empty().then_some((record, HEADER_BYTES + len))
}

/// The broker's log.
pub struct Log {
    disk: Rc<dyn Disk>,
    fsync: QueueFsync,
}

impl Log {
    /// Opens the log: counts this start, reads the valid records and cuts off a torn tail.
    /// Returns the log, this start's incarnation (1 for the first) and the records.
    pub fn recover(disk: Rc<dyn Disk>, fsync: QueueFsync) -> Result<(Log, u64, Vec<Record>), DiskError> {
        disk.append(STARTS_FILE, &[1])?;
        disk.sync(STARTS_FILE)?;
        let incarnation = disk.read(STARTS_FILE)?.len() as u64;
        let bytes = disk.read(LOG_FILE)?;
        let (records, valid) = scan(&bytes);
        if valid < bytes.len() {
            disk.truncate(LOG_FILE, valid as u64)?;
        }
        Ok((Log { disk, fsync }, incarnation, records))
    }

    /// Appends `records` in one write and, under `Always`, makes them durable before returning.
    pub fn append(&self, records: &[Record]) -> Result<(), DiskError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for r in records {
            encode(r, &mut bytes);
        }
        self.disk.append(LOG_FILE, &bytes)?;
        match self.fsync {
            QueueFsync::Always => self.disk.sync(LOG_FILE),
            QueueFsync::Interval(_) | QueueFsync::Never => Ok(()),
        }
    }

    /// Makes everything appended durable (the interval's sync).
    pub fn sync(&self) -> Result<(), DiskError> {
        self.disk.sync(LOG_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::MemDisk;
    use proptest::prelude::*;

    fn accept(id: u64) -> Record {
        Record::Accept { queue: "q".into(), id, partition: 0, at_ns: 5, key: b"k".to_vec(), body: vec![1, 2] }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let disk = Rc::new(MemDisk::new());
        let (log, first, none) = Log::recover(disk.clone(), QueueFsync::Always).unwrap();
        assert_eq!((first, none.len()), (1, 0));
        let written =
            vec![accept(1), Record::Delete { queue: "q".into(), id: 1 }, Record::Dead { queue: "q".into(), id: 2 }];
        log.append(&written).unwrap();
        disk.append(LOG_FILE, &[9, 0, 0]).unwrap();
        let (_, second, read) = Log::recover(disk.clone(), QueueFsync::Always).unwrap();
        assert_eq!(second, 2, "each start counts");
        assert_eq!(read, written);
        assert_eq!(disk.read(LOG_FILE).unwrap().len(), scan(&disk.read(LOG_FILE).unwrap()).1, "the tail is gone");
    }

    #[test]
    fn without_fsync_a_crash_loses_the_unsynced_tail() {
        let disk = Rc::new(MemDisk::new());
        let (log, _, _) = Log::recover(disk.clone(), QueueFsync::Interval(std::time::Duration::from_secs(1))).unwrap();
        log.append(&[accept(1)]).unwrap();
        log.sync().unwrap();
        log.append(&[accept(2), accept(3)]).unwrap();
        disk.crash();
        let (_, _, read) = Log::recover(disk, QueueFsync::Always).unwrap();
        assert_eq!(read, vec![accept(1)]);
    }

    proptest! {
        #[test]
        fn bad_bytes_never_panic_and_keep_a_valid_prefix(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (records, valid) = scan(&bytes);
            prop_assert!(valid <= bytes.len());
            let mut again = Vec::new();
            for r in &records { encode(r, &mut again); }
            prop_assert_eq!(&again[..], &bytes[..valid]);
        }
    }
}
