//! User sessions of the app's HTTP front: where they live and how a request's cookie is judged.
//!
//! - `POST /login` (the user named by `x-user`) creates a session: an id of 128 bits drawn from
//!   the host's "sessions" random stream, written as 32 hex digits, stored with the user's id for
//!   the configured TTL, and answered with `set-cookie: session=<id>`.
//! - Every `/items/*`, `/page/*` and `/checkout` request must then carry `cookie: session=<id>`;
//!   a missing, unknown or expired session is answered `401`.
//! - [`SessionStore::Memory`]: a map in this instance's memory (looked up by id, never
//!   iterated). Sessions expire in the order they were created (the TTL is the same for all),
//!   so a queue in creation order lets each login and lookup drop the expired ones from the
//!   front: the map holds at most the sessions of the last TTL. An instance that restarts
//!   has none, and another instance does not know this one's: a user must stick to the
//!   instance it logged in on, and logs in again after a restart.
//! - [`SessionStore::Cache`]: `SET session:<id> <user> EX <ttl>` on the L2 node of the app's
//!   cache tier that owns the key (the tier's routing, shard mask included), and `GET` to look
//!   it up: every instance knows every session, and none is lost when instances restart.
//!   With the owning node down or slow, the store cannot say whether the session exists: the
//!   request fails closed with `503` (a server failure, counted against availability), not
//!   `401` (telling the user its session is gone when it may not be). A login whose `SET` fails
//!   is `503` too.
//! - [`SessionStore::Token`]: no store at all. The cookie is a signed token,
//!   `t.<user hex>.<expiry hex>.<digest hex>`: the user, the instant (milliseconds on the
//!   issuing instance's clock) it expires, and a keyed 64-bit digest of both under the fleet's
//!   key (xxh3 seeded with the key: it stands for an HMAC, which the simulation needs only to
//!   tell a token made with the key from one made or altered without it). Any instance with
//!   the same key accepts it until its expiry by its own clock, so a session survives restarts,
//!   cache flushes and a move to another region; what a store would allow and a token does not
//!   is ending one early. A malformed, altered, foreign or expired token is `401`.
//! - The TTL is absolute from the login (it does not slide with use).
//!
//! This file must not know the routes: the HTTP front asks it to create and to find sessions.

use crate::cache::aside::CacheTier;
use crate::cache::client::RespClient;
use crate::cache::resp::Frame;
use crate::http::{hex, unhex};
use crate::kv::api::Msg;
use crate::seam::Env;
use axum::http::{HeaderMap, header};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The cookie that carries a session's id.
pub const COOKIE: &str = "session";

/// The prefix of a session's key in the cache.
const KEY_PREFIX: &[u8] = b"session:";

/// Where an app keeps its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStore {
    /// In the instance's memory.
    Memory,
    /// In the L2 nodes of the app's cache tier.
    Cache,
    /// Nowhere: a token signed with the fleet's `key`, checked by any instance holding it.
    Token {
        /// The signing key every instance of the fleet shares.
        key: u64,
    },
}

/// Sessions of an app's HTTP front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Where they live.
    pub store: SessionStore,
    /// How long a session lasts after its login.
    pub ttl: Duration,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A live session, and the user it belongs to.
    Valid(Vec<u8>),
    /// No such session (never created here, lost, or expired).
    Unknown,
    /// The store could not answer (why).
    Unavailable(String),
}

/// The sessions of an instance's memory.
#[derive(Default)]
struct Memory {
    /// The user of each live session, by id.
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// (expiry, id) in creation order, hence in expiry order.
    order: VecDeque<(Duration, Vec<u8>)>,
}

impl Memory {
    /// Drops the sessions expired at `now`.
    fn sweep(&mut self, now: Duration) {
        while let Some((expires, _)) = self.order.front()
            && *expires <= now
        {
            let (_, id) = self.order.pop_front().expect("a front entry");
            self.map.remove(&id);
        }
    }
}

enum Backing<E: Env> {
    Memory(RefCell<Memory>),
    /// A client per L2 node of the tier, by node name.
    Cache(BTreeMap<String, RespClient<E>>),
    /// Signed tokens under this key.
    Token(u64),
}

/// The sessions of one app instance.
pub(crate) struct Sessions<E: Env> {
    env: E,
    ttl: Duration,
    timeout: Duration,
    rng: RefCell<ChaCha8Rng>,
    backing: Backing<E>,
}

impl<E: Env> Sessions<E> {
    /// Sessions as `config` says; `nodes` are the cache tier's L2 nodes (name, address), which
    /// [`SessionStore::Cache`] needs (`None`: the app has no tier, and cache sessions cannot be).
    pub(crate) fn new(
        env: E,
        config: SessionConfig,
        nodes: Option<&[(String, String)]>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let backing = match (config.store, nodes) {
            (SessionStore::Memory, _) => Backing::Memory(RefCell::default()),
            (SessionStore::Cache, Some(nodes)) if !nodes.is_empty() => Backing::Cache(
                nodes
                    .iter()
                    .map(|(name, addr)| (name.clone(), RespClient::new(env.clone(), addr.clone(), timeout)))
                    .collect(),
            ),
            (SessionStore::Cache, _) => return Err("sessions in the cache need a cache tier with an L2 node".into()),
            (SessionStore::Token { key }, _) => Backing::Token(key),
        };
        Ok(Self { rng: RefCell::new(env.rng("sessions")), env, ttl: config.ttl, timeout, backing })
    }

    /// A new session of `user`: its id, or why it could not be stored.
    pub(crate) async fn create(&self, user: &[u8], tier: Option<&CacheTier<E, Msg>>) -> Result<String, String> {
        let draw = || {
            let mut rng = self.rng.borrow_mut();
            format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
        };
        match &self.backing {
            Backing::Memory(memory) => {
                let id = draw();
                let now = self.env.now();
                let expires = now + self.ttl;
                let mut memory = memory.borrow_mut();
                memory.sweep(now);
                memory.map.insert(id.clone().into_bytes(), user.to_vec());
                memory.order.push_back((expires, id.clone().into_bytes()));
                Ok(id)
            }
            Backing::Token(key) => Ok(token(user, (self.env.now() + self.ttl).as_millis() as u64, *key)),
            Backing::Cache(clients) => {
                let id = draw();
                let key = key(id.as_bytes());
                let client = owner(clients, tier, &key)?;
                let seconds = self.ttl.as_secs().max(1).to_string();
                let args: [&[u8]; 5] = [b"SET", &key, user, b"EX", seconds.as_bytes()];
                match client.call(&args, self.timeout).await {
                    Ok(Frame::Simple(_)) => Ok(id),
                    Ok(other) => Err(format!("session store at {} answered {other:?}", client.addr())),
                    Err(e) => Err(format!("session store: {e}")),
                }
            }
        }
    }

    /// The session `id`, if it is live.
    pub(crate) async fn find(&self, id: &[u8], tier: Option<&CacheTier<E, Msg>>) -> Lookup {
        match &self.backing {
            Backing::Memory(memory) => {
                let mut memory = memory.borrow_mut();
                memory.sweep(self.env.now());
                match memory.map.get(id) {
                    Some(user) => Lookup::Valid(user.clone()),
                    None => Lookup::Unknown,
                }
            }
            Backing::Cache(clients) => {
                let key = key(id);
                let client = match owner(clients, tier, &key) {
                    Ok(client) => client,
                    Err(why) => return Lookup::Unavailable(why),
                };
                match client.call(&[b"GET".as_slice(), &key], self.timeout).await {
                    Ok(Frame::Bulk(user)) => Lookup::Valid(user),
                    Ok(Frame::Null) => Lookup::Unknown,
                    Ok(other) => Lookup::Unavailable(format!("session store at {} answered {other:?}", client.addr())),
                    Err(e) => Lookup::Unavailable(format!("session store: {e}")),
                }
            }
            Backing::Token(key) => match verify(id, *key) {
                Some((user, expires_ms)) if u128::from(expires_ms) > self.env.now().as_millis() => Lookup::Valid(user),
                _ => Lookup::Unknown,
            },
        }
    }
}

/// The token of `user`'s session expiring at `expires_ms`, signed with `key`.
fn token(user: &[u8], expires_ms: u64, key: u64) -> String {
    format!("t.{}.{expires_ms:x}.{:016x}", hex(user), digest(user, expires_ms, key))
}

/// The keyed digest a token carries.
fn digest(user: &[u8], expires_ms: u64, key: u64) -> u64 {
    xxh3_64_with_seed(&[user, &expires_ms.to_be_bytes()].concat(), key)
}

/// The user and expiry of `token` if it is well formed and signed with `key` (expiry unchecked).
fn verify(token: &[u8], key: u64) -> Option<(Vec<u8>, u64)> {
    let text = std::str::from_utf8(token).ok()?;
    let mut parts = text.split('.');
    let (tag, user, expires, signed) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if tag != "t" || parts.next().is_some() || signed.len() != 16 {
        return None;
    }
    let user = unhex(user)?;
    let expires_ms = u64::from_str_radix(expires, 16).ok()?;
    let signed = u64::from_str_radix(signed, 16).ok()?;
    (digest(&user, expires_ms, key) == signed).then_some((user, expires_ms))
}

/// The cache key of session `id`.
fn key(id: &[u8]) -> Vec<u8> {
    [KEY_PREFIX, id].concat()
}

/// The client of the L2 node that owns `key` now, by the tier's routing.
fn owner<'a, E: Env>(
    clients: &'a BTreeMap<String, RespClient<E>>,
    tier: Option<&CacheTier<E, Msg>>,
    key: &[u8],
) -> Result<&'a RespClient<E>, String> {
    let node = tier.and_then(|tier| tier.route(key)).ok_or("session store: every cache node is out")?;
    clients.get(&*node).ok_or_else(|| format!("session store: no client for cache node {node:?}"))
}

/// The session id a request's `cookie` headers carry, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.as_bytes().to_vec())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::{HttpFront, code_of, serve_http, status_of};
    use crate::app::tests::tiers;
    use crate::app::{App, AppConfig, DbRoute};
    use crate::cache::aside::TierConfig;
    use crate::http::USER;
    use crate::http::client::{HttpClient, HttpResponse};
    use crate::proto::ErrorCode;
    use crate::seam::TokioEnv;
    use crate::server::Capacity;
    use crate::testenv::block_on;
    use axum::http::{HeaderValue, Method, StatusCode};
    use bytes::Bytes;

    const LIMIT: Duration = Duration::from_secs(2);

    fn env() -> TokioEnv {
        TokioEnv::new("app", "127.0.0.1", 5)
    }

    fn check(cookies: &[&str], expected: Option<&str>) {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(header::COOKIE, HeaderValue::from_str(cookie).expect("a valid header"));
        }
        assert_eq!(session_cookie(&headers), expected.map(|s| s.as_bytes().to_vec()), "{cookies:?}");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        check(&[], None);
        check(&["session=abc"], Some("abc"));
        check(&["theme=dark; session=abc; lang=en"], Some("abc"));
        check(&["theme=dark", "session=xyz"], Some("xyz"));
        check(&["sessions=abc; session="], None);
        check(&["session"], None);
    }

    fn memory(ttl: Duration) -> Sessions<TokioEnv> {
        let config = SessionConfig { store: SessionStore::Memory, ttl };
        Sessions::new(env(), config, None, Duration::from_secs(1)).expect("memory needs no tier")
    }

    #[test]
    fn memory_sessions_are_found_until_they_expire() {
        block_on(async {
            let sessions = memory(Duration::from_secs(3600));
            let id = sessions.create(b"7", None).await.expect("memory stores");
            assert_eq!(id.len(), 32);
            let other = sessions.create(b"8", None).await.expect("memory stores");
            assert_ne!(id, other, "every login draws a new id");
            assert_eq!(sessions.find(id.as_bytes(), None).await, Lookup::Valid(b"7".to_vec()));
            assert_eq!(sessions.find(other.as_bytes(), None).await, Lookup::Valid(b"8".to_vec()));
            assert_eq!(sessions.find(b"0123", None).await, Lookup::Unknown);
            let expired = memory(Duration::ZERO);
            let id = expired.create(b"7", None).await.expect("memory stores");
            assert_eq!(expired.find(id.as_bytes(), None).await, Lookup::Unknown, "a zero TTL is over at once");
        });
    }

    #[test]
    fn memory_holds_only_the_sessions_of_the_last_ttl() {
        block_on(async {
            let clock = crate::testenv::TestEnv::manual("app");
            let config = SessionConfig { store: SessionStore::Memory, ttl: Duration::from_secs(10) };
            let sessions = Sessions::new(clock.clone(), config, None, Duration::from_secs(1)).expect("memory");
            let held = |s: &Sessions<crate::testenv::TestEnv>| match &s.backing {
                Backing::Memory(memory) => (memory.borrow().map.len(), memory.borrow().order.len()),
                Backing::Cache(_) | Backing::Token(_) => unreachable!("a memory store"),
            };
            let first = sessions.create(b"1", None).await.expect("memory stores");
            let mut most = 0;
            for user in 0..1_000u32 {
                clock.advance(Duration::from_millis(100));
                sessions.create(user.to_string().as_bytes(), None).await.expect("memory stores");
                let (map, order) = held(&sessions);
                assert_eq!(map, order);
                most = most.max(map);
            }
            assert_eq!(most, 100, "10 s of logins, one every 100 ms");
            assert_eq!(sessions.find(first.as_bytes(), None).await, Lookup::Unknown, "long expired");
            let last = sessions.create(b"2", None).await.expect("memory stores");
            clock.advance(Duration::from_millis(9_999));
            assert_eq!(sessions.find(last.as_bytes(), None).await, Lookup::Valid(b"2".to_vec()));
            clock.advance(Duration::from_millis(1));
            assert_eq!(sessions.find(last.as_bytes(), None).await, Lookup::Unknown, "over at its TTL");
            assert_eq!(held(&sessions).0, 0, "a lookup drops the expired too");
        });
    }

    const KEY: u64 = 0x5eed;

    fn tokens(env: crate::testenv::TestEnv, key: u64, ttl: Duration) -> Sessions<crate::testenv::TestEnv> {
        let config = SessionConfig { store: SessionStore::Token { key }, ttl };
        Sessions::new(env, config, None, Duration::from_secs(1)).expect("tokens need no tier")
    }

    #[test]
    fn a_token_is_good_on_every_instance_with_the_key_until_it_expires() {
        block_on(async {
            let clock = crate::testenv::TestEnv::manual("app");
            let one = tokens(clock.clone(), KEY, Duration::from_secs(10));
            let token = one.create(b"user-7", None).await.expect("tokens need no store");
            assert!(token.starts_with("t.757365722d37."), "{token}");
            let other = tokens(clock.clone(), KEY, Duration::from_secs(60));
            assert_eq!(other.find(token.as_bytes(), None).await, Lookup::Valid(b"user-7".to_vec()), "another instance");
            let foreign = tokens(clock.clone(), KEY + 1, Duration::from_secs(10));
            assert_eq!(foreign.find(token.as_bytes(), None).await, Lookup::Unknown, "another fleet's key");
            clock.advance(Duration::from_millis(9_999));
            assert_eq!(other.find(token.as_bytes(), None).await, Lookup::Valid(b"user-7".to_vec()));
            clock.advance(Duration::from_millis(1));
            assert_eq!(other.find(token.as_bytes(), None).await, Lookup::Unknown, "over at the TTL it was issued with");
        });
    }

    #[test]
    fn an_altered_or_malformed_token_is_refused() {
        block_on(async {
            let clock = crate::testenv::TestEnv::manual("app");
            let sessions = tokens(clock, KEY, Duration::from_secs(3600));
            let token = sessions.create(b"7", None).await.expect("tokens need no store");
            let parts: Vec<&str> = token.split('.').collect();
            assert_eq!(parts.len(), 4, "{token}");
            let forged = [
                format!("t.{}.{}.{}", hex(b"8"), parts[2], parts[3]),
                format!("t.{}.{}.{}", parts[1], "ffffffffff", parts[3]),
                format!("t.{}.{}.{:016x}", parts[1], parts[2], u64::from_str_radix(parts[3], 16).unwrap() ^ 1),
                format!("x.{}.{}.{}", parts[1], parts[2], parts[3]),
                format!("{token}.0"),
                token[..token.len() - 1].to_string(),
                "t.zz.1.0000000000000000".into(),
                "t...".into(),
                String::new(),
            ];
            for bad in forged {
                assert_eq!(sessions.find(bad.as_bytes(), None).await, Lookup::Unknown, "{bad:?}");
            }
            assert_eq!(sessions.find(&[0xff, 0xfe], None).await, Lookup::Unknown, "not even text");
            assert_eq!(sessions.find(token.as_bytes(), None).await, Lookup::Valid(b"7".to_vec()));
        });
    }

    /// Serves an HTTP app over the db and cache at `tiers` with sessions in `store`: its client.
    async fn app(env: &TokioEnv, (db, cache): (&str, &str), store: Option<SessionStore>) -> HttpClient<TokioEnv> {
        let db = DbRoute::Fixed { write_addr: db.into(), read_addr: db.into() };
        let cache = Some(TierConfig::new(vec![("cache".into(), cache.into())], LIMIT));
        let config = AppConfig { cache, ..AppConfig::new(db, LIMIT) };
        let listener = env.bind(0).await.expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        let app = App::new(env.clone(), &config).expect("a valid tier");
        let sessions = store.map(|store| SessionConfig { store, ttl: Duration::from_secs(60) });
        let front = HttpFront { sessions, ..HttpFront::default() };
        tokio::task::spawn_local(serve_http(env.clone(), listener, Capacity::default(), app, front));
        HttpClient::new(env.clone(), addr, LIMIT)
    }

    async fn send(client: &HttpClient<TokioEnv>, method: Method, path: &str, cookie: Option<&str>) -> HttpResponse {
        let mut headers = vec![(USER, "7".to_string())];
        headers.extend(cookie.map(|id| ("cookie", format!("{COOKIE}={id}"))));
        let request = client.request(method, path, &headers, Bytes::from_static(b"v")).expect("a valid request");
        client.send(request).await.expect("an answer")
    }

    /// Logs in: the session id of the `set-cookie` answer.
    async fn login(client: &HttpClient<TokioEnv>) -> String {
        let answer = send(client, Method::POST, "/login", None).await;
        assert_eq!(answer.status, StatusCode::OK);
        let cookie = answer.headers.get(header::SET_COOKIE).expect("a cookie").to_str().expect("text");
        let id = cookie.strip_prefix("session=").and_then(|rest| rest.split(';').next()).expect("the session cookie");
        assert!(cookie.ends_with("; Path=/; HttpOnly"), "{cookie}");
        id.to_string()
    }

    #[test]
    fn a_request_needs_a_live_session_and_the_cache_shares_it_between_instances() {
        block_on(async {
            let env = env();
            let (db, cache) = tiers(&env).await;
            let (one, two) = (
                app(&env, (&db, &cache), Some(SessionStore::Cache)).await,
                app(&env, (&db, &cache), Some(SessionStore::Cache)).await,
            );
            assert_eq!(send(&one, Method::PUT, "/items/k", None).await.status, StatusCode::UNAUTHORIZED);
            assert_eq!(send(&one, Method::PUT, "/items/k", Some("f00d")).await.status, StatusCode::UNAUTHORIZED);
            let id = login(&one).await;
            assert_eq!(send(&one, Method::PUT, "/items/k", Some(&id)).await.status, StatusCode::OK);
            assert_eq!(
                send(&two, Method::GET, "/items/k", Some(&id)).await.status,
                StatusCode::OK,
                "the other instance finds it"
            );
            assert_eq!(send(&two, Method::POST, "/checkout", None).await.status, StatusCode::UNAUTHORIZED);
            assert_eq!(code_of(StatusCode::UNAUTHORIZED), Some(ErrorCode::Unauthorized));
            assert_eq!(status_of(ErrorCode::Unauthorized), StatusCode::UNAUTHORIZED);
        });
    }

    #[test]
    fn memory_sessions_are_the_instance_s_own_and_no_sessions_need_no_cookie() {
        block_on(async {
            let env = env();
            let (db, cache) = tiers(&env).await;
            let one = app(&env, (&db, &cache), Some(SessionStore::Memory)).await;
            let two = app(&env, (&db, &cache), Some(SessionStore::Memory)).await;
            let id = login(&one).await;
            assert_eq!(send(&one, Method::PUT, "/items/k", Some(&id)).await.status, StatusCode::OK);
            assert_eq!(send(&two, Method::GET, "/items/k", Some(&id)).await.status, StatusCode::UNAUTHORIZED);
            let plain = app(&env, (&db, &cache), None).await;
            assert_eq!(send(&plain, Method::GET, "/items/k", None).await.status, StatusCode::OK);
            assert_eq!(send(&plain, Method::POST, "/login", None).await.status, StatusCode::NOT_FOUND);
        });
    }

    #[test]
    fn token_sessions_pass_between_instances_and_outlive_a_dead_cache() {
        block_on(async {
            let env = env();
            let (db, cache) = tiers(&env).await;
            let token = Some(SessionStore::Token { key: KEY });
            let one = app(&env, (&db, &cache), token).await;
            let id = login(&one).await;
            assert!(id.starts_with("t."), "{id}");
            let dead = env.bind(0).await.expect("bind");
            let dead_addr = dead.local_addr().expect("an address").to_string();
            drop(dead);
            let two = app(&env, (&db, &dead_addr), token).await;
            assert_eq!(send(&two, Method::PUT, "/items/k", Some(&id)).await.status, StatusCode::OK, "no store to ask");
            assert_eq!(send(&two, Method::PUT, "/items/k", Some("f00d")).await.status, StatusCode::UNAUTHORIZED);
            let other_fleet = app(&env, (&db, &cache), Some(SessionStore::Token { key: KEY + 1 })).await;
            assert_eq!(send(&other_fleet, Method::GET, "/items/k", Some(&id)).await.status, StatusCode::UNAUTHORIZED);
        });
    }

    #[test]
    fn a_dead_session_cache_fails_closed() {
        block_on(async {
            let env = env();
            let (db, _) = tiers(&env).await;
            let dead = env.bind(0).await.expect("bind");
            let dead_addr = dead.local_addr().expect("an address").to_string();
            drop(dead);
            let client = app(&env, (&db, &dead_addr), Some(SessionStore::Cache)).await;
            let refused = send(&client, Method::POST, "/login", None).await;
            assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
            let unknown = send(&client, Method::GET, "/items/k", Some("f00d")).await;
            assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE, "the store cannot say: not a 401");
            assert!(String::from_utf8_lossy(&unknown.body).contains("session store"), "{unknown:?}");
        });
    }

    #[test]
    fn cache_sessions_need_a_tier() {
        let env = env();
        let config = SessionConfig { store: SessionStore::Cache, ttl: Duration::from_secs(60) };
        let refused = Sessions::new(env.clone(), config, None, Duration::from_secs(1)).err().expect("refused");
        assert!(refused.contains("cache tier"), "{refused}");
        assert!(Sessions::new(env, config, Some(&[]), Duration::from_secs(1)).is_err());
    }
}
