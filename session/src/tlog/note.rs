//! Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint,
//! c2sp.org/signed-note), signed with the trace's Ed25519 key under the
//! log's origin, and checked with the log's verifier key and, for
//! cosigned checkpoints, the witnesses' (c2sp.org/tlog-cosignature).
//!
//! The note format, key ids, Ed25519 note keys (type 0x01: parsing and
//! checking, `signed_note::StandardVerifier`) and signature lines are the
//! `signed_note` crate's; the `cosignature/v1` keys and lines (type 0x04,
//! which it does not cover) are [`super::cosignature`]'s, shared with the
//! `witness` crate.

use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Note, StandardVerifier, VerifierError, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

use super::TreeError;
use super::cosignature::{CosignatureVerifier, vkey};
use crate::keys::HeadSigner;
use crate::timestamp::Timestamp;

/// Signature type of an Ed25519 note key (c2sp.org/signed-note).
const ALG_ED25519: u8 = 0x01;

/// The verifier key string (`name+hex key id+base64(0x01 || public key)`)
/// of an Ed25519 note key; for the log, `name` is its origin.
/// (`signed_note::new_ed25519_verifier_key` does the same for
/// ed25519-dalek 2 keys; this crate's are ed25519-dalek 3's.)
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    vkey(name, ALG_ED25519, key)
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
/// Two are equal when parsed from the same string.
#[derive(Clone)]
pub struct CheckpointVerifier {
    vkey: String,
    kind: VerifierKind,
}

#[derive(Clone)]
enum VerifierKind {
    Log(StandardVerifier),
    Cosigner(CosignatureVerifier),
}

impl CheckpointVerifier {
    /// Parses a verifier key string; the key id must be the one the
    /// specification derives from the name and key.
    pub fn parse(vkey: &str) -> Result<CheckpointVerifier, TreeError> {
        let kind = match StandardVerifier::new(vkey) {
            Ok(log) => VerifierKind::Log(log),
            // Not a note key: a cosigner's, or an error that says why not.
            Err(VerifierError::Alg) => VerifierKind::Cosigner(CosignatureVerifier::parse(vkey)?),
            Err(VerifierError::Id) => {
                return Err(TreeError::BadVerifierKey(
                    "the key id does not match the name and key",
                ));
            }
            Err(VerifierError::Format) => {
                return Err(TreeError::BadVerifierKey(
                    "not name+8 hex digits+base64 of a 32-byte Ed25519 key, or a bad name",
                ));
            }
        };
        Ok(CheckpointVerifier {
            vkey: vkey.into(),
            kind,
        })
    }

    pub fn name(&self) -> &str {
        self.verifier().name()
    }

    /// Whether it checks witness cosignatures (type 0x04).
    pub fn is_cosigner(&self) -> bool {
        matches!(self.kind, VerifierKind::Cosigner(_))
    }

    fn verifier(&self) -> &dyn signed_note::Verifier {
        match &self.kind {
            VerifierKind::Log(v) => v,
            VerifierKind::Cosigner(v) => v,
        }
    }
}

impl std::fmt::Debug for CheckpointVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointVerifier({})", self.vkey)
    }
}

impl PartialEq for CheckpointVerifier {
    fn eq(&self, other: &Self) -> bool {
        self.vkey == other.vkey
    }
}

impl signed_note::Verifier for CheckpointVerifier {
    fn name(&self) -> &str {
        self.verifier().name()
    }

    fn key_id(&self) -> u32 {
        self.verifier().key_id()
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verifier().verify(msg, sig)
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
        use signed_note::Verifier as _;
        verified
            .iter()
            .any(|s| s.name() == v.name() && s.id() == v.key_id())
    };
    if !signed_by(log) {
        return Err(TreeError::Note(signed_note::NoteError::UnverifiedNote));
    }
    for w in witnesses {
        if !signed_by(w) {
            return Err(TreeError::MissingCosignature(w.name().into()));
        }
    }
    let checkpoint =
        Checkpoint::from_bytes(note.text()).map_err(|_| TreeError::MalformedCheckpoint)?;
    if checkpoint.origin() != log.name() {
        return Err(TreeError::WrongOrigin {
            expected: log.name().into(),
            found: checkpoint.origin().into(),
        });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
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

    /// A log under the default origin.
    fn default_log() -> LogSigner {
        LogSigner::new(
            super::super::DEFAULT_ORIGIN,
            &HeadSigner::from_seed([7; 32]),
        )
        .unwrap()
    }

    /// The log and the witness crate check cosignatures with the same
    /// code, up to the spec's last timestamp, 2^63 − 1, and no further.
    #[test]
    fn cosignature_timestamps_end_at_2_63_minus_1() {
        use super::super::cosignature::{self, MAX_TIMESTAMP};
        use ed25519_dalek::Signer as _;
        let log = default_log();
        let c = log
            .sign(
                1,
                tlog_tiles::record_hash(b"leaf"),
                Timestamp::from_micros(0),
            )
            .unwrap();
        let text = Note::from_bytes(&c.note).unwrap().text().to_vec();
        let witness = SigningKey::from_bytes(&[9; 32]);
        let vkey = cosignature::verifier_key("w.example", &witness.verifying_key());
        let log_key = CheckpointVerifier::parse(&log.verifier_key()).unwrap();
        let w = CheckpointVerifier::parse(&vkey).unwrap();
        let checks = |line: signed_note::Signature| {
            let cosigned = c.with_cosignatures(&line.to_bytes()).unwrap();
            verify_checkpoint(&cosigned.note, &log_key, std::slice::from_ref(&w))
        };
        let last = cosignature::cosign("w.example", &witness, &text, MAX_TIMESTAMP).unwrap();
        assert!(checks(last).is_ok());
        // 2^63, signed all the same (cosign refuses to): refused.
        let t = MAX_TIMESTAMP + 1;
        let mut bytes = t.to_be_bytes().to_vec();
        bytes.extend_from_slice(
            &witness
                .sign(&cosignature::signed_message(&text, t))
                .to_bytes(),
        );
        let id = cosignature::key_id("w.example", &witness.verifying_key());
        let beyond = signed_note::Signature::new("w.example".into(), id, bytes).unwrap();
        // A known key's signature that fails is an invalid note.
        assert!(matches!(
            checks(beyond),
            Err(TreeError::Note(
                signed_note::NoteError::InvalidSignature { .. }
            ))
        ));
    }

    #[test]
    fn a_checkpoint_is_signed_under_the_origin() {
        let signer = default_log();
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
