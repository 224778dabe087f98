//! An act's receipt: its events as stored, each with its leaf index and
//! inclusion proof, and the (cosigned) checkpoint they are proven against.
//! [`Receipt::verify`] needs no store: the log's verifier key, and the
//! witnesses' when the receipt is to be trusted beyond the platform.
//!
//! Text format (`docs/TRACE_FORMAT.md`, "Receipts"), every line ending in
//! `\n`:
//!
//! ```text
//! teleconsult-receipt/1
//! act <act id, hyphenated lowercase UUID>
//! event <seq> <leaf index> <at, µs> <kind> <base64 public> <base64 sealed, or -> <hex prev hash>
//! proof[ <base64 hash>]*
//! ... (one event line and one proof line per event, in seq order)
//!
//! <the checkpoint note>
//! ```
//!
//! Parsing is strict: a receipt is accepted only in the one encoding
//! [`Receipt::to_bytes`] gives.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tlog_tiles::{Hash as TreeHash, check_record};

use super::note::{CheckpointVerifier, verify_checkpoint};
use super::{LeafKind, TreeError, leaf_hash};
use crate::Error;
use crate::ids::ActId;
use crate::timestamp::Timestamp;
use crate::trace::{Hash, TraceRecord, genesis, record_hash};

const MAGIC: &str = "teleconsult-receipt/1";

/// One event of a receipt: the stored record's fields (from which its
/// hash, and so its leaf, is recomputed) and its inclusion proof.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiptEvent {
    pub seq: u64,
    /// Its leaf's index in the tree.
    pub leaf: u64,
    pub at: Timestamp,
    pub kind: String,
    /// The public JSON bytes as stored.
    pub public: Vec<u8>,
    /// The sealed blob as stored (ciphertext; empty if none).
    pub sealed: Vec<u8>,
    pub prev_hash: Hash,
    /// The inclusion proof of the leaf in the checkpoint's tree.
    pub proof: Vec<TreeHash>,
}

impl ReceiptEvent {
    /// The event's record hash, recomputed.
    pub fn record_hash(&self, act: ActId) -> Hash {
        record_hash(
            act,
            self.seq,
            self.at,
            &self.kind,
            &self.public,
            &self.sealed,
            &self.prev_hash,
        )
    }

    /// The receipt line pair of a stored record.
    pub fn of(record: &TraceRecord, leaf: u64, proof: Vec<TreeHash>) -> ReceiptEvent {
        ReceiptEvent {
            seq: record.seq,
            leaf,
            at: record.at,
            kind: record.kind.clone(),
            public: record.public.clone(),
            sealed: record.sealed.clone(),
            prev_hash: record.prev_hash,
            proof,
        }
    }
}

/// What a receipt proves once verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub act: ActId,
    /// The events proven, seq 1 to `events`.
    pub events: u64,
    /// The checkpoint's tree size and root.
    pub size: u64,
    pub root: TreeHash,
}

/// The receipt of an act.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    pub act: ActId,
    /// The act's events from seq 1, in order.
    pub events: Vec<ReceiptEvent>,
    /// The checkpoint note, signed by the log and possibly cosigned.
    pub checkpoint: Vec<u8>,
}

impl Receipt {
    /// Checks the receipt offline: the checkpoint's signature by the log
    /// (`log_key`, its verifier key string) and by every witness of
    /// `witness_keys`; the events chain from the act's genesis hash with
    /// consecutive seqs from 1; and each event's leaf
    /// (`event\0 || record hash`) is in the checkpoint's tree at its index.
    pub fn verify(&self, log_key: &str, witness_keys: &[&str]) -> Result<Verified, Error> {
        let log = CheckpointVerifier::parse(log_key)?;
        let witnesses = witness_keys
            .iter()
            .map(|k| CheckpointVerifier::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        if log.is_cosigner() || witnesses.iter().any(|w| !w.is_cosigner()) {
            return Err(
                TreeError::BadVerifierKey("a log key of type 0x01, witness keys of 0x04").into(),
            );
        }
        // The events against the checkpoint's tree first (hashing only),
        // then the signatures, which cost the most.
        let claimed = signed_note::Note::from_bytes(&self.checkpoint)
            .ok()
            .and_then(|n| tlog_tiles::Checkpoint::from_bytes(n.text()).ok())
            .ok_or(TreeError::MalformedCheckpoint)?;
        self.check_events(claimed.size(), *claimed.hash())?;
        let checkpoint = verify_checkpoint(&self.checkpoint, &log, &witnesses)?;
        Ok(Verified {
            act: self.act,
            events: self.events.len() as u64,
            size: checkpoint.size(),
            root: *checkpoint.hash(),
        })
    }

    /// The events chain from the act's genesis, numbered from 1, and each
    /// is at its leaf in the tree of `size` leaves with root `root`.
    fn check_events(&self, size: u64, root: TreeHash) -> Result<(), Error> {
        if self.events.is_empty() {
            return Err(TreeError::ReceiptInvalid("it proves no event").into());
        }
        let mut prev = genesis(self.act);
        for (e, seq) in self.events.iter().zip(1u64..) {
            if e.seq != seq {
                return Err(
                    TreeError::ReceiptInvalid("the events are not numbered 1, 2, 3...").into(),
                );
            }
            if e.prev_hash != prev {
                return Err(
                    TreeError::ReceiptInvalid("an event does not chain to the one before").into(),
                );
            }
            let hash = e.record_hash(self.act);
            check_record(
                &e.proof,
                size,
                root,
                e.leaf,
                leaf_hash(LeafKind::Event, &hash),
            )
            .map_err(TreeError::Proof)?;
            prev = hash;
        }
        Ok(())
    }

    /// The receipt as text (see the module's documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{MAGIC}\nact {}\n", self.act);
        for e in &self.events {
            let sealed = if e.sealed.is_empty() {
                "-".to_string()
            } else {
                BASE64.encode(&e.sealed)
            };
            out.push_str(&format!(
                "event {} {} {} {} {} {} {}\nproof",
                e.seq,
                e.leaf,
                e.at.as_micros(),
                e.kind,
                BASE64.encode(&e.public),
                sealed,
                hex::encode(e.prev_hash)
            ));
            for h in &e.proof {
                out.push(' ');
                out.push_str(&BASE64.encode(h.0));
            }
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Parses a receipt; only the encoding [`Receipt::to_bytes`] gives is
    /// accepted.
    pub fn from_bytes(bytes: &[u8]) -> Result<Receipt, Error> {
        let bad = |what| Error::from(TreeError::MalformedReceipt(what));
        let split = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(bad("no blank line before the checkpoint"))?;
        let head = std::str::from_utf8(&bytes[..split + 1]).map_err(|_| bad("not UTF-8"))?;
        let checkpoint = bytes[split + 2..].to_vec();
        let mut lines = head.lines();
        if lines.next() != Some(MAGIC) {
            return Err(bad("not a teleconsult-receipt/1"));
        }
        let act = lines
            .next()
            .and_then(|l| l.strip_prefix("act "))
            .and_then(|a| ActId::from_str(a).ok())
            .ok_or(bad("no act line"))?;
        let mut events = Vec::new();
        while let Some(line) = lines.next() {
            let f: Vec<&str> = line.split(' ').collect();
            let ["event", seq, leaf, at, kind, public, sealed, prev] = f.as_slice() else {
                return Err(bad("an event line is malformed"));
            };
            let num = |s: &str| s.parse::<u64>().map_err(|_| bad("a number is malformed"));
            let b64 = |s: &str| BASE64.decode(s).map_err(|_| bad("base64 is malformed"));
            let proof_line = lines.next().ok_or(bad("an event has no proof line"))?;
            let mut proof_fields = proof_line.split(' ');
            if proof_fields.next() != Some("proof") {
                return Err(bad("an event has no proof line"));
            }
            let proof = proof_fields
                .map(|h| {
                    let raw: [u8; 32] = b64(h)?
                        .try_into()
                        .map_err(|_| bad("a proof hash is not 32 bytes"))?;
                    Ok(TreeHash(raw))
                })
                .collect::<Result<Vec<_>, Error>>()?;
            events.push(ReceiptEvent {
                seq: num(seq)?,
                leaf: num(leaf)?,
                at: Timestamp::from_micros(
                    at.parse::<i64>().map_err(|_| bad("a time is malformed"))?,
                ),
                kind: (*kind).to_string(),
                public: b64(public)?,
                sealed: if *sealed == "-" {
                    Vec::new()
                } else {
                    b64(sealed)?
                },
                prev_hash: hex::decode(prev)
                    .ok()
                    .and_then(|h| h.try_into().ok())
                    .ok_or(bad("a prev hash is malformed"))?,
                proof,
            });
        }
        let receipt = Receipt {
            act,
            events,
            checkpoint,
        };
        if receipt.to_bytes() != bytes {
            return Err(bad("not in canonical form"));
        }
        Ok(receipt)
    }
}
