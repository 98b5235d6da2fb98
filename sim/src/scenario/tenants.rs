//! The workload's `tenants`: each a name a key can start with (`acme:k7`), so a sharded
//! database's directory can place it and the report can group requests by it.
//!
//! Owns the checks of the list; must not know how keys are named at run time (the load
//! generator's plan does) or how a directory routes them.

use super::spans::Seg;
use super::types::Workload;
use super::validate::Checker;
use std::collections::BTreeSet;

/// The most tenants a workload may have.
pub const MAX_TENANTS: usize = 1024;

/// Checks the tenants: at most [`MAX_TENANTS`] and no more than the keys (else a tenant has
/// none), each once, each a name of letters, digits, `-`, `_` or `.` (it goes in keys and URL
/// paths, and a `:` would end it early).
pub(super) fn validate(c: &mut Checker, workload: &Workload) {
    let tenants = &workload.tenants;
    let keys = *workload.keys.get_ref();
    if tenants.len() > MAX_TENANTS || tenants.len() as u64 > keys.max(1) {
        let span = c.span_at(&[Seg::Key("workload"), Seg::Key("tenants")], 0..0);
        let message = format!(
            "{} tenants for {keys} keys; expected at most {MAX_TENANTS} tenants and no more than the keys, so every tenant has keys",
            tenants.len()
        );
        c.report(span, "too many tenants", message);
    }
    let mut seen = BTreeSet::new();
    for tenant in tenants {
        let name = tenant.get_ref();
        let fits = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if name.is_empty() || !name.bytes().all(fits) {
            let message = format!(
                "tenant {name:?} is not a tenant name; expected letters, digits, `-`, `_` or `.` (it starts every key of the tenant: \"{name}:k7\")"
            );
            c.report(tenant.span(), "bad tenant", message);
        }
        if !seen.insert(name.as_str()) {
            let message = format!("tenant {name:?} is listed twice; expected each tenant once");
            c.report(tenant.span(), "listed twice", message);
        }
    }
}
