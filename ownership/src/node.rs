//! A node's name in the cluster, as given by `--node-id`.
//!
//! It appears in Redis keys and lease values (docs/OWNERSHIP.md), so its
//! alphabet is kept to characters that need no escaping there: letters,
//! digits, `.`, `_` and `-`, 1 to [`NodeId::MAX_LEN`] of them. It names a
//! machine, never a person.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a node id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a node id has 1 to {max} characters among letters, digits, '.', '_' and '-'",
    max = NodeId::MAX_LEN
)]
pub struct NodeIdError;

/// One server process of the cluster, by the name its operator gave it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Longest accepted name: keys stay short and a name is a label, not data.
    pub const MAX_LEN: usize = 64;

    /// Checks the alphabet and length.
    pub fn new(name: &str) -> Result<Self, NodeIdError> {
        let ok = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(NodeId(name.to_owned()))
        } else {
            Err(NodeIdError)
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(s: &str) -> Result<Self, NodeIdError> {
        NodeId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_and_length() {
        assert_eq!(NodeId::new("node-a.1_x").unwrap().as_str(), "node-a.1_x");
        assert!(NodeId::new("").is_err());
        assert!(
            NodeId::new("a:b").is_err(),
            "':' separates fields in lease values"
        );
        assert!(NodeId::new("a b").is_err());
        assert!(NodeId::new("é").is_err());
        assert!(NodeId::new(&"x".repeat(64)).is_ok());
        assert!(NodeId::new(&"x".repeat(65)).is_err());
    }
}
