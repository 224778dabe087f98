//! Bad input to the store gives a clear error and overwrites nothing:
//! truncated, corrupt or foreign files, wrong or missing keys, and stale
//! writers.

mod common;

use std::path::Path;

use common::store::*;
use session::act::{Act, ActKind};
use session::keys::DataKey;
use session::{ActId, DataDir, Error, Timestamp, TraceStore};

/// Digests of the files under `dir`. SQLite's shared-memory index and an
/// empty WAL are left out: opening a WAL database may create them, and they
/// hold no data.
fn fingerprint(dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("-shm"))
        .filter(|p| {
            std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false)
                || !p.to_string_lossy().ends_with("-wal")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let digest = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
            (p.display().to_string(), digest)
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A closed store with two acts, checkpointed into the main file.
fn closed_store() -> (tempfile::TempDir, DataDir) {
    let t = TestTrace::new();
    full_act(&t.store);
    full_act(&t.store);
    let (dir, data, _) = t.close();
    (dir, data)
}

/// Every way of opening fails with `check`, and the files stay as they were.
fn assert_refused(data: &DataDir, check: impl Fn(&Error) -> bool) {
    let before = fingerprint(data.root());
    let e = data.open_writer().map(|_| ()).unwrap_err();
    assert!(check(&e), "writer: {e}");
    let e = data.open_reader().and_then(|s| s.check_file()).unwrap_err();
    assert!(check(&e), "reader: {e}");
    assert_eq!(
        before,
        fingerprint(data.root()),
        "a refused open changed files"
    );
}

#[test]
fn truncated_database_is_refused_clearly() {
    let (_dir, data) = closed_store();
    let path = data.db_path();
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    assert_refused(&data, |e| e.to_string().contains("truncated"));
}

#[test]
fn corrupt_database_is_refused_clearly() {
    let (_dir, data) = closed_store();
    let path = data.db_path();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    // Scribble over everything after the first page, as a bad disk would.
    for b in bytes[4096..].iter_mut() {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(&data, |e| matches!(e, Error::NotATraceStore { .. }));
}

#[test]
fn foreign_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    std::fs::write(data.db_path(), "name,phone\n").unwrap();
    assert_refused(&data, |e| {
        e.to_string().contains("not an SQLite database") || e.to_string().contains("bytes long")
    });

    std::fs::write(data.db_path(), "").unwrap();
    assert_refused(&data, |e| e.to_string().contains("0 bytes long"));

    std::fs::remove_file(data.db_path()).unwrap();
    let c = rusqlite::Connection::open(data.db_path()).unwrap();
    c.execute_batch("CREATE TABLE patients (name TEXT); INSERT INTO patients VALUES ('x');")
        .unwrap();
    drop(c);
    assert_refused(&data, |e| {
        e.to_string().contains("without the trace tables")
    });
}

#[test]
fn wrong_data_key_is_refused_before_writing() {
    let (_dir, data) = closed_store();
    let key_file = data.key_dir().path().join("data.key");
    std::fs::remove_file(&key_file).unwrap();
    let other = DataKey::generate().unwrap();
    std::fs::write(&key_file, format!("{}\n", "ab".repeat(32))).unwrap();
    // A key file is only read when private to its owner.
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = fingerprint(data.root());
    let e = data.open_writer().map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::WrongDataKey { .. }), "{e}");
    assert!(e.to_string().contains("does not match"), "{e}");
    assert_eq!(before, fingerprint(data.root()));
    // Records cannot be opened with another key either.
    let store = data.open_reader().unwrap();
    let act = store.act_ids().unwrap()[0];
    let rec = &store.records(act).unwrap()[2];
    assert!(matches!(rec.open(&[other]), Err(Error::Unseal)));
    // Verification needs no data key, and still passes.
    drop(store);
    assert!(verify_dir(&data).is_intact());
}

#[test]
fn missing_keys_are_refused_and_never_regenerated() {
    let (_dir, data) = closed_store();
    let key = data.key_dir().path().join("signing.key");
    std::fs::rename(&key, key.with_extension("bak")).unwrap();
    let before = fingerprint(data.root());
    let e = data.open_writer().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("is missing"), "{e}");
    assert_eq!(before, fingerprint(data.root()));

    // Keys without their database: refuse rather than start a new trace.
    std::fs::rename(key.with_extension("bak"), &key).unwrap();
    std::fs::rename(data.db_path(), data.db_path().with_extension("moved")).unwrap();
    let e = data.open_writer().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("is missing"), "{e}");
    assert!(!data.db_path().exists());
}

#[test]
fn stale_writer_gets_a_conflict_and_writes_nothing() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    let len = t.store.records(a).unwrap().len() as u64;
    let (mut act, _) = Act::request(a, ActKind::Teleconsultation, true, Timestamp::now());
    let e = act
        .handle(session::Command::Prepare, Timestamp::now())
        .unwrap();
    let r = t.store.append(a, Some(len - 1), e);
    assert!(
        matches!(r, Err(Error::Conflict { expected, found }) if expected == len - 1 && found == len)
    );
    assert_eq!(t.store.records(a).unwrap().len() as u64, len);
    // A conflict in a batch does not hurt the other requests of the batch.
    let (other, first) = Act::request(
        ActId::random(),
        ActKind::Teleconsultation,
        true,
        Timestamp::now(),
    );
    t.store.append(other.id, Some(0), vec![first]).unwrap();
    assert!(t.verify().is_intact());
    // Appending nothing is refused.
    assert!(matches!(
        t.store.append(a, None, vec![]),
        Err(Error::InvalidInput(_))
    ));
}
