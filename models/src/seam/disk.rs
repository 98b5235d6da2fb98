//! The seam's disk: append-only files with explicit fsync, the shape a write-ahead log needs.
//!
//! [`MemDisk`] is the simulation's disk: each file keeps the bytes that were synced and the
//! bytes written since; [`MemDisk::crash`] throws away what was not synced, as power loss does.
//! [`FsDisk`] is the real one, over a directory, and is only used on the real-tokio side.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// An error from a disk operation.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The underlying file system failed (real disk only).
    #[error("disk i/o on {file}: {source}")]
    Io {
        /// The file that failed.
        file: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A truncation asked for a length beyond the end of the file.
    #[error("cannot truncate {file} to {len} bytes: it holds {actual}")]
    TruncateBeyondEnd {
        /// The file.
        file: String,
        /// The requested length.
        len: u64,
        /// The current length.
        actual: u64,
    },
}

/// Append-only files with explicit durability.
pub trait Disk {
    /// Appends `bytes` to `file` (created if missing). Not durable until [`Disk::sync`].
    fn append(&self, file: &str, bytes: &[u8]) -> Result<(), DiskError>;
    /// Makes everything appended to `file` so far durable.
    fn sync(&self, file: &str) -> Result<(), DiskError>;
    /// Reads the whole of `file` as it is now (empty if missing).
    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError>;
    /// Cuts `file` to `len` bytes, durably (used to drop a divergent log tail).
    fn truncate(&self, file: &str, len: u64) -> Result<(), DiskError>;
}

#[derive(Debug, Default, Clone)]
struct MemFile {
    synced: Vec<u8>,
    pending: Vec<u8>,
}

/// The in-memory disk of a simulated host. Clone the `Rc` that holds it to keep it across
/// restarts; call [`MemDisk::crash`] when the host is killed.
#[derive(Debug, Default)]
pub struct MemDisk {
    files: RefCell<BTreeMap<String, MemFile>>,
}

impl MemDisk {
    /// A disk with no files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loses every byte that was appended but not synced, in every file.
    pub fn crash(&self) {
        for file in self.files.borrow_mut().values_mut() {
            file.pending.clear();
        }
    }

    /// Bytes not yet synced, over all files (for tests and reports).
    pub fn unsynced_bytes(&self) -> u64 {
        self.files.borrow().values().map(|f| f.pending.len() as u64).sum()
    }
}

impl Disk for MemDisk {
    fn append(&self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let mut files = self.files.borrow_mut();
        files.entry(file.to_string()).or_default().pending.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, file: &str) -> Result<(), DiskError> {
        let mut files = self.files.borrow_mut();
        let f = files.entry(file.to_string()).or_default();
        let pending = std::mem::take(&mut f.pending);
        f.synced.extend_from_slice(&pending);
        Ok(())
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
        let files = self.files.borrow();
        Ok(files.get(file).map(|f| [f.synced.as_slice(), f.pending.as_slice()].concat()).unwrap_or_default())
    }

    fn truncate(&self, file: &str, len: u64) -> Result<(), DiskError> {
        let mut files = self.files.borrow_mut();
        let f = files.entry(file.to_string()).or_default();
        let mut all = std::mem::take(&mut f.synced);
        all.append(&mut f.pending);
        let actual = all.len() as u64;
        if len > actual {
            f.synced = all;
            return Err(DiskError::TruncateBeyondEnd { file: file.to_string(), len, actual });
        }
        all.truncate(len as usize);
        f.synced = all;
        Ok(())
    }
}

/// A real disk: one OS file per name under a directory.
#[derive(Debug, Clone)]
pub struct FsDisk {
    dir: PathBuf,
}

impl FsDisk {
    /// A disk over `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn io(file: &str, source: std::io::Error) -> DiskError {
        DiskError::Io { file: file.to_string(), source }
    }

    fn open(&self, file: &str) -> Result<std::fs::File, DiskError> {
        std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(self.dir.join(file))
            .map_err(|e| Self::io(file, e))
    }
}

impl Disk for FsDisk {
    fn append(&self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
        self.open(file)?.write_all(bytes).map_err(|e| Self::io(file, e))
    }

    fn sync(&self, file: &str) -> Result<(), DiskError> {
        self.open(file)?.sync_data().map_err(|e| Self::io(file, e))
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
        let mut f = self.open(file)?;
        let mut out = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(|e| Self::io(file, e))?;
        f.read_to_end(&mut out).map_err(|e| Self::io(file, e))?;
        Ok(out)
    }

    fn truncate(&self, file: &str, len: u64) -> Result<(), DiskError> {
        let f = self.open(file)?;
        let actual = f.metadata().map_err(|e| Self::io(file, e))?.len();
        if len > actual {
            return Err(DiskError::TruncateBeyondEnd { file: file.to_string(), len, actual });
        }
        f.set_len(len).map_err(|e| Self::io(file, e))?;
        f.sync_all().map_err(|e| Self::io(file, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_bytes_are_lost_on_crash() {
        let disk = MemDisk::new();
        disk.append("wal", b"one").unwrap();
        disk.sync("wal").unwrap();
        disk.append("wal", b"two").unwrap();
        assert_eq!(disk.read("wal").unwrap(), b"onetwo");
        assert_eq!(disk.unsynced_bytes(), 3);
        disk.crash();
        assert_eq!(disk.read("wal").unwrap(), b"one");
        assert_eq!(disk.unsynced_bytes(), 0);
    }

    #[test]
    fn truncate_cuts_and_is_durable() {
        let disk = MemDisk::new();
        disk.append("wal", b"abcdef").unwrap();
        disk.truncate("wal", 2).unwrap();
        disk.crash();
        assert_eq!(disk.read("wal").unwrap(), b"ab");
        assert!(matches!(disk.truncate("wal", 9), Err(DiskError::TruncateBeyondEnd { actual: 2, .. })));
    }

    #[test]
    fn fs_disk_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let disk = FsDisk::new(dir.path());
        disk.append("wal", b"hello ").unwrap();
        disk.append("wal", b"world").unwrap();
        disk.sync("wal").unwrap();
        assert_eq!(disk.read("wal").unwrap(), b"hello world");
        disk.truncate("wal", 5).unwrap();
        assert_eq!(disk.read("wal").unwrap(), b"hello");
        assert_eq!(disk.read("missing").unwrap(), b"");
    }
}
