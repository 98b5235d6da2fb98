//! How many reads of one key a server holds at once: the stampede as the store behind a cache
//! sees it.
//!
//! Owns [`KeyReads`]: a count of the reads of each key the server holds (from the moment a
//! query is read off its connection, waiting for a worker or in service, until its reply is
//! ready), and the largest count any one key reached, published as the gauge `key_reads_peak`
//! each time it grows. Which requests are reads of which key is the handler's to say
//! ([`super::Handler::read_key`]); a server whose handler names none publishes nothing.
//!
//! Must not: know a protocol or a model, or keep a key no read holds (a key's entry goes when
//! its last read does, so memory follows the reads in flight, not the key space).

use crate::seam::Env;
use faultline_vocab::gauge;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The reads of each key a server holds, and the peak.
#[derive(Debug, Default)]
pub(crate) struct KeyReads {
    held: RefCell<BTreeMap<Vec<u8>, u32>>,
    peak: Cell<u32>,
}

/// One held read: counted until dropped.
pub(crate) struct Held<'a> {
    reads: &'a KeyReads,
    key: Vec<u8>,
}

impl KeyReads {
    /// Counts a read of `key` until the returned guard is dropped; publishes the peak through
    /// `env` when this read raises it.
    pub(crate) fn hold<E: Env>(&self, key: Vec<u8>, env: &E) -> Held<'_> {
        let count = {
            let mut held = self.held.borrow_mut();
            let count = held.entry(key.clone()).or_insert(0);
            *count += 1;
            *count
        };
        if count > self.peak.get() {
            self.peak.set(count);
            env.gauge(gauge::KEY_READS_PEAK, i64::from(count));
        }
        Held { reads: self, key }
    }

    /// The most reads of one key held at once so far.
    #[cfg(test)]
    pub(crate) fn peak(&self) -> u32 {
        self.peak.get()
    }

    /// Keys with a read held now.
    #[cfg(test)]
    pub(crate) fn keys_held(&self) -> usize {
        self.held.borrow().len()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut held = self.reads.held.borrow_mut();
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testenv::TestEnv;

    #[test]
    fn the_peak_is_the_most_reads_of_one_key_at_once() {
        let env = TestEnv::new("db");
        let reads = KeyReads::default();
        let a1 = reads.hold(b"a".to_vec(), &env);
        let b1 = reads.hold(b"b".to_vec(), &env);
        assert_eq!(reads.peak(), 1, "two keys, one read each");
        let a2 = reads.hold(b"a".to_vec(), &env);
        assert_eq!(reads.peak(), 2);
        drop(a1);
        drop(a2);
        let a3 = reads.hold(b"a".to_vec(), &env);
        assert_eq!(reads.peak(), 2, "reads one after another do not add up");
        assert_eq!(reads.keys_held(), 2);
        drop((a3, b1));
        assert_eq!(reads.keys_held(), 0, "a key goes with its last read");
        assert_eq!(env.gauge(gauge::KEY_READS_PEAK), Some(2));
    }
}
