//! Faultline's real components: the libraries a service would use in production, which
//! Faultline runs inside its simulated world.
//!
//! Architecture invariant: this crate knows nothing of simulation. It never imports
//! `faultline-sim`, `faultline-chaos`, `faultline-viz`, turmoil or madsim. Everything from the
//! outside world (network, clock, randomness, disk) comes through [`seam::Env`], so the same
//! code runs on real sockets ([`seam::TokioEnv`]) and inside the simulation.
//!
//! Adding a model: a module here with a type that implements [`server::Handler`] for every
//! `E: Env` (or a client type), built by a constructor and served by the one
//! [`server::serve`]`(env, port or listener, capacity, model)`, which brings the queueing
//! model (worker slots, queue, service time, connection limits, gauges, served reports). The
//! handler names its protocol: [`proto::Framed`] over a message family the model owns (an enum
//! with a `wire_messages!` table of its tags and a [`proto::Family`] impl, as `echo::EchoMsg`;
//! a model that serves another's API imports that family, as the app does the kv store's
//! [`kv::api::Msg`]), or a [`server::Codec`] of its own (RESP, HTTP/1.1: replies in order per
//! connection). Unit tests go in the module; then a kind file in `faultline-sim`'s `services/`
//! folder, registered in its `mod.rs`, starts it on a host (see `docs/architecture.md`,
//! "Extension points").

pub mod app;
pub mod autoscale;
pub mod breaker;
pub mod cache;
pub mod cdn;
pub mod client;
pub mod deploy;
pub mod dns;
pub mod echo;
pub mod failover;
pub mod http;
pub mod kv;
pub mod lb;
pub mod lock;
pub mod payment;
pub mod pool;
pub mod proto;
pub mod queue;
pub mod ratelimit;
pub mod region;
pub mod retry;
pub mod router;
pub mod seam;
pub mod server;
pub mod service;
pub mod shard;
#[cfg(test)]
pub(crate) mod testenv;
