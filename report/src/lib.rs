//! The compte rendu of a concluded telemedicine act, as a PDF.
//!
//! [`render`] takes the replayed act, the events it was replayed from,
//! the platform's name, what the trace's verification found and whether
//! the reader may see personal and medical values, and returns the PDF:
//! A4, in French, set in DejaVu Sans (embedded, subset), with the act's
//! kind and id, its professionals and their RPPS, the patient's alias,
//! the phases and their times, the consent given and withdrawn with the
//! SHA-256 of the text shown, a téléexpertise's request and answers, the
//! documents, the report, the prescriptions, the incidents and their
//! durations, the trace's state and chain head, and the signed checkpoint
//! of the transparency log its receipt is proven against (« Reçu de trace »).
//!
//! The output depends on the input alone: no clock is read, the
//! document's date is the act's conclusion, so the same act gives the
//! same bytes.
//!
//! - `content`: what is said, as blocks of text;
//! - `layout`: shaping with the fonts, wrapping, pages;
//! - `pdf`: drawing with krilla;
//! - `clock`: times in Paris legal time; `labels`: the French words.

mod clock;
mod content;
mod error;
mod labels;
mod layout;
mod pdf;

use session::event::Event;
use session::vocab::Phase;
use session::{Act, Timestamp};

pub use clock::{duration, local_time};
pub use content::MASKED;
pub use error::Error;

/// Everything the compte rendu is made from.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    /// The act, replayed from `events`.
    pub act: &'a Act,
    /// The act's events in chain order (opened, or with sealed values
    /// replaced when `withheld`): the consent given and withdrawn, with
    /// the SHA-256 of the text shown, is read from them. (Beyond
    /// DESIGN.md's input, which names the act only: the replayed
    /// `ConsentLedger` keeps neither the text's hash nor who gave it.)
    pub events: &'a [Event],
    /// The platform's name, under the title.
    pub platform: &'a str,
    /// What verifying the act's trace found.
    pub trace: &'a TraceState,
    /// Print « [masqué] » for every personal or medical value.
    pub withheld: bool,
}

/// The act's trace as verified for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceState {
    pub verification: Verification,
    /// The hash of the act's last record, hex.
    pub head: String,
    /// How many events the act's chain holds.
    pub events: u64,
    /// The signed checkpoint of the transparency log that covers the
    /// act's last event, the one its receipt is proven against; `None`
    /// when the act is not yet in a signed checkpoint.
    pub checkpoint: Option<ReceiptCheckpoint>,
}

/// A checkpoint of the transparency log as the compte rendu prints it
/// (« Reçu de trace »): what a receipt of the act is proven against
/// (docs/TRACE_FORMAT.md, "Receipts").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptCheckpoint {
    /// The log's origin (its note key name).
    pub origin: String,
    /// The tree size the checkpoint signs.
    pub size: u64,
    /// The tree's root hash, base64 as the checkpoint writes it.
    pub root: String,
    /// The witnesses that cosigned it, in the note's order.
    pub cosigners: Vec<Cosigner>,
}

/// A witness's cosignature of a checkpoint: its key name and the time it
/// signed (C2SP tlog-cosignature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigner {
    pub name: String,
    pub at: Timestamp,
}

/// What the verification of the trace found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The chain and the signed checkpoints check out.
    Intact,
    /// The first problem found, as `trace verify` words it.
    Broken(String),
}

/// The conclusion time: when the act was closed with its report.
pub fn concluded_at(act: &Act) -> Option<Timestamp> {
    act.conclusion.as_ref()?;
    act.entered(Phase::Closed)
}

/// The compte rendu of `input`'s act as PDF bytes;
/// [`Error::NotConcluded`] if the act has no report.
pub fn render(input: &ReportInput<'_>) -> Result<Vec<u8>, Error> {
    let date = concluded_at(input.act).ok_or(Error::NotConcluded)?;
    let blocks = content::blocks(input)?;
    let shaper = layout::Shaper::new()?;
    let pages = layout::lay_out(&shaper, &blocks);
    let title = format!(
        "{} — acte {}",
        labels::kind_title(input.act.kind),
        input.act.id
    );
    pdf::write(
        &shaper,
        &pages,
        &pdf::Header {
            title: &title,
            creator: input.platform,
            date,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session::conclusion::{Prescription, PrescriptionKind};
    use session::consent::{Consent, ConsentMethod, ConsentScope, text_digest};
    use session::participant::{Identity, Role};
    use session::vocab::IncidentKind;
    use session::{ActId, ActKind, Command, IncidentId, ParticipantId, Pii};

    use super::*;
    use crate::content::{Block, blocks};

    const REPORT: &str = "Patient vu en téléconsultation ; œdème léger à la cheville gauche.\n\
                          Conduite à tenir : contrôle à J+7, « repos » et surélévation. Reçu ça.";

    /// A téléconsultation concluded with `report`: requester 1, patient 2,
    /// an incident of 2 min 05 s; its events in order.
    fn concluded(report: &str) -> (Act, Vec<Event>) {
        let t0 = Timestamp::from_micros(1_796_395_200_000_000); // 2026-12-04T14:40:00Z
        let at = |s: u64| t0.plus(Duration::from_secs(s));
        let id = ActId::from_bytes([7; 16]);
        let (mut act, first) = Act::request(id, ActKind::Teleconsultation, true, t0);
        let mut events = vec![first];
        let steps = [
            (
                0,
                Command::Register {
                    role: Role::Requester,
                    identity: Identity::Professional {
                        name: Pii::new("Dr Fictif Requérant".into()),
                        rpps: Pii::new("10000000009".parse().unwrap()),
                    },
                },
            ),
            (
                0,
                Command::Register {
                    role: Role::Patient,
                    identity: Identity::Patient {
                        alias: Pii::new("dossier-fictif-0042".parse().unwrap()),
                    },
                },
            ),
            (60, Command::Prepare),
            (
                90,
                Command::GiveConsent(Consent {
                    scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                    given_by: ParticipantId(2),
                    method: ConsentMethod::Electronic {
                        text_sha256: text_digest("J'accepte."),
                        language: "fr".into(),
                    },
                }),
            ),
            (120, Command::StartPerformance),
            (
                300,
                Command::OpenIncident {
                    kind: IncidentKind::VideoFreeze,
                    participant: Some(ParticipantId(2)),
                    metrics: Default::default(),
                },
            ),
            (
                425,
                Command::CloseIncident {
                    incident: IncidentId(1),
                    metrics: Default::default(),
                },
            ),
            (
                900,
                Command::Conclude {
                    by: ParticipantId(1),
                    report: Pii::new(report.into()),
                    prescriptions: vec![Prescription {
                        kind: PrescriptionKind::Medication,
                        text: Pii::new("Paracétamol 1 g, 3 fois par jour pendant 5 jours".into()),
                    }],
                },
            ),
        ];
        for (s, command) in steps {
            let name = command.name();
            let made = act
                .handle(command, at(s))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            events.extend(made);
        }
        (act, events)
    }

    fn trace() -> TraceState {
        TraceState {
            verification: Verification::Intact,
            head: "ab".repeat(32),
            events: 11,
            checkpoint: Some(ReceiptCheckpoint {
                origin: "teleconsult.localhost/trace".into(),
                size: 4242,
                root: "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=".into(),
                cosigners: vec![Cosigner {
                    name: "witness.example/fictif".into(),
                    at: Timestamp::from_micros(1_796_396_200_000_000),
                }],
            }),
        }
    }

    fn input<'a>(
        act: &'a Act,
        events: &'a [Event],
        t: &'a TraceState,
        withheld: bool,
    ) -> ReportInput<'a> {
        ReportInput {
            act,
            events,
            platform: "Plateforme fictive",
            trace: t,
            withheld,
        }
    }

    fn all_text(blocks: &[Block]) -> String {
        blocks.iter().map(|b| format!("{b:?}\n")).collect()
    }

    #[test]
    fn the_same_act_gives_the_same_bytes() {
        let (act, events) = concluded(REPORT);
        let t = trace();
        let a = render(&input(&act, &events, &t, false)).unwrap();
        let b = render(&input(&act, &events, &t, false)).unwrap();
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b);
        // The fonts are subset: far less than the 1.4 MB of the two faces.
        assert!(a.len() < 120_000, "{} bytes", a.len());
    }

    #[test]
    fn the_content_names_every_required_element() {
        let (act, events) = concluded(REPORT);
        let t = trace();
        let text = all_text(&blocks(&input(&act, &events, &t, false)).unwrap());
        for needle in [
            "Compte rendu de téléconsultation",
            "Téléconsultation",
            "07070707-0707-0707-0707-070707070707",
            "RPPS 10000000009",
            "dossier-fictif-0042",
            "04/12/2026 15:40:00 (UTC+01:00)", // requested
            "04/12/2026 15:42:00 (UTC+01:00)", // performance
            "04/12/2026 15:55:00 (UTC+01:00)", // concluded
            &text_digest("J'accepte."),
            "œdème léger",
            "Paracétamol 1 g",
            "Image figée",
            "durée 2 min 05 s",
            "Intègre",
            &"ab".repeat(32),
            "Reçu de trace",
            "teleconsult.localhost/trace",
            "4242",
            "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=",
            "witness.example/fictif",
            "04/12/2026 15:56:40 (UTC+01:00)", // cosigned
        ] {
            assert!(text.contains(needle), "{needle:?} missing");
        }
    }

    #[test]
    fn an_act_in_no_signed_checkpoint_says_so() {
        let (act, events) = concluded(REPORT);
        let t = TraceState {
            checkpoint: None,
            ..trace()
        };
        let text = all_text(&blocks(&input(&act, &events, &t, false)).unwrap());
        assert!(text.contains("Reçu de trace"));
        assert!(
            text.contains("pas encore dans un point de contrôle signé"),
            "{text}"
        );
        assert!(!text.contains("Cosigné"));
        let uncosigned = TraceState {
            checkpoint: trace().checkpoint.map(|c| ReceiptCheckpoint {
                cosigners: Vec::new(),
                ..c
            }),
            ..trace()
        };
        let text = all_text(&blocks(&input(&act, &events, &uncosigned, false)).unwrap());
        assert!(text.contains("Aucun témoin"), "{text}");
        // Different checkpoints, different bytes; the same, the same bytes.
        let a = render(&input(&act, &events, &t, false)).unwrap();
        let b = render(&input(&act, &events, &uncosigned, false)).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            b,
            render(&input(&act, &events, &uncosigned, false)).unwrap()
        );
    }

    #[test]
    fn withheld_values_print_as_masked() {
        let (act, events) = concluded(REPORT);
        let t = trace();
        let text = all_text(&blocks(&input(&act, &events, &t, true)).unwrap());
        for secret in [
            "Fictif",
            "10000000009",
            "dossier-fictif",
            "œdème",
            "Paracétamol",
        ] {
            assert!(!text.contains(secret), "{secret:?} shown while withheld");
        }
        assert!(text.contains(MASKED));
        // What is not personal stays: kind, times, hashes, incidents.
        assert!(text.contains("Image figée"));
        assert!(text.contains(&text_digest("J'accepte.")));
        let pdf = render(&input(&act, &events, &t, true)).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn a_long_report_runs_over_numbered_pages_within_the_margins() {
        let paragraph = "Les éléments de l'examen à distance sont consignés ici, avec leur \
                         interprétation, les hypothèses retenues et écartées, et la conduite à tenir. ";
        let report = paragraph.repeat(60 * 1024 / paragraph.len());
        let (act, events) = concluded(&report);
        let t = trace();
        let input = input(&act, &events, &t, false);
        let shaper = layout::Shaper::new().unwrap();
        let pages = layout::lay_out(&shaper, &blocks(&input).unwrap());
        assert!(pages.pages.len() >= 10, "{} pages", pages.pages.len());
        for items in &pages.pages {
            for item in items {
                if let layout::Item::Text(l) = item {
                    assert!(
                        l.y > 40.0 && l.y < layout::PAGE_HEIGHT - 60.0,
                        "y = {}",
                        l.y
                    );
                    assert!(l.x + l.run.width <= layout::PAGE_WIDTH - layout::MARGIN_X + 0.01);
                }
            }
        }
        let pdf = render(&input).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn an_act_without_report_is_refused() {
        let (act, mut events) = concluded(REPORT);
        let mut open = act.clone();
        open.conclusion = None;
        events.pop();
        let t = trace();
        assert!(matches!(
            render(&input(&open, &events, &t, false)),
            Err(Error::NotConcluded)
        ));
    }

    /// The render time and size of a typical report and of a 60 KiB one
    /// (docs/BENCHMARKS.md): `cargo test --release -p report -- --ignored
    /// --nocapture render_time`. Writes both PDFs to target/report-bench/.
    #[test]
    #[ignore = "a measurement, run in release"]
    fn render_time() {
        let paragraph = "Les éléments de l'examen à distance sont consignés ici, avec leur \
                         interprétation, les hypothèses retenues et écartées, et la conduite à tenir. ";
        let long = paragraph.repeat(60 * 1024 / paragraph.len());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/report-bench");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, report) in [("typical", REPORT.to_string()), ("60KiB", long)] {
            let (act, events) = concluded(&report);
            let t = trace();
            let input = input(&act, &events, &t, false);
            let runs = 20;
            let start = std::time::Instant::now();
            let mut pdf = Vec::new();
            for _ in 0..runs {
                pdf = render(&input).unwrap();
            }
            let each = start.elapsed() / runs;
            println!(
                "{name}: report {} bytes -> PDF {} bytes, {:.1} ms per render (mean of {runs})",
                report.len(),
                pdf.len(),
                each.as_secs_f64() * 1000.0
            );
            std::fs::write(dir.join(format!("{name}.pdf")), &pdf).unwrap();
        }
    }
}
