//! The fencing token and the lease value that carries it.
//!
//! Each successful claim of an act takes the next number of the act's
//! counter in Redis (`INCR`, in the same script as the `SET NX`), so the
//! holders of one act, one after the other, hold strictly increasing tokens.
//! A stale owner is told apart by its lower token: in the lease value (the
//! renew and release scripts compare the whole value), and wherever the
//! token is written beside the work it fences.
//!
//! The value stored under the lease key is `v1:{token}:{node}`
//! (docs/OWNERSHIP.md, "Lease value").

use std::fmt;

use crate::node::NodeId;

/// A claim's number from the act's counter: larger is newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a stored lease value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a lease value reads v1:TOKEN:NODE (docs/OWNERSHIP.md)")]
pub struct LeaseValueError;

/// Who holds an act's lease and under which token: the value of the lease key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseValue {
    /// Orders holders in time; also makes the value unique per claim, so a
    /// node restarted under the same name cannot renew its former lease.
    pub token: FencingToken,
    /// The node to forward the act's participants to.
    pub node: NodeId,
}

impl LeaseValue {
    /// The version tag that starts every value.
    pub const VERSION: &'static str = "v1";

    /// The exact bytes stored in Redis.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", Self::VERSION, self.token.0, self.node)
    }

    /// Reads a value written by [`LeaseValue::encode`].
    pub fn decode(s: &str) -> Result<Self, LeaseValueError> {
        let mut parts = s.splitn(3, ':');
        let (Some(Self::VERSION), Some(token), Some(node)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(LeaseValueError);
        };
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LeaseValueError);
        }
        let token = token.parse().map_err(|_| LeaseValueError)?;
        let node = NodeId::new(node).map_err(|_| LeaseValueError)?;
        Ok(LeaseValue {
            token: FencingToken(token),
            node,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let v = LeaseValue {
            token: FencingToken(1_733_430_000_000_001),
            node: NodeId::new("node-b").unwrap(),
        };
        assert_eq!(v.encode(), "v1:1733430000000001:node-b");
        assert_eq!(LeaseValue::decode(&v.encode()).unwrap(), v);
        for bad in [
            "",
            "v1",
            "v1:1",
            "v2:1:a",
            "v1::a",
            "v1:-1:a",
            "v1:1:a:b",
            "v1:x:a",
            "v1:99999999999999999999:a",
        ] {
            assert!(LeaseValue::decode(bad).is_err(), "{bad}");
        }
    }
}
