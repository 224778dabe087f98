//! Which signed checkpoint of the transparency log an act's receipt is
//! proven against, and what of it the compte rendu prints. Shared by the
//! receipt route (`api::receipt`), the PDF (`export::report_pdf`) and the
//! command line (`trace export --format receipt`), so that a receipt and
//! the compte rendu downloaded together name the same checkpoint.
//!
//! The store is synchronous: call these from blocking code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use session::store::read_act;
use session::tlog::{Receipt, SignedCheckpoint, TreeError};
use session::{ActId, Timestamp, TraceStore};

/// Whether `checkpoint`'s tree holds every event of `act`: the leaf of
/// its last event is below the checkpoint's size. An act without events,
/// or whose last event has no leaf, is covered by none.
pub fn covers(
    store: &dyn TraceStore,
    act: ActId,
    checkpoint: &SignedCheckpoint,
) -> Result<bool, session::Error> {
    let last = read_act(store, act)?.len() as u64;
    if last == 0 {
        return Ok(false);
    }
    Ok(store
        .event_leaf(act, last)?
        .is_some_and(|leaf| leaf < checkpoint.size))
}

/// The newest stored checkpoint if it covers `act` (see [`covers`]),
/// without signing one: what a reader (the command line, the PDF) uses.
pub fn covering_checkpoint(
    store: &dyn TraceStore,
    act: ActId,
) -> Result<Option<SignedCheckpoint>, session::Error> {
    let Some(latest) = store.latest_checkpoint()? else {
        return Ok(None);
    };
    Ok(covers(store, act, &latest)?.then_some(latest))
}

/// The checkpoint `act`'s receipt is proven against, chosen in this one
/// place when no witness is configured: the newest stored checkpoint
/// ([`TraceStore::latest_checkpoint`]) when its tree holds the act's last
/// event, else a new one signed now ([`TraceStore::checkpoint`], stored
/// before it returns). With witnesses, [`witnessed`] comes first.
pub fn choose_checkpoint(
    store: &dyn TraceStore,
    act: ActId,
    now: Timestamp,
) -> Result<SignedCheckpoint, session::Error> {
    if let Some(latest) = covering_checkpoint(store, act)? {
        return Ok(latest);
    }
    store.checkpoint(now)
}

/// What the witnesses have of an act's events.
#[derive(Debug)]
pub enum Witnessed {
    /// No witness is configured: the log's own signature is all there is.
    NoWitnesses,
    /// A checkpoint cosigned by at least one witness, holding every event
    /// of the act.
    Cosigned(SignedCheckpoint),
    /// Witnesses are configured and none cosigned a checkpoint holding the
    /// act within the wait (one is down or slow).
    Pending,
}

/// How long a download waits for the witnessing task to get a checkpoint
/// holding the act cosigned (a round is one HTTP exchange per witness).
pub const COSIGN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// With witnesses configured, a cosigned checkpoint holding every event of
/// `act`: the newest known at once, else after a round the task is nudged
/// into, waiting at most `wait`. Call it on a blocking thread of the
/// server's runtime (it waits on the witnessing task).
pub fn witnessed(
    store: &dyn TraceStore,
    witnessing: Option<&crate::witnessing::Witnessing>,
    act: ActId,
    wait: std::time::Duration,
) -> Result<Witnessed, session::Error> {
    let Some(w) = witnessing.filter(|w| w.has_witnesses()) else {
        return Ok(Witnessed::NoWitnesses);
    };
    let last = read_act(store, act)?.len() as u64;
    let Some(leaf) = store.event_leaf(act, last)? else {
        return Ok(Witnessed::Pending);
    };
    let found = tokio::runtime::Handle::current().block_on(w.cosigned_covering(leaf + 1, wait));
    Ok(found.map_or(Witnessed::Pending, Witnessed::Cosigned))
}

/// `act`'s receipt against `cosigned` when the witnesses gave one, else
/// against the checkpoint [`choose_checkpoint`] picks. An event appended
/// to the act between the choice and the proofs (the act goes on after
/// its conclusion only in rare cases) is not in that tree: then a new
/// checkpoint is signed and the receipt made again, once.
pub fn receipt_of(
    store: &dyn TraceStore,
    act: ActId,
    now: Timestamp,
    cosigned: Option<SignedCheckpoint>,
) -> Result<Receipt, session::Error> {
    let checkpoint = match cosigned {
        Some(c) => c,
        None => choose_checkpoint(store, act, now)?,
    };
    match store.receipt(act, &checkpoint) {
        Err(session::Error::Tree(TreeError::EventNotInTree { .. })) => {
            store.receipt(act, &store.checkpoint(now)?)
        }
        other => other,
    }
}

/// A checkpoint note's signature lines, parsed: each `— name base64`
/// line after the note's last blank line, as `(name, key id || signature)`.
fn signature_lines(note: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(text) = std::str::from_utf8(note) else {
        return Vec::new();
    };
    let Some((_, sigs)) = text.rsplit_once("\n\n") else {
        return Vec::new();
    };
    sigs.lines()
        .filter_map(|line| {
            let (name, b64) = line.strip_prefix("— ")?.split_once(' ')?;
            Some((name.to_string(), BASE64.decode(b64).ok()?))
        })
        .collect()
}

/// The cosignatures (C2SP tlog-cosignature, `cosignature/v1`: key id,
/// 8-byte big-endian time in seconds, Ed25519 signature) on a checkpoint
/// note: each witness's key name and the time it signed, in the note's
/// order. The signatures are not checked here: the witnessing task checks
/// them against its witnesses' keys before storing a cosigned copy
/// ([`TraceStore::add_cosigned`]), and `teleconsult receipt verify
/// --witness-key` checks them offline.
pub fn cosigners(note: &[u8]) -> Vec<report::Cosigner> {
    signature_lines(note)
        .into_iter()
        .filter(|(_, sig)| sig.len() == 4 + 8 + 64)
        .filter_map(|(name, sig)| {
            let secs = u64::from_be_bytes(sig[4..12].try_into().ok()?);
            let micros = i64::try_from(secs).ok()?.checked_mul(1_000_000)?;
            Some(report::Cosigner {
                name,
                at: Timestamp::from_micros(micros),
            })
        })
        .collect()
}

/// What the compte rendu prints of a checkpoint (« Reçu de trace »): its
/// origin, size, root (base64) and cosigners.
pub fn printed(checkpoint: &SignedCheckpoint) -> report::ReceiptCheckpoint {
    let origin = std::str::from_utf8(&checkpoint.note)
        .ok()
        .and_then(|t| t.lines().next())
        .unwrap_or_default()
        .to_string();
    report::ReceiptCheckpoint {
        origin,
        size: checkpoint.size,
        root: BASE64.encode(checkpoint.root.0),
        cosigners: cosigners(&checkpoint.note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosigners_are_read_from_the_timestamped_lines_only() {
        let log_sig = BASE64.encode([1u8; 4 + 64]);
        let mut cosig = vec![2u8; 4];
        cosig.extend_from_slice(&1_796_396_200u64.to_be_bytes());
        cosig.extend_from_slice(&[3u8; 64]);
        let note = format!(
            "teleconsult.localhost/trace\n3\nq83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=\n\n\
             — teleconsult.localhost/trace {log_sig}\n— witness.example/w1 {}\n",
            BASE64.encode(&cosig)
        );
        let found = cosigners(note.as_bytes());
        assert_eq!(
            found,
            [report::Cosigner {
                name: "witness.example/w1".into(),
                at: Timestamp::from_micros(1_796_396_200_000_000),
            }]
        );
        assert!(cosigners(b"no signatures").is_empty());
    }
}
