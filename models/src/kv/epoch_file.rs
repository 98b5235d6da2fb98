//! The durable record of the highest epoch a node has seen: a small file "epoch" next to the
//! write-ahead log, so a restart never forgets an epoch it took part in.
//!
//! The file is append-only: each record is `epoch: u64 LE` followed by `crc: u32 LE` (CRC-32
//! of the eight epoch bytes), and every append is synced before the caller acts on the new
//! epoch. On open the valid prefix is kept and a torn tail is cut durably; the highest epoch in
//! it is the answer. Epochs change rarely (a failover, a restart), so the file stays small; it
//! is never compacted, because the disk offers no atomic rename to compact it safely with.
//!
//! This file owns those bytes only: it knows nothing of roles or the network.

use super::KvError;
use super::wal::crc32;
use crate::seam::Disk;
use std::rc::Rc;

/// The file's name on the host's disk.
pub(crate) const EPOCH_FILE: &str = "epoch";

/// Bytes of one record.
const RECORD_BYTES: usize = 12;

/// The epoch file of one node.
pub(crate) struct EpochFile {
    disk: Rc<dyn Disk>,
}

impl EpochFile {
    /// Opens the file on `disk`: the highest epoch recorded (0 when none), with any torn tail
    /// cut off.
    pub(crate) fn open(disk: Rc<dyn Disk>) -> Result<(Self, u64), KvError> {
        let bytes = disk.read(EPOCH_FILE)?;
        let mut highest = 0;
        let mut valid = 0;
        for record in bytes.chunks_exact(RECORD_BYTES) {
            let (epoch, crc) = record.split_at(8);
            if crc32(epoch).to_le_bytes() != crc {
                break;
            }
            highest = highest.max(u64::from_le_bytes(epoch.try_into().expect("eight bytes")));
            valid += RECORD_BYTES;
        }
        if valid < bytes.len() {
            disk.truncate(EPOCH_FILE, valid as u64)?;
        }
        Ok((Self { disk }, highest))
    }

    /// Records `epoch` durably (appended and synced).
    pub(crate) fn store(&self, epoch: u64) -> Result<(), KvError> {
        let mut record = Vec::with_capacity(RECORD_BYTES);
        record.extend_from_slice(&epoch.to_le_bytes());
        record.extend_from_slice(&crc32(&epoch.to_le_bytes()).to_le_bytes());
        self.disk.append(EPOCH_FILE, &record)?;
        self.disk.sync(EPOCH_FILE)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::MemDisk;

    fn check(disk: &Rc<MemDisk>, expected: u64) {
        let (_, epoch) = EpochFile::open(disk.clone()).unwrap();
        assert_eq!(epoch, expected);
    }

    #[test]
    fn the_highest_epoch_survives_a_crash() {
        let disk = Rc::new(MemDisk::new());
        check(&disk, 0);
        let (file, _) = EpochFile::open(disk.clone()).unwrap();
        file.store(3).unwrap();
        file.store(7).unwrap();
        file.store(5).unwrap();
        disk.crash();
        check(&disk, 7);
    }

    #[test]
    fn a_torn_record_is_cut_so_later_records_count() {
        let disk = Rc::new(MemDisk::new());
        let (file, _) = EpochFile::open(disk.clone()).unwrap();
        file.store(2).unwrap();
        disk.append(EPOCH_FILE, &[9, 9, 9]).unwrap();
        disk.sync(EPOCH_FILE).unwrap();
        let (file, epoch) = EpochFile::open(disk.clone()).unwrap();
        assert_eq!(epoch, 2);
        file.store(4).unwrap();
        check(&disk, 4);
    }

    #[test]
    fn a_corrupt_record_ends_the_file() {
        let disk = Rc::new(MemDisk::new());
        let (file, _) = EpochFile::open(disk.clone()).unwrap();
        file.store(2).unwrap();
        let mut bad = 9u64.to_le_bytes().to_vec();
        bad.extend_from_slice(&0u32.to_le_bytes());
        disk.append(EPOCH_FILE, &bad).unwrap();
        check(&disk, 2);
    }
}
