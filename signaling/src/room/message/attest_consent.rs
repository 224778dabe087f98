//! `attest_consent`: the requesting professional attests the patient's
//! consent (a téléexpertise held without the patient).

use session::Timestamp;
use session::act::Command;
use session::consent::{Consent, ConsentMethod, ConsentScope};
use session::participant::Role;

use super::{From, Handled};
use crate::consent_text;
use crate::room::{Room, Step};

impl Room {
    pub(super) fn attest_consent(
        &mut self,
        from: From,
        text_sha256: String,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if from.role != Role::Requester {
            return from.forbidden(step, "attest consent");
        }
        if consent_text::language_of(&consent_text::attestation_texts(), &text_sha256).is_none() {
            return from.refuse(
                step,
                "this attestation text is not the one the server shows",
            );
        }
        self.apply(
            Command::GiveConsent(Consent {
                scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                given_by: from.p,
                method: ConsentMethod::AttestedByProfessional { text_sha256 },
            }),
            now,
            step,
        );
        self.maybe_start(now, step);
        Handled::Changed
    }
}
