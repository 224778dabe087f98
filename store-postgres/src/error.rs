//! The crate's error: what went wrong talking to PostgreSQL, naming the
//! server (host and port, never the password). It becomes a
//! [`session::Error`] at the [`session::TraceStore`] boundary.

/// A failure of the PostgreSQL trace store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's address is not a PostgreSQL connection string.
    #[error(
        "the trace store's address is not a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB): {}",
        describe(.0)
    )]
    Url(#[source] tokio_postgres::Error),
    /// No connection: the server is down, unreachable, or refuses the
    /// credentials.
    #[error("cannot connect to PostgreSQL at {server}: {}", describe(.source))]
    Connect {
        server: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection came free in time, or the pool could not make one.
    #[error("PostgreSQL at {server}: no connection available: {reason}")]
    Pool { server: String, reason: String },
    /// A statement failed.
    #[error("PostgreSQL at {server} failed: {}", describe(.source))]
    Query {
        server: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A group commit failed: every append in it gets this (the cause is
    /// logged once, and said here), none was acknowledged.
    /// `reason` is the failure's own message, which names the server.
    #[error("the trace commit failed, none of its appends was acknowledged: {reason}")]
    CommitFailed { reason: String },
    /// The database holds a trace of a schema this program does not know.
    #[error(
        "the trace database at {server} has schema version {found}; this program knows up to {known}: upgrade teleconsult"
    )]
    NewerSchema {
        server: String,
        found: i64,
        known: i64,
    },
    /// The database is not a teleconsult trace.
    #[error("the database at {server} is not a teleconsult trace: {reason}")]
    NotATrace {
        server: String,
        reason: &'static str,
    },
    /// An import (`store migrate`) into a database that already holds a
    /// trace: it copies into an empty one only.
    #[error(
        "the trace database at {server} is not empty ({rows} rows in {table}): `store migrate` copies into an empty database only"
    )]
    NotEmpty {
        server: String,
        table: &'static str,
        rows: i64,
    },
    /// An import of rows sealed with another data key than the one the
    /// destination was opened with.
    #[error(
        "the rows to import are sealed with data key {source_key}, the trace database at {server} with {destination_key}"
    )]
    ImportDataKey {
        server: String,
        source_key: String,
        destination_key: String,
    },
    /// The store's own runtime could not start.
    #[error("cannot start the PostgreSQL store's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The Merkle tree's hashes could not be computed.
    #[error("the Merkle tree: {0}")]
    Tree(#[from] tlog_tiles::Error),
    /// The store was closed.
    #[error("the trace store is closed")]
    Closed,
}

impl From<Error> for session::Error {
    fn from(e: Error) -> session::Error {
        match e {
            Error::Closed => session::Error::StoreClosed,
            e => session::Error::ExternalStore(Box::new(e)),
        }
    }
}

/// A tokio-postgres error in full: the server's message (with its
/// SQLSTATE) or the client's, and their causes ("error connecting to
/// server: Connection refused").
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({}: {})", db.message(), db.severity(), db.code().code());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
