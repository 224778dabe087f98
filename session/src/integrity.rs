//! What a verification finds wrong with a trace.
//!
//! A leaf: [`crate::trace`] produces [`Problem`]s, [`crate::store`]'s
//! readers refuse a record with one, and [`crate::Error::TraceIntegrity`]
//! carries it, so it lives below all three.

use std::fmt;

use serde::Serialize;

/// One thing wrong with a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The act concerned; `None` for a problem in the checkpoint chain.
    pub act: Option<String>,
    /// The event concerned, by its position in the act's chain.
    pub seq: Option<u64>,
    /// The checkpoint concerned, if any.
    pub checkpoint: Option<u64>,
    /// What is wrong, in words.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.act, self.seq, self.checkpoint) {
            (Some(act), Some(seq), _) => write!(f, "act {act}, event #{seq}: {}", self.what),
            (Some(act), None, _) => write!(f, "act {act}: {}", self.what),
            (None, _, Some(no)) => write!(f, "checkpoint #{no}: {}", self.what),
            (None, _, None) => f.write_str(&self.what),
        }
    }
}
