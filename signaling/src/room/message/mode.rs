//! `mode`: a participant's media mode changes (video, audio only, phone),
//! for itself or, by a professional, for another.

use session::act::Command;
use session::mode::{MediaMode, ModeCause};
use session::{ParticipantId, Timestamp};

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    pub(super) fn mode(
        &mut self,
        from: From,
        mode: MediaMode,
        cause: ModeCause,
        participant: Option<u32>,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        let target = participant.map_or(from.p, ParticipantId);
        self.apply_as(
            Some(from.p),
            Command::ChangeMode {
                participant: target,
                mode,
                cause,
                by: from.p,
            },
            now,
            step,
        );
        Handled::Quiet
    }
}
