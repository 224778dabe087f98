//! `consent`: the patient (or a companion) accepts the consent text the
//! server shows; the performance may start.

use session::Timestamp;
use session::act::Command;
use session::consent::{Consent, ConsentMethod, ConsentScope};
use session::participant::Role;

use super::{From, Handled};
use crate::consent_text;
use crate::room::{Room, Step};

impl Room {
    pub(super) fn consent(
        &mut self,
        from: From,
        accept: bool,
        text_sha256: String,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if !matches!(from.role, Role::Patient | Role::Companion) {
            return from.forbidden(step, "give the patient's consent");
        }
        let texts = consent_text::patient_texts();
        let Some(language) = consent_text::language_of(&texts, &text_sha256) else {
            return from.refuse(step, "this consent text is not the one the server shows");
        };
        // A consent that already stands is not recorded again: a
        // client whose connection died before the server's answer
        // sends it once more after the return (docs/PROTOCOL.md).
        let standing = self.act.consent.has(ConsentScope::TelemedicineAct)
            && self.act.consent.has(ConsentScope::DataHosting);
        if accept && !standing {
            self.apply(
                Command::GiveConsent(Consent {
                    scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                    given_by: from.p,
                    method: ConsentMethod::Electronic {
                        text_sha256,
                        language,
                    },
                }),
                now,
                step,
            );
            self.maybe_start(now, step);
        }
        Handled::Changed
    }
}
