//! The client messages a participant sends once it said hello: the budget
//! gate they all pass, then one handler per message type (one file each).
//! A new client message gets its file here and its arm in
//! [`Room::handle_message`].

use session::event::ActEvent;
use session::mode::PhoneNumber;
use session::participant::Role;
use session::vocab::IncidentKind;
use session::{ParticipantId, Timestamp};

use super::{ConnId, Output, Room, Step, error};
use crate::budget::Pool;
use crate::protocol::{ClientMessage, ErrorCode, ExchangeKind, ServerMessage};

mod admit;
mod attest_consent;
mod callback_number;
mod cancel;
mod chat_digest;
mod conclude;
mod consent;
mod leave;
mod media_path;
mod mode;
mod screen_share;
mod share;
mod signal;
mod stats;
mod withdraw_consent;

/// Who sent the message being handled.
#[derive(Clone, Copy, Debug)]
struct From {
    conn: ConnId,
    p: ParticipantId,
    role: Role,
}

impl From {
    /// Tells the sender its role may not do `what`; nothing changed.
    fn forbidden(&self, step: &mut Step, what: &str) -> Handled {
        step.outputs.push(error(
            self.conn,
            ErrorCode::Forbidden,
            &format!("your role may not {what}"),
        ));
        Handled::Quiet
    }

    /// Refuses the message, saying why; nothing changed.
    fn refuse(&self, step: &mut Step, why: &str) -> Handled {
        step.outputs.push(error(self.conn, ErrorCode::Refused, why));
        Handled::Quiet
    }
}

/// What a handler leaves to do: whether everyone is shown the room again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handled {
    /// The room may have changed: broadcast its state.
    Changed,
    /// Nothing anyone sees changed (or the sender alone was answered).
    Quiet,
}

impl Room {
    /// A participant's message, within its budget of trace events: a
    /// message that records something is refused (`refused`, nothing
    /// appended) once the participant's or the act's budget is spent,
    /// except those that must always be recorded (withdrawal, conclusion,
    /// cancellation, leaving) or are bounded by the act's rules (admitting
    /// a participant, the act's first consent). Whatever a message appends is charged.
    /// What the live session exchanges (`chat_digest`, `share`,
    /// `screen_share`) draws on a budget of its own ([`Pool::Exchange`]).
    pub(super) fn message(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        msg: ClientMessage,
        now: Timestamp,
        step: &mut Step,
    ) {
        // The act's first consent always passes: a flood must not cost
        // the patient the consent to their own consultation. Repeated
        // consents (one standing, or after a withdrawal) are budgeted.
        let first_consent =
            !self.act.consent.allows_media() && self.act.consent.withdrawals.is_empty();
        let pool = match &msg {
            ClientMessage::Consent { accept: true, .. } | ClientMessage::AttestConsent { .. } => {
                (!first_consent).then_some(Pool::Records)
            }
            ClientMessage::MediaPath { .. }
            | ClientMessage::Mode { .. }
            | ClientMessage::CallbackNumber { .. } => Some(Pool::Records),
            ClientMessage::ChatDigest { .. }
            | ClientMessage::Share(_)
            | ClientMessage::ScreenShare { .. } => Some(Pool::Exchange),
            _ => None,
        };
        // A call-back number resent unchanged (its confirmation lost with
        // the connection) is already recorded: nothing to do, no error.
        if let ClientMessage::CallbackNumber { number } = &msg
            && let Ok(number) = PhoneNumber::parse(number)
            && self
                .act
                .callback_number(p)
                .is_some_and(|stored| *stored.expose() == number)
        {
            return;
        }
        // So is an exchange report the act already holds; its handler
        // answers it (an offer resent gets `share_recorded` again) and
        // records nothing, so it costs nothing.
        let repeated = match &msg {
            ClientMessage::ChatDigest { message, .. } => self.chat_reported_by(p, *message),
            ClientMessage::Share(report) => self.share_reported_by(p, report),
            ClientMessage::ScreenShare { active } => self.screen_share_unchanged(p, *active),
            _ => false,
        };
        if let Some(pool) = pool.filter(|_| !repeated)
            && let Err(spent) = self.budget.check_in(pool, p, now)
        {
            step.outputs
                .push(error(conn, ErrorCode::Refused, &spent.to_string()));
            return;
        }
        let before = step.events.len();
        self.handle_message(conn, p, msg, now, step);
        let added = step.events.len().saturating_sub(before);
        self.budget
            .charge_in(pool.unwrap_or(Pool::Records), p, added, now);
    }

    /// Hands the message to its handler, then shows everyone the room if
    /// it may have changed.
    fn handle_message(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        msg: ClientMessage,
        now: Timestamp,
        step: &mut Step,
    ) {
        let from = From {
            conn,
            p,
            role: self.role(p).unwrap_or(Role::Patient),
        };
        let handled = match msg {
            ClientMessage::Hello { .. } => from.refuse(step, "hello was already said"),
            ClientMessage::Ping {} => {
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::Pong,
                });
                Handled::Quiet
            }
            ClientMessage::Signal { to, data } => self.signal(from, ParticipantId(to), data, step),
            ClientMessage::Consent {
                accept,
                language: _,
                text_sha256,
            } => self.consent(from, accept, text_sha256, now, step),
            ClientMessage::AttestConsent { text_sha256 } => {
                self.attest_consent(from, text_sha256, now, step)
            }
            ClientMessage::WithdrawConsent {} => self.withdraw_consent(from, now, step),
            ClientMessage::Admit { participant } => {
                self.admit(from, ParticipantId(participant), now, step)
            }
            ClientMessage::MediaPath {
                route,
                candidate_types,
                codecs,
            } => self.media_path(from, route, candidate_types, codecs, now, step),
            ClientMessage::Conclude {
                report,
                prescriptions,
            } => self.conclude(from, report, prescriptions, now, step),
            ClientMessage::Cancel { reason } => self.cancel(from, reason, now, step),
            ClientMessage::Stats(report) => self.stats(from, &report, now, step),
            ClientMessage::Mode {
                mode,
                cause,
                participant,
            } => self.mode(from, mode, cause, participant, now, step),
            ClientMessage::CallbackNumber { number } => {
                self.callback_number(from, &number, now, step)
            }
            ClientMessage::ChatDigest {
                message,
                sender,
                digest,
            } => self.chat_digest(from, message, sender, digest, now, step),
            ClientMessage::Share(report) => self.share(from, report, now, step),
            ClientMessage::ScreenShare { active } => self.screen_share(from, active, now, step),
            ClientMessage::Leave {} => self.leave(from, now, step),
        };
        if handled == Handled::Changed {
            self.broadcast_state(step);
        }
    }

    /// Tells `ends` that the digests of one exchange differ, if the events
    /// the message appended from `before` on hold its mismatch incident
    /// (the professionals get the incident itself as usual).
    fn tell_mismatch(
        &self,
        step: &mut Step,
        before: usize,
        kind: ExchangeKind,
        id: String,
        ends: &[ParticipantId],
    ) {
        let incident = match kind {
            ExchangeKind::Chat => IncidentKind::ChatMismatch,
            ExchangeKind::Share => IncidentKind::ShareMismatch,
        };
        let mismatched = step.events[before..]
            .iter()
            .any(|e| matches!(&e.body, ActEvent::IncidentOpened { kind: k, .. } if *k == incident));
        if !mismatched {
            return;
        }
        let mut told = Vec::new();
        for p in ends {
            if let Some(&conn) = self.conns.get(p)
                && !told.contains(&conn)
            {
                told.push(conn);
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::ExchangeMismatch {
                        kind,
                        id: id.clone(),
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use session::act::{ActKind, Command, Phase};
    use session::participant::Identity;
    use session::{ActEvent, PatientAlias, Pii};

    use crate::budget::BudgetLimits;
    use crate::room::testing::*;
    use crate::room::*;

    #[test]
    fn a_consent_sent_twice_is_recorded_once() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let given = |s: &Step| {
            s.events
                .iter()
                .filter(|e| e.body.kind() == "consent_given")
                .count()
        };
        assert_eq!(given(&consent(&mut r, 20)), 1);
        // The same frame again (resent after a lost connection): nothing
        // is recorded, and it is no error.
        let s = consent(&mut r, 20);
        assert_eq!(given(&s), 0, "{:?}", s.events);
        assert!(
            !sent_to(&s, 20)
                .iter()
                .any(|m| matches!(m, ServerMessage::Error { .. })),
            "{:?}",
            s.outputs
        );
        assert!(r.act().consent.allows_media());
        // After a withdrawal, a new consent is recorded.
        say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert_eq!(given(&consent(&mut r, 20)), 1);
    }

    #[test]
    fn roles_are_enforced() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let s = say(&mut r, 20, ClientMessage::Admit { participant: 2 });
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = say(
            &mut r,
            20,
            ClientMessage::Cancel {
                reason: session::CancelReason::ByProfessional,
            },
        );
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = consent(&mut r, 10);
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        // An unknown consent text is refused.
        let s = say(
            &mut r,
            20,
            ClientMessage::Consent {
                accept: true,
                language: "fr".into(),
                text_sha256: "00".into(),
            },
        );
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }
        ));
        assert!(!r.act().consent.allows_media());
    }

    #[test]
    fn teleexpertise_without_patient_starts_on_attested_consent() {
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleexpertise, false, t(0));
        for (role, rpps) in [
            (Role::Requester, "10000000009"),
            (Role::Expert, "10101010105"),
        ] {
            act.handle(
                Command::Register {
                    role,
                    identity: Identity::Professional {
                        name: Pii::new("Dr Fictif".into()),
                        rpps: Pii::new(rpps.parse().unwrap()),
                    },
                },
                t(0),
            )
            .unwrap();
        }
        act.handle(
            Command::Register {
                role: Role::Patient,
                identity: Identity::Patient {
                    alias: Pii::new("dossier-2".parse::<PatientAlias>().unwrap()),
                },
            },
            t(0),
        )
        .unwrap();
        let mut r = Room::new(act, vec![]);
        let s = hello(&mut r, 10, PRO);
        let ServerMessage::Welcome { consent_texts, .. } = sent_to(&s, 10)[0] else {
            panic!("welcome first");
        };
        assert_eq!(consent_texts.len(), 1, "the attestation text");
        hello(&mut r, 11, ParticipantId(2));
        // The expert may not attest; the requester may.
        let sha = consent_texts[0].sha256.clone();
        let s = say(
            &mut r,
            11,
            ClientMessage::AttestConsent {
                text_sha256: sha.clone(),
            },
        );
        assert!(matches!(
            sent_to(&s, 11)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = say(
            &mut r,
            10,
            ClientMessage::AttestConsent { text_sha256: sha },
        );
        assert_eq!(r.act().phase, Phase::Performance);
        assert!(s.events.iter().any(|e| e.body.kind() == "consent_given"));
        assert!(r.media_allowed(PRO) && r.media_allowed(ParticipantId(2)));
    }

    #[test]
    fn a_request_attested_at_creation_starts_when_the_expert_joins() {
        use session::act::NewAct;
        use session::consent::{Consent, ConsentMethod, ConsentScope};
        use session::expertise::ExpertiseRequest;
        use session::vocab::Urgency;

        let pro = |rpps: &str| Identity::Professional {
            name: Pii::new("Dr Fictif".into()),
            rpps: Pii::new(rpps.parse().unwrap()),
        };
        let new = NewAct {
            kind: ActKind::Teleexpertise,
            requester: pro("10000000009"),
            expert: Some(pro("10101010105")),
            patient: Identity::Patient {
                alias: Pii::new("dossier-3".parse::<PatientAlias>().unwrap()),
            },
            patient_present: false,
            expertise: Some(ExpertiseRequest {
                question: Pii::new("Lésion sur la radio ?".into()),
                urgency: Urgency::Urgent,
            }),
        };
        let (mut act, _) = Act::open(ActId::random(), new, t(0)).unwrap();
        let requester = act.participant_with_role(Role::Requester).unwrap().id;
        let expert = act.participant_with_role(Role::Expert).unwrap().id;
        // The requester attested consent with the request, from the page.
        act.handle(
            Command::GiveConsent(Consent {
                scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                given_by: requester,
                method: ConsentMethod::AttestedByProfessional {
                    text_sha256: crate::consent_text::attestation_texts()[0].sha256.clone(),
                },
            }),
            t(0),
        )
        .unwrap();
        let mut r = Room::new(act, vec![]);
        hello(&mut r, 10, requester);
        assert_eq!(
            r.act().phase,
            Phase::Preparation,
            "alone, the requester waits"
        );
        let s = hello(&mut r, 11, expert);
        assert_eq!(r.act().phase, Phase::Performance, "{:?}", kinds(&s));
        assert!(r.media_allowed(requester) && r.media_allowed(expert));
    }

    #[test]
    fn refusals_reach_whoever_asked() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: " ".into(),
                prescriptions: vec![],
            },
        );
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }
        ));
        assert!(s.events.is_empty());
    }

    #[test]
    fn a_spent_budget_refuses_records_but_never_a_first_consent_or_a_withdrawal() {
        let mut room = room().with_budget(BudgetLimits {
            participant_per_minute: 2,
            participant_total: 2,
            act_per_minute: 10,
            act_total: 10,
            ..BudgetLimits::default()
        });
        hello(&mut room, 10, PATIENT);
        let mode = |m| ClientMessage::Mode {
            mode: m,
            cause: session::mode::ModeCause::Automatic,
            participant: None,
        };
        use session::mode::MediaMode;
        assert_eq!(
            say(&mut room, 10, mode(MediaMode::AudioOnly)).events.len(),
            1
        );
        assert_eq!(say(&mut room, 10, mode(MediaMode::Video)).events.len(), 1);
        let refused = say(&mut room, 10, mode(MediaMode::AudioOnly));
        assert!(refused.events.is_empty(), "nothing appended");
        assert!(matches!(
            sent_to(&refused, 10)[..],
            [ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }]
        ));
        // The first consent and its withdrawal still pass.
        let given = consent(&mut room, 10);
        assert!(
            given
                .events
                .iter()
                .any(|e| matches!(e.body, ActEvent::ConsentGiven(_)))
        );
        let withdrawn = say(&mut room, 10, ClientMessage::WithdrawConsent {});
        assert!(
            withdrawn
                .events
                .iter()
                .any(|e| matches!(e.body, ActEvent::ConsentWithdrawn { .. }))
        );
        // A consent after a withdrawal is budgeted (else consent/withdraw
        // cycles would be an unbounded flood).
        assert!(consent(&mut room, 10).events.is_empty());
    }

    #[test]
    fn a_call_back_number_resent_unchanged_is_recorded_once() {
        // Budget of two events: the resends below must not spend it.
        let mut room = room().with_budget(BudgetLimits {
            participant_per_minute: 2,
            participant_total: 2,
            ..BudgetLimits::default()
        });
        hello(&mut room, 10, PATIENT);
        let number = |n: &str| ClientMessage::CallbackNumber { number: n.into() };
        let recorded = |step: &Step| {
            step.events
                .iter()
                .filter(|e| matches!(e.body, ActEvent::CallbackNumberGiven { .. }))
                .count()
        };
        assert_eq!(recorded(&say(&mut room, 10, number("06 12 34 56 78"))), 1);
        // Resent after a lost confirmation (same digits, other spacing):
        // no event, no error, no budget spent.
        for _ in 0..3 {
            let again = say(&mut room, 10, number("0612345678"));
            assert!(
                again.events.is_empty(),
                "recorded twice: {:?}",
                again.events
            );
            assert!(sent_to(&again, 10).is_empty(), "{:?}", again.outputs);
        }
        // A different number is recorded.
        assert_eq!(recorded(&say(&mut room, 10, number("06 98 76 54 32"))), 1);
    }
}
