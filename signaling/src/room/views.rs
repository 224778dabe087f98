//! What each participant is shown: the room's state as its role may see
//! it, and the live notifications of the step's events.

use session::ParticipantId;
use session::participant::{Identity, Role};

use super::{Output, Room, Step};
use crate::live::{self, Audience};
use crate::protocol::{ParticipantView, RoomView, ServerMessage};

impl Room {
    pub(super) fn broadcast_state(&self, step: &mut Step) {
        for (&viewer, &conn) in &self.conns {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::State(self.view_for(viewer)),
            });
        }
    }

    /// The room as `viewer` may see it: professionals' names for everyone,
    /// the patient's alias and a companion's name for professionals only.
    pub(super) fn view(&self, viewer: ParticipantId) -> RoomView {
        let viewer_is_pro = self.role(viewer).is_some_and(Role::is_professional);
        let participants = self
            .act
            .participants
            .iter()
            .map(|x| {
                let display_name = match &x.identity {
                    Identity::Professional { name, .. } => Some(name.expose().clone()),
                    Identity::Patient { alias } if viewer_is_pro => {
                        Some(alias.expose().as_str().to_string())
                    }
                    Identity::Companion { name } if viewer_is_pro => Some(name.expose().clone()),
                    _ => None,
                };
                ParticipantView {
                    id: x.id.0,
                    role: x.role,
                    display_name,
                    connected: self.conns.contains_key(&x.id),
                    admitted: x.role.is_professional() || self.act.admitted.contains(&x.id),
                    connection: self.act.connection_verdict(x.id).filter(|_| viewer_is_pro),
                    reconnecting: self.lost.contains_key(&x.id),
                    screen_sharing: self.act.is_sharing_screen(x.id),
                }
            })
            .collect();
        RoomView {
            phase: self.act.phase,
            participants,
            consent_given: self.act.consent.allows_media(),
            interrupted: !self.act.interrupted.is_empty(),
            media_allowed: self.media_allowed(viewer),
        }
    }

    /// Tells professionals (and, for mode changes, everyone) what the
    /// step's events mean live; see [`crate::live`].
    pub(super) fn notify_live(&self, step: &mut Step) {
        for (audience, msg) in live::notifications(&self.act, &step.events) {
            for (&viewer, &conn) in &self.conns {
                let pro = self.role(viewer).is_some_and(Role::is_professional);
                if audience == Audience::Everyone || pro {
                    step.outputs.push(Output::Send {
                        conn,
                        msg: msg.clone(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::room::testing::*;

    #[test]
    fn patient_sees_the_doctor_but_not_its_own_alias_listed_to_others() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let patient_view = r.view_for(PATIENT);
        assert_eq!(
            patient_view.participants[0].display_name.as_deref(),
            Some("Dr Fictif")
        );
        assert_eq!(patient_view.participants[1].display_name, None);
        let pro_view = r.view_for(PRO);
        assert_eq!(
            pro_view.participants[1].display_name.as_deref(),
            Some("dossier-1")
        );
    }
}
