//! This node's part in act ownership on Redis (issue 16, docs/OWNERSHIP.md):
//! the connection to Redis made at start, the node's heartbeat with its
//! advertised address, and the lease each live room claims for its act.
//!
//! Without `--redis` there is no [`Cluster`]: the node is alone and owns
//! every act it serves, as before.

mod advertise;
pub mod forward;
mod owner_check;

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ownership::{
    ActLease, ClusterSecret, HeartbeatConfig, HeartbeatTask, LeaseConfig, LinkError, Redis,
    RedisConfig,
};
use session::ActId;

use crate::Error;
use crate::node::{NodeId, RedisUrl};

pub use advertise::{check_advertise, default_advertise};
pub use forward::{Peer, PeerTls};
pub use owner_check::{CLAIM_WAIT, Ownership};

/// How long a client refused for ownership (or whose link to the owner
/// broke) waits before joining again: the `N` of close 4011's
/// `retry_after:N`.
pub const OWNERSHIP_RETRY_SECS: u32 = 2;

/// How long a node link token minted for one forwarded connection is
/// valid: only for opening that connection (the owner checks it once,
/// before the upgrade).
pub const LINK_TOKEN_SECS: u64 = 30;

/// The connection to Redis and this node's registration there; shared by
/// the server's state and its rooms.
#[derive(Debug)]
pub struct Cluster {
    redis: Redis,
    /// This node's id as the ownership crate spells it (the same text as
    /// [`crate::node::NodeId`]).
    node: ownership::NodeId,
    /// The URL peers reach this node at, as registered.
    advertise: String,
    /// The heartbeat; taken by [`Cluster::stop`] to deregister.
    heartbeat: Mutex<Option<HeartbeatTask>>,
    /// Lease timings for rooms (the default 5 s TTL in production).
    lease: LeaseConfig,
    /// What authenticates forwarded connections between the nodes.
    link: NodeLink,
}

/// What the nodes share to trust each other's forwarded connections: the
/// cluster secret node link tokens are signed with (`keys/cluster.key`,
/// the same file on every node, like the other keys), and the roots a
/// forwarding node trusts the owner's certificate with over `https://`.
#[derive(Debug)]
pub struct NodeLink {
    pub secret: ClusterSecret,
    pub tls: PeerTls,
}

/// Where a participant's connection is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Here: no live node holds the act, or this one does (the room then
    /// claims or holds the lease and settles the race, if any).
    Local,
    /// Forwarded to the live node that holds the act.
    Forward(Peer),
}

impl Cluster {
    /// Connects to `url` (a Redis down now is [`Error::Redis`], naming its
    /// host:port), then starts the heartbeat that lists this node at
    /// `advertise`.
    pub async fn start(
        url: &RedisUrl,
        node: &NodeId,
        advertise: &str,
        link: NodeLink,
    ) -> Result<Cluster, Error> {
        let node =
            ownership::NodeId::new(node.as_str()).map_err(|_| Error::NodeId(node.to_string()))?;
        let redis = Redis::connect(&RedisConfig::new(url.connection_string()))
            .await
            .map_err(Error::Redis)?;
        let task = HeartbeatTask::start(
            redis.clone(),
            node.clone(),
            advertise.to_owned(),
            HeartbeatConfig::default(),
        )
        .map_err(Error::Redis)?;
        Ok(Cluster {
            redis,
            node,
            advertise: advertise.to_owned(),
            heartbeat: Mutex::new(Some(task)),
            lease: LeaseConfig::default(),
            link,
        })
    }

    /// The Redis driver (for `/healthz`).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// This node's id among the nodes.
    pub fn node(&self) -> &ownership::NodeId {
        &self.node
    }

    /// Where peers reach this node, as registered.
    pub fn advertise(&self) -> &str {
        &self.advertise
    }

    /// Starts claiming `act` for this node; the returned lease is renewed
    /// by its own task until released or dropped.
    pub fn claim(&self, act: ActId) -> ActLease {
        ActLease::claim(self.redis.clone(), act, self.node.clone(), self.lease)
    }

    /// Where a participant of `act` is served: forwarded when another node
    /// holds the act's lease and its heartbeat says where it is, here
    /// otherwise. Redis not answering routes here too: the room's claim
    /// then tells the participant to retry.
    pub async fn route(&self, act: &ActId) -> Route {
        let owner = match self.redis.owner(act).await {
            Ok(Some(owner)) if owner.node != self.node => owner,
            _ => return Route::Local,
        };
        match self.redis.node_address(&owner.node).await {
            Ok(Some(address)) => Route::Forward(Peer {
                node: owner.node,
                address,
            }),
            // Its heartbeat expired: it is gone, and its lease ends within
            // a TTL; the room here claims the act then.
            _ => Route::Local,
        }
    }

    /// A node link token from this node for `act`, valid
    /// [`LINK_TOKEN_SECS`].
    pub fn mint_link(&self, act: &ActId) -> String {
        self.link
            .secret
            .mint(&self.node, act, unix_now() + LINK_TOKEN_SECS)
    }

    /// Checks a forwarded connection's node link token: the node that
    /// forwarded it and the act it is for.
    pub fn check_link(&self, token: &str) -> Result<(ownership::NodeId, ActId), LinkError> {
        let act = ClusterSecret::act_of(token).ok_or(LinkError::Malformed)?;
        let node = self.link.secret.check(token, &act, unix_now())?;
        Ok((node, act))
    }

    /// The TLS settings for links to peers over `https://`.
    pub fn peer_tls(&self) -> &PeerTls {
        &self.link.tls
    }

    /// Stops the heartbeat and removes this node from the list (graceful
    /// shutdown). A second call does nothing.
    pub async fn stop(&self) {
        let task = self
            .heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task
            && let Err(e) = task.stop().await
        {
            tracing::warn!(error = %e, "could not deregister this node from Redis; its entry expires by itself");
        }
    }
}

/// Unix seconds now, for link tokens (wall clock: nodes compare them).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
