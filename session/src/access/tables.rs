//! The seam between the access store's logic and where its rows live.
//!
//! [`AccessStore`](super::AccessStore) hashes, signs, seals and verifies;
//! an [`AccessTables`] only moves rows. The embedded default is
//! [`SqliteAccessTables`](super::SqliteAccessTables), in the trace store's
//! SQLite file; a deployment beyond one machine keeps the same two tables
//! in a shared database (PostgreSQL) by implementing this trait, and checks
//! its implementation with `conformance` (feature
//! `test-support`).

use std::sync::Arc;

use crate::Error;
use crate::timestamp::Timestamp;
use crate::trace::Hash;

use super::account::AccountRole;
use super::log::AccessEntry;

/// One `accounts` row as stored. The logic above the seam opens
/// `sealed`, and trusts `role` and `disabled_at` only as far as the
/// signed access log proves them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    /// Unique, chosen by the storage at insertion; never given to another
    /// login while this row exists.
    pub id: i64,
    /// The sign-in name, unique.
    pub login: String,
    /// The role as stored text (`professional`, `administrator`): kept raw,
    /// so a row edited to something else is reported above the seam
    /// rather than failing to load.
    pub role: String,
    pub created_at: Timestamp,
    /// `None` while the account is enabled.
    pub disabled_at: Option<Timestamp>,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// The sealed [`AccountSecrets`](super::AccountSecrets), bound to the
    /// login.
    pub sealed: Vec<u8>,
    /// The last TOTP time step accepted (0 before the first sign-in).
    pub totp_step: u64,
}

/// What [`AccessTables::insert_account`] writes: a new row, enabled, its
/// TOTP step 0.
#[derive(Clone, Debug)]
pub struct NewAccountRow {
    pub login: String,
    pub role: AccountRole,
    pub created_at: Timestamp,
    pub password_hash: String,
    pub sealed: Vec<u8>,
}

/// Which entries a lookup picks: an entry matches when its actor is one of
/// `actors`, or its action one of `actions`, or its action begins with
/// one of `action_prefixes` (case-sensitive, byte for byte).
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryMatch<'a> {
    pub actors: &'a [&'a str],
    pub actions: &'a [&'a str],
    pub action_prefixes: &'a [&'a str],
}

/// What [`AccessTables::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Append {
    /// The entry and its tree leaf are committed, durably.
    Written,
    /// Nothing was written: the log's newest entry is not the one the
    /// entry was chained to (another writer appended first). The caller
    /// reads the new head, builds and signs the entry again.
    Stale,
}

/// The storage of professional accounts and of the access log.
///
/// # Contract
///
/// Every implementation must keep these; `conformance`
/// checks each of them.
///
/// - **Durability.** A method that returns `Ok` after a write has
///   committed it durably (SQLite's `synchronous` in WAL mode, PostgreSQL's
///   `synchronous_commit = on`): a crash afterwards loses nothing, and any
///   handle opened later on the same storage (a restart, another node)
///   reads it.
/// - **Atomic, ordered append.** [`append`](Self::append) writes the entry
///   only if the log's newest entry is numbered `entry.seq - 1` and its
///   hash is `entry.prev_hash` (for an empty log: `entry.seq == 1`), and
///   writes it together with its leaf in the transparency log's Merkle
///   tree (kind [`LeafKind::Access`](crate::tlog::LeafKind::Access), item
///   `seq`, record hash `entry.hash`): both committed in one transaction,
///   or neither. Otherwise it writes nothing and answers
///   [`Append::Stale`]. Writers in several threads, processes or nodes
///   therefore extend one chain and never fork it: the check and the
///   insert are one atomic step (an immediate transaction, a row lock, a
///   unique `seq` as the fence).
/// - **Append-only.** The storage itself refuses to change or delete an
///   access log row once written (triggers, grants): no method of this
///   trait updates or deletes one, and the database refuses anyone else
///   who tries through the server's own access. What a privileged
///   attacker does past that is caught above the seam by the chain, the
///   signatures and the tree.
/// - **Faithful reads.** Entries come back byte for byte as appended, in
///   ascending `seq`, including entries that no longer verify: reads never
///   repair, skip or reorder what they find (verification needs to see the
///   tampering). A malformed row (a hash that is not 32 bytes) is an
///   error, not a skipped row.
/// - **Accounts.** Logins are unique, also against concurrent inserts;
///   the conditional updates ([`set_disabled`](Self::set_disabled),
///   [`use_totp_step`](Self::use_totp_step)) are each one atomic
///   compare-and-set, so two nodes cannot both accept the same TOTP step.
/// - **Empty storage.** A storage whose access log does not exist yet
///   (a read-only opening of an older store) reads as an empty log.
pub trait AccessTables: Send + Sync {
    /// Where the rows live, for messages and `Debug` (a file path, a
    /// database URL without its password).
    fn describe(&self) -> String;

    // --- accounts ----------------------------------------------------------

    /// Inserts a new account row and returns its id, or `None` (nothing
    /// written) when the login is taken.
    fn insert_account(&self, new: &NewAccountRow) -> Result<Option<i64>, Error>;

    /// The row whose login is `login`, if any.
    fn account(&self, login: &str) -> Result<Option<AccountRow>, Error>;

    /// Every account row, by ascending id.
    fn accounts(&self) -> Result<Vec<AccountRow>, Error>;

    /// Whether the account numbered `id` exists and is enabled.
    fn is_enabled(&self, id: i64) -> Result<bool, Error>;

    /// Sets the stored role of account `id` (nothing if there is none).
    fn set_role(&self, id: i64, role: AccountRole) -> Result<(), Error>;

    /// Disables (`Some(at)`) or enables (`None`) the account `login`, only
    /// if it is currently in the other state. Returns whether the row
    /// changed.
    fn set_disabled(&self, login: &str, disabled_at: Option<Timestamp>) -> Result<bool, Error>;

    /// Raises account `id`'s last TOTP step to `step` only if `step` is
    /// greater. Returns whether it did (false: the step was used, a
    /// replay, or there is no such account).
    fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, Error>;

    // --- the access log ----------------------------------------------------

    /// The newest entry's `seq` and `hash`, if the log holds any.
    fn head(&self) -> Result<Option<(u64, Hash)>, Error>;

    /// Appends `entry` (already hashed and signed above the seam) with its
    /// Merkle tree leaf, atomically, if it extends the current head; see
    /// the contract.
    fn append(&self, entry: &AccessEntry) -> Result<Append, Error>;

    /// Every entry, by ascending `seq`.
    fn entries(&self) -> Result<Vec<AccessEntry>, Error>;

    /// The entry numbered `seq`, if present.
    fn entry(&self, seq: u64) -> Result<Option<AccessEntry>, Error>;

    /// The entry with the highest `seq`, if any.
    fn newest(&self) -> Result<Option<AccessEntry>, Error>;

    /// The entries whose `outcome` is exactly `outcome`, by ascending
    /// `seq` (how an account's role and state entries are found: indexed
    /// on `outcome`).
    fn entries_with_outcome(&self, outcome: &str) -> Result<Vec<AccessEntry>, Error>;

    /// The matching entry with the lowest `seq`, if any.
    fn first_matching(&self, filter: &EntryMatch<'_>) -> Result<Option<AccessEntry>, Error>;

    /// How many entries have a `seq` at or above `from`, and the highest
    /// `seq` among them (`None` when there is none): how a deleted entry
    /// in the middle is noticed without reading the whole log.
    fn count_from(&self, from: u64) -> Result<(u64, Option<u64>), Error>;
}

/// Tables behind a box or a shared pointer are tables too, so an
/// [`AccessStore`](super::AccessStore) takes a `Box<dyn AccessTables>` or
/// an `Arc` shared with other users of the same connection pool.
macro_rules! delegate {
    ($($ptr:ident),*) => {$(
        impl<T: AccessTables + ?Sized> AccessTables for $ptr<T> {
            fn describe(&self) -> String {
                (**self).describe()
            }
            fn insert_account(&self, new: &NewAccountRow) -> Result<Option<i64>, Error> {
                (**self).insert_account(new)
            }
            fn account(&self, login: &str) -> Result<Option<AccountRow>, Error> {
                (**self).account(login)
            }
            fn accounts(&self) -> Result<Vec<AccountRow>, Error> {
                (**self).accounts()
            }
            fn is_enabled(&self, id: i64) -> Result<bool, Error> {
                (**self).is_enabled(id)
            }
            fn set_role(&self, id: i64, role: AccountRole) -> Result<(), Error> {
                (**self).set_role(id, role)
            }
            fn set_disabled(&self, login: &str, disabled_at: Option<Timestamp>) -> Result<bool, Error> {
                (**self).set_disabled(login, disabled_at)
            }
            fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, Error> {
                (**self).use_totp_step(id, step)
            }
            fn head(&self) -> Result<Option<(u64, Hash)>, Error> {
                (**self).head()
            }
            fn append(&self, entry: &AccessEntry) -> Result<Append, Error> {
                (**self).append(entry)
            }
            fn entries(&self) -> Result<Vec<AccessEntry>, Error> {
                (**self).entries()
            }
            fn entry(&self, seq: u64) -> Result<Option<AccessEntry>, Error> {
                (**self).entry(seq)
            }
            fn newest(&self) -> Result<Option<AccessEntry>, Error> {
                (**self).newest()
            }
            fn entries_with_outcome(&self, outcome: &str) -> Result<Vec<AccessEntry>, Error> {
                (**self).entries_with_outcome(outcome)
            }
            fn first_matching(&self, filter: &EntryMatch<'_>) -> Result<Option<AccessEntry>, Error> {
                (**self).first_matching(filter)
            }
            fn count_from(&self, from: u64) -> Result<(u64, Option<u64>), Error> {
                (**self).count_from(from)
            }
        }
    )*};
}

delegate!(Box, Arc);
