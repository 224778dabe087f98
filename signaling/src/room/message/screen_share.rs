//! `screen_share`: a participant starts or stops sharing their screen (a
//! professional shows their PACS viewer). Both are trace events, and
//! everyone's view of the room shows who shares. Leaving stops it too
//! (see `Room::depart`).

use session::act::Command;
use session::{ParticipantId, Timestamp};

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    /// Whether `p` is already in the state `active` asks for: a resend
    /// after a lost `pong`, ignored (no event, no error, no budget).
    pub(super) fn screen_share_unchanged(&self, p: ParticipantId, active: bool) -> bool {
        self.act.is_sharing_screen(p) == active
    }

    pub(super) fn screen_share(
        &mut self,
        from: From,
        active: bool,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if self.screen_share_unchanged(from.p, active) {
            return Handled::Quiet;
        }
        let participant = from.p;
        let command = if active {
            Command::StartScreenShare { participant }
        } else {
            Command::StopScreenShare { participant }
        };
        if self.apply_as(Some(from.p), command, now, step) {
            Handled::Changed
        } else {
            Handled::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use session::act::LeaveReason;

    use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
    use crate::room::testing::*;
    use crate::room::{Input, Room};

    fn share(active: bool) -> ClientMessage {
        ClientMessage::ScreenShare { active }
    }

    fn sharing(r: &Room, viewer: session::ParticipantId) -> bool {
        r.view_for(viewer)
            .participants
            .iter()
            .any(|p| p.id == 1 && p.screen_sharing)
    }

    #[test]
    fn start_and_stop_are_recorded_and_shown() {
        let mut r = live_room(30);
        let s = say(&mut r, 10, share(true));
        assert_eq!(kinds(&s), ["screen_share_started"]);
        assert!(sharing(&r, PRO) && sharing(&r, PATIENT));
        assert!(
            sent_to(&s, 20)
                .iter()
                .any(|m| matches!(m, ServerMessage::State(v) if v.participants[0].screen_sharing)),
            "everyone is shown the new state"
        );
        assert!(say(&mut r, 10, share(true)).events.is_empty(), "once");
        assert_eq!(
            kinds(&say(&mut r, 10, share(false))),
            ["screen_share_stopped"]
        );
        assert!(!sharing(&r, PRO));
        assert!(say(&mut r, 10, share(false)).events.is_empty());
    }

    #[test]
    fn leaving_stops_the_share() {
        for leave in [true, false] {
            let mut r = live_room(30);
            say(&mut r, 10, share(true));
            let s = if leave {
                say(&mut r, 10, ClientMessage::Leave {})
            } else {
                r.handle(
                    Input::Closed {
                        conn: 10,
                        reason: LeaveReason::ConnectionLost,
                        silent_ms: 6000,
                    },
                    t(3),
                )
            };
            assert_eq!(kinds(&s)[..2], ["screen_share_stopped", "left"], "{leave}");
            assert!(!r.act().is_sharing_screen(PRO));
        }
    }

    #[test]
    fn before_the_performance_it_is_refused() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = say(&mut r, 10, share(true));
        assert!(s.events.is_empty());
        assert!(matches!(
            sent_to(&s, 10)[..],
            [ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }]
        ));
    }
}
