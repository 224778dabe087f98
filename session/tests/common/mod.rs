//! Fixtures shared by the integration tests. Each test file uses a subset.
#![allow(dead_code)]

pub mod lifecycle;
pub mod store;
pub mod tlog;

use session::act::{Act, ActKind, CancelReason, Command, MediaPath, MediaRoute, NewAct, Phase};
use session::conclusion::{Conclusion, Prescription, PrescriptionKind};
use session::consent::{self, Consent, ConsentMethod, ConsentScope};
use session::expertise::ExpertiseRequest;
use session::participant::{Identity, Role};
use session::vocab::Urgency;
use session::{ActId, Error, Event, ParticipantId, Pii, Timestamp};

// --- Acts: people, consent, conclusions and a driver --------------------
//
// Every name, number and alias below is fictitious. The RPPS numbers are
// built to pass the Luhn check digit.

/// The fixtures' epoch: 2026-11-18T11:06:40Z, in microseconds.
pub const BASE_MICROS: i64 = 1_795_000_000_000_000;

pub const REQUESTER_NAME: &str = "Dr Test Requerant";
pub const EXPERT_NAME: &str = "Dr Test Expert";
pub const OTHER_NAME: &str = "Dr Test Remplacant";
pub const COMPANION_NAME: &str = "Accompagnant Test";
pub const RPPS_REQUESTER: &str = "10000000009";
pub const RPPS_EXPERT: &str = "10101010105";
pub const RPPS_OTHER: &str = "10000000017";
pub const PATIENT_ALIAS_1: &str = "dossier-0001";
pub const PATIENT_ALIAS_2: &str = "dossier-0002";
pub const CONSENT_TEXT: &str =
    "J'accepte la teleconsultation et l'hebergement de mes donnees de sante.";
pub const ATTESTATION_TEXT: &str =
    "J'atteste avoir recueilli le consentement du patient a cette teleexpertise.";
pub const CONCLUSION_REPORT: &str = "Examen sans particularite; controle dans un mois.";
pub const QUESTION: &str = "Avis sur une lesion pigmentee du dos, evolutive depuis 3 mois ?";
pub const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// `ms` milliseconds after [`BASE_MICROS`].
pub fn at_ms(ms: u64) -> Timestamp {
    Timestamp::from_micros(BASE_MICROS + i64::try_from(ms).expect("ms fits") * 1_000)
}

pub fn professional(name: &str, rpps: &str) -> Identity {
    Identity::Professional {
        name: Pii::new(name.into()),
        rpps: Pii::new(rpps.parse().expect("fixture RPPS passes the Luhn check")),
    }
}

/// "Dr Test Requerant", RPPS 10000000009.
pub fn requester() -> Identity {
    professional(REQUESTER_NAME, RPPS_REQUESTER)
}

/// "Dr Test Expert", RPPS 10101010105.
pub fn expert() -> Identity {
    professional(EXPERT_NAME, RPPS_EXPERT)
}

/// "Dr Test Remplacant", RPPS 10000000017.
pub fn other_professional() -> Identity {
    professional(OTHER_NAME, RPPS_OTHER)
}

pub fn patient(alias: &str) -> Identity {
    Identity::Patient {
        alias: Pii::new(alias.parse().expect("fixture alias is valid")),
    }
}

pub fn companion(name: &str) -> Identity {
    Identity::Companion {
        name: Pii::new(name.into()),
    }
}

pub fn register(role: Role, identity: Identity) -> Command {
    Command::Register { role, identity }
}

/// Electronic consent to `scopes`, in French, over [`CONSENT_TEXT`].
pub fn electronic_consent_to(by: ParticipantId, scopes: &[ConsentScope]) -> Consent {
    Consent {
        scopes: scopes.to_vec(),
        given_by: by,
        method: ConsentMethod::Electronic {
            text_sha256: consent::text_digest(CONSENT_TEXT),
            language: "fr".into(),
        },
    }
}

/// Electronic consent to the act and to data hosting.
pub fn electronic_consent(by: ParticipantId) -> Consent {
    electronic_consent_to(
        by,
        &[ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
    )
}

/// Consent attested by a professional, to the act and to data hosting.
pub fn attested_consent(by: ParticipantId) -> Consent {
    Consent {
        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
        given_by: by,
        method: ConsentMethod::AttestedByProfessional {
            text_sha256: consent::text_digest(ATTESTATION_TEXT),
        },
    }
}

/// `report` and one prescription, written by the requester (p1).
pub fn conclusion_with_report(report: &str) -> Conclusion {
    Conclusion {
        report: Pii::new(report.into()),
        prescriptions: vec![Prescription {
            kind: PrescriptionKind::Medication,
            text: Pii::new("Paracetamol 1 g, 3 fois par jour pendant 5 jours".into()),
        }],
        by: Some(REQUESTER_ID),
    }
}

/// A report and one prescription, written by the requester (p1).
pub fn conclusion() -> Conclusion {
    conclusion_with_report(CONCLUSION_REPORT)
}

/// The command that records `c` (its author `c.by`, the requester when
/// it names none).
pub fn conclude_with(c: Conclusion) -> Command {
    Command::Conclude {
        by: c.by.unwrap_or(REQUESTER_ID),
        report: c.report,
        prescriptions: c.prescriptions,
    }
}

/// The requester concludes with [`conclusion`].
pub fn conclude() -> Command {
    conclude_with(conclusion())
}

/// The requester concludes with `report` and one prescription.
pub fn conclude_with_report(report: &str) -> Command {
    conclude_with(conclusion_with_report(report))
}

/// `participant`'s device joins the live session with [`USER_AGENT`].
pub fn join(participant: ParticipantId) -> Command {
    Command::Join {
        participant,
        user_agent: Pii::new(USER_AGENT.into()),
    }
}

/// A direct media path over host candidates, with Opus and VP8.
pub fn media_path(participant: ParticipantId) -> MediaPath {
    MediaPath {
        participant,
        route: MediaRoute::Direct,
        candidate_types: vec!["host".into(), "host".into()],
        codecs: vec!["opus".into(), "VP8".into()],
    }
}

/// The act in performance: the commands that take a teleconsultation from
/// its request to its performance, one per step, in order: `requester`
/// registered (p1), `patient` registered (p2), preparation, the patient's
/// [`electronic_consent`] to the act and to data hosting, and the start of
/// the performance. A prefix stops earlier (2: registered, 4: prepared
/// with consent). [`Scenario::drive_to`] takes the same path.
pub fn in_performance(requester: Identity, patient: Identity) -> [Command; 5] {
    [
        register(Role::Requester, requester),
        register(Role::Patient, patient),
        Command::Prepare,
        Command::GiveConsent(electronic_consent(PATIENT_ID)),
        Command::StartPerformance,
    ]
}

/// In [`Scenario::teleconsultation`] and
/// [`Scenario::teleexpertise_without_patient`], the requester is p1.
pub const REQUESTER_ID: ParticipantId = ParticipantId(1);
/// In [`Scenario::teleconsultation`], the patient is p2.
pub const PATIENT_ID: ParticipantId = ParticipantId(2);
/// In [`Scenario::teleexpertise_without_patient`], the expert is p2.
pub const EXPERT_ID: ParticipantId = ParticipantId(2);

/// An act driven by commands on a clock that moves [`Scenario::STEP_MS`]
/// forward before each command, with every event it emitted (the first is
/// the request).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub act: Act,
    pub events: Vec<Event>,
    pub clock_ms: u64,
}

impl Scenario {
    pub const STEP_MS: u64 = 1_000;

    /// A bare act, requested at [`at_ms`]`(0)`.
    pub fn new(kind: ActKind, patient_present: bool) -> Scenario {
        let id = ActId::from_bytes([7; 16]);
        let (act, first) = Act::request(id, kind, patient_present, at_ms(0));
        Scenario {
            act,
            events: vec![first],
            clock_ms: 0,
        }
    }

    /// A teleconsultation in the request phase with its requester (p1) and
    /// patient (p2) registered.
    pub fn teleconsultation() -> Scenario {
        let mut s = Scenario::new(ActKind::Teleconsultation, true);
        s.ok(register(Role::Requester, requester()));
        s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
        s
    }

    /// A téléexpertise without the patient, in the request phase, with its
    /// requester (p1) and expert (p2) registered.
    pub fn teleexpertise_without_patient() -> Scenario {
        let mut s = Scenario::new(ActKind::Teleexpertise, false);
        s.ok(register(Role::Requester, requester()));
        s.ok(register(Role::Expert, expert()));
        s
    }

    /// A téléexpertise without the patient opened by [`Act::open`] with an
    /// urgent [`QUESTION`]: requester p1, expert p2 ([`EXPERT_ID`]),
    /// patient p3, in the request phase.
    pub fn teleexpertise_requested() -> Scenario {
        let new = NewAct {
            kind: ActKind::Teleexpertise,
            requester: requester(),
            expert: Some(expert()),
            patient: patient(PATIENT_ALIAS_1),
            patient_present: false,
            expertise: Some(ExpertiseRequest {
                question: Pii::new(QUESTION.into()),
                urgency: Urgency::Urgent,
            }),
        };
        let (act, events) =
            Act::open(ActId::from_bytes([7; 16]), new, at_ms(0)).expect("the request opens");
        Scenario {
            act,
            events,
            clock_ms: 0,
        }
    }

    /// [`Scenario::teleconsultation`] driven to `phase`; see
    /// [`Scenario::drive_to`].
    pub fn teleconsultation_in(phase: Phase) -> Scenario {
        let mut s = Scenario::teleconsultation();
        s.drive_to(phase);
        s
    }

    /// The time of the last command.
    pub fn now(&self) -> Timestamp {
        at_ms(self.clock_ms)
    }

    /// Moves the clock one step forward and returns the new time.
    pub fn tick(&mut self) -> Timestamp {
        self.clock_ms += Self::STEP_MS;
        self.now()
    }

    /// Handles `command` one step later, keeping the events on success.
    pub fn handle(&mut self, command: Command) -> Result<Vec<Event>, Error> {
        let now = self.tick();
        let events = self.act.handle(command, now)?;
        self.events.extend(events.iter().cloned());
        Ok(events)
    }

    /// Handles a command that must succeed.
    #[track_caller]
    pub fn ok(&mut self, command: Command) -> Vec<Event> {
        let name = command.name();
        match self.handle(command) {
            Ok(events) => events,
            Err(e) => panic!("{name} in the {} phase failed: {e}", self.act.phase),
        }
    }

    /// Handles a command that must fail, checking that it changed nothing.
    #[track_caller]
    pub fn refuse(&mut self, command: Command) -> Error {
        let before = self.act.clone();
        let recorded = self.events.len();
        let name = command.name();
        let phase = self.act.phase;
        let err = match self.handle(command) {
            Ok(events) => panic!("{name} in the {phase} phase succeeded with {events:?}"),
            Err(e) => e,
        };
        assert_eq!(
            self.act, before,
            "{name} failed ({err}) but changed the act"
        );
        assert_eq!(self.events.len(), recorded);
        err
    }

    /// Drives the act forward to `phase` by the shortest legal path:
    /// request → preparation → performance (giving consent first if there
    /// is none: electronically by the patient, or attested by the requester
    /// when the patient is absent) → conclusion → closed. `Cancelled` is
    /// reached by cancelling from wherever the act is. A scenario driven to
    /// `Preparation` has no consent yet.
    #[track_caller]
    pub fn drive_to(&mut self, phase: Phase) {
        if phase == Phase::Cancelled {
            if self.act.phase != Phase::Cancelled {
                self.ok(Command::Cancel(CancelReason::ByProfessional));
            }
            return;
        }
        assert!(
            self.act.phase <= phase,
            "cannot drive from {} back to {phase}",
            self.act.phase
        );
        while self.act.phase != phase {
            match self.act.phase {
                Phase::Request => {
                    self.ok(Command::Prepare);
                }
                Phase::Preparation => {
                    if !self.act.consent.allows_media() {
                        let consent = match self.act.participant_with_role(Role::Patient) {
                            Some(p) if self.act.patient_present => electronic_consent(p.id),
                            _ => {
                                let by = self
                                    .act
                                    .participant_with_role(Role::Requester)
                                    .expect("a requester to attest consent")
                                    .id;
                                attested_consent(by)
                            }
                        };
                        self.ok(Command::GiveConsent(consent));
                    }
                    self.ok(Command::StartPerformance);
                }
                Phase::Performance => {
                    self.ok(Command::EndPerformance);
                }
                Phase::Conclusion => {
                    self.ok(conclude());
                }
                Phase::Closed | Phase::Cancelled => unreachable!("terminal"),
            }
        }
    }

    /// The act rebuilt from every event it emitted.
    pub fn replay(&self) -> Result<Act, Error> {
        Act::replay(self.act.id, &self.events)
    }
}
