//! Attached documents: their table (added to stores made before it), the
//! sealed row an attachment carries to the writer, and reading them back.

use crate::Error;
use crate::document::DocumentType;
use crate::ids::Sha256;

use super::SqliteStore;

/// The documents table, added to stores made before it: run by every
/// writer at open, a no-op once it exists.
pub(super) const DOCUMENTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    act BLOB NOT NULL,
    sha256 BLOB NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sealed_name BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (act, sha256)
);
CREATE TRIGGER IF NOT EXISTS documents_no_update BEFORE UPDATE ON documents BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER IF NOT EXISTS documents_no_delete BEFORE DELETE ON documents BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
";

/// A document's row, sealed on the caller's thread.
pub(super) struct SealedDocument {
    pub(super) sha256: Sha256,
    pub(super) media_type: DocumentType,
    pub(super) size: u64,
    pub(super) sealed_name: Vec<u8>,
    pub(super) sealed: Vec<u8>,
}

impl SqliteStore {
    /// A stored document's type, from its `media_type` column.
    pub(super) fn media_type(&self, stored: &str) -> Result<DocumentType, Error> {
        DocumentType::from_media_type(stored).ok_or_else(|| Error::NotATraceStore {
            path: self.path.clone(),
            reason: "a document has an unknown media type".into(),
        })
    }
}

/// A read of a store made before documents existed, opened read-only.
pub(super) fn no_documents_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("no such table: documents"))
}
