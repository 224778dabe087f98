//! The teleconsult server's library: what the `teleconsult` binary serves.
//!
//! - [`server`]: `app(state) -> Router` (testable without a socket), the
//!   security headers, and listening with TLS;
//! - [`api`]: the REST API and its one `ApiError`;
//! - `ws`: the WebSocket driver, one per connection;
//! - [`hub`]: one task per live act, driving its [`room`];
//! - [`room`]: one act's live session as a plain state machine (no IO);
//! - [`live`]: what professionals learn live (incidents, mode changes);
//! - [`protocol`]: the typed WebSocket signaling messages;
//! - [`invitation`] and [`links`]: signed, expiring join links;
//! - [`relay_access`]: TURN credentials per participant, revoked when media stops;
//! - [`state`]: what handlers share; [`config`]: the settings file.

pub mod api;
pub mod config;
mod consent_text;
mod error;
pub mod hub;
pub mod invitation;
mod limits;
pub mod links;
pub mod live;
mod metrics;
pub mod protocol;
pub mod relay_access;
pub mod room;
pub mod server;
pub mod state;
mod web;
mod ws;

pub use error::Error;
pub use server::app;
pub use state::{AppState, ServerConfig};
