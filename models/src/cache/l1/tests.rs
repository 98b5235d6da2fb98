//! Tests of the L1 cache: unit tests, and proptests against simple reference models (LRU
//! against a `Vec` in recency order; TTL and capacity bounds under both admissions).

use super::*;
use proptest::prelude::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn cache(capacity: usize, ttl: Option<Duration>, admission: Admission) -> L1<u32> {
    L1::new(L1Config { capacity, ttl, admission, seed: 7 })
}

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

#[test]
fn a_written_value_is_read_back_and_counted() {
    for admission in [Admission::Lru, Admission::TinyLfu] {
        let mut l1 = cache(10, None, admission);
        assert_eq!(l1.get(b"a", secs(0)), None);
        l1.insert(b"a", 1, secs(0));
        assert_eq!(l1.get(b"a", secs(1)), Some(1));
        l1.insert(b"a", 2, secs(2));
        assert_eq!(l1.get(b"a", secs(3)), Some(2));
        assert_eq!(l1.len(), 1);
        let stats = l1.stats();
        assert_eq!((stats.hits, stats.misses, stats.evictions, stats.rejections), (2, 1, 0, 0));
    }
}

#[test]
fn capacity_zero_holds_nothing() {
    for admission in [Admission::Lru, Admission::TinyLfu] {
        let mut l1 = cache(0, None, admission);
        l1.insert(b"a", 1, secs(0));
        assert_eq!(l1.get(b"a", secs(0)), None);
        assert!(l1.is_empty());
        assert_eq!(l1.stats().rejections, 1);
    }
}

#[test]
fn invalidate_removes_and_says_whether_it_did() {
    for admission in [Admission::Lru, Admission::TinyLfu] {
        let mut l1 = cache(4, Some(secs(10)), admission);
        l1.insert(b"a", 1, secs(0));
        l1.insert(b"b", 2, secs(0));
        assert!(l1.invalidate(b"a"));
        assert!(!l1.invalidate(b"a"));
        assert_eq!(l1.get(b"a", secs(1)), None);
        assert_eq!(l1.get(b"b", secs(1)), Some(2));
        assert_eq!(l1.len(), 1);
        // The freed slot is reused without disturbing the lists.
        l1.insert(b"c", 3, secs(2));
        assert_eq!(l1.get(b"c", secs(2)), Some(3));
        assert_eq!(l1.len(), 2);
    }
}

#[test]
fn clear_empties_but_keeps_counters() {
    let mut l1 = cache(4, Some(secs(10)), Admission::TinyLfu);
    l1.insert(b"a", 1, secs(0));
    assert_eq!(l1.get(b"a", secs(0)), Some(1));
    l1.clear();
    assert!(l1.is_empty());
    assert_eq!(l1.get(b"a", secs(0)), None);
    assert_eq!(l1.stats().hits, 1);
    l1.insert(b"b", 2, secs(1));
    assert_eq!(l1.get(b"b", secs(1)), Some(2));
}

#[test]
fn an_entry_expires_at_its_ttl_and_an_overwrite_restarts_it() {
    let mut l1 = cache(4, Some(secs(10)), Admission::Lru);
    l1.insert(b"a", 1, secs(0));
    l1.insert(b"b", 2, secs(5));
    assert_eq!(l1.get(b"a", secs(9)), Some(1));
    assert_eq!(l1.get(b"a", secs(10)), None);
    l1.insert(b"b", 3, secs(12));
    assert_eq!(l1.get(b"b", secs(16)), Some(3));
    assert_eq!(l1.get(b"b", secs(22)), None);
    assert_eq!(l1.stats().expirations, 2);
    assert!(l1.is_empty());
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let mut l1 = cache(2, None, Admission::Lru);
    l1.insert(b"a", 1, secs(0));
    l1.insert(b"b", 2, secs(0));
    assert_eq!(l1.get(b"a", secs(0)), Some(1));
    l1.insert(b"c", 3, secs(0));
    assert_eq!(l1.get(b"b", secs(0)), None);
    assert_eq!(l1.get(b"a", secs(0)), Some(1));
    assert_eq!(l1.get(b"c", secs(0)), Some(3));
    assert_eq!(l1.stats().evictions, 1);
}

#[test]
fn tinylfu_keeps_a_hot_set_through_a_scan_that_flushes_lru() {
    let run = |admission| {
        let mut l1 = cache(100, None, admission);
        // 50 hot keys, read often.
        for round in 0..20 {
            for n in 0..50 {
                if l1.get(&key(n), secs(round)).is_none() {
                    l1.insert(&key(n), n as u32, secs(round));
                }
            }
        }
        // A scan of 1000 keys read once each.
        for n in 1000..2000 {
            if l1.get(&key(n), secs(30)).is_none() {
                l1.insert(&key(n), 0, secs(30));
            }
        }
        (0..50).filter(|&n| l1.get(&key(n), secs(31)).is_some()).count()
    };
    assert_eq!(run(Admission::Lru), 0);
    assert!(run(Admission::TinyLfu) >= 49, "hot keys kept: {}", run(Admission::TinyLfu));
}

#[test]
fn a_huge_capacity_is_cut() {
    let l1 = cache(usize::MAX, None, Admission::TinyLfu);
    assert_eq!(l1.config().capacity, CAPACITY_MAX);
}

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Insert(u8, u32),
    Invalidate(u8),
    /// Time passes (seconds).
    Tick(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..10u8).prop_map(Op::Get),
        4 => (0..10u8, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (0..10u8).prop_map(Op::Invalidate),
        1 => (0..4u8).prop_map(Op::Tick),
    ]
}

/// The LRU reference: entries from least to most recent.
#[derive(Default)]
struct RefLru {
    entries: Vec<(u8, u32)>,
}

impl RefLru {
    fn take(&mut self, k: u8) -> Option<(u8, u32)> {
        let at = self.entries.iter().position(|&(key, _)| key == k)?;
        Some(self.entries.remove(at))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lru_matches_a_vec_model(capacity in 1..6usize, ops in prop::collection::vec(op(), 1..200)) {
        let mut l1 = cache(capacity, None, Admission::Lru);
        let mut model = RefLru::default();
        for op in ops {
            match op {
                Op::Get(k) => {
                    let expected = model.take(k);
                    if let Some(entry) = expected {
                        model.entries.push(entry);
                    }
                    prop_assert_eq!(l1.get(&[k], secs(0)), expected.map(|(_, v)| v));
                }
                Op::Insert(k, v) => {
                    model.take(k);
                    model.entries.push((k, v));
                    if model.entries.len() > capacity {
                        model.entries.remove(0);
                    }
                    l1.insert(&[k], v, secs(0));
                }
                Op::Invalidate(k) => prop_assert_eq!(l1.invalidate(&[k]), model.take(k).is_some()),
                Op::Tick(_) => {}
            }
            prop_assert_eq!(l1.len(), model.entries.len());
        }
        for (k, v) in model.entries.clone() {
            prop_assert_eq!(l1.get(&[k], secs(0)), Some(v));
        }
    }

    #[test]
    fn never_over_capacity_never_stale_never_expired(
        capacity in 1..8usize,
        ttl in 1..6u64,
        tinylfu in any::<bool>(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let admission = if tinylfu { Admission::TinyLfu } else { Admission::Lru };
        let mut l1 = cache(capacity, Some(secs(ttl)), admission);
        // The last write of each key and when it was made; `None` once invalidated.
        let mut written: [Option<(u32, u64)>; 10] = [None; 10];
        let mut now = 0;
        for op in ops {
            match op {
                Op::Get(k) => {
                    if let Some(v) = l1.get(&[k], secs(now)) {
                        let (last, at) = written[k as usize].expect("a returned key was written");
                        prop_assert_eq!(v, last, "a stale value");
                        prop_assert!(now < at + ttl, "returned at {} an entry written at {} with ttl {}", now, at, ttl);
                    }
                }
                Op::Insert(k, v) => {
                    l1.insert(&[k], v, secs(now));
                    written[k as usize] = Some((v, now));
                }
                Op::Invalidate(k) => {
                    l1.invalidate(&[k]);
                    written[k as usize] = None;
                }
                Op::Tick(dt) => now += dt as u64,
            }
            prop_assert!(l1.len() <= capacity);
        }
    }

    #[test]
    fn with_room_for_every_key_the_ttl_alone_decides(ttl in 1..6u64, ops in prop::collection::vec(op(), 1..200)) {
        let mut l1 = cache(10, Some(secs(ttl)), Admission::Lru);
        let mut written: [Option<(u32, u64)>; 10] = [None; 10];
        let mut now = 0;
        for op in ops {
            match op {
                Op::Get(k) => {
                    let live = written[k as usize].filter(|&(_, at)| now < at + ttl).map(|(v, _)| v);
                    prop_assert_eq!(l1.get(&[k], secs(now)), live);
                }
                Op::Insert(k, v) => {
                    l1.insert(&[k], v, secs(now));
                    written[k as usize] = Some((v, now));
                }
                Op::Invalidate(k) => {
                    l1.invalidate(&[k]);
                    written[k as usize] = None;
                }
                Op::Tick(dt) => now += dt as u64,
            }
        }
    }
}
