//! The write-ahead log: the record format, its checksum, and recovery from a torn tail.
//!
//! A record is `len: u32 LE` (bytes of the body), `crc: u32 LE` (CRC-32/IEEE of the body), then
//! the body: `lsn: u64 LE`, `epoch: u64 LE`, `key_len: u32 LE`, the key, `kind: u8` (0 delete, 1 put) and, for a
//! put, `value_len: u32 LE` and the value. Records sit back to back in the file "wal".
//!
//! Recovery keeps the longest prefix of records that are whole, pass their checksum, parse
//! exactly, carry dense LSNs (1, 2, 3, ...) and epochs that never go back; everything after the
//! first bad record is a torn or corrupt tail, and is cut off durably so later appends do not
//! land behind garbage. A replica whose log diverged from its primary's cuts it back to an LSN
//! with [`Wal::truncate`], durably, before it appends anything else.
//!
//! This file owns bytes on the disk only: it knows nothing of the network or the in-memory map,
//! and never panics on what it reads back.

use super::{FsyncPolicy, KvError};
use crate::kv::api::LogEntry;
use crate::seam::Disk;
use std::cell::Cell;
use std::rc::Rc;

/// The log's file name on the host's disk.
pub(crate) const WAL_FILE: &str = "wal";

/// Bytes before a record's body: its length and checksum.
const HEADER_BYTES: usize = 8;

/// The largest body a record may claim; a longer claim is corruption, not a record.
const MAX_BODY_BYTES: usize = 64 << 20;

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (IEEE 802.3, as in zlib and Ethernet) of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Appends the encoded record of `entry` to `out`.
pub(crate) fn encode_record(entry: &LogEntry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    out.extend_from_slice(&entry.lsn.to_le_bytes());
    out.extend_from_slice(&entry.epoch.to_le_bytes());
    out.extend_from_slice(&(entry.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&entry.key);
    match &entry.value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
    }
    let body_len = out.len() - start - HEADER_BYTES;
    let crc = crc32(&out[start + HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(body_len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What a scan of the log found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The valid records, in LSN order (dense from 1).
    pub entries: Vec<LogEntry>,
    /// Bytes of the valid prefix.
    pub valid_len: u64,
    /// Bytes after it (a torn or corrupt tail).
    pub dropped_bytes: u64,
}

/// Decodes the valid prefix of a log's bytes; never fails, never panics.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut entries = Vec::new();
    let mut at = 0usize;
    while let Some((entry, used)) = decode_record(&bytes[at..]) {
        let last_epoch = entries.last().map_or(0, |e: &LogEntry| e.epoch);
        if entry.lsn != entries.len() as u64 + 1 || entry.epoch < last_epoch {
            break;
        }
        entries.push(entry);
        at += used;
    }
    Scan { entries, valid_len: at as u64, dropped_bytes: (bytes.len() - at) as u64 }
}

/// Decodes the record at the start of `bytes`: the entry and the bytes it used, or `None`
/// when the record is torn, corrupt or malformed.
fn decode_record(bytes: &[u8]) -> Option<(LogEntry, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len > MAX_BODY_BYTES {
        return None;
    }
    let body = bytes.get(HEADER_BYTES..HEADER_BYTES + len)?;
    if crc32(body) != crc {
        return None;
    }
    let mut r = body;
    let lsn = u64::from_le_bytes(take(&mut r, 8)?.try_into().ok()?);
    let epoch = u64::from_le_bytes(take(&mut r, 8)?.try_into().ok()?);
    let key = take_bytes(&mut r)?;
    let value = match take(&mut r, 1)?[0] {
        0 => None,
        1 => Some(take_bytes(&mut r)?),
        _ => return None,
    };
    if !r.is_empty() {
        return None;
    }
    Some((LogEntry { lsn, epoch, key, value }, HEADER_BYTES + len))
}

/// The next `n` bytes of `r`, which moves past them; `None` when fewer are left.
pub(crate) fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Some(head)
}

/// A little-endian `u32` length, then that many bytes.
pub(crate) fn take_bytes(r: &mut &[u8]) -> Option<Vec<u8>> {
    let n = u32::from_le_bytes(take(r, 4)?.try_into().ok()?) as usize;
    Some(take(r, n)?.to_vec())
}

/// The log file of one node (primary or replica).
///
/// After any disk error it refuses further appends: a half-written record followed by good
/// ones would make recovery drop the good ones, so a failed log stays failed until restart.
pub(crate) struct Wal {
    disk: Rc<dyn Disk>,
    fsync: FsyncPolicy,
    failed: Cell<bool>,
}

impl Wal {
    /// Opens the log on `disk`: scans it and cuts off a torn or corrupt tail.
    pub(crate) fn recover(disk: Rc<dyn Disk>, fsync: FsyncPolicy) -> Result<(Wal, Scan), KvError> {
        let bytes = disk.read(WAL_FILE)?;
        let found = scan(&bytes);
        if found.dropped_bytes > 0 {
            disk.truncate(WAL_FILE, found.valid_len)?;
        }
        Ok((Wal { disk, fsync, failed: Cell::new(false) }, found))
    }

    /// Appends `entries` in one write and, under [`FsyncPolicy::Always`], makes them durable.
    pub(crate) fn append(&self, entries: &[LogEntry]) -> Result<(), KvError> {
        if self.failed.get() {
            return Err(KvError::WalFailed);
        }
        let mut bytes = Vec::with_capacity(entries.len() * 64);
        for entry in entries {
            encode_record(entry, &mut bytes);
        }
        let written = self.disk.append(WAL_FILE, &bytes).and_then(|()| match self.fsync {
            FsyncPolicy::Always => self.disk.sync(WAL_FILE),
            FsyncPolicy::Never => Ok(()),
        });
        written.inspect_err(|_| self.failed.set(true)).map_err(KvError::from)
    }

    /// Cuts the log durably after `to_lsn` (a replica dropping a divergent tail) and returns
    /// the entries it keeps. A log that failed earlier is usable again once this succeeds: the
    /// cut removed whatever half-written record the failure may have left.
    pub(crate) fn truncate(&self, to_lsn: u64) -> Result<Vec<LogEntry>, KvError> {
        let bytes = self.disk.read(WAL_FILE)?;
        let mut found = scan(&bytes);
        let mut keep = 0usize;
        let mut at = 0usize;
        while let Some((entry, used)) = decode_record(&bytes[at..]) {
            if keep == found.entries.len() || entry.lsn > to_lsn {
                break;
            }
            keep += 1;
            at += used;
        }
        self.disk.truncate(WAL_FILE, at as u64).inspect_err(|_| self.failed.set(true))?;
        self.failed.set(false);
        found.entries.truncate(keep);
        Ok(found.entries)
    }

    /// Up to `max` entries from `from_lsn` on, read back from the disk.
    pub(crate) fn read_from(&self, from_lsn: u64, max: usize) -> Result<Vec<LogEntry>, KvError> {
        let bytes = self.disk.read(WAL_FILE)?;
        let found = scan(&bytes);
        Ok(found.entries.into_iter().skip_while(|e| e.lsn < from_lsn).take(max).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::MemDisk;
    use proptest::prelude::*;

    fn entry(lsn: u64, key: &str, value: Option<&str>) -> LogEntry {
        LogEntry { lsn, epoch: 1, key: key.into(), value: value.map(Into::into) }
    }

    fn encode_all(entries: &[LogEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            encode_record(e, &mut out);
        }
        out
    }

    fn check(bytes: &[u8], expected: &[LogEntry]) {
        let found = scan(bytes);
        assert_eq!(found.entries, expected);
        let valid = encode_all(expected).len() as u64;
        assert_eq!(found.valid_len, valid);
        assert_eq!(found.dropped_bytes, bytes.len() as u64 - valid);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn records_round_trip() {
        let entries = vec![entry(1, "a", Some("1")), entry(2, "", None), entry(3, "a", Some(""))];
        check(&encode_all(&entries), &entries);
        check(&[], &[]);
    }

    #[test]
    fn every_torn_tail_is_dropped() {
        let entries = vec![entry(1, "k1", Some("v1")), entry(2, "k2", None), entry(3, "key3", Some("value3"))];
        let bytes = encode_all(&entries);
        let whole_two = encode_all(&entries[..2]).len();
        for cut in whole_two..bytes.len() {
            check(&bytes[..cut], &entries[..2]);
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_log_there() {
        let entries = vec![entry(1, "k1", Some("v1")), entry(2, "k2", Some("v2"))];
        let mut bytes = encode_all(&entries);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        check(&bytes, &entries[..1]);
    }

    #[test]
    fn a_gap_in_lsns_ends_the_log_there() {
        let bytes = encode_all(&[entry(1, "a", None), entry(3, "b", None)]);
        check(&bytes, &[entry(1, "a", None)]);
    }

    #[test]
    fn an_epoch_going_back_ends_the_log_there() {
        let mut second = entry(2, "b", None);
        second.epoch = 3;
        let mut third = entry(3, "c", None);
        third.epoch = 2;
        let bytes = encode_all(&[entry(1, "a", None), second.clone(), third]);
        check(&bytes, &[entry(1, "a", None), second]);
    }

    #[test]
    fn truncation_is_durable_and_appends_follow_the_kept_prefix() {
        let disk = Rc::new(MemDisk::new());
        let (wal, _) = Wal::recover(disk.clone(), FsyncPolicy::Never).unwrap();
        let entries: Vec<LogEntry> = (1..=4).map(|lsn| entry(lsn, "k", Some("v"))).collect();
        wal.append(&entries).unwrap();
        assert_eq!(wal.truncate(9).unwrap(), entries, "cutting past the end keeps everything");
        assert_eq!(wal.truncate(2).unwrap(), entries[..2]);
        disk.crash();
        wal.append(&[entry(3, "new", None)]).unwrap();
        let (_, found) = Wal::recover(disk.clone(), FsyncPolicy::Never).unwrap();
        assert_eq!(found.entries, vec![entries[0].clone(), entries[1].clone(), entry(3, "new", None)]);
        assert_eq!(wal.truncate(0).unwrap(), Vec::<LogEntry>::new());
        disk.crash();
        assert_eq!(Wal::recover(disk, FsyncPolicy::Never).unwrap().1.entries, Vec::<LogEntry>::new());
    }

    #[test]
    fn a_huge_length_claim_is_corruption() {
        let mut bytes = encode_all(&[entry(1, "a", None)]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        check(&bytes, &[entry(1, "a", None)]);
    }

    #[test]
    fn recovery_cuts_the_tail_so_new_records_follow_good_ones() {
        let disk = Rc::new(MemDisk::new());
        let mut bytes = encode_all(&[entry(1, "a", Some("1"))]);
        bytes.extend_from_slice(&[7, 0, 0]);
        disk.append(WAL_FILE, &bytes).unwrap();
        let (wal, found) = Wal::recover(disk.clone(), FsyncPolicy::Always).unwrap();
        assert_eq!(found.dropped_bytes, 3);
        wal.append(&[entry(2, "b", Some("2"))]).unwrap();
        let (_, again) = Wal::recover(disk.clone(), FsyncPolicy::Always).unwrap();
        assert_eq!(again.entries, vec![entry(1, "a", Some("1")), entry(2, "b", Some("2"))]);
        assert_eq!(again.dropped_bytes, 0);
        assert_eq!(wal.read_from(2, 10).unwrap(), vec![entry(2, "b", Some("2"))]);
    }

    proptest! {
        #[test]
        fn arbitrary_logs_round_trip_and_garbage_never_panics(
            ops in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..8),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16))), 0..20),
            garbage in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let entries: Vec<LogEntry> = ops.into_iter().enumerate()
                .map(|(i, (key, value))| LogEntry { lsn: i as u64 + 1, epoch: 1, key, value }).collect();
            let mut bytes = encode_all(&entries);
            let found = scan(&bytes);
            prop_assert_eq!(&found.entries, &entries);
            bytes.extend_from_slice(&garbage);
            let with_garbage = scan(&bytes);
            prop_assert!(with_garbage.entries.len() >= entries.len());
            prop_assert_eq!(&with_garbage.entries[..entries.len()], &entries[..]);
        }
    }
}
