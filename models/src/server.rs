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
//!
//! The model of a database server's connections and timeouts, each off by default:
//! - `max_connections`: a connection accepted beyond the limit gets one
//!   `Error { TooManyConnections }` in reply to its first request and is closed (PostgreSQL's
//!   "too many clients already"). The protocol has no startup message, so the refusal waits for
//!   that first request. Refused connections are not counted.
//! - `connect_cost`: a new connection holds its connection slot this long (process fork and
//!   authentication) before its first request is served; that request's reported latency
//!   includes the wait. It holds no worker slot meanwhile.
//! - `queue_timeout`: a query that waited longer than this for a worker slot is answered
//!   `Error { Overloaded }` without being served (a statement or lock timeout), and reported as
//!   a failed request with the time it waited. (A query shed because the queue is full is
//!   answered at once and not reported: it spent no time here.)
//! - The gauge `connections` (open, accepted connections) is published only when one of the
//!   two connection settings is on, so servers without them add nothing to a trace.
//! - The knob [`Knob::Slowdown`] multiplies every sampled cost by (100 + value) / 100, read per
//!   request so chaos can turn it during a run; a zero cost stays zero.
//!
//! A handler sees which connection a request came on ([`Replier::connection`]) and is told
//! when a connection opens and closes ([`Handler::connected`], [`Handler::disconnected`]), so
//! per-connection state (a pooler's session) can live beside it. A handler that waits on a
//! dependency without occupying a worker (an event loop) sets [`Handler::HOLDS_SLOT`] to false.
//!
//! Hot path: with these settings off, a request allocates nothing beyond its one boxed future,
//! arms no timer for a queue timeout, and reads the knob only when its cost is nonzero.

use crate::lock::LocalLock;
use crate::proto::{ErrorCode, Frame, FrameReader, Msg, read_frame, write_frame};
use crate::seam::{Env, Knob, Listener, RequestKind, Stream, timeout};
use faultline_vocab::gauge;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long one request occupies a worker slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceTime {
    /// No cost: the request is served as soon as it arrives.
    Zero,
    /// Always this long.
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exponential(Duration),
    /// Log-normally distributed with this mean, the shape of real query latencies (most fast,
    /// a long tail). `sigma` is the standard deviation of the cost's logarithm: its median is
    /// `mean * exp(-sigma² / 2)`, so 0.5 puts the median 12% under the mean and 1.0 puts it 39%
    /// under. A negative `sigma` acts as its absolute value, a non-finite one as 0 (`Fixed`).
    LogNormal {
        /// The mean cost (exact: the location parameter is derived from it).
        mean: Duration,
        /// The spread of the cost's logarithm.
        sigma: f64,
    },
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
            ServiceTime::LogNormal { mean, sigma } => {
                let sigma = if sigma.is_finite() { sigma.abs() } else { 0.0 };
                let z = standard_normal(rng);
                // E[exp(sigma * z)] = exp(sigma² / 2): dividing it out keeps the mean exact.
                let secs = mean.as_secs_f64() * (sigma * z - sigma * sigma / 2.0).exp();
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
            }
        }
    }
}

/// One draw of a standard normal variable (Box-Muller; two uniforms per draw, so the stream's
/// position never depends on state kept between draws).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `cost` under a slowdown of `percent`: multiplied by (100 + percent) / 100.
fn slowed(cost: Duration, percent: u64) -> Duration {
    let nanos = cost.as_nanos().saturating_mul(100 + u128::from(percent)) / 100;
    u64::try_from(nanos).map_or(Duration::MAX, Duration::from_nanos)
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

/// The capacity of a server. Build it with [`Capacity::new`] (or `..Capacity::default()`), so
/// settings added later keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Worker slots serving requests at once.
    pub workers: usize,
    /// Requests allowed to wait for a slot; past this they are shed with `Overloaded`.
    pub queue_limit: usize,
    /// Cost of one request.
    pub service_time: ServiceTime,
    /// Connections open at once; one more is refused with `TooManyConnections`. `None`: no limit.
    pub max_connections: Option<usize>,
    /// How long a new connection holds its slot before its first request is served.
    pub connect_cost: Duration,
    /// The longest a query may wait for a worker slot before it is answered `Overloaded`.
    /// `None`: it waits as long as it takes.
    pub queue_timeout: Option<Duration>,
}

impl Capacity {
    /// `workers` slots, a queue of `queue_limit` and a cost of `service_time`; no connection
    /// limit, no connect cost, no queue timeout.
    pub fn new(workers: usize, queue_limit: usize, service_time: ServiceTime) -> Self {
        Self {
            workers,
            queue_limit,
            service_time,
            max_connections: None,
            connect_cost: Duration::ZERO,
            queue_timeout: None,
        }
    }

    /// Whether connections are modelled (counted, limited or costly).
    fn models_connections(&self) -> bool {
        self.max_connections.is_some() || !self.connect_cost.is_zero()
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Self::new(64, 10_000, ServiceTime::Zero)
    }
}

/// The write half of a connection with its encode buffer, shared by the requests on it.
type SharedWriter<E> = Rc<LocalLock<(<<E as Env>::Stream as Stream>::WriteHalf, Vec<u8>)>>;

/// Sends further frames on the connection a request came in on (replication streams).
pub struct Replier<E: Env> {
    id: u64,
    conn: u64,
    writer: SharedWriter<E>,
}

impl<E: Env> Clone for Replier<E> {
    fn clone(&self) -> Self {
        Self { id: self.id, conn: self.conn, writer: self.writer.clone() }
    }
}

impl<E: Env> Replier<E> {
    /// The id of the request this replier answers (chosen by the caller; a replica uses a
    /// stable id for its subscription and acknowledgements, so the primary can tell replicas apart).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The connection the request came on: numbered from 1 in order of acceptance, never reused
    /// while the server runs (the number passed to [`Handler::connected`]).
    pub fn connection(&self) -> u64 {
        self.conn
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
    /// Whether a query keeps its worker slot while `handle` runs (a thread per request, the
    /// default) or gives it back once its service time is spent (an event loop that waits on a
    /// dependency without a worker, such as a connection pooler).
    const HOLDS_SLOT: bool = true;

    /// Serves one message. Returns the reply, or `None` when there is none to send (a
    /// one-way message, or a stream the handler feeds itself through `replier`).
    fn handle(&self, msg: Msg, replier: Replier<E>) -> impl Future<Output = Option<Msg>>;

    /// Connection `conn` was accepted (and not refused); its requests follow.
    fn connected(&self, conn: u64) {
        let _ = conn;
    }

    /// The peer of connection `conn` closed it (or it failed). Requests read from it before may
    /// still be running, and will still call `handle`.
    fn disconnected(&self, conn: u64) {
        let _ = conn;
    }
}

/// Whether a message is a query that occupies a worker slot (control traffic does not).
pub(crate) fn is_query(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Get { .. } | Msg::Put { .. } | Msg::Delete { .. } | Msg::Cas { .. } | Msg::Echo { .. } | Msg::Hold { .. }
    )
}

fn request_kind(msg: &Msg) -> RequestKind {
    match msg {
        Msg::Get { .. } => RequestKind::Read,
        Msg::Put { .. } | Msg::Delete { .. } | Msg::Cas { .. } => RequestKind::Write,
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
    /// Accepted connections not yet closed (refused ones are not counted).
    connections: Cell<usize>,
    /// The number of the last accepted connection.
    last_conn: Cell<u64>,
    rng: RefCell<ChaCha8Rng>,
}

impl<E: Env, H> Shared<E, H> {
    fn publish(&self) {
        self.publish_inflight();
        self.publish_queue();
    }

    fn publish_inflight(&self) {
        self.env.gauge(gauge::INFLIGHT, self.inflight.get() as i64);
    }

    fn publish_queue(&self) {
        self.env.gauge(gauge::QUEUE, self.waiting.get() as i64);
    }

    fn publish_connections(&self) {
        if self.capacity.models_connections() {
            self.env.gauge(gauge::CONNECTIONS, self.connections.get() as i64);
        }
    }

    /// Draws one request's cost, slowed by the Slowdown knob.
    fn cost(&self) -> Duration {
        let cost = self.capacity.service_time.sample(&mut self.rng.borrow_mut());
        if cost.is_zero() {
            return cost;
        }
        match self.env.knob(Knob::Slowdown) {
            0 => cost,
            percent => slowed(cost, percent),
        }
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
        connections: Cell::new(0),
        last_conn: Cell::new(0),
    });
    shared.publish();
    shared.publish_connections();
    loop {
        let (stream, _peer) = listener.accept().await?;
        let full = capacity.max_connections.is_some_and(|max| shared.connections.get() >= max);
        if full {
            env.spawn(refuse_connection::<E>(stream, shared.connections.get()));
            continue;
        }
        let conn = shared.last_conn.get() + 1;
        shared.last_conn.set(conn);
        shared.connections.set(shared.connections.get() + 1);
        shared.publish_connections();
        shared.handler.connected(conn);
        env.spawn(serve_connection(stream, conn, shared.clone()));
    }
}

/// Answers the first request of a connection over the limit with `TooManyConnections`, then
/// closes it.
async fn refuse_connection<E: Env>(mut stream: E::Stream, open: usize) {
    let mut scratch = Vec::new();
    if let Ok(Some(frame)) = read_frame(&mut stream, &mut scratch).await {
        let detail = format!("too many connections: {open} open");
        let refusal = Frame { id: frame.id, msg: Msg::Error { code: ErrorCode::TooManyConnections, detail } };
        // A peer that hung up gets no reply.
        let _ = write_frame(&mut stream, &refusal, &mut scratch).await;
    }
}

async fn serve_connection<E: Env, H: Handler<E>>(stream: E::Stream, conn: u64, shared: Rc<Shared<E, H>>) {
    // Set when the connection has a cost: the time its first request may be served from.
    let mut ready_at = match shared.capacity.connect_cost {
        cost if cost.is_zero() => None,
        cost => Some(shared.env.now() + cost),
    };
    let (reader, writer) = stream.into_split();
    let writer = Rc::new(LocalLock::new((writer, Vec::with_capacity(128))));
    let mut reader = FrameReader::new(reader);
    while let Ok(Some(frame)) = reader.next().await {
        let mut arrived = None;
        if let Some(ready) = ready_at.take() {
            let now = shared.env.now();
            arrived = Some(now);
            if ready > now {
                shared.env.sleep(ready - now).await;
            }
        }
        let replier = Replier { id: frame.id, conn, writer: writer.clone() };
        let mut request = Box::pin(serve_request(frame.msg, arrived, replier, shared.clone()));
        // Most requests with no service time finish at their first poll (an echo, a cache
        // hit): serve those here rather than paying for a task. One that must wait (a slot, a
        // dependency, its service time) becomes a task, which polls it again with a real waker.
        if poll_once(request.as_mut()).is_pending() {
            shared.env.spawn(request);
        }
    }
    shared.connections.set(shared.connections.get() - 1);
    shared.publish_connections();
    shared.handler.disconnected(conn);
}

/// Polls `fut` once without a waker to register: only for futures that are polled again
/// (spawned) if they are not ready.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    fut.poll(&mut cx)
}

/// Serves one request and sends its reply. `arrived` is when it reached the server, when that
/// was before now (it waited for its connection to be ready).
async fn serve_request<E: Env, H: Handler<E>>(
    msg: Msg,
    arrived: Option<Duration>,
    replier: Replier<E>,
    shared: Rc<Shared<E, H>>,
) {
    let reply = if !is_query(&msg) {
        shared.handler.handle(msg, replier.clone()).await
    } else if shared.waiting.get() >= shared.capacity.queue_limit && shared.slots.available_permits() == 0 {
        Some(Msg::Error { code: ErrorCode::Overloaded, detail: "queue full".into() })
    } else {
        let arrived = arrived.unwrap_or_else(|| shared.env.now());
        shared.inflight.set(shared.inflight.get() + 1);
        shared.waiting.set(shared.waiting.get() + 1);
        shared.publish();
        let kind = request_kind(&msg);
        let permit = wait_for_slot(&shared).await;
        shared.waiting.set(shared.waiting.get() - 1);
        shared.publish_queue();
        let reply = match permit {
            Some(permit) => serve_query(msg, permit, replier.clone(), &shared).await,
            None => {
                let detail =
                    format!("waited over {:?} for a worker", shared.capacity.queue_timeout.unwrap_or_default());
                Some(Msg::Error { code: ErrorCode::Overloaded, detail })
            }
        };
        // A compare-and-set that found another value was served correctly: the refusal is the
        // caller's concern (like HTTP 409), not a failure of this server.
        let ok = !matches!(reply, Some(Msg::Error { code, .. }) if code != ErrorCode::CasMismatch);
        shared.env.served(kind, shared.env.now().saturating_sub(arrived), ok);
        shared.inflight.set(shared.inflight.get() - 1);
        shared.publish_inflight();
        reply
    };
    if let Some(reply) = reply {
        // A peer that hung up gets no reply; its client sees the disconnect.
        let _ = replier.send(reply).await;
    }
}

/// A worker slot, or `None` when the queue timeout passed first.
async fn wait_for_slot<E: Env, H>(shared: &Shared<E, H>) -> Option<SemaphorePermit<'_>> {
    let acquire = shared.slots.acquire();
    let permit = match shared.capacity.queue_timeout {
        None => acquire.await,
        Some(limit) => timeout(&shared.env, limit, acquire).await.ok()?,
    };
    Some(permit.expect("the semaphore is never closed"))
}

/// Spends a query's service time in its worker slot, then runs the handler.
async fn serve_query<E: Env, H: Handler<E>>(
    msg: Msg,
    permit: SemaphorePermit<'_>,
    replier: Replier<E>,
    shared: &Shared<E, H>,
) -> Option<Msg> {
    let cost = shared.cost();
    if !cost.is_zero() {
        let dither: f64 = shared.rng.borrow_mut().random();
        let request = dithered_sleep(cost, dither);
        if !request.is_zero() {
            shared.env.sleep(request).await;
        }
    }
    if !H::HOLDS_SLOT {
        drop(permit);
        return shared.handler.handle(msg, replier).await;
    }
    let reply = shared.handler.handle(msg, replier).await;
    drop(permit);
    reply
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::echo::Echo;
    use crate::seam::TokioListener;
    use crate::testenv::{TestEnv, block_on};
    use rand::SeedableRng;

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
        pub(crate) async fn call(&mut self, msg: Msg) -> Option<Msg> {
            let id = self.next_id;
            self.next_id += 1;
            write_frame(&mut self.stream, &Frame { id, msg }, &mut self.scratch).await.ok()?;
            let frame = read_frame(&mut self.stream, &mut self.scratch).await.ok()??;
            assert_eq!(frame.id, id, "the reply carries the request's id");
            Some(frame.msg)
        }
    }

    fn echo() -> Msg {
        Msg::Echo { payload: vec![1, 2, 3] }
    }

    fn error_code(msg: &Option<Msg>) -> Option<ErrorCode> {
        match msg {
            Some(Msg::Error { code, .. }) => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn exponential_service_time_has_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let st = ServiceTime::Exponential(Duration::from_millis(10));
        let n = 20_000;
        let total: f64 = (0..n).map(|_| st.sample(&mut rng).as_secs_f64()).sum();
        let mean_ms = total / n as f64 * 1000.0;
        assert!((mean_ms - 10.0).abs() < 0.3, "mean {mean_ms} ms");
    }

    /// Draws `n` costs; returns their mean and median in milliseconds.
    fn mean_and_median_ms(st: ServiceTime, n: usize) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut ms: Vec<f64> = (0..n).map(|_| st.sample(&mut rng).as_secs_f64() * 1000.0).collect();
        let mean = ms.iter().sum::<f64>() / n as f64;
        ms.sort_by(f64::total_cmp);
        (mean, ms[n / 2])
    }

    #[test]
    fn log_normal_service_time_has_its_mean_and_median() {
        let n = 200_000;
        for sigma in [0.5, 1.0] {
            let (mean, median) =
                mean_and_median_ms(ServiceTime::LogNormal { mean: Duration::from_millis(10), sigma }, n);
            // The sample mean's sd is 10 ms * sqrt(exp(sigma²) - 1) / sqrt(n): under 0.03 ms here.
            assert!((mean - 10.0).abs() < 0.12, "sigma {sigma}: mean {mean} ms");
            let want = (-sigma * sigma / 2.0f64).exp();
            assert!((median / mean - want).abs() < 0.02, "sigma {sigma}: p50 / mean {} want {want}", median / mean);
        }
    }

    #[test]
    fn log_normal_degenerates_to_its_mean_without_spread() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for sigma in [0.0, f64::NAN, f64::INFINITY] {
            let d = ServiceTime::LogNormal { mean: Duration::from_millis(4), sigma }.sample(&mut rng);
            assert!(d.abs_diff(Duration::from_millis(4)) < Duration::from_nanos(10), "sigma {sigma}: {d:?}");
        }
        let (mean, median) =
            mean_and_median_ms(ServiceTime::LogNormal { mean: Duration::from_millis(10), sigma: -0.5 }, 50_000);
        assert!((mean - 10.0).abs() < 0.2, "a negative sigma acts as its absolute value: mean {mean} ms");
        assert!(median < 9.2, "median {median} ms");
    }

    #[test]
    fn slowdown_scales_the_cost() {
        let cost = Duration::from_millis(10);
        assert_eq!(slowed(cost, 0), cost);
        assert_eq!(slowed(cost, 100), Duration::from_millis(20));
        assert_eq!(slowed(cost, 250), Duration::from_millis(35));
        assert_eq!(slowed(Duration::ZERO, 1000), Duration::ZERO);
        assert_eq!(slowed(Duration::from_secs(1 << 40), u64::MAX), Duration::MAX);
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

    #[test]
    fn the_default_capacity_models_no_connections() {
        let capacity = Capacity::default();
        assert_eq!(capacity, Capacity::new(64, 10_000, ServiceTime::Zero));
        assert!(!capacity.models_connections());
        assert_eq!(capacity.queue_timeout, None);
    }

    #[test]
    fn a_connection_over_the_limit_is_refused_at_its_first_request_and_closed() {
        block_on(async {
            let env = TestEnv::new("db");
            let (listener, addr) = bind_any(&env).await;
            let capacity = Capacity { max_connections: Some(1), ..Capacity::default() };
            tokio::task::spawn_local(serve_on(env.clone(), listener, capacity, Echo));
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
            tokio::task::spawn_local(serve_on(env.clone(), listener, capacity, Echo));
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
            tokio::task::spawn_local(serve_on(env.clone(), listener, capacity, Echo));
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
            tokio::task::spawn_local(serve_on(
                env.clone(),
                listener,
                Capacity::new(4, 100, ServiceTime::Fixed(cost)),
                Echo,
            ));
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
}
