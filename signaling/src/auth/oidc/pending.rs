//! Sign-ins under way: what `GET /api/oidc/start` keeps, by its `state`,
//! until the provider sends the browser back to the callback. Sans-IO:
//! every call takes `now`.
//!
//! The table is bounded ([`MAX_PENDING`]) and each entry lives
//! [`PENDING_TTL`] and is taken once: a state replayed, expired, unknown, or
//! brought back by another browser than the one that started (its binding
//! cookie differs) finds nothing.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use session::Timestamp;

/// How long a person has at the provider's pages.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Sign-ins under way at most; past this, new ones are refused until some
/// end or expire (their memory does not depend on what clients send).
pub const MAX_PENDING: usize = 10_000;

/// What the callback needs to finish one sign-in.
pub struct Pending {
    /// The PKCE verifier (its S256 challenge went to the provider).
    pub pkce_verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where to send the browser once signed in (checked by
    /// [`super::next::safe_next`]).
    pub next: String,
    /// SHA-256 of the binding cookie set on the browser that started.
    browser: [u8; 32],
    created: Timestamp,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(<redacted>)")
    }
}

impl Pending {
    /// A sign-in started by the browser holding the binding cookie `browser`.
    pub fn new(
        pkce_verifier: String,
        nonce: String,
        next: String,
        browser: &str,
        now: Timestamp,
    ) -> Pending {
        Pending {
            pkce_verifier,
            nonce,
            next,
            browser: Sha256::digest(browser.as_bytes()).into(),
            created: now,
        }
    }
}

/// The table is full of live sign-ins.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Sign-ins under way, by state. See the module docs.
#[derive(Debug)]
pub struct PendingTable {
    by_state: HashMap<String, Pending>,
    capacity: usize,
}

impl Default for PendingTable {
    fn default() -> Self {
        Self::with_capacity(MAX_PENDING)
    }
}

impl PendingTable {
    /// A table holding at most `capacity` sign-ins.
    pub fn with_capacity(capacity: usize) -> Self {
        PendingTable {
            by_state: HashMap::new(),
            capacity,
        }
    }

    /// Keeps `pending` under `state`; refused when the table is full of
    /// live entries (expired ones are dropped first).
    pub fn insert(&mut self, state: String, pending: Pending, now: Timestamp) -> Result<(), Full> {
        if self.by_state.len() >= self.capacity {
            self.by_state
                .retain(|_, p| now.since(p.created) < PENDING_TTL);
        }
        if self.by_state.len() >= self.capacity {
            return Err(Full);
        }
        self.by_state.insert(state, pending);
        Ok(())
    }

    /// Takes the sign-in of `state` (once: it is gone after this call,
    /// whatever the answer), if it is live and `browser` is the binding
    /// cookie it was started with.
    pub fn take(&mut self, state: &str, browser: Option<&str>, now: Timestamp) -> Option<Pending> {
        let p = self.by_state.remove(state)?;
        if now.since(p.created) >= PENDING_TTL {
            return None;
        }
        let given: [u8; 32] = Sha256::digest(browser?.as_bytes()).into();
        bool::from(given.ct_eq(&p.browser)).then_some(p)
    }

    /// Where `state`'s sign-in was to lead, while it is under way.
    pub fn next_of(&self, state: &str) -> Option<&str> {
        self.by_state.get(state).map(|p| p.next.as_str())
    }

    /// How many sign-ins the table holds (live or not yet dropped).
    pub fn len(&self) -> usize {
        self.by_state.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_state.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_micros((secs * 1_000_000) as i64)
    }

    fn pending(now: Timestamp) -> Pending {
        Pending::new(
            "verifier".into(),
            "nonce".into(),
            "/pro".into(),
            "cookie",
            now,
        )
    }

    #[test]
    fn a_state_is_taken_once() {
        let mut t = PendingTable::default();
        t.insert("s1".into(), pending(at(0)), at(0)).unwrap();
        assert_eq!(t.next_of("s1"), Some("/pro"));
        let p = t.take("s1", Some("cookie"), at(1)).unwrap();
        assert_eq!(p.nonce, "nonce");
        assert!(t.take("s1", Some("cookie"), at(1)).is_none(), "replayed");
        assert!(t.take("unknown", Some("cookie"), at(1)).is_none());
    }

    #[test]
    fn a_state_expires() {
        let mut t = PendingTable::default();
        t.insert("s1".into(), pending(at(0)), at(0)).unwrap();
        t.insert("s2".into(), pending(at(0)), at(0)).unwrap();
        assert!(
            t.take("s1", Some("cookie"), at(PENDING_TTL.as_secs() - 1))
                .is_some()
        );
        assert!(
            t.take("s2", Some("cookie"), at(PENDING_TTL.as_secs()))
                .is_none()
        );
        assert!(t.is_empty(), "an expired state is dropped when tried");
    }

    #[test]
    fn another_browser_cannot_finish_it() {
        let mut t = PendingTable::default();
        t.insert("s1".into(), pending(at(0)), at(0)).unwrap();
        assert!(t.take("s1", Some("another cookie"), at(1)).is_none());
        // And the attempt used it up: the right browser cannot either.
        assert!(t.take("s1", Some("cookie"), at(1)).is_none());
        t.insert("s2".into(), pending(at(0)), at(0)).unwrap();
        assert!(t.take("s2", None, at(1)).is_none(), "no cookie");
    }

    #[test]
    fn the_table_is_bounded_and_expired_entries_make_room() {
        let mut t = PendingTable::with_capacity(3);
        for i in 0..3 {
            t.insert(format!("s{i}"), pending(at(0)), at(0)).unwrap();
        }
        assert_eq!(t.insert("s3".into(), pending(at(1)), at(1)), Err(Full));
        assert_eq!(t.len(), 3);
        // Once the first ones expired, a new sign-in finds room.
        let later = at(PENDING_TTL.as_secs());
        t.insert("s4".into(), pending(later), later).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.take("s4", Some("cookie"), later).is_some());
    }
}
