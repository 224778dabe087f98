//! Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint,
//! c2sp.org/signed-note), signed with the trace's Ed25519 key under the
//! log's origin, and checked with the log's verifier key and, for
//! cosigned checkpoints, the witnesses' (c2sp.org/tlog-cosignature).
//!
//! The note format, key ids and the Ed25519 signature lines are the
//! `signed_note` crate's; the `cosignature/v1` check (key type 0x04, whose
//! signature line carries a timestamp) is written here from the
//! specification, as `signed_note` 0.2 does not cover it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use signed_note::{Note, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

use super::TreeError;
use crate::keys::HeadSigner;
use crate::timestamp::Timestamp;

/// Signature type of an Ed25519 note key (c2sp.org/signed-note).
const ALG_ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 cosignature (cosignature/v1).
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The verifier key string (`name+hex key id+base64(0x01 || public key)`)
/// of an Ed25519 note key; for the log, `name` is its origin.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    let mut encoded = vec![ALG_ED25519];
    encoded.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{:08x}+{}",
        signed_note::key_id(name, &encoded),
        BASE64.encode(&encoded)
    )
}

/// Signs the log's checkpoints: the trace's Ed25519 key under the log's
/// origin.
#[derive(Clone)]
pub struct LogSigner {
    origin: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogSigner({}+{:08x})", self.origin, self.id)
    }
}

impl LogSigner {
    /// The log `origin` (a schema-less URL, the note key name) signing
    /// with `signer`'s key.
    pub fn new(origin: &str, signer: &HeadSigner) -> Result<LogSigner, TreeError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(TreeError::BadOrigin(origin.into()));
        }
        let key = signer.signing_key().clone();
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(key.verifying_key().as_bytes());
        Ok(LogSigner {
            origin: origin.into(),
            id: signed_note::key_id(origin, &encoded),
            key,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key string, what receipts are checked with.
    pub fn verifier_key(&self) -> String {
        verifier_key(&self.origin, &self.key.verifying_key())
    }

    /// The checkpoint of a tree of `size` leaves with root `root`, as a
    /// signed note; `at` is when it was made (stored beside it, not
    /// signed: a checkpoint carries no time).
    pub fn sign(
        &self,
        size: u64,
        root: Hash,
        at: Timestamp,
    ) -> Result<SignedCheckpoint, TreeError> {
        let text = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|_| TreeError::MalformedCheckpoint)?
            .to_bytes();
        let mut note = Note::new(&text, &[])?;
        note.add_sigs(&[self])?;
        Ok(SignedCheckpoint {
            size,
            root,
            at,
            note: note.to_bytes(),
        })
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.origin
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature2::Error> {
        use ed25519_dalek::Signer as _;
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// A checkpoint of the log as a signed note, and when it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub at: Timestamp,
    /// The note: checkpoint text, a blank line, the signature lines
    /// (the log's, then any cosignatures added later).
    pub note: Vec<u8>,
}

impl SignedCheckpoint {
    /// Adds cosignature lines (`— name base64…\n`, as a witness returns
    /// them) to the note; they are checked when the note is verified.
    pub fn with_cosignatures(&self, lines: &[u8]) -> Result<SignedCheckpoint, TreeError> {
        let mut bytes = self.note.clone();
        bytes.extend_from_slice(lines);
        Note::from_bytes(&bytes)?;
        Ok(SignedCheckpoint {
            note: bytes,
            ..self.clone()
        })
    }
}

/// A note verifier key: the log's (Ed25519, type 0x01) or a witness's
/// (cosignature/v1, type 0x04), parsed from its `name+id+base64` string.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointVerifier {
    name: String,
    id: u32,
    alg: u8,
    key: VerifyingKey,
}

impl CheckpointVerifier {
    /// Parses a verifier key string; the key id must be the one the
    /// specification derives from the name and key.
    pub fn parse(vkey: &str) -> Result<CheckpointVerifier, TreeError> {
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
        let encoded = BASE64
            .decode(key64)
            .map_err(|_| bad("the key is not base64"))?;
        if id != signed_note::key_id(name, &encoded) {
            return Err(bad("the key id does not match the name and key"));
        }
        let (&alg, raw) = encoded.split_first().ok_or(bad("the key is empty"))?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(bad("unknown signature type"));
        }
        let raw: &[u8; 32] = raw.try_into().map_err(|_| bad("not a 32-byte key"))?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| bad("not an Ed25519 key"))?;
        Ok(CheckpointVerifier {
            name: name.into(),
            id,
            alg,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it checks witness cosignatures (type 0x04).
    pub fn is_cosigner(&self) -> bool {
        self.alg == ALG_COSIGNATURE_V1
    }
}

impl signed_note::Verifier for CheckpointVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.alg {
            ALG_ED25519 => {
                let Ok(sig) = <[u8; 64]>::try_from(sig) else {
                    return false;
                };
                self.key
                    .verify_strict(msg, &Signature::from_bytes(&sig))
                    .is_ok()
            }
            ALG_COSIGNATURE_V1 => {
                // timestamp (u64 BE seconds) || Ed25519 signature over
                // "cosignature/v1\ntime <T>\n" || the checkpoint text.
                if sig.len() != 8 + 64 {
                    return false;
                }
                let (time, sig) = sig.split_at(8);
                let time = u64::from_be_bytes(time.try_into().unwrap_or([0; 8]));
                let Ok(sig) = <[u8; 64]>::try_from(sig) else {
                    return false;
                };
                let mut signed = format!("cosignature/v1\ntime {time}\n").into_bytes();
                signed.extend_from_slice(msg);
                self.key
                    .verify_strict(&signed, &Signature::from_bytes(&sig))
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Checks a checkpoint note: its bytes are canonical, the log's signature
/// verifies, every witness in `witnesses` cosigned it, and the checkpoint
/// names the log's origin. Signatures by other keys are ignored, as the
/// signed-note specification says. Returns the checkpoint.
pub fn verify_checkpoint(
    note_bytes: &[u8],
    log: &CheckpointVerifier,
    witnesses: &[CheckpointVerifier],
) -> Result<Checkpoint, TreeError> {
    let note = Note::from_bytes(note_bytes)?;
    if note.to_bytes() != note_bytes {
        return Err(TreeError::MalformedCheckpoint);
    }
    let mut list: Vec<Box<dyn signed_note::Verifier>> = vec![Box::new(log.clone())];
    for w in witnesses {
        list.push(Box::new(w.clone()));
    }
    let (verified, _unknown) = note.verify(&VerifierList::new(list))?;
    let signed_by = |v: &CheckpointVerifier| {
        verified
            .iter()
            .any(|s| s.name() == v.name && s.id() == v.id)
    };
    if !signed_by(log) {
        return Err(TreeError::Note(signed_note::NoteError::UnverifiedNote));
    }
    for w in witnesses {
        if !signed_by(w) {
            return Err(TreeError::MissingCosignature(w.name.clone()));
        }
    }
    let checkpoint =
        Checkpoint::from_bytes(note.text()).map_err(|_| TreeError::MalformedCheckpoint)?;
    if checkpoint.origin() != log.name {
        return Err(TreeError::WrongOrigin {
            expected: log.name.clone(),
            found: checkpoint.origin().into(),
        });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use signed_note::{Note, Verifier as _};

    use super::*;

    /// The example of Go's `golang.org/x/mod/sumdb/note` (and of the
    /// `signed_note` crate): the PeterNeumann key and note.
    const PETER_SIGNER: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    /// A cosignature/v1 (type 0x04) verifier key of transparency-dev's
    /// note tests.
    const COSIGNER_VKEY: &str =
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";

    fn peter() -> LogSigner {
        let raw = BASE64.decode(PETER_SIGNER).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        LogSigner::new("PeterNeumann", &HeadSigner::from_seed(seed)).unwrap()
    }

    #[test]
    fn the_go_note_example_is_signed_and_verified_byte_for_byte() {
        let signer = peter();
        assert_eq!(signer.verifier_key(), PETER_VKEY);
        let mut note = Note::new(PETER_TEXT.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&signer]).unwrap();
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), PETER_NOTE);
        let v = CheckpointVerifier::parse(PETER_VKEY).unwrap();
        let parsed = Note::from_bytes(PETER_NOTE.as_bytes()).unwrap();
        let (ok, _) = parsed
            .verify(&VerifierList::new(vec![Box::new(v.clone())]))
            .unwrap();
        assert_eq!(ok.len(), 1);
        let changed = PETER_NOTE.replace("cryptography", "cryptographY");
        let parsed = Note::from_bytes(changed.as_bytes()).unwrap();
        assert!(
            parsed
                .verify(&VerifierList::new(vec![Box::new(v)]))
                .is_err()
        );
    }

    #[test]
    fn verifier_keys_parse_strictly() {
        let cosigner = CheckpointVerifier::parse(COSIGNER_VKEY).unwrap();
        assert!(cosigner.is_cosigner());
        assert_eq!(cosigner.key_id(), 0xda77ade7);
        assert!(!CheckpointVerifier::parse(PETER_VKEY).unwrap().is_cosigner());
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "",
        ] {
            assert!(CheckpointVerifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_checkpoint_is_signed_under_the_origin() {
        let signer = LogSigner::new(
            super::super::DEFAULT_ORIGIN,
            &HeadSigner::from_seed([7; 32]),
        )
        .unwrap();
        let root = tlog_tiles::record_hash(b"leaf");
        let c = signer.sign(1, root, Timestamp::from_micros(0)).unwrap();
        let log = CheckpointVerifier::parse(&signer.verifier_key()).unwrap();
        let checkpoint = verify_checkpoint(&c.note, &log, &[]).unwrap();
        assert_eq!((checkpoint.size(), *checkpoint.hash()), (1, root));
        let text = String::from_utf8(c.note.clone()).unwrap();
        assert!(
            text.starts_with("teleconsult.localhost/trace\n1\n"),
            "{text}"
        );
        let other = LogSigner::new("other.example/log", &HeadSigner::from_seed([7; 32])).unwrap();
        let other = CheckpointVerifier::parse(&other.verifier_key()).unwrap();
        assert!(verify_checkpoint(&c.note, &other, &[]).is_err());
        assert!(LogSigner::new("has space", &HeadSigner::from_seed([7; 32])).is_err());
    }
}
