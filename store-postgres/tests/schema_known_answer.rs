//! docs/TRACE_POSTGRES.md's tables and columns are the database's: the
//! schema a writer creates, read back from the catalogue, is this list,
//! and the meta rows are the documented ones.

mod common;

use common::*;

const COLUMNS: &[(&str, &[&str])] = &[
    (
        "access_log",
        &[
            "seq",
            "at",
            "actor",
            "action",
            "act",
            "outcome",
            "prev_hash",
            "hash",
            "key_id",
            "signature",
        ],
    ),
    (
        "accounts",
        &[
            "id",
            "login",
            "role",
            "created_at",
            "disabled_at",
            "password",
            "secrets",
            "totp_step",
        ],
    ),
    (
        "checkpoints",
        &["no", "at", "prev", "heads", "key_id", "signature"],
    ),
    (
        "documents",
        &[
            "no",
            "act",
            "sha256",
            "media_type",
            "size",
            "sealed_name",
            "sealed",
        ],
    ),
    (
        "events",
        &[
            "id",
            "act",
            "seq",
            "at",
            "kind",
            "public",
            "sealed",
            "prev_hash",
            "hash",
        ],
    ),
    ("tlog_checkpoints", &["no", "size", "at", "note"]),
    ("tlog_hashes", &["id", "hash"]),
    ("tlog_leaves", &["idx", "kind", "item"]),
    ("trace_meta", &["key", "value"]),
];

#[test]
fn the_schema_is_the_documented_one() {
    let db = TestDb::new();
    let keys = Keys::new();
    drop(keys.writer(&db.url));
    let c = raw(&db.url);
    let rows = c.query(
        "SELECT table_name::text, array_agg(column_name::text ORDER BY ordinal_position)
         FROM information_schema.columns WHERE table_schema = 'public'
         GROUP BY table_name ORDER BY table_name",
        &[],
    );
    let found: Vec<(String, Vec<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: Vec<(String, Vec<String>)> = COLUMNS
        .iter()
        .map(|(t, cs)| (t.to_string(), cs.iter().map(|c| c.to_string()).collect()))
        .collect();
    assert_eq!(found, want);
    let doc = include_str!("../../docs/TRACE_POSTGRES.md");
    for (table, columns) in COLUMNS {
        assert!(doc.contains(&format!("`{table}")), "{table} undocumented");
        for column in *columns {
            assert!(
                doc.contains(&format!("`{column}")),
                "{table}.{column} undocumented"
            );
        }
    }
    let meta = c.query("SELECT key, value FROM trace_meta ORDER BY key", &[]);
    let keys_found: Vec<String> = meta.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        keys_found,
        ["created_at", "data_key_id", "format", "schema_version"]
    );
    let value = |k: &str| -> Vec<u8> {
        meta.iter()
            .find(|r| r.get::<_, &str>(0) == k)
            .unwrap()
            .get(1)
    };
    assert_eq!(value("format"), b"teleconsult-trace-postgres");
    assert_eq!(value("schema_version"), b"2");
    assert_eq!(value("data_key_id"), keys.data.id().0);
    // The fence is the documented constraint.
    let fence = c.query(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'events_act_seq'",
        &[],
    );
    assert_eq!(fence[0].get::<_, String>(0), "UNIQUE (act, seq)");
}

/// The documented privileges: the role keeps SELECT and INSERT on the
/// access log and the trace; on `accounts` it may UPDATE `role`,
/// `disabled_at` and `totp_step` only, and DELETE nothing.
#[test]
fn the_grants_are_the_documented_ones() {
    let db = TestDb::new();
    let keys = Keys::new();
    drop(keys.writer(&db.url));
    let c = raw(&db.url);
    let table_privileges = |table: &str| -> Vec<String> {
        c.query(
            "SELECT privilege_type::text FROM information_schema.role_table_grants
             WHERE table_schema = 'public' AND table_name = $1 AND grantee = current_user
             ORDER BY privilege_type",
            &[&table],
        )
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    for table in ["access_log", "accounts", "events", "tlog_leaves"] {
        assert_eq!(table_privileges(table), ["INSERT", "SELECT"], "{table}");
    }
    let updatable: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.column_privileges
             WHERE table_schema = 'public' AND table_name = 'accounts'
               AND grantee = current_user AND privilege_type = 'UPDATE'
             ORDER BY column_name",
            &[],
        )
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(updatable, ["disabled_at", "role", "totp_step"]);
    let doc = include_str!("../../docs/TRACE_POSTGRES.md");
    assert!(doc.contains("`UPDATE (role, disabled_at, totp_step)`"));
}
