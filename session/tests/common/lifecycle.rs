//! Commands, events and assertions shared by the act scenarios
//! (`act_*.rs`): one builder per command, the phase tables, and a busy act
//! to replay.

use session::act::{Act, CancelReason, Command, LeaveReason, MediaPath, MediaRoute, Phase};
use session::consent::ConsentScope;
use session::event::{ActEvent, Event};
use session::incident::{IncidentId, IncidentKind, Metrics};
use session::participant::Role;
use session::{Error, ParticipantId};

use super::*;

/// Every phase, in order, the terminal ones last.
pub const ALL_PHASES: [Phase; 6] = [
    Phase::Request,
    Phase::Preparation,
    Phase::Performance,
    Phase::Conclusion,
    Phase::Closed,
    Phase::Cancelled,
];

/// The event of entering `phase`.
pub fn phase_entered(phase: Phase) -> ActEvent {
    ActEvent::PhaseEntered { phase }
}

/// The events' bodies, without their times.
pub fn bodies(events: &[Event]) -> Vec<ActEvent> {
    events.iter().map(|e| e.body.clone()).collect()
}

/// Every event of one command carries the command's time.
#[track_caller]
pub fn assert_all_at(events: &[Event], s: &Scenario) {
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e.at, s.now(), "{e:?}");
    }
}

/// The phases entered so far, in order.
pub fn phases(act: &Act) -> Vec<Phase> {
    act.phase_times.iter().map(|(p, _)| *p).collect()
}

/// Opens an incident of `kind` about no one in particular, without metrics.
pub fn open_incident(kind: IncidentKind) -> Command {
    Command::OpenIncident {
        kind,
        participant: None,
        metrics: Metrics::new(),
    }
}

/// Closes incident `n`, without metrics.
pub fn close_incident(n: u32) -> Command {
    Command::CloseIncident {
        incident: IncidentId(n),
        metrics: Metrics::new(),
    }
}

/// `participant`'s device leaves the live session for `reason`.
pub fn leave(participant: ParticipantId, reason: LeaveReason) -> Command {
    Command::Leave {
        participant,
        reason,
    }
}

/// `by` admits `participant` to the live session.
pub fn admit(participant: ParticipantId, by: ParticipantId) -> Command {
    Command::Admit { participant, by }
}

/// Records `participant`'s [`media_path`].
pub fn record_media(participant: ParticipantId) -> Command {
    Command::RecordMedia(media_path(participant))
}

/// One command of each kind, each valid in itself (known participants,
/// non-empty report, the patient admitted by a professional, a media path
/// for the requester, who needs no admission), so that only the phase can
/// make it illegal. In the scenarios driven by
/// [`Scenario::teleconsultation_in`], p1 is the requester and p2 the patient.
pub fn one_of_each_command() -> Vec<Command> {
    vec![
        register(Role::Companion, companion(COMPANION_NAME)),
        Command::Prepare,
        Command::GiveConsent(electronic_consent(PATIENT_ID)),
        Command::WithdrawConsent {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID,
        },
        Command::StartPerformance,
        Command::EndPerformance,
        conclude(),
        open_incident(IncidentKind::PacketLoss),
        close_incident(1),
        Command::Cancel(CancelReason::ByProfessional),
        join(PATIENT_ID),
        leave(PATIENT_ID, LeaveReason::LeftByChoice),
        admit(PATIENT_ID, REQUESTER_ID),
        record_media(REQUESTER_ID),
    ]
}

/// Drives a teleconsultation to `phase` and checks that `command` is
/// refused there as an illegal transition, changing nothing.
#[track_caller]
pub fn assert_illegal(phase: Phase, command: Command) {
    let mut s = Scenario::teleconsultation_in(phase);
    if phase == Phase::Performance {
        // Give the incident commands something to act on.
        s.ok(open_incident(IncidentKind::VideoFreeze));
    }
    let action = command.name();
    let err = s.refuse(command);
    assert!(
        matches!(err, Error::IllegalTransition { phase: p, action: a } if p == phase && a == action),
        "{action} in {phase}: expected IllegalTransition, got {err:?}"
    );
}

/// The phases before the act is over.
pub const OPEN_PHASES: [Phase; 4] = [
    Phase::Request,
    Phase::Preparation,
    Phase::Performance,
    Phase::Conclusion,
];

/// Every reason a device leaves.
pub const LEAVE_REASONS: [LeaveReason; 7] = [
    LeaveReason::LeftByChoice,
    LeaveReason::ConnectionLost,
    LeaveReason::Replaced,
    LeaveReason::ActEnded,
    LeaveReason::ConsentWithdrawn,
    LeaveReason::ServerShutdown,
    LeaveReason::ProtocolViolation,
];

/// Handles `command`, which must succeed with exactly `expected` and leave
/// the act's state as it was: joins, leaves and media paths are recorded in
/// the trace only.
#[track_caller]
pub fn assert_recorded_only(s: &mut Scenario, command: Command, expected: ActEvent) {
    let before = s.act.clone();
    let events = s.ok(command);
    assert_all_at(&events, s);
    assert_eq!(bodies(&events), vec![expected]);
    assert_eq!(s.act, before);
}

/// A busy act: late joiners, consent withdrawn and given again, incidents
/// closed by hand and automatically, devices joining, dropping and leaving,
/// admissions by both professionals, media paths, refused commands in
/// between. It ends with p2 (the patient) and p3 (the companion) admitted;
/// p1 and p4, the professionals, need no admission.
pub fn busy_act() -> Scenario {
    let mut s = Scenario::teleconsultation();
    s.ok(join(REQUESTER_ID));
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::DataHosting],
    )));
    s.ok(Command::Prepare);
    s.refuse(Command::StartPerformance);
    s.ok(open_incident(IncidentKind::ConnectionTestFailed));
    s.ok(join(PATIENT_ID));
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.refuse(admit(PATIENT_ID, REQUESTER_ID));
    s.refuse(record_media(PATIENT_ID));
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.refuse(admit(ParticipantId(3), PATIENT_ID));
    s.ok(Command::StartPerformance);
    s.ok(Command::RecordMedia(MediaPath {
        participant: PATIENT_ID,
        route: MediaRoute::Relay,
        candidate_types: vec!["relay".into(), "host".into()],
        codecs: vec!["opus".into(), "VP8".into()],
    }));
    s.ok(record_media(REQUESTER_ID));
    // The companion is not admitted yet.
    s.refuse(record_media(ParticipantId(3)));
    s.ok(Command::OpenIncident {
        kind: IncidentKind::PacketLoss,
        participant: Some(PATIENT_ID),
        metrics: Metrics::from([("loss_pct".to_string(), 7.0)]),
    });
    s.ok(leave(PATIENT_ID, LeaveReason::ConnectionLost));
    s.ok(join(PATIENT_ID));
    s.ok(close_incident(2));
    s.refuse(close_incident(2));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: ParticipantId(3),
    });
    s.ok(register(Role::Expert, expert()));
    s.refuse(admit(ParticipantId(4), REQUESTER_ID));
    s.ok(join(ParticipantId(4)));
    s.ok(admit(ParticipantId(3), ParticipantId(4)));
    s.ok(record_media(ParticipantId(3)));
    s.ok(open_incident(IncidentKind::RelayFallback));
    s.ok(Command::EndPerformance);
    s.refuse(join(ParticipantId(3)));
    s.ok(leave(PATIENT_ID, LeaveReason::ActEnded));
    s.ok(leave(ParticipantId(4), LeaveReason::LeftByChoice));
    s.ok(conclude());
    s
}

/// The event of `by` admitting `participant`.
pub fn admitted(participant: ParticipantId, by: ParticipantId) -> ActEvent {
    ActEvent::Admitted { participant, by }
}
