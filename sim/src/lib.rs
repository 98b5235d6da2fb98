//! The Faultline world: scenario files, hosts on turmoil, workload, faults, trace and report.
pub mod scenario;
