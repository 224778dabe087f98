//! The rollback check: what a witness holds for this log, verified with
//! the log's own keys, compared with the local tree. A witness holding a
//! larger tree than ours means an older copy of the store was put back; one
//! holding a checkpoint whose root differs from ours at that size means a
//! forked or replaced store. `server::build` runs it before serving, and
//! `teleconsult trace verify --witness` with the same functions.

use session::tlog::note::verify_checkpoint;
use session::tlog::{CheckpointVerifier, TreeHash};

use crate::Error;

/// A checkpoint a witness holds for this log, its signature verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub size: u64,
    pub root: TreeHash,
    /// The note as the witness serves it (the log's signature and the
    /// witness's cosignature).
    pub note: Vec<u8>,
}

/// The log's verifier keys (`origin+id+base64`): one per trusted public
/// key, the current and the retired ones (a held checkpoint may predate a
/// key rotation).
pub fn log_verifier_keys(origin: &str, trusted: &session::keys::TrustedKeys) -> Vec<String> {
    trusted
        .keys()
        .map(|k| session::tlog::verifier_key(origin, k))
        .collect()
}

/// Verifies the note a witness at `url` serves for `origin`: signed by one
/// of `log_vkeys` and, when `witness_keys` are given, cosigned by one of
/// them.
pub fn verify_held(
    url: &str,
    origin: &str,
    note: &[u8],
    log_vkeys: &[String],
    witness_keys: &[String],
) -> Result<Held, Error> {
    for vkey in log_vkeys {
        let found = if witness_keys.is_empty() {
            CheckpointVerifier::parse(vkey)
                .ok()
                .and_then(|v| verify_checkpoint(note, &v, &[]).ok())
                .map(|c| (c.origin().to_owned(), c.size(), *c.hash()))
        } else {
            witness_keys.iter().find_map(|w| {
                witness::cosignature::verify_cosigned(note, vkey, w)
                    .ok()
                    .map(|c| (c.origin, c.size, c.hash))
            })
        };
        if let Some((o, size, root)) = found
            && o == origin
        {
            return Ok(Held {
                size,
                root,
                note: note.to_vec(),
            });
        }
    }
    Err(Error::WitnessCheckpoint {
        url: url.to_owned(),
        origin: origin.to_owned(),
        cosigned: !witness_keys.is_empty(),
    })
}

/// Compares what the witness at `url` holds with the local tree of
/// `local_size` leaves, whose root at a size `root_at` gives: a larger
/// held tree is [`Error::Rollback`], another root at the held size is
/// [`Error::ForkedStore`].
pub fn compare(
    url: &str,
    held: &Held,
    local_size: u64,
    root_at: impl FnOnce(u64) -> Result<TreeHash, session::Error>,
) -> Result<(), Error> {
    if held.size > local_size {
        return Err(Error::Rollback {
            url: url.to_owned(),
            held: held.size,
            local: local_size,
        });
    }
    if root_at(held.size)? != held.root {
        return Err(Error::ForkedStore {
            url: url.to_owned(),
            size: held.size,
        });
    }
    Ok(())
}

/// Fetches and verifies what the witness at `url` holds for `origin`:
/// `Ok(None)` if it holds nothing; an `Err` of the outer result when it
/// could not be asked (not reachable, refused), to warn about.
pub async fn fetch_held(
    client: &witness::client::Client,
    origin: &str,
    log_vkeys: &[String],
    witness_keys: &[String],
) -> Result<Result<Option<Held>, Error>, witness::Error> {
    let Some(note) = client.checkpoint(origin).await? else {
        return Ok(Ok(None));
    };
    Ok(verify_held(client.url(), origin, &note, log_vkeys, witness_keys).map(Some))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(size: u64, root: u8) -> Held {
        Held {
            size,
            root: TreeHash([root; 32]),
            note: Vec::new(),
        }
    }

    #[test]
    fn a_larger_held_tree_is_a_rollback() {
        let e = compare("http://w", &held(9, 1), 5, |_| unreachable!()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rollback: witness http://w holds size 9, this store has 5 (an older copy of the store was put back)"
        );
    }

    #[test]
    fn another_root_at_the_held_size_is_a_fork() {
        let e = compare("http://w", &held(4, 1), 5, |s| {
            assert_eq!(s, 4);
            Ok(TreeHash([2; 32]))
        })
        .unwrap_err();
        assert!(matches!(e, Error::ForkedStore { size: 4, .. }), "{e}");
        compare("http://w", &held(4, 1), 5, |_| Ok(TreeHash([1; 32]))).unwrap();
        compare("http://w", &held(5, 1), 5, |_| Ok(TreeHash([1; 32]))).unwrap();
    }

    #[test]
    fn a_note_not_signed_by_the_log_is_refused() {
        let signer = session::keys::HeadSigner::from_seed([7; 32]);
        let log = session::tlog::LogSigner::new("o.example/log", &signer).unwrap();
        let cp = log
            .sign(0, witness::EMPTY_HASH, session::Timestamp::from_micros(1))
            .unwrap();
        let vkeys = vec![log.verifier_key()];
        let ok = verify_held("http://w", "o.example/log", &cp.note, &vkeys, &[]).unwrap();
        assert_eq!(ok.size, 0);
        let other = session::tlog::LogSigner::new(
            "o.example/log",
            &session::keys::HeadSigner::from_seed([8; 32]),
        )
        .unwrap();
        let e = verify_held(
            "http://w",
            "o.example/log",
            &cp.note,
            &[other.verifier_key()],
            &[],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("not signed by this log's key"),
            "{e}"
        );
    }
}
