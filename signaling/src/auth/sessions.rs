//! Signed-in sessions and the login rate limiter. Both live in memory: a
//! restart signs everyone out, which is the safe direction.
//!
//! The cookie holds 32 random bytes (base64url); the server keeps only
//! their SHA-256, so a memory dump does not hand out live sessions.

use std::collections::HashMap;
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
        getrandom::fill(&mut bytes)
            .map_err(|e| crate::Error::Key(format!("no system randomness: {e}")))?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, l| !expired(l, now));
        if live.len() >= MAX_SESSIONS {
            return Err(crate::Error::Key("too many open sessions".into()));
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
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
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
/// Logins and clients tracked at most; past this, the oldest are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Timestamp,
    count: u32,
}

/// What the limiter counts, behind one lock so that checking an attempt
/// and counting it are one step.
#[derive(Debug, Default)]
struct Tables {
    /// Failed (or still running) attempts per (login, client address).
    failures: HashMap<(String, String), Window>,
    /// All attempts per client address.
    clients: HashMap<String, Window>,
}

/// Limits sign-in attempts per (login, client address) (failures) and per
/// client address (all attempts), so passwords and TOTP codes cannot be
/// guessed online, and a guesser cannot lock out the person they target.
///
/// An attempt is counted as a failure *when it starts* ([`LoginLimiter::begin`])
/// and the count is taken back if it succeeds: N guesses sent in parallel
/// cannot all pass the check before any of them is counted.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    tables: Mutex<Tables>,
}

fn window_of<'a, K: std::hash::Hash + Eq + Clone>(
    map: &'a mut HashMap<K, Window>,
    key: &K,
    window: Duration,
    now: Timestamp,
) -> &'a mut Window {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, w| now.since(w.start) < window);
    }
    let w = map.entry(key.clone()).or_insert(Window {
        start: now,
        count: 0,
    });
    if now.since(w.start) >= window {
        *w = Window {
            start: now,
            count: 0,
        };
    }
    w
}

impl LoginLimiter {
    /// Whether an attempt for `login` from `client` may proceed, and if so
    /// counts it, in one step: against the client's rate, and as a failure
    /// of the pair until [`LoginLimiter::succeeded`] takes it back. `Err`
    /// holds the seconds to wait.
    pub fn begin(&self, login: &str, client: &str, now: Timestamp) -> Result<(), u64> {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        let pair = (login.to_string(), client.to_string());
        let failures = window_of(&mut t.failures, &pair, LOCK_WINDOW, now);
        if failures.count >= MAX_FAILURES {
            return Err((LOCK_WINDOW.saturating_sub(now.since(failures.start)))
                .as_secs()
                .max(1));
        }
        let minute = Duration::from_secs(60);
        let rate = window_of(&mut t.clients, &client.to_string(), minute, now);
        if rate.count >= MAX_PER_CLIENT_PER_MINUTE {
            return Err(minute
                .saturating_sub(now.since(rate.start))
                .as_secs()
                .max(1));
        }
        rate.count += 1;
        if let Some(w) = t.failures.get_mut(&pair) {
            w.count += 1;
        }
        Ok(())
    }

    /// The attempt begun for `login` from `client` succeeded: the pair's
    /// failures are forgotten.
    pub fn succeeded(&self, login: &str, client: &str) {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failures
            .remove(&(login.to_string(), client.to_string()));
    }

    /// The attempt begun did not fail by the person's doing (the store
    /// failed): it is not held against the pair.
    pub fn not_counted(&self, login: &str, client: &str) {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = t.failures.get_mut(&(login.to_string(), client.to_string())) {
            w.count = w.count.saturating_sub(1);
        }
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
