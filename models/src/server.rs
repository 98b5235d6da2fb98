//! Serving the framed protocol: accept connections, run requests concurrently, reply by id.
//!
//! It also owns the service-time and concurrency model shared by every server model: a fixed
//! number of worker slots, a bounded wait queue and a per-request cost drawn from a seeded
//! distribution, so saturation shows as queueing, rising latency and shed load, as it does in
//! real servers. The gauges `inflight` (requests being served or queued) and `queue` (waiting
//! for a slot) are set through the seam on every change. Slots are granted in arrival order
//! (tokio's semaphore is fair), and a cost is slept on tokio's 1 ms timer grid with a dither
//! that keeps its mean exact (see `dithered_sleep`); `docs/fidelity.md` checks the whole model
//! against the M/M/c formulas.

use crate::proto::{ErrorCode, Frame, Msg, read_frame, write_frame};
use crate::seam::{Env, Listener, RequestKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::WriteHalf;
use tokio::sync::{Mutex, Semaphore};

/// How long one request occupies a worker slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceTime {
    /// No cost: the request is served as soon as it arrives.
    Zero,
    /// Always this long.
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exponential(Duration),
}

impl ServiceTime {
    /// Draws one cost.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            ServiceTime::Zero => Duration::ZERO,
            ServiceTime::Fixed(d) => d,
            ServiceTime::Exponential(mean) => {
                let u: f64 = rng.random::<f64>();
                // 1 - u is in (0, 1], so the log is finite.
                Duration::from_secs_f64(-(1.0 - u).ln() * mean.as_secs_f64())
            }
        }
    }
}

/// Resolution of tokio's timer wheel: a sleep ends on the first whole millisecond at or after
/// its deadline (on real tokio and in the simulation alike).
const TIMER_GRID: Duration = Duration::from_millis(1);

/// The sleep to ask for so that a service time of `cost` is realised without bias on the
/// timer grid; `dither` is uniform in [0, 1).
///
/// Sleeping `cost` itself would end on the grid point at or after `now + cost`: half a
/// millisecond too long on average, which inflates an exponential 2 ms cost by 27% (an
/// exponential 100 ms cost by 0.5%, enough to lengthen the mean queue wait of four slots at
/// 95% utilisation by 12%).
/// Sleeping `cost - dither * grid` instead ends on the grid point below or above
/// `now + cost` with the probabilities that make its mean exactly `now + cost` (stochastic
/// rounding, whatever the phase of `now` on the grid): a fixed 1.5 ms cost is 1 ms or 2 ms
/// half of the time each, a whole number of milliseconds is kept exactly. Costs below the
/// grid become zero or one grid step, with the right mean.
fn dithered_sleep(cost: Duration, dither: f64) -> Duration {
    debug_assert!((0.0..1.0).contains(&dither), "dither {dither} outside [0, 1)");
    cost.saturating_sub(TIMER_GRID.mul_f64(dither))
}

/// The capacity of a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Worker slots serving requests at once.
    pub workers: usize,
    /// Requests allowed to wait for a slot; past this they are shed with `Overloaded`.
    pub queue_limit: usize,
    /// Cost of one request.
    pub service_time: ServiceTime,
}

impl Default for Capacity {
    fn default() -> Self {
        Self { workers: 64, queue_limit: 10_000, service_time: ServiceTime::Zero }
    }
}

/// The write half of a connection with its encode buffer, shared by the requests on it.
type SharedWriter<E> = Rc<Mutex<(WriteHalf<<E as Env>::Stream>, Vec<u8>)>>;

/// Sends further frames on the connection a request came in on (replication streams).
pub struct Replier<E: Env> {
    id: u64,
    writer: SharedWriter<E>,
}

impl<E: Env> Clone for Replier<E> {
    fn clone(&self) -> Self {
        Self { id: self.id, writer: self.writer.clone() }
    }
}

impl<E: Env> Replier<E> {
    /// The id of the request this replier answers (chosen by the caller; a replica uses a
    /// stable id for its subscription and acknowledgements, so the primary can tell replicas apart).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sends `msg` with the id of the request this replier belongs to.
    pub async fn send(&self, msg: Msg) -> io::Result<()> {
        let mut w = self.writer.lock().await;
        let (writer, scratch) = &mut *w;
        write_frame(writer, &Frame { id: self.id, msg }, scratch).await
    }
}

/// The application logic of a server.
pub trait Handler<E: Env>: 'static {
    /// Serves one message. Returns the reply, or `None` when there is none to send (a
    /// one-way message, or a stream the handler feeds itself through `replier`).
    fn handle(&self, msg: Msg, replier: Replier<E>) -> impl Future<Output = Option<Msg>>;
}

/// Whether a message is a query that occupies a worker slot (control traffic does not).
fn is_query(msg: &Msg) -> bool {
    matches!(msg, Msg::Get { .. } | Msg::Put { .. } | Msg::Delete { .. } | Msg::Echo { .. })
}

fn request_kind(msg: &Msg) -> RequestKind {
    match msg {
        Msg::Get { .. } => RequestKind::Read,
        Msg::Put { .. } | Msg::Delete { .. } => RequestKind::Write,
        _ => RequestKind::Other,
    }
}

struct Shared<E: Env, H> {
    env: E,
    handler: H,
    capacity: Capacity,
    slots: Semaphore,
    waiting: Cell<usize>,
    inflight: Cell<usize>,
    rng: RefCell<ChaCha8Rng>,
}

impl<E: Env, H> Shared<E, H> {
    fn publish(&self) {
        self.env.gauge("inflight", self.inflight.get() as i64);
        self.env.gauge("queue", self.waiting.get() as i64);
    }
}

/// Binds `port` and serves `handler` until the listener fails.
pub async fn serve<E: Env, H: Handler<E>>(env: E, port: u16, capacity: Capacity, handler: H) -> io::Result<()> {
    let listener = env.bind(port).await?;
    serve_on(env, listener, capacity, handler).await
}

/// Serves `handler` on an already bound `listener` until it fails (tests bind port 0 and read
/// the port back before serving).
pub async fn serve_on<E: Env, H: Handler<E>>(
    env: E,
    listener: E::Listener,
    capacity: Capacity,
    handler: H,
) -> io::Result<()> {
    let shared = Rc::new(Shared {
        rng: RefCell::new(env.rng("service-time")),
        env: env.clone(),
        handler,
        slots: Semaphore::new(capacity.workers.max(1)),
        capacity,
        waiting: Cell::new(0),
        inflight: Cell::new(0),
    });
    shared.publish();
    loop {
        let (stream, _peer) = listener.accept().await?;
        env.spawn(serve_connection(stream, shared.clone()));
    }
}

async fn serve_connection<E: Env, H: Handler<E>>(stream: E::Stream, shared: Rc<Shared<E, H>>) {
    let (mut reader, writer) = tokio::io::split(stream);
    let writer = Rc::new(Mutex::new((writer, Vec::with_capacity(128))));
    let mut scratch = Vec::with_capacity(128);
    while let Ok(Some(frame)) = read_frame(&mut reader, &mut scratch).await {
        let replier = Replier { id: frame.id, writer: writer.clone() };
        let mut request = Box::pin(serve_request(frame.msg, replier, shared.clone()));
        // Most requests with no service time finish at their first poll (an echo, a cache
        // hit): serve those here rather than paying for a task. One that must wait (a slot, a
        // dependency, its service time) becomes a task, which polls it again with a real waker.
        if poll_once(request.as_mut()).is_pending() {
            shared.env.spawn(request);
        }
    }
}

/// Polls `fut` once without a waker to register: only for futures that are polled again
/// (spawned) if they are not ready.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    fut.poll(&mut cx)
}

async fn serve_request<E: Env, H: Handler<E>>(msg: Msg, replier: Replier<E>, shared: Rc<Shared<E, H>>) {
    let reply = if is_query(&msg) {
        if shared.waiting.get() >= shared.capacity.queue_limit && shared.slots.available_permits() == 0 {
            Some(Msg::Error { code: ErrorCode::Overloaded, detail: "queue full".into() })
        } else {
            let arrived = shared.env.now();
            shared.inflight.set(shared.inflight.get() + 1);
            shared.waiting.set(shared.waiting.get() + 1);
            shared.publish();
            let permit = shared.slots.acquire().await.expect("the semaphore is never closed");
            shared.waiting.set(shared.waiting.get() - 1);
            shared.publish();
            let cost = shared.capacity.service_time.sample(&mut shared.rng.borrow_mut());
            if !cost.is_zero() {
                let dither: f64 = shared.rng.borrow_mut().random();
                let request = dithered_sleep(cost, dither);
                if !request.is_zero() {
                    shared.env.sleep(request).await;
                }
            }
            let kind = request_kind(&msg);
            let reply = shared.handler.handle(msg, replier.clone()).await;
            drop(permit);
            let ok = !matches!(reply, Some(Msg::Error { .. }));
            shared.env.served(kind, shared.env.now().saturating_sub(arrived), ok);
            shared.inflight.set(shared.inflight.get() - 1);
            shared.publish();
            reply
        }
    } else {
        shared.handler.handle(msg, replier.clone()).await
    };
    if let Some(reply) = reply {
        // A peer that hung up gets no reply; its client sees the disconnect.
        let _ = replier.send(reply).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exponential_service_time_has_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let st = ServiceTime::Exponential(Duration::from_millis(10));
        let n = 20_000;
        let total: f64 = (0..n).map(|_| st.sample(&mut rng).as_secs_f64()).sum();
        let mean_ms = total / n as f64 * 1000.0;
        assert!((mean_ms - 10.0).abs() < 0.3, "mean {mean_ms} ms");
    }

    /// The time a sleep of `request` really takes from a start `phase` into a grid step: it
    /// ends on the first grid point at or after its deadline, as tokio's timer wheel does.
    fn realised(phase: Duration, request: Duration) -> Duration {
        let grid = TIMER_GRID.as_nanos();
        let end = (phase + request).as_nanos().div_ceil(grid) * grid;
        Duration::from_nanos(end as u64) - phase
    }

    /// The mean realised time of a service `cost` over `n` dithers drawn from `seed`.
    fn mean_realised_ms(cost: Duration, phase: Duration, seed: u64, n: u32) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let total: Duration = (0..n).map(|_| realised(phase, dithered_sleep(cost, rng.random()))).sum();
        total.as_secs_f64() * 1000.0 / f64::from(n)
    }

    #[test]
    fn dithered_sleeps_realise_the_cost_on_average_on_the_timer_grid() {
        let n = 200_000;
        for (cost_us, phase_us) in [(300, 0), (1500, 0), (2700, 0), (2700, 400), (100_250, 0)] {
            let cost = Duration::from_micros(cost_us);
            let got = mean_realised_ms(cost, Duration::from_micros(phase_us), cost_us, n);
            let want = cost.as_secs_f64() * 1000.0;
            // The rounding error is at most one grid step: its mean over n has sd <= 0.5 / sqrt(n) ms.
            assert!((got - want).abs() < 0.005, "cost {want} ms, phase {phase_us} us: realised {got} ms");
        }
        // Without the dither, a sleep that starts on the grid is rounded up: 0.5 ms too long on average.
        assert_eq!(realised(Duration::ZERO, Duration::from_micros(1500)), Duration::from_millis(2));
    }

    #[test]
    fn dithered_sleeps_keep_whole_milliseconds_exact() {
        for dither in [0.0, 0.3, 0.999_999] {
            let request = dithered_sleep(Duration::from_millis(3), dither);
            assert_eq!(realised(Duration::ZERO, request), Duration::from_millis(3), "dither {dither}");
        }
    }

    #[test]
    fn fixed_and_zero_are_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(ServiceTime::Zero.sample(&mut rng), Duration::ZERO);
        assert_eq!(ServiceTime::Fixed(Duration::from_millis(3)).sample(&mut rng), Duration::from_millis(3));
    }
}
