//! The patient's informed consent (art. R.6316-2 of the public health code,
//! from decree 2010-1229): what was consented to, by whom, how, when, and
//! whether it was withdrawn.

use serde::{Deserialize, Serialize};

use crate::ids::ParticipantId;
use crate::timestamp::Timestamp;

/// What a consent covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// The telemedicine act itself, including the audio and video link.
    TelemedicineAct,
    /// Hosting of the act's health data by the platform.
    DataHosting,
}

/// How consent was collected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsentMethod {
    /// The patient (or their companion) accepted on screen. `text_sha256` is
    /// the SHA-256 of the exact text shown, so the wording can be proven
    /// later; `language` is the language it was shown in (`fr`, `en`).
    Electronic {
        text_sha256: String,
        language: String,
    },
    /// A professional attests that the absent patient consented (a
    /// téléexpertise without the patient).
    AttestedByProfessional { text_sha256: String },
}

/// One consent given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub scopes: Vec<ConsentScope>,
    /// Who gave it (the patient, a companion, or the attesting professional).
    pub given_by: ParticipantId,
    pub method: ConsentMethod,
}

/// The consent state of an act, folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsentLedger {
    /// Current state per scope: when it was given, by whom; `None` once
    /// withdrawn.
    granted: Vec<(ConsentScope, Timestamp, ParticipantId)>,
    /// Every withdrawal, kept for display.
    pub withdrawals: Vec<(ConsentScope, Timestamp, ParticipantId)>,
}

impl ConsentLedger {
    pub fn give(&mut self, consent: &Consent, at: Timestamp) {
        for &scope in &consent.scopes {
            self.granted.retain(|(s, _, _)| *s != scope);
            self.granted.push((scope, at, consent.given_by));
        }
    }

    pub fn withdraw(&mut self, scopes: &[ConsentScope], by: ParticipantId, at: Timestamp) {
        for &scope in scopes {
            if self.has(scope) {
                self.granted.retain(|(s, _, _)| *s != scope);
                self.withdrawals.push((scope, at, by));
            }
        }
    }

    pub fn has(&self, scope: ConsentScope) -> bool {
        self.granted.iter().any(|(s, _, _)| *s == scope)
    }

    /// Media may flow only with consent to the act itself.
    pub fn allows_media(&self) -> bool {
        self.has(ConsentScope::TelemedicineAct)
    }
}

/// SHA-256 of a consent text, hex, as recorded in [`ConsentMethod`].
pub fn text_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(scopes: Vec<ConsentScope>) -> Consent {
        Consent {
            scopes,
            given_by: ParticipantId(2),
            method: ConsentMethod::Electronic {
                text_sha256: text_digest("J'accepte."),
                language: "fr".into(),
            },
        }
    }

    #[test]
    fn give_then_withdraw() {
        let mut l = ConsentLedger::default();
        assert!(!l.allows_media());
        l.give(
            &consent(vec![
                ConsentScope::TelemedicineAct,
                ConsentScope::DataHosting,
            ]),
            Timestamp::from_micros(1),
        );
        assert!(l.allows_media());
        l.withdraw(
            &[ConsentScope::TelemedicineAct],
            ParticipantId(2),
            Timestamp::from_micros(2),
        );
        assert!(!l.allows_media());
        assert!(l.has(ConsentScope::DataHosting));
        assert_eq!(l.withdrawals.len(), 1);
        // Withdrawing what is not granted records nothing.
        l.withdraw(
            &[ConsentScope::TelemedicineAct],
            ParticipantId(2),
            Timestamp::from_micros(3),
        );
        assert_eq!(l.withdrawals.len(), 1);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            text_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
