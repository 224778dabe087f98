//! Admission: a professional admits the patient and companions, in
//! preparation or performance, once each; professionals need none, and a
//! refusal names no one.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Command, LeaveReason, Phase};
use session::event::ActEvent;
use session::participant::Role;
use session::{Error, ParticipantId};

#[test]
fn the_requester_admits_the_patient() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    assert!(s.act.admitted.is_empty());
    let events = s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_all_at(&events, &s);
    assert_eq!(
        bodies(&events),
        vec![ActEvent::Admitted {
            participant: PATIENT_ID,
            by: REQUESTER_ID
        }]
    );
    assert_eq!(s.act.admitted, vec![PATIENT_ID]);
    assert_eq!(s.act.phase, Phase::Preparation);
}

#[test]
fn the_expert_admits_too() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Expert, expert()));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(admit(ParticipantId(4), ParticipantId(3)));
    s.ok(admit(PATIENT_ID, ParticipantId(3)));
    assert_eq!(s.act.admitted, vec![ParticipantId(4), PATIENT_ID]);
}

#[test]
fn only_a_professional_admits() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let companion_id = ParticipantId(3);
    for (participant, by) in [
        (companion_id, PATIENT_ID),
        (PATIENT_ID, PATIENT_ID),
        (PATIENT_ID, companion_id),
        (companion_id, companion_id),
    ] {
        let err = s.refuse(admit(participant, by));
        assert!(
            matches!(&err, Error::InvalidInput(m) if m == "only a professional admits participants"),
            "{participant} by {by}: {err:?}"
        );
    }
    assert!(s.act.admitted.is_empty());
    // The same admissions by the requester succeed.
    s.ok(admit(companion_id, REQUESTER_ID));
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_eq!(s.act.admitted, vec![companion_id, PATIENT_ID]);
}

#[test]
fn admission_by_a_non_professional_is_refused_in_every_open_phase() {
    // The admitter's role is checked before the phase, and before the role
    // of who is admitted.
    for phase in OPEN_PHASES {
        let mut s = Scenario::teleconsultation_in(phase);
        for command in [
            admit(PATIENT_ID, PATIENT_ID),
            admit(REQUESTER_ID, PATIENT_ID),
        ] {
            let err = s.refuse(command);
            assert!(
                matches!(&err, Error::InvalidInput(m) if m == "only a professional admits participants"),
                "{phase}: {err:?}"
            );
        }
    }
}

#[test]
fn admission_only_in_preparation_or_performance() {
    for phase in [Phase::Preparation, Phase::Performance] {
        let mut s = Scenario::teleconsultation_in(phase);
        s.ok(admit(PATIENT_ID, REQUESTER_ID));
        assert_eq!(s.act.admitted, vec![PATIENT_ID], "{phase}");
        assert_eq!(s.replay().unwrap(), s.act, "{phase}");
    }
    for phase in [
        Phase::Request,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        assert_illegal(phase, admit(PATIENT_ID, REQUESTER_ID));
    }
}

#[test]
fn admitting_twice_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let patient_id = ParticipantId(3);
    s.ok(Command::Prepare);
    s.ok(admit(patient_id, REQUESTER_ID));
    let assert_already = |err: Error| {
        assert!(
            matches!(err, Error::AlreadyAdmitted(p) if p == patient_id),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "participant p3 is already admitted");
    };
    // Again, by the same professional or the other one, in the same phase
    // or the next.
    assert_already(s.refuse(admit(patient_id, REQUESTER_ID)));
    assert_already(s.refuse(admit(patient_id, EXPERT_ID)));
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(Command::StartPerformance);
    assert_already(s.refuse(admit(patient_id, EXPERT_ID)));
    // Leaving and joining again does not undo the admission.
    s.ok(leave(patient_id, LeaveReason::ConnectionLost));
    s.ok(join(patient_id));
    assert_already(s.refuse(admit(patient_id, REQUESTER_ID)));
    assert_eq!(s.act.admitted, vec![patient_id]);
    // Outside preparation and performance the phase is reported instead.
    s.ok(Command::EndPerformance);
    let err = s.refuse(admit(patient_id, REQUESTER_ID));
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Conclusion,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_professional_is_never_admitted() {
    // Professionals need no admission: admitting one is refused, whoever
    // admits, even themselves, in every open phase (the roles are checked
    // before the phase).
    for phase in OPEN_PHASES {
        let mut s = Scenario::teleexpertise_without_patient();
        s.drive_to(phase);
        for (participant, by) in [
            (EXPERT_ID, REQUESTER_ID),
            (REQUESTER_ID, EXPERT_ID),
            (REQUESTER_ID, REQUESTER_ID),
            (EXPERT_ID, EXPERT_ID),
        ] {
            let err = s.refuse(admit(participant, by));
            let Error::InvalidInput(message) = &err else {
                panic!("{participant} by {by} in {phase}: {err:?}");
            };
            assert_eq!(
                *message,
                format!(
                    "participant {participant} is a professional, and professionals need no admission"
                )
            );
        }
        assert!(s.act.admitted.is_empty(), "{phase}");
    }
}

#[test]
fn refusing_to_admit_a_professional_names_no_one() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(Command::Prepare);
    let message = s.refuse(admit(EXPERT_ID, REQUESTER_ID)).to_string();
    for personal in [REQUESTER_NAME, EXPERT_NAME, RPPS_REQUESTER, RPPS_EXPERT] {
        assert!(!message.contains(personal), "{message}");
    }
}

#[test]
fn a_professional_registered_late_is_not_admitted_either() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Expert, expert()));
    let err = s.refuse(admit(ParticipantId(3), REQUESTER_ID));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    // They get media without it.
    s.ok(record_media(ParticipantId(3)));
}
