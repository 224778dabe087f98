//! Media paths: recorded only in the performance, for participants
//! admitted (or professionals) while consent to the act stands; a refusal
//! says why and names no one.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Command, MediaPath, MediaRoute, Phase};
use session::consent::ConsentScope;
use session::event::ActEvent;
use session::participant::Role;
use session::{Error, ParticipantId};

#[test]
fn media_is_recorded_in_the_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    // The requester, a professional, needs no admission.
    let relayed = MediaPath {
        participant: REQUESTER_ID,
        route: MediaRoute::Relay,
        candidate_types: vec!["relay".into(), "srflx".into()],
        codecs: vec!["opus".into(), "AV1".into()],
    };
    assert_recorded_only(
        &mut s,
        Command::RecordMedia(relayed.clone()),
        ActEvent::MediaConnected(relayed),
    );
    // The patient, once admitted.
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_recorded_only(
        &mut s,
        record_media(PATIENT_ID),
        ActEvent::MediaConnected(media_path(PATIENT_ID)),
    );
    // Again, as when the connection is renegotiated.
    s.ok(record_media(PATIENT_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn media_is_refused_outside_the_performance() {
    // The phase is checked before consent and admission.
    for phase in [
        Phase::Request,
        Phase::Preparation,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        assert_illegal(phase, record_media(PATIENT_ID));
        assert_illegal(phase, record_media(REQUESTER_ID));
    }
    // Admitted in preparation, the patient still waits for the performance.
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    let err = s.refuse(record_media(PATIENT_ID));
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Preparation,
                ..
            }
        ),
        "{err:?}"
    );
}

/// `err` is [`Error::MediaNotAllowed`] for `participant` with `reason`.
#[track_caller]
fn assert_media_refused(err: Error, participant: ParticipantId, reason: &str) {
    assert!(
        matches!(&err, Error::MediaNotAllowed { participant: p, reason: r } if *p == participant && *r == reason),
        "{err:?}"
    );
}

const NOT_ADMITTED: &str = "a professional has not admitted them";
const NO_CONSENT: &str = "consent to the act is not standing";

#[test]
fn media_is_refused_for_a_participant_not_admitted() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(join(PATIENT_ID));
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NOT_ADMITTED);
    // A companion registered during the performance waits likewise.
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let companion_id = ParticipantId(3);
    assert_media_refused(
        s.refuse(record_media(companion_id)),
        companion_id,
        NOT_ADMITTED,
    );
    // Admitting one lets only that one in.
    s.ok(admit(companion_id, REQUESTER_ID));
    s.ok(record_media(companion_id));
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NOT_ADMITTED);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(record_media(PATIENT_ID));
    assert!(s.act.media_allowed_for(PATIENT_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn media_is_refused_once_consent_to_the_act_is_withdrawn() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(record_media(PATIENT_ID));
    // Withdrawing data hosting only leaves the media allowed.
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    s.ok(record_media(PATIENT_ID));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert!(!s.act.media_allowed());
    // Refused for the admitted patient and for the professional alike.
    for p in [PATIENT_ID, REQUESTER_ID] {
        assert_media_refused(s.refuse(record_media(p)), p, NO_CONSENT);
        assert!(!s.act.media_allowed_for(p));
    }
    // Consent given again lets the media flow again; the admission stands.
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(record_media(PATIENT_ID));
    s.ok(record_media(REQUESTER_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn without_consent_an_unadmitted_patient_is_told_about_consent_first() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NO_CONSENT);
}

#[test]
fn a_teleexpertise_without_the_patient_needs_no_admission_for_media() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.drive_to(Phase::Performance);
    s.ok(record_media(REQUESTER_ID));
    s.ok(record_media(EXPERT_ID));
    assert!(s.act.admitted.is_empty());
    // Until the requester withdraws the attested consent.
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: REQUESTER_ID,
    });
    assert_media_refused(s.refuse(record_media(EXPERT_ID)), EXPERT_ID, NO_CONSENT);
}

#[test]
fn media_allowed_for_agrees_with_record_media() {
    let mut s = Scenario::teleconsultation();
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let check = |s: &mut Scenario| {
        for p in (0..=5).map(ParticipantId) {
            let allowed = s.act.media_allowed_for(p);
            let mut probe = s.clone();
            assert_eq!(
                probe.handle(record_media(p)).is_ok(),
                allowed,
                "{p} in {}",
                s.act.phase
            );
        }
    };
    check(&mut s);
    s.ok(Command::Prepare);
    s.ok(admit(ParticipantId(3), REQUESTER_ID));
    check(&mut s);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::StartPerformance);
    check(&mut s);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    check(&mut s);
    s.ok(Command::EndPerformance);
    check(&mut s);
}

#[test]
fn refusing_media_names_no_one() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let message = s.refuse(record_media(PATIENT_ID)).to_string();
    assert_eq!(
        message,
        "media is not allowed for participant p2: a professional has not admitted them"
    );
    for personal in [PATIENT_ALIAS_1, REQUESTER_NAME, RPPS_REQUESTER, USER_AGENT] {
        assert!(!message.contains(personal), "{message}");
    }
}
