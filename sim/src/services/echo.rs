//! The echo kind: a server that returns each payload unchanged (the benchmark's server). It
//! has no settings; a host's capacity (workers, queue, service time) is all there is to it.

use super::{Kind, LoadApi, PlanContext, Running, Start, Want};
use crate::world::SimEnv;
use faultline_models::server::Capacity;
use serde::Serialize;

/// The echo kind's settings: none (the file says `service = "echo"`).
#[derive(Debug, Clone, Copy)]
pub struct EchoService;

/// An echo server in the run plan: nothing beyond the host's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EchoPlan;

impl Kind for EchoService {
    type Plan = EchoPlan;
    const LOAD: Option<LoadApi> = Some(LoadApi::Echo);

    fn kind(&self) -> &'static str {
        "echo"
    }

    /// An echo server is nothing a reference asks for.
    fn provides(&self, want: Want) -> bool {
        match want {
            Want::KvPrimary
            | Want::Kv
            | Want::Cache
            | Want::Store
            | Want::Payment
            | Want::HttpApp
            | Want::Service
            | Want::Cdn
            | Want::Queue => false,
        }
    }

    fn compile(&self, _name: &str, _cx: &PlanContext) -> EchoPlan {
        EchoPlan
    }
}

impl Start for EchoPlan {
    fn start(&self, env: SimEnv, capacity: Capacity) -> Running {
        let echo = faultline_models::echo::Echo;
        Box::pin(faultline_models::server::serve(env, super::SERVICE_PORT, capacity, echo))
    }
}
