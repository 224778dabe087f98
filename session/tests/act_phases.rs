//! The act's phases in order: request, preparation, performance (once
//! consent stands), conclusion and closed, each entered once at its
//! command's time, for a teleconsultation and for a téléexpertise without
//! the patient.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{ActKind, Command, Phase};
use session::event::{ActEvent, Event};

#[test]
fn request_opens_the_act_in_the_request_phase() {
    let s = Scenario::new(ActKind::Teleconsultation, true);
    assert_eq!(s.act.phase, Phase::Request);
    assert_eq!(s.act.entered(Phase::Request), Some(at_ms(0)));
    assert_eq!(s.act.phase_times, vec![(Phase::Request, at_ms(0))]);
    assert_eq!(
        s.events,
        vec![Event {
            at: at_ms(0),
            body: ActEvent::Requested {
                kind: ActKind::Teleconsultation,
                patient_present: true,
            },
        }]
    );
    assert!(s.act.participants.is_empty());
    assert!(!s.act.media_allowed());
}

#[test]
fn request_to_preparation() {
    let mut s = Scenario::teleconsultation();
    let events = s.ok(Command::Prepare);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Preparation)]);
    assert_eq!(s.act.phase, Phase::Preparation);
    assert_eq!(s.act.entered(Phase::Preparation), Some(s.now()));
    assert_eq!(s.act.entered(Phase::Performance), None);
}

#[test]
fn preparation_to_performance_with_consent() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let events = s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentGiven(electronic_consent(PATIENT_ID))]
    );
    assert_eq!(s.act.phase, Phase::Preparation);
    assert!(!s.act.media_allowed(), "no media before the performance");

    let events = s.ok(Command::StartPerformance);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Performance)]);
    assert_eq!(s.act.phase, Phase::Performance);
    assert_eq!(s.act.entered(Phase::Performance), Some(s.now()));
    assert!(s.act.media_allowed());
}

#[test]
fn performance_to_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let events = s.ok(Command::EndPerformance);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Conclusion)]);
    assert_eq!(s.act.phase, Phase::Conclusion);
    assert_eq!(s.act.entered(Phase::Conclusion), Some(s.now()));
    assert!(!s.act.media_allowed(), "media stops with the performance");
    assert_eq!(s.act.conclusion, None);
}

#[test]
fn conclusion_to_closed() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let events = s.ok(conclude());
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![ActEvent::Concluded(conclusion())]);
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(s.act.entered(Phase::Closed), Some(s.now()));
    assert_eq!(s.act.conclusion, Some(conclusion()));
    assert_eq!(s.act.cancel_reason, None);
}

#[test]
fn the_whole_lifecycle_records_each_phase_once_in_order() {
    let mut s = Scenario::teleconsultation();
    let mut expected = vec![(Phase::Request, at_ms(0))];
    for phase in [
        Phase::Preparation,
        Phase::Performance,
        Phase::Conclusion,
        Phase::Closed,
    ] {
        s.drive_to(phase);
        assert_eq!(s.act.phase, phase);
        expected.push((phase, s.now()));
    }
    assert_eq!(s.act.phase_times, expected);
    assert!(s.act.phase_times.windows(2).all(|w| w[0].1 < w[1].1));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn a_teleexpertise_without_the_patient_runs_on_attested_consent() {
    let mut s = Scenario::teleexpertise_without_patient();
    assert!(!s.act.patient_present);
    s.ok(Command::Prepare);
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
    s.ok(conclude());
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(
        phases(&s.act),
        vec![
            Phase::Request,
            Phase::Preparation,
            Phase::Performance,
            Phase::Conclusion,
            Phase::Closed
        ]
    );
    assert_eq!(s.replay().unwrap(), s.act);
}
