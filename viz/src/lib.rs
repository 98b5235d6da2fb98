//! The Faultline replay GUI: a seeded run, scrubbed through time.
//!
//! Not built yet; see `viz/README.md`. When it lands, each panel is a struct with
//! `ui(&mut self, ui)` over a replay state built from a trace (`faultline_chaos::trace`) and a
//! report (`faultline_chaos::report`), testable without a window.
//!
//! Architecture invariant: this crate depends on `faultline-chaos` alone: never on
//! `faultline-sim`, `faultline-models`, turmoil or madsim.
