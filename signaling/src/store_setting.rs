//! Why a `--store` value is refused: the vocabulary `store` (which parses
//! the setting) and `error` (which reports it) share, in a leaf module of
//! its own so that neither imports the other back.

use std::fmt;

/// Why a `--store` value is refused. Never holds the value itself, which
/// may carry a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreSettingError {
    #[error("the value is empty")]
    Empty,
    /// A URL of another scheme; holds the scheme only (at most 16 chars).
    #[error("unknown scheme {0:?}")]
    UnknownScheme(SchemeName),
    #[error("a PostgreSQL URL needs a host (postgres://USER@HOST/DB)")]
    NoHost,
    #[error("a PostgreSQL URL needs a database name (postgres://USER@HOST/DB)")]
    NoDatabase,
    #[error("the port of a PostgreSQL URL is not a number from 1 to 65535")]
    BadPort,
    #[error("`sqlite:` needs a file path after it, or nothing")]
    BadSqlitePath,
}

/// The scheme of a refused URL, short enough to print: `mysql`, `redis`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SchemeName {
    bytes: [u8; 16],
    len: usize,
}

impl SchemeName {
    pub(crate) fn new(scheme: &str) -> SchemeName {
        let mut bytes = [0u8; 16];
        let len = scheme.len().min(16);
        bytes[..len].copy_from_slice(&scheme.as_bytes()[..len]);
        SchemeName { bytes, len }
    }

    fn as_str(&self) -> &str {
        // Schemes are ASCII (checked before this is made).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
    }
}

impl fmt::Debug for SchemeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
