//! Importing a trace's rows as stored ([`StoreDump`], read from the
//! embedded store), for `teleconsult store migrate`: into an empty
//! database, in one transaction under the tree lock, so that a failure
//! leaves the database as empty as it was and no writer interleaves.
//! The rows keep their ids, hashes and signatures; the identity columns
//! (`accounts.id`, `tlog_checkpoints.no`) take the stored values and
//! their sequences continue after them.

use session::store::dump::StoreDump;

use crate::error::Error;
use crate::server::Server;
use crate::tree::TREE_LOCK;

/// The tables an import fills, checked empty first.
const TABLES: [&str; 8] = [
    "events",
    "checkpoints",
    "documents",
    "tlog_leaves",
    "tlog_hashes",
    "tlog_checkpoints",
    "accounts",
    "access_log",
];

/// Copies `dump` into the (empty) trace database behind `client`.
pub(crate) async fn import(
    server: &Server,
    client: &mut deadpool_postgres::Object,
    dump: &StoreDump,
) -> Result<(), session::Error> {
    let q = |e| server.query(e);
    let tx = client.transaction().await.map_err(q)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&TREE_LOCK])
        .await
        .map_err(q)?;
    for table in TABLES {
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(q)?
            .get(0);
        if rows > 0 {
            return Err(Error::NotEmpty {
                server: server.to_string(),
                table,
                rows,
            }
            .into());
        }
    }
    let recorded: Vec<u8> = tx
        .query_one(
            "SELECT value FROM trace_meta WHERE key = 'data_key_id'",
            &[],
        )
        .await
        .map_err(q)?
        .get(0);
    if recorded != dump.data_key_id {
        return Err(Error::ImportDataKey {
            server: server.to_string(),
            source_key: hex(&dump.data_key_id),
            destination_key: hex(&recorded),
        }
        .into());
    }
    let stmt = tx
        .prepare(
            "INSERT INTO events (id, act, seq, at, kind, public, sealed, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await
        .map_err(q)?;
    for e in &dump.events {
        tx.execute(
            &stmt,
            &[
                &e.id,
                &e.act,
                &e.seq,
                &e.at,
                &e.kind,
                &e.public,
                &e.sealed,
                &e.prev_hash,
                &e.hash,
            ],
        )
        .await
        .map_err(q)?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO checkpoints (no, at, prev, heads, key_id, signature)
         VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(q)?;
    for c in &dump.checkpoints {
        tx.execute(
            &stmt,
            &[&c.no, &c.at, &c.prev, &c.heads, &c.key_id, &c.signature],
        )
        .await
        .map_err(q)?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO documents (act, sha256, media_type, size, sealed_name, sealed)
         VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(q)?;
    for d in &dump.documents {
        tx.execute(
            &stmt,
            &[
                &d.act,
                &d.sha256,
                &d.media_type,
                &d.size,
                &d.sealed_name,
                &d.sealed,
            ],
        )
        .await
        .map_err(q)?;
    }
    let stmt = tx
        .prepare("INSERT INTO tlog_leaves (idx, kind, item) VALUES ($1, $2::int8::int2, $3)")
        .await
        .map_err(q)?;
    for l in &dump.tree_leaves {
        tx.execute(&stmt, &[&l.idx, &l.kind, &l.item])
            .await
            .map_err(q)?;
    }
    let stmt = tx
        .prepare("INSERT INTO tlog_hashes (id, hash) VALUES ($1, $2)")
        .await
        .map_err(q)?;
    for (id, hash) in &dump.tree_hashes {
        tx.execute(&stmt, &[id, hash]).await.map_err(q)?;
    }
    let stmt = tx
        .prepare(
            "INSERT INTO tlog_checkpoints (no, size, at, note) OVERRIDING SYSTEM VALUE
         VALUES ($1, $2, $3, $4)",
        )
        .await
        .map_err(q)?;
    for c in &dump.tree_checkpoints {
        tx.execute(&stmt, &[&c.no, &c.size, &c.at, &c.note])
            .await
            .map_err(q)?;
    }
    let stmt = tx.prepare(
        "INSERT INTO accounts (id, login, role, created_at, disabled_at, password, secrets, totp_step)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .await
    .map_err(q)?;
    for a in &dump.accounts {
        tx.execute(
            &stmt,
            &[
                &a.id,
                &a.login,
                &a.role,
                &a.created_at,
                &a.disabled_at,
                &a.password,
                &a.secrets,
                &a.totp_step,
            ],
        )
        .await
        .map_err(q)?;
    }
    let stmt = tx.prepare(
        "INSERT INTO access_log (seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .await
    .map_err(q)?;
    for a in &dump.access_log {
        tx.execute(
            &stmt,
            &[
                &a.seq,
                &a.at,
                &a.actor,
                &a.action,
                &a.act,
                &a.outcome,
                &a.prev_hash,
                &a.hash,
                &a.key_id,
                &a.signature,
            ],
        )
        .await
        .map_err(q)?;
    }
    // The identity columns continue after the imported values.
    for (table, column) in [("accounts", "id"), ("tlog_checkpoints", "no")] {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                    COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {table}"
            ),
            &[],
        )
        .await
        .map_err(q)?;
    }
    if let Some(created) = dump.created_at {
        tx.execute(
            "UPDATE trace_meta SET value = $1 WHERE key = 'created_at'",
            &[&created.to_string().as_bytes()],
        )
        .await
        .map_err(q)?;
    }
    tx.commit().await.map_err(q)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
