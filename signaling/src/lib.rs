//! The teleconsult server's library: what the `teleconsult` binary serves.
//!
//! - [`server`]: `build(settings)` and `Server::run(listener, shutdown)`
//!   (the binary and the tests assemble the same server), `app(state) ->
//!   Router` (testable without a socket), the security headers, listening
//!   with TLS, and the graceful shutdown;
//! - [`api`]: the REST handlers (acts, trace reads, sign-in, health);
//! - `error`: the one [`Error`] and the one [`ApiError`] that chooses each
//!   failure's status and sentence;
//! - [`auth`]: professional sign-in (password + TOTP, sessions, the OIDC seam);
//! - [`access`]: who may read which trace, and the sign-in machinery it runs on;
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
//! - [`witnessing`]: the trace log's checkpoints submitted to witnesses,
//!   and the rollback check at start;
//! - [`state`]: what handlers share; [`config`]: the settings file;
//! - [`store`]: where the trace lives (`--store`) and the one way it is
//!   opened; [`node`]: this server's node id and Redis (`--node-id`, `--redis`);
//!   [`cluster`]: act ownership on that Redis (heartbeat, rooms' leases).
//!
//! Dependencies point one way: the handlers (`api`, `precall`, `ws`) and
//! `server` use [`state`]; [`state`] holds the parts of the others
//! (`access::Security`, `hub::RoomHandle`, `throttle` limits...) and none
//! of them names it back (the hub reaches the server through
//! [`hub::RoomHost`]); `error` names no sibling.

pub mod access;
pub mod api;
pub mod auth;
pub mod budget;
pub mod clock;
pub mod cluster;
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
pub mod node;
pub mod precall;
pub mod protocol;
pub mod receipts;
pub mod relay_access;
pub mod room;
pub mod server;
pub mod state;
pub mod store;
/// Why a `--store` value is refused (shared by `store` and `error`).
pub mod store_setting;
pub mod throttle;
mod web;
pub mod witnessing;
mod ws;

pub use error::{ApiError, Error};
pub use server::app;
pub use state::{AppState, ServerConfig};
