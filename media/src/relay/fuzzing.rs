//! What the fuzz target `turn_stream` runs of the relay (cargo feature
//! `fuzzing`), so that it fuzzes the relay's own code rather than a copy:
//! the stream framing ([`FrameDecoder`]), what a listener does to a
//! datagram before the TURN server reads it ([`cap_lifetimes`]), and the
//! auth handler every listener's TURN server runs ([`auth_handler`]).

use std::sync::Arc;

pub use super::framing::{Frame, FrameDecoder, FrameError, MAX_FRAME_LEN, next_frame};
use super::lifetime::LifetimeCap;
pub use super::turn_server::auth_handler;
use crate::TurnCredentials;

/// Lowers over-long allocation lifetimes in `datagram` as the relay's
/// listeners do before the TURN server reads it (see `lifetime`).
pub fn cap_lifetimes(credentials: &Arc<TurnCredentials>, realm: &str, datagram: &mut [u8]) {
    LifetimeCap {
        credentials: Arc::clone(credentials),
        realm: realm.to_owned(),
    }
    .apply(datagram);
}
