//! How the access tables fail: named without the password, refused on a
//! database that is not a trace yet, closed with the store whose pool
//! they share.

mod common;

use common::*;
use session::access::AccessTables;
use store_postgres::PgAccessTables;

#[test]
fn the_description_names_the_server_never_the_password() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let password = db
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(creds, _)| creds.split_once(':'))
        .map(|(_, pw)| pw.to_string())
        .expect("the test URL has a password");
    let own = PgAccessTables::open(&db.url).expect("open");
    for described in [
        store.access_tables().describe(),
        own.describe(),
        format!("{own:?}"),
    ] {
        assert!(described.contains(&db.name), "{described}");
        assert!(!described.contains(&password), "{described}");
    }
}

#[test]
fn an_empty_database_is_refused_until_a_trace_writer_creates_it() {
    let db = TestDb::new();
    let e = PgAccessTables::open(&db.url).expect_err("an empty database");
    let text = e.to_string();
    assert!(text.contains("is not a teleconsult trace"), "{text}");
    assert!(text.contains(&db.name), "{text}");
}

#[test]
fn tables_on_a_closed_store_say_so() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let tables = store.access_tables();
    assert_eq!(tables.head().expect("head"), None);
    drop(store);
    match tables.head() {
        Err(session::Error::StoreClosed) => {}
        other => panic!("expected StoreClosed, got {other:?}"),
    }
}
