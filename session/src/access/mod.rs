//! Who may read the trace, and the record of who did: professional
//! accounts and the access log, kept beside (not inside) the act trace: in
//! the trace store's SQLite file by default, in any storage implementing
//! [`AccessTables`] otherwise.
//!
//! - [`account`]: an account as stored and opened, and how the log names
//!   an account and proves its role and state;
//! - [`log`]: the log's entries, their hash chain and its verification;
//! - [`tables`]: the seam, [`AccessTables`], and its contract;
//! - [`sqlite`]: the seam on SQLite, [`SqliteAccessTables`];
//! - `store`: [`AccessStore`], the logic above the seam (hashing,
//!   signing, sealing, proving, verifying);
//! - `conformance` (tests, feature `test-support`): the contract as a test
//!   suite any implementation runs.
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

pub mod account;
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
pub mod log;
pub mod sqlite;
mod store;
pub mod tables;

pub use account::{
    Account, AccountRole, AccountSecrets, NewAccount, ProvenAccount, account_subject,
};
pub use log::{AccessEntry, AccessReport, access_genesis, entry_hash, verify_entries};
pub use sqlite::SqliteAccessTables;
pub use store::AccessStore;
pub use tables::{AccessTables, AccountRow, Append, EntryMatch, NewAccountRow};
