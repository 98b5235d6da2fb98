//! Fidelity: the server model against queueing theory, so the simulator does not teach wrong
//! lessons about saturation.
//!
//! A server with `c` worker slots, exponential service times and Poisson arrivals is an M/M/c
//! queue. Its mean queue wait `Wq`, mean response time `W` and p99 of the response time must
//! match the Erlang C formulas within 5% at 50, 70, 90 and 95% utilisation; where a run that
//! fits in CI cannot pin a figure that tightly (the p99 near saturation), the bound is three
//! batch-means standard errors instead, and the table says so. The timer grid's quantisation
//! is checked on its own: exactly (a discretised copy of the queue driven by the same random
//! numbers as a continuous one) and in the simulator (a server that never queues).
//!
//! `cargo test -p faultline-sim --test fidelity -- --nocapture` prints the tables of
//! `docs/fidelity.md`; `FAULTLINE_FIDELITY_SCALE=10` runs ten times longer. This file owns only
//! measurement and the analytic formulas: it must never tune the model to pass.

use faultline_chaos::trace::Event;
use faultline_chaos::trace::codec::TraceReader;
use faultline_sim::scenario::{Scenario, parse_str};
use faultline_sim::{Engine, RecordConfig, RunOptions, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::File;
use std::io::{BufReader, BufWriter};

/// Worker slots of the server under test.
const WORKERS: usize = 4;
/// Mean service time. Ten timer-grid steps: the grid moves the figures by < 0.2% (see
/// `the_timer_grid_moves_the_queue_by_less_than_half_a_percent`), and a short service time
/// means few simulation steps per request, so runs of a million requests fit in CI.
const SERVICE_MS: f64 = 10.0;
/// The quantile of the response time that is compared.
const QUANTILE: f64 = 0.99;
/// Relative error allowed wherever the run is precise enough to hold it.
const BOUND: f64 = 0.05;
/// Standard errors allowed where it is not (a standard error above `BOUND / 3`).
const SIGMAS: f64 = 3.0;
/// A run whose relative standard error exceeds this is too short to say anything.
const SE_MAX: f64 = 0.08;
/// Equal time sections of a run after the warm-up, for batch-means standard errors.
const SECTIONS: usize = 20;
/// Share of a run discarded as warm-up (the server starts empty and idle).
const WARMUP_FRACTION: f64 = 0.05;
/// Host index of the server in the scenarios below (hosts in file order, then `lg0`).
const SERVER: u16 = 0;

/// An engine and a mean service time to hold the queue to.
#[derive(Debug, Clone, Copy)]
struct Case {
    engine: Engine,
    service_us: u64,
}

/// The cases of `docs/fidelity.md`: turmoil with 10 ms services (its timer grid is 1 ms).
const TURMOIL: Case = Case { engine: Engine::Turmoil, service_us: SERVICE_MS as u64 * 1000 };
/// madsim with the same services.
const MADSIM: Case = Case { engine: Engine::Madsim, service_us: SERVICE_MS as u64 * 1000 };
/// madsim with 200 us services, which turmoil's 1 ms grid cannot resolve.
const MADSIM_FAST: Case = Case { engine: Engine::Madsim, service_us: 200 };

impl Case {
    fn service_ms(self) -> f64 {
        self.service_us as f64 / 1000.0
    }

    /// The unit response times are counted in: the timer grid's 1 ms on turmoil, 1 us on
    /// madsim (whose timers are exact).
    fn unit_ns(self) -> u64 {
        match self.engine {
            Engine::Turmoil => 1_000_000,
            Engine::Madsim => 1_000,
        }
    }
}

/// The M/M/c queue in steady state, times in ms. Formulas: Erlang C, e.g. Kleinrock,
/// *Queueing Systems* vol. 1 (1975) §3.5, or Harchol-Balter, *Performance Modeling and Design
/// of Computer Systems* (2013) ch. 14.
#[derive(Debug, Clone, Copy)]
struct Mmc {
    c: usize,
    lambda_per_ms: f64,
    mu_per_ms: f64,
}

impl Mmc {
    fn new(c: usize, rho: f64, service_ms: f64) -> Self {
        assert!(rho > 0.0 && rho < 1.0, "a stable queue needs 0 < rho < 1, got {rho}");
        Self { c, lambda_per_ms: rho * c as f64 / service_ms, mu_per_ms: 1.0 / service_ms }
    }

    /// Utilisation rho = lambda / (c mu).
    fn rho(&self) -> f64 {
        self.lambda_per_ms / (self.c as f64 * self.mu_per_ms)
    }

    /// P(wait) = C(c, a) with a = lambda / mu, from the Erlang B recursion
    /// B(k) = a B(k-1) / (k + a B(k-1)), B(0) = 1, and C = B / (1 - rho (1 - B)).
    fn p_wait(&self) -> f64 {
        let a = self.lambda_per_ms / self.mu_per_ms;
        let b = (1..=self.c).fold(1.0, |b, k| a * b / (k as f64 + a * b));
        b / (1.0 - self.rho() * (1.0 - b))
    }

    /// theta = c mu - lambda: a request that waits, waits Exp(theta); P(Wq > t) = C e^(-theta t).
    fn theta(&self) -> f64 {
        self.c as f64 * self.mu_per_ms - self.lambda_per_ms
    }

    /// Wq = C / (c mu - lambda).
    fn wq_ms(&self) -> f64 {
        self.p_wait() / self.theta()
    }

    /// W = Wq + 1 / mu.
    fn w_ms(&self) -> f64 {
        self.wq_ms() + 1.0 / self.mu_per_ms
    }

    /// P(W > t) for W = Wq + S, S ~ Exp(mu) independent of Wq (first come, first served):
    /// (1 - C) e^(-mu t) + C P(Exp(theta) + Exp(mu) > t), where the sum of two exponentials has
    /// the tail (theta e^(-mu t) - mu e^(-theta t)) / (theta - mu), or (1 + mu t) e^(-mu t) when
    /// theta = mu.
    fn response_tail(&self, t_ms: f64) -> f64 {
        let (mu, theta, c) = (self.mu_per_ms, self.theta(), self.p_wait());
        let both = if (theta - mu).abs() < 1e-9 * mu {
            (1.0 + mu * t_ms) * (-mu * t_ms).exp()
        } else {
            (theta * (-mu * t_ms).exp() - mu * (-theta * t_ms).exp()) / (theta - mu)
        };
        (1.0 - c) * (-mu * t_ms).exp() + c * both
    }

    /// The `q` quantile of W: the root of P(W > t) = 1 - q, by bisection (the tail decreases).
    fn response_quantile_ms(&self, q: f64) -> f64 {
        let mut hi = 1.0 / self.mu_per_ms;
        while self.response_tail(hi) > 1.0 - q {
            hi *= 2.0;
        }
        let mut lo = 0.0;
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.response_tail(mid) > 1.0 - q { lo = mid } else { hi = mid }
        }
        0.5 * (lo + hi)
    }
}

/// A first-come-first-served queue with `c` slots, one request at a time (Kiefer-Wolfowitz):
/// each request takes the slot that frees first. `serve` returns the request's wait.
struct Fcfs {
    free_at: Vec<f64>,
}

impl Fcfs {
    fn new(c: usize) -> Self {
        Self { free_at: vec![0.0; c] }
    }

    fn serve(&mut self, arrival: f64, service: f64) -> f64 {
        let (slot, free) = self
            .free_at
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::INFINITY), |best, (i, f)| if f < best.1 { (i, f) } else { best });
        let start = free.max(arrival);
        self.free_at[slot] = start + service;
        start - arrival
    }
}

/// Response times, with their sums for means; the histogram counts whole units of the case.
#[derive(Debug, Clone, Default)]
struct Section {
    /// One unit of the histogram, ms.
    unit_ms: f64,
    requests: u64,
    response_ms: f64,
    /// Integral of the `queue` gauge over the section, request-ms: the waits spent in it.
    waiting_ms: f64,
    /// Integral of the `inflight` gauge, request-ms: the response times spent in it.
    present_ms: f64,
    /// Requests by response time, whole units.
    histogram: Vec<u64>,
}

impl Section {
    fn new(unit_ns: u64) -> Self {
        Section { unit_ms: unit_ns as f64 / 1e6, ..Section::default() }
    }

    /// Counts one response of `response_ns`, to the nearest unit in the histogram.
    fn add(&mut self, response_ns: u64, unit_ns: u64) {
        self.requests += 1;
        self.response_ms += response_ns as f64 / 1e6;
        let i = ((response_ns + unit_ns / 2) / unit_ns) as usize;
        if self.histogram.len() <= i {
            self.histogram.resize(i + 1, 0);
        }
        self.histogram[i] += 1;
    }

    fn merge(&mut self, other: &Section) {
        self.unit_ms = other.unit_ms;
        self.requests += other.requests;
        self.response_ms += other.response_ms;
        self.waiting_ms += other.waiting_ms;
        self.present_ms += other.present_ms;
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a += b;
        }
    }

    /// Mean wait by Little's law on the sample path: the integral of the number waiting equals
    /// the sum of the waits.
    fn wq_ms(&self) -> f64 {
        self.waiting_ms / self.requests as f64
    }

    fn w_ms(&self) -> f64 {
        self.response_ms / self.requests as f64
    }

    /// The realised mean service time, by Little's law on the slots in use.
    fn service_ms(&self) -> f64 {
        (self.present_ms - self.waiting_ms) / self.requests as f64
    }

    /// The `q` quantile, reading a whole-ms value k as spread evenly over (k - 1/2, k + 1/2]:
    /// the grid rounds response times up or down without bias, so this recovers the
    /// continuous quantile (to 0.1%, see the quantisation test) where the raw whole-ms
    /// quantile would be off by up to half a step.
    fn quantile_ms(&self, q: f64) -> f64 {
        quantile_of_histogram(&self.histogram, q) * self.unit_ms
    }
}

fn quantile_of_histogram(histogram: &[u64], q: f64) -> f64 {
    let target = q * histogram.iter().sum::<u64>() as f64;
    let mut below = 0.0;
    for (k, &n) in histogram.iter().enumerate() {
        let n = n as f64;
        if n > 0.0 && below + n >= target {
            return k as f64 - 0.5 + (target - below) / n;
        }
        below += n;
    }
    panic!("quantile of an empty histogram")
}

/// The figures of one run, pooled over its sections, with relative standard errors.
struct Measured {
    pooled: Section,
    /// Relative standard errors of Wq, W, the quantile (batch means over the sections).
    se: [f64; 3],
    seconds: f64,
    warmup_seconds: f64,
}

fn relative_se(values: &[f64], pooled: f64) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt() / pooled
}

fn scale() -> u64 {
    std::env::var("FAULTLINE_FIDELITY_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// One echo server with `workers` slots and exponential service times, fed Poisson arrivals
/// by 50 users; nothing times out, nothing is shed.
fn scenario(workers: usize, rate: f64, seconds: u64, service_us: u64) -> Scenario {
    let text = format!(
        r#"
name = "mmc"
duration = "{seconds}s"
window = "60s"
[network]
latency = "1ms"
[[hosts]]
name = "server"
service = "echo"
workers = {workers}
queue_limit = 100000000
service_time = {{ exponential = "{service_us}us" }}
[workload]
targets = ["server"]
users = 50
arrival = {{ poisson = {{ rate = {rate} }} }}
timeout = "1h"
"#
    );
    parse_str("fidelity.toml", &text).unwrap_or_else(|e| panic!("{}", e.report_lines().join("\n")))
}

/// Runs `scenario` and reads the server's side of it back from the trace: every request's
/// response time (arrival to reply at the server, so the network is not in it) and the
/// integrals of its `queue` and `inflight` gauges, in `SECTIONS` sections by arrival time
/// after the warm-up.
fn simulate(scenario: &Scenario, seed: u64, case: Case) -> Measured {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("trace.bin");
    let file = File::create(&path).expect("the trace file");
    let options = RunOptions {
        seed: Some(seed),
        trace: Some(Box::new(BufWriter::new(file))),
        record: RecordConfig { messages: false, ..RecordConfig::default() },
        engine: case.engine,
        ..RunOptions::default()
    };
    let unit_ns = case.unit_ns();
    let outcome = run(scenario, options).expect("the run completes");
    let end_ns = scenario.duration.get_ref().0.as_nanos() as u64;
    let warmup_ns = (end_ns as f64 * WARMUP_FRACTION) as u64;
    let section_of = |t_ns: u64| {
        (((t_ns - warmup_ns) as f64 / (end_ns - warmup_ns) as f64 * SECTIONS as f64) as usize).min(SECTIONS - 1)
    };
    let mut sections = vec![Section::new(unit_ns); SECTIONS];
    let mut last_sample_ns = [0, 0];
    let reader = TraceReader::new(BufReader::new(File::open(&path).expect("the trace"))).expect("a trace header");
    for record in reader {
        let record = record.expect("a readable trace");
        match record.event {
            Event::Served { host: SERVER, latency_ns, ok, .. } => {
                assert!(ok, "an echo never fails");
                if case.engine == Engine::Turmoil {
                    assert_eq!(latency_ns % 1_000_000, 0, "response times are whole ms on the timer grid");
                }
                let arrival_ns = record.t_ns - latency_ns;
                if arrival_ns >= warmup_ns {
                    sections[section_of(arrival_ns)].add(latency_ns, unit_ns);
                }
            }
            Event::Sample { host: SERVER, ref gauge, mean, .. } if gauge == "queue" || gauge == "inflight" => {
                // `mean` is the gauge's exact time-weighted mean since its last sample (on
                // turmoil every change happens on the 1 ms grid; on madsim at its own time).
                let g = usize::from(gauge == "inflight");
                let since_ns = last_sample_ns[g];
                if since_ns >= warmup_ns {
                    let integral = mean * (record.t_ns - since_ns) as f64 / 1e6;
                    let section = &mut sections[section_of(since_ns)];
                    if g == 0 { section.waiting_ms += integral } else { section.present_ms += integral }
                }
                last_sample_ns[g] = record.t_ns;
            }
            _ => {}
        }
    }
    assert_eq!(outcome.report.end_to_end.timeouts, 0, "nothing times out");
    let mut pooled = Section::new(unit_ns);
    sections.iter().for_each(|s| pooled.merge(s));
    let little = pooled.present_ms / pooled.requests as f64;
    assert!(
        (little / pooled.w_ms() - 1.0).abs() < 1e-3,
        "the gauges' integrals match the response times (Little's law on the sample path): {little} vs {} ms",
        pooled.w_ms()
    );
    let per = |f: &dyn Fn(&Section) -> f64| sections.iter().map(f).collect::<Vec<_>>();
    let se = [
        relative_se(&per(&Section::wq_ms), pooled.wq_ms()),
        relative_se(&per(&Section::w_ms), pooled.w_ms()),
        relative_se(&per(&|s| s.quantile_ms(QUANTILE)), pooled.quantile_ms(QUANTILE)),
    ];
    Measured { pooled, se, seconds: end_ns as f64 / 1e9, warmup_seconds: warmup_ns as f64 / 1e9 }
}

/// One row of a table: a figure, its analytic and simulated values, and the bound it meets.
struct Row {
    name: &'static str,
    analytic: f64,
    simulated: f64,
    /// Relative standard error of `simulated`.
    se: f64,
    /// The bound when the run is precise enough.
    floor: f64,
}

impl Row {
    fn error(&self) -> f64 {
        self.simulated / self.analytic - 1.0
    }
    fn bound(&self) -> f64 {
        self.floor.max(SIGMAS * self.se)
    }
}

fn table(title: &str, rows: &[Row]) -> String {
    let mut out = format!("{title}\n\n| figure | analytic | simulated | error | std. error | bound |\n");
    out += "| --- | ---: | ---: | ---: | ---: | ---: |\n";
    for r in rows {
        out += &format!(
            "| {} | {:.3} | {:.3} | {:+.2}% | {:.2}% | {:.1}% |\n",
            r.name,
            r.analytic,
            r.simulated,
            100.0 * r.error(),
            100.0 * r.se,
            100.0 * r.bound()
        );
    }
    out
}

/// Runs the M/M/c case at utilisation `rho` for `seconds` (times the scale) and holds each
/// figure to its bound.
fn check_mmc(case: Case, rho: f64, seed: u64, seconds: u64) {
    let model = Mmc::new(WORKERS, rho, case.service_ms());
    let rate = model.lambda_per_ms * 1000.0;
    let seconds = seconds * scale();
    let m = simulate(&scenario(WORKERS, rate, seconds, case.service_us), seed, case);
    let n = m.pooled.requests as f64;
    let expected = rate * (m.seconds - m.warmup_seconds);
    assert!((n - expected).abs() < 5.0 * expected.sqrt(), "{n} requests, {expected} expected: Poisson arrivals");
    let rows = [
        Row {
            name: "Wq, mean wait (ms)",
            analytic: model.wq_ms(),
            simulated: m.pooled.wq_ms(),
            se: m.se[0],
            floor: BOUND,
        },
        Row {
            name: "W, mean response (ms)",
            analytic: model.w_ms(),
            simulated: m.pooled.w_ms(),
            se: m.se[1],
            floor: BOUND,
        },
        Row {
            name: "p99 of W (ms)",
            analytic: model.response_quantile_ms(QUANTILE),
            simulated: m.pooled.quantile_ms(QUANTILE),
            se: m.se[2],
            floor: BOUND,
        },
    ];
    let title = format!(
        "M/M/{WORKERS} on {} at rho = {rho} (lambda = {rate:.0}/s, mean service {} ms, P(wait) = {:.4}): seed {seed}, \
         {seconds} s simulated, {} requests after a {:.0} s warm-up (realised: {:.2}/s, mean service {:.3} ms)",
        case.engine.name(),
        case.service_ms(),
        model.p_wait(),
        m.pooled.requests,
        m.warmup_seconds,
        n / (m.seconds - m.warmup_seconds),
        m.pooled.service_ms()
    );
    println!("{}", table(&title, &rows));
    let reproduce = format!(
        "reproduce: cargo nextest run -p faultline-sim --test it fidelity::mm4_ --no-capture (rho {rho}, {case:?})"
    );
    for r in &rows {
        assert!(r.se < SE_MAX, "{}: standard error {:.2}% is too large to judge; {reproduce}", r.name, 100.0 * r.se);
        assert!(
            r.error().abs() <= r.bound(),
            "{}: simulated {:.3} vs analytic {:.3} ({:+.2}%, bound {:.1}%); {reproduce}",
            r.name,
            r.simulated,
            r.analytic,
            100.0 * r.error(),
            100.0 * r.bound()
        );
    }
}

#[test]
fn erlang_c_agrees_with_known_cases() {
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: {a} vs {b}");
    // M/M/1: C = rho, W ~ Exp(mu - lambda).
    let mm1 = Mmc::new(1, 0.5, 10.0);
    close(mm1.p_wait(), 0.5, "M/M/1 P(wait)");
    close(mm1.wq_ms(), 10.0, "M/M/1 Wq");
    close(mm1.w_ms(), 20.0, "M/M/1 W");
    close(mm1.response_tail(30.0), (-30.0f64 / 20.0).exp(), "M/M/1 P(W > 30 ms)");
    close(mm1.response_quantile_ms(0.99), 20.0 * 100f64.ln(), "M/M/1 p99");
    // M/M/2 with a = 1 Erlang: C = 1/3; M/M/4 with a = 3: C = 27/53 (and theta = mu there).
    close(Mmc::new(2, 0.5, 1.0).p_wait(), 1.0 / 3.0, "M/M/2 P(wait)");
    let at_theta_mu = Mmc::new(4, 0.75, 10.0);
    close(at_theta_mu.p_wait(), 27.0 / 53.0, "M/M/4 P(wait)");
    let near = Mmc::new(4, 0.75 + 1e-6, 10.0);
    assert!((at_theta_mu.response_tail(40.0) - near.response_tail(40.0)).abs() < 1e-6, "the theta = mu limit");
    let p99 = Mmc::new(WORKERS, 0.9, SERVICE_MS).response_quantile_ms(0.99);
    close(Mmc::new(WORKERS, 0.9, SERVICE_MS).response_tail(p99), 0.01, "the p99 solves P(W > t) = 1%");
}

/// Wq, W and the p99 of W of one queue, ms.
type Figures = [f64; 3];

/// Drives three copies of the M/M/4 queue with the same random numbers: continuous time; on
/// the 1 ms grid as the simulator runs it (each arrival rounded up to the grid by the load
/// generator's timer, each service dithered as the server does); and on the grid without the
/// dither (every service rounded up, as the server did before). Returns their figures.
fn discretised_queues(rho: f64, requests: usize, seed: u64) -> [Figures; 3] {
    let model = Mmc::new(WORKERS, rho, SERVICE_MS);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut exp = move || -(1.0 - rng.random::<f64>()).ln();
    let mut dither = ChaCha8Rng::seed_from_u64(seed ^ 0xD1);
    let mut queues = [Fcfs::new(WORKERS), Fcfs::new(WORKERS), Fcfs::new(WORKERS)];
    let (mut continuous, mut continuous_ms) = (Section::default(), Vec::with_capacity(requests));
    let mut grid = [Section::new(1_000_000), Section::new(1_000_000)];
    let (mut t, warmup) = (0.0, requests / 20);
    for i in 0..requests + warmup {
        t += exp() / model.lambda_per_ms;
        let service = exp() * SERVICE_MS;
        let u: f64 = dither.random();
        let wait = queues[0].serve(t, service);
        let grid_services = [(service - u).max(0.0).ceil(), service.ceil()];
        for (k, service) in grid_services.into_iter().enumerate() {
            let wait = queues[k + 1].serve(t.ceil(), service);
            if i >= warmup {
                // Whole ms: arrivals, services and so every slot's free time are on the grid.
                grid[k].add((wait + service).round() as u64 * 1_000_000, 1_000_000);
                grid[k].waiting_ms += wait;
            }
        }
        if i >= warmup {
            continuous.requests += 1;
            continuous.response_ms += wait + service;
            continuous.waiting_ms += wait;
            continuous_ms.push(wait + service);
        }
    }
    let at = ((QUANTILE * requests as f64) as usize).min(requests - 1);
    let p99 = *continuous_ms.select_nth_unstable_by(at, f64::total_cmp).1;
    let figures = |s: &Section| [s.wq_ms(), s.w_ms(), s.quantile_ms(QUANTILE)];
    [[continuous.wq_ms(), continuous.w_ms(), p99], figures(&grid[0]), figures(&grid[1])]
}

#[test]
fn the_timer_grid_moves_the_queue_by_less_than_half_a_percent() {
    for (rho, seed) in [(0.5, 5), (0.95, 6)] {
        let [continuous, dithered, rounded_up] = discretised_queues(rho, 2_000_000, seed);
        let names = ["Wq (ms)", "W (ms)", "p99 of W (ms)"];
        let mut out = format!(
            "The 1 ms grid at rho = {rho}, M/M/{WORKERS}, mean service {SERVICE_MS} ms, 2,000,000 requests, same random numbers\n\n"
        );
        out += "| figure | continuous | grid, dithered (server now) | grid, rounded up (server before) |\n";
        out += "| --- | ---: | ---: | ---: |\n";
        for i in 0..3 {
            let err = |x: f64| 100.0 * (x / continuous[i] - 1.0);
            out += &format!(
                "| {} | {:.3} | {:.3} ({:+.2}%) | {:.3} ({:+.1}%) |\n",
                names[i],
                continuous[i],
                dithered[i],
                err(dithered[i]),
                rounded_up[i],
                err(rounded_up[i])
            );
        }
        println!("{out}");
        for i in 0..3 {
            let err = dithered[i] / continuous[i] - 1.0;
            assert!(err.abs() < 0.005, "{} at rho {rho}: the grid moves it by {:+.3}%", names[i], 100.0 * err);
        }
        // Rounding every service up makes it 0.5 ms longer: 5% more load, which the queue magnifies.
        assert!(rounded_up[0] > continuous[0] * 1.1, "rounding up shows at rho {rho}: {rounded_up:?}");
    }
}

#[test]
fn service_times_keep_their_mean_on_the_timer_grid() {
    // 64 slots at 500 requests/s of 10 ms: 5 busy on average, P(wait) < 1e-30. The response
    // time is the service time alone.
    let (workers, rate, seed) = (64, 500.0, 10);
    let m = simulate(&scenario(workers, rate, 300 * scale(), TURMOIL.service_us), seed, TURMOIL);
    let model = Mmc::new(workers, rate / 1000.0 * SERVICE_MS / workers as f64, SERVICE_MS);
    assert!(model.p_wait() < 1e-30);
    // Tighter than BOUND: rounding every service up would make it 0.5 ms (5%) longer.
    let floor = 0.01;
    let rows = [
        Row { name: "mean service (ms)", analytic: SERVICE_MS, simulated: m.pooled.w_ms(), se: m.se[1], floor },
        Row {
            name: "p99 of service (ms)",
            analytic: SERVICE_MS * 100f64.ln(),
            simulated: m.pooled.quantile_ms(QUANTILE),
            se: m.se[2],
            floor,
        },
    ];
    let title = format!(
        "Service time alone ({workers} slots, exponential {SERVICE_MS} ms, {rate}/s): seed {seed}, {} requests",
        m.pooled.requests
    );
    println!("{}", table(&title, &rows));
    assert_eq!(m.pooled.waiting_ms, 0.0, "nothing waits");
    for r in &rows {
        assert!(r.error().abs() <= r.bound(), "{}: {:.3} vs {:.3} ms", r.name, r.simulated, r.analytic);
    }
}

#[test]
fn mm4_at_50_percent_matches_erlang_c() {
    check_mmc(TURMOIL, 0.5, 50, 3400);
}

#[test]
fn mm4_at_70_percent_matches_erlang_c() {
    check_mmc(TURMOIL, 0.7, 70, 3000);
}

#[test]
fn mm4_at_90_percent_matches_erlang_c() {
    check_mmc(TURMOIL, 0.9, 90, 2800);
}

#[test]
fn mm4_at_95_percent_matches_erlang_c() {
    check_mmc(TURMOIL, 0.95, 95, 3400);
}

#[test]
fn mm4_at_90_percent_matches_erlang_c_on_madsim() {
    check_mmc(MADSIM, 0.9, 90, 2800);
}

/// Services of 200 us: on turmoil's 1 ms grid each takes 0 or 1 ms (its mean kept by the
/// dither, its distribution not); madsim's exact timers hold the queue to Erlang C.
#[test]
fn mm4_with_200us_services_matches_erlang_c_on_madsim() {
    check_mmc(MADSIM_FAST, 0.7, 7, 60);
}

#[test]
fn mm4_with_200us_services_at_95_percent_matches_erlang_c_on_madsim() {
    check_mmc(MADSIM_FAST, 0.95, 95, 70);
}
