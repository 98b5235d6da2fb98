//! `faultline run`: one scenario, one seed, a report.
//!
//! It also owns [`simulate`], the one way every command runs a simulation, and with it the last
//! line of defence: a panic anywhere inside a simulation (the engine, a model, a task a host
//! spawned) is caught and becomes [`Failure::Internal`] with the panic's message and place, and
//! the command prints the line that reproduces it and exits 4. Nothing here decides anything a
//! run does; it must not print for a run that does not panic.

use super::{fail, load};
use crate::cli::Format;
use crate::exit::Exit;
use faultline_chaos::report::Verdict;
use faultline_chaos::trace::codec::TraceError;
use faultline_sim::swarm::Faults;
use faultline_sim::{Engine, Plant, RunError, RunOptions, RunOutcome, TraceOut};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::BufWriter;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

/// The command that reproduces a run exactly.
pub fn reproduce(file: &Path, seed: u64) -> String {
    reproduce_with(file, seed, &Variant::default())
}

/// How a run differs from its scenario's own: faults a swarm draws on top, a bug planted in
/// the models (for tests of the checks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    /// Draw faults from the seed (`--swarm`).
    pub swarm: bool,
    /// The bug planted (`--plant NAME`, hidden).
    pub plant: Option<Plant>,
    /// The engine (`--engine NAME`).
    pub engine: Engine,
}

impl Variant {
    /// The faults such a run applies.
    pub fn faults(&self) -> Faults {
        if self.swarm { Faults::Swarm } else { Faults::Scripted }
    }

    /// The same without the swarm: how a file with the drawn faults scripted in it runs.
    pub fn scripted(&self) -> Variant {
        Variant { swarm: false, ..*self }
    }

    /// The flags that ask for it: ` --swarm --plant NAME --engine NAME`, or nothing.
    pub fn flags(&self) -> String {
        let swarm = if self.swarm { " --swarm" } else { "" };
        let plant = self.plant.map(|p| format!(" --plant {p}")).unwrap_or_default();
        let engine =
            if self.engine == Engine::default() { String::new() } else { format!(" --engine {}", self.engine.name()) };
        format!("{swarm}{plant}{engine}")
    }
}

/// The command that reproduces a run of `variant` exactly.
pub fn reproduce_with(file: &Path, seed: u64, variant: &Variant) -> String {
    format!("faultline run {} --seed {seed}{}", file.display(), variant.flags())
}

/// The command that replays a run of `variant` in the GUI.
pub fn replay_line(file: &Path, seed: u64, variant: &Variant) -> String {
    format!("faultline replay {} --seed {seed}{}", file.display(), variant.flags())
}

/// Why a simulation gave no outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The trace could not be written where it was asked for: bad input (exit 2).
    Output(String),
    /// The simulator failed: it panicked, or a host's software returned an error. Nothing was
    /// judged (exit 4).
    Internal(String),
}

impl Failure {
    /// The exit code this failure ends a command with.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Output(_) => Exit::BadInput,
            Failure::Internal(_) => Exit::Internal,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Output(message) => write!(f, "{message}"),
            Failure::Internal(message) => write!(f, "internal error: {message}"),
        }
    }
}

thread_local! {
    /// Whether this thread is running a simulation: its panics are caught and reported by
    /// [`guarded`], so the panic hook keeps quiet about them.
    static IN_SIMULATION: Cell<bool> = const { Cell::new(false) };
    /// The first panic of the simulation running on this thread: its message and place.
    static FIRST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that records a simulation's panics for
/// [`guarded`] instead of printing them; a panic anywhere else is printed as before.
fn install_hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_SIMULATION.with(Cell::get) {
                return previous(info);
            }
            let place = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()));
            let described = format!("{}{}", payload_text(info.payload()), place.unwrap_or_default());
            FIRST_PANIC.with(|first| {
                first.borrow_mut().get_or_insert(described);
            });
        }));
    });
}

/// A panic payload's message.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (None, Some(s)) => s.clone(),
        (None, None) => "a panic without a message".to_string(),
    }
}

/// Runs `simulation` on this thread, turning a panic inside it into [`Failure::Internal`].
///
/// A panic that tokio caught inside a host's task (the task died, the run went on) is an
/// internal error too: the run's outcome would be that of a world with a piece missing.
pub fn guarded<T>(simulation: impl FnOnce() -> Result<T, RunError>) -> Result<T, Failure> {
    install_hook();
    let outer = IN_SIMULATION.with(|flag| flag.replace(true));
    let earlier = FIRST_PANIC.with(|first| first.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(simulation));
    IN_SIMULATION.with(|flag| flag.set(outer));
    let first = FIRST_PANIC.with(|first| std::mem::replace(&mut *first.borrow_mut(), earlier));
    match (result, first) {
        (Err(payload), first) => {
            let what = first.unwrap_or_else(|| payload_text(payload.as_ref()));
            Err(Failure::Internal(format!("the simulation panicked: {what}")))
        }
        (Ok(_), Some(first)) => {
            Err(Failure::Internal(format!("a task inside the simulation panicked and the run went on: {first}")))
        }
        (Ok(Ok(outcome)), None) => Ok(outcome),
        // An engine this build lacks, or one the scenario needs what it has not: bad usage.
        (Ok(Err(RunError::Engine(message))), None) => Err(Failure::Output(message)),
        (Ok(Err(RunError::Trace(TraceError::Io(e)))), None) => Err(Failure::Output(format!("writing the trace: {e}"))),
        // The header lists the file's hosts, links and objectives: only a scenario of a size
        // no validation rule bounds (megabytes of them) makes it too large.
        (Ok(Err(RunError::Trace(TraceError::TooLarge { what: "header", len, cap, .. }))), None) => {
            Err(Failure::Output(format!(
                "the run's header (hosts, links, objectives) takes {len} bytes, over the trace format's {cap}; expected a smaller scenario"
            )))
        }
        // Any other trace error is the simulator's: it recorded something it should not have.
        (Ok(Err(e)), None) => Err(Failure::Internal(e.to_string())),
    }
}

/// Runs a loaded scenario once with its scripted faults (see [`simulate_with`]).
pub fn simulate(
    scenario: &faultline_sim::scenario::Scenario,
    seed: Option<u64>,
    trace: Option<&Path>,
) -> Result<RunOutcome, Failure> {
    simulate_with(scenario, seed, trace, Faults::Scripted, None, Engine::default())
}

/// Runs a loaded scenario once, with an optional trace file, the faults `faults` chooses and
/// the bug `plant` planted (tests of the checks only); the checks the scenario expects to fail
/// are marked in its report (see `Report::expect_failures`).
pub fn simulate_with(
    scenario: &faultline_sim::scenario::Scenario,
    seed: Option<u64>,
    trace: Option<&Path>,
    faults: Faults,
    plant: Option<Plant>,
    engine: Engine,
) -> Result<RunOutcome, Failure> {
    let trace: Option<TraceOut> = match trace {
        Some(path) => {
            let f =
                File::create(path).map_err(|e| Failure::Output(format!("cannot create {}: {e}", path.display())))?;
            Some(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
        None => None,
    };
    simulate_into(scenario, seed, trace, faults, plant, engine)
}

/// Runs a loaded scenario once as [`simulate_with`] does, its trace written to `trace` (a
/// reader of the run's own records: `compare`'s latencies).
pub fn simulate_into(
    scenario: &faultline_sim::scenario::Scenario,
    seed: Option<u64>,
    trace: Option<TraceOut>,
    faults: Faults,
    plant: Option<Plant>,
    engine: Engine,
) -> Result<RunOutcome, Failure> {
    let options = RunOptions { seed, trace, faults, plant, engine, ..RunOptions::default() };
    let mut outcome = guarded(|| faultline_sim::run(scenario, options))?;
    let expected: Vec<String> = scenario.expected_failures.iter().map(|n| n.get_ref().trim().to_string()).collect();
    outcome.report.expect_failures(&expected);
    Ok(outcome)
}

/// Prints why a run gave no outcome, with `reproduce` (the line that reproduces it), and says
/// how the command ends.
pub fn failed(failure: &Failure, reproduce: &str) -> Exit {
    eprintln!("error: the run failed: {failure}");
    eprintln!("reproduce: {reproduce}");
    failure.exit()
}

pub fn run(file: &Path, seed: Option<u64>, out: Option<&Path>, format: Format, variant: Variant) -> Exit {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    if let Some(dir) = out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(&format!("cannot create {}", dir.display()), e);
    }
    let seed_used = seed.unwrap_or(scenario.seed);
    if format == Format::Text {
        outln!("faultline run: scenario {:?}, seed {seed_used}", scenario.name);
        outln!("reproduce: {}", reproduce_with(file, seed_used, &variant));
    }
    let trace = out.map(|d| d.join("trace.fltrace"));
    let outcome =
        match simulate_with(&scenario, seed, trace.as_deref(), variant.faults(), variant.plant, variant.engine) {
            Ok(o) => o,
            Err(failure) => return failed(&failure, &reproduce_with(file, seed_used, &variant)),
        };
    let json = serde_json::to_string_pretty(&outcome.report).expect("reports serialize");
    let text = outcome.report.render_text();
    if let Some(dir) = out {
        for (name, body) in [("report.json", &json), ("report.txt", &text)] {
            if let Err(e) = std::fs::write(dir.join(name), body) {
                return fail(&format!("cannot write {}", dir.join(name).display()), e);
            }
        }
    }
    match format {
        Format::Text => outln!("{}", text.trim_end()),
        Format::Json => outln!("{json}"),
    }
    let verdict = outcome.report.verdict();
    if verdict != Verdict::Pass {
        eprintln!("reproduce: {}", reproduce_with(file, seed_used, &variant));
    }
    Exit::from_verdict(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn internal(result: Result<u32, Failure>) -> String {
        match result {
            Err(Failure::Internal(message)) => message,
            other => panic!("expected an internal error, got {other:?}"),
        }
    }

    #[test]
    fn a_panic_in_a_simulation_is_an_internal_error_with_its_message_and_place() {
        let message = internal(guarded(|| -> Result<u32, RunError> { panic!("server socket buffer full") }));
        assert!(message.starts_with("the simulation panicked: server socket buffer full at "), "{message}");
        assert!(message.contains("src/cmd/run.rs:"), "{message}");
        let formatted = internal(guarded(|| -> Result<u32, RunError> { panic!("step {}", 7) }));
        assert!(formatted.starts_with("the simulation panicked: step 7 at "), "{formatted}");
        assert_eq!(Failure::Internal(message).exit(), Exit::Internal);
    }

    #[test]
    fn a_panic_caught_inside_the_simulation_still_fails_the_run() {
        let result = guarded(|| {
            let swallowed = panic::catch_unwind(|| panic!("a task died"));
            assert!(swallowed.is_err());
            Ok(5)
        });
        let message = internal(result);
        assert!(message.starts_with("a task inside the simulation panicked and the run went on: a task died"));
    }

    #[test]
    fn runs_without_a_panic_pass_through() {
        assert_eq!(guarded(|| Ok(3)), Ok(3));
        let host = RunError::Host { at: Duration::from_millis(5), message: "bind: address in use".into() };
        let message = internal(guarded(|| Err(host)));
        assert!(message.contains("bind: address in use"), "{message}");
        let io = std::io::Error::other("disk full");
        let trace = guarded(|| -> Result<u32, RunError> { Err(RunError::Trace(io.into())) });
        assert!(matches!(&trace, Err(Failure::Output(m)) if m.contains("disk full")), "{trace:?}");
        assert_eq!(trace.unwrap_err().exit(), Exit::BadInput);
        let header = TraceError::TooLarge { offset: 10, what: "header", len: 17 << 20, cap: 16 << 20 };
        let too_large = guarded(|| -> Result<u32, RunError> { Err(RunError::Trace(header)) });
        assert!(matches!(&too_large, Err(Failure::Output(m)) if m.contains("17825792 bytes")), "{too_large:?}");
        let order = TraceError::OutOfOrder { t_ns: 6, previous_ns: 1_000_000 };
        let out_of_order = guarded(|| -> Result<u32, RunError> { Err(RunError::Trace(order)) });
        assert!(matches!(out_of_order, Err(Failure::Internal(_))), "the simulator's own mistake");
    }

    #[test]
    fn one_panic_does_not_leak_into_the_next_run() {
        let _ = guarded(|| -> Result<u32, RunError> { panic!("first") });
        assert_eq!(guarded(|| Ok(1)), Ok(1));
        let nested = guarded(|| {
            let inner = guarded(|| -> Result<u32, RunError> { panic!("inner") });
            assert!(matches!(inner, Err(Failure::Internal(_))));
            Ok(2)
        });
        assert_eq!(nested, Ok(2), "a panic caught and reported by an inner run is not the outer run's");
    }
}
