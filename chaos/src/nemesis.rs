//! The nemesis's plan: scripted faults -> the time-ordered schedule a run applies.
//!
//! Owns: [`schedule`], pure (no clock, no randomness but what a caller passes in), so sweeps
//! can draw random schedules here too. Must not: apply a fault (the simulation's nemesis does,
//! through its control interface) or know scenario files (the simulation turns them into
//! [`Scripted`] faults, host names into indices).

use crate::fault::{Fault, ScheduledFault};

/// A fault as a script states it: when, what, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Scripted {
    /// When it is applied, nanoseconds since the start of the run.
    pub at_ns: u64,
    /// What.
    pub fault: Fault,
    /// If set, its undo ([`Fault::undo`]) is applied this long after `at_ns` (a fault with no
    /// undo ignores it).
    pub length_ns: Option<u64>,
}

/// The faults in time order, each undo inserted at its time; ties keep the script's order (a
/// fault's undo comes right after the fault when both are due together).
pub fn schedule(script: impl IntoIterator<Item = Scripted>) -> Vec<ScheduledFault> {
    let mut out = Vec::new();
    for Scripted { at_ns, fault, length_ns } in script {
        let undo = length_ns.and_then(|length| Some((length, fault.undo()?)));
        out.push(ScheduledFault { at_ns, fault });
        if let Some((length_ns, undo)) = undo {
            out.push(ScheduledFault { at_ns: at_ns.saturating_add(length_ns), fault: undo });
        }
    }
    out.sort_by_key(|f| f.at_ns);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(at_ns: u64, fault: Fault, length_ns: Option<u64>) -> Scripted {
        Scripted { at_ns, fault, length_ns }
    }

    fn check(script: Vec<Scripted>, expected: &[(u64, Fault)]) {
        let got: Vec<(u64, Fault)> = schedule(script).into_iter().map(|f| (f.at_ns, f.fault)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn undos_are_inserted_in_time_order() {
        let kill = Fault::Kill { host: 1 };
        let cut = Fault::PartitionOneWay { from: vec![0], to: vec![2] };
        check(
            vec![
                at(10, kill.clone(), Some(20)),
                at(15, cut.clone(), Some(5)),
                at(40, Fault::Restart { host: 3 }, None),
            ],
            &[
                (10, kill),
                (15, cut),
                (20, Fault::HealOneWay { from: vec![0], to: vec![2] }),
                (30, Fault::Restart { host: 1 }),
                (40, Fault::Restart { host: 3 }),
            ],
        );
    }

    #[test]
    fn ties_keep_file_order_and_repairs_have_no_undo() {
        let skew = Fault::ClockSkew { host: 0, offset_ns: 5, drift_ppm: 0 };
        let heal = Fault::Heal { a: vec![0], b: vec![1] };
        check(
            vec![at(5, heal.clone(), Some(9)), at(5, skew.clone(), Some(1)), at(6, Fault::Kill { host: 2 }, None)],
            &[
                (5, heal),
                (5, skew),
                (6, Fault::ClockSkew { host: 0, offset_ns: 0, drift_ppm: 0 }),
                (6, Fault::Kill { host: 2 }),
            ],
        );
    }

    proptest! {
        /// The schedule is sorted, holds every fault, and an undo for each one with a length.
        #[test]
        fn sorted_and_complete(script in prop::collection::vec((0u64..100, 0u16..4, prop::option::of(1u64..50)), 0..20)) {
            let script: Vec<Scripted> =
                script.into_iter().map(|(t, host, length)| at(t, Fault::Kill { host }, length)).collect();
            let with_length = script.iter().filter(|s| s.length_ns.is_some()).count();
            let out = schedule(script.clone());
            prop_assert!(out.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
            prop_assert_eq!(out.len(), script.len() + with_length);
            let restarts = out.iter().filter(|f| matches!(f.fault, Fault::Restart { .. })).count();
            prop_assert_eq!(restarts, with_length);
        }
    }
}
