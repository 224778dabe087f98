//! C2SP tlog-cosignature, Ed25519 `cosignature/v1` (signature type 0x04):
//! the signed message, the signature line (made and checked), the key id
//! and the verifier key. The one implementation of it: the log checks its
//! witnesses' cosignatures with it ([`super::note::CheckpointVerifier`],
//! receipts) and the `witness` crate signs and checks its own with it.
//! `signed_note` covers notes and Ed25519 note keys (type 0x01), not this
//! type; this follows <https://c2sp.org/tlog-cosignature>.
//!
//! A cosignature's signature is `timestamp (u64, big-endian POSIX seconds)
//! || Ed25519 signature` over `cosignature/v1\ntime <timestamp>\n` and the
//! checkpoint's note text. The timestamp "MUST NOT exceed 2^63 - 1": a
//! larger one is refused when checking and never signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::TreeError;

/// The signature type byte of Ed25519 `cosignature/v1` keys (key id and
/// verifier key).
pub const SIGNATURE_TYPE: u8 = 0x04;

/// Length of a cosignature after the key id: the u64 timestamp and the
/// Ed25519 signature.
pub const SIGNATURE_LEN: usize = 8 + 64;

/// The largest timestamp a cosignature may carry: 2^63 − 1 seconds.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message an Ed25519 cosigner signs: `cosignature/v1\n`, `time <t>\n`,
/// then the checkpoint's note text (with its final newline, no signatures).
pub fn signed_message(checkpoint_text: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text);
    m
}

/// `type || key`: what a key id hashes and a verifier key encodes.
fn key_material(signature_type: u8, key: &VerifyingKey) -> Vec<u8> {
    let mut m = vec![signature_type];
    m.extend_from_slice(key.as_bytes());
    m
}

/// A note verifier key string, `name+hex(key id)+base64(type || key)`,
/// for an Ed25519 key of `signature_type` (0x01 for a log's note key,
/// [`SIGNATURE_TYPE`] for a cosigner's).
pub(crate) fn vkey(name: &str, signature_type: u8, key: &VerifyingKey) -> String {
    let material = key_material(signature_type, key);
    format!(
        "{name}+{:08x}+{}",
        signed_note::key_id(name, &material),
        BASE64.encode(material)
    )
}

/// The key id of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 ||
/// key)[:4].
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    signed_note::key_id(name, &key_material(SIGNATURE_TYPE, key))
}

/// The cosigner's verifier key: `name+hex(key id)+base64(0x04 || key)`.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    vkey(name, SIGNATURE_TYPE, key)
}

/// The timestamp of a cosignature (`timestamped_signature.timestamp`), or
/// `None` if `sig` is not [`SIGNATURE_LEN`] bytes or the timestamp exceeds
/// [`MAX_TIMESTAMP`].
pub fn timestamp_of(sig: &[u8]) -> Option<u64> {
    if sig.len() != SIGNATURE_LEN {
        return None;
    }
    let timestamp = u64::from_be_bytes(sig[..8].try_into().ok()?);
    (timestamp <= MAX_TIMESTAMP).then_some(timestamp)
}

/// Cosigns a checkpoint's note text at `timestamp` (POSIX seconds) as the
/// cosigner `name` with `key`: the note signature to append to the
/// checkpoint. `None` if `name` is not a valid key name or `timestamp`
/// exceeds [`MAX_TIMESTAMP`].
pub fn cosign(
    name: &str,
    key: &SigningKey,
    checkpoint_text: &[u8],
    timestamp: u64,
) -> Option<signed_note::Signature> {
    if timestamp > MAX_TIMESTAMP {
        return None;
    }
    let signature = key.sign(&signed_message(checkpoint_text, timestamp));
    let mut bytes = timestamp.to_be_bytes().to_vec();
    bytes.extend_from_slice(&signature.to_bytes());
    let id = key_id(name, &key.verifying_key());
    signed_note::Signature::new(name.to_owned(), id, bytes).ok()
}

/// Checks one cosigner's Ed25519 `cosignature/v1` signatures; plugs into
/// `signed_note::Note::verify` (through a `VerifierList`) like a log key.
#[derive(Clone, Debug, PartialEq)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a cosigner verifier key, `name+id+base64(0x04 || key)`; the
    /// key id must be the one the specification derives from the name and
    /// key.
    pub fn parse(vkey: &str) -> Result<CosignatureVerifier, TreeError> {
        let bad = TreeError::BadVerifierKey;
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id16), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not name+id+key"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("the name is empty or has a space or a plus"));
        }
        if id16.len() != 8 || !id16.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id16, 16).map_err(|_| bad("the key id is not hex"))?;
        let material = BASE64
            .decode(key64)
            .map_err(|_| bad("the key is not base64"))?;
        if id != signed_note::key_id(name, &material) {
            return Err(bad("the key id does not match the name and key"));
        }
        let (&alg, raw) = material.split_first().ok_or(bad("the key is empty"))?;
        if alg != SIGNATURE_TYPE {
            return Err(bad("not a cosignature/v1 key (type 0x04)"));
        }
        let raw: &[u8; 32] = raw.try_into().map_err(|_| bad("not a 32-byte key"))?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| bad("not an Ed25519 key"))?;
        Ok(CosignatureVerifier {
            name: name.into(),
            id,
            key,
        })
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosigner's verifier key, as parsed.
    pub fn verifier_key(&self) -> String {
        verifier_key(&self.name, &self.key)
    }
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    /// `msg` is the checkpoint's note text, `sig` the timestamped
    /// signature.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(timestamp) = timestamp_of(sig) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&sig[8..]) else {
            return false;
        };
        self.key
            .verify_strict(&signed_message(msg, timestamp), &signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use signed_note::{Note, Verifier as _, VerifierList};

    use super::*;

    const TEXT: &[u8] =
        b"teleconsult.localhost/trace\n1\nKgAQjTt3Vqb1w6VPMoGRPQcbC6Ir3Wk6NyBmKbwgNbQ=\n";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    /// A line signed with `timestamp` whatever its range (what a faulty or
    /// hostile cosigner could send).
    fn forced(timestamp: u64) -> signed_note::Signature {
        let sig = key().sign(&signed_message(TEXT, timestamp));
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&sig.to_bytes());
        let id = key_id("w.example", &key().verifying_key());
        signed_note::Signature::new("w.example".into(), id, bytes).unwrap()
    }

    fn verifies(line: &signed_note::Signature) -> bool {
        let v =
            CosignatureVerifier::parse(&verifier_key("w.example", &key().verifying_key())).unwrap();
        let note = Note::new(TEXT, std::slice::from_ref(line)).unwrap();
        note.verify(&VerifierList::new(vec![Box::new(v)])).is_ok()
    }

    #[test]
    fn timestamps_up_to_2_63_minus_1_and_no_further() {
        let last = cosign("w.example", &key(), TEXT, MAX_TIMESTAMP).unwrap();
        assert_eq!(last, forced(MAX_TIMESTAMP));
        assert_eq!(timestamp_of(last.signature()), Some(MAX_TIMESTAMP));
        assert!(verifies(&last));
        // 2^63 is a u64, correctly signed, and still refused.
        assert_eq!(cosign("w.example", &key(), TEXT, MAX_TIMESTAMP + 1), None);
        let beyond = forced(MAX_TIMESTAMP + 1);
        assert_eq!(timestamp_of(beyond.signature()), None);
        assert!(!verifies(&beyond));
        assert!(!verifies(&forced(u64::MAX)));
        assert!(verifies(&cosign("w.example", &key(), TEXT, 0).unwrap()));
        assert_eq!(timestamp_of(&[0; SIGNATURE_LEN - 1]), None);
    }

    #[test]
    fn vkeys_round_trip_and_other_types_are_refused() {
        let vkey = verifier_key("witness.example/w1", &key().verifying_key());
        let v = CosignatureVerifier::parse(&vkey).unwrap();
        assert_eq!(v.verifier_key(), vkey);
        assert_eq!(v.name(), "witness.example/w1");
        assert_eq!(
            v.key_id(),
            key_id("witness.example/w1", &key().verifying_key())
        );
        // The same key as a note key (type 0x01) is not a cosigner's.
        let note_key = vkey_of_type(0x01);
        assert!(CosignatureVerifier::parse(&note_key).is_err());
        assert!(CosignatureVerifier::parse(&vkey.replacen(&vkey[19..27], "00000000", 1)).is_err());
        assert_eq!(cosign("has space", &key(), TEXT, 1), None);
    }

    fn vkey_of_type(t: u8) -> String {
        vkey("witness.example/w1", t, &key().verifying_key())
    }
}
