//! Allocation lifetimes capped at TURN's default, 10 minutes.
//!
//! `turn` 0.17 grants whatever LIFETIME a client asks for below an hour
//! and has no setting for it. So the listeners lower the LIFETIME of each
//! Allocate and Refresh request to [`MAX_LIFETIME`] before `turn` reads
//! it, and sign the request again: the relay knows every valid key (TURN
//! REST API: the password derives from the username), and a request whose
//! integrity was wrong stays wrong (it is signed again only if it verified).
//! Clients refresh before the granted lifetime ends, as RFC 8656 §7 asks,
//! so an allocation whose credential is refused dies within 10 minutes
//! even if nothing else deletes it.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::credentials::TurnCredentials;

/// The longest allocation lifetime granted, in seconds (RFC 8656's
/// default).
pub const MAX_LIFETIME: u32 = 600;

const METHOD_ALLOCATE: u16 = 0x003;
const METHOD_REFRESH: u16 = 0x004;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_LIFETIME: u16 = 0x000D;
const ATTR_FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Rewrites over-long lifetimes in requests, for one relay.
pub(crate) struct LifetimeCap {
    pub(crate) credentials: Arc<TurnCredentials>,
    pub(crate) realm: String,
}

impl LifetimeCap {
    /// Lowers the LIFETIME of an Allocate or Refresh request in `msg` (a
    /// whole STUN message) to [`MAX_LIFETIME`], re-signing it. Leaves
    /// anything else as it is.
    pub(crate) fn apply(&self, msg: &mut [u8]) {
        let Some(attrs) = attributes(msg) else { return };
        let typ = u16::from_be_bytes([msg[0], msg[1]]);
        // Requests only (class bits 00), Allocate or Refresh.
        let method = typ & 0x3EEF;
        if typ & 0x0110 != 0 || !matches!(method, METHOD_ALLOCATE | METHOD_REFRESH) {
            return;
        }
        let find = |t: u16| attrs.iter().find(|a| a.0 == t).copied();
        let Some((_, at, len)) = find(ATTR_LIFETIME) else {
            return;
        };
        if len != 4 {
            return;
        }
        let asked = u32::from_be_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]]);
        if asked <= MAX_LIFETIME {
            return;
        }
        let integrity = find(ATTR_MESSAGE_INTEGRITY);
        let key = match (integrity, find(ATTR_USERNAME)) {
            (Some((_, mi, 20)), Some((_, u, ulen))) if mi > at => {
                let Ok(username) = std::str::from_utf8(&msg[u..u + ulen]) else {
                    return;
                };
                let password = self.credentials.password_for(username);
                let key = turn::auth::generate_auth_key(username, &self.realm, &password);
                // Re-sign only what verified: a forged request stays forged.
                if !integrity_matches(msg, mi, &key) {
                    return;
                }
                Some((mi, key))
            }
            (None, _) => None,
            _ => return,
        };
        msg[at..at + 4].copy_from_slice(&MAX_LIFETIME.to_be_bytes());
        if let Some((mi, key)) = key {
            let mac = integrity_of(msg, mi, &key);
            msg[mi..mi + 20].copy_from_slice(&mac);
        }
        if let Some((_, fp, 4)) = find(ATTR_FINGERPRINT) {
            let crc = crc32(&msg[..fp - 4]) ^ FINGERPRINT_XOR;
            msg[fp..fp + 4].copy_from_slice(&crc.to_be_bytes());
        }
    }
}

/// The attributes of a whole STUN message: (type, value offset, value
/// length), or `None` if it is not one.
fn attributes(msg: &[u8]) -> Option<Vec<(u16, usize, usize)>> {
    if msg.len() < 20 || msg[0] >> 6 != 0 || msg[4..8] != 0x2112_A442u32.to_be_bytes() {
        return None;
    }
    if 20 + usize::from(u16::from_be_bytes([msg[2], msg[3]])) != msg.len() {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 20;
    while at + 4 <= msg.len() {
        let t = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        let value = at + 4;
        if value + len > msg.len() {
            return None;
        }
        out.push((t, value, len));
        at = value + len.next_multiple_of(4);
    }
    Some(out)
}

/// HMAC-SHA1 of the message up to the MESSAGE-INTEGRITY attribute whose
/// value is at `mi`, with the header length covering that attribute.
fn integrity_of(msg: &[u8], mi: usize, key: &[u8]) -> [u8; 20] {
    let mut head = msg[..mi - 4].to_vec();
    let covered = u16::try_from(mi + 20 - 20).unwrap_or(u16::MAX);
    head[2..4].copy_from_slice(&covered.to_be_bytes());
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(&head);
    mac.finalize().into_bytes().into()
}

fn integrity_matches(msg: &[u8], mi: usize, key: &[u8]) -> bool {
    bool::from(integrity_of(msg, mi, key).ct_eq(&msg[mi..mi + 20]))
}

/// CRC-32 (IEEE 802.3), as STUN's FINGERPRINT uses it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn non_stun_and_other_methods_are_left_alone() {
        let cap = LifetimeCap {
            credentials: Arc::new(TurnCredentials::new("s").unwrap()),
            realm: "r".into(),
        };
        let mut junk = b"hello world, not stun".to_vec();
        cap.apply(&mut junk);
        assert_eq!(junk, b"hello world, not stun");
        // A Binding request with a LIFETIME attribute is not touched.
        let mut binding = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
        binding.extend([7u8; 12]);
        binding.extend([0x00, 0x0D, 0x00, 0x04, 0x00, 0x00, 0x0E, 0x10]);
        let before = binding.clone();
        cap.apply(&mut binding);
        assert_eq!(binding, before);
        // An Allocate asking for an hour, unsigned: lowered.
        let mut alloc = before.clone();
        alloc[1] = 0x03;
        cap.apply(&mut alloc);
        assert_eq!(&alloc[24..28], &MAX_LIFETIME.to_be_bytes());
    }
}
