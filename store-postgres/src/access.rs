//! [`PgAccessTables`]: the access store's tables
//! ([`session::access::AccessTables`]) on PostgreSQL, beside the trace.
//!
//! `accounts` and `access_log` (`migrations/0002_access.sql`, documented
//! field by field in `docs/TRACE_POSTGRES.md`) hold the same fields, with
//! the same meaning, as the SQLite format `teleconsult-access/1`. The
//! access log is append-only by triggers and grants; the accounts can be
//! updated in `role`, `disabled_at` and `totp_step` only.
//!
//! An append takes the tree lock ([`crate::TREE_LOCK`]) that the trace's
//! group-commit writer takes, then checks the head, inserts the entry and
//! its Merkle leaf (kind access, item `seq`) and commits: the check and
//! the insert are one step across nodes, and the access entries' leaves
//! sit in commit order among the trace's. The primary key on `seq` is the
//! fence should anything write around the lock.

use deadpool_postgres::Pool;
use session::access::{
    AccessEntry, AccessTables, AccountRole, AccountRow, Append, EntryMatch, NewAccountRow,
    access_genesis,
};
use session::ids::ActId;
use session::keys::KeyId;
use session::timestamp::Timestamp;
use session::tlog::LeafKind;
use session::trace::Hash;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::server::Server;
use crate::{Connection, Error, run_on, schema, tree};

/// An owned statement parameter, sent to the store's runtime.
type Param = Box<dyn ToSql + Send + Sync>;

/// The columns an entry is read from, in [`entry_of`]'s order.
const ENTRY_COLUMNS: &str =
    "seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature";

/// The columns an account row is read from, in [`account_of`]'s order.
const ACCOUNT_COLUMNS: &str =
    "id, login, role, created_at, disabled_at, password, secrets, totp_step";

/// Where the tables' statements run.
enum Runtime {
    /// A runtime of their own ([`PgAccessTables::open`]), shut down with them.
    Own(Option<tokio::runtime::Runtime>),
    /// A [`crate::PgStore`]'s ([`crate::PgStore::access_tables`]); `None`
    /// when that store had already closed.
    Shared(Option<tokio::runtime::Handle>),
}

/// Professional accounts and the access log in a PostgreSQL trace
/// database. Open one with [`PgAccessTables::open`] (a pool of its own)
/// or [`crate::PgStore::access_tables`] (the trace store's pool).
pub struct PgAccessTables {
    server: Server,
    pool: Pool,
    runtime: Runtime,
}

impl std::fmt::Debug for PgAccessTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgAccessTables({})", self.describe())
    }
}

impl PgAccessTables {
    /// Connects to the trace database at `url`
    /// (`postgres://USER:PASSWORD@HOST:PORT/DB`) with a pool and runtime
    /// of its own, and brings its schema to the current version (the
    /// access tables, under the migration lock). The database must
    /// already be a trace: a [`crate::PgStore`] writer creates it, with
    /// its data key. Fails with [`Error::Connect`] (as a
    /// [`session::Error::ExternalStore`]) when the server does not answer.
    pub fn open(url: &str) -> Result<PgAccessTables, session::Error> {
        let Connection {
            server,
            pool,
            runtime,
        } = Connection::open(url)?;
        {
            let (pool, server) = (pool.clone(), server.clone());
            run_on(runtime.handle(), async move {
                let mut client = pool.get().await.map_err(|e| server.pool(e))?;
                schema::prepare(&server, &mut client, schema::Prepare::Migrate).await
            })?;
        }
        Ok(PgAccessTables {
            server,
            pool,
            runtime: Runtime::Own(Some(runtime)),
        })
    }

    /// Tables on a trace store's pool and runtime.
    pub(crate) fn shared(
        server: Server,
        pool: Pool,
        runtime: Option<tokio::runtime::Handle>,
    ) -> PgAccessTables {
        PgAccessTables {
            server,
            pool,
            runtime: Runtime::Shared(runtime),
        }
    }

    /// Runs `fut` on the tables' runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, session::Error>> + Send + 'static,
    ) -> Result<T, session::Error> {
        let handle = match &self.runtime {
            Runtime::Own(rt) => rt.as_ref().map(|rt| rt.handle()),
            Runtime::Shared(h) => h.as_ref(),
        };
        run_on(handle.ok_or(session::Error::StoreClosed)?, fut)
    }

    /// Runs one statement on a pooled connection and returns its rows.
    /// With `missing_is_empty`, a table that does not exist (an older
    /// database read through a read-only store) gives no row.
    fn query(
        &self,
        sql: String,
        params: Vec<Param>,
        missing_is_empty: bool,
    ) -> Result<Vec<Row>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            match client.query(&sql, &refs).await {
                Ok(rows) => Ok(rows),
                Err(e) if missing_is_empty && e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
                    Ok(Vec::new())
                }
                Err(e) => Err(server.query(e).into()),
            }
        })
    }

    /// The entries `clause` (after `FROM access_log`) picks.
    fn entries_where(
        &self,
        clause: &str,
        params: Vec<Param>,
    ) -> Result<Vec<AccessEntry>, session::Error> {
        self.query(
            format!("SELECT {ENTRY_COLUMNS} FROM access_log {clause}"),
            params,
            true,
        )?
        .iter()
        .map(entry_of)
        .collect()
    }

    fn accounts_where(
        &self,
        clause: &str,
        params: Vec<Param>,
    ) -> Result<Vec<AccountRow>, session::Error> {
        self.query(
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts {clause}"),
            params,
            false,
        )?
        .iter()
        .map(account_of)
        .collect()
    }
}

impl Drop for PgAccessTables {
    fn drop(&mut self) {
        if let Runtime::Own(rt) = &mut self.runtime
            && let Some(rt) = rt.take()
        {
            rt.shutdown_background();
        }
    }
}

/// An `access_log` row as an entry; a field of the wrong size is an error,
/// not a skipped row.
fn entry_of(r: &Row) -> Result<AccessEntry, session::Error> {
    let bad = |what: &str| session::Error::InvalidTrace(format!("access log: {what}"));
    let get = |i: usize| -> Result<Vec<u8>, session::Error> {
        r.try_get(i).map_err(|_| bad("an unreadable column"))
    };
    let act = get(4)?;
    Ok(AccessEntry {
        seq: u64::try_from(r.get::<_, i64>(0)).map_err(|_| bad("a negative seq"))?,
        at: Timestamp::from_micros(r.get(1)),
        actor: r.get(2),
        action: r.get(3),
        act: match act.len() {
            0 => None,
            _ => Some(ActId::from_bytes(
                act.try_into()
                    .map_err(|_| bad("an act id is not 16 bytes"))?,
            )),
        },
        outcome: r.get(5),
        prev_hash: get(6)?.try_into().map_err(|_| bad("prev hash"))?,
        hash: get(7)?.try_into().map_err(|_| bad("hash"))?,
        key_id: KeyId(get(8)?.try_into().map_err(|_| bad("key id"))?),
        signature: get(9)?.try_into().map_err(|_| bad("signature"))?,
    })
}

fn account_of(r: &Row) -> Result<AccountRow, session::Error> {
    Ok(AccountRow {
        id: r.get(0),
        login: r.get(1),
        role: r.get(2),
        created_at: Timestamp::from_micros(r.get(3)),
        disabled_at: r.get::<_, Option<i64>>(4).map(Timestamp::from_micros),
        password_hash: r.get(5),
        sealed: r.get(6),
        totp_step: u64::try_from(r.get::<_, i64>(7)).unwrap_or(0),
    })
}

/// The newest entry's seq and hash, from a `SELECT seq, hash` row.
fn head_of(r: &Row) -> Result<(u64, Hash), session::Error> {
    let hash: Vec<u8> = r.get(1);
    let hash: Hash = hash
        .try_into()
        .map_err(|_| session::Error::InvalidTrace("an access log hash is not 32 bytes".into()))?;
    Ok((r.get::<_, i64>(0) as u64, hash))
}

const HEAD: &str = "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1";

impl AccessTables for PgAccessTables {
    /// `postgres://HOST:PORT/DB`: never the user's password.
    fn describe(&self) -> String {
        format!("postgres://{}", self.server)
    }

    fn insert_account(&self, new: &NewAccountRow) -> Result<Option<i64>, session::Error> {
        let rows = self.query(
            "INSERT INTO accounts (login, role, created_at, password, secrets)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login) DO NOTHING RETURNING id"
                .into(),
            vec![
                Box::new(new.login.clone()),
                Box::new(new.role.as_str().to_string()),
                Box::new(new.created_at.as_micros()),
                Box::new(new.password_hash.clone()),
                Box::new(new.sealed.clone()),
            ],
            false,
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn account(&self, login: &str) -> Result<Option<AccountRow>, session::Error> {
        Ok(self
            .accounts_where("WHERE login = $1", vec![Box::new(login.to_string())])?
            .pop())
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, session::Error> {
        self.accounts_where("ORDER BY id", Vec::new())
    }

    fn is_enabled(&self, id: i64) -> Result<bool, session::Error> {
        let rows = self.query(
            "SELECT disabled_at IS NULL FROM accounts WHERE id = $1".into(),
            vec![Box::new(id)],
            false,
        )?;
        Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
    }

    fn set_role(&self, id: i64, role: AccountRole) -> Result<(), session::Error> {
        self.query(
            "UPDATE accounts SET role = $2 WHERE id = $1".into(),
            vec![Box::new(id), Box::new(role.as_str().to_string())],
            false,
        )?;
        Ok(())
    }

    fn set_disabled(
        &self,
        login: &str,
        disabled_at: Option<Timestamp>,
    ) -> Result<bool, session::Error> {
        let login: Param = Box::new(login.to_string());
        let rows = match disabled_at {
            Some(at) => self.query(
                "UPDATE accounts SET disabled_at = $2 WHERE login = $1 AND disabled_at IS NULL RETURNING id"
                    .into(),
                vec![login, Box::new(at.as_micros())],
                false,
            )?,
            None => self.query(
                "UPDATE accounts SET disabled_at = NULL WHERE login = $1 AND disabled_at IS NOT NULL RETURNING id"
                    .into(),
                vec![login],
                false,
            )?,
        };
        Ok(rows.len() == 1)
    }

    fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, session::Error> {
        let step =
            i64::try_from(step).map_err(|_| session::Error::InvalidInput("TOTP step".into()))?;
        let rows = self.query(
            "UPDATE accounts SET totp_step = $2 WHERE id = $1 AND totp_step < $2 RETURNING id"
                .into(),
            vec![Box::new(id), Box::new(step)],
            false,
        )?;
        Ok(rows.len() == 1)
    }

    fn head(&self) -> Result<Option<(u64, Hash)>, session::Error> {
        self.query(HEAD.into(), Vec::new(), true)?
            .first()
            .map(head_of)
            .transpose()
    }

    fn append(&self, entry: &AccessEntry) -> Result<Append, session::Error> {
        let seq = i64::try_from(entry.seq)
            .map_err(|_| session::Error::InvalidInput("an access log seq beyond i64".into()))?;
        let entry = entry.clone();
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let q = |e| server.query(e);
            let mut client = pool.get().await.map_err(|e| server.pool(e))?;
            let tx = client.transaction().await.map_err(q)?;
            // The tree lock first, as the trace's writer takes it: the
            // reads below see every commit before ours (READ COMMITTED),
            // and our leaf follows theirs.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&tree::TREE_LOCK])
                .await
                .map_err(q)?;
            let head = tx.query_opt(HEAD, &[]).await.map_err(q)?;
            let extends = match head.as_ref().map(head_of).transpose()? {
                Some((last, hash)) => entry.seq == last + 1 && entry.prev_hash == hash,
                None => entry.seq == 1 && entry.prev_hash == access_genesis(),
            };
            if !extends {
                tx.rollback().await.map_err(q)?;
                return Ok(Append::Stale);
            }
            let start = tree::size(&*tx).await.map_err(q)?;
            let leaves = tree::leaves_for(&*tx, start, LeafKind::Access, &[(seq, entry.hash)])
                .await
                .map_err(q)?
                .map_err(Error::Tree)?;
            let act = entry.act.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
            let (prev, hash) = (entry.prev_hash.to_vec(), entry.hash.to_vec());
            let (key_id, signature) = (entry.key_id.0.to_vec(), entry.signature.to_vec());
            let at = entry.at.as_micros();
            let entry_p: [&(dyn ToSql + Sync); 10] = [
                &seq,
                &at,
                &entry.actor,
                &entry.action,
                &act,
                &entry.outcome,
                &prev,
                &hash,
                &key_id,
                &signature,
            ];
            let leaf_p: [&(dyn ToSql + Sync); 3] =
                [&leaves.leaf_idx, &leaves.leaf_kind, &leaves.leaf_item];
            let hash_p: [&(dyn ToSql + Sync); 2] = [&leaves.hash_id, &leaves.hash];
            let inserted = futures_util::try_join!(
                tx.execute(
                    "INSERT INTO access_log (seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &entry_p,
                ),
                tx.execute(
                    "INSERT INTO tlog_leaves (idx, kind, item) SELECT * FROM unnest($1::int8[], $2::int2[], $3::int8[])",
                    &leaf_p,
                ),
                tx.execute(
                    "INSERT INTO tlog_hashes (id, hash) SELECT * FROM unnest($1::int8[], $2::bytea[])",
                    &hash_p,
                ),
            );
            match inserted {
                Ok(_) => {}
                // The fence: an entry `seq` written around the lock.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Ok(Append::Stale);
                }
                Err(e) => return Err(q(e).into()),
            }
            tx.commit().await.map_err(q)?;
            Ok(Append::Written)
        })
    }

    fn entries(&self) -> Result<Vec<AccessEntry>, session::Error> {
        self.entries_where("ORDER BY seq", Vec::new())
    }

    fn entry(&self, seq: u64) -> Result<Option<AccessEntry>, session::Error> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        Ok(self
            .entries_where("WHERE seq = $1", vec![Box::new(seq)])?
            .pop())
    }

    fn newest(&self) -> Result<Option<AccessEntry>, session::Error> {
        Ok(self
            .entries_where("ORDER BY seq DESC LIMIT 1", Vec::new())?
            .pop())
    }

    fn entries_with_outcome(&self, outcome: &str) -> Result<Vec<AccessEntry>, session::Error> {
        self.entries_where(
            "WHERE outcome = $1 ORDER BY seq",
            vec![Box::new(outcome.to_string())],
        )
    }

    fn first_matching(
        &self,
        filter: &EntryMatch<'_>,
    ) -> Result<Option<AccessEntry>, session::Error> {
        if filter.actors.is_empty()
            && filter.actions.is_empty()
            && filter.action_prefixes.is_empty()
        {
            return Ok(None);
        }
        let owned = |v: &[&str]| -> Param {
            Box::new(v.iter().map(|s| s.to_string()).collect::<Vec<String>>())
        };
        // `starts_with` under the database's deterministic collation
        // compares bytes, case-sensitively, with no wildcard to escape.
        Ok(self
            .entries_where(
                "WHERE actor = ANY($1) OR action = ANY($2)
                    OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS p(prefix) WHERE starts_with(action, p.prefix))
                 ORDER BY seq LIMIT 1",
                vec![
                    owned(filter.actors),
                    owned(filter.actions),
                    owned(filter.action_prefixes),
                ],
            )?
            .pop())
    }

    fn count_from(&self, from: u64) -> Result<(u64, Option<u64>), session::Error> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT COUNT(*), MAX(seq) FROM access_log WHERE seq >= $1".into(),
            vec![Box::new(from)],
            true,
        )?;
        Ok(rows.first().map_or((0, None), |r| {
            (
                r.get::<_, i64>(0) as u64,
                r.get::<_, Option<i64>>(1).map(|m| m as u64),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that does not answer is said plainly, naming it, never
    /// with the password.
    #[test]
    fn a_server_down_is_a_clear_error_without_the_password() {
        // Port 1 on loopback: nothing listens there.
        let e = PgAccessTables::open("postgres://tc:s3cret@127.0.0.1:1/trace")
            .expect_err("nothing listens on port 1");
        let text = e.to_string();
        assert!(
            text.contains("cannot connect to PostgreSQL at 127.0.0.1:1/trace"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
}
