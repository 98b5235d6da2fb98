//! Which faults a run applies: the scenario's scripted faults, those plus a swarm's draw from
//! the seed, or a schedule given whole (a shrunk one, or one a regression corpus stored).
//!
//! Owns: [`Faults`] (the choice, part of `RunOptions`), [`apply`] (the choice made on a
//! compiled plan, with what a swarm drew as the report shows it) and [`script`] (the whole
//! schedule a run applies, before undos are inserted: what shrinking starts from). The draw
//! takes its own random stream ("swarm"/"faults"), so drawing never shifts another stream: a
//! run with the drawn faults scripted in its file replays the swarm run exactly. Must not:
//! draw (chaos's `swarm`), apply a fault (the world's nemesis) or read the OS.

use crate::nemesis;
use crate::plan::RunPlan;
use crate::scenario::Scenario;
use crate::scenario::emit::fault_line;
use crate::scenario::swarm::{judged, space};
use crate::seeds;
use faultline_chaos::nemesis::{Scripted, schedule};
use faultline_chaos::report::SwarmReport;
use faultline_chaos::swarm::{Drawn, draw};
use std::collections::BTreeMap;

/// The faults a run applies.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Faults {
    /// The scenario's scripted faults.
    #[default]
    Scripted,
    /// The scripted faults and those a swarm draws from the seed within the scenario's
    /// `[swarm]` table (or its defaults); the run judges what the table says.
    Swarm,
    /// This schedule instead of the scenario's (hosts by index, as the plan numbers them).
    Given(Vec<Scripted>),
}

/// The run's hosts by name, by index (the file's hosts, then the load generators).
pub fn host_names(plan: &RunPlan) -> Vec<String> {
    plan.header().hosts.into_iter().map(|h| h.name).collect()
}

fn indices(plan: &RunPlan) -> BTreeMap<String, u16> {
    host_names(plan).into_iter().enumerate().map(|(i, n)| (n, u16::try_from(i).expect("validated"))).collect()
}

/// What a swarm draws for `plan` (compiled from `scenario`, with its seed).
pub fn drawn(scenario: &Scenario, plan: &RunPlan) -> Drawn {
    let mut rng = seeds::stream(plan.seed, "swarm", "faults");
    draw(&space(scenario), &mut rng)
}

/// The scenario's scripted faults followed by what a swarm draws for `plan`, and the draw.
fn scripted_and_drawn(scenario: &Scenario, plan: &RunPlan) -> (Vec<Scripted>, Drawn) {
    let mut all = nemesis::script(scenario, &indices(plan));
    let d = drawn(scenario, plan);
    all.extend(d.faults.iter().cloned());
    (all, d)
}

/// The whole schedule `faults` gives `plan`, scripted and drawn, before undos are inserted.
pub fn script(scenario: &Scenario, plan: &RunPlan, faults: &Faults) -> Vec<Scripted> {
    match faults {
        Faults::Scripted => nemesis::script(scenario, &indices(plan)),
        Faults::Swarm => scripted_and_drawn(scenario, plan).0,
        Faults::Given(given) => given.clone(),
    }
}

/// Makes `plan` apply `faults`; for a swarm, what it drew, as the report shows it.
pub fn apply(scenario: &Scenario, plan: &mut RunPlan, faults: &Faults) -> Option<SwarmReport> {
    match faults {
        Faults::Scripted => None,
        Faults::Swarm => {
            let names = host_names(plan);
            let (all, d) = scripted_and_drawn(scenario, plan);
            let report = SwarmReport {
                enabled: d.enabled.iter().map(|k| k.name().to_string()).collect(),
                faults: d.faults.iter().filter_map(|f| fault_line(f, &names)).collect(),
                judge: judged(scenario),
            };
            plan.faults = schedule(all);
            Some(report)
        }
        Faults::Given(given) => {
            plan.faults = schedule(given.clone());
            None
        }
    }
}
