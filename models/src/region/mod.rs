//! Multi-region building blocks: hybrid logical clocks ([`hlc`]), the last-writer-wins map
//! ([`lww`]) and the PN-counter ([`counter`]) that resolve concurrent writes without
//! coordination, and the active-active store node that uses them ([`node`]): every region
//! accepts writes and ships them to the others over its peer protocol ([`api`]), keeping what
//! it applied in a journal ([`journal`]) and its bookkeeping in [`state`].
//!
//! Must not: know the simulation, or which region a client is near (the caller routes).

pub mod api;
pub mod counter;
pub mod hlc;
mod journal;
pub mod lww;
pub mod node;
mod state;
#[cfg(test)]
mod tests;

pub use node::{GeoConfig, GeoNode, GeoPeer, PEER_PORT, PeerPort};
