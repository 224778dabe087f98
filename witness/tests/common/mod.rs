//! Shared test fixtures: a small in-memory log built with `tlog_tiles`
//! (stored hashes, tree hashes, consistency proofs) that signs its
//! checkpoints as C2SP signed notes, and a witness server on loopback.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};
use signed_note::Note;
use tlog_tiles::{Checkpoint, Hash, HashReader};
use witness::request::AddCheckpoint;
use witness::{LogConfig, WitnessKey, WitnessState};

/// The test log's origin.
pub const ORIGIN: &str = "teleconsult.localhost/trace";

/// A fixed time for sans-IO tests (the tlog-cosignature example's).
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_679_315_147)
}

/// An Ed25519 note signer (signature type 0x01), as the log signs.
pub struct NoteSigner {
    pub name: String,
    pub key: SigningKey,
}

impl NoteSigner {
    pub fn new(name: &str, seed: [u8; 32]) -> Self {
        NoteSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    fn material(&self) -> Vec<u8> {
        [&[0x01], self.key.verifying_key().as_bytes().as_slice()].concat()
    }

    /// The log's verifier key, `name+id+base64(0x01 || key)`.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            signed_note::Signer::key_id(self),
            BASE64.encode(self.material())
        )
    }
}

impl signed_note::Signer for NoteSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        signed_note::key_id(&self.name, &self.material())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// The stored hashes of a tree, in `tlog_tiles`' layout.
#[derive(Default, Clone)]
pub struct Stored(pub Vec<Hash>);

impl HashReader for Stored {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(usize::try_from(i).unwrap())
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// A small append-only log in memory.
#[derive(Clone)]
pub struct MemLog {
    pub origin: String,
    pub stored: Stored,
    pub size: u64,
    seed: [u8; 32],
}

impl MemLog {
    pub fn new(origin: &str, seed: [u8; 32]) -> Self {
        MemLog {
            origin: origin.to_owned(),
            stored: Stored::default(),
            size: 0,
            seed,
        }
    }

    /// The log this module's tests witness.
    pub fn standard() -> Self {
        Self::new(ORIGIN, [0x11; 32])
    }

    pub fn signer(&self) -> NoteSigner {
        NoteSigner::new(&self.origin, self.seed)
    }

    pub fn config(&self) -> LogConfig {
        LogConfig {
            origin: self.origin.clone(),
            vkeys: vec![self.signer().vkey()],
        }
    }

    pub fn append(&mut self, data: &[u8]) {
        let hashes = tlog_tiles::stored_hashes(self.size, data, &self.stored).unwrap();
        self.stored.0.extend(hashes);
        self.size += 1;
    }

    /// Appends `n` leaves `tag-i`.
    pub fn grow(&mut self, n: u64, tag: &str) {
        for i in 0..n {
            let leaf = format!("{tag}-{}", self.size + i);
            self.append(leaf.as_bytes());
        }
    }

    pub fn root(&self, size: u64) -> Hash {
        tlog_tiles::tree_hash(size, &self.stored).unwrap()
    }

    /// The consistency proof from `old` to `new` (empty from 0 or to itself).
    pub fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 || old == new {
            return Vec::new();
        }
        tlog_tiles::prove_tree(new, old, &self.stored).unwrap()
    }

    /// The checkpoint of the current size, as a signed note.
    pub fn checkpoint(&self) -> Vec<u8> {
        self.checkpoint_at(self.size)
    }

    pub fn checkpoint_at(&self, size: u64) -> Vec<u8> {
        let text = Checkpoint::new(&self.origin, size, self.root(size), "")
            .unwrap()
            .to_bytes();
        let mut note = Note::new(&text, &[]).unwrap();
        note.add_sigs(&[&self.signer()]).unwrap();
        note.to_bytes()
    }

    /// The `add-checkpoint` body from `old` to the current size.
    pub fn request(&self, old: u64) -> Vec<u8> {
        AddCheckpoint {
            old_size: old,
            proof: self.proof(old, self.size),
            note: self.checkpoint(),
        }
        .to_bytes()
    }
}

/// The witness key of these tests.
pub fn witness_key() -> WitnessKey {
    WitnessKey::from_seed("witness.teleconsult.localhost", [0x22; 32]).unwrap()
}

/// Verifies `note` against the log's key and the witness's cosigner key:
/// returns how many of each verified.
pub fn verify_cosigned(note: &[u8], log: &MemLog, witness_vkey: &str) -> (usize, usize) {
    let note = Note::from_bytes(note).unwrap();
    let cosigner = witness::cosignature::CosignatureVerifier::new(witness_vkey).unwrap();
    let (log_sigs, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(
            signed_note::StandardVerifier::new(&log.signer().vkey()).unwrap(),
        )]))
        .unwrap();
    let (cosigs, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(cosigner)]))
        .unwrap();
    (log_sigs.len(), cosigs.len())
}

/// A witness server on 127.0.0.1 with its data in `dir`.
pub struct Server {
    pub url: String,
    pub state: Arc<WitnessState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start(dir: &std::path::Path, logs: &[LogConfig]) -> Server {
        let state =
            Arc::new(WitnessState::open(dir, "witness.teleconsult.localhost", logs).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(witness::server::run(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            url,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// POSTs a raw body to `/add-checkpoint`: (status, content type, body).
pub async fn post_raw(url: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}
