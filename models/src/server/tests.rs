//! The queueing model served over the framed protocol on loopback sockets: connection limits,
//! the queue timeout, the connect cost and the Slowdown knob, with the echo model. Also the
//! test helpers other models' tests share ([`bind_any`], [`Raw`]).

use super::*;
use crate::echo::{Echo, EchoMsg};
use crate::proto::{ErrorCode, Frame, Wire, read_frame, write_frame};
use crate::seam::Knob;
use crate::seam::TokioListener;
use crate::testenv::{TestEnv, block_on};

/// Binds a free loopback port; returns the listener and its "host:port".
pub(crate) async fn bind_any<E: Env<Listener = TokioListener>>(env: &E) -> (TokioListener, String) {
    let listener = env.bind(0).await.expect("bind on loopback");
    let addr = listener.local_addr().expect("a bound address").to_string();
    (listener, addr)
}

/// One connection driven by hand: each call sends a frame and reads the next one back.
pub(crate) struct Raw<E: Env> {
    stream: E::Stream,
    scratch: Vec<u8>,
    next_id: u64,
}

impl<E: Env> Raw<E> {
    pub(crate) async fn open(env: &E, addr: &str) -> Self {
        Self { stream: env.connect(addr).await.expect("connect on loopback"), scratch: Vec::new(), next_id: 1 }
    }

    /// Sends `msg`; the reply, or `None` when the server closed the connection.
    pub(crate) async fn call<M: Wire>(&mut self, msg: M) -> Option<M> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.stream, &Frame { id, msg }, &mut self.scratch).await.ok()?;
        let frame = read_frame::<M, _>(&mut self.stream, &mut self.scratch).await.ok()??;
        assert_eq!(frame.id, id, "the reply carries the request's id");
        Some(frame.msg)
    }
}

fn echo() -> EchoMsg {
    EchoMsg::Echo { payload: vec![1, 2, 3] }
}

fn error_code(msg: &Option<EchoMsg>) -> Option<ErrorCode> {
    match msg {
        Some(EchoMsg::Error { code, .. }) => Some(*code),
        _ => None,
    }
}

#[test]
fn a_connection_over_the_limit_is_refused_at_its_first_request_and_closed() {
    block_on(async {
        let env = TestEnv::new("db");
        let (listener, addr) = bind_any(&env).await;
        let capacity = Capacity { max_connections: Some(1), ..Capacity::default() };
        tokio::task::spawn_local(serve(env.clone(), listener, capacity, Echo));
        let mut first = Raw::open(&env, &addr).await;
        assert_eq!(first.call(echo()).await, Some(echo()));
        assert_eq!(env.gauge("connections"), Some(1));
        let mut second = Raw::open(&env, &addr).await;
        let refused = second.call(echo()).await;
        assert_eq!(error_code(&refused), Some(ErrorCode::TooManyConnections), "got {refused:?}");
        assert_eq!(second.call(echo()).await, None, "the refused connection is closed");
        assert_eq!(first.call(echo()).await, Some(echo()), "the first connection is unaffected");
        drop(first);
        // The slot frees once the server has seen the close: poll, bounded.
        let mut served = None;
        for _ in 0..200 {
            let mut third = Raw::open(&env, &addr).await;
            served = third.call(echo()).await;
            if served == Some(echo()) {
                break;
            }
            env.sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(served, Some(echo()), "a connection is accepted after the first one closed");
    });
}

#[test]
fn a_request_that_waits_past_the_queue_timeout_is_answered_overloaded() {
    block_on(async {
        let env = TestEnv::new("db");
        let (listener, addr) = bind_any(&env).await;
        let capacity = Capacity {
            queue_timeout: Some(Duration::from_millis(20)),
            ..Capacity::new(1, 100, ServiceTime::Fixed(Duration::from_millis(300)))
        };
        tokio::task::spawn_local(serve(env.clone(), listener, capacity, Echo));
        let mut a = Raw::open(&env, &addr).await;
        let mut b = Raw::open(&env, &addr).await;
        let (first, second) = tokio::join!(a.call(echo()), async {
            // Arrive second, so the first holds the only worker.
            env.sleep(Duration::from_millis(5)).await;
            b.call(echo()).await
        });
        assert_eq!(first, Some(echo()));
        assert_eq!(error_code(&second), Some(ErrorCode::Overloaded), "got {second:?}");
        let served = env.served_log();
        assert_eq!(served.iter().filter(|(_, _, ok)| *ok).count(), 1, "{served:?}");
        let timed_out: Vec<_> = served.iter().filter(|(_, _, ok)| !ok).collect();
        assert_eq!(timed_out.len(), 1, "{served:?}");
        assert!(timed_out[0].1 >= Duration::from_millis(20), "it is reported with its wait: {served:?}");
        assert!(timed_out[0].1 < Duration::from_millis(300), "it was not served: {served:?}");
    });
}

#[test]
fn a_new_connection_pays_its_connect_cost_once() {
    block_on(async {
        let env = TestEnv::new("db");
        let (listener, addr) = bind_any(&env).await;
        let cost = Duration::from_millis(150);
        let capacity = Capacity { connect_cost: cost, ..Capacity::default() };
        tokio::task::spawn_local(serve(env.clone(), listener, capacity, Echo));
        let mut raw = Raw::open(&env, &addr).await;
        let start = env.now();
        assert_eq!(raw.call(echo()).await, Some(echo()));
        assert!(env.now() - start >= cost, "the first request waited for the connection");
        assert_eq!(raw.call(echo()).await, Some(echo()));
        let served = env.served_log();
        assert_eq!(served.len(), 2, "{served:?}");
        assert!(served[0].1 >= cost, "the first request's latency includes the connect cost: {served:?}");
        assert!(served[1].1 < cost, "later requests do not pay it: {served:?}");
        assert_eq!(env.gauge("connections"), Some(1));
    });
}

#[test]
fn the_slowdown_knob_stretches_service_times() {
    block_on(async {
        let env = TestEnv::new("db");
        let (listener, addr) = bind_any(&env).await;
        let cost = Duration::from_millis(40);
        tokio::task::spawn_local(serve(env.clone(), listener, Capacity::new(4, 100, ServiceTime::Fixed(cost)), Echo));
        let mut raw = Raw::open(&env, &addr).await;
        assert_eq!(raw.call(echo()).await, Some(echo()));
        env.inner.set_knob(Knob::Slowdown, 200);
        assert_eq!(raw.call(echo()).await, Some(echo()));
        let served = env.served_log();
        assert_eq!(served.len(), 2, "{served:?}");
        assert!(served[0].1 < 3 * cost, "before the knob: {served:?}");
        assert!(served[1].1 >= 3 * cost, "a slowdown of 200% triples the cost: {served:?}");
        assert_eq!(env.gauge("connections"), None, "connections are not modelled by default");
    });
}
