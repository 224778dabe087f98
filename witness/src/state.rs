//! [`WitnessState`]: the sans-IO [`Witness`] and its [`Store`] behind one
//! lock, so that checking `old` against the held size, persisting the new
//! checkpoint and committing it are one atomic step (the race the
//! specification warns of cannot roll the witness back).

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::Error;
use crate::error::StoredCheckpointFault;
use crate::key::WitnessKey;
use crate::store::{Store, origin_hash};
use crate::witness::{LogConfig, Witness};

/// A running witness's state: shared by the server's handlers.
#[derive(Debug)]
pub struct WitnessState {
    witness: Mutex<Witness>,
    store: Store,
    verifier_key: String,
}

impl WitnessState {
    /// Opens the witness of `data_dir`: its key (`witness.key`, made with
    /// `name` if absent) and the checkpoints it holds, each checked against
    /// the log's key and the witness's own cosignature. Files of origins not
    /// in `logs` are kept on disk but not served.
    pub fn open(data_dir: &Path, name: &str, logs: &[LogConfig]) -> Result<Self, Error> {
        let key = WitnessKey::load_or_create(data_dir, name)?;
        let store = Store::open(data_dir)?;
        let mut witness = Witness::new(key, logs)?;
        for (path, file_name, bytes) in store.load()? {
            let fault = |reason| Error::StoredCheckpoint {
                path: path.clone(),
                reason,
            };
            if let Some(origin) = witness.restore(&bytes).map_err(fault)?
                && origin_hash(&origin) != file_name
            {
                return Err(fault(StoredCheckpointFault::WrongFileName));
            }
        }
        let verifier_key = witness.key().verifier_key();
        Ok(WitnessState {
            witness: Mutex::new(witness),
            store,
            verifier_key,
        })
    }

    /// The witness's verifier key (C2SP vkey, type 0x04).
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Handles an `add-checkpoint` body at `now`: on success the new
    /// checkpoint is on disk (fsynced) before the cosignature line(s) are
    /// returned. Blocking (file I/O): call from a blocking thread.
    pub fn add_checkpoint(&self, body: &[u8], now: SystemTime) -> Result<Vec<u8>, Error> {
        let mut witness = self.witness.lock().unwrap_or_else(|e| e.into_inner());
        let accepted = witness.add_checkpoint(body, now)?;
        self.store.save(&accepted.origin, &accepted.held.note)?;
        let answer = accepted.cosignature.clone();
        tracing::info!(
            origin = %accepted.origin,
            size = accepted.held.size,
            "checkpoint cosigned"
        );
        witness.commit(accepted);
        Ok(answer)
    }

    /// The cosigned checkpoint held for the origin whose SHA-256 is
    /// `origin_hash` (lowercase hex), if any.
    pub fn checkpoint_by_hash(&self, hash: &str) -> Option<Vec<u8>> {
        let witness = self.witness.lock().unwrap_or_else(|e| e.into_inner());
        let origin = witness
            .origins()
            .find(|o| origin_hash(o) == hash)?
            .to_owned();
        witness.held(&origin).map(|h| h.note.clone())
    }

    /// The size held for `origin` (0 if none).
    pub fn held_size(&self, origin: &str) -> u64 {
        let witness = self.witness.lock().unwrap_or_else(|e| e.into_inner());
        witness.held_size(origin)
    }
}
