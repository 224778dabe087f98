//! What the live session exchanges peer to peer, as the trace vouches for
//! it without seeing it: each chat message's salted SHA-256 as its sender
//! and each receiver report it, each file share's offer, receipts and
//! cancellation, and who shares their screen. A receiver's digest that
//! differs from the sender's is an incident (`chat_mismatch`,
//! `share_mismatch`) opened and closed at once.
//!
//! Everything here happens in the performance, between participants media
//! is allowed for ([`Act::media_allowed_for`]). The performance's end, the
//! act's cancellation and the withdrawal of consent to the act stop every
//! screen share (see [`Act::stop_screen_shares`]); a sharer's leaving is
//! the room's to record.

use super::{Act, Decision};
use crate::Error;
use crate::document::{DocumentType, clean_name};
use crate::event::ActEvent;
use crate::ids::{MessageId, ParticipantId, Sha256, ShareId};
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::vocab::{IncidentKind, Phase};

/// One chat message as its reports describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub sender: ParticipantId,
    /// The first digest reported for it, which later reports must match.
    pub digest: Sha256,
    /// Who reported it, in order, and whether their digest matched.
    pub reporters: Vec<(ParticipantId, bool)>,
}

/// One file offered peer to peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub share: ShareId,
    pub sender: ParticipantId,
    /// The SHA-256 the sender computed.
    pub digest: Sha256,
    /// `None` for a file of another type than the documents'.
    pub media_type: Option<DocumentType>,
    pub size: u64,
    pub offered_at: Timestamp,
    /// Who confirmed receiving it, in order, and whether their digest
    /// matched the offer's.
    pub received: Vec<(ParticipantId, bool)>,
    /// Who cancelled it, if anyone did.
    pub cancelled_by: Option<ParticipantId>,
}

impl Act {
    /// The most chat reports an act records.
    pub const MAX_CHAT_REPORTS: usize = 10_000;
    /// The most file shares an act records.
    pub const MAX_SHARES: usize = 1_000;
    /// The largest file one share may carry: 1 GiB.
    pub const MAX_SHARE_BYTES: u64 = 1024 * 1024 * 1024;

    /// The file share `share`, if it was offered.
    pub fn share(&self, share: ShareId) -> Option<&Share> {
        self.shares.iter().find(|s| s.share == share)
    }

    /// Whether `participant` is sharing their screen.
    pub fn is_sharing_screen(&self, participant: ParticipantId) -> bool {
        self.screen_sharing.contains(&participant)
    }

    /// The events that stop every screen share, in the order they began.
    pub(super) fn stop_screen_shares(&self) -> Vec<ActEvent> {
        self.screen_sharing
            .iter()
            .map(|&participant| ActEvent::ScreenShareStopped { participant })
            .collect()
    }
}

impl Decision<'_> {
    /// A report of one chat message's digest by its sender or a receiver,
    /// once per reporter and message.
    pub(super) fn report_chat(
        &self,
        message: MessageId,
        sender: ParticipantId,
        reporter: ParticipantId,
        digest: Sha256,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(sender)?;
        self.in_session(reporter)?;
        if self.chat_reports >= Act::MAX_CHAT_REPORTS {
            return Err(Error::TooManyChatReports(Act::MAX_CHAT_REPORTS));
        }
        let mut events = vec![ActEvent::ChatReported {
            message,
            sender,
            reporter,
            digest,
        }];
        if let Some(known) = self.chats.get(&message) {
            if known.sender != sender {
                return Err(Error::ChatSenderDiffers(message));
            }
            if known.reporters.iter().any(|(p, _)| *p == reporter) {
                return Err(Error::DuplicateChatReport { message, reporter });
            }
            if known.digest != digest {
                events.extend(self.instant_incident(IncidentKind::ChatMismatch, reporter));
            }
        }
        Ok(events)
    }

    pub(super) fn offer_share(
        &self,
        share: ShareId,
        sender: ParticipantId,
        digest: Sha256,
        media_type: Option<DocumentType>,
        size: u64,
        name: Pii<String>,
    ) -> Result<Vec<ActEvent>, Error> {
        self.in_session(sender)?;
        if size > Act::MAX_SHARE_BYTES {
            return Err(Error::ShareTooLarge {
                size,
                max: Act::MAX_SHARE_BYTES,
            });
        }
        let name = clean_name(name.expose())?;
        if self.share(share).is_some() {
            return Err(Error::DuplicateShare(share));
        }
        if self.shares.len() >= Act::MAX_SHARES {
            return Err(Error::TooManyShares(Act::MAX_SHARES));
        }
        Ok(vec![ActEvent::ShareOffered {
            share,
            sender,
            digest,
            media_type,
            size,
            name: Pii::new(name),
        }])
    }

    /// A receiver's confirmation, once each, with the digest it computed.
    pub(super) fn receive_share(
        &self,
        share: ShareId,
        by: ParticipantId,
        digest: Sha256,
    ) -> Result<Vec<ActEvent>, Error> {
        self.in_session(by)?;
        let offered = self.share(share).ok_or(Error::UnknownShare(share))?;
        if offered.sender == by {
            return Err(Error::OwnShare(by));
        }
        if offered.cancelled_by.is_some() {
            return Err(Error::ShareCancelled(share));
        }
        if offered.received.iter().any(|(p, _)| *p == by) {
            return Err(Error::DuplicateShareReceipt { share, by });
        }
        let mut events = vec![ActEvent::ShareReceived { share, by, digest }];
        if offered.digest != digest {
            events.extend(self.instant_incident(IncidentKind::ShareMismatch, by));
        }
        Ok(events)
    }

    /// Any participant stops a share not yet cancelled, in the
    /// performance, whether or not media is still allowed for them.
    pub(super) fn cancel_share(
        &self,
        share: ShareId,
        by: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(by)?;
        if self.phase != Phase::Performance {
            return Err(self.illegal());
        }
        let offered = self.share(share).ok_or(Error::UnknownShare(share))?;
        if offered.cancelled_by.is_some() {
            return Err(Error::ShareCancelled(share));
        }
        Ok(vec![ActEvent::ShareCancelled { share, by }])
    }

    pub(super) fn start_screen_share(
        &self,
        participant: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        self.in_session(participant)?;
        if self.is_sharing_screen(participant) {
            return Err(Error::AlreadySharingScreen(participant));
        }
        Ok(vec![ActEvent::ScreenShareStarted { participant }])
    }

    pub(super) fn stop_screen_share(
        &self,
        participant: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(participant)?;
        if !self.is_sharing_screen(participant) {
            return Err(Error::NotSharingScreen(participant));
        }
        Ok(vec![ActEvent::ScreenShareStopped { participant }])
    }

    /// `participant` is registered, the act in performance and media
    /// allowed for them.
    fn in_session(&self, participant: ParticipantId) -> Result<(), Error> {
        self.participant(participant)?;
        if self.phase != Phase::Performance {
            return Err(self.illegal());
        }
        self.check_media(participant)
    }
}

impl Act {
    pub(super) fn fold_chat_reported(
        &mut self,
        message: MessageId,
        sender: ParticipantId,
        reporter: ParticipantId,
        digest: Sha256,
    ) -> Result<(), Error> {
        for p in [sender, reporter] {
            if self.participant(p).is_err() {
                return Err(self.bad_trace(format!(
                    "a chat report names participant {p}, who was never registered"
                )));
            }
        }
        let known = self.chats.entry(message).or_insert(ChatMessage {
            sender,
            digest,
            reporters: Vec::new(),
        });
        let matched = known.digest == digest;
        known.reporters.push((reporter, matched));
        self.chat_reports += 1;
        Ok(())
    }

    pub(super) fn fold_share_offered(
        &mut self,
        share: ShareId,
        sender: ParticipantId,
        digest: Sha256,
        media_type: Option<DocumentType>,
        size: u64,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.participant(sender).is_err() {
            return Err(self.bad_trace(format!(
                "participant {sender} offers a file but was never registered"
            )));
        }
        if self.share(share).is_some() {
            return Err(self.bad_trace(format!("file share {share} is offered twice")));
        }
        self.shares.push(Share {
            share,
            sender,
            digest,
            media_type,
            size,
            offered_at: at,
            received: Vec::new(),
            cancelled_by: None,
        });
        Ok(())
    }

    /// The offered share a `received` or `cancelled` event (`what`) by
    /// `by` refers to; the trace is refused if either is unknown.
    fn share_folded(
        &mut self,
        share: ShareId,
        by: ParticipantId,
        what: &str,
    ) -> Result<&mut Share, Error> {
        if self.participant(by).is_err() {
            return Err(self.bad_trace(format!(
                "participant {by}: file share {share} {what} by someone never registered"
            )));
        }
        let id = self.id;
        self.shares
            .iter_mut()
            .find(|s| s.share == share)
            .ok_or_else(|| {
                Error::InvalidTrace(format!(
                    "act {id}: file share {share} {what}, never offered"
                ))
            })
    }

    pub(super) fn fold_share_received(
        &mut self,
        share: ShareId,
        by: ParticipantId,
        digest: Sha256,
    ) -> Result<(), Error> {
        let offered = self.share_folded(share, by, "received")?;
        let matched = offered.digest == digest;
        offered.received.push((by, matched));
        Ok(())
    }

    pub(super) fn fold_share_cancelled(
        &mut self,
        share: ShareId,
        by: ParticipantId,
    ) -> Result<(), Error> {
        let offered = self.share_folded(share, by, "cancelled")?;
        offered.cancelled_by.get_or_insert(by);
        Ok(())
    }

    pub(super) fn fold_screen_share_started(
        &mut self,
        participant: ParticipantId,
    ) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "participant {participant} shares a screen but was never registered"
            )));
        }
        if self.is_sharing_screen(participant) {
            return Err(self.bad_trace(format!(
                "participant {participant} starts sharing a screen twice"
            )));
        }
        self.screen_sharing.push(participant);
        Ok(())
    }

    pub(super) fn fold_screen_share_stopped(
        &mut self,
        participant: ParticipantId,
    ) -> Result<(), Error> {
        if !self.is_sharing_screen(participant) {
            return Err(self.bad_trace(format!(
                "participant {participant} stops a screen share never started"
            )));
        }
        self.screen_sharing.retain(|p| *p != participant);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::ActKind;
    use crate::consent::{Consent, ConsentMethod, ConsentScope};
    use crate::ids::{ActId, IncidentId};
    use crate::participant::{Identity, Role};
    use crate::vocab::CancelReason;
    use crate::{Command, Event};

    const REQUESTER: ParticipantId = ParticipantId(1);
    const PATIENT: ParticipantId = ParticipantId(2);
    const COMPANION: ParticipantId = ParticipantId(3);

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
    }

    /// A teleconsultation in performance (requester p1, patient p2 admitted,
    /// companion p3 not admitted), with every event it made.
    fn performing() -> (Act, Vec<Event>) {
        let (mut act, first) = Act::request(
            ActId::from_bytes([3; 16]),
            ActKind::Teleconsultation,
            true,
            t(0),
        );
        let mut events = vec![first];
        let register = |role, identity| Command::Register { role, identity };
        for c in [
            register(
                Role::Requester,
                Identity::Professional {
                    name: Pii::new("Dr Test Requerant".into()),
                    rpps: Pii::new("10000000009".parse().unwrap()),
                },
            ),
            register(
                Role::Patient,
                Identity::Patient {
                    alias: Pii::new("dossier-0001".parse().unwrap()),
                },
            ),
            register(
                Role::Companion,
                Identity::Companion {
                    name: Pii::new("Accompagnant Test".into()),
                },
            ),
            Command::Prepare,
            Command::GiveConsent(Consent {
                scopes: vec![ConsentScope::TelemedicineAct],
                given_by: PATIENT,
                method: ConsentMethod::Electronic {
                    text_sha256: "0".repeat(64),
                    language: "fr".into(),
                },
            }),
            Command::Admit {
                participant: PATIENT,
                by: REQUESTER,
            },
            Command::StartPerformance,
        ] {
            events.extend(act.handle(c, t(1)).unwrap());
        }
        (act, events)
    }

    fn digest(n: u8) -> Sha256 {
        Sha256::from_bytes([n; 32])
    }

    fn chat(message: u8, sender: ParticipantId, reporter: ParticipantId, d: u8) -> Command {
        Command::ReportChat {
            message: MessageId::from_bytes([message; 16]),
            sender,
            reporter,
            digest: digest(d),
        }
    }

    fn offer(share: u8, sender: ParticipantId, d: u8, size: u64) -> Command {
        Command::OfferShare {
            share: ShareId::from_bytes([share; 16]),
            sender,
            digest: digest(d),
            media_type: Some(DocumentType::Dicom),
            size,
            name: Pii::new("serie/IRM.dcm".into()),
        }
    }

    fn receive(share: u8, by: ParticipantId, d: u8) -> Command {
        Command::ReceiveShare {
            share: ShareId::from_bytes([share; 16]),
            by,
            digest: digest(d),
        }
    }

    fn bodies(events: &[Event]) -> Vec<ActEvent> {
        events.iter().map(|e| e.body.clone()).collect()
    }

    #[test]
    fn matching_chat_digests_are_recorded_and_a_mismatch_is_an_instant_incident() {
        let (mut act, mut events) = performing();
        let mut run = |act: &mut Act, c, s| {
            let e = act.handle(c, t(s)).unwrap();
            events.extend(e.clone());
            e
        };
        assert_eq!(run(&mut act, chat(1, REQUESTER, REQUESTER, 7), 2).len(), 1);
        assert_eq!(run(&mut act, chat(1, REQUESTER, PATIENT, 7), 3).len(), 1);
        // A receiver's report may come before the sender's.
        assert_eq!(run(&mut act, chat(2, PATIENT, REQUESTER, 8), 4).len(), 1);
        let mismatch = run(&mut act, chat(2, PATIENT, PATIENT, 9), 5);
        assert_eq!(
            bodies(&mismatch)[1..],
            [
                ActEvent::IncidentOpened {
                    incident: IncidentId(1),
                    kind: IncidentKind::ChatMismatch,
                    participant: Some(PATIENT),
                    metrics: Default::default(),
                },
                ActEvent::IncidentClosed {
                    incident: IncidentId(1),
                    duration_ms: 0,
                    metrics: Default::default(),
                },
            ]
        );
        assert!(mismatch.iter().all(|e| e.at == t(5)));
        assert_eq!(act.incidents[0].closed_at, Some(t(5)));
        assert_eq!(act.chat_reports, 4);
        assert_eq!(
            act.chats[&MessageId::from_bytes([2; 16])].reporters,
            [(REQUESTER, true), (PATIENT, false)]
        );
        assert_eq!(Act::replay(act.id, &events).unwrap(), act);

        let before = act.clone();
        let e = act.handle(chat(1, REQUESTER, PATIENT, 7), t(6));
        assert!(matches!(e, Err(Error::DuplicateChatReport { .. })), "{e:?}");
        let e = act.handle(chat(1, PATIENT, ParticipantId(1), 7), t(6));
        assert!(matches!(e, Err(Error::ChatSenderDiffers(_))), "{e:?}");
        // The companion was not admitted: no media, no chat.
        let e = act.handle(chat(3, COMPANION, COMPANION, 7), t(6));
        assert!(matches!(e, Err(Error::MediaNotAllowed { .. })), "{e:?}");
        assert_eq!(act, before);
    }

    #[test]
    fn chat_reports_are_bounded() {
        let (mut act, _) = performing();
        act.chat_reports = Act::MAX_CHAT_REPORTS;
        let e = act.handle(chat(1, REQUESTER, REQUESTER, 7), t(2));
        assert!(matches!(e, Err(Error::TooManyChatReports(10_000))), "{e:?}");
    }

    #[test]
    fn shares_are_offered_confirmed_and_cancelled() {
        let (mut act, mut events) = performing();
        let mut ok = |act: &mut Act, c| {
            let e = act.handle(c, t(2)).unwrap();
            events.extend(e.clone());
            e
        };
        let offered = ok(&mut act, offer(1, REQUESTER, 4, 100 * 1024 * 1024));
        let ActEvent::ShareOffered { name, .. } = &offered[0].body else {
            panic!("{offered:?}")
        };
        assert_eq!(name.expose(), "IRM.dcm");
        assert_eq!(ok(&mut act, receive(1, PATIENT, 4)).len(), 1);
        ok(&mut act, offer(2, PATIENT, 5, 10));
        let mismatch = ok(&mut act, receive(2, REQUESTER, 6));
        assert!(matches!(
            mismatch[1].body,
            ActEvent::IncidentOpened {
                kind: IncidentKind::ShareMismatch,
                participant: Some(REQUESTER),
                ..
            }
        ));
        ok(&mut act, offer(3, REQUESTER, 5, 10));
        ok(
            &mut act,
            Command::CancelShare {
                share: ShareId::from_bytes([3; 16]),
                by: PATIENT,
            },
        );
        assert_eq!(
            act.share(ShareId::from_bytes([3; 16]))
                .unwrap()
                .cancelled_by,
            Some(PATIENT)
        );
        assert_eq!(
            act.share(ShareId::from_bytes([1; 16])).unwrap().received,
            [(PATIENT, true)]
        );
        assert_eq!(Act::replay(act.id, &events).unwrap(), act);

        let before = act.clone();
        for (c, check) in [
            (offer(1, REQUESTER, 4, 1), "duplicate"),
            (offer(9, REQUESTER, 4, Act::MAX_SHARE_BYTES + 1), "large"),
            (receive(1, PATIENT, 4), "receipt"),
            (receive(1, REQUESTER, 4), "own"),
            (receive(3, PATIENT, 5), "cancelled"),
            (receive(8, REQUESTER, 5), "unknown"),
        ] {
            let e = act.handle(c, t(3)).unwrap_err();
            let expected = match check {
                "duplicate" => matches!(e, Error::DuplicateShare(_)),
                "large" => matches!(e, Error::ShareTooLarge { .. }),
                "receipt" => matches!(e, Error::DuplicateShareReceipt { .. }),
                "own" => matches!(e, Error::OwnShare(REQUESTER)),
                "cancelled" => matches!(e, Error::ShareCancelled(_)),
                _ => matches!(e, Error::UnknownShare(_)),
            };
            assert!(expected, "{check}: {e:?}");
        }
        assert_eq!(act, before);
    }

    #[test]
    fn shares_are_bounded_in_number() {
        let (mut act, _) = performing();
        for n in 0..Act::MAX_SHARES {
            let mut c = offer(0, REQUESTER, 1, 1);
            if let Command::OfferShare { share, .. } = &mut c {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&(n as u64).to_be_bytes());
                *share = ShareId::from_bytes(b);
            }
            act.handle(c, t(2)).unwrap();
        }
        let e = act.handle(offer(0xff, REQUESTER, 1, 1), t(3));
        assert!(matches!(e, Err(Error::TooManyShares(1_000))), "{e:?}");
    }

    #[test]
    fn nothing_is_exchanged_outside_the_performance() {
        let (mut act, _) = performing();
        act.handle(Command::EndPerformance, t(2)).unwrap();
        for c in [
            chat(1, REQUESTER, REQUESTER, 1),
            offer(1, REQUESTER, 1, 1),
            Command::StartScreenShare {
                participant: REQUESTER,
            },
        ] {
            let e = act.handle(c, t(3));
            assert!(matches!(e, Err(Error::IllegalTransition { .. })), "{e:?}");
        }
    }

    #[test]
    fn screen_shares_start_once_and_stop_with_the_performance_or_consent() {
        let start = |participant| Command::StartScreenShare { participant };
        let stop = |participant| Command::StopScreenShare { participant };
        let (mut act, _) = performing();
        act.handle(start(REQUESTER), t(2)).unwrap();
        let e = act.handle(start(REQUESTER), t(3));
        assert!(matches!(e, Err(Error::AlreadySharingScreen(_))), "{e:?}");
        let e = act.handle(stop(PATIENT), t(3));
        assert!(matches!(e, Err(Error::NotSharingScreen(_))), "{e:?}");
        act.handle(stop(REQUESTER), t(4)).unwrap();
        assert!(act.screen_sharing.is_empty());

        for (end, last) in [
            (Command::EndPerformance, "phase_entered"),
            (Command::Cancel(CancelReason::TechnicalFailure), "cancelled"),
            (
                Command::WithdrawConsent {
                    scopes: vec![ConsentScope::TelemedicineAct],
                    by: PATIENT,
                },
                "consent_withdrawn",
            ),
        ] {
            let (mut act, _) = performing();
            act.handle(start(PATIENT), t(2)).unwrap();
            act.handle(start(REQUESTER), t(3)).unwrap();
            let events = act.handle(end, t(4)).unwrap();
            let kinds: Vec<_> = events.iter().map(|e| e.body.kind()).collect();
            assert_eq!(
                kinds,
                ["screen_share_stopped", "screen_share_stopped", last],
                "{last}"
            );
            assert!(act.screen_sharing.is_empty());
        }
    }
}
