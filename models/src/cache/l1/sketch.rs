//! The frequency sketch behind TinyLFU admission: a count-min sketch of 4 rows of 4-bit
//! counters, packed 16 to a `u64`, that forgets by halving.
//!
//! Each row holds `4 x capacity` counters (rounded up to a power of two, so an index is a mask),
//! which is Caffeine's sizing: 4 rows of 4-bit counters cost 8 bytes a cached entry. An
//! increment raises the key's counter in every row (saturating at 15); the estimate is the
//! smallest of the four. After `10 x capacity` increments that raised at least one counter, every
//! counter is halved (the "reset" of the TinyLFU paper), so the sketch tracks recent popularity
//! and an old hot key cannot hold its place forever. The halving truncates odd counters; the
//! increment count is reduced by the half plus a quarter of the odd counters, as Caffeine does,
//! so the next reset comes after about as many fresh increments.
//!
//! No doorkeeper (the Bloom filter the paper puts in front for one-hit wonders): Caffeine runs
//! without one too, and with a 1% window in front of the main area a one-hit key rarely reaches
//! the admission test.
//!
//! This file must not know about keys, entries or time: it sees only a key's 64-bit hash.

/// The most a counter counts (4 bits).
const COUNTER_MAX: u64 = 15;
/// Rows, each with its own hash of the key.
const ROWS: usize = 4;
/// Counters packed into one `u64`.
const COUNTERS_PER_WORD: usize = 16;
/// Mixing seeds, one a row (odd, so multiplication is a bijection).
const ROW_SEEDS: [u64; ROWS] =
    [0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0xFF51_AFD7_ED55_8CCD];
/// Every counter's low bit cleared, to halve 16 counters with one shift.
const HALVE_MASK: u64 = 0x7777_7777_7777_7777;
/// Every counter's low bit, to count odd counters before a halving.
const ODD_MASK: u64 = 0x1111_1111_1111_1111;

/// A count-min sketch of 4 rows of 4-bit counters with periodic halving.
#[derive(Debug, Clone)]
pub(crate) struct Sketch {
    /// `ROWS` rows of `words_per_row` words each, row after row.
    table: Vec<u64>,
    /// Counters a row, a power of two.
    counters_per_row: usize,
    /// Increments since the last halving (reduced, not zeroed, by a halving).
    additions: usize,
    /// Increments after which every counter is halved: 10 x the capacity.
    sample_size: usize,
    /// Halvings so far.
    resets: u64,
}

impl Sketch {
    /// A sketch sized for a cache of `capacity` entries (at least 16 counters a row).
    pub(crate) fn new(capacity: usize) -> Self {
        let counters_per_row = capacity.max(1).saturating_mul(4).next_power_of_two().max(COUNTERS_PER_WORD);
        let words_per_row = counters_per_row / COUNTERS_PER_WORD;
        Self {
            table: vec![0; words_per_row * ROWS],
            counters_per_row,
            additions: 0,
            sample_size: capacity.max(1).saturating_mul(10),
            resets: 0,
        }
    }

    /// The word index and bit shift of the key's counter in `row`.
    fn locate(&self, hash: u64, row: usize) -> (usize, u32) {
        let mut mixed = (hash ^ (row as u64)).wrapping_mul(ROW_SEEDS[row]);
        mixed ^= mixed >> 29;
        let counter = (mixed as usize) & (self.counters_per_row - 1);
        let words_per_row = self.counters_per_row / COUNTERS_PER_WORD;
        let word = row * words_per_row + counter / COUNTERS_PER_WORD;
        let shift = ((counter % COUNTERS_PER_WORD) * 4) as u32;
        (word, shift)
    }

    /// The estimated count of the key: the smallest of its four counters (0..=15).
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        let mut least = COUNTER_MAX;
        for row in 0..ROWS {
            let (word, shift) = self.locate(hash, row);
            least = least.min((self.table[word] >> shift) & COUNTER_MAX);
        }
        least as u8
    }

    /// Counts one more occurrence of the key; may halve every counter.
    pub(crate) fn increment(&mut self, hash: u64) {
        let mut raised = false;
        for row in 0..ROWS {
            let (word, shift) = self.locate(hash, row);
            if (self.table[word] >> shift) & COUNTER_MAX < COUNTER_MAX {
                self.table[word] += 1 << shift;
                raised = true;
            }
        }
        if raised {
            self.additions += 1;
            if self.additions >= self.sample_size {
                self.halve();
            }
        }
    }

    /// Halves every counter (the reset that ages the sketch).
    fn halve(&mut self) {
        let mut odd: usize = 0;
        for word in &mut self.table {
            odd += (*word & ODD_MASK).count_ones() as usize;
            *word = (*word >> 1) & HALVE_MASK;
        }
        // Each row lost about one half-count per odd counter; spread over the 4 rows.
        self.additions = (self.additions - (odd / ROWS).min(self.additions)) / 2;
        self.resets += 1;
    }

    /// How many halvings have happened.
    #[cfg(test)]
    pub(crate) fn resets(&self) -> u64 {
        self.resets
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.table.fill(0);
        self.additions = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    fn hash(n: u64) -> u64 {
        xxh3_64(&n.to_be_bytes())
    }

    #[test]
    fn counts_up_to_fifteen_and_saturates() {
        let mut sketch = Sketch::new(1000);
        for expected in 1..=15u8 {
            sketch.increment(hash(7));
            assert_eq!(sketch.frequency(hash(7)), expected);
        }
        sketch.increment(hash(7));
        assert_eq!(sketch.frequency(hash(7)), 15);
        assert_eq!(sketch.frequency(hash(8)), 0);
    }

    #[test]
    fn estimate_never_undercounts_and_is_close_for_a_hot_key() {
        let mut sketch = Sketch::new(512);
        // 500 distinct keys once each, below the halving threshold of 5120.
        for n in 0..500 {
            sketch.increment(hash(n));
        }
        for _ in 0..9 {
            sketch.increment(hash(5));
        }
        assert_eq!(sketch.resets(), 0);
        assert!(sketch.frequency(hash(5)) >= 10);
        assert!(sketch.frequency(hash(5)) <= 12, "got {}", sketch.frequency(hash(5)));
        let overcounted = (0..500).filter(|&n| sketch.frequency(hash(n)) > 1 && n != 5).count();
        assert!(overcounted < 10, "{overcounted} of 500 keys overcounted");
    }

    #[test]
    fn halves_after_ten_times_capacity_increments() {
        let capacity = 64;
        let mut sketch = Sketch::new(capacity);
        for _ in 0..12 {
            sketch.increment(hash(1));
        }
        assert_eq!(sketch.frequency(hash(1)), 12);
        // Distinct keys until the 640th raising increment triggers the halving.
        let mut n = 1000;
        while sketch.resets() == 0 {
            sketch.increment(hash(n));
            n += 1;
            assert!(n < 1000 + 10 * capacity as u64, "no halving after {} increments", n - 1000);
        }
        // 12 or a little more by collisions, halved.
        assert!((6..=7).contains(&sketch.frequency(hash(1))), "got {}", sketch.frequency(hash(1)));
    }

    #[test]
    fn halving_halves_every_packed_counter() {
        let mut sketch = Sketch::new(16);
        sketch.table.fill(0xFEDC_BA98_7654_3210);
        sketch.halve();
        assert!(sketch.table.iter().all(|&w| w == 0x7766_5544_3322_1100));
    }

    #[test]
    fn clear_forgets() {
        let mut sketch = Sketch::new(8);
        sketch.increment(hash(3));
        sketch.clear();
        assert_eq!(sketch.frequency(hash(3)), 0);
    }
}
