//! Picking one backend among the eligible ones: round robin, random, least request (power of
//! `choices` choices), smooth weighted round robin, and consistent hashing on a request key.
//!
//! A [`Balancer`] knows each backend's name and weight; every pick is handed the eligible set
//! (sorted backend indices) and each backend's active request count, so the same balancer
//! serves normal and panic mode alike. It owns only its own cursor, weighted round robin
//! counters and the hash tables of the last two eligible sets; it must not know why a backend is or
//! is not eligible (that is `backends`), and it draws randomness only from the `rng` it is
//! handed, so a seeded `ChaCha8Rng` makes every pick reproducible.

use rand::Rng;

use super::config::{Algorithm, BackendSpec, HashScheme, LbError, validate_backends};
use crate::shard::{Node, Scheme, Sharder};

/// Chooses backends for requests under one [`Algorithm`].
#[derive(Debug, Clone)]
pub struct Balancer {
    algorithm: Algorithm,
    names: Vec<Node>,
    weights: Vec<u32>,
    /// Whether all weights are equal (least request then runs plain power of two choices).
    uniform: bool,
    /// Round robin's position.
    cursor: u64,
    /// Smooth weighted round robin's counters, by backend.
    current: Vec<i64>,
    /// The eligible set the counters belong to; a new set starts them over from zero.
    weighted_set: Vec<usize>,
    /// Consistent-hash tables of the last [`HASH_TABLES`] eligible sets, the latest first: a
    /// retry's set (one backend fewer) then does not rebuild the main set's table.
    hash: Vec<HashTable>,
}

/// How many consistent-hash tables a balancer keeps (the eligible set and a retry's).
const HASH_TABLES: usize = 2;

/// A consistent-hash table over one eligible set.
#[derive(Debug, Clone)]
struct HashTable {
    set: Vec<usize>,
    sharder: Sharder,
}

impl Balancer {
    /// Checks the algorithm and backends (building the hash table over all of them, so that no
    /// eligible subset can be refused later).
    pub fn new(algorithm: Algorithm, backends: &[BackendSpec]) -> Result<Self, LbError> {
        algorithm.validate()?;
        validate_backends(backends)?;
        let names: Vec<Node> = backends.iter().map(|b| b.name.clone()).collect();
        let weights: Vec<u32> = backends.iter().map(|b| b.weight).collect();
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        let mut balancer = Balancer {
            algorithm,
            current: vec![0; names.len()],
            names,
            weights,
            uniform,
            cursor: 0,
            weighted_set: Vec::new(),
            hash: Vec::with_capacity(HASH_TABLES),
        };
        if let Algorithm::ConsistentHash { scheme } = balancer.algorithm {
            let all: Vec<usize> = (0..balancer.names.len()).collect();
            let table = balancer.build_table(scheme, &all)?;
            balancer.hash.push(table);
        }
        Ok(balancer)
    }

    /// The algorithm picks are made by.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// How many backends the balancer knows.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the balancer knows no backends (never, once built).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Picks a backend among `eligible` (backend indices, ascending, no repeats), given each
    /// backend's active request count in `active` (indexed by backend). `key` is the request's
    /// hash key, used only by consistent hashing. `None` when nothing is eligible.
    pub fn pick(
        &mut self,
        eligible: &[usize],
        active: &[u32],
        key: Option<&[u8]>,
        rng: &mut impl Rng,
    ) -> Option<usize> {
        assert_eq!(active.len(), self.names.len(), "one active count a backend");
        debug_assert!(eligible.windows(2).all(|w| w[0] < w[1]), "eligible is ascending without repeats");
        debug_assert!(eligible.iter().all(|&b| b < self.names.len()), "eligible names known backends");
        if eligible.is_empty() {
            return None;
        }
        let picked = match &self.algorithm {
            Algorithm::RoundRobin => self.round_robin(eligible),
            Algorithm::Random => eligible[rng.random_range(0..eligible.len())],
            Algorithm::LeastRequest { choices } => {
                let choices = *choices;
                if self.uniform {
                    least_of_choices(eligible, active, choices, rng)
                } else {
                    self.weighted_least_request(eligible, active, rng)
                }
            }
            Algorithm::Weighted => self.smooth_weighted(eligible),
            Algorithm::ConsistentHash { scheme } => {
                let scheme = *scheme;
                match key {
                    Some(key) => self.hashed(scheme, eligible, key),
                    None => eligible[rng.random_range(0..eligible.len())],
                }
            }
        };
        debug_assert!(eligible.contains(&picked), "a pick is always eligible");
        Some(picked)
    }

    fn round_robin(&mut self, eligible: &[usize]) -> usize {
        let at = (self.cursor % eligible.len() as u64) as usize;
        self.cursor = self.cursor.wrapping_add(1);
        eligible[at]
    }

    /// Draws one backend with probability proportional to `weight / (active + 1)`.
    fn weighted_least_request(&self, eligible: &[usize], active: &[u32], rng: &mut impl Rng) -> usize {
        let effective = |b: usize| f64::from(self.weights[b]) / (f64::from(active[b]) + 1.0);
        let total: f64 = eligible.iter().map(|&b| effective(b)).sum();
        let mut point = rng.random::<f64>() * total;
        for &b in eligible {
            point -= effective(b);
            if point < 0.0 {
                return b;
            }
        }
        // Rounding can leave a sliver past the last backend: it belongs to the last one.
        eligible[eligible.len() - 1]
    }

    /// nginx's smooth weighted round robin: every eligible backend gains its weight, the one
    /// with the most (the first in index order on a tie) is picked and pays the total back.
    fn smooth_weighted(&mut self, eligible: &[usize]) -> usize {
        if self.weighted_set != eligible {
            self.weighted_set = eligible.to_vec();
            self.current.iter_mut().for_each(|c| *c = 0);
        }
        let mut total = 0i64;
        let mut best = eligible[0];
        for &b in eligible {
            let weight = i64::from(self.weights[b]);
            total += weight;
            self.current[b] += weight;
            if self.current[b] > self.current[best] {
                best = b;
            }
        }
        self.current[best] -= total;
        best
    }

    fn hashed(&mut self, scheme: HashScheme, eligible: &[usize], key: &[u8]) -> usize {
        match self.hash.iter().position(|table| table.set == eligible) {
            Some(at) => self.hash[..=at].rotate_right(1),
            None => {
                let table =
                    self.build_table(scheme, eligible).expect("a scheme valid for all backends is valid for fewer");
                self.hash.truncate(HASH_TABLES - 1);
                self.hash.insert(0, table);
            }
        }
        let table = &self.hash[0];
        table.set[table.sharder.owner_index(key)]
    }

    fn build_table(&self, scheme: HashScheme, set: &[usize]) -> Result<HashTable, LbError> {
        let nodes: Vec<Node> = set.iter().map(|&b| self.names[b].clone()).collect();
        let scheme = match scheme {
            HashScheme::Ring { vnodes } => Scheme::Ring { vnodes },
            HashScheme::Maglev { table } => Scheme::Maglev { table },
        };
        Ok(HashTable { set: set.to_vec(), sharder: Sharder::new(scheme, nodes)? })
    }
}

/// Draws `choices` eligible backends (with replacement) and keeps the one with the fewest
/// active requests, the earliest drawn on a tie.
fn least_of_choices(eligible: &[usize], active: &[u32], choices: u32, rng: &mut impl Rng) -> usize {
    let mut best = eligible[rng.random_range(0..eligible.len())];
    for _ in 1..choices {
        let candidate = eligible[rng.random_range(0..eligible.len())];
        if active[candidate] < active[best] {
            best = candidate;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn backends(n: usize) -> Vec<BackendSpec> {
        (0..n).map(|i| BackendSpec::new(&format!("app{i}"))).collect()
    }

    fn weighted(weights: &[u32]) -> Vec<BackendSpec> {
        weights.iter().enumerate().map(|(i, &w)| BackendSpec::weighted(&format!("app{i}"), w)).collect()
    }

    /// Picks `count` times over a fixed eligible set with no load, and counts picks a backend.
    fn shares(balancer: &mut Balancer, eligible: &[usize], count: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let active = vec![0; balancer.len()];
        let mut counts = vec![0; balancer.len()];
        for _ in 0..count {
            counts[balancer.pick(eligible, &active, None, &mut rng).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_spreads_exactly_evenly() {
        let mut balancer = Balancer::new(Algorithm::RoundRobin, &backends(5)).unwrap();
        assert_eq!(shares(&mut balancer, &[0, 1, 2, 3, 4], 500, 1), vec![100; 5]);
        // Over a subset, the others get nothing and the subset stays even.
        assert_eq!(shares(&mut balancer, &[1, 3], 10, 1), vec![0, 5, 0, 5, 0]);
    }

    #[test]
    fn nothing_eligible_is_no_pick() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for algorithm in [Algorithm::RoundRobin, Algorithm::Random, Algorithm::least_request(), Algorithm::Weighted] {
            let mut balancer = Balancer::new(algorithm, &backends(3)).unwrap();
            assert_eq!(balancer.pick(&[], &[0, 0, 0], None, &mut rng), None);
        }
        let mut balancer = Balancer::new(Algorithm::ring_hash(), &backends(3)).unwrap();
        assert_eq!(balancer.pick(&[], &[0, 0, 0], Some(b"k"), &mut rng), None);
    }

    #[test]
    fn weighted_round_robin_is_smooth() {
        // nginx's example: weights 5, 1, 1 give a a b a c a a, not a a a a a b c.
        let mut balancer = Balancer::new(Algorithm::Weighted, &weighted(&[5, 1, 1])).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let order: Vec<usize> = (0..7).map(|_| balancer.pick(&[0, 1, 2], &[0; 3], None, &mut rng).unwrap()).collect();
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn least_request_takes_the_less_loaded_of_two_draws() {
        let mut balancer = Balancer::new(Algorithm::least_request(), &backends(2)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let active = [10, 0];
        let picks: Vec<usize> = (0..200).map(|_| balancer.pick(&[0, 1], &active, None, &mut rng).unwrap()).collect();
        // Backend 0 wins only when both draws land on it: about a quarter of the time.
        let zero = picks.iter().filter(|&&b| b == 0).count();
        assert!((25..=75).contains(&zero), "backend 0 picked {zero} of 200 times");
        // With one choice it is plain random: about half.
        let mut one = Balancer::new(Algorithm::LeastRequest { choices: 1 }, &backends(2)).unwrap();
        let zero = (0..200).filter(|_| one.pick(&[0, 1], &active, None, &mut rng) == Some(0)).count();
        assert!((70..=130).contains(&zero), "backend 0 picked {zero} of 200 times");
    }

    #[test]
    fn weighted_least_request_follows_weight_over_active_plus_one() {
        // Weights 4 and 1; backend 0 has 3 active, so 4/4 = 1 against 1/1 = 1: an even split.
        let mut balancer = Balancer::new(Algorithm::least_request(), &weighted(&[4, 1])).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let zero = (0..4_000).filter(|_| balancer.pick(&[0, 1], &[3, 0], None, &mut rng) == Some(0)).count();
        assert!((1_800..=2_200).contains(&zero), "backend 0 picked {zero} of 4000 times");
        // Idle, the split is 4 : 1.
        let zero = (0..4_000).filter(|_| balancer.pick(&[0, 1], &[0, 0], None, &mut rng) == Some(0)).count();
        assert!((3_050..=3_350).contains(&zero), "backend 0 picked {zero} of 4000 times");
    }

    #[test]
    fn random_stays_within_the_eligible_set() {
        let mut balancer = Balancer::new(Algorithm::Random, &backends(6)).unwrap();
        let counts = shares(&mut balancer, &[1, 4, 5], 3_000, 9);
        assert_eq!((counts[0], counts[2], counts[3]), (0, 0, 0));
        for b in [1, 4, 5] {
            assert!((850..=1_150).contains(&counts[b]), "backend {b} picked {} times", counts[b]);
        }
    }

    #[test]
    fn a_hash_request_without_a_key_goes_to_a_random_eligible_backend() {
        let mut balancer = Balancer::new(Algorithm::ring_hash(), &backends(4)).unwrap();
        let counts = shares(&mut balancer, &[0, 2, 3], 900, 4);
        assert_eq!(counts[1], 0);
        assert!(counts.iter().filter(|&&c| c > 0).count() == 3, "spread over all three: {counts:?}");
    }

    fn owners(balancer: &mut Balancer, eligible: &[usize], keys: &[Vec<u8>]) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let active = vec![0; balancer.len()];
        keys.iter().map(|k| balancer.pick(eligible, &active, Some(k), &mut rng).unwrap()).collect()
    }

    fn keys(count: usize) -> Vec<Vec<u8>> {
        (0..count).map(|i| format!("user:{i}").into_bytes()).collect()
    }

    #[test]
    fn maglev_moves_the_leavers_keys_and_few_others() {
        let mut balancer = Balancer::new(Algorithm::maglev(), &backends(8)).unwrap();
        let keys = keys(20_000);
        let all: Vec<usize> = (0..8).collect();
        let before = owners(&mut balancer, &all, &keys);
        assert_eq!(before, owners(&mut balancer, &all, &keys), "a key stays put while nothing changes");
        let without_3: Vec<usize> = all.iter().copied().filter(|&b| b != 3).collect();
        let after = owners(&mut balancer, &without_3, &keys);
        let stayers_moved = before.iter().zip(&after).filter(|(b, a)| **b != 3 && b != a).count();
        assert!(after.iter().all(|&b| b != 3));
        // Maglev is not perfectly minimal: under 2% of the other backends' keys may move.
        assert!(stayers_moved * 50 < keys.len(), "{stayers_moved} keys of staying backends moved");
    }

    proptest! {
        #[test]
        fn weighted_shares_are_exact_over_every_full_cycle(
            weights in proptest::collection::vec(1u32..20, 1..8), cycles in 1usize..4,
        ) {
            let mut balancer = Balancer::new(Algorithm::Weighted, &weighted(&weights)).unwrap();
            let all: Vec<usize> = (0..weights.len()).collect();
            let total: u32 = weights.iter().sum();
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            for _ in 0..cycles {
                let mut counts = vec![0u32; weights.len()];
                for _ in 0..total {
                    counts[balancer.pick(&all, &vec![0; weights.len()], None, &mut rng).unwrap()] += 1;
                }
                prop_assert_eq!(&counts, &weights);
            }
        }

        #[test]
        fn a_ring_key_stays_put_and_only_the_leavers_keys_move(
            count in 2usize..10, leaver in 0usize..10, key_count in 1usize..300, vnodes in 1u32..200,
        ) {
            let leaver = leaver % count;
            let algorithm = Algorithm::ConsistentHash { scheme: HashScheme::Ring { vnodes } };
            let mut balancer = Balancer::new(algorithm, &backends(count)).unwrap();
            let keys = keys(key_count);
            let all: Vec<usize> = (0..count).collect();
            let before = owners(&mut balancer, &all, &keys);
            prop_assert_eq!(&before, &owners(&mut balancer, &all, &keys));
            let rest: Vec<usize> = all.iter().copied().filter(|&b| b != leaver).collect();
            let after = owners(&mut balancer, &rest, &keys);
            for (old, new) in before.iter().zip(&after) {
                if *old == leaver {
                    prop_assert_ne!(*new, leaver);
                } else {
                    prop_assert_eq!(old, new);
                }
            }
            // And when it comes back, every key returns to where it was.
            prop_assert_eq!(&before, &owners(&mut balancer, &all, &keys));
        }
    }
}
