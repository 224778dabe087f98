//! C2SP `tlog-cosignature`, Ed25519 `cosignature/v1` (signature type 0x04):
//! the signed message, the signature line and its verification. `signed_note`
//! covers notes and Ed25519 note signatures (type 0x01) but not cosignatures,
//! so this is written against <https://c2sp.org/tlog-cosignature>.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature as Ed25519Signature, VerifyingKey};

use crate::Error;

/// The signature type byte of Ed25519 `cosignature/v1` keys (key ID and vkey).
pub const SIGNATURE_TYPE: u8 = 0x04;

/// Length of the signature after the key ID: u64 timestamp + Ed25519 signature.
pub const SIGNATURE_LEN: usize = 8 + 64;

/// The message an Ed25519 cosigner signs: `cosignature/v1\n`, `time <t>\n`,
/// then the checkpoint's note text (with its final newline, no signatures).
pub fn signed_message(checkpoint_text: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text);
    m
}

/// The key ID of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 || key)[:4].
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    signed_note::key_id(name, &key_material(key))
}

/// `0x04 || key`, as hashed into the key ID and encoded in the vkey.
fn key_material(key: &VerifyingKey) -> Vec<u8> {
    let mut m = vec![SIGNATURE_TYPE];
    m.extend_from_slice(key.as_bytes());
    m
}

/// The cosigner's verifier key: `name+hex(key ID)+base64(0x04 || key)`.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    format!(
        "{name}+{:08x}+{}",
        key_id(name, key),
        BASE64.encode(key_material(key))
    )
}

/// Verifies Ed25519 `cosignature/v1` signatures of one cosigner; plugs into
/// `signed_note::Note::verify` (through a `VerifierList`) like a log key.
#[derive(Clone, Debug)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a cosigner verifier key (`name+id+base64(0x04 || key)`).
    pub fn new(vkey: &str) -> Result<Self, Error> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::CosignatureKey);
        };
        let material = BASE64.decode(b64).map_err(|_| Error::CosignatureKey)?;
        let (Some(&SIGNATURE_TYPE), Ok(bytes)) = (
            material.first(),
            <[u8; 32]>::try_from(material.get(1..).unwrap_or_default()),
        ) else {
            return Err(Error::CosignatureKey);
        };
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| Error::CosignatureKey)?;
        let parsed_id = u32::from_str_radix(id, 16).map_err(|_| Error::CosignatureKey)?;
        if id.len() != 8 || !signed_note::is_key_name_valid(name) || parsed_id != key_id(name, &key)
        {
            return Err(Error::CosignatureKey);
        }
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            id: parsed_id,
            key,
        })
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

    /// `msg` is the checkpoint's note text, `sig` the timestamped signature.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(timestamp) = timestamp_of(sig) else {
            return false;
        };
        let Ok(signature) = Ed25519Signature::from_slice(&sig[8..]) else {
            return false;
        };
        self.key
            .verify_strict(&signed_message(msg, timestamp), &signature)
            .is_ok()
    }
}

/// A checkpoint verified as signed by the log and cosigned by a witness.
#[derive(Debug, Clone, PartialEq)]
pub struct CosignedCheckpoint {
    /// The log's origin.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub hash: tlog_tiles::Hash,
    /// When the witness cosigned it (POSIX seconds).
    pub timestamp: u64,
}

/// Verifies a cosigned checkpoint note (as `GET /<origin hash>/checkpoint`
/// serves it, or a log's checkpoint with the witness's answer appended):
/// a valid signature of `log_vkey` (signed-note Ed25519) and a valid
/// cosignature of `witness_vkey`. What a log needs for its rollback check
/// (compare `size` and `hash` with its own tree) and a receipt verifier.
pub fn verify_cosigned(
    note: &[u8],
    log_vkey: &str,
    witness_vkey: &str,
) -> Result<CosignedCheckpoint, Error> {
    use signed_note::{Note, StandardVerifier, VerifierList};
    let log = StandardVerifier::new(log_vkey).map_err(|_| Error::CosignatureKey)?;
    let cosigner = CosignatureVerifier::new(witness_vkey)?;
    let note = Note::from_bytes(note).map_err(|_| Error::NotCosigned)?;
    note.verify(&VerifierList::new(vec![Box::new(log)]))
        .map_err(|_| Error::NotCosigned)?;
    let (cosigs, _) = note
        .verify(&VerifierList::new(vec![Box::new(cosigner)]))
        .map_err(|_| Error::NotCosigned)?;
    let timestamp = cosigs
        .first()
        .and_then(|s| timestamp_of(s.signature()))
        .ok_or(Error::NotCosigned)?;
    let checkpoint =
        tlog_tiles::Checkpoint::from_bytes(note.text()).map_err(|_| Error::NotCosigned)?;
    Ok(CosignedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        hash: *checkpoint.hash(),
        timestamp,
    })
}

/// The timestamp of a cosignature (`timestamped_signature.timestamp`), or None
/// if `sig` is not 72 bytes or the timestamp exceeds 2^63 - 1.
pub fn timestamp_of(sig: &[u8]) -> Option<u64> {
    if sig.len() != SIGNATURE_LEN {
        return None;
    }
    let timestamp = u64::from_be_bytes(sig[..8].try_into().ok()?);
    (timestamp <= i64::MAX as u64).then_some(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use signed_note::Verifier;

    #[test]
    fn vkey_round_trips_and_rejects_other_types() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let vkey = verifier_key("witness.example/w1", &key);
        let v = CosignatureVerifier::new(&vkey).unwrap();
        assert_eq!(v.verifier_key(), vkey);
        assert_eq!(v.name(), "witness.example/w1");
        // A note key (type 0x01) of the same key is not a cosigner key.
        let material = [&[0x01], key.as_bytes().as_slice()].concat();
        let note_key = format!(
            "witness.example/w1+{:08x}+{}",
            signed_note::key_id("witness.example/w1", &material),
            BASE64.encode(&material)
        );
        assert!(CosignatureVerifier::new(&note_key).is_err());
        // A wrong key ID.
        let bad = vkey.replacen(&vkey[19..27], "00000000", 1);
        assert!(CosignatureVerifier::new(&bad).is_err());
    }

    #[test]
    fn timestamp_bounds() {
        assert_eq!(timestamp_of(&[0; 71]), None);
        let mut sig = [0u8; 72];
        sig[..8].copy_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(timestamp_of(&sig), None);
        sig[..8].copy_from_slice(&42u64.to_be_bytes());
        assert_eq!(timestamp_of(&sig), Some(42));
    }
}
