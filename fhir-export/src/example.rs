//! The worked example of `docs/FHIR_EXPORT.md`: a téléexpertise with an
//! attached document, a file shared in session, an incident, a mode
//! change, a consent partly withdrawn, and a conclusion with two
//! prescriptions, as opened records; a signing key from a fixed seed; a
//! fixed time. The unit tests and the known-answer test use it, so the
//! document shows what the code does. Fixtures only: no real person.

use serde_json::Value;
use session::conclusion::{Conclusion, Prescription, PrescriptionKind};
use session::consent::{Consent, ConsentMethod, ConsentScope, text_digest};
use session::document::DocumentType;
use session::event::ActEvent;
use session::expertise::ExpertAnswer;
use session::keys::HeadSigner;
use session::participant::{Identity, Participant, Role};
use session::trace::seal::strip_markers;
use session::vocab::{IncidentKind, MediaMode, ModeCause, Urgency};
use session::{ActId, ActKind, ParticipantId, Phase, Pii, Sha256, ShareId, Timestamp};
use sha2::Digest as _;

use crate::ExportRecord;

/// The example's act.
pub const ACT: &str = "00112233-4455-6677-8899-aabbccddeeff";
/// The platform's public URL.
pub const PUBLIC_URL: &str = "https://teleconsult.example.org";
/// The signing key's seed (32 bytes of 0x07).
pub const SEED: [u8; 32] = [7; 32];
/// 2026-11-18T11:06:40Z: the request; each event is one minute after
/// the one before.
pub const START_MICROS: i64 = 1_795_000_000_000_000;
/// The export's time: 2026-11-18T12:00:00Z.
pub const NOW_MICROS: i64 = 1_795_003_200_000_000;
/// The PDF of the example (not a real PDF: a few bytes stand for it).
pub const PDF: &[u8] = b"%PDF-1.7 example report";

pub fn act() -> ActId {
    ACT.parse().expect("a valid act id")
}

pub fn signer() -> HeadSigner {
    HeadSigner::from_seed(SEED)
}

pub fn now() -> Timestamp {
    Timestamp::from_micros(NOW_MICROS)
}

/// The example's stand-in for record `seq`'s chain hash: SHA-256 of
/// `"example/<seq>"` (the export copies hashes, it does not compute them).
pub fn record_hash(seq: u64) -> String {
    hex::encode(sha2::Sha256::digest(format!("example/{seq}").as_bytes()))
}

fn professional(id: u32, role: Role, name: &str, rpps: &str) -> ActEvent {
    ActEvent::ParticipantRegistered(Participant {
        id: ParticipantId(id),
        role,
        identity: Identity::Professional {
            name: Pii::new(name.into()),
            rpps: Pii::new(rpps.parse().expect("a valid RPPS")),
        },
    })
}

/// The example's events, in order.
pub fn events() -> Vec<ActEvent> {
    let p1 = ParticipantId(1);
    let p2 = ParticipantId(2);
    let doc = Sha256::digest(PDF);
    let shared = Sha256::digest(b"example image");
    let share = ShareId::from_bytes([0x5a; 16]);
    vec![
        ActEvent::Requested {
            kind: ActKind::Teleexpertise,
            patient_present: false,
        },
        professional(1, Role::Requester, "Dr Alix Exemple", "10000000017"),
        professional(2, Role::Expert, "Dr Camille Fictive", "10000000025"),
        ActEvent::ParticipantRegistered(Participant {
            id: ParticipantId(3),
            role: Role::Patient,
            identity: Identity::Patient {
                alias: Pii::new("dossier-0001".parse().expect("a valid alias")),
            },
        }),
        ActEvent::ExpertiseRequested {
            question: Pii::new("Avis sur cette lésion cutanée ?".into()),
            urgency: Urgency::Urgent,
            respond_by: Timestamp::from_micros(START_MICROS + 86_400_000_000),
        },
        ActEvent::AttachmentAdded {
            document: doc,
            media_type: DocumentType::Pdf,
            size: PDF.len() as u64,
            name: Pii::new("photo-lésion.pdf".into()),
            by: p1,
        },
        ActEvent::ExpertAnswered {
            by: p2,
            answer: ExpertAnswer::Accepted,
        },
        ActEvent::PhaseEntered {
            phase: Phase::Preparation,
        },
        ActEvent::ConsentGiven(Consent {
            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
            given_by: p1,
            method: ConsentMethod::AttestedByProfessional {
                text_sha256: text_digest("Le patient a été informé et consent."),
            },
        }),
        ActEvent::PhaseEntered {
            phase: Phase::Performance,
        },
        ActEvent::IncidentOpened {
            incident: session::IncidentId(1),
            kind: IncidentKind::PacketLoss,
            participant: Some(p2),
            metrics: [("loss_pct".to_string(), 12.5)].into_iter().collect(),
        },
        ActEvent::IncidentClosed {
            incident: session::IncidentId(1),
            duration_ms: 60_000,
            metrics: Default::default(),
        },
        ActEvent::ModeChanged {
            participant: p2,
            mode: MediaMode::AudioOnly,
            cause: ModeCause::Automatic,
            by: p2,
        },
        ActEvent::ShareOffered {
            share,
            sender: p2,
            digest: shared,
            media_type: Some(DocumentType::Png),
            size: 13,
            name: Pii::new("schéma.png".into()),
        },
        ActEvent::ShareReceived {
            share,
            by: p1,
            digest: shared,
        },
        ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::DataHosting],
            by: p1,
        },
        ActEvent::PhaseEntered {
            phase: Phase::Conclusion,
        },
        ActEvent::Concluded(Conclusion {
            report: Pii::new("Lésion bénigne. Surveillance à 6 mois.".into()),
            prescriptions: vec![
                Prescription {
                    kind: PrescriptionKind::Medication,
                    text: Pii::new("Crème émolliente, 2 applications par jour".into()),
                },
                Prescription {
                    kind: PrescriptionKind::Examination,
                    text: Pii::new("Dermatoscopie de contrôle".into()),
                },
            ],
            by: Some(p2),
        }),
    ]
}

/// The example's records: opened (`withheld` false) or as their public
/// view, sealed values shown as `"[sealed]"` (`withheld` true).
pub fn records(withheld: bool) -> Vec<ExportRecord> {
    events()
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let seq = i as u64 + 1;
            let mut event = serde_json::to_value(&body).expect("events serialize");
            if withheld {
                redact(&mut event);
            } else {
                strip_markers(&mut event);
            }
            ExportRecord {
                act: act(),
                seq,
                at: Timestamp::from_micros(START_MICROS + i as i64 * 60_000_000),
                kind: body.kind().to_string(),
                hash: record_hash(seq),
                event,
            }
        })
        .collect()
}

/// Replaces each personal value by `"[sealed]"`, as a public view does.
fn redact(v: &mut Value) {
    match v {
        Value::Object(map) if map.contains_key(session::PII_KEY) => {
            *v = Value::String(crate::record::SEALED.into());
        }
        Value::Object(map) => map.values_mut().for_each(redact),
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}
