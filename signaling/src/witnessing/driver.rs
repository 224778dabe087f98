//! The checkpointing and witnessing task: wakes when [`Schedule`] says or
//! when nudged (an act ended), makes a checkpoint if the tree grew (on a
//! blocking thread: the store is synchronous), submits it with a
//! consistency proof to each witness due, and stores the copy with every
//! cosignature it got. At shutdown it makes a last checkpoint, so the
//! newest events are in one. Never logs a note or a proof.

use std::sync::{Arc, PoisonError};

use session::tlog::SignedCheckpoint;
use session::{Timestamp, TraceStore};
use tokio::sync::watch;
use tokio::time::Instant;

use super::schedule::{Next, Outcome, Schedule};
use super::{Shared, WitnessConfig};
use crate::metrics::Metrics;

/// What the task holds.
pub(super) struct Driver {
    pub shared: Arc<Shared>,
    pub store: Arc<dyn TraceStore>,
    pub metrics: Metrics,
    /// The log's verifier key, to check cosigned notes with.
    pub log_vkey: String,
    pub witnesses: Vec<(WitnessConfig, witness::client::Client)>,
}

/// Runs rounds until `stopping` turns true (or its sender is gone).
pub(super) async fn run(
    driver: Driver,
    mut schedule: Schedule,
    mut stopping: watch::Receiver<bool>,
) {
    let start = Instant::now();
    loop {
        let wake = start + schedule.next_wake();
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = driver.shared.nudge.notified() => schedule.nudge(start.elapsed()),
            changed = stopping.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        if *stopping.borrow() {
            break;
        }
        driver.round(&mut schedule, start).await;
    }
    // The events of the last interval: in a checkpoint before the store
    // closes (the witnesses get it from the next start's first round).
    if let Err(e) = driver.checkpoint().await {
        tracing::error!(error = %e, "cannot make the last checkpoint at shutdown");
    }
}

/// Runs `f` on the store on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn TraceStore>,
    f: impl FnOnce(&dyn TraceStore) -> Result<T, session::Error> + Send + 'static,
) -> Result<T, session::Error> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|_| session::Error::StoreClosed)?
}

impl Driver {
    /// A checkpoint of the tree as it is (the newest one if it did not
    /// grow); `None` while the tree is empty.
    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, session::Error> {
        blocking(&self.store, |s| {
            if s.tree_size()? == 0 {
                return Ok(None);
            }
            s.checkpoint(Timestamp::now()).map(Some)
        })
        .await
    }

    /// One round: the checkpoint if due, the witnesses due, the
    /// submissions, the cosigned copy stored.
    async fn round(&self, schedule: &mut Schedule, start: Instant) {
        let now = start.elapsed();
        if !schedule.any_due(now) {
            return;
        }
        let make = schedule.take_checkpoint(now);
        let size = match blocking(&self.store, |s| s.tree_size()).await {
            Ok(size) => size,
            Err(e) => {
                tracing::error!(error = %e, "witnessing: cannot read the tree's size");
                return;
            }
        };
        let due = schedule.due(now, size);
        if due.is_empty() && !make {
            return;
        }
        let checkpoint = match self.checkpoint().await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot make a checkpoint of the trace log");
                return;
            }
        };
        let mut lines = Vec::new();
        for sub in due {
            let (config, client) = &self.witnesses[sub.witness];
            let mut old = sub.old;
            let mut retried = false;
            loop {
                let outcome = self
                    .submit(config, client, old, &checkpoint, &mut lines)
                    .await;
                let label = match outcome {
                    Outcome::Cosigned { .. } => "ok",
                    Outcome::Conflict { .. } => "conflict",
                    Outcome::Inconsistent => "refused",
                    Outcome::Failed => "failed",
                };
                self.metrics
                    .witness_submissions
                    .with_label_values(&[config.url.as_str(), label])
                    .inc();
                match schedule.done(
                    sub.witness,
                    start.elapsed(),
                    checkpoint.size,
                    outcome,
                    retried,
                ) {
                    Next::Wait => break,
                    Next::Retry { old: held } => {
                        old = held;
                        retried = true;
                    }
                    Next::Rollback { held, local } => {
                        self.rollback(crate::Error::Rollback {
                            url: config.url.clone(),
                            held,
                            local,
                        });
                        break;
                    }
                    Next::Forked { held } => {
                        self.rollback(crate::Error::ForkedStore {
                            url: config.url.clone(),
                            size: held,
                        });
                        break;
                    }
                }
            }
        }
        if lines.is_empty() {
            return;
        }
        let cosigned = match checkpoint.with_cosignatures(&lines) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "witnessing: cosignatures do not make a note");
                return;
            }
        };
        let stored = cosigned.clone();
        if let Err(e) = blocking(&self.store, move |s| s.add_cosigned(&stored)).await {
            tracing::error!(error = %e, "witnessing: cannot store the cosigned checkpoint");
            return;
        }
        self.metrics
            .witnessed_size
            .set(i64::try_from(cosigned.size).unwrap_or(i64::MAX));
        self.shared.cosigned.send_if_modified(|c| {
            if c.as_ref().is_none_or(|c| c.size <= cosigned.size) {
                *c = Some(cosigned);
                true
            } else {
                false
            }
        });
    }

    /// Submits `checkpoint` to one witness with the proof from `old`; on
    /// success appends its cosignature line(s) to `lines`.
    async fn submit(
        &self,
        config: &WitnessConfig,
        client: &witness::client::Client,
        old: u64,
        checkpoint: &SignedCheckpoint,
        lines: &mut Vec<u8>,
    ) -> Outcome {
        let new = checkpoint.size;
        let proof = if old == 0 || old >= new {
            Vec::new()
        } else {
            match blocking(&self.store, move |s| s.consistency_proof(old, new)).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(witness = %config.url, error = %e, "witnessing: cannot prove consistency");
                    return Outcome::Failed;
                }
            }
        };
        match client.submit(old, &proof, &checkpoint.note).await {
            Ok(answer) => {
                if let Some(key) = &config.key {
                    let mut note = checkpoint.note.clone();
                    note.extend_from_slice(&answer);
                    if witness::cosignature::verify_cosigned(&note, &self.log_vkey, key).is_err() {
                        tracing::warn!(witness = %config.url, "the cosignature does not verify with the configured witness key; not kept");
                        return Outcome::Failed;
                    }
                }
                lines.extend_from_slice(&answer);
                tracing::debug!(witness = %config.url, size = new, "checkpoint cosigned");
                Outcome::Cosigned { size: new }
            }
            Err(witness::Error::Conflict { held, .. }) => Outcome::Conflict { held },
            Err(witness::Error::Status { status: 422, .. }) => Outcome::Inconsistent,
            Err(e) => {
                tracing::warn!(witness = %config.url, error = %e, "witnessing: submission failed; retrying later");
                Outcome::Failed
            }
        }
    }

    /// A rollback or fork seen while running: logged (sizes and URL only),
    /// kept for /healthz; the witness gets no more submissions.
    fn rollback(&self, finding: crate::Error) {
        tracing::error!(error = %finding, "witnessing: stopped submitting to this witness");
        self.metrics.witness_rollbacks.inc();
        let mut seen = self
            .shared
            .rollback
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.get_or_insert_with(|| finding.to_string());
    }
}
