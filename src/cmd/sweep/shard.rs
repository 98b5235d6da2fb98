//! Which part of a sweep this process runs: shard K of N (1-based), from `--shard K/N` or from
//! the environment a CI matrix, a Kubernetes Indexed Job or a Slurm job array sets.
//!
//! Owns: parsing and validating a shard, and reading one from an environment given as a lookup
//! function (so it is tested without touching the process's environment). Must not: read the
//! process environment itself, or decide what runs (that is [`Shard::takes`] over the sorted
//! work list, in the sweep).

use std::fmt;

/// Shard `index` of `count`, 1-based: it takes the runs whose place in the sorted list of
/// (scenario, seed) pairs is `index - 1` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1 to `count`.
    pub index: u64,
    /// N, at least 1.
    pub count: u64,
}

impl Shard {
    /// Shard `index` of `count`, when `1 <= index <= count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        match (index, count) {
            (_, 0) => Err("the shard count N is 0; expected at least 1".into()),
            (0, _) => Err("shards count from 1; expected K in 1..=N".into()),
            (k, n) if k > n => Err(format!("shard {k} of {n} does not exist; expected K in 1..=N")),
            (index, count) => Ok(Shard { index, count }),
        }
    }

    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let fail = |why: String| format!("{text:?} is not a shard: {why}");
        let (k, n) = text.trim().split_once('/').ok_or_else(|| fail("expected K/N, such as 2/4".into()))?;
        let number = |part: &str, what: &str| {
            part.trim().parse::<u64>().map_err(|_| fail(format!("{what} {part:?} is not a whole number")))
        };
        Shard::new(number(k, "K")?, number(n, "N")?).map_err(fail)
    }

    /// Whether the run at `position` in the sorted work list is this shard's.
    pub fn takes(&self, position: usize) -> bool {
        position as u64 % self.count == self.index - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard and where it came from (`--shard`, or the environment variable that set it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub shard: Shard,
    pub source: String,
}

/// The shard to run: the flag's when given, else the environment's (see [`from_env`]), else
/// none (the whole sweep).
pub fn choose(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Option<Chosen>, String> {
    match flag {
        Some(text) => Ok(Some(Chosen { shard: Shard::parse(text)?, source: "--shard".into() })),
        None => from_env(env),
    }
}

/// The shard the environment asks for, first found of:
/// - `FAULTLINE_SHARD=K/N`;
/// - a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (0-based) with `FAULTLINE_SHARD_COUNT`
///   (Kubernetes does not export the number of completions);
/// - a Slurm job array: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN` (default 0), divided
///   by `SLURM_ARRAY_TASK_STEP` (default 1), of `SLURM_ARRAY_TASK_COUNT`.
///
/// `env` looks a variable up; an empty value counts as unset.
pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Option<Chosen>, String> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let number = |name: &str, value: String| {
        value.trim().parse::<u64>().map_err(|_| format!("{name}={value:?} is not a whole number"))
    };
    if let Some(text) = get("FAULTLINE_SHARD") {
        let shard = Shard::parse(&text).map_err(|e| format!("FAULTLINE_SHARD: {e}"))?;
        return Ok(Some(Chosen { shard, source: "FAULTLINE_SHARD".into() }));
    }
    if let Some(index) = get("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", index)?;
        let count = get("FAULTLINE_SHARD_COUNT").ok_or(
            "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but FAULTLINE_SHARD_COUNT is not: set it to the Job's completions",
        )?;
        let count = number("FAULTLINE_SHARD_COUNT", count)?;
        let shard = Shard::new(index.saturating_add(1), count)
            .map_err(|e| format!("JOB_COMPLETION_INDEX={index} of FAULTLINE_SHARD_COUNT={count}: {e}"))?;
        return Ok(Some(Chosen { shard, source: "JOB_COMPLETION_INDEX".into() }));
    }
    if let Some(id) = get("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", id)?;
        let min = get("SLURM_ARRAY_TASK_MIN").map(|v| number("SLURM_ARRAY_TASK_MIN", v)).transpose()?.unwrap_or(0);
        let step = get("SLURM_ARRAY_TASK_STEP").map(|v| number("SLURM_ARRAY_TASK_STEP", v)).transpose()?.unwrap_or(1);
        let count = get("SLURM_ARRAY_TASK_COUNT")
            .ok_or("SLURM_ARRAY_TASK_ID is set (a Slurm job array) but SLURM_ARRAY_TASK_COUNT is not")?;
        let count = number("SLURM_ARRAY_TASK_COUNT", count)?;
        let offset = id.checked_sub(min).filter(|o| step > 0 && o % step == 0).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID={id} is not SLURM_ARRAY_TASK_MIN={min} plus a multiple of the step {step}")
        })?;
        let shard = Shard::new(offset / step + 1, count)
            .map_err(|e| format!("SLURM_ARRAY_TASK_ID={id} of SLURM_ARRAY_TASK_COUNT={count}: {e}"))?;
        return Ok(Some(Chosen { shard, source: "SLURM_ARRAY_TASK_ID".into() }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shard an environment of `vars` chooses, as `K/N from SOURCE`, or the error.
    fn check(flag: Option<&str>, vars: &[(&str, &str)], expected: Result<&str, &str>) {
        let env = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let got = choose(flag, env).map(|c| c.map(|c| format!("{} from {}", c.shard, c.source)).unwrap_or_default());
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{flag:?} {vars:?}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{flag:?} {vars:?}: {got}"),
            (got, want) => panic!("{flag:?} {vars:?}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn the_flag_parses_k_of_n_and_refuses_the_rest() {
        check(Some("2/3"), &[], Ok("2/3 from --shard"));
        check(Some(" 1/1 "), &[], Ok("1/1 from --shard"));
        check(Some("0/3"), &[], Err("count from 1"));
        check(Some("4/3"), &[], Err("shard 4 of 3 does not exist"));
        check(Some("1/0"), &[], Err("N is 0"));
        check(Some("abc"), &[], Err("expected K/N"));
        check(Some("a/3"), &[], Err("K \"a\" is not a whole number"));
        check(Some("-1/3"), &[], Err("not a whole number"));
        check(Some("1/3/5"), &[], Err("not a whole number"));
    }

    #[test]
    fn the_flag_beats_the_environment() {
        check(Some("1/2"), &[("FAULTLINE_SHARD", "2/2"), ("SLURM_ARRAY_TASK_ID", "1")], Ok("1/2 from --shard"));
        check(None, &[], Ok(""));
        check(None, &[("FAULTLINE_SHARD", "")], Ok(""));
    }

    #[test]
    fn faultline_shard_comes_first_in_the_environment() {
        let vars = [("FAULTLINE_SHARD", "3/4"), ("JOB_COMPLETION_INDEX", "0"), ("FAULTLINE_SHARD_COUNT", "2")];
        check(None, &vars, Ok("3/4 from FAULTLINE_SHARD"));
        check(None, &[("FAULTLINE_SHARD", "5/4")], Err("FAULTLINE_SHARD: \"5/4\" is not a shard"));
    }

    #[test]
    fn a_kubernetes_indexed_job_counts_from_zero_with_the_count_set_apart() {
        let vars = [("JOB_COMPLETION_INDEX", "0"), ("FAULTLINE_SHARD_COUNT", "4")];
        check(None, &vars, Ok("1/4 from JOB_COMPLETION_INDEX"));
        check(
            None,
            &[("JOB_COMPLETION_INDEX", "3"), ("FAULTLINE_SHARD_COUNT", "4")],
            Ok("4/4 from JOB_COMPLETION_INDEX"),
        );
        check(None, &[("JOB_COMPLETION_INDEX", "4"), ("FAULTLINE_SHARD_COUNT", "4")], Err("shard 5 of 4"));
        check(None, &[("JOB_COMPLETION_INDEX", "1")], Err("FAULTLINE_SHARD_COUNT is not"));
        check(None, &[("JOB_COMPLETION_INDEX", "x"), ("FAULTLINE_SHARD_COUNT", "4")], Err("not a whole number"));
        check(None, &[("JOB_COMPLETION_INDEX", "0"), ("FAULTLINE_SHARD_COUNT", "0")], Err("N is 0"));
    }

    #[test]
    fn a_slurm_array_counts_from_its_first_task_id() {
        let plain = [("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        check(None, &plain, Ok("3/4 from SLURM_ARRAY_TASK_ID"));
        let offset = [("SLURM_ARRAY_TASK_ID", "10"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "2")];
        check(None, &offset, Ok("1/2 from SLURM_ARRAY_TASK_ID"));
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        check(None, &stepped, Ok("3/3 from SLURM_ARRAY_TASK_ID"));
        check(None, &[("SLURM_ARRAY_TASK_ID", "1")], Err("SLURM_ARRAY_TASK_COUNT is not"));
        let below = [("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "2")];
        check(None, &below, Err("is not SLURM_ARRAY_TASK_MIN=5 plus"));
        check(None, &[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4")], Err("shard 5 of 4"));
    }

    #[test]
    fn shards_split_the_work_list_without_overlap() {
        let shards: Vec<Shard> = (1..=3).map(|k| Shard::new(k, 3).unwrap()).collect();
        for position in 0..20 {
            let owners = shards.iter().filter(|s| s.takes(position)).count();
            assert_eq!(owners, 1, "position {position}");
        }
        assert!(shards[0].takes(0) && shards[1].takes(1) && shards[2].takes(5));
        assert!(Shard::new(1, 1).unwrap().takes(17));
    }
}
