//! The crate's errors.

use crate::fence::LeaseValueError;
use crate::node::NodeIdError;

/// Everything that can go wrong talking to Redis or reading what it holds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Redis URL does not parse.
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    /// Redis did not answer at start (down, refused, wrong address).
    #[error("Redis at {addr} does not answer: {source}")]
    Unreachable {
        addr: String,
        #[source]
        source: redis::RedisError,
    },
    /// A command failed or timed out on a Redis that answered before.
    #[error("Redis at {addr}: {source}")]
    Command {
        addr: String,
        #[source]
        source: redis::RedisError,
    },
    /// A command got no answer within the driver's timeout.
    #[error("Redis at {addr} did not answer within {timeout_ms} ms")]
    Timeout { addr: String, timeout_ms: u128 },
    /// A script answered something it never returns.
    #[error("Redis at {addr}: unexpected answer from the {script} script")]
    Protocol { addr: String, script: &'static str },
    /// A stored lease value is not in our format.
    #[error(transparent)]
    LeaseValue(#[from] LeaseValueError),
    /// A stored node id is not in our format.
    #[error(transparent)]
    NodeId(#[from] NodeIdError),
    /// A node's advertised address cannot be stored.
    #[error("a node address is 1 to 256 printable ASCII characters without spaces")]
    Address,
}
