//! The trace log's witnesses (issue 15): the server submits its signed
//! checkpoints to the witnesses of its settings (C2SP tlog-witness, through
//! `witness::client`) every few seconds while the tree grows and at once
//! when an act ends, keeps their cosignatures with the checkpoint, and
//! refuses to start on a store smaller than, or inconsistent with, what a
//! witness holds (a restored older copy, or a fork).
//!
//! - [`schedule`]: the sans-IO state (per witness: held size, next due
//!   time, backoff, stopped), taking `now`;
//! - [`rollback`]: the check of a witness's held checkpoint against the
//!   local tree, shared with `teleconsult trace verify --witness`;
//! - `driver`: the one tokio task that makes checkpoints, submits them
//!   and stores the cosigned copies;
//! - [`Witnessing`]: the handle [`crate::AppState`] keeps (the newest
//!   cosigned checkpoint, a nudge, whether a rollback was seen).
//!
//! Settings and errors: docs/WITNESS.md "Running the server with witnesses".

mod driver;
pub mod rollback;
pub mod schedule;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::Uri;
use session::TraceStore;
use session::keys::TrustedKeys;
use session::tlog::SignedCheckpoint;
use tokio::sync::{Notify, watch};

use crate::Error;
use crate::metrics::Metrics;

/// How often checkpoints are made and submitted while the tree grows.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// A witness the server submits its checkpoints to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessConfig {
    /// Its base URL (submission and monitoring prefix).
    pub url: String,
    /// Its C2SP verifier key (`name+id+base64`, cosignature/v1): when
    /// given, only cosignatures that verify with it are kept, and the
    /// checkpoint it holds must carry one.
    pub key: Option<String>,
}

impl WitnessConfig {
    /// Checks the URL (`http://` or `https://`, a host, no query) and the
    /// key (a cosignature/v1 verifier key).
    pub fn new(url: &str, key: Option<&str>) -> Result<WitnessConfig, Error> {
        let bad_url = || Error::WitnessUrl {
            url: url.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad_url())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let host_ok = uri.host().is_some_and(|h| !h.is_empty());
        if !scheme_ok || !host_ok || uri.query().is_some() || url.contains('#') {
            return Err(bad_url());
        }
        let url = url.trim_end_matches('/').to_owned();
        if let Some(k) = key {
            witness::cosignature::CosignatureVerifier::new(k)
                .map_err(|_| Error::WitnessKey { url: url.clone() })?;
        }
        Ok(WitnessConfig {
            url,
            key: key.map(str::to_owned),
        })
    }
}

/// What the driver and the handle share.
#[derive(Debug)]
struct Shared {
    nudge: Notify,
    /// How many witnesses are configured (none: checkpoints only).
    witnesses: usize,
    /// The newest checkpoint cosigned by at least one witness.
    cosigned: watch::Sender<Option<SignedCheckpoint>>,
    /// The first rollback or fork seen while running, as a sentence.
    rollback: Mutex<Option<String>>,
}

/// The server's handle on its witnessing task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Witnessing(Arc<Shared>);

impl Witnessing {
    /// Asks for a round now (an act ended): a checkpoint, submitted to
    /// every witness that holds less.
    pub fn nudge(&self) {
        self.0.nudge.notify_one();
    }

    /// The newest cosigned checkpoint, and a way to wait for the next.
    pub fn cosigned(&self) -> watch::Receiver<Option<SignedCheckpoint>> {
        self.0.cosigned.subscribe()
    }

    /// Whether any witness is configured (else checkpoints are only signed
    /// by the log).
    pub fn has_witnesses(&self) -> bool {
        self.0.witnesses > 0
    }

    /// The size of the newest cosigned checkpoint (0 if none).
    pub fn witnessed_size(&self) -> u64 {
        self.0.cosigned.borrow().as_ref().map_or(0, |c| c.size)
    }

    /// A checkpoint cosigned by at least one witness whose tree has at
    /// least `size` leaves: at once if there is one, else after a nudged
    /// round, or `None` after `timeout` (at once when no witness is
    /// configured). What an act's receipt is made against.
    pub async fn cosigned_covering(
        &self,
        size: u64,
        timeout: Duration,
    ) -> Option<SignedCheckpoint> {
        if !self.has_witnesses() {
            return None;
        }
        let mut rx = self.cosigned();
        let covers = |c: &Option<SignedCheckpoint>| c.as_ref().is_some_and(|c| c.size >= size);
        if !covers(&rx.borrow()) {
            self.nudge();
        }
        let found = tokio::time::timeout(timeout, rx.wait_for(covers))
            .await
            .ok()?
            .ok()?;
        found.clone()
    }

    /// The rollback or fork seen while running, if any (for /healthz).
    pub fn rollback(&self) -> Option<String> {
        self.0
            .rollback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The witnesses checked at start, ready for their task.
#[derive(Debug)]
pub struct Checked {
    origin: String,
    log_vkey: String,
    interval: Duration,
    witnesses: Vec<(WitnessConfig, witness::client::Client)>,
    /// Per witness, the size it held at start (0: none, or not answering).
    held: Vec<u64>,
    /// The newest cosigned checkpoint known at start.
    cosigned: Option<SignedCheckpoint>,
}

/// The rollback check at start: asks each witness what it holds for the
/// log `store` signs, verifies the log's signature on it (with any of
/// `trusted`'s keys), and refuses a store smaller than or inconsistent with
/// it ([`Error::Rollback`], [`Error::ForkedStore`]). A witness that does not
/// answer is warned about, not fatal: the task's submissions check it
/// when it answers.
pub async fn check_at_start(
    store: &dyn TraceStore,
    witnesses: &[WitnessConfig],
    trusted: &TrustedKeys,
    interval: Duration,
) -> Result<Checked, Error> {
    let log = store.log_signer().ok_or(session::Error::ReadOnly)?;
    let origin = log.origin().to_owned();
    let log_vkeys = rollback::log_verifier_keys(&origin, trusted);
    let local = store.tree_size()?;
    let mut checked = Checked {
        log_vkey: log.verifier_key(),
        origin: origin.clone(),
        interval,
        witnesses: Vec::new(),
        held: Vec::new(),
        cosigned: store.latest_checkpoint()?.filter(has_cosignature),
    };
    for w in witnesses {
        let client =
            witness::client::Client::new(&w.url).map_err(|source| Error::WitnessClient {
                url: w.url.clone(),
                source,
            })?;
        let keys: Vec<String> = w.key.iter().cloned().collect();
        let held = match rollback::fetch_held(&client, &origin, &log_vkeys, &keys).await {
            Ok(held) => held?,
            Err(e) => {
                tracing::warn!(
                    witness = %w.url,
                    error = %e,
                    "witness not answering at start; starting anyway, its submissions will check it"
                );
                None
            }
        };
        if let Some(h) = &held {
            rollback::compare(&w.url, h, local, |s| store.tree_root(s))?;
            tracing::info!(witness = %w.url, held = h.size, local, "witness consistent with the store");
            if checked.cosigned.as_ref().is_none_or(|c| c.size < h.size) {
                checked.cosigned = Some(SignedCheckpoint {
                    size: h.size,
                    root: h.root,
                    at: session::Timestamp::now(),
                    note: h.note.clone(),
                });
            }
        }
        checked.held.push(held.map_or(0, |h| h.size));
        checked.witnesses.push((w.clone(), client));
    }
    Ok(checked)
}

impl Checked {
    /// Starts the witnessing task on `store` until `stopping` turns true.
    pub fn spawn(
        self,
        store: Arc<dyn TraceStore>,
        metrics: Metrics,
        stopping: watch::Receiver<bool>,
    ) -> Witnessing {
        if let Some(c) = &self.cosigned {
            metrics
                .witnessed_size
                .set(i64::try_from(c.size).unwrap_or(i64::MAX));
        }
        let shared = Arc::new(Shared {
            nudge: Notify::new(),
            witnesses: self.witnesses.len(),
            cosigned: watch::Sender::new(self.cosigned.clone()),
            rollback: Mutex::new(None),
        });
        tracing::info!(origin = %self.origin, witnesses = self.witnesses.len(), "checkpointing the trace log");
        tokio::spawn(driver::run(
            driver::Driver {
                shared: shared.clone(),
                store,
                metrics,
                log_vkey: self.log_vkey,
                witnesses: self.witnesses,
            },
            schedule::Schedule::new(self.interval, &self.held, Duration::ZERO),
            stopping,
        ));
        Witnessing(shared)
    }
}

/// Whether a checkpoint note carries more than the log's signature.
fn has_cosignature(c: &SignedCheckpoint) -> bool {
    let Some(at) = c.note.windows(2).position(|w| w == b"\n\n") else {
        return false;
    };
    String::from_utf8_lossy(&c.note[at + 2..])
        .lines()
        .filter(|l| l.starts_with('\u{2014}'))
        .count()
        > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let w = WitnessConfig::new("http://127.0.0.1:7380/", None).unwrap();
        assert_eq!(w.url, "http://127.0.0.1:7380");
        WitnessConfig::new("https://witness.example/w1", None).unwrap();
        for bad in [
            "ftp://w.example",
            "w.example",
            "http://",
            "http://w?x=1",
            "",
        ] {
            let e = WitnessConfig::new(bad, None).unwrap_err().to_string();
            assert!(e.contains("not an http:// or https:// URL"), "{bad}: {e}");
        }
        let e = WitnessConfig::new("http://w.example", Some("w+00000000+AAAA"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http://w.example") && e.contains("invalid verifier key"),
            "{e}"
        );
        let key = witness::WitnessKey::from_seed("w.example/w1", [1; 32]).unwrap();
        WitnessConfig::new("http://w.example", Some(&key.verifier_key())).unwrap();
    }
}
