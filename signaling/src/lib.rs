//! The teleconsult server's library: what the `teleconsult` binary serves.
//!
//! - [`server`]: `app(state) -> Router` (testable without a socket), the
//!   security headers, and listening with TLS;
//! - [`api`]: the REST API and its one `ApiError`;
//! - [`auth`]: professional sign-in (password + TOTP, sessions, the OIDC seam);
//! - [`access`]: who may read which trace, the trace routes, the access log;
//! - [`export`]: an act's trace as read and exported;
//! - `ws`: the WebSocket driver, one per connection;
//! - [`hub`]: one task per live act, driving its [`room`];
//! - [`room`]: one act's live session as a plain state machine (no IO);
//! - [`live`]: what professionals learn live (incidents, mode changes);
//! - [`protocol`]: the typed WebSocket signaling messages;
//! - [`invitation`] and [`links`]: signed, expiring join links;
//! - [`precall`]: the pre-call connection test's HTTP side;
//! - [`relay_access`]: TURN credentials per participant, revoked when media stops;
//! - [`throttle`]: rate, in-flight and time limits on every HTTP route;
//! - [`clock`]: the time the edges read (the wall clock, or tokio's in tests);
//! - [`state`]: what handlers share; [`config`]: the settings file.

pub mod access;
pub mod api;
pub mod auth;
pub mod budget;
pub mod clock;
pub mod config;
mod consent_text;
mod error;
pub mod export;
pub mod guard;
pub mod hub;
pub mod invitation;
mod limits;
pub mod links;
pub mod live;
pub mod logs;
mod metrics;
pub mod precall;
pub mod protocol;
pub mod relay_access;
pub mod room;
pub mod server;
pub mod state;
pub mod throttle;
mod web;
mod ws;

pub use error::Error;
pub use server::app;
pub use state::{AppState, ServerConfig};
