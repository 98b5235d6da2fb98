//! The configurations `faultline bench` measures, the table it prints and the three headline
//! figures it judges against their targets.
//!
//! - (3 servers, 8 users), one host per user on both sides (Faultline with 8 load
//!   generators): the overhead of Faultline over raw turmoil, per round trip. Target <= 1.3x.
//! - (10 servers, 100 users): raw turmoil with 100 client hosts against Faultline with the
//!   users multiplexed on 2 load generators: the speed-up per round trip. Target >= 25x.
//! - (50 servers, 1000 users): Faultline multiplexed on 4 load generators: round trips per
//!   wall second. Target >= 100k/s on 2 cores. Raw turmoil with 1050 hosts is far too slow to
//!   run to the end (turmoil links every pair of hosts and scans every link for every host on
//!   every step); it gets one attempt bounded by a tiny simulated duration and a wall budget,
//!   reported as such.
//!
//! - sparse: one request a second over five hosts (`sparse`), recorded sparsely and with every
//!   sample: simulated seconds per wall second, and the trace's records and bytes. Measured,
//!   no target on turmoil (which steps every tick, busy or not).
//!
//! Ratios are per round trip (wall time divided by round trips) so that engines whose runs end
//! a few milliseconds apart, or answer a few more requests, compare fairly. Where a pair is
//! repeated, each engine's best run (least wall time per round trip) is kept: on a shared
//! machine interference only ever adds time.
//!
//! Owns: the plan of a bench run and its judgement. Must not: print (the CLI does), or fail
//! because a target was missed: this is a measurement, not a test.

use super::sparse::{self, SparseRun};
use super::{BenchError, Engine, Measurement, Topology, floor, raw, world};
use std::fmt::Write as _;
use std::time::Duration;

/// The overhead pair: one host per user on both sides.
pub const SMALL: Topology = Topology::new(3, 8);
/// The multiplexing pair.
pub const MEDIUM: Topology = Topology::new(10, 100);
/// The scale run.
pub const LARGE: Topology = Topology::new(50, 1000);
/// Load generators of the multiplexed (10, 100) run.
pub const MEDIUM_LOADGENS: u32 = 2;
/// Load generators of the (50, 1000) run.
pub const LARGE_LOADGENS: u32 = 4;

/// Target: Faultline / raw turmoil wall time per round trip at (3, 8).
pub const TARGET_OVERHEAD_MAX: f64 = 1.3;
/// Target: raw turmoil / multiplexed Faultline wall time per round trip at (10, 100).
pub const TARGET_SPEEDUP_MIN: f64 = 25.0;
/// Target: Faultline round trips per wall second at (50, 1000).
pub const TARGET_LARGE_RT_PER_S_MIN: f64 = 100_000.0;
/// Target: Faultline on madsim / raw madsim wall time per round trip at (3, 8).
pub const TARGET_MADSIM_OVERHEAD_MAX: f64 = 1.3;
/// Target: simulated seconds per wall second of the sparse hour on madsim.
pub const TARGET_SPARSE_MADSIM_MIN: f64 = 1000.0;

/// How long each configuration runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Simulated duration at (3, 8).
    pub small: Duration,
    /// Runs of each engine at (3, 8); the best is kept.
    pub small_repeats: u32,
    /// Simulated duration at (10, 100).
    pub medium: Duration,
    /// Runs of each engine at (10, 100); the best is kept.
    pub medium_repeats: u32,
    /// Simulated duration at (50, 1000).
    pub large: Duration,
    /// Simulated duration of the bounded raw-turmoil attempt at (50, 1000).
    pub large_raw: Duration,
    /// Wall budget of that attempt (checked between steps: one step may overrun it).
    pub large_raw_budget: Duration,
    /// Simulated duration of the sparse run.
    pub sparse: Duration,
}

impl Plan {
    /// `--quick`: well under a minute in all, for development.
    pub fn quick() -> Self {
        Self {
            small: Duration::from_secs(2),
            small_repeats: 2,
            medium: Duration::from_millis(500),
            medium_repeats: 1,
            large: Duration::from_secs(1),
            large_raw: Duration::from_millis(1),
            large_raw_budget: Duration::from_secs(10),
            sparse: Duration::from_secs(300),
        }
    }

    /// The default: longer runs for steadier figures (a few minutes in all).
    pub fn full() -> Self {
        Self {
            small: Duration::from_secs(20),
            small_repeats: 3,
            medium: Duration::from_secs(3),
            medium_repeats: 2,
            large: Duration::from_secs(5),
            large_raw: Duration::from_millis(5),
            large_raw_budget: Duration::from_secs(75),
            sparse: Duration::from_secs(3600),
        }
    }
}

/// One headline figure and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// The figure, e.g. `overhead vs raw turmoil: 1.12x`.
    pub figure: String,
    /// The target in words, e.g. `<= 1.30x`.
    pub target: String,
    /// Whether the target was met.
    pub pass: bool,
}

impl Headline {
    /// `figure  (target ...: PASS|MISS)`.
    pub fn line(&self) -> String {
        let verdict = if self.pass { "PASS" } else { "MISS" };
        format!("{}  (target {}: {verdict})", self.figure, self.target)
    }
}

/// Everything a bench run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Every measurement, in the order taken (for repeated pairs, the best of each engine).
    pub rows: Vec<Measurement>,
    /// The three headline figures.
    pub headlines: Vec<Headline>,
    /// Further observations, one line each.
    pub notes: Vec<String>,
    /// The sparse run, recorded sparsely, then with every sample.
    pub sparse: Vec<SparseRun>,
}

/// Runs every configuration of `plan`; `progress` hears what is about to run.
pub fn run(plan: &Plan, progress: &mut dyn FnMut(&str)) -> Result<Results, BenchError> {
    let mut rows = Vec::new();
    let (raw_small, fl_small) = best_pair(SMALL, SMALL.users, plan.small, plan.small_repeats, progress)?;
    rows.push(floor::run(SMALL, plan.small));
    rows.extend([raw_small.clone(), fl_small.clone()]);

    let (raw_medium, fl_medium) = best_pair(MEDIUM, MEDIUM_LOADGENS, plan.medium, plan.medium_repeats, progress)?;
    rows.push(floor::run(MEDIUM, plan.medium));
    rows.extend([raw_medium.clone(), fl_medium.clone()]);

    progress(&describe("faultline", LARGE, plan.large));
    let fl_large = world::run(LARGE, LARGE_LOADGENS, plan.large)?;
    progress(&format!(
        "{} (bounded attempt: stops after {:?} of wall time)",
        describe("raw turmoil", LARGE, plan.large_raw),
        plan.large_raw_budget
    ));
    let raw_large = raw::run_bounded(LARGE, plan.large_raw, plan.large_raw_budget)?;
    rows.push(floor::run(LARGE, plan.large));
    rows.extend([raw_large.clone(), fl_large.clone()]);

    let mut sparse_runs = Vec::new();
    for every_sample in [false, true] {
        let how = if every_sample { "every sample" } else { "sparse samples" };
        progress(&format!("faultline: sparse, 5 hosts, {:?} simulated, {how}", plan.sparse));
        sparse_runs.push(sparse::run(plan.sparse, every_sample, faultline_sim::Engine::Turmoil)?);
    }
    let mut headlines = vec![overhead(&raw_small, &fl_small), speedup(&raw_medium, &fl_medium), large_rate(&fl_large)];
    if faultline_sim::Engine::Madsim.available() {
        madsim_rows(plan, &mut rows, &mut sparse_runs, &mut headlines, progress)?;
    }
    let notes = vec![bounded_note(&raw_large, &fl_large)];
    Ok(Results { rows, headlines, notes, sparse: sparse_runs })
}

/// The madsim engine beside turmoil: raw madsim and Faultline on madsim at the three shapes, and
/// the sparse hour on madsim.
#[cfg(madsim)]
fn madsim_rows(
    plan: &Plan,
    rows: &mut Vec<Measurement>,
    sparse_runs: &mut Vec<SparseRun>,
    headlines: &mut Vec<Headline>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BenchError> {
    let madsim = faultline_sim::Engine::Madsim;
    let shapes = [
        (SMALL, SMALL.users, plan.small, plan.small_repeats),
        (MEDIUM, MEDIUM_LOADGENS, plan.medium, plan.medium_repeats),
        (LARGE, LARGE_LOADGENS, plan.large, 1),
    ];
    for (i, (topology, loadgens, duration, repeats)) in shapes.into_iter().enumerate() {
        let (mut raw, mut fl) = (None, None);
        for run in 1..=repeats.max(1) {
            progress(&format!("{} (run {run})", describe("raw madsim", topology, duration)));
            raw = Some(keep_best(raw, super::raw_madsim::run(topology, duration)?));
            progress(&format!("{} (run {run})", describe("faultline on madsim", topology, duration)));
            fl = Some(keep_best(fl, world::run_on(topology, loadgens, duration, madsim)?));
        }
        let (raw, fl) = (raw.expect("at least one run"), fl.expect("at least one run"));
        if i == 0 {
            let ratio = fl.wall_us_per_round_trip() / raw.wall_us_per_round_trip();
            headlines.push(Headline {
                figure: format!("overhead on madsim vs raw madsim: {ratio:.2}x"),
                target: format!(
                    "<= {TARGET_MADSIM_OVERHEAD_MAX:.2}x, per round trip, {} servers / {} users",
                    topology.servers, topology.users
                ),
                pass: ratio <= TARGET_MADSIM_OVERHEAD_MAX,
            });
        }
        rows.extend([raw, fl]);
    }
    progress(&format!("faultline on madsim: sparse, 5 hosts, {:?} simulated, sparse samples", plan.sparse));
    let sparse = sparse::run(plan.sparse, false, madsim)?;
    let rate = sparse.sim_per_wall();
    headlines.push(Headline {
        figure: format!("sparse run on madsim: {rate:.0}x real time"),
        target: format!(">= {TARGET_SPARSE_MADSIM_MIN:.0}x, 1 request a second over 5 hosts"),
        pass: rate >= TARGET_SPARSE_MADSIM_MIN,
    });
    sparse_runs.push(sparse);
    Ok(())
}

/// Without `--cfg madsim` there is no madsim engine to measure.
#[cfg(not(madsim))]
fn madsim_rows(
    _: &Plan,
    _: &mut Vec<Measurement>,
    _: &mut Vec<SparseRun>,
    _: &mut Vec<Headline>,
    _: &mut dyn FnMut(&str),
) -> Result<(), BenchError> {
    Ok(())
}

fn describe(engine: &str, topology: Topology, duration: Duration) -> String {
    format!("{engine}: {} servers, {} users, {duration:?} simulated", topology.servers, topology.users)
}

/// Runs raw turmoil and Faultline alternately `repeats` times, keeping each one's best run.
fn best_pair(
    topology: Topology,
    loadgens: u32,
    duration: Duration,
    repeats: u32,
    progress: &mut dyn FnMut(&str),
) -> Result<(Measurement, Measurement), BenchError> {
    let repeats = repeats.max(1);
    let (mut best_raw, mut best_fl) = (None, None);
    for i in 1..=repeats {
        progress(&format!("{} (run {i} of {repeats})", describe("raw turmoil", topology, duration)));
        best_raw = Some(keep_best(best_raw, raw::run(topology, duration)?));
        progress(&format!("{} (run {i} of {repeats})", describe("faultline", topology, duration)));
        best_fl = Some(keep_best(best_fl, world::run(topology, loadgens, duration)?));
    }
    Ok((best_raw.expect("at least one run"), best_fl.expect("at least one run")))
}

/// Compares the bounded raw attempt with Faultline per simulated second (both run the same
/// closed loop, so round trips per simulated second match once connections are up).
fn bounded_note(raw: &Measurement, faultline: &Measurement) -> String {
    let ratio = faultline.sim_per_wall() / raw.sim_per_wall().max(1e-12);
    format!(
        "raw turmoil at {} servers / {} users ({} hosts), a tiny-duration attempt only: {:.1} ms \
         simulated in {:.1} s of wall time ({} round trips; {}); faultline covers simulated time \
         {ratio:.0}x faster",
        raw.topology.servers,
        raw.topology.users,
        raw.hosts,
        raw.simulated.as_secs_f64() * 1e3,
        raw.wall.as_secs_f64(),
        raw.round_trips,
        if raw.complete { "ran to the end" } else { "bounded attempt, stopped by its wall budget" },
    )
}

fn keep_best(old: Option<Measurement>, new: Measurement) -> Measurement {
    match old {
        Some(old) if old.wall_us_per_round_trip() <= new.wall_us_per_round_trip() => old,
        _ => new,
    }
}

/// Faultline / raw wall time per round trip.
pub fn overhead(raw: &Measurement, faultline: &Measurement) -> Headline {
    let ratio = faultline.wall_us_per_round_trip() / raw.wall_us_per_round_trip();
    Headline {
        figure: format!("overhead vs raw turmoil: {ratio:.2}x"),
        target: format!(
            "<= {TARGET_OVERHEAD_MAX:.2}x, per round trip, {} servers / {} users",
            raw.topology.servers, raw.topology.users
        ),
        pass: ratio <= TARGET_OVERHEAD_MAX,
    }
}

/// Raw / multiplexed Faultline wall time per round trip.
pub fn speedup(raw: &Measurement, faultline: &Measurement) -> Headline {
    let ratio = raw.wall_us_per_round_trip() / faultline.wall_us_per_round_trip();
    Headline {
        figure: format!("speed-up of multiplexed users vs raw turmoil: {ratio:.1}x"),
        target: format!(
            ">= {TARGET_SPEEDUP_MIN:.0}x, per round trip, {} servers / {} users",
            raw.topology.servers, raw.topology.users
        ),
        pass: ratio >= TARGET_SPEEDUP_MIN,
    }
}

/// Faultline round trips per wall second at scale.
pub fn large_rate(faultline: &Measurement) -> Headline {
    let rate = faultline.round_trips_per_wall_s();
    Headline {
        figure: format!(
            "round trips per wall second, {} servers / {} users: {:.0}",
            faultline.topology.servers, faultline.topology.users, rate
        ),
        target: format!(">= {:.0}k/s", TARGET_LARGE_RT_PER_S_MIN / 1000.0),
        pass: rate >= TARGET_LARGE_RT_PER_S_MIN,
    }
}

/// The measurements as an aligned table, one row per run.
pub fn render_table(rows: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>5} {:>9} {:>11} {:>10} {:>9} {:>12} {:>11} {:>9}",
        "engine", "srv/usr", "hosts", "sim", "round trips", "rt/sim-s", "wall", "rt/wall-s", "sim-s/wall", "us/rt"
    );
    for m in rows {
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>5} {:>9} {:>11} {:>10.0} {:>9} {:>12.0} {:>11.3} {:>9.2}{}",
            m.engine.to_string(),
            format!("{}/{}", m.topology.servers, m.topology.users),
            if m.engine == Engine::Floor { "-".to_string() } else { m.hosts.to_string() },
            format!("{:.3}s", m.simulated.as_secs_f64()),
            m.round_trips,
            m.round_trips_per_sim_s(),
            format!("{:.3}s", m.wall.as_secs_f64()),
            m.round_trips_per_wall_s(),
            m.sim_per_wall(),
            m.wall_us_per_round_trip(),
            notes(m),
        );
    }
    out
}

fn notes(m: &Measurement) -> String {
    let mut notes = String::new();
    if let Some(setup) = m.setup.filter(|s| s.as_millis() >= 100) {
        let _ = write!(notes, "  (setup {:.1}s)", setup.as_secs_f64());
    }
    if !m.complete {
        notes.push_str("  (bounded attempt: stopped by its wall budget before the end)");
    }
    notes
}

/// The whole output: the table, then one line per headline.
pub fn render(results: &Results) -> String {
    let mut out = render_table(&results.rows);
    out.push('\n');
    if !results.sparse.is_empty() {
        out.push_str(&sparse::render(&results.sparse));
        out.push('\n');
    }
    for note in &results.notes {
        out.push_str("note: ");
        out.push_str(note);
        out.push('\n');
    }
    out.push('\n');
    for h in &results.headlines {
        out.push_str(&h.line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(engine: Engine, round_trips: u64, wall_ms: u64) -> Measurement {
        Measurement {
            engine,
            topology: SMALL,
            hosts: 11,
            round_trips,
            simulated: Duration::from_secs(1),
            wall: Duration::from_millis(wall_ms),
            setup: None,
            complete: true,
        }
    }

    #[test]
    fn ratios_are_per_round_trip() {
        let raw = measurement(Engine::RawTurmoil, 1000, 100);
        let fl = measurement(Engine::Faultline { loadgens: 8 }, 2000, 240);
        let h = overhead(&raw, &fl);
        assert_eq!(h.figure, "overhead vs raw turmoil: 1.20x");
        assert!(h.pass);
        let h = speedup(&raw, &fl);
        assert_eq!(h.figure, "speed-up of multiplexed users vs raw turmoil: 0.8x");
        assert!(!h.pass);
        assert!(h.line().ends_with("MISS)"), "{}", h.line());
    }

    #[test]
    fn the_table_has_a_row_per_run() {
        let rows = [measurement(Engine::Floor, 10, 1), measurement(Engine::RawTurmoil, 10, 1)];
        let table = render_table(&rows);
        assert_eq!(table.lines().count(), 3);
        assert!(table.contains("DES floor"));
    }
}
