//! `chat_digest`: one end of a chat message reports its salted SHA-256 (the
//! text and salt travel peer to peer only). The act compares the ends'
//! digests, whichever comes first; when they differ, it records a
//! `chat_mismatch` incident and both ends are told.

use session::act::Command;
use session::{MessageId, ParticipantId, Sha256, Timestamp};

use super::{From, Handled};
use crate::protocol::ExchangeKind;
use crate::room::{Room, Step};

impl Room {
    /// Whether `reporter` already reported `message`: a resend after a lost
    /// `pong`, ignored (no event, no error, no budget).
    pub(super) fn chat_reported_by(&self, reporter: ParticipantId, message: MessageId) -> bool {
        self.act
            .chats
            .get(&message)
            .is_some_and(|m| m.reporters.iter().any(|(p, _)| *p == reporter))
    }

    pub(super) fn chat_digest(
        &mut self,
        from: From,
        message: MessageId,
        sender: u32,
        digest: Sha256,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if self.chat_reported_by(from.p, message) {
            return Handled::Quiet;
        }
        let sender = ParticipantId(sender);
        let before = step.events.len();
        let recorded = self.apply_as(
            Some(from.p),
            Command::ReportChat {
                message,
                sender,
                reporter: from.p,
                digest,
            },
            now,
            step,
        );
        if recorded {
            // The two ends: the sender and whoever reported the message.
            let mut ends = vec![sender];
            if let Some(m) = self.act.chats.get(&message) {
                ends.extend(m.reporters.iter().map(|(p, _)| *p));
            }
            self.tell_mismatch(step, before, ExchangeKind::Chat, message.to_string(), &ends);
        }
        Handled::Quiet
    }
}

#[cfg(test)]
mod tests {
    use session::vocab::IncidentKind;
    use session::{ActEvent, MessageId, Sha256};

    use crate::protocol::{ClientMessage, ErrorCode, ExchangeKind, ServerMessage};
    use crate::room::testing::*;

    fn report(sender: u32, digest: u8) -> ClientMessage {
        ClientMessage::ChatDigest {
            message: MessageId::from_bytes([7; 16]),
            sender,
            digest: Sha256::from_bytes([digest; 32]),
        }
    }

    fn mismatch(m: &&ServerMessage) -> bool {
        matches!(
            m,
            ServerMessage::ExchangeMismatch {
                kind: ExchangeKind::Chat,
                ..
            }
        )
    }

    #[test]
    fn equal_digests_are_two_reports_and_no_incident() {
        let mut r = live_room(30);
        let s = say(&mut r, 10, report(1, 3));
        assert_eq!(kinds(&s), ["chat_reported"]);
        let s = say(&mut r, 20, report(1, 3));
        assert_eq!(kinds(&s), ["chat_reported"]);
        assert!(s.outputs.is_empty(), "nobody is told anything: {s:?}");
        assert!(r.act().incidents.is_empty());
        // The same report again (resent after a lost pong): nothing.
        let s = say(&mut r, 20, report(1, 3));
        assert!(s.events.is_empty() && s.outputs.is_empty(), "{s:?}");
    }

    #[test]
    fn different_digests_are_an_incident_told_to_both_ends() {
        let mut r = live_room(30);
        // The receiver's report may come first.
        say(&mut r, 20, report(1, 4));
        let s = say(&mut r, 10, report(1, 5));
        assert_eq!(
            kinds(&s),
            ["chat_reported", "incident_opened", "incident_closed"]
        );
        assert!(matches!(
            s.events[1].body,
            ActEvent::IncidentOpened {
                kind: IncidentKind::ChatMismatch,
                ..
            }
        ));
        for conn in [10, 20] {
            let told: Vec<_> = sent_to(&s, conn).into_iter().filter(mismatch).collect();
            assert_eq!(
                told,
                [&ServerMessage::ExchangeMismatch {
                    kind: ExchangeKind::Chat,
                    id: "07".repeat(16)
                }],
                "conn {conn}"
            );
        }
        // The professional also gets the incident itself.
        assert!(
            sent_to(&s, 10)
                .iter()
                .any(|m| matches!(m, ServerMessage::Incident(_)))
        );
    }

    #[test]
    fn a_chat_before_the_performance_is_refused() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = say(&mut r, 10, report(1, 3));
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
