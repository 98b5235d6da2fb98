//! One load-generator host: its users, its arrival stream, its requests.
//!
//! Every write puts a value that names it: its request id, big-endian, in the first 8 bytes
//! (values are at least 8 bytes long). A read's value thus says which write it returned, and
//! the recorded [`Observation`] lets the checkers judge durability, read-your-writes and
//! staleness from the trace alone. Each user keeps the LSN of its last acknowledged write as
//! a session token and sends it with its reads (`Get { min_lsn }`), as a web app keeps one in
//! its session cookie; a store or router that honours tokens serves the read from a node
//! that has applied it.
//!
//! Every HTTP request carries its user's id in `x-user` (a rate limit may be keyed by it); a
//! `429` is recorded as the error `RATE_LIMITED`. With `login`, users log in and carry a
//! session cookie (see `session`); a `401` is recorded as the error `UNAUTHORIZED`.
//!
//! A compare-and-set is optimistic concurrency, as an app does it: the user updates the key it
//! last read (or wrote), expecting the value it saw there; with nothing seen yet, or after a
//! CAS that did not succeed, a freshly drawn key expected absent. What it expects is recorded
//! at its invocation ([`Observation::Expects`]), so a CAS that never completes is still judged.
//!
//! With a `retry` policy, a failure worth retrying (see `retry`) sends the same request again:
//! the request keeps one `Invoke` and one `Complete` (availability stays what users saw), each
//! retry is an [`Event::Retry`] (so is a retry the budget refused), each attempt has the
//! workload's timeout, the `Complete` carries the last attempt's outcome, and the latency runs
//! from the `Invoke`. A retried write puts the same value under the same request id.

mod resolve;
mod session;

use super::arrivals::{ArrivalProcess, Arrivals, KeyChooser};
use super::deadlines::Deadlines;
use super::retry::{Next, Retrier};
use crate::scenario::resolve::{CachingPlan, ResolvePlan};
use crate::services::LoadApi;
use crate::world::SimEnv;
use faultline_chaos::trace::{Event, Observation, Op, Outcome, UNAUTHORIZED};
use faultline_models::app::http::code_of;
use faultline_models::cache::client::RespClient;
use faultline_models::cache::resp::Frame;
use faultline_models::client::{CallError, Client};
use faultline_models::echo::EchoMsg;
use faultline_models::http::client::{HttpClient, HttpResponse};
use faultline_models::http::{self, Bytes, Method, StatusCode};
use faultline_models::kv::api::Msg;
use faultline_models::proto::ErrorCode;
use faultline_models::queue::api::QueueMsg;
use faultline_models::seam::Env;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// One virtual user.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserPlan {
    /// The user's number, unique in the run.
    pub id: u32,
    /// The host index of its target.
    pub target: u16,
    /// "host:port" of its target.
    pub addr: String,
    /// What it sends its target.
    pub api: LoadApi,
    /// How it keeps DNS answers, when the workload resolves its target (`target` and `addr`
    /// are then the record's first endpoint until its first lookup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caching: Option<CachingPlan>,
}

/// How a generator's requests are paced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Open loop: arrivals drawn from a process, whatever the replies.
    Open(super::arrivals::ArrivalProcess),
    /// Closed loop: each user's next request follows its last reply after a think time.
    Closed {
        /// The think time, nanoseconds.
        think_ns: u64,
    },
}

/// Everything one load generator does.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadgenPlan {
    /// Its number: it is host `lg<index>`.
    pub index: u32,
    /// How its users resolve their target; `None`: they are given it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolve: Option<ResolvePlan>,
    /// Its users.
    pub users: Vec<UserPlan>,
    /// How its requests are paced.
    pub mode: Mode,
    /// Share of requests that are reads.
    pub read_ratio: f64,
    /// Share of requests that are compare-and-sets.
    pub cas_ratio: f64,
    /// Share of requests that increment a counter by 1 (taken from the writes).
    pub incr_ratio: f64,
    /// Share of requests that are checkouts.
    pub checkout_ratio: f64,
    /// Share of requests that are page views.
    #[serde(skip_serializing_if = "is_zero")]
    pub page_ratio: f64,
    /// Distinct keys.
    pub keys: u64,
    /// Zipf exponent of key popularity; `None`: uniform.
    pub zipf_s: Option<f64>,
    /// Size of written values and echo payloads, bytes.
    pub value_bytes: u32,
    /// A request not answered within this times out, nanoseconds.
    pub timeout_ns: u64,
    /// How long arrivals go on, nanoseconds.
    pub duration_ns: u64,
    /// How a failed request is retried; `None`: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<super::retry::RetryPlan>,
    /// Users log in and send a session cookie (HTTP targets).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub login: bool,
    /// The tenants keys belong to: key `k` is `tenants[k % len]:k{k}`; none: plain `k{k}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
}

fn is_zero(share: &f64) -> bool {
    *share == 0.0
}

impl LoadgenPlan {
    fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }

    /// The name of key `key`: `k{key}`, prefixed by its tenant when the workload has tenants.
    pub(crate) fn key_name(&self, key: u64) -> String {
        match self.tenants.len() as u64 {
            0 => format!("k{key}"),
            n => format!("{}:k{key}", self.tenants[(key % n) as usize]),
        }
    }
}

/// The value a workload write puts: its request id, then filler up to `bytes` (at least 8).
pub(crate) fn write_value(req: u64, bytes: u32) -> Vec<u8> {
    let mut value = req.to_be_bytes().to_vec();
    value.resize((bytes as usize).max(8), b'v');
    value
}

/// The request id of the workload write that put `value`, if it is one.
pub(crate) fn writer_of(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

/// Pause of a closed-loop user after a request that could not reach its target.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// A key and the writer of the value a user saw there (`None`: absent).
type Seen = (u64, Option<u64>);

/// A user's client, in the protocol of its target's API.
pub(super) enum UserClient {
    /// The store's data API.
    Store(Client<SimEnv, Msg>),
    /// The echo server's.
    Echo(Client<SimEnv, EchoMsg>),
    /// A RESP server's (a cache node).
    Resp(RespClient<SimEnv>),
    /// The app's HTTP API.
    Http(HttpClient<SimEnv>),
    /// A queue broker's.
    Queue(Client<SimEnv, QueueMsg>),
}

impl UserClient {
    /// A client of `addr` speaking `api`, its connections opened within `timeout`.
    fn new(env: &SimEnv, api: LoadApi, addr: &str, timeout: Duration) -> Self {
        let addr = addr.to_string();
        match api {
            LoadApi::Store => UserClient::Store(Client::new(env.clone(), addr, timeout)),
            LoadApi::Echo => UserClient::Echo(Client::new(env.clone(), addr, timeout)),
            LoadApi::Resp => UserClient::Resp(RespClient::new(env.clone(), addr, timeout)),
            LoadApi::Http => UserClient::Http(HttpClient::new(env.clone(), addr, timeout)),
            LoadApi::Queue => UserClient::Queue(Client::new(env.clone(), addr, timeout)),
        }
    }
}

/// A drawn request, with the client that sends it (a retry sends a copy again).
#[derive(Clone)]
enum Call<'a> {
    Store(&'a Client<SimEnv, Msg>, Msg),
    Echo(&'a Client<SimEnv, EchoMsg>, EchoMsg),
    Resp(&'a RespClient<SimEnv>, [Vec<u8>; 3], usize),
    Http(&'a HttpClient<SimEnv>, http::OutRequest),
    Queue(&'a Client<SimEnv, QueueMsg>, QueueMsg),
}

/// The reply to a [`Call`].
enum Reply {
    Store(Msg),
    Echo(EchoMsg),
    Resp(Frame),
    Http(HttpResponse),
    Queue(QueueMsg),
}

struct Gen {
    env: SimEnv,
    plan: LoadgenPlan,
    /// Each user's client, and the host it sends to (both replaced when a lookup moves the
    /// user to another address).
    clients: RefCell<Vec<(Rc<UserClient>, u16)>>,
    /// How users resolve their target, when they do.
    dns: Option<resolve::UserResolvers>,
    /// Every request's timeout, kept by one timer.
    deadlines: Rc<Deadlines>,
    keys: KeyChooser,
    rng: RefCell<ChaCha8Rng>,
    next_req: Cell<u64>,
    /// Each user's read-your-writes token: the LSN of its last acknowledged write.
    tokens: RefCell<Vec<u64>>,
    /// What each user saw last of the store: a key and the writer of its value there (`None`:
    /// absent), from its last successful read, write or CAS. Its next CAS starts from it.
    seen: RefCell<Vec<Option<Seen>>>,
    outstanding: Cell<u64>,
    drained: Notify,
    /// The retry policy and budget, when the workload retries.
    retry: Option<Retrier>,
    /// The users' sessions, when they log in.
    sessions: Option<session::UserSessions>,
}

/// Runs a load generator until its arrivals end and its requests are answered or timed out.
pub(crate) async fn run_loadgen(env: SimEnv, plan: LoadgenPlan) -> turmoil::Result {
    let clients =
        plan.users.iter().map(|u| (Rc::new(UserClient::new(&env, u.api, &u.addr, plan.timeout())), u.target)).collect();
    let lg = Rc::new(Gen {
        dns: plan.resolve.as_ref().map(|r| resolve::UserResolvers::new(&env, r, &plan.users)),
        clients: RefCell::new(clients),
        rng: RefCell::new(env.rng("requests")),
        keys: KeyChooser::new(plan.keys, plan.zipf_s),
        next_req: Cell::new(u64::from(plan.index) << 40),
        tokens: RefCell::new(vec![0; plan.users.len()]),
        seen: RefCell::new(vec![None; plan.users.len()]),
        outstanding: Cell::new(0),
        drained: Notify::new(),
        deadlines: Deadlines::new(env.clone(), plan.timeout()),
        retry: plan.retry.as_ref().map(|r| Retrier::new(&env, r)),
        sessions: plan.login.then(|| session::UserSessions::new(env.clone(), plan.users.len())),
        env,
        plan,
    });
    if lg.plan.index == 0 {
        lg.env.spawn(super::batch::run_batch_job(lg.env.clone()));
    }
    lg.env.spawn(lg.deadlines.clone().keep());
    let start = lg.env.sim_ns();
    match lg.plan.mode.clone() {
        Mode::Open(process) => open_loop(&lg, process, start).await,
        Mode::Closed { think_ns } => closed_loop(&lg, Duration::from_nanos(think_ns), lg.env.sim_ns()).await,
    }
    while lg.outstanding.get() > 0 {
        lg.drained.notified().await;
    }
    Ok(())
}

async fn open_loop(lg: &Rc<Gen>, process: ArrivalProcess, start: u64) {
    let mut arrivals = Arrivals::new(process.clone(), lg.env.rng("arrivals"));
    let end_ns = lg.plan.duration_ns;
    let users = lg.plan.users.len();
    let grid = lg.env.timer_grid().as_nanos() as u64;
    while let Some(t_ns) = arrivals.next_before(end_ns) {
        // Timers fire on the engine's grid (tokio's 1 ms on turmoil): an arrival that would
        // fire at or after the end of the run belongs to no window of it.
        if t_ns.div_ceil(grid) * grid >= end_ns {
            break;
        }
        lg.sleep_until(start + t_ns).await;
        // A burst's requests go to the users in turn (one each when there are as many users as
        // requests, as in a contention experiment); a rate's to users drawn at random.
        let user = match &process {
            ArrivalProcess::Burst { .. } => ((arrivals.count() - 1) % users as u64) as usize,
            ArrivalProcess::Constant { .. } | ArrivalProcess::Poisson { .. } => {
                lg.rng.borrow_mut().random_range(0..users)
            }
        };
        lg.begin();
        let g = lg.clone();
        lg.env.spawn(async move {
            g.request(user).await;
            g.end();
        });
    }
    // A rate that drops to 0 for good is a quiet tail the scenario asked for (replication
    // settles, counters are read at the end): the load generator stays to the end of the
    // duration, where otherwise the run would end with its last reply.
    if process.quiet_tail() {
        lg.sleep_until(start + end_ns).await;
    }
}

async fn closed_loop(lg: &Rc<Gen>, think: Duration, start_ns: u64) {
    let end_ns = start_ns + lg.plan.duration_ns;
    for user in 0..lg.plan.users.len() {
        lg.begin();
        let g = lg.clone();
        lg.env.spawn(async move {
            while g.env.sim_ns() < end_ns {
                let outcome = g.request(user).await;
                // A refused connection fails at once: without a pause the user would spin
                // forever at one instant of simulated time.
                let pause = if outcome == Outcome::Unreachable { think.max(ERROR_BACKOFF) } else { think };
                if !pause.is_zero() {
                    g.env.sleep_world(pause).await;
                }
            }
            g.end();
        });
    }
}

impl Gen {
    /// Sleeps to world time `at_ns` (at once when it has passed).
    fn sleep_until(&self, at_ns: u64) -> impl std::future::Future<Output = ()> + 'static {
        self.env.sleep_world(Duration::from_nanos(at_ns.saturating_sub(self.env.sim_ns())))
    }

    /// Counts one more request (open loop) or user (closed loop) still running.
    fn begin(&self) {
        self.outstanding.set(self.outstanding.get() + 1);
    }

    /// Counts one finished; wakes the generator when none is left.
    fn end(&self) {
        self.outstanding.set(self.outstanding.get() - 1);
        if self.outstanding.get() == 0 {
            self.drained.notify_one();
        }
    }

    /// The client `user` sends with now, and its target host.
    fn client(&self, user: usize) -> (Rc<UserClient>, u16) {
        self.clients.borrow()[user].clone()
    }

    /// The next request of `user` (sent with `client`), whose id is `req`; for a CAS, also the
    /// writer it expects.
    fn draw<'a>(
        &self,
        user: usize,
        client: &'a UserClient,
        req: u64,
        cookie: Option<&str>,
    ) -> (Op, u64, Call<'a>, Option<Option<u64>>) {
        let mut rng = self.rng.borrow_mut();
        let key = self.keys.choose(&mut rng);
        let client = match client {
            UserClient::Echo(client) => {
                let echo = EchoMsg::Echo { payload: vec![0xAB; self.plan.value_bytes as usize] };
                return (Op::Other, key, Call::Echo(client, echo), None);
            }
            UserClient::Resp(client) => {
                let key_name = self.plan.key_name(key).into_bytes();
                return if rng.random::<f64>() < self.plan.read_ratio {
                    (Op::Read, key, Call::Resp(client, [b"GET".to_vec(), key_name, Vec::new()], 2), None)
                } else {
                    let value = write_value(req, self.plan.value_bytes);
                    (Op::Write, key, Call::Resp(client, [b"SET".to_vec(), key_name, value], 3), None)
                };
            }
            UserClient::Http(client) => return self.draw_http(client, (user, cookie), req, key, &mut rng),
            UserClient::Queue(client) => {
                // A producer: one message to the broker's first queue, keyed by the drawn key.
                let body = write_value(req, self.plan.value_bytes);
                let msg = QueueMsg::Send { queue: String::new(), key: format!("k{key}").into_bytes(), body };
                return (Op::Write, key, Call::Queue(client, msg), None);
            }
            UserClient::Store(client) => client,
        };
        let key_name = |key: u64| self.plan.key_name(key).into_bytes();
        let draw = rng.random::<f64>();
        if draw < self.plan.read_ratio {
            let msg = Msg::Get { key: key_name(key), min_lsn: self.tokens.borrow()[user] };
            (Op::Read, key, Call::Store(client, msg), None)
        } else if draw < self.plan.read_ratio + self.plan.cas_ratio {
            let (key, writer) = self.seen.borrow()[user].unwrap_or((key, None));
            let expected = writer.map(|w| write_value(w, self.plan.value_bytes));
            let msg = Msg::Cas { key: key_name(key), expected, value: write_value(req, self.plan.value_bytes) };
            (Op::Cas, key, Call::Store(client, msg), Some(writer))
        } else if draw < self.plan.read_ratio + self.plan.cas_ratio + self.plan.incr_ratio {
            let msg = Msg::Add { key: key_name(key), delta: 1 };
            (Op::Add, key, Call::Store(client, msg), None)
        } else {
            let msg = Msg::Put { key: key_name(key), value: write_value(req, self.plan.value_bytes) };
            (Op::Write, key, Call::Store(client, msg), None)
        }
    }

    /// The next HTTP request of `user` on `key`, drawn as [`Gen::draw`] draws the store's.
    fn draw_http<'a>(
        &self,
        client: &'a HttpClient<SimEnv>,
        (user, cookie): (usize, Option<&str>),
        req: u64,
        key: u64,
        rng: &mut ChaCha8Rng,
    ) -> (Op, u64, Call<'a>, Option<Option<u64>>) {
        let draw = rng.random::<f64>();
        // Every request names its user, as a session does: a rate limit may be keyed by it.
        let mut common = vec![(http::USER, self.plan.users[user].id.to_string())];
        common.extend(cookie.map(session::cookie_header));
        let (op, key, method, headers, body, expects) = if draw < self.plan.read_ratio {
            let token = self.tokens.borrow()[user];
            let mut headers = common;
            if token > 0 {
                headers.push((http::MIN_LSN, token.to_string()));
            }
            (Op::Read, key, Method::GET, headers, Vec::new(), None)
        } else if draw < self.plan.read_ratio + self.plan.cas_ratio {
            let (key, writer) = self.seen.borrow()[user].unwrap_or((key, None));
            let expected = match writer {
                Some(w) => http::hex(&write_value(w, self.plan.value_bytes)),
                None => http::EXPECT_ABSENT.to_string(),
            };
            let value = write_value(req, self.plan.value_bytes);
            common.push((http::EXPECT, expected));
            (Op::Cas, key, Method::PUT, common, value, Some(writer))
        } else if draw < self.plan.read_ratio + self.plan.cas_ratio + self.plan.checkout_ratio {
            let order = format!("order {req} of user {user}: item {}", self.plan.key_name(key)).into_bytes();
            let request = client.request(Method::POST, "/checkout", &common, Bytes::from(order));
            return (Op::Other, key, Call::Http(client, request.expect("a checkout is valid HTTP")), None);
        } else if draw < self.plan.read_ratio + self.plan.cas_ratio + self.plan.checkout_ratio + self.plan.page_ratio {
            // A page view: composed by the app from its parts; judged by its status alone.
            let request =
                client.request(Method::GET, &format!("/page/{}", self.plan.key_name(key)), &common, Bytes::new());
            return (Op::Other, key, Call::Http(client, request.expect("a workload key is a valid HTTP path")), None);
        } else {
            (Op::Write, key, Method::PUT, common, write_value(req, self.plan.value_bytes), None)
        };
        let path = format!("/items/{}", self.plan.key_name(key));
        let request =
            client.request(method, &path, &headers, Bytes::from(body)).expect("a workload key is a valid HTTP path");
        (op, key, Call::Http(client, request), expects)
    }

    async fn request(&self, user: usize) -> Outcome {
        let plan = &self.plan.users[user];
        if let Some(dns) = &self.dns
            && let Err(failed) = dns.connect(self, user).await
        {
            return failed;
        }
        let (client, target) = self.client(user);
        let cookie = match &self.sessions {
            Some(sessions) => match self.session(sessions, user).await {
                Ok(id) => Some(id),
                Err(failed_login) => return failed_login,
            },
            None => None,
        };
        let req = self.next_req.get();
        self.next_req.set(req + 1);
        let (op, key, call, expects) = self.draw(user, &client, req, cookie.as_deref());
        self.env.record(Event::Invoke { req, user: plan.id, client: self.env.host(), service: target, op, key });
        if let Some(writer) = expects {
            self.env.record(Event::Observed { req, what: Observation::Expects { writer } });
        }
        let reply = match &self.retry {
            None => self.attempt(call).await,
            Some(retrier) => self.attempts(retrier, req, call).await,
        };
        let observed = match (&reply, op) {
            (Ok(Reply::Store(Msg::Value { value, lsn })), Op::Read) => {
                let writer = value.as_deref().and_then(writer_of);
                self.seen.borrow_mut()[user] = Some((key, writer));
                Some(Observation::Read { writer, lsn: *lsn })
            }
            (Ok(Reply::Store(Msg::Written { lsn, epoch })), Op::Write | Op::Cas) => {
                let token = &mut self.tokens.borrow_mut()[user];
                *token = (*token).max(*lsn);
                self.seen.borrow_mut()[user] = Some((key, Some(req)));
                Some(Observation::Written { lsn: *lsn, epoch: *epoch })
            }
            (Ok(Reply::Resp(Frame::Bulk(value))), Op::Read) => {
                let writer = writer_of(value);
                self.seen.borrow_mut()[user] = Some((key, writer));
                Some(Observation::Read { writer, lsn: 0 })
            }
            (Ok(Reply::Resp(Frame::Null)), Op::Read) => {
                self.seen.borrow_mut()[user] = Some((key, None));
                Some(Observation::Read { writer: None, lsn: 0 })
            }
            (Ok(Reply::Resp(Frame::Simple(_))), Op::Write) => {
                self.seen.borrow_mut()[user] = Some((key, Some(req)));
                Some(Observation::Written { lsn: 0, epoch: 0 })
            }
            (Ok(Reply::Http(response)), Op::Read)
                if matches!(response.status, StatusCode::OK | StatusCode::NOT_FOUND) =>
            {
                let writer = if response.status == StatusCode::OK { writer_of(&response.body) } else { None };
                self.seen.borrow_mut()[user] = Some((key, writer));
                Some(Observation::Read { writer, lsn: response.header_u64(http::LSN).unwrap_or(0) })
            }
            (Ok(Reply::Http(response)), Op::Write | Op::Cas) if response.status == StatusCode::OK => {
                let lsn = response.header_u64(http::LSN).unwrap_or(0);
                let token = &mut self.tokens.borrow_mut()[user];
                *token = (*token).max(lsn);
                self.seen.borrow_mut()[user] = Some((key, Some(req)));
                Some(Observation::Written { lsn, epoch: response.header_u64(http::EPOCH).unwrap_or(0) })
            }
            (_, Op::Cas) => {
                self.seen.borrow_mut()[user] = None;
                None
            }
            _ => None,
        };
        if let Some(what) = observed {
            self.env.record(Event::Observed { req, what });
        }
        let outcome = outcome_of(&reply);
        self.env.record(Event::Complete { req, outcome: outcome.clone() });
        if let Some(dns) = &self.dns {
            dns.after(user, &outcome);
        }
        if let (Some(sessions), Some(id), Outcome::Error(UNAUTHORIZED)) = (&self.sessions, &cookie, &outcome) {
            self.session_lost(sessions, user, id).await;
        }
        outcome
    }

    /// Sends `call` once and waits for its reply, at most the workload's timeout.
    async fn attempt(&self, call: Call<'_>) -> Result<Reply, CallError> {
        let expiry = self.deadlines.start();
        let reply = match call {
            Call::Store(client, msg) => client.call_until(msg, expiry.wait()).await.map(Reply::Store),
            Call::Echo(client, msg) => client.call_until(msg, expiry.wait()).await.map(Reply::Echo),
            Call::Resp(client, args, n) => client.call_until(&args[..n], expiry.wait()).await.map(Reply::Resp),
            Call::Http(client, request) => client.send_until(request, expiry.wait()).await.map(Reply::Http),
            Call::Queue(client, msg) => client.call_until(msg, expiry.wait()).await.map(Reply::Queue),
        };
        drop(expiry);
        reply
    }

    /// Sends `call`, then again after each failure worth retrying, as `retrier` allows; the
    /// last attempt's reply. Records each retry, and a retry the budget refused.
    async fn attempts(&self, retrier: &Retrier, req: u64, call: Call<'_>) -> Result<Reply, CallError> {
        let now = || Duration::from_nanos(self.env.sim_ns());
        let mut waits = retrier.first(now());
        loop {
            let reply = self.attempt(call.clone()).await;
            let after = outcome_of(&reply);
            let attempt = waits.retries() + 1;
            match retrier.next(&mut waits, &after, now()) {
                Next::Stop => return reply,
                Next::Denied => {
                    self.env.record(Event::Retry { req, attempt, after, denied: true });
                    return reply;
                }
                Next::Retry(wait) => {
                    if !wait.is_zero() {
                        self.env.sleep_world(wait).await;
                    }
                    self.env.record(Event::Retry { req, attempt, after, denied: false });
                }
            }
        }
    }
}

/// How an attempt ended, as the trace records it.
fn outcome_of(reply: &Result<Reply, CallError>) -> Outcome {
    match reply {
        Ok(Reply::Store(Msg::Error { code, .. }) | Reply::Echo(EchoMsg::Error { code, .. })) => {
            Outcome::Error(*code as u8)
        }
        Ok(Reply::Resp(Frame::Error(text))) => Outcome::Error(resp_error_code(text)),
        Ok(Reply::Queue(QueueMsg::Error { code, .. })) => Outcome::Error(*code as u8),
        Ok(Reply::Queue(QueueMsg::Full { .. })) => Outcome::Error(ErrorCode::Overloaded as u8),
        Ok(Reply::Http(response)) => match code_of(response.status) {
            Some(code) => Outcome::Error(code as u8),
            None => Outcome::Ok,
        },
        Ok(_) => Outcome::Ok,
        Err(CallError::Timeout(_)) => Outcome::Timeout,
        Err(_) => Outcome::Unreachable,
    }
}

/// The error code a RESP error reply counts as: shed (`OVERLOADED`, too many clients) is
/// overload, a refused write past `maxmemory` is a storage refusal, anything else a bad request.
fn resp_error_code(text: &str) -> u8 {
    if text.starts_with(faultline_models::cache::resp::OVERLOADED) || text == faultline_models::cache::resp::MAX_CLIENTS
    {
        ErrorCode::Overloaded as u8
    } else if text.starts_with("OOM ") {
        ErrorCode::Storage as u8
    } else {
        ErrorCode::BadRequest as u8
    }
}
