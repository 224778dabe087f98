//! TURN REST API credentials (draft-uberti-behave-turn-rest-00, as coturn
//! implements it), bound to one act and one participant.
//!
//! - username: `EXPIRY_UNIX:ACT_ID:PARTICIPANT` (three fields, `:` between),
//! - password: `base64(HMAC-SHA1(secret, username))`.
//!
//! The signaling server issues them with a TTL that must cover the whole
//! consultation; the relay deletes an allocation whose username has expired
//! or was revoked. Revocation is keyed by (act, participant) and covers
//! every credential of that participant, already issued or not.
//!
//! Revoked credentials stay dead. [`TurnCredentials::reopen`] (consent
//! given anew) lets the participants of an act get credentials again, but
//! only credentials that expire after every one issued before: the expiry
//! acts as the credential's generation. Each participant's record keeps
//! the latest expiry issued (`issued_up_to`) and, after a reopening, the
//! expiry up to which credentials stay refused (`dead_up_to`); issuing
//! moves a new expiry past it, so a new username never equals an old one.
//!
//! Connection-test credentials name the participant `precall-N`
//! ([`probe_participant`]): the relay lets them reach only the server's
//! test peer, and revoking participant `N` revokes them too.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::Error;

/// STUN usernames are shorter than 513 bytes (RFC 8489 §14.3).
pub const MAX_USERNAME_LEN: usize = 512;

/// Longest act or participant id we put into a username.
pub const MAX_ID_LEN: usize = 128;

/// The participant id of participant `participant`'s connection-test
/// credentials.
pub fn probe_participant(participant: &str) -> String {
    format!("{PROBE_PREFIX}{participant}")
}

/// What a connection-test participant id starts with.
pub const PROBE_PREFIX: &str = "precall-";

/// One issued username and password, what the browser puts into its
/// `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `EXPIRY_UNIX:ACT_ID:PARTICIPANT`.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))`.
    pub password: String,
    /// The expiry written in the username, in unix seconds.
    pub expires_at: u64,
}

/// A username split into its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUsername {
    /// Unix seconds after which the credential is refused.
    pub expires_at: u64,
    /// The act it was issued for.
    pub act: String,
    /// The participant it was issued to.
    pub participant: String,
}

impl TurnUsername {
    /// Splits `EXPIRY_UNIX:ACT_ID:PARTICIPANT`. Exactly three non-empty
    /// fields; the expiry is decimal digits only.
    pub fn parse(username: &str) -> Result<Self, Error> {
        if username.len() > MAX_USERNAME_LEN {
            return Err(Error::MalformedUsername("too long"));
        }
        let mut fields = username.split(':');
        let (Some(expiry), Some(act), Some(participant), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(Error::MalformedUsername(
                "expected EXPIRY_UNIX:ACT_ID:PARTICIPANT",
            ));
        };
        if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::MalformedUsername("expiry is not a unix time"));
        }
        let expires_at = expiry
            .parse::<u64>()
            .map_err(|_| Error::MalformedUsername("expiry is not a unix time"))?;
        check_id("act id", act)?;
        check_id("participant id", participant)?;
        Ok(TurnUsername {
            expires_at,
            act: act.to_owned(),
            participant: participant.to_owned(),
        })
    }
}

impl TurnUsername {
    /// Whether this is a connection-test credential, which may reach only
    /// the server's test peer.
    pub fn is_probe_only(&self) -> bool {
        self.participant.starts_with(PROBE_PREFIX)
    }

    /// The participant the credential counts against in the quotas: a
    /// connection-test credential counts as its participant's own.
    pub fn quota_participant(&self) -> &str {
        self.participant
            .strip_prefix(PROBE_PREFIX)
            .unwrap_or(&self.participant)
    }
}

impl std::fmt::Display for TurnUsername {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.expires_at, self.act, self.participant)
    }
}

fn check_id(what: &'static str, id: &str) -> Result<(), Error> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > MAX_ID_LEN {
        "too long"
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        "only ASCII letters, digits and -_. are allowed"
    } else {
        return Ok(());
    };
    Err(Error::InvalidIdentifier { what, reason })
}

/// Issues and checks TURN REST API credentials with one shared secret, and
/// holds the revocation set. Shared (in an `Arc`) by the signaling server,
/// which issues and revokes, and the relay, which checks.
pub struct TurnCredentials {
    secret: Vec<u8>,
    /// By (act, participant): what was issued, and what is refused.
    records: RwLock<HashMap<(String, String), Record>>,
}

/// How long a revoked participant's record outlives their last
/// credential's expiry.
pub const REVOKED_KEPT: Duration = Duration::from_secs(24 * 3600);

/// What is known of one participant's credentials.
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    /// The latest expiry issued (unix seconds).
    issued_up_to: u64,
    /// Every credential is refused (until [`TurnCredentials::reopen`]).
    revoked: bool,
    /// Credentials expiring at or before this are refused for good: those
    /// issued before the last revocation.
    dead_up_to: u64,
}

impl Record {
    fn refuses(&self, expires_at: u64) -> bool {
        self.revoked || expires_at <= self.dead_up_to
    }
}

impl std::fmt::Debug for TurnCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnCredentials")
            .field("secret", &"[redacted]")
            .field("revoked", &self.revoked_count())
            .finish()
    }
}

impl TurnCredentials {
    /// A verifier for `secret` (the same secret coturn would take as
    /// `static-auth-secret`).
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(Error::EmptySecret);
        }
        Ok(TurnCredentials {
            secret,
            records: RwLock::new(HashMap::new()),
        })
    }

    fn records(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(String, String), Record>> {
        self.records.read().unwrap_or_else(|e| e.into_inner())
    }

    fn records_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(String, String), Record>> {
        self.records.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Credentials for `participant` of `act`, valid for `ttl` from now
    /// (a little longer if credentials revoked earlier expire later: the
    /// new ones must expire after them, see the module docs).
    pub fn issue(&self, act: &str, participant: &str, ttl: Duration) -> Result<Credentials, Error> {
        let mut expires_at = unix_now().saturating_add(ttl.as_secs());
        if let Some(r) = self
            .records()
            .get(&(act.to_owned(), participant.to_owned()))
        {
            expires_at = expires_at.max(r.dead_up_to.saturating_add(1));
        }
        self.issue_until(act, participant, expires_at)
    }

    /// Credentials for `participant` of `act` that expire at `expires_at`
    /// (unix seconds).
    pub fn issue_until(
        &self,
        act: &str,
        participant: &str,
        expires_at: u64,
    ) -> Result<Credentials, Error> {
        check_id("act id", act)?;
        check_id("participant id", participant)?;
        let username = format!("{expires_at}:{act}:{participant}");
        let password = self.password_for(&username);
        let mut records = self.records_mut();
        let r = records
            .entry((act.to_owned(), participant.to_owned()))
            .or_default();
        r.issued_up_to = r.issued_up_to.max(expires_at);
        Ok(Credentials {
            username,
            password,
            expires_at,
        })
    }

    /// `base64(HMAC-SHA1(secret, username))`. This derives the password of
    /// any username: it checks nothing.
    pub fn password_for(&self, username: &str) -> String {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes any key length");
        mac.update(username.as_bytes());
        BASE64_STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Whether `username` may be used now: well formed, not expired, not
    /// revoked. Says nothing about the password (the relay checks that
    /// through the STUN MESSAGE-INTEGRITY).
    pub fn check_username(&self, username: &str) -> Result<TurnUsername, Error> {
        self.check_username_at(username, unix_now())
    }

    /// [`check_username`](Self::check_username) at `now` (unix seconds).
    /// A credential is valid up to and including its expiry second.
    pub fn check_username_at(&self, username: &str, now: u64) -> Result<TurnUsername, Error> {
        let parsed = TurnUsername::parse(username)?;
        if parsed.expires_at < now {
            return Err(Error::CredentialExpired {
                expired_at: parsed.expires_at,
            });
        }
        let refused = self
            .records()
            .get(&(parsed.act.clone(), parsed.participant.clone()))
            .is_some_and(|r| r.refuses(parsed.expires_at));
        if refused {
            return Err(Error::CredentialRevoked {
                act: parsed.act,
                participant: parsed.participant,
            });
        }
        Ok(parsed)
    }

    /// Checks a username and password pair (constant-time comparison of
    /// the password).
    pub fn verify(&self, username: &str, password: &str) -> Result<TurnUsername, Error> {
        self.verify_at(username, password, unix_now())
    }

    /// [`verify`](Self::verify) at `now` (unix seconds).
    pub fn verify_at(
        &self,
        username: &str,
        password: &str,
        now: u64,
    ) -> Result<TurnUsername, Error> {
        let parsed = self.check_username_at(username, now)?;
        let expected = self.password_for(username);
        if bool::from(expected.as_bytes().ct_eq(password.as_bytes())) {
            Ok(parsed)
        } else {
            Err(Error::WrongPassword)
        }
    }

    /// Refuses every credential of `participant` in `act` from now on. The
    /// relay's [`Relay::revoke`](crate::Relay::revoke) also tears down the
    /// allocations already made with them. Returns whether it was new.
    pub fn revoke(&self, act: &str, participant: &str) -> bool {
        let mut records = self.records_mut();
        let r = records
            .entry((act.to_owned(), participant.to_owned()))
            .or_default();
        // Everything issued so far stays dead, whatever happens next;
        // credentials issued from now on (while revoked they are refused)
        // expire later and may live again after a reopening.
        r.dead_up_to = r.dead_up_to.max(r.issued_up_to);
        !std::mem::replace(&mut r.revoked, true)
    }

    /// Whether `participant` of `act` is revoked now.
    pub fn is_revoked(&self, act: &str, participant: &str) -> bool {
        self.records()
            .get(&(act.to_owned(), participant.to_owned()))
            .is_some_and(|r| r.revoked)
    }

    /// Lets the participants of `act` get credentials again (consent given
    /// anew): credentials issued since the revocation work; every one
    /// issued before it stays refused. Returns how many participants were
    /// revoked.
    pub fn reopen(&self, act: &str) -> usize {
        let mut reopened = 0;
        for ((a, _), r) in self.records_mut().iter_mut() {
            if a == act {
                reopened += usize::from(r.revoked);
                r.revoked = false;
            }
        }
        reopened
    }

    /// Lets one participant of `act` get credentials again (they left, or
    /// were put out, and came back while media is allowed): credentials
    /// issued since their revocation work; every one issued before it
    /// stays refused. Returns whether they were revoked.
    pub fn reopen_participant(&self, act: &str, participant: &str) -> bool {
        self.records_mut()
            .get_mut(&(act.to_owned(), participant.to_owned()))
            .is_some_and(|r| std::mem::replace(&mut r.revoked, false))
    }

    /// Forgets the participants whose every credential has expired at `now`
    /// (unix seconds): nothing is left to refuse. A participant still
    /// revoked is kept [`REVOKED_KEPT`] longer, so that a credential issued
    /// soon after (a short-lived one, say) is refused as well; the memory
    /// stays bounded by the acts of about a day. Returns how many.
    pub fn prune(&self, now: u64) -> usize {
        let mut records = self.records_mut();
        let before = records.len();
        records.retain(|_, r| {
            let last = r.issued_up_to.max(r.dead_up_to);
            let kept = if r.revoked {
                last.saturating_add(REVOKED_KEPT.as_secs())
            } else {
                last
            };
            kept >= now
        });
        before - records.len()
    }

    /// How many (act, participant) pairs are revoked.
    pub fn revoked_count(&self) -> usize {
        self.records().values().filter(|r| r.revoked).count()
    }
}

/// Seconds since the unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_coturn_rest_api_formula() {
        // The RFC 2202 test case 2 for HMAC-SHA1: key "Jefe",
        // data "what do ya want for nothing?".
        let c = TurnCredentials::new("Jefe").unwrap();
        let expected = BASE64_STANDARD.encode(
            [
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79,
            ]
            .as_slice(),
        );
        assert_eq!(c.password_for("what do ya want for nothing?"), expected);
    }

    #[test]
    fn parse_refuses_extra_or_missing_fields() {
        for bad in [
            "",
            "1",
            "1:a",
            "1:a:b:c",
            "x:a:b",
            "+1:a:b",
            "1::b",
            "1:a:",
            "99999999999999999999999:a:b",
            "1:a b:c",
        ] {
            assert!(TurnUsername::parse(bad).is_err(), "{bad:?} accepted");
        }
        let u = TurnUsername::parse("1700000000:act-1:patient").unwrap();
        assert_eq!(u.expires_at, 1_700_000_000);
        assert_eq!(u.to_string(), "1700000000:act-1:patient");
    }
}
