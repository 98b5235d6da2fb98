//! The command line's integration tests, one module a subject, built as one binary
//! (`--test it`): a test is `<module>::<name>`, e.g. `cargo nextest run --test it stages::`.

mod util;

mod bad_input;
mod capacity;
mod check_determinism;
mod check_history;
mod compare;
mod compare_html;
mod gui;
mod layout;
mod plan;
mod run;
mod schema;
mod serve_app;
mod serve_cache;
mod stages;
mod swarm;
mod sweep;
mod sweep_junit;
mod sweep_out;
mod sweep_shard;
mod trace;
