//! The names of the keys this crate writes in Redis, all under one prefix
//! (`teleconsult:` by default; each test uses its own). Field by field in
//! docs/OWNERSHIP.md, "Keys"; the known-answer test in `tests/doc_keys.rs`
//! ties the two.

use session::ActId;

use crate::node::NodeId;

/// Builds key names under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The prefix of a production deployment.
    pub const DEFAULT_PREFIX: &'static str = "teleconsult:";

    /// `prefix` is used as given (end it with `:`).
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The act's lease: a string `v1:TOKEN:NODE` with the lease's TTL.
    pub fn lease(&self, act: &ActId) -> String {
        format!("{}act:{act}:lease", self.prefix)
    }

    /// The act's fencing counter: an integer, no TTL.
    pub fn fence(&self, act: &ActId) -> String {
        format!("{}act:{act}:fence", self.prefix)
    }

    /// The restart guard: Redis's time (µs) when it first served this
    /// prefix with its current data.
    pub fn since(&self) -> String {
        format!("{}since", self.prefix)
    }

    /// A node's heartbeat: a string `v1:ADDRESS` with the heartbeat's TTL.
    pub fn node(&self, node: &NodeId) -> String {
        format!("{}node:{node}", self.prefix)
    }

    /// The sorted set of registered nodes, scored by their last heartbeat
    /// (Redis time, ms).
    pub fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new(Self::DEFAULT_PREFIX)
    }
}
