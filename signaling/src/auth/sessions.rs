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

/// Failed attempts allowed per login in [`LOCK_WINDOW`] before it locks.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and a lock lasts.
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

/// Limits sign-in attempts per login (failures) and per client address
/// (all attempts), so passwords and TOTP codes cannot be guessed online.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Window>>,
    clients: Mutex<HashMap<String, Window>>,
}

fn bump(map: &mut HashMap<String, Window>, key: &str, window: Duration, now: Timestamp) -> u32 {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, w| now.since(w.start) < window);
    }
    let w = map.entry(key.to_string()).or_insert(Window {
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
    w.count
}

impl LoginLimiter {
    /// Whether an attempt for `login` from `client` may proceed; counts it
    /// against the client. `Err` holds the seconds to wait.
    pub fn check(&self, login: &str, client: &str, now: Timestamp) -> Result<(), u64> {
        {
            let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = failures.get(login)
                && w.count >= MAX_FAILURES
                && now.since(w.start) < LOCK_WINDOW
            {
                return Err((LOCK_WINDOW - now.since(w.start)).as_secs().max(1));
            }
        }
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if bump(&mut clients, client, Duration::from_secs(60), now) > MAX_PER_CLIENT_PER_MINUTE {
            return Err(60);
        }
        Ok(())
    }

    /// Counts a failure against `login`.
    pub fn failed(&self, login: &str, now: Timestamp) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        bump(&mut failures, login, LOCK_WINDOW, now);
    }

    /// Clears `login`'s failures after a success.
    pub fn succeeded(&self, login: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(login);
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
    fn limiter_locks_a_login_after_failures() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for i in 0..MAX_FAILURES {
            assert!(l.check("dr", &format!("c{i}"), t0).is_ok());
            l.failed("dr", t0);
        }
        let wait = l.check("dr", "other-client", t0).unwrap_err();
        assert!(wait > 0 && wait <= LOCK_WINDOW.as_secs());
        assert!(l.check("someone-else", "c9", t0).is_ok());
        let later = Timestamp::from_micros(LOCK_WINDOW.as_micros() as i64);
        assert!(l.check("dr", "c0", later).is_ok());
    }

    #[test]
    fn limiter_caps_attempts_per_client() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_micros(0);
        for i in 0..MAX_PER_CLIENT_PER_MINUTE {
            assert!(l.check(&format!("l{i}"), "1.2.3.4", t0).is_ok());
        }
        assert_eq!(l.check("x", "1.2.3.4", t0), Err(60));
        assert!(l.check("x", "5.6.7.8", t0).is_ok());
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
