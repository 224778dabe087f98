//! Media: the gate (who may send and receive media now), the path a
//! connection settled on, each participant's mode (video, audio only,
//! phone route) and the call-back number the phone route needs.

use super::{Act, Decision};
use crate::Error;
use crate::event::ActEvent;
use crate::ids::ParticipantId;
use crate::mode::{MediaPath, PhoneNumber};
use crate::pii::Pii;
use crate::vocab::{MediaMode, ModeCause, Phase, Role};

impl Decision<'_> {
    /// Only in performance, for a participant media is allowed for.
    pub(super) fn record_media(&self, path: MediaPath) -> Result<Vec<ActEvent>, Error> {
        self.participant(path.participant)?;
        if self.phase != Phase::Performance {
            return Err(self.illegal());
        }
        self.check_media(path.participant)?;
        Ok(vec![ActEvent::MediaConnected(path)])
    }

    /// An automatic change comes from the participant's own client; a
    /// manual one from them or a professional; the phone route only from
    /// a professional, for someone who left a call-back number.
    pub(super) fn change_mode(
        &self,
        participant: ParticipantId,
        mode: MediaMode,
        cause: ModeCause,
        by: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        let who = self.participant(participant)?.role;
        let by_role = self.participant(by)?.role;
        if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
            return Err(self.illegal());
        }
        if by != participant && !by_role.is_professional() {
            return Err(Error::InvalidInput(
                "only a professional changes another participant's mode".into(),
            ));
        }
        if cause == ModeCause::Automatic && by != participant {
            return Err(Error::InvalidInput(
                "an automatic change comes from the participant's own client".into(),
            ));
        }
        if mode == MediaMode::Phone {
            if !by_role.is_professional() {
                return Err(Error::InvalidInput(
                    "only a professional switches to the phone route".into(),
                ));
            }
            if who.is_professional() || self.callback_number(participant).is_none() {
                return Err(Error::InvalidInput(format!(
                    "participant {participant} left no call-back number"
                )));
            }
        }
        if self.mode_of(participant) == mode {
            return Err(Error::InvalidInput(format!(
                "participant {participant} is already in {mode} mode"
            )));
        }
        Ok(vec![ActEvent::ModeChanged {
            participant,
            mode,
            cause,
            by,
        }])
    }

    /// The patient's or a companion's, until the performance ends.
    pub(super) fn give_callback_number(
        &self,
        participant: ParticipantId,
        number: Pii<PhoneNumber>,
    ) -> Result<Vec<ActEvent>, Error> {
        let role = self.participant(participant)?.role;
        if !matches!(role, Role::Patient | Role::Companion) {
            return Err(Error::InvalidInput(
                "a call-back number is the patient's or a companion's".into(),
            ));
        }
        if self.phase > Phase::Performance {
            return Err(self.illegal());
        }
        Ok(vec![ActEvent::CallbackNumberGiven {
            participant,
            number,
        }])
    }
}

impl Act {
    /// A participant's current mode: video until a change is recorded.
    pub fn mode_of(&self, participant: ParticipantId) -> MediaMode {
        self.modes
            .iter()
            .find(|(p, _)| *p == participant)
            .map_or(MediaMode::Video, |(_, m)| *m)
    }

    /// The latest call-back number `participant` left.
    pub fn callback_number(&self, participant: ParticipantId) -> Option<&Pii<PhoneNumber>> {
        self.callback_numbers
            .iter()
            .rev()
            .find(|(p, _)| *p == participant)
            .map(|(_, n)| n)
    }

    /// Media may flow only in performance, with consent to the act.
    pub fn media_allowed(&self) -> bool {
        self.phase == Phase::Performance && self.consent.allows_media()
    }

    /// Whether `participant` may send and receive media now: media is
    /// allowed (see [`Act::media_allowed`]) and they are a professional or
    /// were admitted.
    pub fn media_allowed_for(&self, participant: ParticipantId) -> bool {
        self.check_media(participant).is_ok()
    }

    /// Why `participant` may not have media now, if they may not.
    pub(super) fn check_media(&self, participant: ParticipantId) -> Result<(), Error> {
        let who = self.participant(participant)?;
        let refused = |reason| Error::MediaNotAllowed {
            participant,
            reason,
        };
        if self.phase != Phase::Performance {
            return Err(refused("the act is not in its performance phase"));
        }
        if !self.consent.allows_media() {
            return Err(refused("consent to the act is not standing"));
        }
        if !who.role.is_professional() && !self.admitted.contains(&participant) {
            return Err(refused("a professional has not admitted them"));
        }
        Ok(())
    }

    pub(super) fn fold_media_connected(&self, path: &MediaPath) -> Result<(), Error> {
        if self.participant(path.participant).is_err() {
            return Err(self.bad_trace(format!(
                "a media path is recorded for participant {}, who was never registered",
                path.participant
            )));
        }
        Ok(())
    }

    pub(super) fn fold_mode_changed(
        &mut self,
        participant: ParticipantId,
        mode: MediaMode,
        by: ParticipantId,
    ) -> Result<(), Error> {
        for p in [participant, by] {
            if self.participant(p).is_err() {
                return Err(self.bad_trace(format!(
                    "a mode change names participant {p}, who was never registered"
                )));
            }
        }
        self.modes.retain(|(p, _)| *p != participant);
        self.modes.push((participant, mode));
        Ok(())
    }

    pub(super) fn fold_callback_number(
        &mut self,
        participant: ParticipantId,
        number: &Pii<PhoneNumber>,
    ) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "participant {participant} leaves a call-back number but was never registered"
            )));
        }
        // Only the latest is used: keeping one per participant
        // bounds the act's memory whatever the trace holds.
        self.callback_numbers.retain(|(p, _)| *p != participant);
        self.callback_numbers.push((participant, number.clone()));
        Ok(())
    }
}
