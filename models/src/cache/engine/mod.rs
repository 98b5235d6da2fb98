//! The L2 cache's keyspace and commands (filled in by the engine's own modules).
