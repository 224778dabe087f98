//! Invitations: the links participants join by.
//!
//! A link carries a token that says who may join which act, in which role,
//! until when, signed by the server with HMAC-SHA256. Patients have no
//! account: the token is their only credential, so it is bound to one act
//! and one participant, expires, and is refused once the act has ended (the
//! server checks that against the act; this module only checks the token).
//!
//! Token layout: `v1.` then unpadded base64url of
//!
//! | bytes | field |
//! |---|---|
//! | 16 | act id |
//! | 4 | participant number (u32 BE) |
//! | 1 | role: 0 patient, 1 requester, 2 expert, 3 companion |
//! | 8 | expiry, µs since the epoch (i64 BE) |
//! | 4 | id of the signing key (first 4 bytes of its SHA-256), for rotation |
//! | 32 | HMAC-SHA256 over the 33 bytes above, with the key |
//!
//! 65 bytes in all; 90 characters as text.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use session::participant::Role;
use session::{ActId, ParticipantId, Timestamp};
use sha2::{Digest, Sha256};

use crate::Error;

const PREFIX: &str = "v1.";
const BODY_LEN: usize = 16 + 4 + 1 + 8 + 4;
const TOKEN_LEN: usize = BODY_LEN + 32;

/// What an invitation grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub act: ActId,
    pub participant: ParticipantId,
    pub role: Role,
    pub expires_at: Timestamp,
}

/// Signs and checks invitation tokens. Holds the current key and any
/// retired ones still accepted.
#[derive(Clone)]
pub struct InvitationKeys {
    keys: Vec<([u8; 4], [u8; 32])>,
}

impl std::fmt::Debug for InvitationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InvitationKeys(<redacted>)")
    }
}

impl InvitationKeys {
    /// The first key signs; all are accepted.
    pub fn new(current: [u8; 32], retired: impl IntoIterator<Item = [u8; 32]>) -> InvitationKeys {
        let keys = std::iter::once(current)
            .chain(retired)
            .map(|k| (key_id(&k), k))
            .collect();
        InvitationKeys { keys }
    }

    /// A fresh random key, for tests and first start.
    pub fn generate() -> Result<InvitationKeys, Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(Error::Randomness)?;
        Ok(InvitationKeys::new(k, []))
    }

    /// The token for `invitation`.
    pub fn issue(&self, invitation: &Invitation) -> String {
        let (id, key) = &self.keys[0];
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.extend_from_slice(invitation.act.as_bytes());
        bytes.extend_from_slice(&invitation.participant.0.to_be_bytes());
        bytes.push(role_code(invitation.role));
        bytes.extend_from_slice(&invitation.expires_at.as_micros().to_be_bytes());
        bytes.extend_from_slice(id);
        let tag = mac(key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Checks a token's form, signature and expiry at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Invitation, Error> {
        let body = token
            .strip_prefix(PREFIX)
            .filter(|b| b.len() <= 2 * TOKEN_LEN)
            .ok_or(Error::MalformedInvitation)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Error::MalformedInvitation)?;
        if bytes.len() != TOKEN_LEN {
            return Err(Error::MalformedInvitation);
        }
        let (signed, tag) = bytes.split_at(BODY_LEN);
        let id = &signed[BODY_LEN - 4..];
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or(Error::ForgedInvitation)?;
        // `verify_slice` compares in constant time.
        mac(key, signed)
            .verify_slice(tag)
            .map_err(|_| Error::ForgedInvitation)?;
        let act = ActId::from_bytes(
            signed[..16]
                .try_into()
                .map_err(|_| Error::MalformedInvitation)?,
        );
        let participant = ParticipantId(u32::from_be_bytes(
            signed[16..20]
                .try_into()
                .map_err(|_| Error::MalformedInvitation)?,
        ));
        let role = role_from_code(signed[20]).ok_or(Error::MalformedInvitation)?;
        let expires_at = Timestamp::from_micros(i64::from_be_bytes(
            signed[21..29]
                .try_into()
                .map_err(|_| Error::MalformedInvitation)?,
        ));
        if now >= expires_at {
            return Err(Error::ExpiredInvitation(expires_at.to_rfc3339()));
        }
        Ok(Invitation {
            act,
            participant,
            role,
            expires_at,
        })
    }
}

fn key_id(key: &[u8; 32]) -> [u8; 4] {
    let d = Sha256::digest(key);
    [d[0], d[1], d[2], d[3]]
}

fn mac(key: &[u8; 32], bytes: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"teleconsult/invitation/v1");
    m.update(bytes);
    m
}

fn role_code(role: Role) -> u8 {
    match role {
        Role::Patient => 0,
        Role::Requester => 1,
        Role::Expert => 2,
        Role::Companion => 3,
    }
}

fn role_from_code(code: u8) -> Option<Role> {
    Some(match code {
        0 => Role::Patient,
        1 => Role::Requester,
        2 => Role::Expert,
        3 => Role::Companion,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn invitation() -> Invitation {
        Invitation {
            act: ActId::random(),
            participant: ParticipantId(2),
            role: Role::Patient,
            expires_at: Timestamp::from_micros(2_000_000),
        }
    }

    #[test]
    fn issued_token_verifies_until_it_expires() {
        let keys = InvitationKeys::generate().unwrap();
        let inv = invitation();
        let token = keys.issue(&inv);
        assert!(token.starts_with("v1.") && token.len() == 90, "{token}");
        assert_eq!(
            keys.verify(&token, Timestamp::from_micros(1_999_999))
                .unwrap(),
            inv
        );
        let e = keys
            .verify(&token, Timestamp::from_micros(2_000_000))
            .unwrap_err();
        assert!(matches!(e, Error::ExpiredInvitation(_)));
    }

    #[test]
    fn another_servers_token_is_refused() {
        let ours = InvitationKeys::generate().unwrap();
        let theirs = InvitationKeys::generate().unwrap();
        let token = theirs.issue(&invitation());
        assert!(matches!(
            ours.verify(&token, Timestamp::from_micros(0)),
            Err(Error::ForgedInvitation)
        ));
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let keys = InvitationKeys::generate().unwrap();
        let token = keys.issue(&invitation());
        let raw = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let forged = format!("v1.{}", URL_SAFE_NO_PAD.encode(&bad));
            assert!(
                keys.verify(&forged, Timestamp::from_micros(0)).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn retired_keys_still_verify_and_new_tokens_use_the_current_key() {
        let old = InvitationKeys::new([1; 32], []);
        let token = old.issue(&invitation());
        let rotated = InvitationKeys::new([2; 32], [[1; 32]]);
        assert!(rotated.verify(&token, Timestamp::from_micros(0)).is_ok());
        let fresh = rotated.issue(&invitation());
        assert!(old.verify(&fresh, Timestamp::from_micros(0)).is_err());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = InvitationKeys::generate().unwrap();
        for t in [
            "",
            "v1.",
            "v2.AAAA",
            "v1.!!!!",
            "v1.AAAA",
            &format!("v1.{}", "A".repeat(10_000)),
        ] {
            assert!(
                matches!(
                    keys.verify(t, Timestamp::from_micros(0)),
                    Err(Error::MalformedInvitation)
                ),
                "{t:.20}"
            );
        }
    }

    proptest! {
        #[test]
        fn verify_never_panics(s in ".{0,200}") {
            let keys = InvitationKeys::new([7; 32], []);
            let _ = keys.verify(&s, Timestamp::from_micros(0));
            let _ = keys.verify(&format!("v1.{s}"), Timestamp::from_micros(0));
        }
    }
}
