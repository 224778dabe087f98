//! `share`: a file shared peer to peer, as its two ends report it. The
//! sender's `offered` is answered `share_recorded` once durable (the room's
//! outputs follow the append), and only then does its page send the file,
//! so a receiver's `received` always finds the offer. A receiver's digest
//! that differs from the offer's is a `share_mismatch` incident, told to
//! both ends. Either end may cancel.

use session::act::Command;
use session::{ParticipantId, Pii, Timestamp};

use super::{From, Handled};
use crate::protocol::{ExchangeKind, ServerMessage, ShareReport};
use crate::room::{Output, Room, Step};

impl Room {
    /// Whether the act holds this report from `p` already: an offer of the
    /// same share with the same digest and size, a receipt by `p`, or a
    /// cancellation (by anyone). A resend after a lost `pong`, recorded
    /// once; an offer resent is answered `share_recorded` again.
    pub(super) fn share_reported_by(&self, p: ParticipantId, report: &ShareReport) -> bool {
        let Some(known) = self.act.share(report.share()) else {
            return false;
        };
        match report {
            ShareReport::Offered { digest, size, .. } => {
                known.sender == p && known.digest == *digest && known.size == *size
            }
            ShareReport::Received { .. } => known.received.iter().any(|(by, _)| *by == p),
            ShareReport::Cancelled { .. } => known.cancelled_by.is_some(),
        }
    }

    pub(super) fn share(
        &mut self,
        from: From,
        report: ShareReport,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        let share = report.share();
        let repeated = self.share_reported_by(from.p, &report);
        match report {
            ShareReport::Offered {
                digest,
                size,
                media_type,
                name,
                ..
            } => {
                let recorded = repeated
                    || self.apply_as(
                        Some(from.p),
                        Command::OfferShare {
                            share,
                            sender: from.p,
                            digest,
                            media_type,
                            size,
                            name: Pii::new(name),
                        },
                        now,
                        step,
                    );
                if recorded {
                    step.outputs.push(Output::Send {
                        conn: from.conn,
                        msg: ServerMessage::ShareRecorded { share },
                    });
                }
            }
            _ if repeated => {}
            ShareReport::Received { sender, digest, .. } => {
                if let Some(offered) = self.act.share(share)
                    && offered.sender.0 != sender
                {
                    return from.refuse(step, "this file was offered by another participant");
                }
                let before = step.events.len();
                let recorded = self.apply_as(
                    Some(from.p),
                    Command::ReceiveShare {
                        share,
                        by: from.p,
                        digest,
                    },
                    now,
                    step,
                );
                if recorded {
                    let ends = [ParticipantId(sender), from.p];
                    self.tell_mismatch(step, before, ExchangeKind::Share, share.to_string(), &ends);
                }
            }
            ShareReport::Cancelled { .. } => {
                self.apply_as(
                    Some(from.p),
                    Command::CancelShare { share, by: from.p },
                    now,
                    step,
                );
            }
        }
        Handled::Quiet
    }
}

#[cfg(test)]
mod tests {
    use session::document::DocumentType;
    use session::{ActEvent, Sha256, ShareId};

    use crate::protocol::{ClientMessage, ErrorCode, ExchangeKind, ServerMessage, ShareReport};
    use crate::room::testing::*;

    const ID: [u8; 16] = [9; 16];

    fn offered(digest: u8) -> ClientMessage {
        ClientMessage::Share(ShareReport::Offered {
            share: ShareId::from_bytes(ID),
            digest: Sha256::from_bytes([digest; 32]),
            size: 20 * 1024 * 1024,
            media_type: Some(DocumentType::Png),
            name: "C:\\images\\genou.png".into(),
        })
    }

    fn received(sender: u32, digest: u8) -> ClientMessage {
        ClientMessage::Share(ShareReport::Received {
            share: ShareId::from_bytes(ID),
            sender,
            digest: Sha256::from_bytes([digest; 32]),
        })
    }

    fn recorded(m: &&ServerMessage) -> bool {
        matches!(m, ServerMessage::ShareRecorded { .. })
    }

    #[test]
    fn an_offer_is_recorded_then_received() {
        let mut r = live_room(30);
        let s = say(&mut r, 10, offered(1));
        assert_eq!(kinds(&s), ["share_offered"]);
        let ActEvent::ShareOffered { name, .. } = &s.events[0].body else {
            panic!("{s:?}");
        };
        assert_eq!(name.expose(), "genou.png", "directories stripped");
        assert_eq!(
            sent_to(&s, 10),
            [&ServerMessage::ShareRecorded {
                share: ShareId::from_bytes(ID)
            }]
        );
        assert!(
            sent_to(&s, 20).is_empty(),
            "the receiver learns it peer to peer"
        );
        // Resent after a lost pong: answered again, recorded once.
        let s = say(&mut r, 10, offered(1));
        assert!(s.events.is_empty());
        assert_eq!(sent_to(&s, 10).into_iter().filter(recorded).count(), 1);
        let s = say(&mut r, 20, received(1, 1));
        assert_eq!(kinds(&s), ["share_received"]);
        assert!(s.outputs.is_empty(), "{s:?}");
        assert!(say(&mut r, 20, received(1, 1)).events.is_empty());
    }

    #[test]
    fn a_received_digest_that_differs_is_an_incident_told_to_both_ends() {
        let mut r = live_room(30);
        say(&mut r, 10, offered(1));
        let s = say(&mut r, 20, received(1, 2));
        assert_eq!(
            kinds(&s),
            ["share_received", "incident_opened", "incident_closed"]
        );
        for conn in [10, 20] {
            assert!(
                sent_to(&s, conn).contains(&&ServerMessage::ExchangeMismatch {
                    kind: ExchangeKind::Share,
                    id: "09".repeat(16)
                }),
                "conn {conn}: {s:?}"
            );
        }
    }

    #[test]
    fn refusals_record_nothing() {
        let mut r = live_room(30);
        // Received before any offer; from the wrong sender.
        let s = say(&mut r, 20, received(1, 1));
        assert!(s.events.is_empty());
        assert!(matches!(
            sent_to(&s, 20)[..],
            [ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }]
        ));
        say(&mut r, 10, offered(1));
        let s = say(&mut r, 20, received(2, 1));
        assert!(s.events.is_empty(), "{s:?}");
        // The same share id offered with another digest.
        let s = say(&mut r, 20, offered(3));
        assert!(s.events.is_empty());
        assert!(!sent_to(&s, 20).iter().any(recorded));
        // A name too long.
        let s = say(
            &mut r,
            10,
            ClientMessage::Share(ShareReport::Offered {
                share: ShareId::from_bytes([1; 16]),
                digest: Sha256::from_bytes([1; 32]),
                size: 1,
                media_type: None,
                name: "n".repeat(300),
            }),
        );
        assert!(s.events.is_empty());
        assert!(matches!(
            sent_to(&s, 10)[..],
            [ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }]
        ));
    }

    #[test]
    fn either_end_cancels_once() {
        let mut r = live_room(30);
        say(&mut r, 10, offered(1));
        let cancel = || {
            ClientMessage::Share(ShareReport::Cancelled {
                share: ShareId::from_bytes(ID),
            })
        };
        assert_eq!(kinds(&say(&mut r, 20, cancel())), ["share_cancelled"]);
        // Both ends pressed at once: the second records nothing, quietly.
        let s = say(&mut r, 10, cancel());
        assert!(s.events.is_empty() && s.outputs.is_empty(), "{s:?}");
    }
}
