//! An app's `enqueue` setting: the queue broker a successful write or checkout sends one
//! message to (before the client is answered; see `faultline_models::app::enqueue` for why),
//! its checks and its plan.

use crate::scenario::Sp;
use crate::scenario::validate::Checker;
use crate::services::{PlanContext, Want, expect};
use faultline_models::app::enqueue::{EnqueueConfig, EnqueueOn};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `enqueue = { broker = "mq", queue = "jobs", on = "write" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueSpec {
    /// The queue broker host.
    #[schemars(with = "String")]
    pub broker: Sp<String>,
    /// The queue. Default: the broker's first.
    #[serde(default)]
    pub queue: Option<String>,
    /// "write" (every successful write) or "checkout" (every successful checkout). Default
    /// "write".
    #[serde(default)]
    pub on: OnSpec,
}

/// Which requests send a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnSpec {
    /// Every successful write.
    #[default]
    Write,
    /// Every successful checkout.
    Checkout,
}

/// The app's queue in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnqueuePlan {
    /// "host:port" of the broker.
    pub broker: String,
    /// The queue; "" for the broker's first.
    pub queue: String,
    /// Which requests send a message.
    pub on: OnSpec,
}

impl EnqueueSpec {
    /// Checks the broker is one.
    pub(super) fn validate(&self, c: &mut Checker) {
        expect(c, &self.broker, Want::Queue, "an app's `enqueue.broker`");
    }

    pub(super) fn compile(&self, cx: &PlanContext) -> EnqueuePlan {
        EnqueuePlan { broker: cx.addr(&self.broker), queue: self.queue.clone().unwrap_or_default(), on: self.on }
    }
}

impl EnqueuePlan {
    pub(super) fn config(&self) -> EnqueueConfig {
        let on = match self.on {
            OnSpec::Write => EnqueueOn::Write,
            OnSpec::Checkout => EnqueueOn::Checkout,
        };
        EnqueueConfig { addr: self.broker.clone(), queue: self.queue.clone(), on }
    }
}
