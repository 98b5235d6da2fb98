//! The `faultline` package as a library: what the CLI and the criterion benches share.
//!
//! - [`bench`]: the closed-loop echo workload run three ways (raw turmoil, Faultline, a bare
//!   discrete-event loop), used by `faultline bench` and `benches/echo.rs`.

pub mod bench;
