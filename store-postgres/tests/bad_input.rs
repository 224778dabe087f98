//! Bad input: a URL that is not one, a server that does not answer, a
//! wrong password, a database of a newer schema, a database that is not a
//! trace, a wrong data key, a reader on an empty database. Each is a clear
//! error naming PostgreSQL and the server, never the password.

mod common;

use common::*;
use store_postgres::{PgMode, PgStore, SCHEMA_VERSION};

fn open_err(url: &str, keys: &Keys) -> String {
    PgStore::open(
        url,
        PgMode::Write {
            signer: Box::new(keys.signer.clone()),
            data: keys.data.clone(),
        },
    )
    .expect_err("refused")
    .to_string()
}

#[test]
fn a_wrong_url_is_refused() {
    let e = open_err("postgres://u:secret@host:notaport/db", &Keys::new());
    assert!(e.contains("not a PostgreSQL URL"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn an_unreachable_server_is_named() {
    // Port 1: nothing listens there.
    let e = open_err(
        "postgres://teleconsult:secret@127.0.0.1:1/trace",
        &Keys::new(),
    );
    assert!(e.contains("PostgreSQL at 127.0.0.1:1/trace"), "{e}");
    assert!(e.contains("onnection refused"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn a_wrong_password_is_named() {
    let db = TestDb::new();
    let url = db.url.replacen("teleconsult:", "teleconsult:wrong-", 1);
    let e = open_err(&url, &Keys::new());
    assert!(e.contains("PostgreSQL at 127.0.0.1:"), "{e}");
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong-"), "{e}");
}

#[test]
fn a_newer_schema_is_refused() {
    let db = TestDb::new();
    let keys = Keys::new();
    drop(keys.writer(&db.url));
    // A later program moved the schema on (meta is not evidence: the owner
    // may update it).
    raw(&db.url).batch(&format!(
        "UPDATE trace_meta SET value = convert_to('{}', 'UTF8') WHERE key = 'schema_version'",
        SCHEMA_VERSION + 1
    ));
    let e = open_err(&db.url, &keys);
    assert!(
        e.contains(&format!("schema version {}", SCHEMA_VERSION + 1)) && e.contains("upgrade"),
        "{e}"
    );
    let e = PgStore::open(&db.url, PgMode::Read)
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema version"), "{e}");
}

#[test]
fn a_foreign_database_a_wrong_key_and_an_empty_reader_are_refused() {
    let db = TestDb::new();
    let e = PgStore::open(&db.url, PgMode::Read)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no trace tables"), "{e}");
    let keys = Keys::new();
    drop(keys.writer(&db.url));
    let e = open_err(&db.url, &Keys::new());
    assert!(e.contains("data key does not match"), "{e}");

    let other = TestDb::new();
    raw(&other.url).batch("CREATE TABLE trace_meta (key text PRIMARY KEY, value bytea NOT NULL)");
    let e = open_err(&other.url, &keys);
    assert!(e.contains("not a teleconsult trace"), "{e}");
}

#[test]
fn appending_to_a_database_gone_fails_naming_the_server() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    // The database goes away under the store.
    db.drop_now().expect("drop the database");
    let e = session::TraceStore::append(&store, a, None, vec![filler(1)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("PostgreSQL at 127.0.0.1:"), "{e}");
}
