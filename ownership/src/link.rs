//! Tokens that authenticate one node to another for one act: the
//! forwarded participant connection (docs/OWNERSHIP.md, "Reaching the
//! owner") carries one, minted by the node that accepted the participant's
//! WebSocket and checked by the owner.
//!
//! A token is `v1.NODE.ACT.EXPIRY.MAC`: the minting node's id, the act id,
//! the expiry (Unix seconds) and the base64url (no padding) HMAC-SHA256,
//! under the cluster's shared secret, of `teleconsult-node-link/v1\n`,
//! NODE, `\n`, ACT, `\n`, EXPIRY. Checking recomputes the MAC and compares
//! in constant time before looking at anything else, then refuses an
//! expired token or one for another act. Tokens are short-lived (seconds)
//! and say nothing about a person.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use session::ActId;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::node::NodeId;

/// The MAC's domain separation label.
const LABEL: &str = "teleconsult-node-link/v1";

/// The cluster's shared secret (`--cluster-secret`): at least 32 bytes.
pub struct ClusterSecret(Vec<u8>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Why a token was refused (one reason, for logs; the peer gets a 403).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("a cluster secret has at least 32 bytes")]
    ShortSecret,
    #[error("a node link token reads v1.NODE.ACT.EXPIRY.MAC")]
    Malformed,
    #[error("the node link token's MAC does not verify (another cluster secret?)")]
    BadMac,
    #[error("the node link token has expired")]
    Expired,
    #[error("the node link token is for another act")]
    OtherAct,
}

impl ClusterSecret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, LinkError> {
        if bytes.len() < 32 {
            return Err(LinkError::ShortSecret);
        }
        Ok(ClusterSecret(bytes))
    }

    fn mac(&self, node: &str, act: &str, expiry: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(LABEL.as_bytes());
        for part in [node, act, expiry] {
            mac.update(b"\n");
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// A token from `node` for `act`, valid until `expires_at` (Unix seconds).
    pub fn mint(&self, node: &NodeId, act: &ActId, expires_at: u64) -> String {
        let (node, act, expiry) = (node.as_str(), act.to_string(), expires_at.to_string());
        let mac = URL_SAFE_NO_PAD.encode(self.mac(node, &act, &expiry));
        format!("v1.{node}.{act}.{expiry}.{mac}")
    }

    /// The act a token names, read without checking anything: to know
    /// which act to [`ClusterSecret::check`] it for before the participant
    /// has said. `None` when the token is not `v1.NODE.ACT.EXPIRY.MAC`.
    pub fn act_of(token: &str) -> Option<ActId> {
        let parts: Vec<&str> = token.split('.').collect();
        match parts[..] {
            ["v1", _, act, _, _] => act.parse().ok(),
            _ => None,
        }
    }

    /// Checks a token for `act` at `now` (Unix seconds); returns the node
    /// that minted it.
    pub fn check(&self, token: &str, act: &ActId, now: u64) -> Result<NodeId, LinkError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [version, node, token_act, expiry, mac] = parts[..] else {
            return Err(LinkError::Malformed);
        };
        if version != "v1" {
            return Err(LinkError::Malformed);
        }
        let given = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| LinkError::Malformed)?;
        let expected = self.mac(node, token_act, expiry);
        if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
            return Err(LinkError::BadMac);
        }
        let expires_at: u64 = expiry.parse().map_err(|_| LinkError::Malformed)?;
        if now >= expires_at {
            return Err(LinkError::Expired);
        }
        if token_act != act.to_string() {
            return Err(LinkError::OtherAct);
        }
        NodeId::new(node).map_err(|_| LinkError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> ClusterSecret {
        ClusterSecret::new(vec![b; 32]).unwrap()
    }

    #[test]
    fn a_token_checks_for_its_act_until_it_expires() {
        let act = ActId::random();
        let node = NodeId::new("node-a").unwrap();
        let token = secret(1).mint(&node, &act, 1_000);
        assert_eq!(secret(1).check(&token, &act, 999), Ok(node));
        assert_eq!(
            secret(1).check(&token, &act, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(
            secret(1).check(&token, &ActId::random(), 999),
            Err(LinkError::OtherAct)
        );
        assert_eq!(secret(2).check(&token, &act, 999), Err(LinkError::BadMac));
    }

    #[test]
    fn the_act_is_read_from_a_token_before_it_is_checked() {
        let act = ActId::random();
        let token = secret(1).mint(&NodeId::new("node-a").unwrap(), &act, 1_000);
        assert_eq!(ClusterSecret::act_of(&token), Some(act));
        for bad in [
            "",
            "v1.a.b.c",
            "v2.node-a.x.1.mac",
            "v1.node-a.not-an-act.1.mac",
        ] {
            assert_eq!(ClusterSecret::act_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn tampered_and_malformed_tokens_are_refused() {
        let act = ActId::random();
        let node = NodeId::new("node-a").unwrap();
        let token = secret(1).mint(&node, &act, 1_000);
        let later = token.replace(".1000.", ".9000.");
        assert_eq!(secret(1).check(&later, &act, 999), Err(LinkError::BadMac));
        let other_node = token.replacen("node-a", "node-b", 1);
        assert_eq!(
            secret(1).check(&other_node, &act, 999),
            Err(LinkError::BadMac)
        );
        let (head, _) = token.rsplit_once('.').unwrap();
        let short_mac = format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 16]));
        assert_eq!(
            secret(1).check(&short_mac, &act, 999),
            Err(LinkError::BadMac)
        );
        for bad in ["", "v1", "v2.a.b.1.AAAA", "v1.a.b.1.!!", "v1.a.b.c.d.e"] {
            assert!(secret(1).check(bad, &act, 0).is_err(), "{bad}");
        }
        assert_eq!(
            ClusterSecret::new(vec![0; 31]).err(),
            Some(LinkError::ShortSecret)
        );
    }

    #[test]
    fn known_answer() {
        // docs/OWNERSHIP.md, "Node link token": the example there.
        assert!(include_str!("../../docs/OWNERSHIP.md").contains(KNOWN));
        let act: ActId = "6f1c2b9e-3a4d-4e5f-8a7b-0c1d2e3f4a5b".parse().unwrap();
        let node = NodeId::new("node-a").unwrap();
        let token = secret(0x42).mint(&node, &act, 1_764_979_200);
        assert_eq!(token, KNOWN);
    }

    /// Computed apart with Python's `hmac` module when written.
    const KNOWN: &str = "v1.node-a.6f1c2b9e-3a4d-4e5f-8a7b-0c1d2e3f4a5b.1764979200.dTvwuAGOBAZijcF05zpBzecQEBT-eJ2-4BorNsCpYOg";
}
