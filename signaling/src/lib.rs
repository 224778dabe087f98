//! The teleconsult server's library: what the `teleconsult` binary serves.
//!
//! - [`invitation`]: signed, expiring join links bound to an act and a role;
//! - [`protocol`]: the typed WebSocket signaling messages;
//! - [`room`]: one act's live session as a plain state machine.
//!
//! The HTTP API, the WebSocket signaling and the server's state come with the
//! live-session work; each is a plain module here, tested without a socket.

mod consent_text;
mod error;
pub mod invitation;
pub mod protocol;
pub mod room;

pub use error::Error;
