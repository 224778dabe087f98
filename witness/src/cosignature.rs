//! C2SP `tlog-cosignature`, Ed25519 `cosignature/v1` (signature type 0x04):
//! the signed message, the signature line and its verification, and
//! [`verify_cosigned`] for a log's rollback check. `signed_note` covers notes
//! and Ed25519 note signatures (type 0x01) but not cosignatures; the one
//! implementation of them is the log's, `session::tlog::cosignature`, which
//! this module re-exports (a timestamp above 2^63 − 1 is refused, as
//! <https://c2sp.org/tlog-cosignature> says).

use crate::Error;

pub use session::tlog::cosignature::{
    MAX_TIMESTAMP, SIGNATURE_LEN, SIGNATURE_TYPE, key_id, signed_message, timestamp_of,
    verifier_key,
};

/// Verifies Ed25519 `cosignature/v1` signatures of one cosigner; plugs into
/// `signed_note::Note::verify` (through a `VerifierList`) like a log key.
/// The log's implementation (`session::tlog::cosignature`), with this
/// crate's error.
#[derive(Clone, Debug)]
pub struct CosignatureVerifier(session::tlog::cosignature::CosignatureVerifier);

impl CosignatureVerifier {
    /// Parses a cosigner verifier key (`name+id+base64(0x04 || key)`).
    pub fn new(vkey: &str) -> Result<Self, Error> {
        session::tlog::cosignature::CosignatureVerifier::parse(vkey)
            .map(CosignatureVerifier)
            .map_err(|_| Error::CosignatureKey)
    }

    /// The cosigner's verifier key, as parsed.
    pub fn verifier_key(&self) -> String {
        self.0.verifier_key()
    }
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn key_id(&self) -> u32 {
        self.0.key_id()
    }

    /// `msg` is the checkpoint's note text, `sig` the timestamped signature.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.0.verify(msg, sig)
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
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
        sig[..8].copy_from_slice(&((1u64 << 63) - 1).to_be_bytes());
        assert_eq!(timestamp_of(&sig), Some(MAX_TIMESTAMP));
        sig[..8].copy_from_slice(&42u64.to_be_bytes());
        assert_eq!(timestamp_of(&sig), Some(42));
    }
}
