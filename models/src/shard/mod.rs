//! Shard routing: which node owns a key (filled in by its own modules).
