//! The echo server: replies to `Echo { payload }` with the same payload. The benchmark's
//! closed-loop workload runs against it, on real sockets and in the simulation alike.

use crate::proto::{ErrorCode, Framed, Msg};
use crate::seam::Env;
use crate::server::{Handler, Replier};

/// Echoes payloads back; anything else is a bad request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl<E: Env> Handler<E> for Echo {
    type Codec = Framed;

    async fn handle(&self, msg: Msg, _replier: Replier<E, Framed>) -> Option<Msg> {
        Some(match msg {
            Msg::Echo { payload } => Msg::Echo { payload },
            _ => Msg::Error { code: ErrorCode::BadRequest, detail: "echo serves Echo only".into() },
        })
    }
}
