//! The sans-IO witness: the logs it witnesses, the checkpoint it holds for
//! each, and the `add-checkpoint` decision (c2sp.org/tlog-witness). It does no
//! I/O: [`Witness::add_checkpoint`] decides and cosigns without changing the
//! state; the caller persists [`Accepted::note`] and then calls
//! [`Witness::commit`] (see [`crate::state`], which does both under one lock).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use signed_note::{Note, NoteError, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::{Checkpoint, EMPTY_HASH, Hash};

use crate::error::{Error, StoredCheckpointFault};
use crate::key::WitnessKey;
use crate::refusal::{Malformation, Refusal};
use crate::request::AddCheckpoint;

/// A log the witness witnesses: its origin and its note verifier key(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The checkpoint origin line, e.g. `teleconsult.localhost/trace`.
    pub origin: String,
    /// The log's verifier keys (`name+id+base64(0x01 || key)`).
    pub vkeys: Vec<String>,
}

impl LogConfig {
    /// Parses `ORIGIN=VKEY` (the CLI's `--log`).
    pub fn parse(arg: &str) -> Result<Self, Error> {
        let (origin, vkey) = arg
            .split_once('=')
            .filter(|(o, v)| !o.is_empty() && !v.is_empty())
            .ok_or_else(|| Error::LogArgument(arg.to_owned()))?;
        Ok(LogConfig {
            origin: origin.to_owned(),
            vkeys: vec![vkey.to_owned()],
        })
    }

    /// Groups `ORIGIN=VKEY` entries by origin.
    pub fn merge(logs: Vec<LogConfig>) -> Vec<LogConfig> {
        let mut by_origin: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for log in logs {
            by_origin.entry(log.origin).or_default().extend(log.vkeys);
        }
        by_origin
            .into_iter()
            .map(|(origin, vkeys)| LogConfig { origin, vkeys })
            .collect()
    }
}

/// What the witness holds for one log: the latest checkpoint it cosigned.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub hash: Hash,
    /// The checkpoint note with the log's verified signatures and the
    /// witness's cosignature: what `GET /<origin hash>/checkpoint` serves.
    pub note: Vec<u8>,
}

/// A checkpoint the witness accepted and cosigned, not yet committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The log's origin.
    pub origin: String,
    /// What the witness holds for it once committed (persist `held.note`).
    pub held: Held,
    /// The answer's body: the cosignature line(s), `— <name> <base64>\n`.
    pub cosignature: Vec<u8>,
}

/// The witness: its key, its logs' keys and what it holds for each log.
pub struct Witness {
    key: WitnessKey,
    logs: BTreeMap<String, Vec<StandardVerifier>>,
    held: BTreeMap<String, Held>,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.key)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .field(
                "held",
                &self
                    .held
                    .iter()
                    .map(|(o, h)| (o, h.size))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Witness {
    /// A witness holding nothing yet, for the given logs.
    pub fn new(key: WitnessKey, logs: &[LogConfig]) -> Result<Self, Error> {
        let mut verifiers: BTreeMap<String, Vec<StandardVerifier>> = BTreeMap::new();
        for log in logs {
            for vkey in &log.vkeys {
                let v = StandardVerifier::new(vkey).map_err(|reason| Error::LogKey {
                    origin: log.origin.clone(),
                    reason,
                })?;
                verifiers.entry(log.origin.clone()).or_default().push(v);
            }
        }
        Ok(Witness {
            key,
            logs: verifiers,
            held: BTreeMap::new(),
        })
    }

    /// The witness's key.
    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// The logs it witnesses.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// What it holds for `origin`, if it ever cosigned a checkpoint of it.
    pub fn held(&self, origin: &str) -> Option<&Held> {
        self.held.get(origin)
    }

    /// The size it holds for `origin` (0 if none).
    pub fn held_size(&self, origin: &str) -> u64 {
        self.held.get(origin).map_or(0, |h| h.size)
    }

    /// Decides on an `add-checkpoint` request body at time `now`, in the
    /// specification's order: parse (400), origin (404), log signature
    /// (403), `old` ≤ size (400), `old` = held size (409), empty tree (422),
    /// consistency proof (422), same-size root (422). On success returns the
    /// cosigned checkpoint; the state is unchanged until [`Witness::commit`].
    pub fn add_checkpoint(&self, body: &[u8], now: SystemTime) -> Result<Accepted, Refusal> {
        let req = AddCheckpoint::parse(body)?;
        let note =
            Note::from_bytes(&req.note).map_err(|_| Refusal::Malformed(Malformation::Note))?;
        let checkpoint = Checkpoint::from_bytes(note.text())
            .map_err(|_| Refusal::Malformed(Malformation::Checkpoint))?;
        let origin = checkpoint.origin();
        let verifiers = self.logs.get(origin).ok_or(Refusal::UnknownOrigin)?;
        let log_sigs = verify_log_signatures(&note, verifiers)?;
        let (old, size, hash) = (req.old_size, checkpoint.size(), *checkpoint.hash());
        if old > size {
            return Err(Refusal::OldAboveSize { old, size });
        }
        let held = self.held.get(origin);
        let held_size = held.map_or(0, |h| h.size);
        if old != held_size {
            return Err(Refusal::Conflict { held: held_size });
        }
        if size == 0 && hash != EMPTY_HASH {
            return Err(Refusal::EmptyTreeHash);
        }
        if old == 0 {
            // The empty tree is consistent with every tree.
            if !req.proof.is_empty() {
                return Err(Refusal::ProofFromZero);
            }
        } else if let Some(held) = held {
            if old == size {
                if held.hash != hash {
                    return Err(Refusal::RootMismatch);
                }
                if !req.proof.is_empty() {
                    return Err(Refusal::BadProof);
                }
            } else {
                tlog_tiles::check_tree(&req.proof, size, hash, held.size, held.hash)
                    .map_err(|_| Refusal::BadProof)?;
            }
        }
        let cosig = self.key.cosign(note.text(), posix_seconds(now));
        let mut sigs = log_sigs;
        sigs.push(cosig.clone());
        let held_note = Note::new(note.text(), &sigs)
            .expect("the text was parsed as a note")
            .to_bytes();
        Ok(Accepted {
            origin: origin.to_owned(),
            held: Held {
                size,
                hash,
                note: held_note,
            },
            cosignature: cosig.to_bytes(),
        })
    }

    /// Makes an accepted checkpoint the one held for its log (after the
    /// caller persisted `accepted.held.note`).
    pub fn commit(&mut self, accepted: Accepted) {
        self.held.insert(accepted.origin, accepted.held);
    }

    /// Takes back a checkpoint note this witness stored: it must carry a
    /// valid signature of a configured log key and this witness's
    /// cosignature. Returns its origin. Notes of origins no longer
    /// configured return `Ok(None)` and are not held.
    pub fn restore(&mut self, note_bytes: &[u8]) -> Result<Option<String>, StoredCheckpointFault> {
        let note = Note::from_bytes(note_bytes).map_err(|_| StoredCheckpointFault::Malformed)?;
        let checkpoint =
            Checkpoint::from_bytes(note.text()).map_err(|_| StoredCheckpointFault::Malformed)?;
        let origin = checkpoint.origin().to_owned();
        let Some(verifiers) = self.logs.get(&origin) else {
            return Ok(None);
        };
        verify_log_signatures(&note, verifiers).map_err(|_| StoredCheckpointFault::LogSignature)?;
        let own = crate::cosignature::CosignatureVerifier::new(&self.key.verifier_key())
            .expect("our own verifier key parses");
        note.verify(&VerifierList::new(vec![Box::new(own)]))
            .map_err(|_| StoredCheckpointFault::Cosignature)?;
        self.held.insert(
            origin.clone(),
            Held {
                size: checkpoint.size(),
                hash: *checkpoint.hash(),
                note: note_bytes.to_vec(),
            },
        );
        Ok(Some(origin))
    }
}

/// The log's verified signatures on the note; unknown keys are ignored.
fn verify_log_signatures(
    note: &Note,
    verifiers: &[StandardVerifier],
) -> Result<Vec<signed_note::Signature>, Refusal> {
    let list = VerifierList::new(
        verifiers
            .iter()
            .map(|v| Box::new(v.clone()) as Box<dyn Verifier>)
            .collect(),
    );
    match note.verify(&list) {
        Ok((verified, _unknown)) => Ok(verified),
        Err(NoteError::UnverifiedNote) => Err(Refusal::NotSigned),
        Err(_) => Err(Refusal::BadSignature),
    }
}

/// `now` in POSIX seconds, at least 1 (a cosignature's timestamp must not be 0).
fn posix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}
