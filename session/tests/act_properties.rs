//! Properties of the act state machine over random command sequences: the
//! phase only moves forward, a terminal act refuses everything, a refused
//! command changes nothing, the trace replays to the live act, no act
//! reaches the performance without consent, no incident stays open in a
//! finished act, only a professional of the act concludes and the
//! conclusion names them, only registered non-professionals are admitted, by a
//! professional, once each, joins and leaves are recorded only in their
//! phases, media paths only where media is allowed for their participant,
//! and replay refuses forged admissions and session events. For the
//! téléexpertise: only the expert answers and opens the review, documents
//! are attached only by a professional with consent and within the limits,
//! a digest mismatch is an incident opened and closed at once, and only a
//! participant media is allowed for shares a screen.
//!
//! The commands cover every `Command` variant, with participant and incident
//! numbers that may not exist, consent of either method and scope, empty
//! reports, answers and names, digests that match or not, and sizes over
//! the limits. They are applied on a clock that only moves forward.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::RngSeed;
use session::act::{
    Act, ActKind, CancelReason, Command, LeaveReason, MediaPath, MediaRoute, Phase,
};
use session::act::{ExpertAnswer, NewAct};
use session::conclusion::{Conclusion, Prescription, PrescriptionKind};
use session::consent::{Consent, ConsentScope};
use session::document::{
    DocumentType, MAX_ACT_DOCUMENT_BYTES, MAX_ATTACHMENTS, MAX_DOCUMENT_BYTES,
};
use session::event::{ActEvent, Event};
use session::expertise::ExpertiseRequest;
use session::incident::{IncidentId, IncidentKind, Metrics};
use session::participant::{Identity, Role};
use session::vocab::Urgency;
use session::{ActId, Error, MessageId, ParticipantId, Pii, Sha256, ShareId};

// --- Strategies -------------------------------------------------------------

/// Participant numbers from 0 to 6: 0, 5 and 6 never exist (a room holds
/// four), 1 to 4 only once registered.
fn participant_id() -> impl Strategy<Value = ParticipantId> {
    (0u32..=6).prop_map(ParticipantId)
}

/// For the live session's commands, which need a registered participant to
/// be accepted: mostly 1 to 4, otherwise any of [`participant_id`].
fn session_participant_id() -> impl Strategy<Value = ParticipantId> {
    prop_oneof![
        3 => (1u32..=4).prop_map(ParticipantId),
        1 => participant_id(),
    ]
}

/// Who is admitted, and by whom: often p2 by p1, the patient and the
/// requester when the case has a [`Prelude`], so that admissions are accepted,
/// and repeated, often enough.
fn admission() -> impl Strategy<Value = (ParticipantId, ParticipantId)> {
    (
        prop_oneof![
            1 => Just(PATIENT_ID),
            2 => session_participant_id(),
        ],
        prop_oneof![
            1 => Just(REQUESTER_ID),
            1 => session_participant_id(),
        ],
    )
}

fn scopes() -> impl Strategy<Value = Vec<ConsentScope>> {
    prop::collection::vec(
        select(vec![
            ConsentScope::TelemedicineAct,
            ConsentScope::DataHosting,
        ]),
        0..=2,
    )
}

fn role() -> impl Strategy<Value = Role> {
    select(vec![
        Role::Patient,
        Role::Requester,
        Role::Expert,
        Role::Companion,
    ])
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        select(vec![
            (REQUESTER_NAME, RPPS_REQUESTER),
            (EXPERT_NAME, RPPS_EXPERT),
            (OTHER_NAME, RPPS_OTHER),
        ])
        .prop_map(|(name, rpps)| professional(name, rpps)),
        select(vec![PATIENT_ALIAS_1, PATIENT_ALIAS_2]).prop_map(patient),
        Just(companion(COMPANION_NAME)),
    ]
}

fn consent() -> impl Strategy<Value = Consent> {
    (scopes(), participant_id(), any::<bool>()).prop_map(|(scopes, by, electronic)| {
        let mut c = if electronic {
            electronic_consent(by)
        } else {
            attested_consent(by)
        };
        c.scopes = scopes;
        c
    })
}

/// A conclusion by anyone (mostly a registered participant), with a
/// report that may be empty.
fn conclusion_strategy() -> impl Strategy<Value = Command> {
    (
        session_participant_id(),
        select(vec!["", "  \n", CONCLUSION_REPORT]),
        prop::collection::vec(
            select(vec![
                PrescriptionKind::Medication,
                PrescriptionKind::Examination,
                PrescriptionKind::Other,
            ]),
            0..=2,
        ),
    )
        .prop_map(|(by, report, kinds)| Command::Conclude {
            by,
            report: Pii::new(report.into()),
            prescriptions: kinds
                .into_iter()
                .map(|kind| Prescription {
                    kind,
                    text: Pii::new("Bilan sanguin de controle".into()),
                })
                .collect(),
        })
}

fn incident_kind() -> impl Strategy<Value = IncidentKind> {
    select(vec![
        IncidentKind::SignalingDisconnected,
        IncidentKind::IceDisconnected,
        IncidentKind::IceFailed,
        IncidentKind::PeerConnectionLost,
        IncidentKind::PacketLoss,
        IncidentKind::VideoFreeze,
        IncidentKind::HighRtt,
        IncidentKind::BitrateCollapse,
        IncidentKind::RelayFallback,
        IncidentKind::RelayAllocationLost,
        IncidentKind::RelayMediaStopped,
        IncidentKind::ConnectionTestFailed,
        IncidentKind::Other,
    ])
}

/// Empty, or one value that may be NaN or infinite.
fn metrics() -> impl Strategy<Value = Metrics> {
    prop_oneof![
        Just(Metrics::new()),
        select(vec![0.0, 12.5, 250.0, f64::NAN, f64::INFINITY])
            .prop_map(|v| Metrics::from([("loss_pct".to_string(), v)])),
    ]
}

fn cancel_reason() -> impl Strategy<Value = CancelReason> {
    select(vec![
        CancelReason::ByProfessional,
        CancelReason::PatientAbsent,
        CancelReason::ConsentRefused,
        CancelReason::TechnicalFailure,
    ])
}

fn leave_reason() -> impl Strategy<Value = LeaveReason> {
    select(vec![
        LeaveReason::LeftByChoice,
        LeaveReason::ConnectionLost,
        LeaveReason::Replaced,
        LeaveReason::ActEnded,
        LeaveReason::ConsentWithdrawn,
        LeaveReason::ServerShutdown,
        LeaveReason::ProtocolViolation,
    ])
}

/// A known user agent, or an empty one.
fn user_agent() -> impl Strategy<Value = Pii<String>> {
    select(vec![USER_AGENT, ""]).prop_map(|ua| Pii::new(ua.into()))
}

/// Direct or relayed, with zero to two candidate types and codecs; often
/// for p2, the patient when the case has a [`Prelude`], who needs admission.
fn media_path_strategy() -> impl Strategy<Value = MediaPath> {
    (
        prop_oneof![
            1 => Just(PATIENT_ID),
            2 => session_participant_id(),
        ],
        select(vec![MediaRoute::Direct, MediaRoute::Relay]),
        prop::collection::vec(select(vec!["host", "srflx", "prflx", "relay"]), 0..=2),
        prop::collection::vec(select(vec!["opus", "VP8", "AV1"]), 0..=2),
    )
        .prop_map(|(participant, route, candidates, codecs)| MediaPath {
            participant,
            route,
            candidate_types: candidates.into_iter().map(String::from).collect(),
            codecs: codecs.into_iter().map(String::from).collect(),
        })
}

/// A withdrawal, often of consent to the act by p2 (the patient when the
/// case has a [`Prelude`]), so that the performance sometimes runs on
/// without consent and the media rules are tried there.
fn withdrawal() -> impl Strategy<Value = Command> {
    (
        prop_oneof![
            1 => Just(vec![ConsentScope::TelemedicineAct]),
            1 => scopes(),
        ],
        prop_oneof![
            1 => Just(PATIENT_ID),
            1 => participant_id(),
        ],
    )
        .prop_map(|(scopes, by)| Command::WithdrawConsent { scopes, by })
}

/// Participant numbers that are never registered: a room holds four.
fn never_registered() -> impl Strategy<Value = ParticipantId> {
    select(vec![0u32, 5, 6]).prop_map(ParticipantId)
}

/// A session event or an admission naming a participant who was never
/// registered, as a forger or a lost registration would leave in a trace.
fn forged_event() -> impl Strategy<Value = ActEvent> {
    prop_oneof![
        (never_registered(), user_agent()).prop_map(|(participant, user_agent)| ActEvent::Joined {
            participant,
            user_agent
        }),
        (never_registered(), leave_reason()).prop_map(|(participant, reason)| ActEvent::Left {
            participant,
            reason
        }),
        (never_registered(), media_path_strategy()).prop_map(|(participant, path)| {
            ActEvent::MediaConnected(MediaPath {
                participant,
                ..path
            })
        }),
        (never_registered(), participant_id())
            .prop_map(|(participant, by)| ActEvent::Admitted { participant, by }),
        (participant_id(), never_registered())
            .prop_map(|(participant, by)| ActEvent::Admitted { participant, by }),
    ]
}

/// Often p2, the expert when the case has the [`Prelude::Expertise`].
fn expert_or_anyone() -> impl Strategy<Value = ParticipantId> {
    prop_oneof![2 => Just(EXPERT_ID), 1 => session_participant_id()]
}

/// One of two digests, so that reports match or not.
fn digest() -> impl Strategy<Value = Sha256> {
    (1u8..=2).prop_map(|n| Sha256::from_bytes([n; 32]))
}

/// A file name kept as is, one whose directories go, or one refused.
fn file_name() -> impl Strategy<Value = Pii<String>> {
    prop_oneof![
        4 => select(vec!["radio.png", "examens/bilan.pdf"]),
        1 => select(vec!["", "..", "a\u{7}b.png"]),
    ]
    .prop_map(|n| Pii::new(n.to_string()))
}

fn expert_answer() -> impl Strategy<Value = ExpertAnswer> {
    prop_oneof![
        2 => Just(ExpertAnswer::Accepted),
        2 => select(vec!["", "Hors de ma specialite"])
            .prop_map(|r| ExpertAnswer::Declined { reason: Pii::new(r.into()) }),
        2 => select(vec![" ", "Le cliche de profil"])
            .prop_map(|w| ExpertAnswer::MoreRequested { what: Pii::new(w.into()) }),
    ]
}

/// Four documents, of any size up to just over the per-file limit.
fn attach() -> impl Strategy<Value = Command> {
    (
        (0u8..4).prop_map(|n| Sha256::from_bytes([n; 32])),
        select(DocumentType::ALL.to_vec()),
        select(vec![1, 4_096, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES + 1]),
        file_name(),
        prop_oneof![1 => Just(REQUESTER_ID), 2 => participant_id()],
    )
        .prop_map(|(document, media_type, size, name, by)| Command::Attach {
            document,
            media_type,
            size,
            name,
            by,
        })
}

/// The commands of the live session's exchanges: chat digests, file
/// shares, screen shares, with three ids each so that reports meet.
fn exchange() -> impl Strategy<Value = Command> {
    let message = (0u8..3).prop_map(|n| MessageId::from_bytes([n; 16]));
    let share = || (0u8..2).prop_map(|n| ShareId::from_bytes([n; 16]));
    // Mostly p1 and p2, who may have media in the exchange cases.
    let who = || {
        prop_oneof![
            3 => select(vec![REQUESTER_ID, PATIENT_ID]),
            1 => session_participant_id(),
        ]
    };
    prop_oneof![
        4 => (message, who(), who(), digest()).prop_map(
            |(message, sender, reporter, digest)| Command::ReportChat { message, sender, reporter, digest }
        ),
        2 => (
            share(),
            who(),
            digest(),
            prop::option::of(select(DocumentType::ALL.to_vec())),
            select(vec![10, 4_096, 100 << 20, Act::MAX_SHARE_BYTES + 1]),
            file_name(),
        )
            .prop_map(|(share, sender, digest, media_type, size, name)| Command::OfferShare {
                share, sender, digest, media_type, size, name,
            }),
        3 => (share(), who(), digest())
            .prop_map(|(share, by, digest)| Command::ReceiveShare { share, by, digest }),
        1 => (share(), who())
            .prop_map(|(share, by)| Command::CancelShare { share, by }),
        1 => who().prop_map(|participant| Command::StartScreenShare { participant }),
        2 => who().prop_map(|participant| Command::StopScreenShare { participant }),
    ]
}

/// Any command, weighted so that sequences get past the early phases.
fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => (role(), identity()).prop_map(|(role, identity)| Command::Register { role, identity }),
        3 => Just(Command::Prepare),
        4 => consent().prop_map(Command::GiveConsent),
        2 => withdrawal(),
        3 => Just(Command::StartPerformance),
        2 => Just(Command::EndPerformance),
        2 => conclusion_strategy(),
        3 => (incident_kind(), prop::option::of(participant_id()), metrics()).prop_map(
            |(kind, participant, metrics)| Command::OpenIncident {
                kind,
                participant,
                metrics,
            }
        ),
        3 => ((0u32..=5).prop_map(IncidentId), metrics())
            .prop_map(|(incident, metrics)| Command::CloseIncident { incident, metrics }),
        1 => cancel_reason().prop_map(Command::Cancel),
        2 => (session_participant_id(), user_agent())
            .prop_map(|(participant, user_agent)| Command::Join { participant, user_agent }),
        2 => (session_participant_id(), leave_reason())
            .prop_map(|(participant, reason)| Command::Leave { participant, reason }),
        4 => admission().prop_map(|(participant, by)| Command::Admit { participant, by }),
        2 => media_path_strategy().prop_map(Command::RecordMedia),
    ]
}

/// [`command`] with the téléexpertise's and the exchanges' commands.
fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        5 => command(),
        3 => (expert_or_anyone(), expert_answer())
            .prop_map(|(by, answer)| Command::AnswerExpertise { by, answer }),
        2 => expert_or_anyone().prop_map(|by| Command::StartReview { by }),
        3 => attach(),
        12 => exchange(),
    ]
}

/// How far a case is taken before its random commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prelude {
    /// A bare act in the request phase.
    None,
    /// The requester (p1) and the patient (p2) registered, still in the
    /// request phase, so that admissions there are tried.
    Registered,
    /// Registered, the act in preparation and consent given, so that more
    /// runs reach the later phases.
    Prepared,
    /// Prepared and the performance started, so that more commands are
    /// tried during it (consent withdrawn, media refused).
    Performing,
    /// A téléexpertise opened with its request ([`Act::open`]): the
    /// requester (p1), the expert (p2) and the patient (p3) registered, an
    /// urgent question recorded, so that answers and reviews are tried.
    Expertise,
    /// Performing, with the patient (p2) admitted, so that two
    /// participants may exchange.
    Admitted,
    /// [`Prelude::Expertise`] without the patient, consent attested by the
    /// requester and the request accepted by the expert: in preparation,
    /// so that reviews are tried.
    Accepted,
}

#[derive(Debug, Clone)]
struct Case {
    kind: ActKind,
    patient_present: bool,
    prelude: Prelude,
    /// Each command with the milliseconds since the previous one.
    steps: Vec<(u64, Command)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec![ActKind::Teleconsultation, ActKind::Teleexpertise]),
        any::<bool>(),
        prop_oneof![
            2 => Just(Prelude::None),
            1 => Just(Prelude::Registered),
            2 => Just(Prelude::Prepared),
            2 => Just(Prelude::Performing),
        ],
        prop::collection::vec((1u64..=120_000, command()), 0..48),
    )
        .prop_map(|(kind, patient_present, prelude, steps)| Case {
            kind,
            patient_present,
            prelude,
            steps,
        })
}

/// Cases for the téléexpertise's and the exchanges' commands: a request
/// to answer, or a performance two participants exchange in, then any
/// commands ([`any_command`]).
fn exchange_case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop_oneof![
            1 => Just(Prelude::Expertise),
            1 => Just(Prelude::Accepted),
            2 => Just(Prelude::Admitted),
        ],
        prop::collection::vec((1u64..=120_000, any_command()), 0..48),
    )
        .prop_map(|(patient_present, prelude, steps)| Case {
            kind: ActKind::Teleconsultation,
            patient_present,
            prelude,
            steps,
        })
}

/// What the properties run on: [`case`] (as before the téléexpertise, so
/// that its coverage checks keep their figures) or [`exchange_case`].
fn any_case() -> impl Strategy<Value = Case> {
    prop_oneof![case(), exchange_case()]
}

// --- Running a case -----------------------------------------------------------

/// One command as it was handled.
#[derive(Debug)]
struct Step {
    command: Command,
    now: session::Timestamp,
    before: Act,
    result: Result<Vec<Event>, Error>,
    after: Act,
}

#[derive(Debug)]
struct Run {
    act: Act,
    /// Every event emitted, the request first.
    events: Vec<Event>,
    /// How many of them opened the act, before the first command (1, the
    /// request, unless [`Act::open`] registered participants).
    opened: usize,
    steps: Vec<Step>,
}

fn run(case: &Case) -> Run {
    let id = ActId::from_bytes([9; 16]);
    let expertise = matches!(case.prelude, Prelude::Expertise | Prelude::Accepted);
    let (mut act, mut events) = if expertise {
        let new = NewAct {
            kind: ActKind::Teleexpertise,
            requester: requester(),
            expert: Some(expert()),
            patient: patient(PATIENT_ALIAS_1),
            patient_present: case.patient_present && case.prelude == Prelude::Expertise,
            expertise: Some(ExpertiseRequest {
                question: Pii::new("Avis sur ce naevus ?".into()),
                urgency: Urgency::Urgent,
            }),
        };
        Act::open(id, new, at_ms(0)).expect("the expertise prelude opens")
    } else {
        let (act, first) = Act::request(id, case.kind, case.patient_present, at_ms(0));
        (act, vec![first])
    };
    let mut commands: Vec<(u64, Command)> = Vec::new();
    let prelude = match case.prelude {
        Prelude::None | Prelude::Expertise | Prelude::Accepted => 0,
        Prelude::Registered => 2,
        Prelude::Prepared => 4,
        Prelude::Performing | Prelude::Admitted => 5,
    };
    commands.extend(
        in_performance(requester(), patient(PATIENT_ALIAS_1))
            .into_iter()
            .take(prelude)
            .map(|c| (1_000, c)),
    );
    if case.prelude == Prelude::Accepted {
        commands.push((1_000, Command::GiveConsent(attested_consent(REQUESTER_ID))));
        let accept = Command::AnswerExpertise {
            by: EXPERT_ID,
            answer: ExpertAnswer::Accepted,
        };
        commands.push((1_000, accept));
    }
    if case.prelude == Prelude::Admitted {
        let admit = Command::Admit {
            participant: PATIENT_ID,
            by: REQUESTER_ID,
        };
        commands.push((1_000, admit));
    }
    commands.extend(case.steps.iter().cloned());
    let opened = events.len();
    let mut clock = 0;
    let mut steps = Vec::new();
    for (delta, command) in commands {
        clock += delta;
        let now = at_ms(clock);
        let before = act.clone();
        let result = act.handle(command.clone(), now);
        if let Ok(emitted) = &result {
            events.extend(emitted.iter().cloned());
        }
        steps.push(Step {
            command,
            now,
            before,
            result,
            after: act.clone(),
        });
    }
    Run {
        act,
        events,
        opened,
        steps,
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // Deterministic: the same sequences on every run.
        rng_seed: RngSeed::Fixed(0x7e1e_c0de),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// --- Properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// The phase index only increases; `Cancelled`, last in the order, is
    /// terminal like `Closed`. The recorded phase times agree.
    #[test]
    fn phase_never_moves_backward(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            prop_assert!(
                s.before.phase <= s.after.phase,
                "{} moved {} back to {}", s.command.name(), s.before.phase, s.after.phase
            );
            if s.before.phase.is_terminal() {
                prop_assert_eq!(s.after.phase, s.before.phase);
            }
        }
        let times = &r.act.phase_times;
        prop_assert_eq!(times[0].0, Phase::Request);
        prop_assert_eq!(times.last().unwrap().0, r.act.phase);
        for w in times.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "{:?}", times);
            prop_assert!(w[0].1 <= w[1].1, "{:?}", times);
        }
        prop_assert!(times.iter().filter(|(p, _)| p.is_terminal()).count() <= 1);
    }

    /// Once closed or cancelled, every command is an illegal transition.
    #[test]
    fn terminal_act_refuses_every_command(case in any_case()) {
        let r = run(&case);
        for s in r.steps.iter().filter(|s| s.before.phase.is_terminal()) {
            let phase = s.before.phase;
            let name = s.command.name();
            prop_assert!(
                matches!(&s.result, Err(Error::IllegalTransition { phase: p, action }) if *p == phase && *action == name),
                "{} in {}: {:?}", name, phase, s.result
            );
        }
    }

    /// A refused command leaves the act exactly as it was; an accepted one
    /// emits at least one event, all at the command's time.
    #[test]
    fn failed_command_changes_nothing(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            match &s.result {
                Err(e) => prop_assert_eq!(&s.after, &s.before, "{} failed ({}) but changed the act", s.command.name(), e),
                Ok(events) => {
                    prop_assert!(!events.is_empty(), "{} emitted nothing", s.command.name());
                    prop_assert!(events.iter().all(|e| e.at == s.now));
                }
            }
        }
    }

    /// Replaying every emitted event rebuilds the live act, at the end and
    /// after every step.
    #[test]
    fn replay_reproduces_the_act(case in any_case()) {
        let r = run(&case);
        prop_assert_eq!(&Act::replay(r.act.id, &r.events).unwrap(), &r.act);
        let mut emitted = r.opened;
        for s in &r.steps {
            if let Ok(events) = &s.result {
                emitted += events.len();
            }
            let replayed = Act::replay(r.act.id, &r.events[..emitted]);
            prop_assert!(replayed.is_ok(), "{:?}", replayed);
            prop_assert_eq!(&replayed.unwrap(), &s.after);
        }
        // Through JSON too, as the trace stores it.
        let json = serde_json::to_string(&r.events).unwrap();
        let back: Vec<Event> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&Act::replay(r.act.id, &back).unwrap(), &r.act);
    }

    /// No act reaches the performance without consent to the act at that
    /// moment; an act never given that consent never gets there at all.
    #[test]
    fn consent_less_acts_never_reach_performance(case in any_case()) {
        let r = run(&case);
        let consented = r.events.iter().any(|e| matches!(
            &e.body,
            ActEvent::ConsentGiven(c) if c.scopes.contains(&ConsentScope::TelemedicineAct)
        ));
        if !consented {
            prop_assert_eq!(r.act.entered(Phase::Performance), None);
            prop_assert!(r.act.phase != Phase::Conclusion && r.act.phase != Phase::Closed);
        }
        for s in &r.steps {
            let entered = s.before.phase < Phase::Performance
                && s.after.entered(Phase::Performance).is_some();
            if entered {
                prop_assert!(s.before.consent.allows_media());
                prop_assert!(s.after.media_allowed());
            }
            if matches!(s.command, Command::StartPerformance) && !s.before.consent.allows_media() {
                prop_assert!(s.result.is_err());
            }
        }
    }

    /// Every incident is closed exactly once by the time the act is closed
    /// or cancelled, with its duration taken from the two times.
    #[test]
    fn incidents_are_closed_once_terminal(case in any_case()) {
        let r = run(&case);
        let mut opened = BTreeMap::new();
        let mut closed = BTreeMap::new();
        for e in &r.events {
            match &e.body {
                ActEvent::IncidentOpened { incident, .. } => {
                    prop_assert!(opened.insert(*incident, e.at).is_none());
                }
                ActEvent::IncidentClosed { incident, duration_ms, metrics } => {
                    prop_assert!(closed.insert(*incident, e.at).is_none(), "{} closed twice", incident);
                    let from = opened.get(incident).copied();
                    prop_assert!(from.is_some(), "{} closed before it was opened", incident);
                    let expected = e.at.since(from.unwrap()).as_millis();
                    prop_assert_eq!(u128::from(*duration_ms), expected);
                    prop_assert!(metrics.values().all(|v| v.is_finite()));
                }
                _ => {}
            }
        }
        prop_assert_eq!(opened.len(), r.act.incidents.len());
        if r.act.phase.is_terminal() {
            prop_assert_eq!(closed.len(), opened.len());
            for i in &r.act.incidents {
                prop_assert!(i.closed_at.is_some(), "{} still open in a {} act", i.id, r.act.phase);
            }
        }
    }

    /// `admitted` only ever holds registered non-professionals, each once,
    /// and only grows. An admission is accepted exactly when both
    /// participants are registered, the admitter is a professional, the
    /// one admitted is not, the act is in preparation or performance and
    /// the participant is not yet admitted; it appends that participant and
    /// nothing else changes `admitted`. Each refusal has its own error. The
    /// trace's `Admitted` events list the same participants in order.
    #[test]
    fn admitted_holds_registered_participants_once(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            let name = s.command.name();
            let registered: BTreeSet<ParticipantId> =
                s.after.participants.iter().map(|p| p.id).collect();
            let admitted: BTreeSet<ParticipantId> = s.after.admitted.iter().copied().collect();
            prop_assert_eq!(
                admitted.len(), s.after.admitted.len(),
                "{} left a duplicate in {:?}", name, &s.after.admitted
            );
            prop_assert!(
                admitted.is_subset(&registered),
                "{} left {:?} admitted but only {:?} registered", name, &s.after.admitted, registered
            );
            prop_assert!(
                s.after.admitted.iter().all(|p| s.after.participant(*p).is_ok_and(|p| !p.role.is_professional())),
                "{} left a professional admitted: {:?}", name, &s.after.admitted
            );
            match &s.command {
                Command::Admit { participant, by } => {
                    let who = s.before.participant(*participant).ok();
                    let admitter = s.before.participant(*by).ok();
                    let in_phase = matches!(s.before.phase, Phase::Preparation | Phase::Performance);
                    let again = s.before.admitted.contains(participant);
                    let legal = who.is_some_and(|p| !p.role.is_professional())
                        && admitter.is_some_and(|p| p.role.is_professional())
                        && in_phase
                        && !again;
                    prop_assert_eq!(
                        s.result.is_ok(), legal,
                        "admit {} by {} in {}: {:?}", participant, by, s.before.phase, &s.result
                    );
                    // Which rule refused it: the phase alone once terminal,
                    // then who, then the roles, then the phase, then a
                    // second admission.
                    if let (Err(e), false) = (&s.result, s.before.phase.is_terminal()) {
                        let expected = match (who, admitter) {
                            (None, _) | (_, None) => "unknown participant",
                            (Some(w), Some(a)) if !a.role.is_professional() || w.role.is_professional() => "invalid input",
                            _ if !in_phase => "illegal transition",
                            _ => "already admitted",
                        };
                        let got = match e {
                            Error::UnknownParticipant(_) => "unknown participant",
                            Error::InvalidInput(_) => "invalid input",
                            Error::IllegalTransition { .. } => "illegal transition",
                            Error::AlreadyAdmitted(p) if p == participant => "already admitted",
                            _ => "other",
                        };
                        prop_assert_eq!(got, expected, "admit {} by {} in {}: {:?}", participant, by, s.before.phase, e);
                    }
                    if legal {
                        let mut expected = s.before.admitted.clone();
                        expected.push(*participant);
                        prop_assert_eq!(&s.after.admitted, &expected);
                    } else {
                        prop_assert_eq!(&s.after.admitted, &s.before.admitted);
                    }
                }
                _ => prop_assert_eq!(
                    &s.after.admitted, &s.before.admitted,
                    "{} changed who is admitted", name
                ),
            }
        }
        let from_trace: Vec<ParticipantId> = r
            .events
            .iter()
            .filter_map(|e| match e.body {
                ActEvent::Admitted { participant, .. } => Some(participant),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&from_trace, &r.act.admitted);
    }

    /// A join, a leave or a media path is accepted exactly when its
    /// participant is registered and the phase allows it (a join up to the
    /// performance, a media path in the performance, a leave in any open
    /// phase), and for a media path when consent to the act stands and the
    /// participant is a professional or admitted. It emits one event and
    /// changes nothing in the act's state. A media path refused in the
    /// performance for a registered participant is `MediaNotAllowed`.
    #[test]
    fn session_events_are_recorded_in_their_phases(case in any_case()) {
        const UP_TO_PERFORMANCE: &[Phase] =
            &[Phase::Request, Phase::Preparation, Phase::Performance];
        const OPEN: &[Phase] = &[
            Phase::Request,
            Phase::Preparation,
            Phase::Performance,
            Phase::Conclusion,
        ];
        let r = run(&case);
        for s in &r.steps {
            let (participant, phases) = match &s.command {
                Command::Join { participant, .. } => (*participant, UP_TO_PERFORMANCE),
                Command::Leave { participant, .. } => (*participant, OPEN),
                Command::RecordMedia(path) => (path.participant, &[Phase::Performance][..]),
                _ => continue,
            };
            let known = s.before.participant(participant).ok();
            let in_phase = phases.contains(&s.before.phase);
            let media_rules = match &s.command {
                Command::RecordMedia(_) => {
                    s.before.consent.allows_media()
                        && (known.is_some_and(|p| p.role.is_professional())
                            || s.before.admitted.contains(&participant))
                }
                _ => true,
            };
            let legal = known.is_some() && in_phase && media_rules;
            prop_assert_eq!(
                s.result.is_ok(), legal,
                "{} for {} in {}: {:?}", s.command.name(), participant, s.before.phase, &s.result
            );
            if matches!(s.command, Command::RecordMedia(_)) {
                prop_assert_eq!(s.before.media_allowed_for(participant), legal);
            }
            if known.is_some() && in_phase && !media_rules {
                prop_assert!(
                    matches!(&s.result, Err(Error::MediaNotAllowed { participant: p, .. }) if *p == participant),
                    "{:?}", &s.result
                );
            }
            if let Ok(events) = &s.result {
                prop_assert_eq!(events.len(), 1);
                prop_assert_eq!(&s.after, &s.before);
            }
        }
    }

    /// Only the act's expert answers its request and opens the review.
    /// Accepting a request moves it to preparation, declining cancels the
    /// act for that reason; the review needs the acceptance and consent to
    /// the act, and enters the performance. Nothing else changes the
    /// answers, which the trace lists in order.
    #[test]
    fn only_the_expert_answers_and_reviews(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            let (by, name) = match &s.command {
                Command::AnswerExpertise { by, .. } | Command::StartReview { by } => (*by, s.command.name()),
                _ => {
                    let answers = |a: &Act| a.expertise.as_ref().map(|e| e.answers.len());
                    prop_assert_eq!(answers(&s.after), answers(&s.before), "{} changed the answers", s.command.name());
                    continue;
                }
            };
            let Ok(events) = &s.result else { continue };
            prop_assert_eq!(s.before.participant(by).map(|p| p.role).ok(), Some(Role::Expert), "{} by {}", name, by);
            let expertise = s.before.expertise.as_ref();
            prop_assert!(expertise.is_some());
            match &s.command {
                Command::AnswerExpertise { answer, .. } => {
                    prop_assert!(matches!(s.before.phase, Phase::Request | Phase::Preparation));
                    prop_assert!(!expertise.unwrap().accepted());
                    prop_assert_eq!(&s.after.expertise.as_ref().unwrap().latest_answer(), &Some(answer));
                    let expected = match answer {
                        ExpertAnswer::Accepted => Phase::Preparation.max(s.before.phase),
                        ExpertAnswer::Declined { .. } => Phase::Cancelled,
                        ExpertAnswer::MoreRequested { .. } => s.before.phase,
                    };
                    prop_assert_eq!(s.after.phase, expected);
                    if expected == Phase::Cancelled {
                        prop_assert_eq!(s.after.cancel_reason, Some(CancelReason::ExpertDeclined));
                    }
                }
                _ => {
                    prop_assert!(expertise.unwrap().accepted());
                    prop_assert!(s.before.consent.allows_media());
                    prop_assert_eq!((s.before.phase, s.after.phase), (Phase::Preparation, Phase::Performance));
                    prop_assert_eq!(events.len(), 2);
                }
            }
        }
        let answered: Vec<&ExpertAnswer> = r.events.iter().filter_map(|e| match &e.body {
            ActEvent::ExpertAnswered { answer, .. } => Some(answer),
            _ => None,
        }).collect();
        let folded: Vec<&ExpertAnswer> = r.act.expertise.iter().flat_map(|e| e.answers.iter().map(|(_, a)| a)).collect();
        prop_assert_eq!(answered, folded);
    }

    /// A document is attached only by a professional of the act, with
    /// consent to the act standing, from request to performance, once per
    /// digest, within the per-file, per-act and count limits; the act's
    /// attachments are the trace's, in order.
    #[test]
    fn attachments_need_a_professional_consent_and_room(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            prop_assert!(s.after.documents_size() <= MAX_ACT_DOCUMENT_BYTES);
            prop_assert!(s.after.attachments.len() <= MAX_ATTACHMENTS);
            let Command::Attach { document, size, by, .. } = &s.command else {
                prop_assert_eq!(&s.after.attachments, &s.before.attachments, "{}", s.command.name());
                continue;
            };
            if s.result.is_err() {
                continue;
            }
            prop_assert!(s.before.participant(*by).is_ok_and(|p| p.role.is_professional()));
            prop_assert!(s.before.consent.allows_media());
            prop_assert!(matches!(s.before.phase, Phase::Request | Phase::Preparation | Phase::Performance));
            prop_assert!(*size <= MAX_DOCUMENT_BYTES);
            prop_assert!(s.before.attachment(document).is_none());
            let name = s.after.attachments.last().map(|a| a.name.expose().clone());
            prop_assert!(name.is_some_and(|n| !n.is_empty() && !n.contains('/')));
        }
        let from_trace: Vec<Sha256> = r.events.iter().filter_map(|e| match &e.body {
            ActEvent::AttachmentAdded { document, .. } => Some(*document),
            _ => None,
        }).collect();
        let folded: Vec<Sha256> = r.act.attachments.iter().map(|a| a.document).collect();
        prop_assert_eq!(from_trace, folded);
    }

    /// Only a professional of the act concludes, and the conclusion the
    /// act keeps names them; the trace's `concluded` event is that
    /// conclusion.
    #[test]
    fn only_a_professional_concludes_and_is_named(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            let Command::Conclude { by, .. } = &s.command else { continue };
            if s.result.is_err() {
                continue;
            }
            prop_assert!(s.before.participant(*by).is_ok_and(|p| p.role.is_professional()));
            prop_assert_eq!(s.after.conclusion.as_ref().and_then(|c| c.by), Some(*by));
        }
        let concluded: Vec<&Conclusion> = r.events.iter().filter_map(|e| match &e.body {
            ActEvent::Concluded(c) => Some(c),
            _ => None,
        }).collect();
        prop_assert_eq!(concluded, r.act.conclusion.iter().collect::<Vec<_>>());
    }

    /// A chat report or a share receipt whose digest differs from the
    /// first one reported (the offer's, for a share) makes exactly one
    /// incident of its kind about the reporter, opened and closed at once
    /// (duration 0) in the same step; a matching one makes none. Only
    /// these open such incidents.
    #[test]
    fn digest_mismatches_are_incidents_opened_and_closed_at_once(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            let Ok(events) = &s.result else { continue };
            let expected = match &s.command {
                Command::ReportChat { message, reporter, digest, .. } => s
                    .before
                    .chats
                    .get(message)
                    .filter(|m| m.digest != *digest)
                    .map(|_| (IncidentKind::ChatMismatch, *reporter)),
                Command::ReceiveShare { share, by, digest } => s
                    .before
                    .share(*share)
                    .filter(|o| o.digest != *digest)
                    .map(|_| (IncidentKind::ShareMismatch, *by)),
                _ => {
                    let mismatch = events.iter().any(|e| {
                        matches!(
                            e.body,
                            ActEvent::IncidentOpened {
                                kind: IncidentKind::ChatMismatch | IncidentKind::ShareMismatch,
                                ..
                            }
                        )
                    });
                    prop_assert!(!mismatch, "{} opened a mismatch incident", s.command.name());
                    continue;
                }
            };
            match expected {
                None => prop_assert_eq!(events.len(), 1),
                Some((kind, who)) => {
                    let id = IncidentId(s.before.incidents.len() as u32 + 1);
                    prop_assert_eq!(events.len(), 3);
                    prop_assert_eq!(&events[1].body, &ActEvent::IncidentOpened {
                        incident: id, kind, participant: Some(who), metrics: Metrics::new(),
                    });
                    prop_assert_eq!(&events[2].body, &ActEvent::IncidentClosed {
                        incident: id, duration_ms: 0, metrics: Metrics::new(),
                    });
                }
            }
        }
        prop_assert!(r.act.chat_reports <= Act::MAX_CHAT_REPORTS);
        prop_assert!(r.act.shares.len() <= Act::MAX_SHARES);
    }

    /// Whoever shares a screen may have media: a share starts only then,
    /// and every way media ends for someone (the performance's end, the
    /// act's cancellation, consent withdrawn) stops it. No act ends with
    /// a screen still shared.
    #[test]
    fn only_participants_with_media_share_a_screen(case in any_case()) {
        let r = run(&case);
        for s in &r.steps {
            for p in &s.after.screen_sharing {
                prop_assert!(s.after.media_allowed_for(*p), "{} shares a screen after {}", p, s.command.name());
            }
        }
        if r.act.phase > Phase::Performance {
            prop_assert!(r.act.screen_sharing.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// A forged admission or session event about a participant who was
    /// never registered, inserted anywhere after the request, makes the
    /// replay fail as an invalid trace, at that event.
    #[test]
    fn replay_refuses_events_about_unregistered_participants(
        case in any_case(),
        at in any::<prop::sample::Index>(),
        forged in forged_event(),
    ) {
        let r = run(&case);
        let mut events = r.events.clone();
        let i = 1 + at.index(events.len());
        let time = events[i - 1].at;
        events.insert(i, Event { at: time, body: forged.clone() });
        let result = Act::replay(r.act.id, &events);
        prop_assert!(
            matches!(&result, Err(Error::InvalidTrace(_))),
            "{:?} at {}: {:?}", forged, i, result
        );
        // The trace up to the forged event still replays.
        prop_assert!(Act::replay(r.act.id, &events[..i]).is_ok());
    }

    /// Every admission in the trace, copied to any later point, makes the
    /// replay fail as an invalid trace: it is a second admission, or comes
    /// outside preparation and performance.
    #[test]
    fn replay_refuses_an_admission_repeated_later(case in any_case()) {
        let r = run(&case);
        for (original, e) in r.events.iter().enumerate() {
            if !matches!(e.body, ActEvent::Admitted { .. }) {
                continue;
            }
            for i in original + 1..=r.events.len() {
                let mut events = r.events.clone();
                let copy = Event { at: events[i - 1].at, body: e.body.clone() };
                events.insert(i, copy);
                let result = Act::replay(r.act.id, &events);
                prop_assert!(
                    matches!(&result, Err(Error::InvalidTrace(_))),
                    "event {} copied to {}: {:?}", original, i, result
                );
            }
        }
    }
}

/// The generator accepts and refuses each of the live session's commands,
/// tries to admit participants already admitted, and ends acts with
/// participants admitted, so the properties above cover them.
#[test]
fn the_generator_exercises_the_session_commands() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::new(config());
    // Per command name: (accepted, refused as unknown participant, refused
    // otherwise).
    let mut seen: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new();
    let mut ended_with_admissions = 0;
    // Admissions of a non-professional already admitted, by a
    // professional, in preparation or performance: only the duplicate rule
    // refuses them.
    let mut readmissions = 0;
    // Admissions of a professional by a professional: only the rule that
    // professionals need no admission refuses them.
    let mut professionals_admitted = 0;
    // Media paths in the performance for a registered participant, refused
    // for want of consent or of admission.
    let mut media_refused: BTreeMap<&str, u32> = BTreeMap::new();
    // Admissions otherwise valid, per phase among request and conclusion:
    // only the phase refuses them.
    let mut misplaced_admissions: BTreeMap<Phase, u32> = BTreeMap::new();
    for _ in 0..256 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let r = run(&case);
        for s in &r.steps {
            if !matches!(
                s.command,
                Command::Join { .. }
                    | Command::Leave { .. }
                    | Command::Admit { .. }
                    | Command::RecordMedia(_)
            ) {
                continue;
            }
            if let Command::Admit { participant, by } = s.command
                && let Ok(who) = s.before.participant(participant)
                && s.before
                    .participant(by)
                    .is_ok_and(|p| p.role.is_professional())
            {
                if who.role.is_professional() {
                    professionals_admitted += 1;
                    continue;
                }
                match s.before.phase {
                    Phase::Preparation | Phase::Performance => {
                        if s.before.admitted.contains(&participant) {
                            readmissions += 1;
                        }
                    }
                    phase @ (Phase::Request | Phase::Conclusion) => {
                        *misplaced_admissions.entry(phase).or_insert(0) += 1;
                    }
                    Phase::Closed | Phase::Cancelled => {}
                }
            }
            if let Err(Error::MediaNotAllowed { reason, .. }) = &s.result {
                *media_refused.entry(*reason).or_insert(0) += 1;
            }
            let counts = seen.entry(s.command.name()).or_default();
            match &s.result {
                Ok(_) => counts.0 += 1,
                Err(Error::UnknownParticipant(_)) => counts.1 += 1,
                Err(_) => counts.2 += 1,
            }
        }
        if !r.act.admitted.is_empty() {
            ended_with_admissions += 1;
        }
    }
    assert!(ended_with_admissions >= 5, "{ended_with_admissions}");
    assert!(readmissions >= 5, "{readmissions}");
    assert!(professionals_admitted >= 5, "{professionals_admitted}");
    for reason in [
        "consent to the act is not standing",
        "a professional has not admitted them",
    ] {
        let n = media_refused.get(reason).copied().unwrap_or(0);
        assert!(n >= 5, "{n} media paths refused because {reason}");
    }
    for phase in [Phase::Request, Phase::Conclusion] {
        let n = misplaced_admissions.get(&phase).copied().unwrap_or(0);
        assert!(n >= 5, "{n} admissions tried in {phase}");
    }
    for name in [
        "join",
        "leave",
        "admit a participant",
        "record the media path",
    ] {
        let (accepted, unknown, other) = seen.get(name).copied().unwrap_or_default();
        assert!(
            accepted >= 5 && unknown >= 5 && other >= 5,
            "{name}: {accepted} accepted, {unknown} unknown participant, {other} refused otherwise"
        );
    }
}

/// The generator does reach every phase, so the properties above are not
/// vacuous.
#[test]
fn the_generator_reaches_every_phase() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::new(config());
    let mut reached = BTreeMap::new();
    let mut finished_with_incidents = 0;
    // Conclusions accepted, and refused for their author.
    let (mut concluded, mut not_an_author) = (0, 0);
    for _ in 0..256 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let r = run(&case);
        for (phase, _) in &r.act.phase_times {
            *reached.entry(*phase).or_insert(0) += 1;
        }
        for s in &r.steps {
            match (&s.command, &s.result) {
                (Command::Conclude { .. }, Ok(_)) => concluded += 1,
                (
                    Command::Conclude { .. },
                    Err(Error::NotAProfessional(_) | Error::UnknownParticipant(_)),
                ) => not_an_author += 1,
                _ => {}
            }
        }
        if r.act.phase.is_terminal() && !r.act.incidents.is_empty() {
            finished_with_incidents += 1;
        }
    }
    assert!(finished_with_incidents >= 5, "{finished_with_incidents}");
    assert!(
        concluded >= 5 && not_an_author >= 5,
        "{concluded} conclusions, {not_an_author} refused for their author"
    );
    for phase in [
        Phase::Request,
        Phase::Preparation,
        Phase::Performance,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        let n = reached.get(&phase).copied().unwrap_or(0);
        assert!(n >= 5, "only {n} of 256 runs reached {phase}: {reached:?}");
    }
}

/// The generator accepts and refuses each of the téléexpertise's and the
/// exchanges' commands, and finds digest mismatches of both kinds, so the
/// properties above are not vacuous.
#[test]
fn the_generator_exercises_the_expertise_and_exchange_commands() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::new(config());
    let mut seen: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut incidents: BTreeMap<IncidentKind, u32> = BTreeMap::new();
    let mut decisions: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..512 {
        let case = exchange_case().new_tree(&mut runner).unwrap().current();
        let r = run(&case);
        for s in &r.steps {
            if matches!(
                s.command,
                Command::AnswerExpertise { .. }
                    | Command::StartReview { .. }
                    | Command::Attach { .. }
                    | Command::ReportChat { .. }
                    | Command::OfferShare { .. }
                    | Command::ReceiveShare { .. }
                    | Command::CancelShare { .. }
                    | Command::StartScreenShare { .. }
                    | Command::StopScreenShare { .. }
            ) {
                let counts = seen.entry(s.command.name()).or_default();
                match &s.result {
                    Ok(_) => counts.0 += 1,
                    Err(_) => counts.1 += 1,
                }
            }
            if let (Command::AnswerExpertise { answer, .. }, Ok(_)) = (&s.command, &s.result) {
                *decisions.entry(answer.decision()).or_default() += 1;
            }
        }
        for i in &r.act.incidents {
            *incidents.entry(i.kind).or_default() += 1;
        }
    }
    for (name, (accepted, refused)) in &seen {
        assert!(
            *accepted >= 5 && *refused >= 5,
            "{name}: {accepted} accepted, {refused} refused"
        );
    }
    assert_eq!(seen.len(), 9, "{seen:?}");
    for kind in [IncidentKind::ChatMismatch, IncidentKind::ShareMismatch] {
        let n = incidents.get(&kind).copied().unwrap_or(0);
        assert!(n >= 5, "{n} incidents {kind}");
    }
    for decision in ["accepted", "declined", "more_requested"] {
        let n = decisions.get(decision).copied().unwrap_or(0);
        assert!(n >= 5, "{n} answers {decision}");
    }
}
