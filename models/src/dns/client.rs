//! The client side of the DNS protocol: one query, its answer or why there is none.
//!
//! It owns the exchange; it must not cache (that is [`super::resolver`]).

use super::api::DnsMsg;
use crate::client::{CallError, Client};
use crate::seam::Env;
use std::time::Duration;

/// Why a lookup gave no answer.
#[derive(Debug)]
pub enum LookupError {
    /// The server could not be reached or did not answer in time.
    Call(CallError),
    /// The server answered with an error (an unknown name, overload).
    Refused(String),
}

/// A connection to a DNS server, asking from one region.
pub struct DnsClient<E: Env> {
    client: Client<E, DnsMsg>,
    region: String,
    timeout: Duration,
}

impl<E: Env> DnsClient<E> {
    /// A client of the server at `addr`, in `region` ("" for none), giving up on a query after
    /// `timeout`.
    pub fn new(env: E, addr: impl Into<String>, region: impl Into<String>, timeout: Duration) -> Self {
        DnsClient { client: Client::new(env, addr, timeout), region: region.into(), timeout }
    }

    /// Asks for `name`: the address and the TTL the server gave it.
    pub async fn query(&self, name: &str) -> Result<(String, Duration), LookupError> {
        let query = DnsMsg::Query { name: name.to_string(), region: self.region.clone() };
        match self.client.call(query, self.timeout).await.map_err(LookupError::Call)? {
            DnsMsg::Answer { addr, ttl_ms } => Ok((addr, Duration::from_millis(u64::from(ttl_ms)))),
            DnsMsg::Error { detail, .. } => Err(LookupError::Refused(detail)),
            other @ DnsMsg::Query { .. } => Err(LookupError::Refused(format!("unexpected reply {}", other.name()))),
        }
    }
}
