//! A CDN edge: an HTTP caching reverse proxy in front of an origin, honouring the origin's
//! `Cache-Control` as a shared cache does (RFC 9111, with RFC 5861's `stale-while-revalidate`
//! and `stale-if-error`), with request collapsing and purges.
//!
//! - [`cache_control`]: the response directives and what they allow a shared cache (pure).
//! - [`store`]: the edge's bytes-bounded LRU of responses, and their freshness at a time
//!   (pure: time comes in as `now`).
//! - [`edge`]: the host that serves clients from the store and fetches from the origin over a
//!   keep-alive client, on the seam.
//!
//! Architecture invariant: only [`edge`] does I/O, and only through the seam; the other parts
//! never read a clock or draw randomness.

pub mod cache_control;
pub mod edge;
pub mod store;

pub use cache_control::CacheControl;
pub use edge::{Edge, EdgeConfig, EdgeError, X_CACHE, serve_edge};
pub use store::{Freshness, Store, Stored};
