//! The witness's own Ed25519 cosigning key and its file, `DATA/witness.key`
//! (mode 600): one line `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 ||
//! 32-byte seed)>`, the private-key form of Go's `note` package with the
//! cosignature type byte. The key name is part of the key ID, so it lives
//! with the key.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;

use crate::Error;
use crate::cosignature::{self, SIGNATURE_TYPE};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "witness.key";

/// The key name used when a new key is made without one.
pub const DEFAULT_NAME: &str = "witness.teleconsult.localhost";

/// The witness's cosigning key and its name.
pub struct WitnessKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WitnessKey")
            .field("vkey", &self.verifier_key())
            .finish_non_exhaustive()
    }
}

impl WitnessKey {
    /// A key from its 32-byte seed (tests, known answers).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, Error> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Error::KeyName(name.to_owned()));
        }
        Ok(WitnessKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A new random key.
    pub fn generate(name: &str) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(Error::Randomness)?;
        Self::from_seed(name, seed)
    }

    /// The key name (the cosignature lines' name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID: SHA-256(name || "\n" || 0x04 || public key)[:4].
    pub fn key_id(&self) -> u32 {
        cosignature::key_id(&self.name, &self.key.verifying_key())
    }

    /// The verifier key to give the witness's users: `name+id+base64(0x04 || key)`.
    pub fn verifier_key(&self) -> String {
        cosignature::verifier_key(&self.name, &self.key.verifying_key())
    }

    /// Cosigns a checkpoint's note text at `timestamp` (POSIX seconds): the
    /// note signature to append to the checkpoint.
    pub fn cosign(&self, checkpoint_text: &[u8], timestamp: u64) -> signed_note::Signature {
        session::tlog::cosignature::cosign(&self.name, &self.key, checkpoint_text, timestamp)
            .expect("the name was checked when the key was made, and POSIX seconds stay below 2^63")
    }

    /// The key file's text (one line).
    fn to_file_text(&self) -> String {
        let mut material = vec![SIGNATURE_TYPE];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}\n",
            self.name,
            self.key_id(),
            BASE64.encode(material)
        )
    }

    /// Parses the key file's text.
    fn from_file_text(text: &str) -> Option<Self> {
        let rest = text.trim_end_matches('\n').strip_prefix("PRIVATE+KEY+")?;
        // Names and IDs have no '+'; base64 may.
        let mut parts = rest.splitn(3, '+');
        let (name, id, b64) = (parts.next()?, parts.next()?, parts.next()?);
        let material = BASE64.decode(b64).ok()?;
        let (&SIGNATURE_TYPE, seed) = material.split_first()? else {
            return None;
        };
        let key = Self::from_seed(name, seed.try_into().ok()?).ok()?;
        (id.len() == 8 && u32::from_str_radix(id, 16).ok()? == key.key_id()).then_some(key)
    }

    /// Loads `dir/witness.key`, refusing a file others may read or write.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(KEY_FILE);
        let meta = fs::metadata(&path).map_err(|source| io(&path, source))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::KeyFileMode { path, mode });
        }
        let text = fs::read_to_string(&path).map_err(|source| io(&path, source))?;
        Self::from_file_text(&text).ok_or(Error::KeyFile { path })
    }

    /// Loads `dir/witness.key`, or makes a new key named `name` and writes it
    /// there (mode 600, fsynced) if there is none yet.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Self, Error> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return Self::load(dir);
        }
        let key = Self::generate(name)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| io(dir, source))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        file.write_all(key.to_file_text().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| io(&path, source))?;
        crate::store::sync_dir(dir)?;
        Ok(key)
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_with_mode_600() {
        let dir = tempfile::tempdir().unwrap();
        let key = WitnessKey::load_or_create(dir.path(), "w.example").unwrap();
        let again = WitnessKey::load_or_create(dir.path(), "other.name").unwrap();
        assert_eq!(key.verifier_key(), again.verifier_key());
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(dir.path().join(KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            WitnessKey::load(dir.path()),
            Err(Error::KeyFileMode { .. })
        ));
    }

    #[test]
    fn key_file_text_is_checked() {
        let key = WitnessKey::from_seed("w.example", [1; 32]).unwrap();
        let text = key.to_file_text();
        assert!(WitnessKey::from_file_text(&text).is_some());
        assert!(WitnessKey::from_file_text(&text.replace("w.example", "x.example")).is_none());
        assert!(WitnessKey::from_file_text("PRIVATE+KEY+w+00000000+AA==").is_none());
        assert!(WitnessKey::from_seed("bad name", [1; 32]).is_err());
    }
}
