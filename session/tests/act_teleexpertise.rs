//! A téléexpertise from its request to its report, as the act records it:
//! the question with its delay, documents attached once consent is
//! attested, the expert's answers, then either the live session (shares
//! confirmed by both ends, chat digests, a screen share) or the
//! asynchronous review; each ends with the expert's report, and the trace
//! replays to the same act.

mod common;

use common::lifecycle::{bodies, phases};
use common::*;
use session::act::{Command, ExpertAnswer, Phase};
use session::document::{DocumentType, Upload};
use session::event::ActEvent;
use session::incident::IncidentKind;
use session::{Error, MessageId, ParticipantId, Pii, Sha256, ShareId};

const PATIENT_P3: ParticipantId = ParticipantId(3);

fn pdf() -> Upload {
    Upload::inspect(b"%PDF-1.7\n% compte rendu d'anatomopathologie fictif\n".to_vec()).unwrap()
}

fn jpeg() -> Upload {
    Upload::inspect(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 cliche dermoscopique".to_vec()).unwrap()
}

fn attach(upload: &Upload, name: &str) -> Command {
    Command::attach(upload, Pii::new(name.into()), REQUESTER_ID)
}

fn answer(answer: ExpertAnswer) -> Command {
    Command::AnswerExpertise {
        by: EXPERT_ID,
        answer,
    }
}

fn kinds(s: &Scenario) -> Vec<&'static str> {
    s.events.iter().map(|e| e.body.kind()).collect()
}

#[test]
fn the_request_is_recorded_after_the_participants_with_its_delay() {
    let s = Scenario::teleexpertise_requested();
    assert_eq!(
        kinds(&s),
        [
            "requested",
            "participant_registered",
            "participant_registered",
            "participant_registered",
            "expertise_requested"
        ]
    );
    let e = s.act.expertise.as_ref().expect("the request");
    assert_eq!(e.question.expose(), QUESTION);
    assert_eq!(e.respond_by, at_ms(24 * 3_600_000));
    assert!(!s.act.expertise_overdue(at_ms(24 * 3_600_000)));
    assert!(s.act.expertise_overdue(at_ms(24 * 3_600_000 + 1)));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn the_live_path_with_documents_shares_chat_and_a_screen() {
    let mut s = Scenario::teleexpertise_requested();
    // Documents wait for the attested consent.
    let refused = s.refuse(attach(&pdf(), "anapath.pdf"));
    assert!(matches!(refused, Error::ConsentRequired), "{refused:?}");
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(attach(&pdf(), "anapath.pdf"));
    s.ok(attach(&jpeg(), "photos/dos.jpg"));
    assert_eq!(
        bodies(&s.ok(answer(ExpertAnswer::Accepted)))[1],
        ActEvent::PhaseEntered {
            phase: Phase::Preparation
        }
    );
    s.ok(Command::StartPerformance);
    s.ok(join(REQUESTER_ID));
    s.ok(join(EXPERT_ID));
    // A second image and a 20 MiB file, each confirmed with its digest.
    for (n, media_type, size) in [(1u8, Some(DocumentType::Png), 4_096), (2, None, 20 << 20)] {
        let share = ShareId::from_bytes([n; 16]);
        let digest = Sha256::from_bytes([n; 32]);
        s.ok(Command::OfferShare {
            share,
            sender: REQUESTER_ID,
            digest,
            media_type,
            size,
            name: Pii::new(format!("partage-{n}")),
        });
        s.ok(Command::ReceiveShare {
            share,
            by: EXPERT_ID,
            digest,
        });
    }
    // A message each way, reported by both ends.
    for (n, sender, receiver) in [(1u8, REQUESTER_ID, EXPERT_ID), (2, EXPERT_ID, REQUESTER_ID)] {
        for reporter in [sender, receiver] {
            s.ok(Command::ReportChat {
                message: MessageId::from_bytes([n; 16]),
                sender,
                reporter,
                digest: Sha256::from_bytes([0x40 + n; 32]),
            });
        }
    }
    s.ok(Command::StartScreenShare {
        participant: REQUESTER_ID,
    });
    s.ok(Command::StopScreenShare {
        participant: REQUESTER_ID,
    });
    s.ok(conclude());

    assert_eq!(s.act.phase, Phase::Closed);
    assert!(s.act.incidents.is_empty(), "every digest matched");
    assert_eq!(s.act.attachments.len(), 2);
    assert_eq!(s.act.attachments[1].name.expose(), "dos.jpg");
    assert_eq!(s.act.attachments[1].media_type, DocumentType::Jpeg);
    assert!(
        s.act
            .shares
            .iter()
            .all(|sh| sh.received == [(EXPERT_ID, true)])
    );
    assert_eq!(s.act.chat_reports, 4);
    let k = kinds(&s);
    for kind in [
        "expertise_requested",
        "attachment_added",
        "expert_answered",
        "share_offered",
        "share_received",
        "chat_reported",
        "screen_share_started",
        "screen_share_stopped",
        "concluded",
    ] {
        assert!(k.contains(&kind), "{kind} missing from {k:?}");
    }
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn the_asynchronous_path_more_then_accept_review_and_report() {
    let mut s = Scenario::teleexpertise_requested();
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(attach(&pdf(), "anapath.pdf"));
    s.ok(answer(ExpertAnswer::MoreRequested {
        what: Pii::new("Une photo sous dermoscopie".into()),
    }));
    assert_eq!(s.act.phase, Phase::Request);
    s.ok(attach(&jpeg(), "dermoscopie.jpg"));
    s.ok(answer(ExpertAnswer::Accepted));
    // Only the expert reviews.
    let refused = s.refuse(Command::StartReview { by: REQUESTER_ID });
    assert!(matches!(refused, Error::NotTheExpert { .. }), "{refused:?}");
    s.ok(Command::StartReview { by: EXPERT_ID });
    s.ok(conclude());
    assert_eq!(
        phases(&s.act),
        [
            Phase::Request,
            Phase::Preparation,
            Phase::Performance,
            Phase::Conclusion,
            Phase::Closed
        ]
    );
    let e = s.act.expertise.as_ref().unwrap();
    assert_eq!(e.answers.len(), 2);
    assert!(e.review_started_at.is_some());
    assert_eq!(
        s.act.conclusion.as_ref().unwrap().report.expose(),
        CONCLUSION_REPORT
    );
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn a_decline_cancels_and_a_patient_attaches_nothing() {
    let mut s = Scenario::teleexpertise_requested();
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    let refused = s.refuse(Command::attach(
        &pdf(),
        Pii::new("x.pdf".into()),
        PATIENT_P3,
    ));
    assert!(matches!(refused, Error::NotAProfessional(_)), "{refused:?}");
    s.ok(answer(ExpertAnswer::Declined {
        reason: Pii::new("Hors de ma specialite".into()),
    }));
    assert_eq!(s.act.phase, Phase::Cancelled);
    assert!(!s.act.expertise_overdue(at_ms(30 * 24 * 3_600_000)));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn a_mismatched_share_is_an_incident_and_the_session_goes_on() {
    let mut s = Scenario::teleexpertise_requested();
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(answer(ExpertAnswer::Accepted));
    s.ok(Command::StartPerformance);
    let share = ShareId::from_bytes([9; 16]);
    s.ok(Command::OfferShare {
        share,
        sender: REQUESTER_ID,
        digest: Sha256::from_bytes([1; 32]),
        media_type: Some(DocumentType::Dicom),
        size: 100 << 20,
        name: Pii::new("serie.dcm".into()),
    });
    let events = s.ok(Command::ReceiveShare {
        share,
        by: EXPERT_ID,
        digest: Sha256::from_bytes([2; 32]),
    });
    assert_eq!(events.len(), 3);
    let incident = &s.act.incidents[0];
    assert_eq!(incident.kind, IncidentKind::ShareMismatch);
    assert_eq!(incident.participant, Some(EXPERT_ID));
    assert_eq!(incident.closed_at, Some(incident.opened_at));
    // Still in the performance: the file can be sent again.
    s.ok(Command::CancelShare {
        share,
        by: EXPERT_ID,
    });
    assert_eq!(s.act.phase, Phase::Performance);
    assert_eq!(s.replay().unwrap(), s.act);
}
