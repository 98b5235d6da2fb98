//! The workload's `retry` table: how the load generators retry a failed request, as a client
//! library does (attempts, exponential backoff with jitter, a retry budget), its validation
//! with located errors, and its compiled form.
//!
//! Owns: [`RetrySpec`], its defaults (documented in `docs/scenario.md`), its checks, and
//! [`RetrySpec::plan`]. Must not: know how a retry is sent (`workload::retry` and the load
//! generator do) or accept a setting that would have no effect (a `base` without exponential
//! backoff, a reserve without a budget): it says so instead.

use super::spans::{Seg, fmt_dur};
use super::types::{Dur, Sp};
use super::validate::Checker;
use crate::workload::{BackoffPlan, JitterPlan, RetryPlan};
use faultline_models::retry::Budget;
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// The most retries a request may make after its first attempt.
pub const MAX_RETRY_ATTEMPTS: u32 = 10;
/// The default wait before the first retry, with exponential backoff.
const DEFAULT_BASE: Duration = Duration::from_millis(10);
/// The default longest wait, with exponential backoff.
const DEFAULT_CAP: Duration = Duration::from_secs(1);
/// The default reserve of a budget, retries a second (Finagle's).
const DEFAULT_MIN_PER_SEC: u32 = 10;

/// How the load generators retry a failed request (a timeout, an unreachable target, or a
/// server's failure: HTTP 5xx, overloaded; never a 4xx such as 429), as a client library does.
/// A request keeps one invoke and one complete in the trace; each retry is a `retry` event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Retries after the first attempt, at most, 0 to 10. Each attempt has the workload's
    /// `timeout`. Default 3.
    #[serde(default = "default_attempts")]
    #[schemars(with = "u32")]
    pub attempts: Sp<u32>,
    /// The wait before each retry: "exponential" (`base`, doubling up to `cap`) or "none" (at
    /// once). Default "exponential".
    #[serde(default)]
    pub backoff: BackoffSpec,
    /// With exponential backoff, the wait before the first retry, above 0. Default "10ms".
    #[serde(default)]
    pub base: Option<Dur>,
    /// With exponential backoff, the longest wait, at least `base`. Default "1s".
    #[serde(default)]
    pub cap: Option<Dur>,
    /// With exponential backoff, how the wait is spread: "full" (uniform from 0 to the wait),
    /// "equal" (half the wait plus uniform up to the other half), "decorrelated" (uniform from
    /// `base` to three times the previous wait, at most `cap`) or "none". Default "full".
    #[serde(default)]
    pub jitter: Option<JitterSpec>,
    /// A retry budget per load generator: the tokens each request earns, in [0, 1000]; a retry
    /// spends one (0.1: one retry for every ten requests, over a 10 s window). Default: no
    /// budget.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub budget: Option<Sp<f64>>,
    /// With a budget, the retries a second it allows whatever the traffic earned. Default 10.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub min_retries_per_sec: Option<Sp<u32>>,
}

fn default_attempts() -> Sp<u32> {
    Spanned::new(0..0, 3)
}

/// How a retry waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffSpec {
    /// At once.
    None,
    /// `min(cap, base * 2^(n - 1))` before retry `n`, jittered.
    #[default]
    Exponential,
}

/// How the wait is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JitterSpec {
    /// Not at all.
    None,
    /// Uniform from 0 to the wait.
    Full,
    /// Half the wait plus uniform up to the other half.
    Equal,
    /// Uniform from `base` to three times the previous wait (`base` before the first), at most
    /// `cap`.
    Decorrelated,
}

impl RetrySpec {
    /// The compiled policy (the spec must have passed validation).
    pub(crate) fn plan(&self) -> RetryPlan {
        let ns = |d: Option<Dur>, default: Duration| crate::services::ns(d.map_or(default, |d| d.0));
        RetryPlan {
            attempts: *self.attempts.get_ref(),
            backoff: match self.backoff {
                BackoffSpec::None => BackoffPlan::None,
                BackoffSpec::Exponential => BackoffPlan::Exponential,
            },
            base_ns: ns(self.base, DEFAULT_BASE),
            cap_ns: ns(self.cap, DEFAULT_CAP),
            jitter: match self.jitter.unwrap_or(JitterSpec::Full) {
                JitterSpec::None => JitterPlan::None,
                JitterSpec::Full => JitterPlan::Full,
                JitterSpec::Equal => JitterPlan::Equal,
                JitterSpec::Decorrelated => JitterPlan::Decorrelated,
            },
            budget: self.budget.as_ref().map(|b| *b.get_ref()),
            min_retries_per_sec: self.min_retries_per_sec.as_ref().map_or(DEFAULT_MIN_PER_SEC, |m| *m.get_ref()),
        }
    }
}

/// Reports every rule the workload's `retry` breaks.
pub(crate) fn check(checker: &mut Checker) {
    let Some(retry) = &checker.scenario.workload.retry else {
        return;
    };
    let at = |key| [Seg::Key("workload"), Seg::Key("retry"), Seg::Key(key)];
    let attempts = *retry.attempts.get_ref();
    if attempts > MAX_RETRY_ATTEMPTS {
        let message = format!(
            "retry attempts = {attempts} is out of range; expected at most {MAX_RETRY_ATTEMPTS} retries after the first attempt"
        );
        checker.report(retry.attempts.span(), "too many retries", message);
    }
    let whole = checker.span_at(&[Seg::Key("workload"), Seg::Key("retry")], 0..0);
    match retry.backoff {
        BackoffSpec::None => {
            for (key, set) in
                [("base", retry.base.is_some()), ("cap", retry.cap.is_some()), ("jitter", retry.jitter.is_some())]
            {
                if set {
                    let span = checker.span_at(&at(key), whole.clone());
                    let message = format!(
                        "retry `{key}` has no effect with backoff = \"none\" (retries leave at once); expected backoff = \"exponential\", or no `{key}`"
                    );
                    checker.report(span, "no effect without backoff", message);
                }
            }
        }
        BackoffSpec::Exponential => {
            let (base, cap) = (retry.base.map_or(DEFAULT_BASE, |d| d.0), retry.cap.map_or(DEFAULT_CAP, |d| d.0));
            if base.is_zero() {
                let message =
                    "retry base is 0; expected the wait before the first retry, above 0, e.g. \"10ms\"".to_string();
                checker.report(checker.span_at(&at("base"), whole.clone()), "zero", message);
            } else if cap < base {
                let message = format!(
                    "retry cap {} is shorter than base {}; expected the longest wait to be at least the first",
                    fmt_dur(cap),
                    fmt_dur(base)
                );
                checker.report(checker.span_at(&at("cap"), whole.clone()), "shorter than base", message);
            }
        }
    }
    budget(checker, retry, whole);
}

/// Reports a budget out of range, or a reserve without a budget.
fn budget(checker: &mut Checker, retry: &RetrySpec, whole: std::ops::Range<usize>) {
    let min_per_sec = retry.min_retries_per_sec.as_ref();
    match (&retry.budget, min_per_sec) {
        (None, Some(min)) => {
            let message = "min_retries_per_sec is the reserve of a retry budget, and there is no budget; expected a `budget`, e.g. budget = 0.1, or no min_retries_per_sec".to_string();
            checker.report(min.span(), "no budget", message);
        }
        (Some(ratio), min) => {
            let candidate =
                Budget { ratio: *ratio.get_ref(), min_per_sec: min.map_or(DEFAULT_MIN_PER_SEC, |m| *m.get_ref()) };
            if let Some(problem) = candidate.problem() {
                let span = if candidate.ratio.is_finite() && (0.0..=Budget::MAX_RATIO).contains(&candidate.ratio) {
                    min.map_or(whole, |m| m.span())
                } else {
                    ratio.span()
                };
                checker.report(span, "out of range", format!("{problem}; e.g. budget = 0.1, min_retries_per_sec = 10"));
            }
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::validate::tests::check;

    /// The quickstart's workload with `retry = { fields }`.
    fn with(fields: &str) -> String {
        format!("users = 50\nretry = {{ {fields} }}")
    }

    #[test]
    fn good_retry_tables_pass() {
        check("users = 50", &with(""), &[]);
        check("users = 50", &with("attempts = 3, backoff = \"none\""), &[]);
        check("users = 50", &with("base = \"5ms\", cap = \"5ms\", jitter = \"equal\", budget = 0.2"), &[]);
        check("users = 50", &with("budget = 0, min_retries_per_sec = 0"), &[]);
        check("users = 50", &with("attempts = 10, base = \"5ms\", cap = \"2s\", jitter = \"decorrelated\""), &[]);
    }

    #[test]
    fn retry_rules_point_at_the_value() {
        check("users = 50", &with("attempts = 11"), &[("expected at most 10 retries", "11")]);
        check("users = 50", &with("base = \"0ms\""), &[("retry base is 0", "\"0ms\"")]);
        check("users = 50", &with("base = \"2s\""), &[("retry cap 1s is shorter than base 2s", "{ base = \"2s\" }")]);
        check(
            "users = 50",
            &with("base = \"20ms\", cap = \"10ms\""),
            &[("cap 10ms is shorter than base 20ms", "\"10ms\"")],
        );
        check(
            "users = 50",
            &with("backoff = \"none\", base = \"10ms\", jitter = \"full\""),
            &[
                ("retry `base` has no effect with backoff = \"none\"", "\"10ms\""),
                ("`jitter` has no effect", "\"full\""),
            ],
        );
        check(
            "users = 50",
            &with("backoff = \"none\", jitter = \"decorrelated\""),
            &[("`jitter` has no effect with backoff = \"none\"", "\"decorrelated\"")],
        );
        check("users = 50", &with("budget = -0.5"), &[("ratio is in [0, 1000], found -0.5", "-0.5")]);
        check("users = 50", &with("budget = nan"), &[("found NaN", "nan")]);
        check(
            "users = 50",
            &with("budget = 0.1, min_retries_per_sec = 2000000"),
            &[("at most 1000000 retries a second in reserve", "2000000")],
        );
        check("users = 50", &with("min_retries_per_sec = 5"), &[("there is no budget", "5")]);
    }

    #[test]
    fn unknown_words_are_parse_errors() {
        for (fields, expected) in [
            ("backoff = \"linear\"", "unknown variant `linear`"),
            ("jitter = \"random\"", "unknown variant `random`"),
            ("retries = 3", "unknown field `retries`"),
        ] {
            let text = crate::scenario::validate::tests::QUICKSTART.replacen("users = 50", &with(fields), 1);
            let error = crate::scenario::parse_str("retry.toml", &text).expect_err(fields);
            assert!(error.report_lines().join("\n").contains(expected), "{fields}: {:?}", error.report_lines());
        }
    }

    #[test]
    fn defaults_compile_to_the_documented_plan() {
        let text = crate::scenario::validate::tests::QUICKSTART.replacen("users = 50", &with("budget = 0.1"), 1);
        let scenario = crate::scenario::parse_str("retry.toml", &text).expect("valid");
        let plan = scenario.workload.retry.as_ref().expect("a retry table").plan();
        let text = plan.text(|ns| format!("{}ms", ns / 1_000_000));
        assert_eq!(text, "retry 3x exponential 10ms..1000ms full jitter, budget 0.1 + 10/s");
        let text =
            crate::scenario::validate::tests::QUICKSTART.replacen("users = 50", &with("jitter = \"decorrelated\""), 1);
        let scenario = crate::scenario::parse_str("retry.toml", &text).expect("valid");
        let plan = scenario.workload.retry.as_ref().expect("a retry table").plan();
        assert_eq!(plan.jitter, crate::workload::JitterPlan::Decorrelated);
        assert_eq!(
            plan.text(|ns| format!("{}ms", ns / 1_000_000)),
            "retry 3x exponential 10ms..1000ms decorrelated jitter, no budget"
        );
    }
}
