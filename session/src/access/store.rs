//! [`AccessStore`]: accounts and the access log, over any
//! [`AccessTables`]. Everything that makes the log trustworthy happens
//! here, above the seam: hashing and signing entries, sealing and opening
//! account secrets, proving an account's role and state from the signed
//! log, and verification. The tables only keep rows.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::Error;
use crate::ids::{ActId, Rpps};
use crate::keys::{DataKey, HeadSigner, TrustedKeys};
use crate::timestamp::Timestamp;
use crate::trace::seal::{open_bytes, seal_bytes};

use super::account::{
    ACCOUNTS_ACTOR, Account, AccountRole, AccountSecrets, DISABLED_ACTION, ENABLED_ACTION,
    NewAccount, ProvenAccount, ROLE_PREFIX, SIGNED_MARKER, STATE_PREFIX, account_subject,
    is_account_action, mismatch, role_action,
};
use super::log::{AccessEntry, AccessReport, access_genesis, entry_hash, rehash, verify_entries};
use super::sqlite::SqliteAccessTables;
use super::tables::{AccessTables, AccountRow, Append, EntryMatch, NewAccountRow};

/// Accounts and the access log, on their own tables.
pub struct AccessStore {
    tables: Box<dyn AccessTables>,
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

impl std::fmt::Debug for AccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessStore({})", self.tables.describe())
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
        let tables = SqliteAccessTables::open(db)?;
        let trusted = trusted_beside(db).unwrap_or_else(|| TrustedKeys::new([signer.public()]));
        AccessStore::with_tables(tables, signer, keys, trusted)
    }

    /// Opens read-only, for verification: no key needed.
    pub fn open_reader(db: &Path) -> Result<AccessStore, Error> {
        let tables = SqliteAccessTables::open_reader(db)?;
        Ok(AccessStore::reader_with_tables(
            tables,
            trusted_beside(db).unwrap_or_default(),
        ))
    }

    /// An access store writing to `tables` (any storage keeping the
    /// [`AccessTables`] contract: SQLite, PostgreSQL...), signing entries
    /// with `signer`, sealing account secrets with `keys` (current first,
    /// then retired ones), and proving roles with `trusted` (the data
    /// directory's public keys, which include `signer`'s).
    ///
    /// Like [`open`](Self::open), it notes the log's head (to notice a
    /// truncation while it runs) and signs, once, the accounts of a store
    /// older than role entries.
    pub fn with_tables(
        tables: impl AccessTables + 'static,
        signer: HeadSigner,
        keys: Vec<DataKey>,
        trusted: TrustedKeys,
    ) -> Result<AccessStore, Error> {
        let store = AccessStore {
            tables: Box::new(tables),
            signer: Some(signer),
            keys,
            trusted,
            head: Mutex::new(0),
        };
        store.note_head(store.tables.newest()?.map_or(0, |e| e.seq));
        store.sign_existing_accounts()?;
        Ok(store)
    }

    /// A read-only access store over `tables`, for verification: it never
    /// writes an entry ([`Error::ReadOnly`]) nor opens a secret.
    pub fn reader_with_tables(
        tables: impl AccessTables + 'static,
        trusted: TrustedKeys,
    ) -> AccessStore {
        AccessStore {
            tables: Box::new(tables),
            signer: None,
            keys: Vec::new(),
            trusted,
            head: Mutex::new(0),
        }
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
        let rows = self.tables.accounts()?;
        if rows.is_empty() {
            // Nothing to sign: the first account added writes the marker.
            return Ok(());
        }
        if !verify_entries(&self.tables.entries()?, &self.trusted)
            .problems
            .is_empty()
        {
            return Ok(());
        }
        let now = Timestamp::now();
        for row in rows {
            let role = parse_role(&row.role)?;
            let subject = account_subject(row.id, &row.login);
            self.record(ACCOUNTS_ACTOR, &role_action(role), None, &subject, now)?;
            if row.disabled_at.is_some() {
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
        Ok(self
            .tables
            .first_matching(&EntryMatch {
                actors: &[ACCOUNTS_ACTOR],
                actions: &[SIGNED_MARKER],
                action_prefixes: &[ROLE_PREFIX, STATE_PREFIX],
            })?
            .is_some())
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
        if rehash(e) != e.hash || trusted.verify(e.key_id, &e.hash, &e.signature).is_err() {
            return Ok(Some(format!("access entry #{} does not verify", e.seq)));
        }
        let prev = match e.seq {
            0 => None,
            1 => Some(access_genesis()),
            n => self.tables.entry(n - 1)?.map(|p| p.hash),
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
        let (count, max) = self.tables.count_from(from)?;
        let max = max.unwrap_or(0);
        let head = *self.head.lock().unwrap_or_else(PoisonError::into_inner);
        if max < head {
            return Ok(Some(format!(
                "the access log lost its newest entries (#{} was written, the newest now is #{max})",
                head
            )));
        }
        if max >= from && count != max - from + 1 {
            return Ok(Some(format!(
                "access entries between #{from} and #{max} are missing (deleted)"
            )));
        }
        match self.tables.newest()? {
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
        let entries: Vec<AccessEntry> = self
            .tables
            .entries_with_outcome(&subject)?
            .into_iter()
            .filter(|e| is_account_action(&e.action))
            .collect();
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
                        .strip_prefix(ROLE_PREFIX)
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
        self.tables.set_role(id, role)?;
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
        let changed = self.tables.set_disabled(login, None)?;
        self.record_state(login, changed, ENABLED_ACTION, now)
    }

    fn account_id(&self, login: &str) -> Result<Option<i64>, Error> {
        Ok(self.tables.account(login)?.map(|r| r.id))
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
        let marker = self.tables.first_matching(&EntryMatch {
            actions: &[SIGNED_MARKER],
            ..EntryMatch::default()
        })?;
        match marker {
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
        for row in self.tables.accounts()? {
            let enabled = row.disabled_at.is_none();
            match self.proven_with(row.id, &row.login, trusted) {
                Ok(p) => {
                    if let Some(why) = mismatch(row.id, AccountRole::parse(&row.role), enabled, p) {
                        problems.push(why);
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok(problems)
    }

    fn context(login: &str) -> Vec<u8> {
        let mut c = b"teleconsult/account/v1/".to_vec();
        c.extend_from_slice(login.as_bytes());
        c
    }

    fn open_secrets(&self, row: &AccountRow) -> Result<AccountSecrets, Error> {
        let plain = open_bytes(&row.sealed, &self.keys, &Self::context(&row.login))?;
        Ok(serde_json::from_slice(&plain)?)
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
        let inserted = self.tables.insert_account(&NewAccountRow {
            login: new.login.clone(),
            role: new.role,
            created_at: now,
            password_hash: new.password_hash,
            sealed,
        })?;
        let Some(id) = inserted else {
            return Err(Error::InvalidInput(format!(
                "an account named {:?} already exists",
                new.login
            )));
        };
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
        let Some(row) = self.tables.account(login)? else {
            return Ok(None);
        };
        let secrets = self.open_secrets(&row)?;
        // The role used is the one the signed log proves; a row that says
        // otherwise was edited outside the server.
        let proven = self.proven(row.id, &row.login)?;
        if let Some(why) = mismatch(
            row.id,
            AccountRole::parse(&row.role),
            row.disabled_at.is_none(),
            proven,
        ) {
            return Err(Error::AccountNotProven(why));
        }
        let id = row.id;
        Ok(Some(Account {
            id,
            login: row.login,
            role: proven
                .role
                .ok_or_else(|| Error::AccountNotProven(format!("account {id} has no role")))?,
            created_at: row.created_at,
            disabled_at: row.disabled_at,
            password_hash: row.password_hash,
            secrets,
            totp_step: row.totp_step,
        }))
    }

    /// The logins of the accounts whose sealed RPPS number is `rpps`, oldest
    /// first: how a sign-in that proves an RPPS number (OpenID Connect, Pro
    /// Santé Connect) finds its account. The numbers are sealed, so every
    /// account's secrets are opened: linear in the number of accounts,
    /// which a platform counts in hundreds or thousands.
    pub fn logins_with_rpps(&self, rpps: &Rpps) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for row in self.tables.accounts()? {
            let secrets = self.open_secrets(&row)?;
            if secrets.rpps.as_ref().is_some_and(|r| r.expose() == rpps) {
                out.push(row.login);
            }
        }
        Ok(out)
    }

    /// Every login with its role and whether it is enabled.
    pub fn logins(&self) -> Result<Vec<(String, AccountRole, bool)>, Error> {
        self.tables
            .accounts()?
            .into_iter()
            .map(|row| {
                let role = parse_role(&row.role)?;
                Ok((row.login, role, row.disabled_at.is_none()))
            })
            .collect()
    }

    /// Whether account `id` exists and is enabled.
    pub fn is_enabled(&self, id: i64) -> Result<bool, Error> {
        self.tables.is_enabled(id)
    }

    /// Disables an account; its sessions end at their next request.
    /// Returns false if there is no such enabled account.
    pub fn disable(&self, login: &str, now: Timestamp) -> Result<bool, Error> {
        let changed = self.tables.set_disabled(login, Some(now))?;
        self.record_state(login, changed, DISABLED_ACTION, now)
    }

    /// Records that TOTP step `step` was used, if it is newer than the last
    /// one: false means the code was already used (a replay).
    pub fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, Error> {
        if i64::try_from(step).is_err() {
            return Err(Error::InvalidInput("TOTP step".into()));
        }
        self.tables.use_totp_step(id, step)
    }

    /// Appends an entry to the access log, durably, and returns it.
    ///
    /// The entry is chained to the log's head, hashed and signed here, then
    /// handed to the tables, which write it only if the head has not moved
    /// meanwhile (another thread, process or node appended first); if it
    /// has, the entry is built again on the new head. Every writer's turn
    /// comes: a stale append means another one succeeded.
    pub fn record(
        &self,
        actor: &str,
        action: &str,
        act: Option<ActId>,
        outcome: &str,
        now: Timestamp,
    ) -> Result<AccessEntry, Error> {
        let signer = self.signer.as_ref().ok_or(Error::ReadOnly)?;
        loop {
            let (seq, prev_hash) = match self.tables.head()? {
                Some((s, h)) => (s + 1, h),
                None => (1, access_genesis()),
            };
            let hash = entry_hash(seq, now, actor, action, act, outcome, &prev_hash);
            let entry = AccessEntry {
                seq,
                at: now,
                actor: actor.into(),
                action: action.into(),
                act,
                outcome: outcome.into(),
                prev_hash,
                hash,
                key_id: signer.id(),
                signature: signer.sign(&hash),
            };
            match self.tables.append(&entry)? {
                Append::Written => {
                    self.note_head(seq);
                    return Ok(entry);
                }
                Append::Stale => continue,
            }
        }
    }

    /// Every entry in order (none if the store predates the access log).
    pub fn entries(&self) -> Result<Vec<AccessEntry>, Error> {
        self.tables.entries()
    }

    /// Checks the access log's chain and signatures with public keys only.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<AccessReport, Error> {
        let mut report = verify_entries(&self.tables.entries()?, trusted);
        report.problems.extend(self.account_problems(trusted)?);
        Ok(report)
    }
}

/// A stored role, or the error naming it when it is none.
fn parse_role(role: &str) -> Result<AccountRole, Error> {
    AccountRole::parse(role)
        .ok_or_else(|| Error::InvalidInput(format!("unknown account role {role:?}")))
}

/// The public keys of the data directory holding `db` (`keys/` beside it).
fn trusted_beside(db: &Path) -> Option<TrustedKeys> {
    let dir = db.parent()?.join("keys");
    crate::keys::KeyDir::new(dir).trusted().ok()
}
#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::access::{AccountSecrets, NewAccount};
    use crate::pii::Pii;
    use crate::store::DataDir;

    /// A store's access tables, and a connection of its own to their file,
    /// to edit them as someone with write access to the data directory
    /// would.
    struct Opened {
        _dir: tempfile::TempDir,
        access: AccessStore,
        trusted: TrustedKeys,
        raw: Connection,
    }

    fn open() -> Opened {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let (_store, keys) = data.open_writer().unwrap();
        let access = AccessStore::open(&data.db_path(), keys.signer, vec![keys.data]).unwrap();
        let raw = Connection::open(data.db_path()).unwrap();
        Opened {
            _dir: dir,
            access,
            trusted: keys.trusted,
            raw,
        }
    }

    #[test]
    fn accounts_seal_their_secrets() {
        let Opened {
            _dir, access, raw, ..
        } = open();
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
        let blob: Vec<u8> = raw
            .query_row("SELECT secrets FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert!(!String::from_utf8_lossy(&blob).contains("Fictif"));
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
        let Opened { _dir, access, .. } = open();
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
        let Opened {
            _dir,
            access,
            trusted,
            raw,
        } = open();
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
        raw.execute(
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
        raw.execute(
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
        raw.execute(
            "UPDATE accounts SET disabled_at = NULL WHERE login = 'dr-a'",
            [],
        )
        .unwrap();
        assert!(matches!(
            access.account("dr-a"),
            Err(Error::AccountNotProven(_))
        ));
        raw.execute(
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
        raw
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
        let raw = Connection::open(data.db_path()).unwrap();
        access
            .add_account(
                new_account("dr-old", AccountRole::Administrator),
                Timestamp::from_micros(1),
            )
            .unwrap();
        // As a store written before role entries: accounts, no such entries.
        raw.execute_batch("DROP TRIGGER access_log_no_delete; DELETE FROM access_log;")
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
        raw
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
        let Opened {
            _dir,
            access,
            trusted,
            raw,
        } = open();
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
        let conn = &raw;
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
        let report = access.verify(&trusted).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("#2 was changed")),
            "{:?}",
            report.problems
        );
    }
}
