//! Allocation lifetimes capped at TURN's default, 10 minutes.
//!
//! `turn` 0.17 grants whatever LIFETIME a client asks for below an hour
//! and has no setting for it. So the listeners lower every LIFETIME of
//! each Allocate and Refresh request to [`MAX_LIFETIME`] before `turn`
//! reads it, wherever it sits (`turn` reads the first, even one after
//! MESSAGE-INTEGRITY), and sign the request again when MESSAGE-INTEGRITY
//! covered a lowered one: the relay knows every valid key (TURN
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
use super::turn_server::long_term_key;

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
    /// Lowers every LIFETIME of an Allocate or Refresh request in `msg` (a
    /// whole STUN message) above [`MAX_LIFETIME`] to it, wherever it sits:
    /// `turn` reads the first LIFETIME even when it comes after
    /// MESSAGE-INTEGRITY, which does not cover it. One covered by
    /// MESSAGE-INTEGRITY is lowered only if the request verified, and the
    /// request is then signed again; a FINGERPRINT that was right is
    /// computed again. Leaves anything else as it is.
    pub(crate) fn apply(&self, msg: &mut [u8]) {
        // Requests only (class bits 00), Allocate or Refresh: every other
        // datagram (ChannelData, bindings, indications) leaves at once,
        // before its attributes are walked.
        let Some(&[hi, lo]) = msg.first_chunk::<2>() else {
            return;
        };
        let typ = u16::from_be_bytes([hi, lo]);
        let method = typ & 0x3EEF;
        if typ & 0x0110 != 0 || !matches!(method, METHOD_ALLOCATE | METHOD_REFRESH) {
            return;
        }
        let Some(attrs) = attributes(msg) else { return };
        // `turn` ignores a LIFETIME whose value is not 4 bytes long.
        let too_long: Vec<usize> = attrs
            .iter()
            .filter(|&&(t, at, len)| {
                t == ATTR_LIFETIME && len == 4 && lifetime_at(msg, at) > MAX_LIFETIME
            })
            .map(|&(_, at, _)| at)
            .collect();
        if too_long.is_empty() {
            return;
        }
        // `stun` checks the first MESSAGE-INTEGRITY and FINGERPRINT, and
        // `turn` takes the first USERNAME.
        let find = |t: u16| attrs.iter().find(|a| a.0 == t).copied();
        let integrity = find(ATTR_MESSAGE_INTEGRITY);
        let covered = |at: usize| integrity.is_some_and(|(_, mi, _)| at < mi);
        // The key to sign again with, if a covered LIFETIME is to be lowered.
        let resign = match (integrity, find(ATTR_USERNAME)) {
            (Some((_, mi, 20)), Some((_, u, ulen))) if too_long.iter().any(|&at| covered(at)) => {
                std::str::from_utf8(&msg[u..u + ulen])
                    .ok()
                    .map(|username| {
                        let password = self.credentials.password_for(username);
                        long_term_key(username, &self.realm, &password)
                    })
                    // Re-sign only what verified: a forged request stays forged.
                    .filter(|key| integrity_matches(msg, mi, key))
                    .map(|key| (mi, key))
            }
            _ => None,
        };
        // The FINGERPRINTs that were right, to compute again after the change.
        let fingerprints: Vec<usize> = attrs
            .iter()
            .filter(|&&(t, fp, len)| {
                t == ATTR_FINGERPRINT && len == 4 && fingerprint_of(msg, fp) == msg[fp..fp + 4]
            })
            .map(|&(_, fp, _)| fp)
            .collect();
        let mut changed = false;
        for &at in &too_long {
            if !covered(at) || resign.is_some() {
                msg[at..at + 4].copy_from_slice(&MAX_LIFETIME.to_be_bytes());
                changed = true;
            }
        }
        if !changed {
            return;
        }
        if let Some((mi, key)) = resign {
            let mac = integrity_of(msg, mi, &key);
            msg[mi..mi + 20].copy_from_slice(&mac);
        }
        for fp in fingerprints {
            let crc = fingerprint_of(msg, fp);
            msg[fp..fp + 4].copy_from_slice(&crc);
        }
    }
}

/// The LIFETIME value (4 bytes) at `at`, in seconds.
fn lifetime_at(msg: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]])
}

/// The FINGERPRINT value due for the attribute whose value is at `fp`: the
/// CRC-32 of everything before it, with the header length covering it.
fn fingerprint_of(msg: &[u8], fp: usize) -> [u8; 4] {
    let mut head = msg[..fp - 4].to_vec();
    let covered = u16::try_from(fp + 4 - 20).unwrap_or(u16::MAX);
    head[2..4].copy_from_slice(&covered.to_be_bytes());
    (crc32(&head) ^ FINGERPRINT_XOR).to_be_bytes()
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
    // The header's length counts the attributes up to the end of
    // MESSAGE-INTEGRITY: `mi - 20` bytes before its value, plus its 20.
    let covered = u16::try_from(mi).unwrap_or(u16::MAX);
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

    const USER: &str = "1700000000:call-1-2";

    fn cap() -> LifetimeCap {
        LifetimeCap {
            credentials: Arc::new(TurnCredentials::new("s").unwrap()),
            realm: "r".into(),
        }
    }

    /// The long-term key of [`USER`] under `cap`'s secret and realm.
    fn key_of(cap: &LifetimeCap) -> Vec<u8> {
        let password = cap.credentials.password_for(USER);
        long_term_key(USER, "r", &password)
    }

    /// What a message is built of, in order, as a client sends it.
    enum Part {
        Username,
        Lifetime(u32),
        /// MESSAGE-INTEGRITY computed with this key, as `stun` adds it.
        Integrity(Vec<u8>),
        Fingerprint,
    }

    /// A Refresh request built attribute by attribute, the way `stun`'s
    /// setters do (header length first raised to cover the new attribute).
    fn refresh(parts: &[Part]) -> Vec<u8> {
        let mut m = vec![0x00, 0x04, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend([9u8; 12]);
        let set_len = |m: &mut Vec<u8>, extra: usize| {
            let len = u16::try_from(m.len() - 20 + extra).unwrap();
            m[2..4].copy_from_slice(&len.to_be_bytes());
        };
        let push = |m: &mut Vec<u8>, t: u16, v: &[u8]| {
            m.extend(t.to_be_bytes());
            m.extend(u16::try_from(v.len()).unwrap().to_be_bytes());
            m.extend(v);
            m.resize(m.len().next_multiple_of(4), 0);
        };
        for part in parts {
            match part {
                Part::Username => push(&mut m, ATTR_USERNAME, USER.as_bytes()),
                Part::Lifetime(s) => push(&mut m, ATTR_LIFETIME, &s.to_be_bytes()),
                Part::Integrity(key) => {
                    set_len(&mut m, 24);
                    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
                    mac.update(&m);
                    let mac: [u8; 20] = mac.finalize().into_bytes().into();
                    push(&mut m, ATTR_MESSAGE_INTEGRITY, &mac);
                }
                Part::Fingerprint => {
                    set_len(&mut m, 8);
                    let crc = crc32(&m) ^ FINGERPRINT_XOR;
                    push(&mut m, ATTR_FINGERPRINT, &crc.to_be_bytes());
                }
            }
            set_len(&mut m, 0);
        }
        m
    }

    /// The values of every LIFETIME in `m`.
    fn lifetimes(m: &[u8]) -> Vec<u32> {
        attributes(m)
            .unwrap()
            .into_iter()
            .filter(|a| a.0 == ATTR_LIFETIME)
            .map(|(_, at, _)| lifetime_at(m, at))
            .collect()
    }

    /// Whether the first MESSAGE-INTEGRITY of `m` verifies with `key`, the
    /// way `stun` checks it (header length cut back to end there).
    fn verifies(m: &[u8], key: &[u8]) -> bool {
        let attrs = attributes(m).unwrap();
        let (_, mi, _) = *attrs
            .iter()
            .find(|a| a.0 == ATTR_MESSAGE_INTEGRITY)
            .unwrap();
        let mut head = m[..mi - 4].to_vec();
        head[2..4].copy_from_slice(&u16::try_from(mi + 20 - 20).unwrap().to_be_bytes());
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(&head);
        mac.verify_slice(&m[mi..mi + 20]).is_ok()
    }

    /// Whether the last attribute of `m` is a right FINGERPRINT, the way
    /// `stun` checks it.
    fn fingerprint_holds(m: &[u8]) -> bool {
        let end = m.len() - 8;
        u16::from_be_bytes([m[end], m[end + 1]]) == ATTR_FINGERPRINT
            && (crc32(&m[..end]) ^ FINGERPRINT_XOR).to_be_bytes() == m[end + 4..]
    }

    #[test]
    fn a_lifetime_after_message_integrity_is_lowered_and_the_request_still_verifies() {
        let cap = cap();
        let key = key_of(&cap);
        // MESSAGE-INTEGRITY does not cover the LIFETIME after it, and
        // `turn` reads that LIFETIME all the same.
        let mut m = refresh(&[
            Part::Username,
            Part::Integrity(key.clone()),
            Part::Lifetime(3599),
        ]);
        assert!(verifies(&m, &key));
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [MAX_LIFETIME]);
        assert!(verifies(&m, &key), "still authenticates");
        // With a FINGERPRINT after it, computed again.
        let mut m = refresh(&[
            Part::Username,
            Part::Integrity(key.clone()),
            Part::Lifetime(3000),
            Part::Fingerprint,
        ]);
        assert!(fingerprint_holds(&m));
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [MAX_LIFETIME]);
        assert!(verifies(&m, &key));
        assert!(fingerprint_holds(&m), "FINGERPRINT computed again");
    }

    #[test]
    fn every_lifetime_is_lowered_not_only_the_first() {
        let cap = cap();
        let key = key_of(&cap);
        // Unsigned, two LIFETIMEs (the first short).
        let mut m = refresh(&[Part::Lifetime(300), Part::Lifetime(3599)]);
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [300, MAX_LIFETIME]);
        // Signed: one before MESSAGE-INTEGRITY, one after, a FINGERPRINT.
        let mut m = refresh(&[
            Part::Username,
            Part::Lifetime(3599),
            Part::Integrity(key.clone()),
            Part::Lifetime(3599),
            Part::Fingerprint,
        ]);
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [MAX_LIFETIME, MAX_LIFETIME]);
        assert!(verifies(&m, &key), "signed again");
        assert!(fingerprint_holds(&m));
        // Two before MESSAGE-INTEGRITY, the second long.
        let mut m = refresh(&[
            Part::Username,
            Part::Lifetime(60),
            Part::Lifetime(3599),
            Part::Integrity(key.clone()),
        ]);
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [60, MAX_LIFETIME]);
        assert!(verifies(&m, &key));
    }

    #[test]
    fn a_forged_request_stays_forged() {
        let cap = cap();
        let key = key_of(&cap);
        let wrong = b"not the key".to_vec();
        // A covered LIFETIME in a request that does not verify: nothing is
        // signed, nothing covered changes.
        let forged = refresh(&[
            Part::Username,
            Part::Lifetime(3599),
            Part::Integrity(wrong.clone()),
            Part::Fingerprint,
        ]);
        let mut m = forged.clone();
        cap.apply(&mut m);
        assert_eq!(m, forged);
        assert!(!verifies(&m, &key));
        // With a LIFETIME after it too: that one is lowered, the request
        // still does not verify with the real key.
        let mut m = refresh(&[
            Part::Username,
            Part::Lifetime(3599),
            Part::Integrity(wrong),
            Part::Lifetime(3599),
        ]);
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [3599, MAX_LIFETIME]);
        assert!(!verifies(&m, &key), "not signed by the relay");
        // A wrong FINGERPRINT is not made right.
        let mut m = refresh(&[Part::Lifetime(3599), Part::Fingerprint]);
        let last = m.len() - 1;
        m[last] ^= 1;
        cap.apply(&mut m);
        assert_eq!(lifetimes(&m), [MAX_LIFETIME]);
        assert!(!fingerprint_holds(&m));
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
