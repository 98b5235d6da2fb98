//! The app's checkout: charge the order through the third-party payment API (behind a circuit
//! breaker when configured), then store the order with the primary. A charge carries an
//! idempotency key (`<host>-<order number>`), so a retried charge is never made twice.
//!
//! Outcomes: the order's `Written` reply; `Error { Upstream }` when the payment API failed, was
//! slow past the payment timeout or answered a 5xx, or the order could not be stored;
//! `Error { Overloaded }` when the breaker is open (the call was not made: it fails fast);
//! `Error { BadRequest }` when the app has no payment API.
//!
//! This file must not know how the app is reached (framed or HTTP): it answers in the store's
//! message family, as reads and writes do.

use super::{App, PaymentConfig};
use crate::breaker::{Breaker, BreakerError, ConfigError};
use crate::client::CallError;
use crate::http::client::{HttpClient, HttpResponse};
use crate::http::{Bytes, Method};
use crate::kv::api::Msg;
use crate::payment::IDEMPOTENCY_KEY;
use crate::proto::ErrorCode;
use crate::seam::{Env, timeout};
use faultline_vocab::gauge;
use std::cell::Cell;
use std::time::Duration;

/// The payment API as an app holds it.
pub(super) struct Payment<E: Env> {
    client: HttpClient<E>,
    timeout: Duration,
    breaker: Option<Breaker<E>>,
    /// Orders begun (each numbers one charge).
    orders: Cell<u64>,
    /// Orders charged and stored.
    done: Cell<u64>,
}

impl<E: Env> Payment<E> {
    pub(super) fn new(env: &E, config: &PaymentConfig) -> Result<Self, ConfigError> {
        let breaker = config.breaker.clone().map(|b| Breaker::new(env.clone(), "payment", b)).transpose()?;
        env.gauge(gauge::CHECKOUTS, 0);
        Ok(Self {
            client: HttpClient::new(env.clone(), config.addr.clone(), config.timeout),
            timeout: config.timeout,
            breaker,
            orders: Cell::new(0),
            done: Cell::new(0),
        })
    }

    /// Charges order `key` once: `Err` says why it was not charged.
    async fn charge(&self, env: &E, key: &str) -> Result<(), Msg> {
        let request = self
            .client
            .request(Method::POST, "/charge", &[(IDEMPOTENCY_KEY, key.to_string())], Bytes::new())
            .map_err(|e| upstream(format!("payment: {e}")))?;
        let call = async {
            match timeout(env, self.timeout, self.client.send(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(CallError::Timeout(self.client.addr().to_string())),
            }
        };
        let failed =
            |answer: &Result<HttpResponse, CallError>| answer.as_ref().is_ok_and(|r| r.status.is_server_error());
        let answer = match &self.breaker {
            Some(breaker) => breaker.call_classified(call, |a| a.is_err() || failed(a)).await,
            None => call.await.map_err(BreakerError::Inner),
        };
        match answer {
            Ok(response) if response.status.is_success() => Ok(()),
            Ok(response) => Err(upstream(format!(
                "payment at {} answered {}: {}",
                self.client.addr(),
                response.status,
                String::from_utf8_lossy(&response.body).trim_end()
            ))),
            Err(BreakerError::Inner(e)) => Err(upstream(format!("payment: {e}"))),
            Err(open @ BreakerError::Open { .. }) => {
                Err(Msg::Error { code: ErrorCode::Overloaded, detail: format!("payment: {open}") })
            }
        }
    }
}

fn upstream(detail: String) -> Msg {
    Msg::Error { code: ErrorCode::Upstream, detail }
}

impl<E: Env> App<E> {
    /// Checks out `order` (its body): charges it, then stores it under `order:<key>`.
    pub(crate) async fn checkout(&self, order: Vec<u8>) -> Msg {
        let Some(payment) = &self.payment else {
            let detail = "this app has no payment API to check out with".to_string();
            return Msg::Error { code: ErrorCode::BadRequest, detail };
        };
        let number = payment.orders.get() + 1;
        payment.orders.set(number);
        let key = format!("{}-{number}", self.env.host_name());
        if let Err(refused) = payment.charge(&self.env, &key).await {
            return refused;
        }
        let key = format!("order:{key}").into_bytes();
        let stored = self.store.write(&key, Msg::Put { key: key.clone(), value: order }).await;
        if matches!(stored, Msg::Written { .. }) {
            payment.done.set(payment.done.get() + 1);
            self.env.gauge(gauge::CHECKOUTS, payment.done.get() as i64);
            if let Some(q) = self.enqueue.as_ref().filter(|q| q.on == super::enqueue::EnqueueOn::Checkout)
                && let Err(failed) = q.send(&key, Vec::new()).await
            {
                return failed;
            }
        }
        stored
    }
}
