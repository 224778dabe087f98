//! Every connection of the store commits with `synchronous_commit = on`,
//! whatever the server's or the database's default.

mod common;

use common::*;
use session::TraceStore;

#[test]
fn appends_commit_synchronously_even_where_the_default_is_off() {
    let db = TestDb::new();
    raw(&db.url).batch(&format!(
        "ALTER DATABASE {} SET synchronous_commit = off",
        db.name
    ));
    assert_eq!(
        raw(&db.url).query("SHOW synchronous_commit", &[])[0].get::<_, String>(0),
        "off"
    );
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    assert_eq!(
        store.connection_setting("synchronous_commit").unwrap(),
        "on"
    );
    let a = full_act(&store);
    assert!(!store.records(a).unwrap().is_empty());
    assert_eq!(
        store.connection_setting("synchronous_commit").unwrap(),
        "on"
    );
}
