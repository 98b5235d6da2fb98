//! Faultline's real components: the libraries a service would use in production, which
//! Faultline runs inside its simulated world.
//!
//! Architecture invariant: this crate knows nothing of simulation. It never imports
//! `faultline-sim`, `faultline-chaos`, `faultline-viz`, turmoil or madsim. Everything from the
//! outside world (network, clock, randomness, disk) comes through [`seam::Env`], so the same
//! code runs on real sockets ([`seam::TokioEnv`]) and inside the simulation.
//!
//! Adding a model: a module here with a [`server::Handler`] (or a client type) generic over
//! `E: Env`, unit tests in the module, then a service kind in `faultline-sim`'s scenario and
//! world that starts it on a host.

pub mod app;
pub mod cache;
pub mod client;
pub mod echo;
pub mod failover;
pub mod kv;
pub mod lock;
pub mod pool;
pub mod proto;
pub mod router;
pub mod seam;
pub mod server;
#[cfg(test)]
pub(crate) mod testenv;
