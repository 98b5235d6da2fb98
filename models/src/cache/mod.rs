//! The cache tier: the Redis-protocol L2 server and its client, the L1 in-process cache and
//! its stampede protection, and the tier an app reads through.
//!
//! - [`resp`]: RESP2 frames, the request parser (multibulk and inline) and the reply encoder,
//!   as a [`crate::server::Codec`] that answers in order on each connection.
//! - [`aside`]: the tier as an app uses it: L1, then the sharded L2 nodes, then the loader;
//!   stampede protection, early refresh, invalidation or write-through.
//! - [`client`]: a pipelined RESP client on the seam.
//! - [`engine`]: the L2 keyspace and its commands (strings, expiry, eviction under a memory
//!   limit, INFO, CONFIG, CL.THROTTLE); pure: time and randomness are passed in.
//! - [`node`]: the L2 server: the engine behind the RESP codec, with its expiry cycle.
//! - [`l1`]: the in-process cache (W-TinyLFU or LRU admission, TTL), single-flight and XFetch.
//!
//! This module must not know what is cached or where it came from: that is the app's business.

pub mod aside;
pub mod client;
pub mod engine;
pub mod l1;
pub mod node;
pub mod resp;
