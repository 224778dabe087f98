//! Signed-in sessions and the login rate limiter. Both live in memory: a
//! restart signs everyone out, which is the safe direction.
//!
//! The cookie holds 32 random bytes (base64url); the server keeps only
//! their SHA-256, so a memory dump does not hand out live sessions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::Authenticated;
use session::Timestamp;

/// The cookie's name. `__Host-` makes browsers insist on Secure, Path=/
/// and no Domain, so no other host or path can set or read it.
pub const COOKIE: &str = "__Host-teleconsult";
/// A session ends this long after sign-in, whatever happens.
pub const ABSOLUTE_TTL: Duration = Duration::from_secs(8 * 3600);
/// And this long after its last request.
pub const IDLE_TTL: Duration = Duration::from_secs(30 * 60);
/// Most live sessions; past this, sign-in is refused until some expire.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug)]
struct Live {
    who: Authenticated,
    created: Timestamp,
    last_seen: Timestamp,
}

/// The live sessions, by the SHA-256 of their cookie.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Live>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn expired(l: &Live, now: Timestamp) -> bool {
    now.since(l.created) >= ABSOLUTE_TTL || now.since(l.last_seen) >= IDLE_TTL
}

impl Sessions {
    /// Opens a session for `who`; returns the cookie value.
    pub fn open(&self, who: Authenticated, now: Timestamp) -> Result<String, crate::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(crate::Error::Randomness)?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, l| !expired(l, now));
        if live.len() >= MAX_SESSIONS {
            return Err(crate::Error::TooManySessions);
        }
        live.insert(
            digest(&token),
            Live {
                who,
                created: now,
                last_seen: now,
            },
        );
        Ok(token)
    }

    /// Who the session `token` belongs to, if it is live; refreshes it.
    pub fn get(&self, token: &str, now: Timestamp) -> Option<Authenticated> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let key = digest(token);
        match live.get_mut(&key) {
            Some(l) if !expired(l, now) => {
                l.last_seen = now;
                Some(l.who.clone())
            }
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session `token`.
    pub fn close(&self, token: &str) -> Option<Authenticated> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&digest(token))
            .map(|l| l.who)
    }

    /// Ends every session of `account` (on disable).
    pub fn close_account(&self, account: i64) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, l| l.who.account != account);
    }
}

/// The session cookie's value in a request, if any.
pub fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// The value of the cookie `name` in a request, if any (at most 64 bytes:
/// the server's own cookies are no longer).
pub fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// The `Set-Cookie` value opening a session.
pub fn set_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        ABSOLUTE_TTL.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value ending it.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-teleconsult=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
    )
}

/// Failed attempts allowed per login *and client address* in
/// [`LOCK_WINDOW`] before that pair is held. Counting per pair, not per
/// login, means a stranger who guesses from one address cannot lock the
/// doctor out: the right password and code from the doctor's own address
/// still sign in.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and a hold lasts.
pub const LOCK_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Attempts allowed per client address per minute, whatever the login.
pub const MAX_PER_CLIENT_PER_MINUTE: u32 = 20;
/// (login, client) pairs, and clients, tracked at most. When a table is
/// full of live entries, the oldest is dropped rather than the table grown
/// (or anyone refused): its memory does not depend on what clients send.
pub const MAX_TRACKED: usize = 100_000;
/// How long a table found full of live entries is not searched again for
/// expired ones (the search walks the whole table, under the lock).
const PRUNE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Timestamp,
    count: u32,
}

/// One table of windows, bounded, with the last time it was pruned.
#[derive(Debug)]
struct Table<K> {
    windows: HashMap<K, Window>,
    /// How long an entry lives.
    window: Duration,
    /// When expired entries were last dropped, so a full table of live
    /// entries is not walked on every attempt.
    pruned: Option<Timestamp>,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new(window: Duration) -> Self {
        Table {
            windows: HashMap::new(),
            window,
            pruned: None,
        }
    }

    /// The live window of `key`, if any.
    fn live(&self, key: &K, now: Timestamp) -> Option<Window> {
        self.windows
            .get(key)
            .copied()
            .filter(|w| now.since(w.start) < self.window)
    }

    /// Makes room to count `key` without the table growing past
    /// `capacity`: nothing to do if it is there already or there is room;
    /// else expired entries are dropped (at most every [`PRUNE_EVERY`]),
    /// and if the table is still full of live entries, the one closest to
    /// its end is dropped. Nobody is refused because the table is full: a
    /// flood from many addresses at worst shortens other pairs' counts
    /// (each address stays held by its per-minute rate), and never locks
    /// out a person signing in from elsewhere.
    fn make_room_for(&mut self, key: &K, capacity: usize, now: Timestamp) {
        if self.windows.len() < capacity || self.windows.contains_key(key) {
            return;
        }
        if self.pruned.is_none_or(|at| now.since(at) >= PRUNE_EVERY) {
            let window = self.window;
            self.windows.retain(|_, w| now.since(w.start) < window);
            self.pruned = Some(now);
        }
        while self.windows.len() >= capacity.max(1) {
            let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.windows.remove(&oldest);
        }
    }

    /// Counts one attempt of `key` (a new window if it had none live).
    fn count(&mut self, key: K, now: Timestamp) {
        let window = self.window;
        let w = self.windows.entry(key).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.since(w.start) >= window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count += 1;
    }
}

/// What the limiter counts, behind one lock so that checking an attempt
/// and counting it are one step.
#[derive(Debug)]
struct Tables {
    /// Failed (or still running) attempts per (login, client key).
    failures: Table<(String, String)>,
    /// All attempts per client key.
    clients: Table<String>,
}

/// Limits sign-in attempts per (login, client address) (failures) and per
/// client address (all attempts), so passwords and TOTP codes cannot be
/// guessed online, and a guesser cannot lock out the person they target.
///
/// An attempt is counted as a failure *when it starts* ([`LoginLimiter::begin`])
/// and the count is taken back if it succeeds: N guesses sent in parallel
/// cannot all pass the check before any of them is counted.
///
/// A client is its IPv4 address, or the /64 of its IPv6 address (one
/// host usually holds a whole /64, so per address it could guess without
/// end). Both tables hold at most `capacity` entries.
#[derive(Debug)]
pub struct LoginLimiter {
    tables: Mutex<Tables>,
    /// The most entries each table holds ([`MAX_TRACKED`] but in tests).
    capacity: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::with_capacity(MAX_TRACKED)
    }
}

/// The key a client is counted under: an IPv4 address (also when written
/// as IPv4-mapped IPv6), the /64 of an IPv6 address, or the text as given
/// when it is not an address (tests without a socket).
fn client_key(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(net))
            }
        },
        Err(_) => client.to_string(),
    }
}

impl LoginLimiter {
    /// A limiter whose tables hold at most `capacity` entries each.
    pub fn with_capacity(capacity: usize) -> Self {
        LoginLimiter {
            tables: Mutex::new(Tables {
                failures: Table::new(LOCK_WINDOW),
                clients: Table::new(Duration::from_secs(60)),
            }),
            capacity,
        }
    }

    /// Whether an attempt for `login` from `client` may proceed, and if so
    /// counts it, in one step: against the client's rate, and as a failure
    /// of the pair until [`LoginLimiter::succeeded`] takes it back. `Err`
    /// holds the seconds to wait. An attempt refused adds nothing.
    pub fn begin(&self, login: &str, client: &str, now: Timestamp) -> Result<(), u64> {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        let client = client_key(client);
        let pair = (login.to_string(), client.clone());
        let wait = |table_window: Duration, w: Window| {
            table_window
                .saturating_sub(now.since(w.start))
                .as_secs()
                .max(1)
        };
        if let Some(w) = t.failures.live(&pair, now)
            && w.count >= MAX_FAILURES
        {
            return Err(wait(LOCK_WINDOW, w));
        }
        let minute = t.clients.window;
        if let Some(w) = t.clients.live(&client, now)
            && w.count >= MAX_PER_CLIENT_PER_MINUTE
        {
            return Err(wait(minute, w));
        }
        t.clients.make_room_for(&client, self.capacity, now);
        t.failures.make_room_for(&pair, self.capacity, now);
        t.clients.count(client, now);
        t.failures.count(pair, now);
        Ok(())
    }

    /// The attempt begun for `login` from `client` succeeded: the pair's
    /// failures are forgotten.
    pub fn succeeded(&self, login: &str, client: &str) {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failures
            .windows
            .remove(&(login.to_string(), client_key(client)));
    }

    /// The attempt begun did not fail by the person's doing (the store
    /// failed): it is not held against the pair.
    pub fn not_counted(&self, login: &str, client: &str) {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = t
            .failures
            .windows
            .get_mut(&(login.to_string(), client_key(client)))
        {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// How many entries the (login, client) and client tables hold.
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        (t.failures.windows.len(), t.clients.windows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session::access::AccountRole;

    fn who() -> Authenticated {
        Authenticated {
            account: 1,
            login: "a".into(),
            role: AccountRole::Professional,
            name: None,
            rpps: None,
            provider: "local",
        }
    }

    #[test]
    fn sessions_expire_idle_and_absolute() {
        let s = Sessions::default();
        let t0 = Timestamp::from_micros(0);
        let tok = s.open(who(), t0).unwrap();
        let at = |secs: u64| Timestamp::from_micros((secs * 1_000_000) as i64);
        assert!(s.get(&tok, at(60)).is_some());
        // Kept alive by use, until the absolute limit.
        let mut t = 60;
        while t + 1200 < ABSOLUTE_TTL.as_secs() {
            t += 1200;
            assert!(s.get(&tok, at(t)).is_some(), "t={t}");
        }
        assert!(s.get(&tok, at(ABSOLUTE_TTL.as_secs())).is_none());
        let tok = s.open(who(), t0).unwrap();
        assert!(s.get(&tok, at(IDLE_TTL.as_secs())).is_none(), "idle");
        assert!(s.get("forged", t0).is_none());
    }

    #[test]
    fn limiter_holds_a_login_from_one_address_only() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for _ in 0..MAX_FAILURES {
            assert!(l.begin("dr", "10.0.0.1", t0).is_ok());
        }
        let wait = l.begin("dr", "10.0.0.1", t0).unwrap_err();
        assert!(wait > 0 && wait <= LOCK_WINDOW.as_secs());
        // The doctor's own address is not held, nor another login.
        assert!(l.begin("dr", "10.0.0.2", t0).is_ok());
        l.succeeded("dr", "10.0.0.2");
        assert!(l.begin("someone-else", "10.0.0.1", t0).is_ok());
        let later = Timestamp::from_micros(LOCK_WINDOW.as_micros() as i64);
        assert!(l.begin("dr", "10.0.0.1", later).is_ok());
    }

    #[test]
    fn a_success_or_an_internal_failure_takes_the_count_back() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for _ in 0..MAX_FAILURES - 1 {
            assert!(l.begin("dr", "c", t0).is_ok());
        }
        assert!(l.begin("dr", "c", t0).is_ok());
        l.not_counted("dr", "c");
        assert!(l.begin("dr", "c", t0).is_ok());
        l.succeeded("dr", "c");
        for _ in 0..MAX_FAILURES {
            assert!(l.begin("dr", "c", t0).is_ok(), "forgotten after success");
        }
        assert!(l.begin("dr", "c", t0).is_err());
    }

    #[test]
    fn limiter_caps_attempts_per_client() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for i in 0..MAX_PER_CLIENT_PER_MINUTE {
            assert!(l.begin(&format!("l{i}"), "1.2.3.4", t0).is_ok());
        }
        assert_eq!(l.begin("x", "1.2.3.4", t0), Err(60));
        assert!(l.begin("x", "5.6.7.8", t0).is_ok());
    }

    #[test]
    fn limiter_tables_never_exceed_their_bound_and_never_refuse_for_it() {
        const CAP: usize = 50;
        let l = LoginLimiter::with_capacity(CAP);
        let t0 = Timestamp::from_micros(0);
        let (mut passed, mut refused) = (0, 0);
        for a in 0..40 {
            for i in 0..40 {
                match l.begin(&format!("login-{i}"), &format!("10.1.{a}.1"), t0) {
                    Ok(()) => passed += 1,
                    Err(wait) => {
                        assert!(wait > 0);
                        refused += 1;
                    }
                }
                let (pairs, clients) = l.tracked();
                assert!(
                    pairs <= CAP && clients <= CAP,
                    "{pairs} pairs, {clients} clients"
                );
            }
        }
        // Each address is held by its own rate only, not by a full table.
        let rate = MAX_PER_CLIENT_PER_MINUTE as usize;
        assert_eq!(passed, 40 * rate);
        assert_eq!(refused, 40 * (40 - rate));
        // With the table full, a doctor at a new address signs in, and a
        // pair guessed now is held as usual.
        for _ in 0..MAX_FAILURES {
            assert!(l.begin("doctor", "10.2.0.1", t0).is_ok());
        }
        assert!(l.begin("doctor", "10.2.0.1", t0).is_err());
        assert!(l.begin("doctor", "10.3.0.1", t0).is_ok());
        assert!(l.tracked().0 <= CAP);
    }

    #[test]
    fn rate_limited_attempts_add_no_entry() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for i in 0..MAX_PER_CLIENT_PER_MINUTE {
            assert!(l.begin(&format!("l{i}"), "1.2.3.4", t0).is_ok());
        }
        for i in 0..1000 {
            assert!(l.begin(&format!("new-{i}"), "1.2.3.4", t0).is_err());
        }
        assert_eq!(l.tracked(), (MAX_PER_CLIENT_PER_MINUTE as usize, 1));
        // A held pair adds nothing either.
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.begin("dr", "5.6.7.8", t0).is_ok());
        }
        for _ in 0..10 {
            assert!(l.begin("dr", "5.6.7.8", t0).is_err());
        }
        assert_eq!(l.tracked(), (1, 1));
    }

    #[test]
    fn ipv6_clients_in_one_slash_64_share_a_count() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        // Failures of a pair, spread over addresses of one /64.
        for i in 0..MAX_FAILURES {
            let client = format!("2001:db8:1:2:{i:x}::{}", i + 1);
            assert!(l.begin("dr", &client, t0).is_ok());
        }
        assert!(
            l.begin("dr", "2001:db8:1:2:ffff:ffff:ffff:ffff", t0)
                .is_err()
        );
        // Another /64 is another client.
        assert!(l.begin("dr", "2001:db8:1:3::1", t0).is_ok());
        l.succeeded("dr", "2001:db8:1:3::2");
        assert_eq!(l.tracked().0, 1, "success forgotten for the whole /64");
        // The per-client rate counts the /64 too.
        let l = LoginLimiter::default();
        for i in 0..MAX_PER_CLIENT_PER_MINUTE {
            let client = format!("2001:db8::{:x}", i + 1);
            assert!(l.begin(&format!("l{i}"), &client, t0).is_ok());
        }
        assert_eq!(l.begin("x", "2001:db8::ffff", t0), Err(60));
        // IPv4 is keyed by the address, also written as IPv4-mapped IPv6.
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.begin("dr", "::ffff:10.0.0.1", t0).is_ok());
        }
        assert!(l.begin("dr", "10.0.0.1", t0).is_err());
        assert!(l.begin("dr", "10.0.0.2", t0).is_ok());
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-teleconsult=tok; b=2"),
        );
        assert_eq!(cookie_of(&h), Some("tok"));
        let c = set_cookie("tok");
        let c = c.to_str().unwrap();
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
    }
}
