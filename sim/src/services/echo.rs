//! The echo kind: a server that returns each payload unchanged (the benchmark's server). It
//! has no settings; a host's capacity (workers, queue, service time) is all there is to it.

use super::{LoadApi, Want};
use crate::world::SimEnv;
use faultline_models::server::Capacity;

/// The kind's name in reports and traces.
pub(crate) const KIND: &str = "echo";

/// Load generators send it echo requests.
pub(crate) const LOAD: Option<LoadApi> = Some(LoadApi::Echo);

/// An echo server is nothing a reference asks for.
pub(crate) fn provides(want: Want) -> bool {
    match want {
        Want::KvPrimary | Want::Kv | Want::Cache | Want::Store => false,
    }
}

/// Serves echo requests on the service port.
pub(crate) async fn start(env: SimEnv, capacity: Capacity) -> std::io::Result<()> {
    faultline_models::server::serve(env, super::SERVICE_PORT, capacity, faultline_models::echo::Echo).await
}
