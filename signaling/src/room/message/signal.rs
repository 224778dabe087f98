//! `signal`: WebRTC negotiation relayed to another participant, only while
//! media is allowed for both (the consent gate).

use session::ParticipantId;

use super::{From, Handled};
use crate::protocol::{ServerMessage, SignalData};
use crate::room::{Output, Room, Step};

impl Room {
    pub(super) fn signal(
        &mut self,
        from: From,
        to: ParticipantId,
        data: SignalData,
        step: &mut Step,
    ) -> Handled {
        if !self.media_allowed(from.p) || !self.media_allowed(to) {
            return from.refuse(step, "media is not allowed between these participants now");
        }
        if let Some(&target) = self.conns.get(&to) {
            step.outputs.push(Output::Send {
                conn: target,
                msg: ServerMessage::Signal {
                    from: from.p.0,
                    data,
                },
            });
        }
        Handled::Quiet
    }
}
