//! A téléexpertise's request and the expert's answers: the question
//! recorded when the act opens, the expert's acceptance (request →
//! preparation), decline (the act is cancelled) or request for more, and
//! the asynchronous review the expert opens once they accepted
//! (preparation → performance). The report that ends the review is the
//! act's conclusion, as for a live act (`conclusion.rs`).

use super::{Act, Decision};
use crate::Error;
use crate::event::{ActEvent, Event};
use crate::expertise::{ExpertAnswer, ExpertiseRequest, ExpertiseState};
use crate::ids::ParticipantId;
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::vocab::{ActKind, CancelReason, Phase, Role, Urgency};

impl Decision<'_> {
    /// Only the expert answers, in request or preparation, until they
    /// accept. Accepting a request moves it to preparation; declining
    /// cancels the act; asking for more changes nothing but the record.
    pub(super) fn answer_expertise(
        &self,
        by: ParticipantId,
        answer: ExpertAnswer,
    ) -> Result<Vec<ActEvent>, Error> {
        self.expert(by, "answer the request")?;
        let expertise = self.expertise.as_ref().ok_or(Error::NoExpertiseRequest)?;
        if !matches!(self.phase, Phase::Request | Phase::Preparation) {
            return Err(self.illegal());
        }
        if expertise.accepted() {
            return Err(Error::ExpertiseAlreadyAccepted);
        }
        answer.check()?;
        let follows = match &answer {
            ExpertAnswer::Accepted if self.phase == Phase::Request => {
                vec![ActEvent::PhaseEntered {
                    phase: Phase::Preparation,
                }]
            }
            ExpertAnswer::Declined { .. } => self.cancel(CancelReason::ExpertDeclined),
            ExpertAnswer::Accepted | ExpertAnswer::MoreRequested { .. } => Vec::new(),
        };
        let mut events = vec![ActEvent::ExpertAnswered { by, answer }];
        events.extend(follows);
        Ok(events)
    }

    /// The asynchronous path: the expert, having accepted, opens the
    /// review; preparation → performance, with consent to the act as
    /// [`Decision::start_performance`] asks.
    pub(super) fn start_review(&self, by: ParticipantId) -> Result<Vec<ActEvent>, Error> {
        self.expert(by, "start the review")?;
        let expertise = self.expertise.as_ref().ok_or(Error::NoExpertiseRequest)?;
        if self.phase != Phase::Preparation {
            return Err(self.illegal());
        }
        if !expertise.accepted() {
            return Err(Error::ExpertiseNotAccepted);
        }
        if !self.consent.allows_media() {
            return Err(Error::ConsentRequired);
        }
        Ok(vec![
            ActEvent::ReviewStarted { by },
            ActEvent::PhaseEntered {
                phase: Phase::Performance,
            },
        ])
    }

    /// `by` is registered and is the act's expert.
    fn expert(&self, by: ParticipantId, action: &'static str) -> Result<(), Error> {
        if self.participant(by)?.role != Role::Expert {
            return Err(Error::NotTheExpert { action });
        }
        Ok(())
    }
}

impl Act {
    /// Whether the act's request is unanswered past its delay at `now`
    /// (see [`ExpertiseState::overdue`]); never once the act is over.
    pub fn expertise_overdue(&self, now: Timestamp) -> bool {
        !self.phase.is_terminal() && self.expertise.as_ref().is_some_and(|e| e.overdue(now))
    }

    /// Records a téléexpertise's request at `now`, answer due after the
    /// urgency's delay; [`Act::open`] calls it once the participants are
    /// registered.
    pub(super) fn request_expertise(
        &mut self,
        request: ExpertiseRequest,
        now: Timestamp,
    ) -> Result<Event, Error> {
        if self.kind != ActKind::Teleexpertise {
            return Err(Error::ExpertiseOnlyForTeleexpertise);
        }
        request.check()?;
        let event = Event {
            at: now,
            body: ActEvent::ExpertiseRequested {
                respond_by: now.plus(request.urgency.response_delay()),
                question: request.question,
                urgency: request.urgency,
            },
        };
        self.apply(&event)?;
        Ok(event)
    }

    pub(super) fn fold_expertise_requested(
        &mut self,
        question: &Pii<String>,
        urgency: Urgency,
        respond_by: Timestamp,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.kind != ActKind::Teleexpertise {
            return Err(self.bad_trace("an expertise request in a teleconsultation".into()));
        }
        if self.expertise.is_some() {
            return Err(self.bad_trace("a second expertise request".into()));
        }
        if self.phase != Phase::Request {
            return Err(self.bad_trace(format!("an expertise request in the {} phase", self.phase)));
        }
        self.expertise = Some(ExpertiseState {
            question: question.clone(),
            urgency,
            requested_at: at,
            respond_by,
            answers: Vec::new(),
            first_answer_at: None,
            review_started_at: None,
        });
        Ok(())
    }

    pub(super) fn fold_expert_answered(
        &mut self,
        by: ParticipantId,
        answer: &ExpertAnswer,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.participant(by).is_err() {
            return Err(self.bad_trace(format!(
                "participant {by} answers the request but was never registered"
            )));
        }
        let Some(expertise) = self.expertise.as_mut() else {
            return Err(self.bad_trace("an answer to no expertise request".into()));
        };
        expertise.answers.push((at, answer.clone()));
        expertise.first_answer_at.get_or_insert(at);
        Ok(())
    }

    pub(super) fn fold_review_started(
        &mut self,
        by: ParticipantId,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.participant(by).is_err() {
            return Err(self.bad_trace(format!(
                "participant {by} starts the review but was never registered"
            )));
        }
        if self.phase != Phase::Preparation {
            return Err(self.bad_trace(format!("a review started in the {} phase", self.phase)));
        }
        let Some(expertise) = self.expertise.as_mut() else {
            return Err(self.bad_trace("a review of no expertise request".into()));
        };
        expertise.review_started_at = Some(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::NewAct;
    use super::*;
    use crate::conclusion::Conclusion;
    use crate::consent::{Consent, ConsentMethod, ConsentScope};
    use crate::ids::ActId;
    use crate::participant::Identity;
    use crate::{Command, Pii};

    const REQUESTER: ParticipantId = ParticipantId(1);
    const EXPERT: ParticipantId = ParticipantId(2);

    fn t(s: u64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000).plus(Duration::from_secs(s))
    }

    fn professional(name: &str, rpps: &str) -> Identity {
        Identity::Professional {
            name: Pii::new(name.into()),
            rpps: Pii::new(rpps.parse().unwrap()),
        }
    }

    /// A téléexpertise without the patient, opened at `t(0)` with an
    /// urgent question: requester p1, expert p2, patient p3.
    fn requested() -> Act {
        let new = NewAct {
            kind: ActKind::Teleexpertise,
            requester: professional("Dr Test Requerant", "10000000009"),
            expert: Some(professional("Dr Test Expert", "10101010105")),
            patient: Identity::Patient {
                alias: Pii::new("dossier-0001".parse().unwrap()),
            },
            patient_present: false,
            expertise: Some(ExpertiseRequest {
                question: Pii::new("Avis sur ce naevus ?".into()),
                urgency: Urgency::Urgent,
            }),
        };
        let (act, events) = Act::open(ActId::from_bytes([5; 16]), new, t(0)).unwrap();
        assert_eq!(events.len(), 5);
        assert!(matches!(
            events.last().unwrap().body,
            ActEvent::ExpertiseRequested { urgency: Urgency::Urgent, respond_by, .. }
                if respond_by == t(24 * 3600)
        ));
        act
    }

    fn attest() -> Command {
        Command::GiveConsent(Consent {
            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
            given_by: REQUESTER,
            method: ConsentMethod::AttestedByProfessional {
                text_sha256: "0".repeat(64),
            },
        })
    }

    fn answer(by: ParticipantId, answer: ExpertAnswer) -> Command {
        Command::AnswerExpertise { by, answer }
    }

    fn more() -> ExpertAnswer {
        ExpertAnswer::MoreRequested {
            what: Pii::new("Le cliche de profil".into()),
        }
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.body.kind()).collect()
    }

    #[test]
    fn only_the_expert_answers() {
        let mut act = requested();
        let before = act.clone();
        for by in [REQUESTER, ParticipantId(3)] {
            let e = act.handle(answer(by, ExpertAnswer::Accepted), t(1));
            assert!(
                matches!(
                    e,
                    Err(Error::NotTheExpert {
                        action: "answer the request"
                    })
                ),
                "{e:?}"
            );
        }
        assert!(matches!(
            act.handle(answer(ParticipantId(9), ExpertAnswer::Accepted), t(1)),
            Err(Error::UnknownParticipant(_))
        ));
        let e = act.handle(Command::StartReview { by: REQUESTER }, t(1));
        assert!(matches!(e, Err(Error::NotTheExpert { .. })), "{e:?}");
        assert_eq!(act, before);
    }

    #[test]
    fn the_asynchronous_path_accept_review_report() {
        let mut act = requested();
        assert!(act.expertise_overdue(t(24 * 3600 + 1)));
        // Asking for more keeps the request where it is.
        let events = act.handle(answer(EXPERT, more()), t(60)).unwrap();
        assert_eq!(kinds(&events), ["expert_answered"]);
        assert_eq!(act.phase, Phase::Request);
        assert!(!act.expertise_overdue(t(24 * 3600 + 1)), "answered");
        // Accepting moves it to preparation.
        let events = act
            .handle(answer(EXPERT, ExpertAnswer::Accepted), t(120))
            .unwrap();
        assert_eq!(kinds(&events), ["expert_answered", "phase_entered"]);
        assert_eq!(act.phase, Phase::Preparation);
        let e = act.handle(answer(EXPERT, more()), t(121));
        assert!(matches!(e, Err(Error::ExpertiseAlreadyAccepted)), "{e:?}");
        // The review needs consent, as a live performance does.
        let e = act.handle(Command::StartReview { by: EXPERT }, t(130));
        assert!(matches!(e, Err(Error::ConsentRequired)), "{e:?}");
        act.handle(attest(), t(140)).unwrap();
        let events = act
            .handle(Command::StartReview { by: EXPERT }, t(150))
            .unwrap();
        assert_eq!(kinds(&events), ["review_started", "phase_entered"]);
        assert_eq!(act.phase, Phase::Performance);
        let e = act.handle(Command::StartReview { by: EXPERT }, t(151));
        assert!(matches!(e, Err(Error::IllegalTransition { .. })), "{e:?}");
        // The report concludes, through conclusion to closed.
        let report = Command::Conclude {
            by: EXPERT,
            report: Pii::new("Naevus benin; surveillance annuelle.".into()),
            prescriptions: Vec::new(),
        };
        let events = act.handle(report, t(600)).unwrap();
        assert_eq!(kinds(&events), ["phase_entered", "concluded"]);
        assert_eq!(act.phase, Phase::Closed);
        // The report is the expert's.
        assert_eq!(act.conclusion.as_ref().and_then(|c| c.by), Some(EXPERT));
        assert!(matches!(
            &events[1].body,
            crate::event::ActEvent::Concluded(Conclusion {
                by: Some(EXPERT),
                ..
            })
        ));
        let e = act.expertise.as_ref().unwrap();
        assert_eq!(e.answers.len(), 2);
        assert_eq!(e.first_answer_at, Some(t(60)));
        assert_eq!(e.review_started_at, Some(t(150)));
        assert!(!act.expertise_overdue(t(10 * 24 * 3600)));
    }

    #[test]
    fn declining_cancels_the_act() {
        let mut act = requested();
        let e = act.handle(
            answer(
                EXPERT,
                ExpertAnswer::Declined {
                    reason: Pii::new(" ".into()),
                },
            ),
            t(5),
        );
        assert!(
            matches!(e, Err(Error::TextEmpty { what: "reason" })),
            "{e:?}"
        );
        let declined = ExpertAnswer::Declined {
            reason: Pii::new("Hors de ma specialite".into()),
        };
        let events = act.handle(answer(EXPERT, declined), t(10)).unwrap();
        assert_eq!(kinds(&events), ["expert_answered", "cancelled"]);
        assert_eq!(act.phase, Phase::Cancelled);
        assert_eq!(act.cancel_reason, Some(CancelReason::ExpertDeclined));
    }

    #[test]
    fn accepting_in_preparation_keeps_the_phase_and_a_review_needs_acceptance() {
        let mut act = requested();
        act.handle(Command::Prepare, t(1)).unwrap();
        act.handle(attest(), t(2)).unwrap();
        let e = act.handle(Command::StartReview { by: EXPERT }, t(3));
        assert!(matches!(e, Err(Error::ExpertiseNotAccepted)), "{e:?}");
        let events = act
            .handle(answer(EXPERT, ExpertAnswer::Accepted), t(4))
            .unwrap();
        assert_eq!(kinds(&events), ["expert_answered"]);
        assert_eq!(act.phase, Phase::Preparation);
        let e = act.handle(answer(EXPERT, more()), t(5));
        assert!(matches!(e, Err(Error::ExpertiseAlreadyAccepted)), "{e:?}");
        // The live path stays open beside the review; answers are over.
        act.handle(Command::StartPerformance, t(6)).unwrap();
        let e = act.handle(answer(EXPERT, more()), t(7));
        assert!(matches!(e, Err(Error::IllegalTransition { .. })), "{e:?}");
    }

    #[test]
    fn acts_without_a_request_refuse_answers() {
        let mut act = requested();
        act.expertise = None;
        let e = act.handle(answer(EXPERT, ExpertAnswer::Accepted), t(1));
        assert!(matches!(e, Err(Error::NoExpertiseRequest)), "{e:?}");
        let mut new = NewAct {
            kind: ActKind::Teleconsultation,
            requester: professional("Dr Test Requerant", "10000000009"),
            expert: None,
            patient: Identity::Patient {
                alias: Pii::new("dossier-0001".parse().unwrap()),
            },
            patient_present: true,
            expertise: Some(ExpertiseRequest {
                question: Pii::new("?".into()),
                urgency: Urgency::Routine,
            }),
        };
        let e = Act::open(ActId::random(), new.clone(), t(0)).unwrap_err();
        assert!(matches!(e, Error::ExpertiseOnlyForTeleexpertise), "{e:?}");
        new.kind = ActKind::Teleexpertise;
        new.expert = Some(professional("Dr Test Expert", "10101010105"));
        new.expertise = Some(ExpertiseRequest {
            question: Pii::new("q".repeat(8 * 1024 + 1)),
            urgency: Urgency::Routine,
        });
        let e = Act::open(ActId::random(), new, t(0)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TextTooLong {
                    what: "question",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn the_request_replays_and_is_refused_twice() {
        let act = requested();
        let e = act.expertise.as_ref().unwrap();
        assert_eq!(e.requested_at, t(0));
        assert_eq!(e.respond_by, t(24 * 3600));
        let request = ExpertiseRequest {
            question: Pii::new("Encore ?".into()),
            urgency: Urgency::Routine,
        };
        let mut again = act.clone();
        assert!(matches!(
            again.request_expertise(request, t(1)),
            Err(Error::InvalidTrace(_))
        ));
        assert_eq!(again, act);
    }
}
