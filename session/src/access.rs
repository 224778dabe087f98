//! Who may read the trace, and the record of who did: professional
//! accounts and the access log, kept in the trace store's SQLite file
//! beside (not inside) the act trace.
//!
//! Tables (format `teleconsult-access/1`, created on first use; see
//! `docs/TRACE_FORMAT.md`):
//!
//! `accounts`: one row per account. `id`; `login` (the sign-in name, in
//! clear, unique); `role` (`professional` or `administrator`); `created_at`
//! (µs); `disabled_at` (µs, NULL while enabled); `password` (an argon2 PHC
//! string: salted and slow, never the password); `secrets` (a sealed blob,
//! see [`crate::trace::seal::seal_bytes`], holding the name, RPPS number and
//! TOTP secret, bound to the login); `totp_step` (the last TOTP time step
//! accepted, so a code works once).
//!
//! `access_log`: one row per read, export or sign-in attempt, hash-chained
//! and each signed with the trace's signing key. `seq` (1, 2, 3...), `at`
//! (µs), `actor` (`account:ID`, `operator`, `cli:USER`, `unknown`: never a
//! name), `action`, `act` (16-byte act id, or empty), `outcome`,
//! `prev_hash`, `hash` (see [`entry_hash`]), `key_id`, `signature`
//! (Ed25519 over `hash`). Triggers refuse UPDATE and DELETE. Each entry
//! is also a leaf of the Merkle tree ([`crate::tlog`]), appended in the
//! entry's transaction.
//!
//! The access log holds no personal data: actors are account numbers, and
//! the account table's personal fields are sealed.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::ids::{ActId, Rpps};
use crate::keys::{DataKey, HeadSigner, KeyId, TrustedKeys};
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::trace::Hash;
use crate::trace::seal::{open_bytes, seal_bytes};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    password TEXT NOT NULL,
    secrets BLOB NOT NULL,
    totp_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    act BLOB NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    key_id BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_outcome ON access_log (outcome);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
";

/// What an account may do beyond its own acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// Reads and exports the acts they take part in (by RPPS).
    Professional,
    /// May also read every act's trace.
    Administrator,
}

impl AccountRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Professional => "professional",
            AccountRole::Administrator => "administrator",
        }
    }

    fn parse(s: &str) -> Option<AccountRole> {
        match s {
            "professional" => Some(AccountRole::Professional),
            "administrator" => Some(AccountRole::Administrator),
            _ => None,
        }
    }
}

/// An account's sealed part.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccountSecrets {
    pub name: Pii<String>,
    /// Absent for an administrator who is not a practising professional.
    pub rpps: Option<Pii<Rpps>>,
    /// The TOTP shared secret (raw bytes).
    pub totp_secret: Pii<Vec<u8>>,
}

impl std::fmt::Debug for AccountSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountSecrets(<redacted>)")
    }
}

/// One account as stored, its secrets opened.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub role: AccountRole,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    /// The argon2 PHC string.
    pub password_hash: String,
    pub secrets: AccountSecrets,
    pub totp_step: u64,
}

/// What a new account holds.
#[derive(Debug)]
pub struct NewAccount {
    pub login: String,
    pub role: AccountRole,
    pub password_hash: String,
    pub secrets: AccountSecrets,
}

/// One access log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub act: Option<ActId>,
    pub outcome: String,
    #[serde(skip)]
    pub prev_hash: Hash,
    #[serde(skip)]
    pub hash: Hash,
    #[serde(skip)]
    pub key_id: KeyId,
    #[serde(skip)]
    pub signature: [u8; 64],
}

/// What [`AccessStore::verify`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessReport {
    pub entries: u64,
    /// Empty when intact.
    pub problems: Vec<String>,
}

/// The prev hash of the first access log entry.
pub fn access_genesis() -> Hash {
    Sha256::digest(b"teleconsult/access/v1/genesis").into()
}

fn lp(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// SHA-256 over a domain tag, seq (u64 BE), at (i64 BE µs), then actor,
/// action, act (16 bytes or none) and outcome each length-prefixed (u64
/// BE), then the previous entry's hash.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: u64,
    at: Timestamp,
    actor: &str,
    action: &str,
    act: Option<ActId>,
    outcome: &str,
    prev: &Hash,
) -> Hash {
    let mut h = Sha256::new();
    h.update(b"teleconsult/access/v1/entry");
    h.update(seq.to_be_bytes());
    h.update(at.as_micros().to_be_bytes());
    lp(&mut h, actor.as_bytes());
    lp(&mut h, action.as_bytes());
    lp(
        &mut h,
        act.as_ref().map(|a| a.as_bytes().as_slice()).unwrap_or(&[]),
    );
    lp(&mut h, outcome.as_bytes());
    h.update(prev);
    h.finalize().into()
}

/// Accounts and the access log, on their own connection to the store file.
pub struct AccessStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Signs access log entries; `None` for a read-only opening.
    signer: Option<HeadSigner>,
    /// The data key first, then retired ones, for account secrets.
    keys: Vec<DataKey>,
    /// The public keys an account's role and state entries are checked
    /// with before the role is used.
    trusted: TrustedKeys,
    /// The highest `seq` this process found at opening or wrote since: a
    /// log whose newest entry is below it lost its newest entries while we
    /// ran (a truncation after a restart needs an outside witness).
    head: Mutex<u64>,
}

/// What the signed access log proves about an account: its role and
/// whether it is enabled, from its newest `account_role:*` and
/// `account_state:*` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvenAccount {
    pub role: Option<AccountRole>,
    pub enabled: bool,
}

/// The access log action that records an account's role.
fn role_action(role: AccountRole) -> String {
    format!("account_role:{}", role.as_str())
}

const DISABLED_ACTION: &str = "account_state:disabled";
const ENABLED_ACTION: &str = "account_state:enabled";
/// Written once, when the accounts of a store older than role entries
/// were given theirs; after it, only the log makes a role.
const SIGNED_MARKER: &str = "accounts_signed";

/// The `outcome` naming an account in its role and state entries:
/// `account:ID:` and the first 8 bytes (hex) of SHA-256 over
/// `teleconsult/account-login/v1` and the login, so a row moved to another
/// id or login does not inherit the entries (the login is not in the log).
pub fn account_subject(id: i64, login: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"teleconsult/account-login/v1");
    h.update(login.as_bytes());
    let digest = h.finalize();
    format!("account:{id}:{}", hex::encode(&digest[..8]))
}

impl std::fmt::Debug for AccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessStore({})", self.path.display())
    }
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Database {
        path: path.into(),
        reason: e.to_string(),
    }
}

impl AccessStore {
    /// The key that signs the access log (the trace's signing key), for
    /// what else it signs (the FHIR export); `None` for a read-only opening.
    pub fn signer(&self) -> Option<&HeadSigner> {
        self.signer.as_ref()
    }

    /// Opens (creating the tables if needed) the access tables of the trace
    /// store at `db`. `keys` are the data keys, current first.
    pub fn open(db: &Path, signer: HeadSigner, keys: Vec<DataKey>) -> Result<AccessStore, Error> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(db_err(db))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_err(db))?;
        conn.execute_batch(SCHEMA).map_err(db_err(db))?;
        // The Merkle tree's tables and, for a store made before the tree,
        // its records as leaves (the trace store's writer does the same):
        // each entry then appends only its own leaf.
        let tx =
            rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err(db))?;
        crate::tlog::tree::migrate(&tx).map_err(|e| Error::Database {
            path: db.into(),
            reason: format!("cannot build the Merkle tree: {e}"),
        })?;
        tx.commit().map_err(db_err(db))?;
        let trusted = trusted_beside(db).unwrap_or_else(|| TrustedKeys::new([signer.public()]));
        let store = AccessStore {
            path: db.into(),
            conn: Mutex::new(conn),
            signer: Some(signer),
            keys,
            trusted,
            head: Mutex::new(0),
        };
        store.note_head(store.newest()?.map_or(0, |e| e.seq));
        store.sign_existing_accounts()?;
        Ok(store)
    }

    /// Upgrade: a store whose accounts predate role entries gets one
    /// `account_role:*` (and `account_state:disabled`) entry per account,
    /// from the table as it is at that first start, then the
    /// `accounts_signed` marker. Runs once: after the marker, an account
    /// row without entries is refused at sign-in.
    ///
    /// Only a log that never held an account entry (no marker, no entry of
    /// the `accounts` actor, no `account_role:*` or `account_state:*`) and
    /// whose chain verifies whole is upgraded: a log that lost its marker or
    /// some entries was tampered with, and signing the table then would
    /// sign the tampering. It is left as it is, for sign-in to refuse and
    /// `trace verify` to report.
    fn sign_existing_accounts(&self) -> Result<(), Error> {
        if self.account_entries_exist()? {
            return Ok(());
        }
        let rows: Vec<(i64, String, String, bool)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(
                    "SELECT id, login, role, disabled_at IS NOT NULL FROM accounts ORDER BY id",
                )
                .map_err(db_err(&self.path))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(db_err(&self.path))?;
            rows.collect::<Result<_, _>>().map_err(db_err(&self.path))?
        };
        if rows.is_empty() {
            // Nothing to sign: the first account added writes the marker.
            return Ok(());
        }
        if !verify_entries(&self.entries()?, &self.trusted)
            .problems
            .is_empty()
        {
            return Ok(());
        }
        let now = Timestamp::now();
        for (id, login, role, disabled) in rows {
            let role = AccountRole::parse(&role)
                .ok_or_else(|| Error::InvalidInput(format!("unknown account role {role:?}")))?;
            let subject = account_subject(id, &login);
            self.record(ACCOUNTS_ACTOR, &role_action(role), None, &subject, now)?;
            if disabled {
                self.record(ACCOUNTS_ACTOR, DISABLED_ACTION, None, &subject, now)?;
            }
        }
        self.record(ACCOUNTS_ACTOR, SIGNED_MARKER, None, "done", now)?;
        Ok(())
    }

    /// Whether the log holds any entry about accounts: the marker, an
    /// entry of the `accounts` actor, an `account_role:*` or an
    /// `account_state:*`. From the first one on, only the log makes a role.
    fn account_entries_exist(&self) -> Result<bool, Error> {
        // Through `entries_where`, which answers for a store whose access
        // tables do not exist yet.
        Ok(!self
            .entries_where(
                "WHERE actor = ?1 OR action = 'accounts_signed' OR action GLOB 'account_role:*' OR action GLOB 'account_state:*' LIMIT 1",
                ACCOUNTS_ACTOR,
            )?
            .is_empty())
    }

    /// The entry numbered `seq`, if present.
    fn entry_at(&self, seq: u64) -> Result<Option<AccessEntry>, Error> {
        Ok(self
            .entries_where("WHERE seq = CAST(?1 AS INTEGER)", &seq.to_string())?
            .pop())
    }

    /// The log's newest entry, if any.
    fn newest(&self) -> Result<Option<AccessEntry>, Error> {
        Ok(self
            .entries_where("WHERE ?1 = ?1 ORDER BY seq DESC LIMIT 1", "")?
            .pop())
    }

    /// Raises the known head to `seq`.
    fn note_head(&self, seq: u64) {
        let mut head = self.head.lock().unwrap_or_else(PoisonError::into_inner);
        *head = (*head).max(seq);
    }

    /// Why entry `e` is not a verified link of the chain, if it is not: its
    /// hash, its signature, and its `prev_hash` against the entry before
    /// it (one lookup by `seq`).
    fn unlinked(&self, e: &AccessEntry, trusted: &TrustedKeys) -> Result<Option<String>, Error> {
        let h = entry_hash(
            e.seq,
            e.at,
            &e.actor,
            &e.action,
            e.act,
            &e.outcome,
            &e.prev_hash,
        );
        if h != e.hash || trusted.verify(e.key_id, &e.hash, &e.signature).is_err() {
            return Ok(Some(format!("access entry #{} does not verify", e.seq)));
        }
        let prev = match e.seq {
            0 => None,
            1 => Some(access_genesis()),
            n => self.entry_at(n - 1)?.map(|p| p.hash),
        };
        if prev != Some(e.prev_hash) {
            return Ok(Some(format!(
                "access entry #{} does not follow #{} (deleted, inserted or changed)",
                e.seq,
                e.seq.saturating_sub(1)
            )));
        }
        Ok(None)
    }

    /// Why the log is not whole from entry `from` to its newest one, if it
    /// is not: a number missing in between (an entry deleted), a newest
    /// entry that does not verify or link, or a newest entry older than
    /// one this process saw.
    fn unbroken_from(&self, from: u64, trusted: &TrustedKeys) -> Result<Option<String>, Error> {
        let (count, max): (i64, Option<i64>) = self
            .conn()
            .query_row(
                "SELECT COUNT(*), MAX(seq) FROM access_log WHERE seq >= ?1",
                [from as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err(&self.path))?;
        let max = max.unwrap_or(0) as u64;
        let head = *self.head.lock().unwrap_or_else(PoisonError::into_inner);
        if max < head {
            return Ok(Some(format!(
                "the access log lost its newest entries (#{} was written, the newest now is #{max})",
                head
            )));
        }
        if max >= from && count as u64 != max - from + 1 {
            return Ok(Some(format!(
                "access entries between #{from} and #{max} are missing (deleted)"
            )));
        }
        match self.newest()? {
            Some(n) => self.unlinked(&n, trusted),
            None => Ok(None),
        }
    }

    /// What the signed access log proves about account `id` named `login`:
    /// its newest role and state entries, each checked (hash, signature and
    /// link to the entry before it) before it counts, the log whole (no
    /// number missing) from the account's first entry to the newest, and
    /// the newest entry checked too. `None` when the log holds no role for
    /// it.
    pub fn proven(&self, id: i64, login: &str) -> Result<ProvenAccount, Error> {
        self.proven_with(id, login, &self.trusted)
    }

    fn proven_with(
        &self,
        id: i64,
        login: &str,
        trusted: &TrustedKeys,
    ) -> Result<ProvenAccount, Error> {
        let subject = account_subject(id, login);
        let entries = self.entries_where(
            "WHERE outcome = ?1 AND action LIKE 'account_%' ORDER BY seq",
            &subject,
        )?;
        let mut proven = ProvenAccount {
            role: None,
            enabled: true,
        };
        let not_proven = |why: String| Error::AccountNotProven(format!("account {id}: {why}"));
        if let Some(first) = entries.first()
            && let Some(why) = self.unbroken_from(first.seq, trusted)?
        {
            return Err(not_proven(why));
        }
        for e in entries {
            if let Some(why) = self.unlinked(&e, trusted)? {
                return Err(not_proven(why));
            }
            match e.action.as_str() {
                DISABLED_ACTION => proven.enabled = false,
                ENABLED_ACTION => proven.enabled = true,
                action => {
                    if let Some(role) = action
                        .strip_prefix("account_role:")
                        .and_then(AccountRole::parse)
                    {
                        proven.role = Some(role);
                    }
                }
            }
        }
        Ok(proven)
    }

    /// Changes an account's role, recording it in the signed log. Returns
    /// false if there is no such account.
    pub fn set_role(&self, login: &str, role: AccountRole, now: Timestamp) -> Result<bool, Error> {
        let Some(id) = self.account_id(login)? else {
            return Ok(false);
        };
        self.conn()
            .execute(
                "UPDATE accounts SET role = ?2 WHERE id = ?1",
                params![id, role.as_str()],
            )
            .map_err(db_err(&self.path))?;
        self.record(
            ACCOUNTS_ACTOR,
            &role_action(role),
            None,
            &account_subject(id, login),
            now,
        )?;
        Ok(true)
    }

    /// After an enable or disable that `changed` the row: the entry that
    /// makes the change count (the signed log, not the row, is what
    /// sign-in trusts). Returns `changed`.
    fn record_state(
        &self,
        login: &str,
        changed: bool,
        action: &str,
        now: Timestamp,
    ) -> Result<bool, Error> {
        if changed && let Some(id) = self.account_id(login)? {
            self.record(
                ACCOUNTS_ACTOR,
                action,
                None,
                &account_subject(id, login),
                now,
            )?;
        }
        Ok(changed)
    }

    /// Enables a disabled account, recording it in the signed log.
    /// Returns false if there is no such disabled account.
    pub fn enable(&self, login: &str, now: Timestamp) -> Result<bool, Error> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET disabled_at = NULL WHERE login = ?1 AND disabled_at IS NOT NULL",
                params![login],
            )
            .map_err(db_err(&self.path))?;
        self.record_state(login, n == 1, ENABLED_ACTION, now)
    }

    fn account_id(&self, login: &str) -> Result<Option<i64>, Error> {
        self.conn()
            .query_row("SELECT id FROM accounts WHERE login = ?1", [login], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err(&self.path))
    }

    /// Accounts whose row says another role or state than the log proves,
    /// and a missing or broken `accounts_signed` marker, as `trace verify`
    /// lists them. Empty for a store not yet upgraded (no account entry at
    /// all): its accounts are signed at the next start of the server or of
    /// a `professional` command, if its log verifies whole.
    pub fn account_problems(&self, trusted: &TrustedKeys) -> Result<Vec<String>, Error> {
        if !self.account_entries_exist()? {
            return Ok(Vec::new());
        }
        let mut problems = Vec::new();
        match self
            .entries_where("WHERE action = ?1 ORDER BY seq LIMIT 1", SIGNED_MARKER)?
            .pop()
        {
            None => problems.push(
                "the access log holds account entries but no accounts_signed marker (deleted)"
                    .to_string(),
            ),
            Some(m) => {
                if let Some(why) = self.unlinked(&m, trusted)? {
                    problems.push(format!("the accounts_signed marker: {why}"));
                }
            }
        }
        let rows: Vec<(i64, String, String, bool)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id, login, role, disabled_at IS NULL FROM accounts ORDER BY id")
                .map_err(db_err(&self.path))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(db_err(&self.path))?;
            rows.collect::<Result<_, _>>().map_err(db_err(&self.path))?
        };
        for (id, login, role, enabled) in rows {
            match self.proven_with(id, &login, trusted) {
                Ok(p) => {
                    if let Some(why) = mismatch(id, AccountRole::parse(&role), enabled, p) {
                        problems.push(why);
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok(problems)
    }

    /// Opens read-only, for verification: no key needed.
    pub fn open_reader(db: &Path) -> Result<AccessStore, Error> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_err(db))?;
        Ok(AccessStore {
            path: db.into(),
            conn: Mutex::new(conn),
            signer: None,
            keys: Vec::new(),
            trusted: trusted_beside(db).unwrap_or_default(),
            head: Mutex::new(0),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn context(login: &str) -> Vec<u8> {
        let mut c = b"teleconsult/account/v1/".to_vec();
        c.extend_from_slice(login.as_bytes());
        c
    }

    /// Adds an account; fails if the login is taken.
    pub fn add_account(&self, new: NewAccount, now: Timestamp) -> Result<i64, Error> {
        // From the first account on, only the log makes a role: the upgrade
        // (see `sign_existing_accounts`) must never run after this.
        if !self.account_entries_exist()? {
            self.record(ACCOUNTS_ACTOR, SIGNED_MARKER, None, "done", now)?;
        }
        let key = self.keys.first().ok_or(Error::NoDataKey)?;
        let plain = serde_json::to_vec(&new.secrets)?;
        let sealed = seal_bytes(&plain, key, &Self::context(&new.login))?;
        let conn = self.conn();
        let taken: Option<i64> = conn
            .query_row(
                "SELECT id FROM accounts WHERE login = ?1",
                [&new.login],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(&self.path))?;
        if taken.is_some() {
            return Err(Error::InvalidInput(format!(
                "an account named {:?} already exists",
                new.login
            )));
        }
        conn.execute(
            "INSERT INTO accounts (login, role, created_at, password, secrets) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![new.login, new.role.as_str(), now.as_micros(), new.password_hash, sealed],
        )
        .map_err(db_err(&self.path))?;
        let id = conn.last_insert_rowid();
        drop(conn);
        // Until this entry is durable the account cannot sign in.
        self.record(
            ACCOUNTS_ACTOR,
            &role_action(new.role),
            None,
            &account_subject(id, &new.login),
            now,
        )?;
        Ok(id)
    }

    /// The account signing in as `login`, if any.
    pub fn account(&self, login: &str) -> Result<Option<Account>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, login, role, created_at, disabled_at, password, secrets, totp_step FROM accounts WHERE login = ?1",
                [login],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Vec<u8>>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err(&self.path))?;
        let Some((id, login, role, created, disabled, password_hash, sealed, step)) = row else {
            return Ok(None);
        };
        let plain = open_bytes(&sealed, &self.keys, &Self::context(&login))?;
        let secrets: AccountSecrets = serde_json::from_slice(&plain)?;
        // The role used is the one the signed log proves; a row that says
        // otherwise was edited outside the server.
        let proven = self.proven(id, &login)?;
        if let Some(why) = mismatch(id, AccountRole::parse(&role), disabled.is_none(), proven) {
            return Err(Error::AccountNotProven(why));
        }
        Ok(Some(Account {
            id,
            login,
            role: proven
                .role
                .ok_or_else(|| Error::AccountNotProven(format!("account {id} has no role")))?,
            created_at: Timestamp::from_micros(created),
            disabled_at: disabled.map(Timestamp::from_micros),
            password_hash,
            secrets,
            totp_step: u64::try_from(step).unwrap_or(0),
        }))
    }

    /// The logins of the accounts whose sealed RPPS number is `rpps`, oldest
    /// first: how a sign-in that proves an RPPS number (OpenID Connect, Pro
    /// Santé Connect) finds its account. The numbers are sealed, so every
    /// account's secrets are opened: linear in the number of accounts,
    /// which a platform counts in hundreds or thousands.
    pub fn logins_with_rpps(&self, rpps: &Rpps) -> Result<Vec<String>, Error> {
        let rows: Vec<(String, Vec<u8>)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT login, secrets FROM accounts ORDER BY id")
                .map_err(db_err(&self.path))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(db_err(&self.path))?;
            rows.collect::<Result<_, _>>().map_err(db_err(&self.path))?
        };
        let mut out = Vec::new();
        for (login, sealed) in rows {
            let plain = open_bytes(&sealed, &self.keys, &Self::context(&login))?;
            let secrets: AccountSecrets = serde_json::from_slice(&plain)?;
            if secrets.rpps.as_ref().is_some_and(|r| r.expose() == rpps) {
                out.push(login);
            }
        }
        Ok(out)
    }

    /// Every login with its role and whether it is enabled.
    pub fn logins(&self) -> Result<Vec<(String, AccountRole, bool)>, Error> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT login, role, disabled_at IS NULL FROM accounts ORDER BY id")
            .map_err(db_err(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .map_err(db_err(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (login, role, enabled) = row.map_err(db_err(&self.path))?;
            let role = AccountRole::parse(&role)
                .ok_or_else(|| Error::InvalidInput(format!("unknown account role {role:?}")))?;
            out.push((login, role, enabled));
        }
        Ok(out)
    }

    /// Whether account `id` exists and is enabled.
    pub fn is_enabled(&self, id: i64) -> Result<bool, Error> {
        let v: Option<bool> = self
            .conn()
            .query_row(
                "SELECT disabled_at IS NULL FROM accounts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(&self.path))?;
        Ok(v == Some(true))
    }

    /// Disables an account; its sessions end at their next request.
    /// Returns false if there is no such enabled account.
    pub fn disable(&self, login: &str, now: Timestamp) -> Result<bool, Error> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET disabled_at = ?2 WHERE login = ?1 AND disabled_at IS NULL",
                params![login, now.as_micros()],
            )
            .map_err(db_err(&self.path))?;
        self.record_state(login, n == 1, DISABLED_ACTION, now)
    }

    /// Records that TOTP step `step` was used, if it is newer than the last
    /// one: false means the code was already used (a replay).
    pub fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, Error> {
        let step = i64::try_from(step).map_err(|_| Error::InvalidInput("TOTP step".into()))?;
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET totp_step = ?2 WHERE id = ?1 AND totp_step < ?2",
                params![id, step],
            )
            .map_err(db_err(&self.path))?;
        Ok(n == 1)
    }

    /// Appends an entry to the access log, durably, and returns it.
    pub fn record(
        &self,
        actor: &str,
        action: &str,
        act: Option<ActId>,
        outcome: &str,
        now: Timestamp,
    ) -> Result<AccessEntry, Error> {
        let signer = self.signer.as_ref().ok_or(Error::ReadOnly)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err(&self.path))?;
        let last: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err(&self.path))?;
        let (seq, prev_hash) = match last {
            Some((s, h)) => (
                s as u64 + 1,
                h.try_into().map_err(|_| {
                    Error::InvalidTrace("an access log hash is not 32 bytes".into())
                })?,
            ),
            None => (1, access_genesis()),
        };
        let hash = entry_hash(seq, now, actor, action, act, outcome, &prev_hash);
        let signature = signer.sign(&hash);
        let act_bytes = act.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        tx.execute(
            "INSERT INTO access_log (seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                seq as i64,
                now.as_micros(),
                actor,
                action,
                act_bytes,
                outcome,
                prev_hash.as_slice(),
                hash.as_slice(),
                signer.id().0.as_slice(),
                signature.as_slice()
            ],
        )
        .map_err(db_err(&self.path))?;
        // The entry's leaf in the Merkle tree, in the same transaction.
        let leaf = crate::tlog::tree::NewLeaf {
            kind: crate::tlog::LeafKind::Access,
            item: seq as i64,
            record_hash: hash,
        };
        crate::tlog::tree::append_leaves(&tx, &[leaf]).map_err(|e| Error::Database {
            path: self.path.clone(),
            reason: format!("cannot append to the Merkle tree: {e}"),
        })?;
        tx.commit().map_err(db_err(&self.path))?;
        drop(conn);
        self.note_head(seq);
        Ok(AccessEntry {
            seq,
            at: now,
            actor: actor.into(),
            action: action.into(),
            act,
            outcome: outcome.into(),
            prev_hash,
            hash,
            key_id: signer.id(),
            signature,
        })
    }

    /// Every entry in order (none if the store predates the access log).
    pub fn entries(&self) -> Result<Vec<AccessEntry>, Error> {
        self.entries_where("WHERE ?1 = ?1 ORDER BY seq", "")
    }

    /// The entries a `WHERE ... ORDER BY` clause with one parameter picks.
    fn entries_where(&self, clause: &str, param: &str) -> Result<Vec<AccessEntry>, Error> {
        let conn = self.conn();
        let exists: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'access_log'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(&self.path))?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(&format!("SELECT seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature FROM access_log {clause}"))
            .map_err(db_err(&self.path))?;
        let rows = stmt
            .query_map([param], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                    r.get::<_, Vec<u8>>(9)?,
                ))
            })
            .map_err(db_err(&self.path))?;
        let bad = |what: &str| Error::InvalidTrace(format!("access log: {what}"));
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, actor, action, act, outcome, prev, hash, key_id, sig) =
                row.map_err(db_err(&self.path))?;
            out.push(AccessEntry {
                seq: seq as u64,
                at: Timestamp::from_micros(at),
                actor,
                action,
                act: match act.len() {
                    0 => None,
                    16 => Some(ActId::from_bytes(
                        act.try_into().map_err(|_| bad("act id"))?,
                    )),
                    _ => return Err(bad("an act id is not 16 bytes")),
                },
                outcome,
                prev_hash: prev.try_into().map_err(|_| bad("prev hash"))?,
                hash: hash.try_into().map_err(|_| bad("hash"))?,
                key_id: KeyId(key_id.try_into().map_err(|_| bad("key id"))?),
                signature: sig.try_into().map_err(|_| bad("signature"))?,
            });
        }
        Ok(out)
    }

    /// Checks the access log's chain and signatures with public keys only.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<AccessReport, Error> {
        let mut report = verify_entries(&self.entries()?, trusted);
        report.problems.extend(self.account_problems(trusted)?);
        Ok(report)
    }
}

/// Who the account store's own role and state entries name as actor.
const ACCOUNTS_ACTOR: &str = "accounts";

/// The public keys of the data directory holding `db` (`keys/` beside it).
fn trusted_beside(db: &Path) -> Option<TrustedKeys> {
    let dir = db.parent()?.join("keys");
    crate::keys::KeyDir::new(dir).trusted().ok()
}

/// Why an account row disagrees with what the log proves, if it does.
fn mismatch(
    id: i64,
    role: Option<AccountRole>,
    enabled: bool,
    proven: ProvenAccount,
) -> Option<String> {
    let name = |r: Option<AccountRole>| r.map_or("none", AccountRole::as_str);
    if role != proven.role || proven.role.is_none() {
        return Some(format!(
            "account {id}: the accounts table says role {}, but the signed access log proves {} (edited outside the server)",
            name(role),
            name(proven.role)
        ));
    }
    if enabled != proven.enabled {
        let state = |e: bool| if e { "enabled" } else { "disabled" };
        return Some(format!(
            "account {id}: the accounts table says {}, but the signed access log proves {} (edited outside the server)",
            state(enabled),
            state(proven.enabled)
        ));
    }
    None
}

/// Checks a sequence of access log entries: numbering, chain, hashes and
/// signatures.
pub fn verify_entries(entries: &[AccessEntry], trusted: &TrustedKeys) -> AccessReport {
    let mut problems = Vec::new();
    let mut prev = access_genesis();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.seq != expected {
            problems.push(format!(
                "access entry #{expected} is missing (the next is #{})",
                e.seq
            ));
        } else if e.prev_hash != prev {
            problems.push(format!(
                "access entry #{} does not follow #{} (inserted, reordered or changed)",
                e.seq,
                e.seq - 1
            ));
        }
        let h = entry_hash(
            e.seq,
            e.at,
            &e.actor,
            &e.action,
            e.act,
            &e.outcome,
            &e.prev_hash,
        );
        if h != e.hash {
            problems.push(format!("access entry #{} was changed", e.seq));
        }
        if let Err(why) = trusted.verify(e.key_id, &e.hash, &e.signature) {
            problems.push(format!("access entry #{}: bad signature: {why}", e.seq));
        }
        prev = e.hash;
    }
    AccessReport {
        entries: entries.len() as u64,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DataDir;

    fn open() -> (tempfile::TempDir, AccessStore, TrustedKeys) {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let (_store, keys) = data.open_writer().unwrap();
        let access = AccessStore::open(&data.db_path(), keys.signer, vec![keys.data]).unwrap();
        (dir, access, keys.trusted)
    }

    #[test]
    fn accounts_seal_their_secrets() {
        let (_dir, access, _) = open();
        let id = access
            .add_account(
                NewAccount {
                    login: "dr-fictif".into(),
                    role: AccountRole::Professional,
                    password_hash: "$argon2id$fake".into(),
                    secrets: AccountSecrets {
                        name: Pii::new("Dr Nom Fictif".into()),
                        rpps: Some(Pii::new("10000000009".parse().unwrap())),
                        totp_secret: Pii::new(vec![1, 2, 3]),
                    },
                },
                Timestamp::from_micros(1),
            )
            .unwrap();
        let a = access.account("dr-fictif").unwrap().unwrap();
        assert_eq!(a.id, id);
        assert_eq!(a.secrets.name.expose(), "Dr Nom Fictif");
        assert!(access.account("nobody").unwrap().is_none());
        // The name is not in the file in clear.
        let raw: Vec<u8> = access
            .conn()
            .query_row("SELECT secrets FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("Fictif"));
        // TOTP steps are single use.
        assert!(access.use_totp_step(id, 10).unwrap());
        assert!(!access.use_totp_step(id, 10).unwrap());
        assert!(
            access
                .disable("dr-fictif", Timestamp::from_micros(2))
                .unwrap()
        );
        assert!(
            access
                .account("dr-fictif")
                .unwrap()
                .unwrap()
                .disabled_at
                .is_some()
        );
    }

    #[test]
    fn accounts_are_found_by_their_sealed_rpps() {
        let (_dir, access, _) = open();
        let with = |login: &str, rpps: Option<&str>| NewAccount {
            secrets: AccountSecrets {
                rpps: rpps.map(|r| Pii::new(r.parse().unwrap())),
                ..new_account(login, AccountRole::Professional).secrets
            },
            ..new_account(login, AccountRole::Professional)
        };
        let t = Timestamp::from_micros(1);
        access
            .add_account(with("dr-a", Some("10000000009")), t)
            .unwrap();
        access.add_account(with("admin", None), t).unwrap();
        access
            .add_account(with("dr-b", Some("10101010105")), t)
            .unwrap();
        let find = |r: &str| access.logins_with_rpps(&r.parse().unwrap()).unwrap();
        assert_eq!(find("10101010105"), ["dr-b"]);
        assert_eq!(find("10000000009"), ["dr-a"]);
        assert!(find("10000000025").is_empty());
    }

    fn new_account(login: &str, role: AccountRole) -> NewAccount {
        NewAccount {
            login: login.into(),
            role,
            password_hash: "$argon2id$fake".into(),
            secrets: AccountSecrets {
                name: Pii::new("Dr Nom Fictif".into()),
                rpps: None,
                totp_secret: Pii::new(vec![1, 2, 3]),
            },
        }
    }

    #[test]
    fn roles_come_from_the_signed_log() {
        let (_dir, access, trusted) = open();
        access
            .add_account(
                new_account("dr-a", AccountRole::Professional),
                Timestamp::from_micros(1),
            )
            .unwrap();
        let a = access.account("dr-a").unwrap().unwrap();
        assert_eq!(a.role, AccountRole::Professional);
        // Changed through the store: recorded, and used.
        assert!(
            access
                .set_role(
                    "dr-a",
                    AccountRole::Administrator,
                    Timestamp::from_micros(2)
                )
                .unwrap()
        );
        assert_eq!(
            access.account("dr-a").unwrap().unwrap().role,
            AccountRole::Administrator
        );
        assert!(
            access
                .set_role("dr-a", AccountRole::Professional, Timestamp::from_micros(3))
                .unwrap()
        );
        // Edited in SQLite: refused, and reported by verification.
        access
            .conn()
            .execute(
                "UPDATE accounts SET role = 'administrator' WHERE login = 'dr-a'",
                [],
            )
            .unwrap();
        let e = access.account("dr-a").unwrap_err();
        assert!(matches!(e, Error::AccountNotProven(_)), "{e}");
        let report = access.verify(&trusted).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("says role administrator")
                && p.contains("proves professional")),
            "{:?}",
            report.problems
        );
        access
            .conn()
            .execute(
                "UPDATE accounts SET role = 'professional' WHERE login = 'dr-a'",
                [],
            )
            .unwrap();
        assert!(access.account("dr-a").is_ok());
        // Disable and enable are entries too; re-enabling in SQLite is refused.
        assert!(access.disable("dr-a", Timestamp::from_micros(4)).unwrap());
        assert!(
            access
                .account("dr-a")
                .unwrap()
                .unwrap()
                .disabled_at
                .is_some()
        );
        access
            .conn()
            .execute(
                "UPDATE accounts SET disabled_at = NULL WHERE login = 'dr-a'",
                [],
            )
            .unwrap();
        assert!(matches!(
            access.account("dr-a"),
            Err(Error::AccountNotProven(_))
        ));
        access
            .conn()
            .execute(
                "UPDATE accounts SET disabled_at = 4 WHERE login = 'dr-a'",
                [],
            )
            .unwrap();
        assert!(access.enable("dr-a", Timestamp::from_micros(5)).unwrap());
        assert!(
            access
                .account("dr-a")
                .unwrap()
                .unwrap()
                .disabled_at
                .is_none()
        );
        // A row inserted in SQLite has no entry: refused.
        access
            .conn()
            .execute(
                "INSERT INTO accounts (login, role, created_at, password, secrets) SELECT 'dr-b', 'administrator', 1, password, secrets FROM accounts WHERE login = 'dr-a'",
                [],
            )
            .unwrap();
        assert!(access.account("dr-b").is_err());
    }

    #[test]
    fn accounts_older_than_role_entries_are_signed_once_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let (_store, keys) = data.open_writer().unwrap();
        let access = AccessStore::open(
            &data.db_path(),
            keys.signer.clone(),
            vec![keys.data.clone()],
        )
        .unwrap();
        access
            .add_account(
                new_account("dr-old", AccountRole::Administrator),
                Timestamp::from_micros(1),
            )
            .unwrap();
        // As a store written before role entries: accounts, no such entries.
        access
            .conn()
            .execute_batch("DROP TRIGGER access_log_no_delete; DELETE FROM access_log;")
            .unwrap();
        drop(access);
        let access = AccessStore::open(
            &data.db_path(),
            keys.signer.clone(),
            vec![keys.data.clone()],
        )
        .unwrap();
        assert_eq!(
            access.account("dr-old").unwrap().unwrap().role,
            AccountRole::Administrator
        );
        let actions: Vec<String> = access
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["account_role:administrator", "accounts_signed"]);
        // Once only: a row added later in SQLite is not signed on reopen.
        access
            .conn()
            .execute(
                "INSERT INTO accounts (login, role, created_at, password, secrets) SELECT 'dr-new', 'administrator', 1, password, secrets FROM accounts",
                [],
            )
            .unwrap();
        drop(access);
        let access = AccessStore::open(&data.db_path(), keys.signer, vec![keys.data]).unwrap();
        assert_eq!(access.entries().unwrap().len(), 2);
        assert!(access.account("dr-new").is_err());
    }

    #[test]
    fn access_log_is_chained_signed_and_append_only() {
        let (_dir, access, trusted) = open();
        let act = ActId::random();
        for i in 0..3 {
            access
                .record(
                    "account:1",
                    "read",
                    Some(act),
                    "allowed",
                    Timestamp::from_micros(i),
                )
                .unwrap();
        }
        access
            .record(
                "unknown",
                "login",
                None,
                "failed",
                Timestamp::from_micros(9),
            )
            .unwrap();
        let report = access.verify(&trusted).unwrap();
        assert_eq!(report.entries, 4);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let conn = access.conn();
        assert!(
            conn.execute("DELETE FROM access_log WHERE seq = 2", [])
                .is_err()
        );
        assert!(
            conn.execute("UPDATE access_log SET actor = 'x' WHERE seq = 2", [])
                .is_err()
        );
        // Past the triggers, a change is detected.
        conn.execute_batch("DROP TRIGGER access_log_no_update")
            .unwrap();
        conn.execute(
            "UPDATE access_log SET actor = 'account:2' WHERE seq = 2",
            [],
        )
        .unwrap();
        drop(conn);
        let report = access.verify(&trusted).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("#2 was changed")),
            "{:?}",
            report.problems
        );
    }
}
