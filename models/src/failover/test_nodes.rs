//! Test support for the controller, the router and the app: scripted store nodes that speak
//! the management protocol (the environment that records what they report is `crate::testenv`).
//!
//! A [`FakeNode`] keeps a [`NodeStatus`] the test sets directly and answers `Check`, `Promote`,
//! `Follow`, `Get` and `Put` from it the way the protocol says a managed store node does (only
//! a node that is not the primary checks read tokens), and records every message it receives.
//! A silent node receives but never answers. Each fake listens on a loopback address of its
//! own (`127.0.0.<host>`), so the controller's state messages name it.

use crate::kv::api::{Msg, NodeRole, NodeStatus};
use crate::proto::{ErrorCode, Framed};
use crate::seam::{Env, TokioEnv};
use crate::server::{Capacity, Handler, Replier, serve};
pub(crate) use crate::testenv::{TestEnv, block_on};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// The scripted state of a fake store node.
#[derive(Debug, Clone)]
pub(crate) struct FakeState {
    pub(crate) status: NodeStatus,
    /// Receives everything, answers nothing.
    pub(crate) silent: bool,
    pub(crate) data: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) received: Vec<Msg>,
}

/// A handle on a running fake node.
#[derive(Clone)]
pub(crate) struct FakeNode {
    pub(crate) addr: String,
    state: Rc<RefCell<FakeState>>,
}

pub(crate) fn status(role: NodeRole, epoch: u64, lsn: u64) -> NodeStatus {
    NodeStatus { role, epoch, lsn, last_epoch: if lsn == 0 { 0 } else { epoch }, lag_ns: 0 }
}

impl FakeNode {
    /// Starts a fake node on `127.0.0.<host>` (a host of its own, so state messages name it).
    pub(crate) async fn start(host: u8, status: NodeStatus) -> Self {
        let env = TokioEnv::new(&format!("node{host}"), &format!("127.0.0.{host}"), 9);
        let listener = env.bind(0).await.expect("bind a loopback address");
        let addr = listener.local_addr().expect("an address").to_string();
        let state =
            Rc::new(RefCell::new(FakeState { status, silent: false, data: BTreeMap::new(), received: Vec::new() }));
        let handler = FakeHandler(state.clone());
        tokio::task::spawn_local(serve(env, listener, Capacity::default(), handler));
        Self { addr, state }
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut FakeState)) {
        f(&mut self.state.borrow_mut());
    }

    pub(crate) fn status(&self) -> NodeStatus {
        self.state.borrow().status
    }

    pub(crate) fn received(&self) -> Vec<Msg> {
        self.state.borrow().received.clone()
    }

    /// How many received messages match `pred`.
    pub(crate) fn count(&self, pred: impl Fn(&Msg) -> bool) -> usize {
        self.state.borrow().received.iter().filter(|m| pred(m)).count()
    }
}

struct FakeHandler(Rc<RefCell<FakeState>>);

impl<E: Env> Handler<E> for FakeHandler {
    type Codec = Framed<Msg>;

    async fn handle(&self, msg: Msg, _replier: Replier<E, Framed<Msg>>) -> Option<Msg> {
        let mut st = self.0.borrow_mut();
        st.received.push(msg.clone());
        if st.silent {
            return None;
        }
        Some(answer(&mut st, msg))
    }
}

fn answer(st: &mut FakeState, msg: Msg) -> Msg {
    let refuse = |code, detail: &str| Msg::Error { code, detail: detail.to_string() };
    match msg {
        Msg::Check { epoch, .. } => {
            if epoch > st.status.epoch {
                if st.status.role == NodeRole::Primary {
                    st.status.role = NodeRole::Fenced;
                }
                st.status.epoch = epoch;
            }
            Msg::Status(st.status)
        }
        Msg::Promote { epoch } if epoch > st.status.epoch => {
            st.status.role = NodeRole::Primary;
            st.status.epoch = epoch;
            st.status.lag_ns = 0;
            Msg::Status(st.status)
        }
        Msg::Promote { .. } => refuse(ErrorCode::Fenced, "epoch not above mine"),
        Msg::Follow { epoch, .. } if epoch >= st.status.epoch => {
            st.status.role = NodeRole::Replica;
            st.status.epoch = epoch;
            Msg::Status(st.status)
        }
        Msg::Follow { .. } => refuse(ErrorCode::Fenced, "epoch below mine"),
        Msg::Get { key, min_lsn } if st.status.role != NodeRole::Primary && st.status.lsn < min_lsn => {
            let _ = key;
            refuse(ErrorCode::NotPrimary, &format!("behind read token {min_lsn}: applied {}", st.status.lsn))
        }
        Msg::Get { key, .. } => Msg::Value { value: st.data.get(&key).cloned(), lsn: st.status.lsn },
        Msg::Put { key, value } if st.status.role == NodeRole::Primary => {
            st.status.lsn += 1;
            st.status.last_epoch = st.status.epoch;
            st.data.insert(key, value);
            Msg::Written { lsn: st.status.lsn, epoch: st.status.epoch }
        }
        Msg::Put { .. } | Msg::Delete { .. } => refuse(ErrorCode::NotPrimary, "not the primary"),
        other => refuse(ErrorCode::BadRequest, other.name()),
    }
}

/// Polls `cond` until it holds, for at most five seconds of the env's clock.
pub(crate) async fn until<E: Env>(env: &E, what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        env.sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}
