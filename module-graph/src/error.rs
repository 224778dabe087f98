//! Why a workspace's module graph could not be read.

use std::path::PathBuf;

/// Why the graph could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} names no workspace member (expected `members = [..]` in [workspace])")]
    NoMembers(PathBuf),
}
