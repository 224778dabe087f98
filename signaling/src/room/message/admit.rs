//! `admit`: a professional lets a participant in from the waiting room;
//! the performance may start.

use session::act::Command;
use session::{ParticipantId, Timestamp};

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    pub(super) fn admit(
        &mut self,
        from: From,
        participant: ParticipantId,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if !from.role.is_professional() {
            return from.forbidden(step, "admit participants");
        }
        if self.apply(
            Command::Admit {
                participant,
                by: from.p,
            },
            now,
            step,
        ) {
            self.maybe_start(now, step);
        }
        Handled::Changed
    }
}
