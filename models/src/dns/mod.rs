//! DNS with health-checked routing, and the clients that cache its answers: how an
//! active-passive (or nearest-region) architecture sends users to a region, and why a
//! failover reaches them as a long tail rather than a step at the TTL.
//!
//! - [`api`]: the protocol (a query names the client's region; an answer carries a TTL);
//! - [`zone`]: the records and their routing policies (failover, nearest);
//! - [`server`]: the server, which health-checks the endpoints and answers from their health;
//! - [`resolver`]: a client's cache, honouring, extending or pinning answers;
//! - [`client`]: one query.
//!
//! The protocol is the framed one every model speaks, not RFC 1035's: what matters here is
//! what an answer says and how long it is kept, not its bytes.

pub mod api;
pub mod client;
pub mod resolver;
pub mod server;
pub mod zone;

#[cfg(test)]
mod tests;

pub use api::DnsMsg;
pub use client::{DnsClient, LookupError};
pub use resolver::{Caching, Resolver};
pub use server::{DnsConfig, DnsServer};
pub use zone::{Endpoint, Policy, Record, Zone};
