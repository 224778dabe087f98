//! What the compte rendu says, in order, as blocks of text: the act's
//! facts read from the replayed act and its events, in French, with every
//! personal or medical value replaced by « [masqué] » when the reader may
//! not see it. No layout here (see `layout`), so the wording is tested
//! apart from the PDF.

use session::act::Incident;
use session::consent::ConsentMethod;
use session::event::{ActEvent, Event};
use session::expertise::ExpertAnswer;
use session::participant::{Identity, Role};
use session::vocab::Phase;
use session::{Act, ActKind, ParticipantId};

use crate::clock::{duration, local_time};
use crate::labels;
use crate::{Error, ReceiptCheckpoint, ReportInput, Verification};

/// What a withheld value prints as.
pub const MASKED: &str = "[masqué]";

/// One block of the document, laid out by `layout`.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// The document's title, large and bold.
    Title(String),
    /// A line under the title (the platform).
    Subtitle(String),
    /// A section heading.
    Heading(String),
    /// A label and its value side by side; the value wraps in its column.
    Field { label: String, value: String },
    /// A label, then its value on a line of its own across the page, in a
    /// smaller size: for digests that must not be cut.
    Digest { label: String, hex: String },
    /// Running text, wrapped; a paragraph per line of the source text.
    Paragraph(String),
    /// A bulleted item, wrapped with a hanging indent.
    Item(String),
    /// A remark in a smaller size.
    Note(String),
}

/// Builds the blocks of `input`'s compte rendu.
pub fn blocks(input: &ReportInput<'_>) -> Result<Vec<Block>, Error> {
    let act = input.act;
    let conclusion = act.conclusion.as_ref().ok_or(Error::NotConcluded)?;
    let closed_at = act.entered(Phase::Closed).ok_or(Error::NotConcluded)?;
    let w = Writer {
        act,
        withheld: input.withheld,
    };
    let mut out = vec![
        Block::Title(labels::kind_title(act.kind).into()),
        Block::Subtitle(input.platform.to_string()),
        Block::Field {
            label: "Type d'acte".into(),
            value: labels::kind(act.kind).into(),
        },
        Block::Field {
            label: "Identifiant de l'acte".into(),
            value: act.id.to_string(),
        },
        Block::Field {
            label: "Date du document".into(),
            value: local_time(closed_at),
        },
        Block::Note(
            "Heures : heure légale de Paris (Europe/Paris), avec son décalage par rapport à UTC."
                .into(),
        ),
    ];
    if input.withheld {
        out.push(Block::Note(format!(
            "Les données personnelles et médicales sont masquées pour ce lecteur : elles \
             apparaissent comme « {MASKED} »."
        )));
    }

    out.push(Block::Heading("Professionnels".into()));
    for p in act.participants.iter().filter(|p| p.role.is_professional()) {
        if let Identity::Professional { name, rpps } = &p.identity {
            out.push(Block::Field {
                label: labels::role(act.kind, p.role).into(),
                value: format!(
                    "{} — RPPS {}",
                    w.shown(name.expose()),
                    w.shown(rpps.expose().as_str())
                ),
            });
        }
    }

    out.push(Block::Heading("Patient".into()));
    for p in &act.participants {
        match &p.identity {
            Identity::Patient { alias } => out.push(Block::Field {
                label: "Alias (pseudonyme)".into(),
                value: w.shown(alias.expose().as_str()).into(),
            }),
            Identity::Companion { name } => out.push(Block::Field {
                label: labels::role(act.kind, Role::Companion).into(),
                value: w.shown(name.expose()).into(),
            }),
            Identity::Professional { .. } => {}
        }
    }
    out.push(Block::Field {
        label: "Présence du patient".into(),
        value: if act.patient_present {
            "Le patient participe à l'acte".into()
        } else {
            "Acte réalisé hors de la présence du patient".into()
        },
    });

    out.push(Block::Heading("Déroulement".into()));
    for (phase, at) in &act.phase_times {
        out.push(Block::Field {
            label: labels::phase(*phase).into(),
            value: local_time(*at),
        });
    }
    if let (Some(start), Some(end)) = (
        act.entered(Phase::Performance),
        act.entered(Phase::Conclusion),
    ) {
        out.push(Block::Field {
            label: "Durée de la réalisation".into(),
            value: duration(end.since(start)),
        });
    }

    out.extend(w.consent(input.events));

    if act.kind == ActKind::Teleexpertise {
        out.extend(w.expertise());
    }
    if !act.attachments.is_empty() {
        out.push(Block::Heading("Documents joints".into()));
        for a in &act.attachments {
            out.push(Block::Item(format!(
                "{} ({}, {}), joint le {} par {}",
                w.shown(a.name.expose()),
                a.media_type.media_type(),
                size(a.size),
                local_time(a.at),
                w.who(a.by),
            )));
            out.push(Block::Digest {
                label: "SHA-256 du document".into(),
                hex: a.document.to_string(),
            });
        }
    }

    out.push(Block::Heading("Compte rendu".into()));
    let author = conclusion
        .by
        .map(|by| w.who(by))
        .unwrap_or_else(|| "auteur non enregistré".into());
    out.push(Block::Note(format!(
        "Rédigé par {author} ; enregistré le {}.",
        local_time(closed_at)
    )));
    if input.withheld {
        out.push(Block::Paragraph(MASKED.into()));
    } else {
        out.extend(
            conclusion
                .report
                .expose()
                .lines()
                .map(|l| Block::Paragraph(l.to_string())),
        );
    }

    out.push(Block::Heading("Prescriptions".into()));
    if conclusion.prescriptions.is_empty() {
        out.push(Block::Paragraph("Aucune prescription.".into()));
    }
    for p in &conclusion.prescriptions {
        out.push(Block::Item(format!(
            "{} : {}",
            labels::prescription(p.kind),
            w.shown(p.text.expose())
        )));
    }

    out.push(Block::Heading("Incidents techniques".into()));
    if act.incidents.is_empty() {
        out.push(Block::Paragraph(
            "Aucun incident technique enregistré.".into(),
        ));
    }
    for i in &act.incidents {
        out.push(Block::Item(w.incident(i)));
    }

    out.push(Block::Heading("Intégrité de la trace".into()));
    out.push(Block::Field {
        label: "Vérification".into(),
        value: match &input.trace.verification {
            Verification::Intact => {
                "Intègre : chaîne de hachage et points de contrôle signés vérifiés".into()
            }
            Verification::Broken(finding) => format!("NON intègre : {finding}"),
        },
    });
    out.push(Block::Field {
        label: "Événements".into(),
        value: input.trace.events.to_string(),
    });
    out.push(Block::Digest {
        label: "Tête de chaîne (SHA-256)".into(),
        hex: input.trace.head.clone(),
    });
    out.push(Block::Note(format!(
        "Vérifiable hors ligne avec la clé publique de la plateforme : teleconsult trace verify {}",
        act.id
    )));
    out.extend(receipt(input.trace.checkpoint.as_ref()));
    Ok(out)
}

/// « Reçu de trace »: the signed checkpoint of the transparency log the
/// act's receipt is proven against, and who cosigned it; or that the act
/// is not yet in a signed checkpoint.
fn receipt(checkpoint: Option<&ReceiptCheckpoint>) -> Vec<Block> {
    let mut out = vec![Block::Heading("Reçu de trace".into())];
    let Some(c) = checkpoint else {
        out.push(Block::Paragraph(
            "L'acte n'est pas encore dans un point de contrôle signé du journal de la trace."
                .into(),
        ));
        return out;
    };
    out.push(Block::Paragraph(
        "Les événements de l'acte figurent dans ce point de contrôle signé du journal de la \
         trace (arbre de Merkle) :"
            .into(),
    ));
    out.push(Block::Field {
        label: "Journal (origine)".into(),
        value: c.origin.clone(),
    });
    out.push(Block::Field {
        label: "Taille de l'arbre".into(),
        value: c.size.to_string(),
    });
    out.push(Block::Digest {
        label: "Racine (SHA-256, base64)".into(),
        hex: c.root.clone(),
    });
    if c.cosigners.is_empty() {
        out.push(Block::Note(
            "Aucun témoin n'a encore cosigné ce point de contrôle.".into(),
        ));
    }
    for w in &c.cosigners {
        out.push(Block::Item(format!(
            "Cosigné par le témoin {} le {}",
            w.name,
            local_time(w.at)
        )));
    }
    out.push(Block::Note(
        "Le reçu de l'acte se vérifie hors ligne, sans la plateforme : teleconsult receipt \
         verify FICHIER --public-key CLÉ-DU-JOURNAL [--witness-key CLÉ-DU-TÉMOIN]"
            .into(),
    ));
    out
}

/// Says things about one act, masking what the reader may not see.
struct Writer<'a> {
    act: &'a Act,
    withheld: bool,
}

impl Writer<'_> {
    /// `value`, or « [masqué] » when withheld.
    fn shown<'v>(&self, value: &'v str) -> &'v str {
        if self.withheld { MASKED } else { value }
    }

    /// A participant as a reader names them: role and name (professionals
    /// with their RPPS), the patient by alias.
    fn who(&self, id: ParticipantId) -> String {
        let Ok(p) = self.act.participant(id) else {
            return format!("participant n° {}", id.0);
        };
        let role = labels::role_short(self.act.kind, p.role);
        match &p.identity {
            Identity::Professional { name, rpps } => format!(
                "{} ({role}, RPPS {})",
                self.shown(name.expose()),
                self.shown(rpps.expose().as_str())
            ),
            Identity::Patient { alias } => {
                format!("le patient (alias {})", self.shown(alias.expose().as_str()))
            }
            Identity::Companion { name } => format!("{role} ({})", self.shown(name.expose())),
        }
    }

    /// The consent section: each consent with its scope, time, giver, way
    /// and the SHA-256 of the text shown; each withdrawal.
    fn consent(&self, events: &[Event]) -> Vec<Block> {
        let mut out = vec![Block::Heading("Consentement du patient".into())];
        let mut any = false;
        for e in events {
            match &e.body {
                ActEvent::ConsentGiven(c) => {
                    any = true;
                    let scopes: Vec<&str> = c.scopes.iter().map(|s| labels::scope(*s)).collect();
                    let (how, digest) = match &c.method {
                        ConsentMethod::Electronic {
                            text_sha256,
                            language,
                        } => (
                            format!("accepté à l'écran (texte présenté en langue « {language} »)"),
                            text_sha256,
                        ),
                        ConsentMethod::AttestedByProfessional { text_sha256 } => (
                            "attesté par le professionnel, le patient étant absent".to_string(),
                            text_sha256,
                        ),
                    };
                    out.push(Block::Paragraph(format!(
                        "Consentement donné le {} par {}, {how}. Il porte sur {}.",
                        local_time(e.at),
                        self.who(c.given_by),
                        scopes.join(" et sur ")
                    )));
                    out.push(Block::Digest {
                        label: "SHA-256 du texte présenté".into(),
                        hex: digest.clone(),
                    });
                }
                ActEvent::ConsentWithdrawn { scopes, by } => {
                    any = true;
                    let scopes: Vec<&str> = scopes.iter().map(|s| labels::scope(*s)).collect();
                    out.push(Block::Paragraph(format!(
                        "Consentement retiré le {} par {} pour {}.",
                        local_time(e.at),
                        self.who(*by),
                        scopes.join(" et pour ")
                    )));
                }
                _ => {}
            }
        }
        if !any {
            out.push(Block::Paragraph("Aucun consentement enregistré.".into()));
        } else if self.act.consent.withdrawals.is_empty() {
            out.push(Block::Note("Aucun retrait de consentement.".into()));
        }
        out
    }

    /// A téléexpertise's question, urgency and the expert's answers.
    fn expertise(&self) -> Vec<Block> {
        let Some(x) = &self.act.expertise else {
            return Vec::new();
        };
        let mut out = vec![
            Block::Heading("Demande de téléexpertise".into()),
            Block::Field {
                label: "Urgence".into(),
                value: labels::urgency(x.urgency).into(),
            },
            Block::Field {
                label: "Demandée le".into(),
                value: local_time(x.requested_at),
            },
            Block::Field {
                label: "Réponse attendue avant".into(),
                value: local_time(x.respond_by),
            },
            Block::Heading("Question posée à l'expert".into()),
        ];
        out.extend(
            self.shown(x.question.expose())
                .lines()
                .map(|l| Block::Paragraph(l.to_string())),
        );
        out.push(Block::Heading("Réponses de l'expert".into()));
        if x.answers.is_empty() {
            out.push(Block::Paragraph("Aucune réponse.".into()));
        }
        for (at, answer) in &x.answers {
            let text = match answer {
                ExpertAnswer::Accepted => String::new(),
                ExpertAnswer::Declined { reason } => format!(" : {}", self.shown(reason.expose())),
                ExpertAnswer::MoreRequested { what } => {
                    format!(" : {}", self.shown(what.expose()))
                }
            };
            out.push(Block::Item(format!(
                "{} le {}{text}",
                labels::decision(answer),
                local_time(*at)
            )));
        }
        out
    }

    /// One incident: kind, who, when, how long.
    fn incident(&self, i: &Incident) -> String {
        let whom = match i.participant {
            Some(p) => self.who(p),
            None => "la session".into(),
        };
        let span = match i.closed_at {
            Some(end) => format!(
                "du {} au {}, durée {}",
                local_time(i.opened_at),
                local_time(end),
                duration(end.since(i.opened_at))
            ),
            None => format!("depuis le {}, non clos", local_time(i.opened_at)),
        };
        format!("{} — {whom} — {span}", labels::incident(i.kind))
    }
}

/// A size in bytes as people read it.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < KIB => format!("{b} octets"),
        b if b < KIB * KIB => format!("{} Kio", b.div_ceil(KIB)),
        b => format!("{:.1} Mio", b as f64 / (KIB * KIB) as f64).replace('.', ","),
    }
}
