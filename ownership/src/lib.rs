//! Act ownership across the nodes of a cluster, on Redis.
//!
//! A live act belongs to one node at a time, through a lease in Redis: a
//! key set with `SET NX PX` by the claim, renewed by the room's task, given
//! back on release, left to expire when its node dies. Nodes register with
//! a heartbeat so that a node knows where its peers listen.
//!
//! - sans-IO cores: [`lease`] (one act on one node) and [`registry`] (one
//!   node's heartbeat), fed `now` and Redis's answers;
//! - [`driver`]: the Redis side (scripts, keys, connection) on the `redis`
//!   crate's connection manager;
//! - [`task`]: tokio tasks running a core against the driver, for a room;
//! - [`link`]: tokens authenticating one node to another for an act;
//! - formats: [`node`], [`fence`], [`keys`], field by field in
//!   docs/OWNERSHIP.md.

pub mod driver;
pub mod error;
pub mod fence;
pub mod keys;
pub mod lease;
pub mod link;
pub mod node;
pub mod registry;
pub mod task;

pub use driver::{Redis, RedisConfig};
pub use error::Error;
pub use fence::{FencingToken, LeaseValue};
pub use keys::Keys;
pub use lease::{Held, Lease, LeaseConfig, LeaseEvent, LostReason};
pub use link::{ClusterSecret, LinkError};
pub use node::NodeId;
pub use registry::{Heartbeat, HeartbeatConfig, NodeEntry};
pub use task::{ActLease, HeartbeatTask, LeaseStatus};
