//! TURN REST API credentials (draft-uberti-behave-turn-rest-00, as coturn
//! implements it), bound to one act and one participant.
//!
//! - username: `EXPIRY_UNIX:ACT_ID:PARTICIPANT` (three fields, `:` between),
//! - password: `base64(HMAC-SHA1(secret, username))`.
//!
//! The signaling server issues them with a TTL that must cover the whole
//! consultation: an allocation whose username has expired dies at its next
//! Refresh. Revocation is keyed by (act, participant) and covers every
//! credential of that participant, already issued or not.

use std::collections::HashSet;
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
    revoked: RwLock<HashSet<(String, String)>>,
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
            revoked: RwLock::new(HashSet::new()),
        })
    }

    /// Credentials for `participant` of `act`, valid for `ttl` from now.
    pub fn issue(&self, act: &str, participant: &str, ttl: Duration) -> Result<Credentials, Error> {
        let expires_at = unix_now().saturating_add(ttl.as_secs());
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
        if self.is_revoked(&parsed.act, &parsed.participant) {
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
        self.revoked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((act.to_owned(), participant.to_owned()))
    }

    /// Whether `participant` of `act` is revoked.
    pub fn is_revoked(&self, act: &str, participant: &str) -> bool {
        // A HashSet<(String, String)> cannot be probed with borrowed
        // halves, so the key is built; usernames are short.
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(act.to_owned(), participant.to_owned()))
    }

    /// Drops the revocations of `act`, once it is closed and every
    /// credential issued for it has expired. Returns how many were dropped.
    pub fn forget_act(&self, act: &str) -> usize {
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        let before = revoked.len();
        revoked.retain(|(a, _)| a != act);
        before - revoked.len()
    }

    /// How many (act, participant) pairs are revoked.
    pub fn revoked_count(&self) -> usize {
        self.revoked.read().unwrap_or_else(|e| e.into_inner()).len()
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
