//! The L1 in-process cache (filled in by its own modules).
