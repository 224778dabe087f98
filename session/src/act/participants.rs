//! Who takes part and whether they are there: registration, joining and
//! leaving the live session, admission by a professional, pre-call
//! connection tests, and the interruption a lost participant causes.

use super::{Act, Decision, duration_ms};
use crate::Error;
use crate::event::ActEvent;
use crate::ids::ParticipantId;
use crate::participant::{Identity, Participant};
use crate::pii::Pii;
use crate::precall::ConnectionTest;
use crate::timestamp::Timestamp;
use crate::vocab::{LeaveReason, Phase, Role};

impl Decision<'_> {
    /// At most one patient, one requester and one expert, and at most
    /// [`Act::MAX_PARTICIPANTS`] in all, each with an identity that fits
    /// the role; numbered in order of registration.
    pub(super) fn register(&self, role: Role, identity: Identity) -> Result<Vec<ActEvent>, Error> {
        if !matches!(
            self.phase,
            Phase::Request | Phase::Preparation | Phase::Performance
        ) {
            return Err(self.illegal());
        }
        let matches_role = matches!(
            (&identity, role),
            (
                Identity::Professional { .. },
                Role::Requester | Role::Expert
            ) | (Identity::Patient { .. }, Role::Patient)
                | (Identity::Companion { .. }, Role::Companion)
        );
        if !matches_role {
            return Err(Error::InvalidInput(format!(
                "the identity given does not fit the role {role}"
            )));
        }
        if role != Role::Companion && self.participants.iter().any(|p| p.role == role) {
            return Err(Error::RoleTaken(role));
        }
        if self.participants.len() >= Act::MAX_PARTICIPANTS {
            return Err(Error::RoomFull(Act::MAX_PARTICIPANTS));
        }
        let id = ParticipantId(self.participants.len() as u32 + 1);
        Ok(vec![ActEvent::ParticipantRegistered(Participant {
            id,
            role,
            identity,
        })])
    }

    /// A registered participant's device joins, until the performance ends.
    pub(super) fn join(
        &self,
        participant: ParticipantId,
        user_agent: Pii<String>,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(participant)?;
        if self.phase > Phase::Performance {
            return Err(self.illegal());
        }
        Ok(vec![ActEvent::Joined {
            participant,
            user_agent,
        }])
    }

    pub(super) fn leave(
        &self,
        participant: ParticipantId,
        reason: LeaveReason,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(participant)?;
        Ok(vec![ActEvent::Left {
            participant,
            reason,
        }])
    }

    /// A professional lets a non-professional in, once, in preparation or
    /// performance.
    pub(super) fn admit(
        &self,
        participant: ParticipantId,
        by: ParticipantId,
    ) -> Result<Vec<ActEvent>, Error> {
        let admitted = self.participant(participant)?;
        if !self.participant(by)?.role.is_professional() {
            return Err(Error::InvalidInput(
                "only a professional admits participants".into(),
            ));
        }
        if admitted.role.is_professional() {
            return Err(Error::InvalidInput(format!(
                "participant {participant} is a professional, and professionals need no admission"
            )));
        }
        if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
            return Err(self.illegal());
        }
        if self.admitted.contains(&participant) {
            return Err(Error::AlreadyAdmitted(participant));
        }
        Ok(vec![ActEvent::Admitted { participant, by }])
    }

    pub(super) fn record_connection_test(
        &self,
        test: ConnectionTest,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(test.participant)?;
        Ok(vec![ActEvent::ConnectionTested(test)])
    }

    /// A participant lost during the performance interrupts it, once.
    pub(super) fn interrupt(
        &self,
        participant: ParticipantId,
        lost_for_ms: u64,
    ) -> Result<Vec<ActEvent>, Error> {
        self.participant(participant)?;
        if self.phase != Phase::Performance {
            return Err(self.illegal());
        }
        if self.is_interrupted_by(participant) {
            return Err(Error::InvalidInput(format!(
                "the act is already interrupted by participant {participant}'s absence"
            )));
        }
        Ok(vec![ActEvent::Interrupted {
            participant,
            lost_for_ms,
        }])
    }

    /// The participant whose loss interrupted the act is back.
    pub(super) fn resume(&self, participant: ParticipantId) -> Result<Vec<ActEvent>, Error> {
        let since = self
            .interrupted
            .iter()
            .find(|(p, _)| *p == participant)
            .map(|(_, at)| *at)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the act is not interrupted by participant {participant}"
                ))
            })?;
        Ok(vec![ActEvent::Resumed {
            participant,
            interrupted_ms: duration_ms(since, self.now),
        }])
    }
}

impl Act {
    pub(super) fn fold_registered(&mut self, p: &Participant) -> Result<(), Error> {
        if p.id.0 as usize != self.participants.len() + 1 {
            return Err(self.bad_trace(format!("participant {} registered out of order", p.id)));
        }
        self.participants.push(p.clone());
        Ok(())
    }

    pub(super) fn fold_admitted(
        &mut self,
        participant: ParticipantId,
        by: ParticipantId,
    ) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "participant {participant} is admitted but was never registered"
            )));
        }
        let admitter = self.participant(by).map_err(|_| {
            self.bad_trace(format!(
                "participant {participant} is admitted by participant {by}, who was never registered"
            ))
        })?;
        if !admitter.role.is_professional() {
            return Err(self.bad_trace(format!(
                "participant {participant} is admitted by participant {by}, who is not a professional"
            )));
        }
        if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
            return Err(self.bad_trace(format!(
                "participant {participant} is admitted in the {} phase, but admission happens only in preparation or performance",
                self.phase
            )));
        }
        if self.admitted.contains(&participant) {
            return Err(self.bad_trace(format!(
                "participant {participant} is admitted a second time"
            )));
        }
        self.admitted.push(participant);
        Ok(())
    }

    pub(super) fn fold_joined(&self, participant: ParticipantId) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "participant {participant} joins but was never registered"
            )));
        }
        Ok(())
    }

    pub(super) fn fold_left(&self, participant: ParticipantId) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "participant {participant} leaves but was never registered"
            )));
        }
        Ok(())
    }

    pub(super) fn fold_connection_tested(&mut self, test: &ConnectionTest) -> Result<(), Error> {
        if self.participant(test.participant).is_err() {
            return Err(self.bad_trace(format!(
                "a connection test is recorded for participant {}, who was never registered",
                test.participant
            )));
        }
        self.connection_tests
            .retain(|(p, _)| *p != test.participant);
        self.connection_tests.push((test.participant, test.verdict));
        Ok(())
    }

    pub(super) fn fold_interrupted(
        &mut self,
        participant: ParticipantId,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.participant(participant).is_err() {
            return Err(self.bad_trace(format!(
                "the act is interrupted by participant {participant}, who was never registered"
            )));
        }
        self.interrupted.push((participant, at));
        Ok(())
    }
}
