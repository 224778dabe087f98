//! The teleconsult server's library: what the `teleconsult` binary serves.
//!
//! - [`invitation`]: signed, expiring join links bound to an act and a role.
//!
//! The HTTP API, the WebSocket signaling and the server's state come with the
//! live-session work; each is a plain module here, tested without a socket.

mod error;
pub mod invitation;

pub use error::Error;
