//! The vocabulary of a Faultline run and how it is judged.
//!
//! - [`trace`]: the events a run records ([`trace::Event`]), the run's [`trace::Header`], and
//!   the versioned binary codec (streaming writer with bounded memory, reader, hash).
//! - [`fault`]: faults as plain data that know their hosts, their undo and their text.
//! - [`nemesis`]: scripted faults -> the time-ordered schedule of a run (pure).
//! - [`swarm`]: faults drawn from a seed within what a scenario allows (swarm testing), and
//!   [`shrink`]: a failing schedule cut down to what the failure needs (both pure).
//! - [`slo`]: service-level objectives as data.
//! - [`check`]: invariants of the data tier over a run's history (lost writes and RPO,
//!   read-your-writes, staleness, one primary per epoch, RTO), and what they are judged against.
//! - [`lin`]: the linearizability checker for register histories, and their Jepsen EDN form.
//! - [`report`]: the judgement of a run, computed from its trace alone: latency percentiles per
//!   service and per window (HDR histograms), availability, error budget, SLO verdicts,
//!   Little's law cross-checks, the fault timeline and the trace hash.
//!
//! Architecture invariant: this crate imports none of Faultline's other crates but the
//! `faultline-vocab` leaf of shared names, and does no I/O beyond reading and writing the
//! trace stream it is handed. A checker is a function over recorded events, so it can be
//! property-tested in microseconds and the GUI can read traces without turmoil.
//!
//! Extension points: a trace event kind is one variant of [`trace::Event`] (and its text form
//! in `trace::text`); a fault kind is one variant of [`fault::Fault`]; a check is one function
//! in `report` that pushes a [`report::Check`], or, for the data tier, a measure over the
//! [`check::history::History`] with its verdict in `check::verdict`.

pub mod check;
pub mod fault;
pub mod lin;
pub mod nemesis;
pub mod report;
pub mod shrink;
pub mod slo;
pub mod swarm;
pub mod trace;

/// The names models publish and this crate reads back (gauges, state keys, roles, knobs).
pub use faultline_vocab as vocab;
