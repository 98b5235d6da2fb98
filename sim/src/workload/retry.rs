//! A load generator's retries: its compiled policy, which failures it retries, and the state
//! one generator keeps for them (its budget and its jitter's random stream).
//!
//! A load generator stands for the client processes of its users, and a client library keeps
//! one retry budget per process: so one [`Retrier`] (one budget) per load generator host,
//! shared by its users. What it retries: a timeout, an unreachable target, and a failure that
//! is the server's (HTTP 5xx: overloaded, upstream, storage, a pool or connection limit, not
//! the primary, fenced); never what is the caller's (a bad request, a compare-and-set
//! mismatch, a rate limit's 429: gRPC and the AWS SDKs leave those alone too).
//!
//! Must not: send anything or record anything (the load generator does both), or draw from
//! the generator's other random streams: a run without retries draws exactly what it drew
//! before retries existed.

use crate::world::SimEnv;
use faultline_chaos::trace::Outcome;
use faultline_models::proto::ErrorCode;
use faultline_models::retry::{Backoff, Bucket, Budget, Jitter, RetryPolicy, Waits};
use faultline_models::seam::Env;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::time::Duration;

/// How a retry waits, in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffPlan {
    /// At once.
    None,
    /// `min(cap, base * 2^(n - 1))` before retry `n`.
    Exponential,
}

/// How the wait is spread, in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterPlan {
    /// Not at all.
    None,
    /// Uniform in `[0, wait]`.
    Full,
    /// Half the wait plus uniform in `[0, wait / 2]`.
    Equal,
    /// `min(cap, uniform(base, previous wait * 3))`.
    Decorrelated,
}

/// A load generator's retry policy, compiled from the workload's `retry`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetryPlan {
    /// Retries after the first attempt, at most.
    pub attempts: u32,
    /// How a retry waits.
    pub backoff: BackoffPlan,
    /// The wait before the first retry, nanoseconds.
    pub base_ns: u64,
    /// The longest wait, nanoseconds.
    pub cap_ns: u64,
    /// How the wait is spread.
    pub jitter: JitterPlan,
    /// The budget's tokens per request; `None`: no budget.
    pub budget: Option<f64>,
    /// With a budget, retries a second always allowed.
    pub min_retries_per_sec: u32,
}

impl RetryPlan {
    /// The model's policy.
    pub fn policy(&self) -> RetryPolicy {
        let backoff = match self.backoff {
            BackoffPlan::None => Backoff::None,
            BackoffPlan::Exponential => Backoff::Exponential {
                base: Duration::from_nanos(self.base_ns),
                cap: Duration::from_nanos(self.cap_ns),
            },
        };
        let jitter = match self.jitter {
            JitterPlan::None => Jitter::None,
            JitterPlan::Full => Jitter::Full,
            JitterPlan::Equal => Jitter::Equal,
            JitterPlan::Decorrelated => Jitter::Decorrelated,
        };
        let budget = self.budget.map(|ratio| Budget { ratio, min_per_sec: self.min_retries_per_sec });
        RetryPolicy { attempts: self.attempts, backoff, jitter, budget }
    }

    /// The plan's text: "retry 3x exponential 10ms..1s full jitter, budget 0.1 + 10/s".
    pub fn text(&self, dur: impl Fn(u64) -> String) -> String {
        let wait = match self.backoff {
            BackoffPlan::None => "at once".to_string(),
            BackoffPlan::Exponential => {
                let jitter = match self.jitter {
                    JitterPlan::None => "no",
                    JitterPlan::Full => "full",
                    JitterPlan::Equal => "equal",
                    JitterPlan::Decorrelated => "decorrelated",
                };
                format!("exponential {}..{} {jitter} jitter", dur(self.base_ns), dur(self.cap_ns))
            }
        };
        let budget = match self.budget {
            Some(ratio) => format!(", budget {ratio} + {}/s", self.min_retries_per_sec),
            None => ", no budget".to_string(),
        };
        format!("retry {}x {wait}{budget}", self.attempts)
    }
}

/// Whether a server's refusal with `code` is worth retrying: the server's trouble, not the
/// caller's.
fn retriable_code(code: ErrorCode) -> bool {
    match code {
        ErrorCode::NotPrimary
        | ErrorCode::Upstream
        | ErrorCode::Overloaded
        | ErrorCode::Fenced
        | ErrorCode::Storage
        | ErrorCode::PoolTimeout
        | ErrorCode::TooManyConnections => true,
        // A lost session needs a new login, not the same request again.
        ErrorCode::BadRequest | ErrorCode::CasMismatch | ErrorCode::RateLimited | ErrorCode::Unauthorized => false,
    }
}

/// Whether an attempt that ended with `outcome` is worth retrying.
pub(crate) fn retriable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok => false,
        Outcome::Timeout | Outcome::Unreachable => true,
        Outcome::Error(byte) => ErrorCode::from_u8(*byte).is_some_and(retriable_code),
    }
}

/// What one load generator keeps for its retries.
pub(crate) struct Retrier {
    policy: RetryPolicy,
    bucket: RefCell<Option<Bucket>>,
    rng: RefCell<ChaCha8Rng>,
}

/// What to do after an attempt failed.
pub(crate) enum Next {
    /// Send the next attempt after this wait.
    Retry(Duration),
    /// The budget refused it: the request ends.
    Denied,
    /// Not worth retrying, or out of attempts: the request ends.
    Stop,
}

impl Retrier {
    /// The retries of the load generator on `env`, under `plan`.
    pub(crate) fn new(env: &SimEnv, plan: &RetryPlan) -> Self {
        let policy = plan.policy();
        Retrier { bucket: RefCell::new(policy.bucket()), rng: RefCell::new(env.rng("retries")), policy }
    }

    /// A request's first attempt leaves at `now`: it earns the budget its deposit. The
    /// request's retry state, which [`Retrier::next`] moves on.
    pub(crate) fn first(&self, now: Duration) -> Waits {
        if let Some(bucket) = self.bucket.borrow_mut().as_mut() {
            bucket.deposit(now);
        }
        self.policy.waits()
    }

    /// What follows the request's last attempt (its retries so far in `waits`), which ended
    /// with `outcome` at `now`.
    pub(crate) fn next(&self, waits: &mut Waits, outcome: &Outcome, now: Duration) -> Next {
        if waits.retries() >= self.policy.attempts || !retriable(outcome) {
            return Next::Stop;
        }
        if let Some(bucket) = self.bucket.borrow_mut().as_mut()
            && !bucket.try_withdraw(now)
        {
            return Next::Denied;
        }
        Next::Retry(self.policy.next_wait(waits, &mut *self.rng.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_chaos::trace::{CAS_MISMATCH, RATE_LIMITED};

    #[test]
    fn the_servers_failures_are_retried_and_the_callers_are_not() {
        for outcome in [Outcome::Timeout, Outcome::Unreachable, Outcome::Error(ErrorCode::Overloaded as u8)] {
            assert!(retriable(&outcome), "{outcome:?}");
        }
        for code in [ErrorCode::Upstream, ErrorCode::Storage, ErrorCode::PoolTimeout, ErrorCode::NotPrimary] {
            assert!(retriable(&Outcome::Error(code as u8)), "{code:?}");
        }
        for outcome in [Outcome::Ok, Outcome::Error(RATE_LIMITED), Outcome::Error(CAS_MISMATCH)] {
            assert!(!retriable(&outcome), "{outcome:?}");
        }
        assert!(!retriable(&Outcome::Error(ErrorCode::BadRequest as u8)));
        assert!(!retriable(&Outcome::Error(200)), "an unknown code is not retried");
    }

    #[test]
    fn every_code_is_found_by_its_byte() {
        for code in [ErrorCode::Overloaded, ErrorCode::RateLimited, ErrorCode::Unauthorized] {
            assert_eq!(ErrorCode::from_u8(code as u8), Some(code));
        }
        assert_eq!(ErrorCode::from_u8(200), None);
    }

    #[test]
    fn plans_become_policies_and_text() {
        let plan = RetryPlan {
            attempts: 3,
            backoff: BackoffPlan::Exponential,
            base_ns: 10_000_000,
            cap_ns: 1_000_000_000,
            jitter: JitterPlan::Full,
            budget: Some(0.1),
            min_retries_per_sec: 10,
        };
        let policy = plan.policy();
        assert_eq!(
            policy.backoff,
            Backoff::Exponential { base: Duration::from_millis(10), cap: Duration::from_secs(1) }
        );
        assert_eq!(policy.budget, Some(Budget { ratio: 0.1, min_per_sec: 10 }));
        let text = plan.text(|ns| format!("{}ms", ns / 1_000_000));
        assert_eq!(text, "retry 3x exponential 10ms..1000ms full jitter, budget 0.1 + 10/s");
        let immediate = RetryPlan { backoff: BackoffPlan::None, budget: None, ..plan };
        assert_eq!(immediate.policy().backoff, Backoff::None);
        assert_eq!(immediate.text(|ns| ns.to_string()), "retry 3x at once, no budget");
        let decorrelated = RetryPlan { jitter: JitterPlan::Decorrelated, ..plan };
        assert_eq!(decorrelated.policy().jitter, Jitter::Decorrelated);
    }
}
