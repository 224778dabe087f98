//! The relayed-media data path, sans IO (issue 17, in progress): what a
//! relay must do for each ChannelData, Send indication and peer datagram,
//! without a lock, a scan or an allocation per packet.
//!
//! - [`wire`]: the three messages that carry media, read and written in
//!   place in the datagram's buffer;
//! - [`table`]: allocations, channels and permissions in flat maps, learnt
//!   from the control plane's requests and success answers, with their
//!   lifetimes.
//!
//! The driver that feeds them batches of datagrams (`recvmmsg`/GRO in,
//! `sendmmsg`/GSO out) and hands every miss to the `turn` server is the
//! next step; until then the relay's packets all take the `turn` server's
//! path. See `docs/design/relay-fast-path.md`.

pub mod table;
pub mod wire;
