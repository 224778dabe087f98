//! The relayed-media data path's core: what a relay must do for each ChannelData, Send indication and peer datagram,
//! without a lock, a scan or an allocation per packet.
//!
//! - [`wire`]: the three messages that carry media, read and written in
//!   place in the datagram's buffer;
//! - [`table`]: allocations, channels and permissions, learnt from the
//!   control plane's requests and success answers, with their lifetimes,
//!   each stored once in a slab and found through hash tables of indices
//!   (`slab`).
//!
//! - [`batch`]: the only IO here, `recvmmsg` into a pool of slots with
//!   headroom and `sendmmsg` of ranges of them.
//!
//! The driver that runs them, one thread per shard of clients, is
//! `relay::shard`. See `docs/design/relay-fast-path.md`.

pub mod batch;
mod slab;
pub mod table;
pub mod wire;
