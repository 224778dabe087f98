//! The schema: `migrations/0001_trace.sql` (the trace) and
//! `migrations/0002_access.sql` (accounts and the access log), applied at
//! open in one transaction under an advisory lock (two nodes opening a new
//! database at once apply them once), and the `trace_meta` rows that say
//! what the database is.

use deadpool_postgres::Object;
use session::keys::DataKey;
use session::timestamp::Timestamp;

use crate::Error;
use crate::server::Server;

/// What `trace_meta.format` holds.
pub const FORMAT: &str = "teleconsult-trace-postgres";
/// The schema version this program writes and reads.
pub const SCHEMA_VERSION: i64 = 2;
/// The migrations, in version order: `MIGRATIONS[v - 1]` brings a
/// database from version `v - 1` to `v`.
pub const MIGRATIONS: [&str; 2] = [
    include_str!("../migrations/0001_trace.sql"),
    include_str!("../migrations/0002_access.sql"),
];
/// The advisory lock key held while the schema is checked or migrated
/// (`'tcmig'` in ASCII).
pub const MIGRATION_LOCK: i64 = 0x0074_636d_6967;

/// What an opening may do to the schema.
#[derive(Clone, Copy, Debug)]
pub enum Prepare<'a> {
    /// A trace writer: creates the schema in an empty database, migrates an
    /// older one, and checks `data` is the trace's data key.
    Write(&'a DataKey),
    /// The access tables' writer: migrates an existing trace database to
    /// this version; an empty database is refused (a trace writer creates
    /// it, with its data key).
    Migrate,
    /// A reader: changes nothing; reads a database of any known version
    /// (an older one has no access log: it reads as empty).
    Read,
}

/// Checks the database is a trace of a known schema (creating or
/// migrating it as `mode` allows) and, for a trace writer, that its data
/// key is the trace's.
pub async fn prepare(
    server: &Server,
    client: &mut Object,
    mode: Prepare<'_>,
) -> Result<(), session::Error> {
    let data = match mode {
        Prepare::Write(data) => Some(data),
        Prepare::Migrate | Prepare::Read => None,
    };
    let q = |e| server.query(e);
    let tx = client.transaction().await.map_err(q)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(q)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('trace_meta') IS NOT NULL", &[])
        .await
        .map_err(q)?
        .get(0);
    let mut version: i64 = 0;
    if exists {
        let rows = tx
            .query("SELECT key, value FROM trace_meta", &[])
            .await
            .map_err(q)?;
        let get = |k: &str| {
            rows.iter()
                .find(|r| r.get::<_, &str>(0) == k)
                .map(|r| r.get::<_, Vec<u8>>(1))
        };
        if get("format").as_deref() != Some(FORMAT.as_bytes()) {
            return Err(server
                .not_a_trace("its format marker is missing or foreign")
                .into());
        }
        version = get("schema_version")
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| server.not_a_trace("its schema version is unreadable"))?;
        if version > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                server: server.to_string(),
                found: version,
                known: SCHEMA_VERSION,
            }
            .into());
        }
        if let (Some(data), Some(id)) = (data, get("data_key_id"))
            && id.as_slice() != data.id().0
        {
            return Err(session::Error::WrongDataKey {
                expected: id.iter().map(|b| format!("{b:02x}")).collect(),
                given: data.id().to_string(),
            });
        }
    }
    if version == 0 && data.is_none() {
        return Err(server
            .not_a_trace("it has no trace tables yet (a trace writer creates them)")
            .into());
    }
    if version < SCHEMA_VERSION && !matches!(mode, Prepare::Read) {
        for migration in &MIGRATIONS[version as usize..] {
            tx.batch_execute(migration).await.map_err(q)?;
        }
        if let (0, Some(data)) = (version, data) {
            tx.execute(
                "INSERT INTO trace_meta (key, value) VALUES ('format', $1), ('data_key_id', $2), ('created_at', $3)",
                &[
                    &FORMAT.as_bytes(),
                    &data.id().0.as_slice(),
                    &Timestamp::now().as_micros().to_string().as_bytes(),
                ],
            )
            .await
            .map_err(q)?;
        }
        tx.execute(
            "INSERT INTO trace_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&SCHEMA_VERSION.to_string().as_bytes()],
        )
        .await
        .map_err(q)?;
    }
    tx.commit().await.map_err(q)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration holds what the store's guarantees rest on.
    #[test]
    fn the_first_migration_fences_and_forbids_changes() {
        let sql = MIGRATIONS[0];
        assert!(sql.contains("CONSTRAINT events_act_seq UNIQUE (act, seq)"));
        for table in [
            "events",
            "checkpoints",
            "documents",
            "tlog_leaves",
            "tlog_hashes",
            "tlog_checkpoints",
        ] {
            assert!(
                sql.contains(&format!(
                    "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                )),
                "{table}"
            );
            assert!(
                sql.contains(&format!(
                    "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                )),
                "{table}"
            );
        }
        assert!(sql.contains("GRANT SELECT, INSERT ON events, checkpoints, documents, tlog_leaves, tlog_hashes, tlog_checkpoints TO CURRENT_USER;"));
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }

    /// The access log is append-only by triggers and grants, the accounts
    /// changeable in their three mutable columns only.
    #[test]
    fn the_second_migration_keeps_the_access_log_append_only() {
        let sql = MIGRATIONS[1];
        assert!(sql.contains(
            "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log"
        ));
        assert!(
            sql.contains("CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log")
        );
        assert!(sql.contains("REVOKE ALL ON accounts, access_log FROM CURRENT_USER;"));
        assert!(sql.contains("GRANT SELECT, INSERT ON accounts, access_log TO CURRENT_USER;"));
        assert!(
            sql.contains(
                "GRANT UPDATE (role, disabled_at, totp_step) ON accounts TO CURRENT_USER;"
            )
        );
        assert!(!sql.contains("GRANT UPDATE ON") && !sql.contains("GRANT DELETE"));
    }
}
