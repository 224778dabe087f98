//! The conclusion: concluding from the performance or the conclusion
//! phase, once, by a professional of the act whom it names, with a report
//! that is neither empty nor too long, with or without prescriptions; a
//! conclusion recorded before authors were (no `by`) still replays.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Act, Command, Phase};
use session::conclusion::Conclusion;
use session::event::{ActEvent, Event};
use session::{Error, ParticipantId, Pii};

#[test]
fn conclude_straight_from_performance_passes_through_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let events = s.ok(conclude());
    assert_all_at(&events, &s);
    assert_eq!(
        bodies(&events),
        vec![
            phase_entered(Phase::Conclusion),
            ActEvent::Concluded(conclusion())
        ]
    );
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(s.act.entered(Phase::Conclusion), Some(s.now()));
    assert_eq!(s.act.entered(Phase::Closed), Some(s.now()));
    assert_eq!(s.act.conclusion, Some(conclusion()));
}

#[test]
fn conclude_twice_is_refused() {
    assert_illegal(Phase::Closed, conclude());
}

#[test]
fn empty_report_is_refused_in_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    for report in ["", "   ", "\n\t "] {
        let err = s.refuse(conclude_with_report(report));
        assert!(matches!(err, Error::InvalidInput(_)), "{report:?}: {err:?}");
    }
    assert_eq!(s.act.phase, Phase::Conclusion);
}

#[test]
fn empty_report_is_refused_in_performance_without_entering_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(conclude_with_report(""));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(s.act.phase, Phase::Performance);
    assert_eq!(s.act.entered(Phase::Conclusion), None);
}

#[test]
fn report_length_limit() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let too_long = "a".repeat(Conclusion::MAX_REPORT_LEN + 1);
    let err = s.refuse(conclude_with_report(&too_long));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let longest = "a".repeat(Conclusion::MAX_REPORT_LEN);
    s.ok(conclude_with_report(&longest));
    assert_eq!(s.act.phase, Phase::Closed);
}

#[test]
fn a_conclusion_without_prescriptions_is_accepted() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let c = Conclusion {
        report: Pii::new(CONCLUSION_REPORT.into()),
        prescriptions: Vec::new(),
        by: Some(REQUESTER_ID),
    };
    s.ok(conclude_with(c.clone()));
    assert_eq!(s.act.conclusion, Some(c));
}

#[test]
fn the_expert_who_concludes_is_named_in_the_event_and_the_act() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(Command::Prepare);
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(Command::StartPerformance);
    let events = s.ok(Command::Conclude {
        by: EXPERT_ID,
        report: Pii::new(CONCLUSION_REPORT.into()),
        prescriptions: Vec::new(),
    });
    let expected = Conclusion {
        report: Pii::new(CONCLUSION_REPORT.into()),
        prescriptions: Vec::new(),
        by: Some(EXPERT_ID),
    };
    assert_eq!(
        events.last().unwrap().body,
        ActEvent::Concluded(expected.clone())
    );
    assert_eq!(s.act.conclusion, Some(expected));
    assert_eq!(s.replay().unwrap(), s.act);
    // The author is public: a plain participant number beside the type.
    let json = serde_json::to_value(&events.last().unwrap().body).unwrap();
    assert_eq!(json["by"], 2);
}

#[test]
fn only_a_professional_of_the_act_concludes() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let by = |by| Command::Conclude {
        by,
        report: Pii::new(CONCLUSION_REPORT.into()),
        prescriptions: Vec::new(),
    };
    let err = s.refuse(by(PATIENT_ID));
    assert!(
        matches!(err, Error::NotAProfessional(p) if p == PATIENT_ID),
        "{err:?}"
    );
    let err = s.refuse(by(ParticipantId(9)));
    assert!(matches!(err, Error::UnknownParticipant(_)), "{err:?}");
    assert_eq!(s.act.phase, Phase::Conclusion);
    s.ok(by(REQUESTER_ID));
    assert_eq!(s.act.phase, Phase::Closed);
}

#[test]
fn a_conclusion_recorded_before_authors_were_replays() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(conclude());
    // The same trace as written before: its `concluded` event has no `by`.
    let mut old = s.events.clone();
    let last = old.last_mut().unwrap();
    let mut json = serde_json::to_value(&*last).unwrap();
    json.as_object_mut().unwrap().remove("by");
    assert!(json.get("report").is_some() && json.get("prescriptions").is_some());
    *last = serde_json::from_value::<Event>(json.clone()).unwrap();
    let ActEvent::Concluded(c) = &last.body else {
        panic!("the last event concludes: {last:?}");
    };
    assert_eq!(c.by, None);
    // Written again, it is the same JSON: an absent author stays absent.
    assert_eq!(serde_json::to_value(&*last).unwrap(), json);
    let act = Act::replay(s.act.id, &old).unwrap();
    assert_eq!(act.phase, Phase::Closed);
    assert_eq!(act.conclusion.as_ref().map(|c| c.by), Some(None));
    assert_eq!(
        act.conclusion.as_ref().map(|c| c.report.expose().as_str()),
        Some(CONCLUSION_REPORT)
    );
}

#[test]
fn replay_refuses_a_conclusion_by_the_patient_or_a_stranger() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    for by in [PATIENT_ID, ParticipantId(9)] {
        let mut events = s.events.clone();
        events.push(Event {
            at: s.tick(),
            body: ActEvent::Concluded(Conclusion {
                by: Some(by),
                ..conclusion()
            }),
        });
        let err = Act::replay(s.act.id, &events).unwrap_err();
        assert!(matches!(err, Error::InvalidTrace(_)), "{by}: {err:?}");
    }
}
