//! An active-active node's journal: every entry it applied (its own writes and its peers'),
//! appended to the file "geo" on the host's disk, so a restarted node has everything it
//! acknowledged or told a peer it holds.
//!
//! Each record is `len: u32 LE`, `crc: u32 LE` (CRC-32 of the body), then the body: the
//! origin region as `u32 BE` and the entry in its wire form. The node syncs before it
//! acknowledges a write or answers a peer's batch; on open the valid prefix is replayed and a
//! torn or corrupt tail is cut durably. The journal is never compacted (the disk offers no
//! atomic rename); a run's writes fit in memory, as the kv store's log does.
//!
//! This file owns those bytes only; it must not know how entries are merged.

use super::api::{Entry, put_entry, take_entry};
use crate::kv::wal::crc32;
use crate::proto::Reader;
use crate::seam::{Disk, DiskError};
use std::rc::Rc;

/// The file's name on the host's disk.
pub(crate) const JOURNAL_FILE: &str = "geo";

/// The journal of one node.
pub(crate) struct Journal {
    disk: Rc<dyn Disk>,
    scratch: Vec<u8>,
}

impl Journal {
    /// Opens the journal on `disk`: every valid record in order, with any bad tail cut off.
    pub(crate) fn open(disk: Rc<dyn Disk>) -> Result<(Self, Vec<(u16, Entry)>), DiskError> {
        let bytes = disk.read(JOURNAL_FILE)?;
        let mut records = Vec::new();
        let mut at = 0;
        while let Some((origin, entry, next)) = record_at(&bytes, at) {
            records.push((origin, entry));
            at = next;
        }
        if at < bytes.len() {
            disk.truncate(JOURNAL_FILE, at as u64)?;
        }
        Ok((Self { disk, scratch: Vec::with_capacity(128) }, records))
    }

    /// Appends `entry` of region `origin` (not durable until [`Journal::sync`]).
    pub(crate) fn append(&mut self, origin: u16, entry: &Entry) -> Result<(), DiskError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&[0; 8]);
        self.scratch.extend_from_slice(&u32::from(origin).to_be_bytes());
        put_entry(entry, &mut self.scratch);
        let body_len = (self.scratch.len() - 8) as u32;
        let crc = crc32(&self.scratch[8..]);
        self.scratch[..4].copy_from_slice(&body_len.to_le_bytes());
        self.scratch[4..8].copy_from_slice(&crc.to_le_bytes());
        self.disk.append(JOURNAL_FILE, &self.scratch)
    }

    /// Makes everything appended durable.
    pub(crate) fn sync(&self) -> Result<(), DiskError> {
        self.disk.sync(JOURNAL_FILE)
    }
}

/// The record starting at `at`: its origin, entry and where the next begins; `None` at the end
/// or at a torn or corrupt record.
fn record_at(bytes: &[u8], at: usize) -> Option<(u16, Entry, usize)> {
    let head = bytes.get(at..at + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let body = bytes.get(at + 8..at + 8 + len)?;
    if crc32(body) != crc {
        return None;
    }
    let origin = u16::try_from(u32::from_be_bytes(body.get(..4)?.try_into().ok()?)).ok()?;
    let mut r = Reader { buf: &body[4..] };
    let entry = take_entry(&mut r).ok()?;
    r.buf.is_empty().then_some((origin, entry, at + 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::api::Body;
    use crate::region::hlc::Stamp;
    use crate::seam::MemDisk;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            stamp: Stamp { wall_ns: seq * 10, logical: 0 },
            key: b"k".to_vec(),
            body: Body::Write(Some(vec![seq as u8])),
        }
    }

    #[test]
    fn synced_records_survive_a_crash_and_unsynced_ones_do_not() {
        let disk = Rc::new(MemDisk::new());
        let (mut j, old) = Journal::open(disk.clone()).unwrap();
        assert!(old.is_empty());
        j.append(0, &entry(1)).unwrap();
        j.append(3, &entry(2)).unwrap();
        j.sync().unwrap();
        j.append(0, &entry(3)).unwrap();
        disk.crash();
        let (_, got) = Journal::open(disk).unwrap();
        assert_eq!(got, vec![(0, entry(1)), (3, entry(2))]);
    }

    #[test]
    fn a_corrupt_record_ends_the_journal_and_is_cut() {
        let disk = Rc::new(MemDisk::new());
        let (mut j, _) = Journal::open(disk.clone()).unwrap();
        j.append(1, &entry(1)).unwrap();
        j.sync().unwrap();
        let good = disk.read(JOURNAL_FILE).unwrap().len();
        j.append(1, &entry(2)).unwrap();
        j.sync().unwrap();
        // Flip a byte of the second record's body.
        let mut bytes = disk.read(JOURNAL_FILE).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        disk.truncate(JOURNAL_FILE, 0).unwrap();
        disk.append(JOURNAL_FILE, &bytes).unwrap();
        disk.sync(JOURNAL_FILE).unwrap();
        let (_, got) = Journal::open(disk.clone()).unwrap();
        assert_eq!(got, vec![(1, entry(1))]);
        assert_eq!(disk.read(JOURNAL_FILE).unwrap().len(), good, "the bad tail is cut");
    }
}
