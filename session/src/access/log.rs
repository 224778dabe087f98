//! The access log's entries: how each is hashed into the chain, and how a
//! sequence of them is verified with public keys only.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ids::ActId;
use crate::keys::{KeyId, TrustedKeys};
use crate::timestamp::Timestamp;
use crate::trace::Hash;

/// One access log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub act: Option<ActId>,
    pub outcome: String,
    #[serde(skip)]
    pub prev_hash: Hash,
    #[serde(skip)]
    pub hash: Hash,
    #[serde(skip)]
    pub key_id: KeyId,
    #[serde(skip)]
    pub signature: [u8; 64],
}

/// What [`AccessStore::verify`](super::AccessStore::verify) found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessReport {
    pub entries: u64,
    /// Empty when intact.
    pub problems: Vec<String>,
}

/// The prev hash of the first access log entry.
pub fn access_genesis() -> Hash {
    Sha256::digest(b"teleconsult/access/v1/genesis").into()
}

fn lp(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// SHA-256 over a domain tag, seq (u64 BE), at (i64 BE µs), then actor,
/// action, act (16 bytes or none) and outcome each length-prefixed (u64
/// BE), then the previous entry's hash.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: u64,
    at: Timestamp,
    actor: &str,
    action: &str,
    act: Option<ActId>,
    outcome: &str,
    prev: &Hash,
) -> Hash {
    let mut h = Sha256::new();
    h.update(b"teleconsult/access/v1/entry");
    h.update(seq.to_be_bytes());
    h.update(at.as_micros().to_be_bytes());
    lp(&mut h, actor.as_bytes());
    lp(&mut h, action.as_bytes());
    lp(
        &mut h,
        act.as_ref().map(|a| a.as_bytes().as_slice()).unwrap_or(&[]),
    );
    lp(&mut h, outcome.as_bytes());
    h.update(prev);
    h.finalize().into()
}

/// An entry's own hash, recomputed from its fields.
pub(super) fn rehash(e: &AccessEntry) -> Hash {
    entry_hash(
        e.seq,
        e.at,
        &e.actor,
        &e.action,
        e.act,
        &e.outcome,
        &e.prev_hash,
    )
}

/// Checks a sequence of access log entries: numbering, chain, hashes and
/// signatures.
pub fn verify_entries(entries: &[AccessEntry], trusted: &TrustedKeys) -> AccessReport {
    let mut problems = Vec::new();
    let mut prev = access_genesis();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.seq != expected {
            problems.push(format!(
                "access entry #{expected} is missing (the next is #{})",
                e.seq
            ));
        } else if e.prev_hash != prev {
            problems.push(format!(
                "access entry #{} does not follow #{} (inserted, reordered or changed)",
                e.seq,
                e.seq - 1
            ));
        }
        if rehash(e) != e.hash {
            problems.push(format!("access entry #{} was changed", e.seq));
        }
        if let Err(why) = trusted.verify(e.key_id, &e.hash, &e.signature) {
            problems.push(format!("access entry #{}: bad signature: {why}", e.seq));
        }
        prev = e.hash;
    }
    AccessReport {
        entries: entries.len() as u64,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry hash as `docs/TRACE_FORMAT.md` describes it, computed
    /// outside this code (Python's hashlib, from the documented layout).
    #[test]
    fn entry_hashes_match_the_documented_layout() {
        assert_eq!(
            hex::encode(access_genesis()),
            "ad5be731249a66a591f67f3f179ae3b0107e590acd7c64eb92fc26b87839b9e5"
        );
        let act: [u8; 16] = std::array::from_fn(|i| i as u8);
        let first = entry_hash(
            1,
            Timestamp::from_micros(1_700_000_000_000_000),
            "account:1",
            "read_trace",
            Some(ActId::from_bytes(act)),
            "allowed",
            &access_genesis(),
        );
        assert_eq!(
            hex::encode(first),
            "508e7509ce77c8893eb194ddab0396ac521692a875835c7ccb7a57832a3b8a02"
        );
        let second = entry_hash(
            2,
            Timestamp::from_micros(-1),
            "unknown",
            "login",
            None,
            "failed:unknown_login",
            &[0xab; 32],
        );
        assert_eq!(
            hex::encode(second),
            "87572b6fe1eea7a1b78290c08d50bb3b10de7f1075a2bc7d34eaadddab84fd4b"
        );
    }
}
