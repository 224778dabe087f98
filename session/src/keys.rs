//! The keys that protect the trace, kept outside the database.
//!
//! - The **signing key** (Ed25519) signs the chain heads. Its public half is
//!   all an auditor needs to verify a trace.
//! - The **data key** (256-bit, XChaCha20-Poly1305) seals personal and
//!   medical fields at rest. It comes from `TELECONSULT_DATA_KEY` (64 hex
//!   digits or base64) or from a file.
//!
//! Key directory layout (all files hex text, one line):
//!
//! | file | mode | content |
//! |---|---|---|
//! | `signing.key` | 0600 | the 32-byte Ed25519 seed |
//! | `signing.pub` | 0644 | the 32-byte Ed25519 public key |
//! | `data.key` | 0600 | the 32-byte data key (absent when the key comes from the environment) |
//! | `retired/*.pub` | 0644 | earlier public keys, still trusted for old heads |
//! | `retired/data-ID.key` | 0600 | earlier data keys, still used to open old sealed fields |
//!
//! `teleconsult keys rotate` replaces a key and keeps the old one under
//! `retired/` (its public half only, for the signing key), named by its
//! [`KeyId`]; sealed blobs and checkpoints name the key id they need.
//!
//! Keys are created only together with a new store, never over an existing
//! file: a store whose key is missing fails to open rather than being
//! silently re-keyed.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;

/// The environment variable that can hold the data key.
pub const DATA_KEY_ENV: &str = "TELECONSULT_DATA_KEY";

/// A short fingerprint naming a key without revealing it: the first 8 bytes
/// of a domain-separated SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    fn of(domain: &[u8], bytes: &[u8]) -> KeyId {
        let d = Sha256::new()
            .chain_update(domain)
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Signs chain heads.
#[derive(Clone)]
pub struct HeadSigner {
    key: SigningKey,
    id: KeyId,
}

impl HeadSigner {
    pub fn from_seed(seed: [u8; 32]) -> HeadSigner {
        let key = SigningKey::from_bytes(&seed);
        let id = key_id_of_public(&key.verifying_key());
        HeadSigner { key, id }
    }

    pub fn generate() -> Result<HeadSigner, Error> {
        Ok(HeadSigner::from_seed(random32()?))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn sign(&self, digest: &[u8; 32]) -> [u8; 64] {
        self.key.sign(digest).to_bytes()
    }

    /// The Ed25519 key itself, for a JOSE library that signs with it
    /// (the FHIR export's JWS). Never written anywhere by this crate's
    /// callers: they hand it to the library and drop it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeadSigner({})", self.id)
    }
}

fn key_id_of_public(key: &VerifyingKey) -> KeyId {
    KeyId::of(b"teleconsult/signing-key/v1", key.as_bytes())
}

/// The public keys an auditor trusts, by id.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl TrustedKeys {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> TrustedKeys {
        TrustedKeys {
            keys: keys
                .into_iter()
                .map(|k| (key_id_of_public(&k), k))
                .collect(),
        }
    }

    /// Reads a public key file (64 hex digits).
    pub fn from_file(path: &Path) -> Result<TrustedKeys, Error> {
        Ok(TrustedKeys::new([read_public(path)?]))
    }

    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|(id, _)| *id)
    }

    /// The trusted public keys (to check the tree's checkpoints, signed
    /// under the log's origin).
    pub fn keys(&self) -> impl Iterator<Item = &VerifyingKey> + '_ {
        self.keys.iter().map(|(_, k)| k)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public key named `id`, if trusted (for a JOSE library that
    /// checks a signature with it: the FHIR export's JWS).
    pub fn key(&self, id: KeyId) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| key)
    }

    /// Checks `signature` over `digest` with the key named `id`.
    pub fn verify(&self, id: KeyId, digest: &[u8; 32], signature: &[u8; 64]) -> Result<(), String> {
        let (_, key) =
            self.keys.iter().find(|(k, _)| *k == id).ok_or_else(|| {
                format!("signed with key {id}, which is not among the trusted keys")
            })?;
        key.verify_strict(digest, &Signature::from_bytes(signature))
            .map_err(|_| "the signature does not match".to_string())
    }
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(id, _)| id))
            .finish()
    }
}

/// Seals personal and medical fields. Zeroed on drop.
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    id: KeyId,
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        let id = KeyId::of(b"teleconsult/data-key/v1", &bytes);
        DataKey {
            key: Zeroizing::new(bytes),
            id,
        }
    }

    pub fn generate() -> Result<DataKey, Error> {
        Ok(DataKey::from_bytes(random32()?))
    }

    /// Parses 64 hex digits or standard base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<DataKey, Error> {
        parse_key32(text)
            .map(DataKey::from_bytes)
            .ok_or(Error::DataKeyFormat)
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

fn parse_key32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    let bytes = if t.len() == 64 {
        hex::decode(t).ok()?
    } else {
        base64::engine::general_purpose::STANDARD.decode(t).ok()?
    };
    bytes.try_into().ok()
}

pub(crate) fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(Error::Randomness)?;
    Ok(b)
}

/// The key directory of a data directory.
#[derive(Clone, Debug)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    pub fn new(path: impl Into<PathBuf>) -> KeyDir {
        KeyDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the signing key, and the data key unless one is in the
    /// environment. Fails if any key file already exists.
    pub fn create(&self, data_key_from_env: bool) -> Result<(), Error> {
        create_private_dir(&self.path)?;
        let signer = HeadSigner::generate()?;
        write_new(
            &self.file("signing.key"),
            &hex::encode(signer.key.to_bytes()),
            0o600,
        )?;
        write_new(
            &self.file("signing.pub"),
            &hex::encode(signer.public().as_bytes()),
            0o644,
        )?;
        if !data_key_from_env {
            let data = DataKey::generate()?;
            write_new(&self.file("data.key"), &hex::encode(*data.key), 0o600)?;
        }
        sync_dir(&self.path)
    }

    pub fn signer(&self) -> Result<HeadSigner, Error> {
        let path = self.file("signing.key");
        let text = read_secret(&path)?;
        let seed = parse_key32(&text).ok_or(Error::NotAKey { path })?;
        Ok(HeadSigner::from_seed(seed))
    }

    /// The current public key and any retired ones.
    pub fn trusted(&self) -> Result<TrustedKeys, Error> {
        let mut keys = vec![read_public(&self.file("signing.pub"))?];
        if let Ok(entries) = fs::read_dir(self.file("retired")) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            {
                keys.push(read_public(p)?);
            }
        }
        Ok(TrustedKeys::new(keys))
    }

    /// The data key: from the environment if set, else from `data.key`.
    pub fn data_key(&self) -> Result<DataKey, Error> {
        if let Ok(text) = std::env::var(DATA_KEY_ENV) {
            return DataKey::parse(&text).map_err(|_| Error::DataKeyVariable { var: DATA_KEY_ENV });
        }
        let path = self.file("data.key");
        let text = read_secret(&path)?;
        DataKey::parse(&text).map_err(|_| Error::NotAKey { path })
    }
}

impl KeyDir {
    /// The data key and every retired one, current first: what opening
    /// sealed fields of any age needs.
    pub fn data_keys(&self) -> Result<Vec<DataKey>, Error> {
        let mut keys = vec![self.data_key()?];
        if let Ok(entries) = fs::read_dir(self.file("retired")) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths.iter().filter(|p| {
                p.extension().is_some_and(|x| x == "key")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("data-"))
            }) {
                let text = read_secret(p)?;
                keys.push(DataKey::parse(&text).map_err(|_| Error::NotAKey { path: p.clone() })?);
            }
        }
        Ok(keys)
    }

    /// The data keys, or none when there is no data key at all (neither
    /// [`DATA_KEY_ENV`] nor `data.key`): an auditor holding only the
    /// public keys reads sealed fields as sealed. A key that is there but
    /// refused (too open, malformed) is an error, never taken for absent.
    pub fn data_keys_if_present(&self) -> Result<Vec<DataKey>, Error> {
        if std::env::var_os(DATA_KEY_ENV).is_none() && !self.file("data.key").exists() {
            return Ok(Vec::new());
        }
        self.data_keys()
    }

    /// Replaces the signing key. The old public key moves to `retired/`,
    /// so checkpoints and access entries it signed still verify; the old
    /// private key is deleted. Returns the old and new key ids.
    pub fn rotate_signing(&self) -> Result<(KeyId, KeyId), Error> {
        let old = self.signer()?;
        let retired = self.file("retired");
        create_private_dir(&retired)?;
        let kept = retired.join(format!("signing-{}.pub", old.id()));
        match write_new(&kept, &hex::encode(old.public().as_bytes()), 0o644) {
            Ok(()) => {}
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            }
            Err(e) => return Err(e),
        }
        sync_dir(&retired)?;
        let new = HeadSigner::generate()?;
        replace(
            &self.file("signing.pub"),
            &hex::encode(new.public().as_bytes()),
            0o644,
        )?;
        replace(
            &self.file("signing.key"),
            &hex::encode(new.key.to_bytes()),
            0o600,
        )?;
        sync_dir(&self.path)?;
        Ok((old.id(), new.id()))
    }

    /// Replaces the data key in `data.key`; the old one moves to
    /// `retired/data-ID.key` and keeps opening what it sealed. Refused when
    /// the key comes from the environment (rotate it there, and put the old
    /// one under `retired/`). The store's `data_key_id` must be updated
    /// too: [`crate::DataDir::rotate_data_key`] does both.
    pub fn rotate_data(&self) -> Result<(DataKey, DataKey), Error> {
        if std::env::var_os(DATA_KEY_ENV).is_some() {
            return Err(Error::DataKeyFromVariable {
                var: DATA_KEY_ENV,
                retired: self.file("retired").join("data-OLDID.key"),
            });
        }
        let old = self.data_key()?;
        let retired = self.file("retired");
        create_private_dir(&retired)?;
        let kept = retired.join(format!("data-{}.key", old.id()));
        match write_new(&kept, &hex::encode(*old.key), 0o600) {
            Ok(()) => {}
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            }
            Err(e) => return Err(e),
        }
        sync_dir(&retired)?;
        let new = DataKey::generate()?;
        Ok((old, new))
    }

    /// Writes `key` as the current data key (after [`KeyDir::rotate_data`]).
    pub fn install_data_key(&self, key: &DataKey) -> Result<(), Error> {
        replace(&self.file("data.key"), &hex::encode(*key.key), 0o600)?;
        sync_dir(&self.path)
    }
}

/// Replaces `path` atomically: a new file beside it, then a rename.
fn replace(path: &Path, content: &str, mode: u32) -> Result<(), Error> {
    let tmp = path.with_extension("new");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, content, mode)?;
    fs::rename(&tmp, path).map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))
}

/// Refuses a file that holds a secret (a private or data key, a token)
/// when anyone but its owner may read or write it.
pub fn check_private_file(path: &Path) -> Result<(), Error> {
    check_mode(path, 0o077, "readable or writable", "600")
}

/// Refuses a file (a public key, the trace store) or directory that anyone
/// but its owner may change: a replaced public key would vouch for forged
/// checkpoints.
pub fn check_not_shared_writable(path: &Path, fix: &'static str) -> Result<(), Error> {
    check_mode(path, 0o022, "writable", fix)
}

/// `Err(Permissions)` when `path`'s mode has any bit of `forbidden`; a
/// missing file passes (its reader says it is missing).
#[allow(unused_variables)]
fn check_mode(path: &Path, forbidden: u32, access: &'static str, fix: &str) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        if mode & forbidden != 0 {
            return Err(Error::Permissions {
                path: path.into(),
                mode,
                access,
                fix: format!("chmod {fix} {}", path.display()),
            });
        }
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<Zeroizing<String>, Error> {
    check_private_file(path)?;
    match fs::read_to_string(path) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::KeyMissing {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

fn read_public(path: &Path) -> Result<VerifyingKey, Error> {
    check_not_shared_writable(path, "644")?;
    let text = fs::read_to_string(path)
        .map_err(|e| Error::io(format!("cannot read the public key {}", path.display()), e))?;
    let bytes = parse_key32(&text).ok_or_else(|| Error::NotAPublicKey {
        path: path.to_path_buf(),
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidPublicKey {
        path: path.to_path_buf(),
    })
}

/// Writes a new file with `mode` (and a final newline), synced, refusing
/// to replace an existing one: an `Error::Io` of kind `AlreadyExists` then.
pub fn write_new(path: &Path, content: &str, mode: u32) -> Result<(), Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .map_err(|e| Error::io(format!("cannot create the key file {}", path.display()), e))?;
    f.write_all(content.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

pub(crate) fn sync_dir(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync {}", path.display()), e))?;
    Ok(())
}

/// Creates `dir` readable by its owner only, if it does not exist yet.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_writes_private_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("keys"));
        keys.create(false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["signing.key", "data.key"] {
                let mode = fs::metadata(keys.file(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        let before = fs::read(keys.file("data.key")).unwrap();
        assert!(keys.create(false).is_err(), "must not overwrite keys");
        assert_eq!(fs::read(keys.file("data.key")).unwrap(), before);
    }

    #[test]
    fn sign_and_verify_with_public_only() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path());
        keys.create(false).unwrap();
        let signer = keys.signer().unwrap();
        let trusted = keys.trusted().unwrap();
        let digest = [7u8; 32];
        let sig = signer.sign(&digest);
        trusted.verify(signer.id(), &digest, &sig).unwrap();
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(trusted.verify(signer.id(), &digest, &bad).is_err());
        let other = HeadSigner::generate().unwrap();
        let e = trusted
            .verify(other.id(), &digest, &other.sign(&digest))
            .unwrap_err();
        assert!(e.contains("not among the trusted keys"));
    }

    #[test]
    fn rotation_keeps_old_keys_for_reading() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("keys"));
        keys.create(false).unwrap();
        let first = keys.signer().unwrap();
        let (old, new) = keys.rotate_signing().unwrap();
        assert_eq!(old, first.id());
        assert_eq!(keys.signer().unwrap().id(), new);
        let trusted = keys.trusted().unwrap();
        let ids: Vec<KeyId> = trusted.ids().collect();
        assert!(ids.contains(&old) && ids.contains(&new), "{ids:?}");
        let data = keys.data_key().unwrap();
        let (was, next) = keys.rotate_data().unwrap();
        assert_eq!(was.id(), data.id());
        keys.install_data_key(&next).unwrap();
        let all: Vec<KeyId> = keys.data_keys().unwrap().iter().map(DataKey::id).collect();
        assert_eq!(all, vec![next.id(), data.id()]);
    }

    #[test]
    fn missing_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = KeyDir::new(dir.path()).signer().unwrap_err().to_string();
        assert!(e.contains("is missing"), "{e}");
    }

    #[test]
    fn data_key_parses_hex_and_base64() {
        let hex_key = "11".repeat(32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([0x11u8; 32]);
        assert_eq!(
            DataKey::parse(&hex_key).unwrap().id(),
            DataKey::parse(&b64).unwrap().id()
        );
        assert!(DataKey::parse("short").is_err());
    }
}
