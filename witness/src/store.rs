//! The witness's durable state: one file per log, `DATA/checkpoints/<hex
//! SHA-256 of the origin>`, holding the latest cosigned checkpoint note
//! (the log's signatures and the witness's cosignature), byte for byte what
//! `GET /<origin hash>/checkpoint` serves. Each file is replaced atomically:
//! written to a temporary file, fsynced, renamed over, and the directory
//! fsynced, before the witness answers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// The directory of checkpoint files inside the data directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// The lowercase hex SHA-256 of a log origin: its file name, and the path
/// segment of `GET /<origin hash>/checkpoint`.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The checkpoint files of a data directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `data_dir/checkpoints`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let dir = data_dir.join(CHECKPOINTS_DIR);
        fs::create_dir_all(&dir).map_err(|source| io(&dir, source))?;
        Ok(Store { dir })
    }

    /// Every stored file: (path, file name, contents). Temporary files of an
    /// interrupted write (`.*.tmp`) are skipped.
    pub fn load(&self) -> Result<Vec<(PathBuf, String, Vec<u8>)>, Error> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|source| io(&self.dir, source))? {
            let entry = entry.map_err(|source| io(&self.dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let bytes = fs::read(&path).map_err(|source| io(&path, source))?;
            files.push((path, name, bytes));
        }
        files.sort();
        Ok(files)
    }

    /// Durably replaces the checkpoint held for `origin`.
    pub fn save(&self, origin: &str, note: &[u8]) -> Result<(), Error> {
        let name = origin_hash(origin);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = fs::File::create(&tmp).map_err(|source| io(&tmp, source))?;
        file.write_all(note)
            .and_then(|()| file.sync_all())
            .map_err(|source| io(&tmp, source))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|source| io(&path, source))?;
        sync_dir(&self.dir)
    }
}

/// fsyncs a directory, so that a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io(dir, source))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_hash_is_lowercase_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            origin_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn save_replaces_and_load_skips_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.save("o", b"one").unwrap();
        store.save("o", b"two").unwrap();
        fs::write(dir.path().join("checkpoints/.x.tmp"), b"junk").unwrap();
        let files = store.load().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].1.as_str(), &files[0].2[..]),
            (&origin_hash("o")[..], &b"two"[..])
        );
    }
}
