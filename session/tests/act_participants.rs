//! Participants: numbered in order of registration, one per professional
//! or patient role, identities that fit their role, and at most
//! `Act::MAX_PARTICIPANTS`, in every phase up to the performance.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Act, ActKind, Phase};
use session::event::{ActEvent, Event};
use session::participant::Role;
use session::{Error, ParticipantId};

#[test]
fn participants_are_numbered_in_order_of_registration() {
    let mut s = Scenario::new(ActKind::Teleexpertise, true);
    let e1 = s.ok(register(Role::Expert, expert()));
    let e2 = s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let e3 = s.ok(register(Role::Requester, requester()));
    assert_all_at(&e3, &s);
    for (events, n, role) in [
        (e1, 1, Role::Expert),
        (e2, 2, Role::Patient),
        (e3, 3, Role::Requester),
    ] {
        match &events[..] {
            [
                Event {
                    body: ActEvent::ParticipantRegistered(p),
                    ..
                },
            ] => {
                assert_eq!(p.id, ParticipantId(n));
                assert_eq!(p.role, role);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        s.act.participant(ParticipantId(2)).unwrap().role,
        Role::Patient
    );
    assert_eq!(
        s.act
            .participant_with_role(Role::Requester)
            .unwrap()
            .identity,
        requester()
    );
    assert!(matches!(
        s.act.participant(ParticipantId(4)),
        Err(Error::UnknownParticipant(ParticipantId(4)))
    ));
}

#[test]
fn a_second_patient_is_refused() {
    let mut s = Scenario::teleconsultation();
    let err = s.refuse(register(Role::Patient, patient(PATIENT_ALIAS_2)));
    assert!(matches!(err, Error::RoleTaken(Role::Patient)), "{err:?}");
}

#[test]
fn a_second_requester_or_expert_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    let err = s.refuse(register(Role::Requester, other_professional()));
    assert!(matches!(err, Error::RoleTaken(Role::Requester)), "{err:?}");
    let err = s.refuse(register(Role::Expert, other_professional()));
    assert!(matches!(err, Error::RoleTaken(Role::Expert)), "{err:?}");
}

#[test]
fn a_fifth_participant_is_refused() {
    let mut s = Scenario::teleconsultation();
    s.ok(register(Role::Expert, expert()));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    assert_eq!(s.act.participants.len(), Act::MAX_PARTICIPANTS);
    let err = s.refuse(register(Role::Companion, companion("Interprete Test")));
    assert!(matches!(err, Error::RoomFull(4)), "{err:?}");
}

#[test]
fn several_companions_fit_while_the_room_has_space() {
    let mut s = Scenario::new(ActKind::Teleconsultation, true);
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    s.ok(register(Role::Companion, companion("Accompagnant Un")));
    s.ok(register(Role::Companion, companion("Accompagnant Deux")));
    s.ok(register(Role::Companion, companion("Accompagnant Trois")));
    let err = s.refuse(register(Role::Requester, requester()));
    assert!(matches!(err, Error::RoomFull(4)), "{err:?}");
}

#[test]
fn an_identity_that_does_not_fit_the_role_is_refused() {
    let cases = [
        (Role::Patient, requester()),
        (Role::Patient, companion(COMPANION_NAME)),
        (Role::Requester, patient(PATIENT_ALIAS_1)),
        (Role::Requester, companion(COMPANION_NAME)),
        (Role::Expert, patient(PATIENT_ALIAS_1)),
        (Role::Expert, companion(COMPANION_NAME)),
        (Role::Companion, expert()),
        (Role::Companion, patient(PATIENT_ALIAS_1)),
    ];
    for (role, identity) in cases {
        let mut s = Scenario::new(ActKind::Teleexpertise, true);
        let err = s.refuse(register(role, identity));
        assert!(matches!(err, Error::InvalidInput(_)), "{role}: {err:?}");
    }
}

#[test]
fn participants_may_join_in_preparation_and_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Expert, expert()));
    s.drive_to(Phase::Performance);
    let events = s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    assert!(matches!(
        &events[0].body,
        ActEvent::ParticipantRegistered(p) if p.id == ParticipantId(4) && p.role == Role::Companion
    ));
}
