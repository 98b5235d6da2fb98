//! Priority levels, after Envoy: backends of level 0 take the traffic while they are healthy
//! enough, and the rest spills to level 1, then 2, ... (failover to another zone or region).
//!
//! - A level's health is its eligible share of its endpoints, in whole percent, times the
//!   overprovisioning factor ([`OVERPROVISIONING_PERCENT`], Envoy's 1.4), capped at 100: a
//!   level keeps all the traffic until fewer than 1 / 1.4 (71.4%) of its endpoints are
//!   eligible.
//! - Loads: level 0 takes its health, level 1 the smaller of its health and what is left, and
//!   so on. When the healths add up to less than 100, every level's load is scaled up by the
//!   same factor (Envoy's normalisation): the traffic goes where any health is left, in
//!   proportion to it.
//! - With no health anywhere, level 0 (the first level with endpoints) takes everything; the
//!   pick over it then runs in panic mode.
//! - Each pick draws its level by the loads; a single level with all the load draws nothing.
//!
//! This file owns the levels' loads and the draw; it must not know why a backend is eligible
//! (that is `backends`) or pick within a level (that is `balance`).

use rand::Rng;

/// Envoy's default overprovisioning factor, in percent.
pub const OVERPROVISIONING_PERCENT: u64 = 140;

/// One priority level at some instant: its endpoints and the eligible ones among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Level {
    /// The level's number (0 the most preferred).
    pub priority: u32,
    /// Its backends in the endpoint set, ascending.
    pub endpoints: Vec<usize>,
    /// Those eligible (healthy, not ejected), ascending.
    pub eligible: Vec<usize>,
}

impl Level {
    /// The level's health in percent: its eligible share times the overprovisioning factor,
    /// capped at 100 (0 with no endpoints).
    pub fn health(&self) -> u64 {
        if self.endpoints.is_empty() {
            return 0;
        }
        let share = self.eligible.len() as u64 * 100 / self.endpoints.len() as u64;
        (share * OVERPROVISIONING_PERCENT / 100).min(100)
    }
}

/// The percent of the traffic each level takes, in the levels' order; they add up to 100.
pub fn loads(levels: &[Level]) -> Vec<u64> {
    let health: Vec<u64> = levels.iter().map(Level::health).collect();
    let total: u64 = health.iter().sum();
    let mut loads = vec![0; levels.len()];
    if total == 0 {
        let first = levels.iter().position(|l| !l.endpoints.is_empty()).unwrap_or(0);
        if let Some(load) = loads.get_mut(first) {
            *load = 100;
        }
        return loads;
    }
    if total >= 100 {
        let mut left = 100;
        for (load, h) in loads.iter_mut().zip(&health) {
            *load = (*h).min(left);
            left -= *load;
        }
    } else {
        for (load, h) in loads.iter_mut().zip(&health) {
            *load = h * 100 / total;
        }
        // Rounding down leaves a few percent: they go to the first level with health.
        let short = 100 - loads.iter().sum::<u64>();
        if let Some(i) = health.iter().position(|&h| h > 0) {
            loads[i] += short;
        }
    }
    loads
}

/// The index of the level a pick goes to, by `loads` (which add up to 100): no draw when one
/// level has all the load.
pub fn draw(loads: &[u64], rng: &mut impl Rng) -> usize {
    if let Some(only) = loads.iter().position(|&l| l == 100) {
        return only;
    }
    let mut point = rng.random_range(0..100u64);
    for (i, &load) in loads.iter().enumerate() {
        if point < load {
            return i;
        }
        point -= load;
    }
    loads.iter().rposition(|&l| l > 0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A level of `n` endpoints of which `up` are eligible.
    fn level(priority: u32, n: usize, up: usize) -> Level {
        Level { priority, endpoints: (0..n).collect(), eligible: (0..up).collect() }
    }

    #[test]
    fn a_level_keeps_all_traffic_down_to_one_over_the_overprovisioning_factor() {
        // 8 endpoints: 6 eligible is 75% * 1.4 = 105% -> 100; 5 is 62% * 1.4 = 86%.
        assert_eq!(loads(&[level(0, 8, 8), level(1, 4, 4)]), vec![100, 0]);
        assert_eq!(loads(&[level(0, 8, 6), level(1, 4, 4)]), vec![100, 0]);
        assert_eq!(loads(&[level(0, 8, 5), level(1, 4, 4)]), vec![86, 14]);
        assert_eq!(loads(&[level(0, 8, 4), level(1, 4, 4)]), vec![70, 30]);
        assert_eq!(loads(&[level(0, 8, 0), level(1, 4, 4)]), vec![0, 100]);
    }

    #[test]
    fn short_health_is_normalised_over_the_levels_that_have_some() {
        // 0 of 8 and 1 of 4 (25% * 1.4 = 35%): level 1 takes it all, scaled up.
        assert_eq!(loads(&[level(0, 8, 0), level(1, 4, 1)]), vec![0, 100]);
        // 1 of 10 (14%) and 1 of 4 (35%): 14 / 49 and 35 / 49 of the traffic.
        assert_eq!(loads(&[level(0, 10, 1), level(1, 4, 1)]), vec![29, 71]);
        // Nothing eligible anywhere: level 0, in panic.
        assert_eq!(loads(&[level(0, 8, 0), level(1, 4, 0)]), vec![100, 0]);
        // A level with no endpoints at all gives way to the next.
        assert_eq!(loads(&[level(0, 0, 0), level(1, 4, 0)]), vec![0, 100]);
    }

    #[test]
    fn loads_always_add_up_to_100() {
        for n0 in 0..12 {
            for up0 in 0..=n0 {
                for n1 in 0..6 {
                    for up1 in 0..=n1 {
                        let l = loads(&[level(0, n0, up0), level(1, n1, up1), level(2, 3, 1)]);
                        assert_eq!(l.iter().sum::<u64>(), 100, "{n0} {up0} {n1} {up1}: {l:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn draws_follow_the_loads_and_a_whole_load_draws_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let before = rng.clone();
        assert_eq!(draw(&[0, 100], &mut rng), 1);
        assert_eq!(rng, before, "no randomness spent");
        let mut counts = [0u32; 2];
        for _ in 0..10_000 {
            counts[draw(&[70, 30], &mut rng)] += 1;
        }
        assert!((2_800..3_200).contains(&counts[1]), "30% of 10,000: {counts:?}");
    }
}
