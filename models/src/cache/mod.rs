//! The cache tier: the Redis-protocol L2 server and its client, the L1 in-process cache and
//! its stampede protection, and the framed-protocol cache node the app speaks today.
//!
//! - [`resp`]: RESP2 frames, the request parser (multibulk and inline) and the reply encoder,
//!   as a [`crate::server::Codec`] that answers in order on each connection.
//! - [`client`]: a pipelined RESP client on the seam.
//! - [`engine`]: the L2 keyspace and its commands (strings, expiry, eviction under a memory
//!   limit, INFO, CONFIG, CL.THROTTLE); pure: time and randomness are passed in.
//! - [`l1`]: the in-process cache (W-TinyLFU or LRU admission, TTL), single-flight and XFetch.
//! - [`framed`]: the cache node over the framed protocol (LRU by entry count).
//!
//! This module must not know what is cached or where it came from: that is the app's business.

pub mod client;
pub mod engine;
pub mod framed;
pub mod l1;
pub mod resp;

pub use framed::{Cache, CacheConfig, CacheNode};
