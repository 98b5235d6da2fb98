//! The payment kind: a third-party payment API an app's checkout calls (`POST /charge`, once
//! per idempotency key). It has no settings; its host's capacity (workers, queue, service time)
//! is its speed, a `slow` fault its slowness and a `kill` its outage.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want};
use crate::world::SimEnv;
use faultline_models::server::Capacity;
use serde::Serialize;

/// The payment kind's settings: none (the file says `service = "payment"`).
#[derive(Debug, Clone, Copy)]
pub struct PaymentService;

/// A payment API in the run plan: nothing beyond the host's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PaymentPlan;

impl Kind for PaymentService {
    type Plan = PaymentPlan;
    /// Only apps call it.
    const LOAD: Option<LoadApi> = None;

    fn kind(&self) -> &'static str {
        "payment"
    }

    fn provides(&self, want: Want) -> bool {
        match want {
            Want::Payment => true,
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn compile(&self, _name: &str, _cx: &PlanContext) -> PaymentPlan {
        PaymentPlan
    }
}

impl Start for PaymentPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        Box::pin(faultline_models::payment::serve_payment(env, super::SERVICE_PORT, capacity))
    }
}
