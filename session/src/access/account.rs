//! Professional accounts: what a row holds once opened, and how the signed
//! access log names an account and proves its role and state.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::Rpps;
use crate::pii::Pii;
use crate::timestamp::Timestamp;

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

    pub(super) fn parse(s: &str) -> Option<AccountRole> {
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

/// What the signed access log proves about an account: its role and
/// whether it is enabled, from its newest `account_role:*` and
/// `account_state:*` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvenAccount {
    pub role: Option<AccountRole>,
    pub enabled: bool,
}

/// The access log action that records an account's role.
pub(super) fn role_action(role: AccountRole) -> String {
    format!("account_role:{}", role.as_str())
}

pub(super) const ROLE_PREFIX: &str = "account_role:";
pub(super) const STATE_PREFIX: &str = "account_state:";
pub(super) const DISABLED_ACTION: &str = "account_state:disabled";
pub(super) const ENABLED_ACTION: &str = "account_state:enabled";
/// Written once, when the accounts of a store older than role entries
/// were given theirs; after it, only the log makes a role.
pub(super) const SIGNED_MARKER: &str = "accounts_signed";
/// Who the account store's own role and state entries name as actor.
pub(super) const ACCOUNTS_ACTOR: &str = "accounts";

/// Whether `action` is one an account's entries are read from: what
/// SQLite's `action LIKE 'account_%'` picked when the filter was SQL
/// (`account`, ASCII case-insensitive, then at least one more byte), kept
/// above the seam so every storage picks the same entries.
pub(super) fn is_account_action(action: &str) -> bool {
    action.len() > "account".len()
        && action.as_bytes()[.."account".len()].eq_ignore_ascii_case(b"account")
}

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

/// Why an account row disagrees with what the log proves, if it does.
pub(super) fn mismatch(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_actions_are_those_like_account_underscore_picked() {
        for a in [
            "account_role:professional",
            "account_state:disabled",
            "accounts_signed",
            "ACCOUNT_x",
        ] {
            assert!(is_account_action(a), "{a}");
        }
        for a in ["account", "read", "acc", "login", "é"] {
            assert!(!is_account_action(a), "{a}");
        }
    }

    #[test]
    fn an_account_is_named_by_its_id_and_a_digest_of_its_login() {
        let s = account_subject(7, "dr-a");
        assert!(s.starts_with("account:7:"), "{s}");
        assert_eq!(s.len(), "account:7:".len() + 16);
        assert_ne!(s, account_subject(7, "dr-b"));
        assert_ne!(s, account_subject(8, "dr-a"));
    }
}
