//! Consent to the act: who may give it, how, and its withdrawal. (The
//! ledger itself is [`crate::consent`]; its events fold in
//! [`Act::apply`](super::Act::apply).)

use super::Decision;
use crate::Error;
use crate::consent::{Consent, ConsentMethod, ConsentScope};
use crate::event::ActEvent;
use crate::ids::ParticipantId;
use crate::vocab::{Phase, Role};

impl Decision<'_> {
    /// The patient or companion consents electronically; in a téléexpertise
    /// without the patient, the requesting professional attests it.
    pub(super) fn give_consent(&self, consent: Consent) -> Result<Vec<ActEvent>, Error> {
        if consent.scopes.is_empty() {
            return Err(Error::InvalidInput(
                "a consent names at least one scope".into(),
            ));
        }
        let giver = self.participant(consent.given_by)?;
        match &consent.method {
            ConsentMethod::Electronic { .. } => {
                if !matches!(giver.role, Role::Patient | Role::Companion) {
                    return Err(Error::ConsentNotAllowed(
                        "electronic consent is given by the patient or their companion",
                    ));
                }
            }
            ConsentMethod::AttestedByProfessional { .. } => {
                if self.patient_present || giver.role != Role::Requester {
                    return Err(Error::ConsentNotAllowed(
                        "only the requesting professional attests consent, and only for a téléexpertise without the patient",
                    ));
                }
            }
        }
        if self.phase > Phase::Performance {
            return Err(self.illegal());
        }
        Ok(vec![ActEvent::ConsentGiven(consent)])
    }

    /// Withdraws the scopes that are granted; withdrawing nothing is refused.
    /// Withdrawing consent to the act stops every screen share first, as
    /// media stops.
    pub(super) fn withdraw_consent(
        &self,
        scopes: Vec<ConsentScope>,
        by: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(by)?;
        let granted: Vec<ConsentScope> = scopes
            .into_iter()
            .filter(|s| self.consent.has(*s))
            .collect();
        if granted.is_empty() {
            return Err(Error::ConsentNotAllowed("there is no consent to withdraw"));
        }
        let mut events = Vec::new();
        if granted.contains(&ConsentScope::TelemedicineAct) {
            events.extend(self.stop_screen_shares());
        }
        events.push(ActEvent::ConsentWithdrawn {
            scopes: granted,
            by,
        });
        Ok(events)
    }
}
