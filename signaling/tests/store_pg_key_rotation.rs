//! `keys rotate data` on a PostgreSQL store: the new key is recorded in
//! the database's `trace_meta` (as SQLite records it in `meta`), what the
//! old key sealed still reads, and new acts are sealed with the new one.

mod common;

use common::postgres::PgDb;
use common::*;

#[test]
fn the_data_key_rotates_on_postgres() {
    let cli = Cli::new();
    let db = PgDb::new();
    let store = db.url.as_str();
    let create = |patient: &str| cli.create_teleconsultation_with(patient, &["--store", store]);
    let before = create(PATIENT);
    let before = before["id"].as_str().expect("id").to_string();
    let data = session::DataDir::new(cli.data());
    let old = data.key_dir().data_key().expect("key").id().to_string();
    let recorded =
        || db.sql("SELECT encode(value, 'hex') FROM trace_meta WHERE key = 'data_key_id'");
    assert_eq!(recorded(), std::slice::from_ref(&old));

    let out = cli.ok(&["--store", store, "keys", "rotate", "data"]);
    assert!(out.contains("rotated"), "{out}");
    let new = data.key_dir().data_key().expect("key").id().to_string();
    assert_ne!(new, old);
    assert_eq!(
        recorded(),
        std::slice::from_ref(&new),
        "the database records the new key"
    );

    // What the old key sealed still reads; new acts use the new key.
    let shown = cli.ok(&["--store", store, "trace", "show", &before]);
    assert!(shown.contains(PATIENT), "{shown}");
    let after: serde_json::Value = create("dossier-fictif-0043");
    let after = after["id"].as_str().expect("id").to_string();
    let shown = cli.ok(&["--store", store, "trace", "show", &after]);
    assert!(shown.contains("dossier-fictif-0043"), "{shown}");
    let verified = cli.ok(&["--store", store, "trace", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}
