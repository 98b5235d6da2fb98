//! An app's side work on a queue: after a successful write (or checkout) is durable in the
//! store, and before the client is answered, the app sends one message to a queue broker
//! (its key the written key, its body the written value). Before answering, so that a success
//! the client sees means the side work is scheduled: a send that fails (`Full`, an error, no
//! answer in time) fails the request with `Upstream` naming the queue, though the write itself
//! stays (the dual-write problem a transactional outbox would remove; the client may retry).
//!
//! Must not: know the broker's state, or publish gauges (the broker counts what it accepts).

use crate::client::Client;
use crate::kv::api::Msg;
use crate::proto::ErrorCode;
use crate::queue::api::QueueMsg;
use crate::seam::Env;
use std::time::Duration;

/// Which successful requests send a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOn {
    /// Every write (`Put`, `Delete`, `Cas`).
    Write,
    /// Every checkout.
    Checkout,
}

/// Where an app's side work goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueConfig {
    /// The broker's address ("host:port").
    pub addr: String,
    /// The queue; "" for the broker's first.
    pub queue: String,
    /// Which requests send a message.
    pub on: EnqueueOn,
}

/// The app's producer.
pub(crate) struct Enqueue<E: Env> {
    client: Client<E, QueueMsg>,
    queue: String,
    pub(crate) on: EnqueueOn,
    timeout: Duration,
}

impl<E: Env> Enqueue<E> {
    pub(crate) fn new(env: &E, config: &EnqueueConfig, timeout: Duration) -> Self {
        Self {
            client: Client::new(env.clone(), config.addr.clone(), timeout),
            queue: config.queue.clone(),
            on: config.on,
            timeout,
        }
    }

    /// Sends one message; on failure, the reply that fails the request.
    pub(crate) async fn send(&self, key: &[u8], body: Vec<u8>) -> Result<(), Msg> {
        let msg = QueueMsg::Send { queue: self.queue.clone(), key: key.to_vec(), body };
        let detail = match self.client.call(msg, self.timeout).await {
            Ok(QueueMsg::Sent { .. }) => return Ok(()),
            Ok(QueueMsg::Full { depth }) => format!("queue: full at {depth} messages"),
            Ok(other) => format!("queue: answered {}", other.name()),
            Err(e) => format!("queue: {e}"),
        };
        Err(Msg::Error { code: ErrorCode::Upstream, detail })
    }
}
