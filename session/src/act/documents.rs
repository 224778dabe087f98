//! Documents attached to an act: by its professionals, once the patient's
//! consent to the act is recorded or attested, before the act concludes;
//! within the per-file, per-act and count limits of [`crate::document`].
//! The content is stored apart, sealed (see `TraceStore::attach`); the
//! trace records its digest, type, size, sealed name, who and when.

use super::{Act, Decision};
use crate::Error;
use crate::document::{
    DocumentError, DocumentType, MAX_ACT_DOCUMENT_BYTES, MAX_ATTACHMENTS, MAX_DOCUMENT_BYTES,
    clean_name,
};
use crate::event::ActEvent;
use crate::ids::{ParticipantId, Sha256};
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::vocab::Phase;

/// A document attached to the act, as the act records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The SHA-256 of its content: where the store keeps it.
    pub document: Sha256,
    pub media_type: DocumentType,
    pub size: u64,
    /// Its file name, without directories.
    pub name: Pii<String>,
    pub by: ParticipantId,
    pub at: Timestamp,
}

impl Decision<'_> {
    pub(super) fn attach(
        &self,
        document: Sha256,
        media_type: DocumentType,
        size: u64,
        name: Pii<String>,
        by: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        if !self.participant(by)?.role.is_professional() {
            return Err(Error::NotAProfessional(by));
        }
        if !matches!(
            self.phase,
            Phase::Request | Phase::Preparation | Phase::Performance
        ) {
            return Err(self.illegal());
        }
        if !self.consent.allows_media() {
            return Err(Error::ConsentRequired);
        }
        let name = clean_name(name.expose())?;
        if size > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge {
                size,
                max: MAX_DOCUMENT_BYTES,
            }
            .into());
        }
        if self.attachments.iter().any(|a| a.document == document) {
            return Err(Error::DuplicateDocument(document));
        }
        if self.attachments.len() >= MAX_ATTACHMENTS {
            return Err(Error::TooManyAttachments(MAX_ATTACHMENTS));
        }
        let total = self.documents_size().saturating_add(size);
        if total > MAX_ACT_DOCUMENT_BYTES {
            return Err(Error::ActDocumentsFull {
                total,
                max: MAX_ACT_DOCUMENT_BYTES,
            });
        }
        Ok(vec![ActEvent::AttachmentAdded {
            document,
            media_type,
            size,
            name: Pii::new(name),
            by,
        }])
    }
}

impl Act {
    /// What the attached documents weigh together, in bytes.
    pub fn documents_size(&self) -> u64 {
        self.attachments.iter().map(|a| a.size).sum()
    }

    /// The attachment whose content has this digest.
    pub fn attachment(&self, document: &Sha256) -> Option<&Attachment> {
        self.attachments.iter().find(|a| a.document == *document)
    }

    pub(super) fn fold_attachment_added(
        &mut self,
        document: Sha256,
        media_type: DocumentType,
        size: u64,
        name: &Pii<String>,
        by: ParticipantId,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.participant(by).is_err() {
            return Err(self.bad_trace(format!(
                "participant {by} attaches a document but was never registered"
            )));
        }
        if self.attachment(&document).is_some() {
            return Err(self.bad_trace(format!("document {document} is attached twice")));
        }
        self.attachments.push(Attachment {
            document,
            media_type,
            size,
            name: name.clone(),
            by,
            at,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::ActKind;
    use crate::consent::{Consent, ConsentMethod, ConsentScope};
    use crate::ids::ActId;
    use crate::participant::{Identity, Role};
    use crate::{Command, Event};

    const REQUESTER: ParticipantId = ParticipantId(1);
    const PATIENT: ParticipantId = ParticipantId(2);

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
    }

    /// A teleconsultation in request, requester p1 and patient p2, and
    /// every event it made.
    fn fresh() -> (Act, Vec<Event>) {
        let (mut act, first) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
        let mut events = vec![first];
        let register = |role, identity| Command::Register { role, identity };
        for c in [
            register(
                Role::Requester,
                Identity::Professional {
                    name: Pii::new("Dr Test Requerant".into()),
                    rpps: Pii::new("10000000009".parse().unwrap()),
                },
            ),
            register(
                Role::Patient,
                Identity::Patient {
                    alias: Pii::new("dossier-0001".parse().unwrap()),
                },
            ),
        ] {
            events.extend(act.handle(c, t(1)).unwrap());
        }
        (act, events)
    }

    fn consent() -> Command {
        Command::GiveConsent(Consent {
            scopes: vec![ConsentScope::TelemedicineAct],
            given_by: PATIENT,
            method: ConsentMethod::Electronic {
                text_sha256: "0".repeat(64),
                language: "fr".into(),
            },
        })
    }

    fn attach(n: u8, size: u64, name: &str, by: ParticipantId) -> Command {
        Command::Attach {
            document: Sha256::from_bytes([n; 32]),
            media_type: DocumentType::Png,
            size,
            name: Pii::new(name.into()),
            by,
        }
    }

    #[test]
    fn attachments_wait_for_consent_and_come_from_professionals() {
        let (mut act, _) = fresh();
        let before = act.clone();
        let e = act.handle(attach(1, 10, "radio.png", REQUESTER), t(2));
        assert!(matches!(e, Err(Error::ConsentRequired)), "{e:?}");
        assert_eq!(act, before);
        act.handle(consent(), t(3)).unwrap();
        let e = act.handle(attach(1, 10, "radio.png", PATIENT), t(4));
        assert!(matches!(e, Err(Error::NotAProfessional(PATIENT))), "{e:?}");
        let events = act
            .handle(attach(1, 10, "C:\\scans\\radio.png", REQUESTER), t(5))
            .unwrap();
        let [
            Event {
                body: ActEvent::AttachmentAdded { name, .. },
                ..
            },
        ] = events.as_slice()
        else {
            panic!("{events:?}")
        };
        assert_eq!(name.expose(), "radio.png");
        assert_eq!(act.attachments.len(), 1);
        assert_eq!(act.attachments[0].at, t(5));
        let e = act.handle(attach(1, 10, "copie.png", REQUESTER), t(6));
        assert!(matches!(e, Err(Error::DuplicateDocument(_))), "{e:?}");
        let e = act.handle(attach(2, 10, "a\u{1b}b.png", REQUESTER), t(6));
        assert!(
            matches!(e, Err(Error::Document(DocumentError::NameControl))),
            "{e:?}"
        );
    }

    #[test]
    fn limits_per_file_per_act_and_in_number() {
        let (mut act, _) = fresh();
        act.handle(consent(), t(2)).unwrap();
        let e = act.handle(attach(1, MAX_DOCUMENT_BYTES + 1, "x.png", REQUESTER), t(3));
        assert!(
            matches!(e, Err(Error::Document(DocumentError::TooLarge { .. }))),
            "{e:?}"
        );
        for n in 0..10 {
            act.handle(attach(n, MAX_DOCUMENT_BYTES, "x.png", REQUESTER), t(4))
                .unwrap();
        }
        assert_eq!(act.documents_size(), MAX_ACT_DOCUMENT_BYTES);
        let e = act.handle(attach(10, 1, "x.png", REQUESTER), t(5));
        assert!(
            matches!(e, Err(Error::ActDocumentsFull { total, max })
                if total == MAX_ACT_DOCUMENT_BYTES + 1 && max == MAX_ACT_DOCUMENT_BYTES),
            "{e:?}"
        );
        let (mut act, _) = fresh();
        act.handle(consent(), t(2)).unwrap();
        for n in 0..MAX_ATTACHMENTS {
            let mut c = attach(0, 1, "x.png", REQUESTER);
            if let Command::Attach { document, .. } = &mut c {
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
                *document = Sha256::from_bytes(bytes);
            }
            act.handle(c, t(3)).unwrap();
        }
        let e = act.handle(attach(0xff, 1, "x.png", REQUESTER), t(4));
        assert!(matches!(e, Err(Error::TooManyAttachments(200))), "{e:?}");
    }

    #[test]
    fn not_after_the_performance_and_replayed_as_recorded() {
        let (mut act, mut events) = fresh();
        for c in [consent(), Command::Prepare, Command::StartPerformance] {
            events.extend(act.handle(c, t(2)).unwrap());
        }
        events.extend(
            act.handle(attach(1, 5, "radio.png", REQUESTER), t(3))
                .unwrap(),
        );
        assert_eq!(Act::replay(act.id, &events).unwrap(), act);
        // A document attached twice in a trace does not replay.
        let mut twice = events.clone();
        twice.push(events.last().unwrap().clone());
        assert!(matches!(
            Act::replay(act.id, &twice),
            Err(Error::InvalidTrace(_))
        ));
        act.handle(Command::EndPerformance, t(4)).unwrap();
        let e = act.handle(attach(2, 5, "radio.png", REQUESTER), t(5));
        assert!(matches!(e, Err(Error::IllegalTransition { .. })), "{e:?}");
    }
}
