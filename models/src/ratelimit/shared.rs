//! The shared limiter: asks an L2 cache node `CL.THROTTLE key burst count period 1` over RESP,
//! so every instance that asks the same node shares one GCRA state a key, and N instances admit
//! the limit once between them, not N times.
//!
//! The node becomes a dependency of every request, so what happens when it cannot answer is a
//! setting ([`FailMode`]): a check that gets no usable reply within the timeout (connect
//! included; the node down, slow, refusing with an error reply, or answering something that is
//! no `CL.THROTTLE` reply) admits the request when open and refuses it when closed; either way
//! it counts a fallback (gauge "limiter_fallbacks", cumulative). A refusal for want of an
//! answer asks the caller to retry after one emission interval.
//!
//! The node's figures are redis-cell's: `retry_after` in whole seconds, rounded up, on the
//! node's clock.
//!
//! This file must not compute the GCRA: the node does.

use super::Decision;
use super::config::{self, FailMode, LimitError, Rate};
use super::gcra::Quota;
use crate::cache::client::RespClient;
use crate::cache::resp::Frame;
use crate::seam::Env;
use faultline_vocab::gauge;
use std::cell::Cell;
use std::time::Duration;

/// A limiter whose state lives on an L2 cache node.
pub struct SharedLimiter<E: Env> {
    env: E,
    client: RespClient<E>,
    quota: Quota,
    /// The command's numeric arguments, as sent: burst, count, period in seconds, quantity.
    numbers: [String; 4],
    fail: FailMode,
    timeout: Duration,
    fallbacks: Cell<u64>,
}

impl<E: Env> SharedLimiter<E> {
    /// A limiter of `rate` with `burst` on the node at `addr` ("host:port"); each check waits
    /// at most `timeout` (connect included), then falls back as `fail` says. It connects lazily.
    pub fn new(
        env: E,
        addr: impl Into<String>,
        rate: Rate,
        burst: u64,
        fail: FailMode,
        timeout: Duration,
    ) -> Result<Self, LimitError> {
        let addr = addr.into();
        let settings = config::LimitConfig::shared(rate, burst, addr.clone(), fail, timeout);
        let quota = settings.quota()?;
        let numbers = [quota.burst, quota.count, quota.period.as_secs(), 1].map(|n| n.to_string());
        let client = RespClient::new(env.clone(), addr, timeout);
        env.gauge(gauge::LIMITER_FALLBACKS, 0);
        Ok(Self { env, client, quota, numbers, fail, timeout, fallbacks: Cell::new(0) })
    }

    /// The quota the node is asked to enforce.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The node's address.
    pub fn addr(&self) -> &str {
        self.client.addr()
    }

    /// Checks without an answer from the node, since start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.get()
    }

    /// Asks the node about one request of `key`; without a usable answer in time, falls back.
    pub async fn check(&self, key: &[u8]) -> Decision {
        let [burst, count, period, quantity] = &self.numbers;
        let args: [&[u8]; 6] =
            [b"CL.THROTTLE", key, burst.as_bytes(), count.as_bytes(), period.as_bytes(), quantity.as_bytes()];
        match self.client.call(&args, self.timeout).await {
            Ok(frame) => match read_reply(&frame) {
                Some(decision) => decision,
                None => self.fall_back(),
            },
            Err(_) => self.fall_back(),
        }
    }

    fn fall_back(&self) -> Decision {
        let fallbacks = self.fallbacks.get() + 1;
        self.fallbacks.set(fallbacks);
        self.env.gauge(gauge::LIMITER_FALLBACKS, i64::try_from(fallbacks).unwrap_or(i64::MAX));
        match self.fail {
            FailMode::Open => Decision::Allowed { remaining: 0 },
            FailMode::Closed => {
                let retry_after = self.quota.emission().unwrap_or(Duration::ZERO);
                Decision::Limited { retry_after }
            }
        }
    }
}

/// The decision in a `CL.THROTTLE` reply `[limited, limit, remaining, retry_after, reset_after]`,
/// or `None` when the reply is anything else. A refusal that can never pass (`retry_after` -1,
/// only for a quantity above the limit) waits for the reset.
fn read_reply(frame: &Frame) -> Option<Decision> {
    let Frame::Array(items) = frame else { return None };
    let mut numbers = [0i64; 5];
    if items.len() != numbers.len() {
        return None;
    }
    for (slot, item) in numbers.iter_mut().zip(items) {
        let Frame::Integer(n) = item else { return None };
        *slot = *n;
    }
    let [limited, _limit, remaining, retry_after_s, reset_after_s] = numbers;
    let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    match limited {
        0 => Some(Decision::Allowed { remaining: u64::try_from(remaining).unwrap_or(0) }),
        1 if retry_after_s >= 0 => Some(Decision::Limited { retry_after: seconds(retry_after_s) }),
        1 => Some(Decision::Limited { retry_after: seconds(reset_after_s) }),
        _ => None,
    }
}
