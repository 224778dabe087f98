//! The act trace: an append-only, hash-chained, signed record of every event
//! of every act.
//!
//! **Records.** Each act's events form a chain: record `n` holds the SHA-256
//! of record `n-1`, and its own hash covers all its stored bytes. Changing,
//! inserting, reordering or deleting a record breaks the chain.
//!
//! **Checkpoints.** Each commit to the store writes one checkpoint listing
//! the new head (last seq and hash) of every act it touched. Checkpoints are
//! themselves chained and each is signed with Ed25519. They catch what a
//! chain alone cannot: deleting an act's last events, deleting a whole act,
//! or rewriting a chain from scratch (the forger lacks the signing key).
//!
//! Hashes cover the stored bytes, sealed blob included, so anyone holding
//! the public key can verify without the data key. See `docs/TRACE_FORMAT.md`.
//!
//! **Documents** attached to an act are kept beside the trace, sealed
//! ([`document`]); the chain vouches for each through its
//! `attachment_added` event, which names the content's SHA-256.

pub mod document;
pub mod seal;
mod verify;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use verify::{Problem, VerifyReport, check_read, verify};

use crate::Error;
use crate::event::{ActEvent, Event};
use crate::ids::ActId;
use crate::keys::{DataKey, HeadSigner, KeyId};
use crate::timestamp::Timestamp;

pub type Hash = [u8; 32];

/// One stored event, exactly as persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub act: ActId,
    /// Position in the act's chain, from 1.
    pub seq: u64,
    /// When the event happened (UTC).
    pub at: Timestamp,
    /// The event's kind, e.g. `consent_given`; kept apart for queries.
    pub kind: String,
    /// The event's JSON with personal fields replaced by sealed markers.
    pub public: Vec<u8>,
    /// The sealed personal fields, see [`seal`]; empty if none.
    pub sealed: Vec<u8>,
    /// The previous record's hash, or the act's genesis hash for seq 1.
    pub prev_hash: Hash,
    /// SHA-256 over all fields above, see [`record_hash`].
    pub hash: Hash,
}

/// The head of one act's chain at a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub act: ActId,
    pub seq: u64,
    pub hash: Hash,
}

/// A signed statement of the heads one commit produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// 1, 2, 3... in commit order.
    pub no: u64,
    pub at: Timestamp,
    /// The previous checkpoint's digest, zeros for the first.
    pub prev: Hash,
    /// Heads of the acts this commit touched, sorted by act id.
    pub heads: Vec<Head>,
    /// Which signing key signed it.
    pub key_id: KeyId,
    /// Ed25519 over [`Checkpoint::digest`].
    pub signature: [u8; 64],
}

/// The prev hash of an act's first record, binding the chain to its act.
pub fn genesis(act: ActId) -> Hash {
    Sha256::new()
        .chain_update(b"teleconsult/trace/v1/genesis")
        .chain_update(act.as_bytes())
        .finalize()
        .into()
}

fn update_len_prefixed(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// SHA-256 over a record's canonical encoding: a domain tag, then the act
/// id (16 bytes), seq (u64 BE), time (i64 BE µs), kind, public JSON and
/// sealed blob (each u64 BE length then bytes), and the prev hash.
pub fn record_hash(
    act: ActId,
    seq: u64,
    at: Timestamp,
    kind: &str,
    public: &[u8],
    sealed: &[u8],
    prev: &Hash,
) -> Hash {
    let mut h = Sha256::new();
    h.update(b"teleconsult/trace/v1/record");
    h.update(act.as_bytes());
    h.update(seq.to_be_bytes());
    h.update(at.as_micros().to_be_bytes());
    update_len_prefixed(&mut h, kind.as_bytes());
    update_len_prefixed(&mut h, public);
    update_len_prefixed(&mut h, sealed);
    h.update(prev);
    h.finalize().into()
}

/// An event sealed and encoded for its place in its act's chain. Callers
/// that know the act's length seal on their own threads; the store's
/// writer only chains them (see [`PreparedEvent::chain`]).
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    pub at: Timestamp,
    pub kind: &'static str,
    pub public: Vec<u8>,
    pub sealed: Vec<u8>,
    /// The seq the sealed blob is bound to.
    pub seq: u64,
}

impl PreparedEvent {
    /// Seals and encodes `event` as event `seq` of `act`.
    pub fn seal(
        act: ActId,
        seq: u64,
        event: &Event,
        key: &DataKey,
    ) -> Result<PreparedEvent, Error> {
        let body = serde_json::to_value(&event.body)?;
        let kind = event.body.kind();
        let to = seal::SealedAt {
            act,
            seq,
            at: event.at,
            kind,
        };
        let (public, sealed) = seal::seal(body, key, &to)?;
        Ok(PreparedEvent {
            at: event.at,
            kind,
            public: serde_json::to_vec(&public)?,
            sealed,
            seq,
        })
    }

    /// Places the event at its seq, after the record whose hash is `prev`.
    pub fn chain(self, act: ActId, prev: &Hash) -> TraceRecord {
        let seq = self.seq;
        let hash = record_hash(
            act,
            seq,
            self.at,
            self.kind,
            &self.public,
            &self.sealed,
            prev,
        );
        TraceRecord {
            act,
            seq,
            at: self.at,
            kind: self.kind.to_string(),
            public: self.public,
            sealed: self.sealed,
            prev_hash: *prev,
            hash,
        }
    }
}

impl TraceRecord {
    /// Seals, encodes and chains `event` after `prev` (seq `seq - 1`).
    pub fn build(
        act: ActId,
        seq: u64,
        prev: &Hash,
        event: &Event,
        key: &DataKey,
    ) -> Result<TraceRecord, Error> {
        Ok(PreparedEvent::seal(act, seq, event, key)?.chain(act, prev))
    }

    /// The hash this record should have, from its stored fields.
    pub fn computed_hash(&self) -> Hash {
        record_hash(
            self.act,
            self.seq,
            self.at,
            &self.kind,
            &self.public,
            &self.sealed,
            &self.prev_hash,
        )
    }

    /// Decrypts and decodes the event.
    pub fn open(&self, keys: &[DataKey]) -> Result<Event, Error> {
        let public: Value = serde_json::from_slice(&self.public)?;
        let to = seal::SealedAt {
            act: self.act,
            seq: self.seq,
            at: self.at,
            kind: &self.kind,
        };
        let full = seal::unseal(public, &self.sealed, keys, &to)?;
        let body: ActEvent = serde_json::from_value(full)?;
        Ok(Event { at: self.at, body })
    }

    /// The event's JSON as an auditor without the data key sees it.
    pub fn public_view(&self) -> Result<Value, Error> {
        let mut v: Value = serde_json::from_slice(&self.public)?;
        seal::redact(&mut v);
        Ok(v)
    }
}

impl Checkpoint {
    /// Builds and signs the checkpoint after `prev`.
    pub fn sign(
        no: u64,
        at: Timestamp,
        prev: Hash,
        mut heads: Vec<Head>,
        signer: &HeadSigner,
    ) -> Checkpoint {
        heads.sort_by_key(|h| h.act);
        let mut c = Checkpoint {
            no,
            at,
            prev,
            heads,
            key_id: signer.id(),
            signature: [0; 64],
        };
        c.signature = signer.sign(&c.digest());
        c
    }

    /// SHA-256 over the domain tag, no, time, prev, key id and the encoded
    /// heads; what the signature covers and the next checkpoint's `prev`.
    pub fn digest(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(b"teleconsult/trace/v1/checkpoint");
        h.update(self.no.to_be_bytes());
        h.update(self.at.as_micros().to_be_bytes());
        h.update(self.prev);
        h.update(self.key_id.0);
        h.update(encode_heads(&self.heads));
        h.finalize().into()
    }
}

/// Heads as stored: a u32 BE count, then per head act id (16), seq (u64
/// BE) and hash (32).
pub fn encode_heads(heads: &[Head]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + heads.len() * 56);
    out.extend_from_slice(&(heads.len() as u32).to_be_bytes());
    for h in heads {
        out.extend_from_slice(h.act.as_bytes());
        out.extend_from_slice(&h.seq.to_be_bytes());
        out.extend_from_slice(&h.hash);
    }
    out
}

/// The inverse of [`encode_heads`]; `None` if the bytes are malformed.
pub fn decode_heads(bytes: &[u8]) -> Option<Vec<Head>> {
    let (count, rest) = bytes.split_first_chunk::<4>()?;
    let count = u32::from_be_bytes(*count) as usize;
    if rest.len() != count.checked_mul(56)? {
        return None;
    }
    rest.chunks_exact(56)
        .map(|c| {
            Some(Head {
                act: ActId::from_bytes(c[..16].try_into().ok()?),
                seq: u64::from_be_bytes(c[16..24].try_into().ok()?),
                hash: c[24..56].try_into().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip() {
        let heads = vec![
            Head {
                act: ActId::random(),
                seq: 3,
                hash: [1; 32],
            },
            Head {
                act: ActId::random(),
                seq: 9,
                hash: [2; 32],
            },
        ];
        assert_eq!(decode_heads(&encode_heads(&heads)).unwrap(), heads);
        assert!(decode_heads(&encode_heads(&heads)[..50]).is_none());
        assert!(decode_heads(&[0, 0, 0, 1]).is_none());
    }

    #[test]
    fn hash_covers_every_field() {
        let act = ActId::random();
        let at = Timestamp::from_micros(5);
        let base = record_hash(act, 1, at, "k", b"p", b"s", &[0; 32]);
        assert_ne!(
            base,
            record_hash(ActId::random(), 1, at, "k", b"p", b"s", &[0; 32])
        );
        assert_ne!(base, record_hash(act, 2, at, "k", b"p", b"s", &[0; 32]));
        assert_ne!(
            base,
            record_hash(act, 1, Timestamp::from_micros(6), "k", b"p", b"s", &[0; 32])
        );
        assert_ne!(base, record_hash(act, 1, at, "K", b"p", b"s", &[0; 32]));
        assert_ne!(base, record_hash(act, 1, at, "k", b"P", b"s", &[0; 32]));
        assert_ne!(base, record_hash(act, 1, at, "k", b"p", b"S", &[0; 32]));
        assert_ne!(base, record_hash(act, 1, at, "k", b"p", b"s", &[1; 32]));
        // Length prefixes keep field boundaries apart.
        assert_ne!(base, record_hash(act, 1, at, "kp", b"", b"s", &[0; 32]));
    }
}
