//! Consent: who may give it and how (electronically by the patient or a
//! companion, attested by the requester when the patient is absent), for
//! which scopes, and what withdrawing it does to the performance and its
//! media.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{ActKind, CancelReason, Command, Phase};
use session::consent::{ConsentMethod, ConsentScope};
use session::event::ActEvent;
use session::participant::Role;
use session::{Error, ParticipantId};

#[test]
fn start_performance_without_consent_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn start_performance_with_only_data_hosting_consent_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::DataHosting],
    )));
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn start_performance_after_consent_withdrawal_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    let events = s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID
        }]
    );
    assert!(s.act.consent.has(ConsentScope::DataHosting));
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");

    // Consent given again lets it start.
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::StartPerformance);
    assert_eq!(s.act.phase, Phase::Performance);
}

#[test]
fn withdrawing_data_hosting_only_still_lets_the_performance_start() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
}

#[test]
fn electronic_consent_by_a_professional_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Expert, expert()));
    for by in [REQUESTER_ID, ParticipantId(3)] {
        let err = s.refuse(Command::GiveConsent(electronic_consent(by)));
        assert!(matches!(err, Error::ConsentNotAllowed(_)), "{by}: {err:?}");
    }
}

#[test]
fn electronic_consent_by_a_companion_is_accepted() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(Command::GiveConsent(electronic_consent(ParticipantId(3))));
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
}

#[test]
fn attested_consent_by_the_requester_without_the_patient_is_accepted() {
    let mut s = Scenario::teleexpertise_without_patient();
    let events = s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentGiven(attested_consent(REQUESTER_ID))]
    );
    assert!(matches!(
        attested_consent(REQUESTER_ID).method,
        ConsentMethod::AttestedByProfessional { .. }
    ));
    assert!(s.act.consent.allows_media());
}

#[test]
fn attested_consent_by_the_expert_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    let err = s.refuse(Command::GiveConsent(attested_consent(EXPERT_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn attested_consent_is_refused_when_the_patient_is_present() {
    let mut s = Scenario::new(ActKind::Teleexpertise, true);
    s.ok(register(Role::Requester, requester()));
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let err = s.refuse(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn attested_consent_is_refused_in_a_teleconsultation() {
    // A teleconsultation always has the patient, even if asked otherwise.
    let mut s = Scenario::new(ActKind::Teleconsultation, false);
    assert!(s.act.patient_present);
    s.ok(register(Role::Requester, requester()));
    s.ok(Command::Prepare);
    let err = s.refuse(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn consent_with_no_scope_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::GiveConsent(electronic_consent_to(PATIENT_ID, &[])));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[test]
fn consent_by_an_unknown_participant_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::GiveConsent(electronic_consent(ParticipantId(9))));
    assert!(
        matches!(err, Error::UnknownParticipant(ParticipantId(9))),
        "{err:?}"
    );
}

#[test]
fn withdrawing_consent_never_given_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn withdrawing_consent_by_an_unknown_participant_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: ParticipantId(0),
    });
    assert!(
        matches!(err, Error::UnknownParticipant(ParticipantId(0))),
        "{err:?}"
    );
}

#[test]
fn withdrawal_names_only_the_scopes_actually_granted() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::TelemedicineAct],
    )));
    let events = s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting, ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID
        }]
    );
    assert_eq!(
        s.act.consent.withdrawals,
        vec![(ConsentScope::TelemedicineAct, s.now(), PATIENT_ID)]
    );
}

#[test]
fn withdrawing_consent_during_the_performance_stops_the_media() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    assert!(s.act.media_allowed());
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(s.act.phase, Phase::Performance);
    assert!(!s.act.media_allowed());
    // The act can still end and be concluded or cancelled.
    s.ok(Command::Cancel(CancelReason::ConsentRefused));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn consent_may_be_given_from_request_to_performance() {
    for phase in [Phase::Request, Phase::Preparation, Phase::Performance] {
        let mut s = Scenario::teleconsultation_in(phase);
        s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
        assert!(s.act.consent.allows_media(), "{phase}");
    }
}
