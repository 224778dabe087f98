//! `leave`: a participant leaves by choice; its relay access and its
//! screen share go with it.

use session::Timestamp;
use session::act::LeaveReason;

use super::{From, Handled};
use crate::room::{Output, Room, Step};

impl Room {
    pub(super) fn leave(&mut self, from: From, now: Timestamp, step: &mut Step) -> Handled {
        self.conns.remove(&from.p);
        self.media_on.remove(&from.p);
        self.revoke_relay_of(from.p, step);
        self.depart(from.p, LeaveReason::LeftByChoice, now, step);
        step.outputs.push(Output::Close {
            conn: from.conn,
            reason: LeaveReason::LeftByChoice,
        });
        Handled::Changed
    }
}
