//! What the export reads from the trace: the act's events folded into
//! the facts the FHIR resources carry (who took part, the phases, the
//! consents, the incidents, the documents, the conclusion), each with the
//! seq and time of the event that recorded it.
//!
//! It works on the records' JSON, opened or public, so an operator
//! without the data key still gets an export (with the sealed values
//! withheld): a value is [`Shown::Withheld`] when the export withholds
//! sealed values and the record shows it as `"[sealed]"`.

use serde::de::DeserializeOwned;
use serde_json::Value;
use session::{ActId, ActKind, Phase, Timestamp};

use crate::Error;
use crate::record::{ExportRecord, SEALED};

/// A personal or medical value: in clear, or withheld from this reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown<T> {
    Clear(T),
    Withheld,
}

impl<T> Shown<T> {
    pub fn is_withheld(&self) -> bool {
        matches!(self, Shown::Withheld)
    }

    pub fn clear(&self) -> Option<&T> {
        match self {
            Shown::Clear(v) => Some(v),
            Shown::Withheld => None,
        }
    }
}

/// Who a participant is, as the export may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    Professional {
        name: Shown<String>,
        rpps: Shown<String>,
    },
    Patient {
        alias: Shown<String>,
    },
    Companion {
        name: Shown<String>,
    },
}

/// A registered participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The participant number (1, 2, ...).
    pub id: u32,
    /// `requester`, `expert`, `patient` or `companion`.
    pub role: String,
    pub who: Who,
}

/// One event of the trace, where it is and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    pub at: Timestamp,
    /// The record's hash, hex.
    pub hash: String,
}

/// A phase entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseMark {
    pub phase: Phase,
    pub mark: Mark,
}

/// A consent given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentFact {
    pub mark: Mark,
    /// `telemedicine_act`, `data_hosting`.
    pub scopes: Vec<String>,
    pub given_by: u32,
    /// `electronic` or `attested_by_professional`.
    pub method: String,
    /// SHA-256 of the text shown, hex, as the trace records it.
    pub text_sha256: String,
    pub language: Option<String>,
}

/// A consent withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawal {
    pub mark: Mark,
    pub scopes: Vec<String>,
    pub by: u32,
}

/// A technical incident, with its close when it was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentFact {
    pub mark: Mark,
    pub incident: u32,
    pub kind: String,
    pub participant: Option<u32>,
    pub closed: Option<(Mark, u64)>,
}

/// An interruption of the act by a lost connection, with its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interruption {
    pub mark: Mark,
    pub participant: u32,
    pub resumed: Option<Mark>,
}

/// A participant's mode change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeChange {
    pub mark: Mark,
    pub participant: u32,
    pub mode: String,
    pub cause: String,
    pub by: u32,
}

/// A téléexpertise's question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub mark: Mark,
    pub text: Shown<String>,
    pub urgency: String,
    pub respond_by: Timestamp,
}

/// A document attached to the act, or a file shared in its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentFact {
    pub mark: Mark,
    /// The content's SHA-256, hex, as the trace records it.
    pub sha256: String,
    pub media_type: Option<String>,
    pub size: u64,
    pub name: Shown<String>,
    /// Who attached or offered it.
    pub by: u32,
    /// For a file share: its id, and each receiver with the digest it
    /// computed.
    pub share: Option<ShareFact>,
}

/// What became of a file share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareFact {
    pub id: String,
    pub received: Vec<(u32, String)>,
}

/// One prescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrescriptionFact {
    /// `medication`, `examination` or `other`.
    pub kind: String,
    pub text: Shown<String>,
}

/// The conclusion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConclusionFact {
    pub mark: Mark,
    pub report: Shown<String>,
    pub prescriptions: Vec<PrescriptionFact>,
    pub by: Option<u32>,
}

/// The act as its trace tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub act: ActId,
    pub kind: ActKind,
    pub patient_present: bool,
    pub participants: Vec<Person>,
    /// Every phase entered, the request first, with its event.
    pub phases: Vec<PhaseMark>,
    pub consents: Vec<ConsentFact>,
    pub withdrawals: Vec<Withdrawal>,
    pub incidents: Vec<IncidentFact>,
    pub interruptions: Vec<Interruption>,
    pub modes: Vec<ModeChange>,
    pub question: Option<Question>,
    pub documents: Vec<DocumentFact>,
    pub conclusion: Option<ConclusionFact>,
    pub cancel_reason: Option<String>,
    /// The last record: the chain head the export vouches for.
    pub head: Mark,
}

impl Facts {
    /// Folds the records of one act, in seq order. `withheld`: the records
    /// are public views and `"[sealed]"` values are withheld.
    pub fn read(records: &[ExportRecord], withheld: bool) -> Result<Facts, Error> {
        let first = records.first().ok_or(Error::NoRequest)?;
        if first.kind != "requested" {
            return Err(Error::NoRequest);
        }
        let r = Reader {
            record: first,
            withheld,
        };
        let mut facts = Facts {
            act: first.act,
            kind: r.get("kind")?,
            patient_present: r.get("patient_present")?,
            participants: Vec::new(),
            phases: vec![PhaseMark {
                phase: Phase::Request,
                mark: r.mark(),
            }],
            consents: Vec::new(),
            withdrawals: Vec::new(),
            incidents: Vec::new(),
            interruptions: Vec::new(),
            modes: Vec::new(),
            question: None,
            documents: Vec::new(),
            conclusion: None,
            cancel_reason: None,
            head: r.mark(),
        };
        for record in &records[1..] {
            let r = Reader { record, withheld };
            facts.fold(&r)?;
            facts.head = r.mark();
        }
        Ok(facts)
    }

    fn fold(&mut self, r: &Reader<'_>) -> Result<(), Error> {
        match r.record.kind.as_str() {
            "participant_registered" => {
                let identity = r.field("identity")?;
                let sub = Reader::at(r, identity);
                let who = match sub.get::<String>("type")?.as_str() {
                    "professional" => Who::Professional {
                        name: sub.shown("name")?,
                        rpps: sub.shown("rpps")?,
                    },
                    "patient" => Who::Patient {
                        alias: sub.shown("alias")?,
                    },
                    _ => Who::Companion {
                        name: sub.shown("name")?,
                    },
                };
                self.participants.push(Person {
                    id: r.get("id")?,
                    role: r.get("role")?,
                    who,
                });
            }
            "phase_entered" => self.phases.push(PhaseMark {
                phase: r.get("phase")?,
                mark: r.mark(),
            }),
            "concluded" => {
                let prescriptions = r
                    .field("prescriptions")?
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        let p = Reader::at(r, p);
                        Ok(PrescriptionFact {
                            kind: p.get("kind")?,
                            text: p.shown("text")?,
                        })
                    })
                    .collect::<Result<_, Error>>()?;
                self.conclusion = Some(ConclusionFact {
                    mark: r.mark(),
                    report: r.shown("report")?,
                    prescriptions,
                    by: r.optional("by")?,
                });
                self.phases.push(PhaseMark {
                    phase: Phase::Closed,
                    mark: r.mark(),
                });
            }
            "cancelled" => {
                self.cancel_reason = Some(r.get("reason")?);
                self.phases.push(PhaseMark {
                    phase: Phase::Cancelled,
                    mark: r.mark(),
                });
            }
            "consent_given" => {
                let method = r.field("method")?;
                let m = Reader::at(r, method);
                self.consents.push(ConsentFact {
                    mark: r.mark(),
                    scopes: r.get("scopes")?,
                    given_by: r.get("given_by")?,
                    method: m.get("type")?,
                    text_sha256: m.get("text_sha256")?,
                    language: m.optional("language")?,
                });
            }
            "consent_withdrawn" => self.withdrawals.push(Withdrawal {
                mark: r.mark(),
                scopes: r.get("scopes")?,
                by: r.get("by")?,
            }),
            "incident_opened" => self.incidents.push(IncidentFact {
                mark: r.mark(),
                incident: r.get("incident")?,
                kind: r.get("kind")?,
                participant: r.optional("participant")?,
                closed: None,
            }),
            "incident_closed" => {
                let id: u32 = r.get("incident")?;
                let duration: u64 = r.get("duration_ms")?;
                if let Some(i) = self.incidents.iter_mut().find(|i| i.incident == id) {
                    i.closed = Some((r.mark(), duration));
                }
            }
            "interrupted" => self.interruptions.push(Interruption {
                mark: r.mark(),
                participant: r.get("participant")?,
                resumed: None,
            }),
            "resumed" => {
                let p: u32 = r.get("participant")?;
                if let Some(i) = self
                    .interruptions
                    .iter_mut()
                    .rev()
                    .find(|i| i.participant == p && i.resumed.is_none())
                {
                    i.resumed = Some(r.mark());
                }
            }
            "mode_changed" => self.modes.push(ModeChange {
                mark: r.mark(),
                participant: r.get("participant")?,
                mode: r.get("mode")?,
                cause: r.get("cause")?,
                by: r.get("by")?,
            }),
            "expertise_requested" => {
                self.question = Some(Question {
                    mark: r.mark(),
                    text: r.shown("question")?,
                    urgency: r.get("urgency")?,
                    respond_by: Timestamp::from_micros(r.get("respond_by")?),
                })
            }
            "attachment_added" => self.documents.push(DocumentFact {
                mark: r.mark(),
                sha256: r.get("document")?,
                media_type: r.optional("media_type")?,
                size: r.get("size")?,
                name: r.shown("name")?,
                by: r.get("by")?,
                share: None,
            }),
            "share_offered" => self.documents.push(DocumentFact {
                mark: r.mark(),
                sha256: r.get("digest")?,
                media_type: r.optional("media_type")?,
                size: r.get("size")?,
                name: r.shown("name")?,
                by: r.get("sender")?,
                share: Some(ShareFact {
                    id: r.get("share")?,
                    received: Vec::new(),
                }),
            }),
            "share_received" => {
                let id: String = r.get("share")?;
                let by: u32 = r.get("by")?;
                let digest: String = r.get("digest")?;
                if let Some(share) = self
                    .documents
                    .iter_mut()
                    .filter_map(|d| d.share.as_mut())
                    .find(|s| s.id == id)
                {
                    share.received.push((by, digest));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The participant numbered `id`.
    pub fn person(&self, id: u32) -> Option<&Person> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// The patient.
    pub fn patient(&self) -> Option<&Person> {
        self.participants.iter().find(|p| p.role == "patient")
    }

    /// When the act ended (closed or cancelled), if it did.
    pub fn ended(&self) -> Option<Timestamp> {
        self.phases
            .iter()
            .find(|p| p.phase.is_terminal())
            .map(|p| p.mark.at)
    }

    /// The phase the act is in.
    pub fn phase(&self) -> Phase {
        self.phases.last().map_or(Phase::Request, |p| p.phase)
    }
}

/// Reads the fields of one record's event (or of an object inside it).
struct Reader<'a> {
    record: &'a ExportRecord,
    withheld: bool,
}

/// An object inside a record's event.
struct Sub<'a> {
    parent: &'a Reader<'a>,
    value: &'a Value,
}

impl<'a> Reader<'a> {
    fn at(parent: &'a Reader<'a>, value: &'a Value) -> Sub<'a> {
        Sub { parent, value }
    }

    fn mark(&self) -> Mark {
        Mark {
            seq: self.record.seq,
            at: self.record.at,
            hash: self.record.hash.clone(),
        }
    }

    fn missing(&self, field: &'static str) -> Error {
        Error::MissingField {
            seq: self.record.seq,
            kind: self.record.kind.clone(),
            field,
        }
    }

    fn field(&self, name: &'static str) -> Result<&'a Value, Error> {
        self.record
            .event
            .get(name)
            .ok_or_else(|| self.missing(name))
    }

    fn get<T: DeserializeOwned>(&self, name: &'static str) -> Result<T, Error> {
        decode(self, &self.record.event, name)
    }

    fn optional<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<T>, Error> {
        decode_optional(self, &self.record.event, name)
    }

    fn shown(&self, name: &'static str) -> Result<Shown<String>, Error> {
        shown(self, &self.record.event, name)
    }
}

impl Sub<'_> {
    fn get<T: DeserializeOwned>(&self, name: &'static str) -> Result<T, Error> {
        decode(self.parent, self.value, name)
    }

    fn optional<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<T>, Error> {
        decode_optional(self.parent, self.value, name)
    }

    fn shown(&self, name: &'static str) -> Result<Shown<String>, Error> {
        shown(self.parent, self.value, name)
    }
}

fn decode<T: DeserializeOwned>(r: &Reader<'_>, v: &Value, name: &'static str) -> Result<T, Error> {
    v.get(name)
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .ok_or_else(|| r.missing(name))
}

fn decode_optional<T: DeserializeOwned>(
    r: &Reader<'_>,
    v: &Value,
    name: &'static str,
) -> Result<Option<T>, Error> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(f) => serde_json::from_value(f.clone())
            .map(Some)
            .map_err(|_| r.missing(name)),
    }
}

fn shown(r: &Reader<'_>, v: &Value, name: &'static str) -> Result<Shown<String>, Error> {
    let text: String = decode(r, v, name)?;
    Ok(if r.withheld && text == SEALED {
        Shown::Withheld
    } else {
        Shown::Clear(text)
    })
}
