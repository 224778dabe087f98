//! The media gate: who may send media now, told once either way (ICE
//! servers, or `stop_media`), and relay access following it: revoked for
//! the whole act when media stops or the act ends, for one participant who
//! leaves or is put out, and reopened when media is allowed again.

use session::ParticipantId;

use super::{ConnId, Output, Room, Step};
use crate::protocol::ServerMessage;

impl Room {
    /// A participant left the session by choice, or was put out: their
    /// relay credentials (call and connection test) and allocations go now,
    /// not at the act's end.
    pub(super) fn revoke_relay_of(&mut self, p: ParticipantId, step: &mut Step) {
        if !self.relay_ended && self.relay_left.insert(p) {
            step.outputs.push(Output::RevokeRelay(vec![p]));
        }
    }

    /// Sends ICE servers to whoever just became allowed media, and
    /// `stop_media` to whoever just lost it.
    pub(super) fn announce_media(&mut self, step: &mut Step) {
        let connected: Vec<(ParticipantId, ConnId)> =
            self.conns.iter().map(|(p, c)| (*p, *c)).collect();
        for (p, conn) in connected {
            let allowed = self.media_allowed(p);
            if allowed && self.media_on.insert(p) {
                if self.relay_left.remove(&p) {
                    step.outputs.push(Output::ReopenRelayFor(p));
                }
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::IceServers {
                        servers: (self.ice)(self.act.id, p),
                    },
                });
            } else if !allowed && self.media_on.remove(&p) {
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::StopMedia {
                        reason: "media is no longer allowed (consent withdrawn)".into(),
                    },
                });
            }
        }
        // Participants no longer connected lose their media status.
        let conns = &self.conns;
        self.media_on.retain(|p| conns.contains_key(p));
        // Relay access follows the act's permission as a whole.
        // An act that ends revokes every credential issued for it, its
        // connection-test ones included, whether media ever flowed or not.
        let act_media = self.act.media_allowed();
        let ended = self.act.phase.is_terminal();
        if (self.act_media && !act_media) || (ended && !self.relay_ended) {
            step.outputs.push(Output::RevokeRelay(
                self.act.participants.iter().map(|p| p.id).collect(),
            ));
            self.relay_revoked = true;
            self.relay_ended = ended;
        } else if !self.act_media && act_media && self.relay_revoked {
            step.outputs.push(Output::ReopenRelay);
            self.relay_revoked = false;
        }
        self.act_media = act_media;
    }
}

#[cfg(test)]
mod tests {
    use crate::room::testing::*;
    use crate::room::*;

    #[test]
    fn withdrawal_stops_media_at_once() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        let s = say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert!(
            s.events
                .iter()
                .any(|e| e.body.kind() == "consent_withdrawn")
        );
        for conn in [10, 20] {
            assert!(
                sent_to(&s, conn)
                    .iter()
                    .any(|m| matches!(m, ServerMessage::StopMedia { .. }))
            );
        }
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])),
            "relay credentials are revoked for the whole act"
        );
        let s = say(
            &mut r,
            10,
            ClientMessage::Signal {
                to: 2,
                data: offer(),
            },
        );
        assert!(sent_to(&s, 20).is_empty(), "no relaying after withdrawal");
        // Consent given anew: credentials may be issued again.
        let s = consent(&mut r, 20);
        assert!(s.outputs.contains(&Output::ReopenRelay), "{:?}", s.outputs);
        // The act's end revokes them for good.
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: "RAS".into(),
                prescriptions: vec![],
            },
        );
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
    }

    #[test]
    fn a_participant_who_leaves_or_is_put_out_loses_relay_access_until_back() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        let revokes = |s: &Step| {
            s.outputs
                .iter()
                .filter(|o| matches!(o, Output::RevokeRelay(_)))
                .count()
        };
        // A dropped connection keeps its relay path: they are expected back.
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(2),
        );
        assert_eq!(revokes(&s), 0, "{:?}", s.outputs);
        hello(&mut r, 21, PATIENT);
        // Leaving by choice revokes that participant's credentials only.
        let s = say(&mut r, 21, ClientMessage::Leave {});
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PATIENT])),
            "{:?}",
            s.outputs
        );
        assert_eq!(revokes(&s), 1);
        // Back while media is allowed: reopened before the ICE servers that
        // carry the new credentials.
        let s = hello(&mut r, 22, PATIENT);
        let reopen = s
            .outputs
            .iter()
            .position(|o| *o == Output::ReopenRelayFor(PATIENT))
            .expect("the returning participant is reopened");
        let ice = s
            .outputs
            .iter()
            .position(|o| {
                matches!(
                    o,
                    Output::Send {
                        conn: 22,
                        msg: ServerMessage::IceServers { .. }
                    }
                )
            })
            .expect("the returning participant gets ICE servers");
        assert!(reopen < ice, "{:?}", s.outputs);
        // Put out for breaking the protocol: revoked as well.
        let s = r.handle(
            Input::Closed {
                conn: 22,
                reason: LeaveReason::ProtocolViolation,
                silent_ms: 0,
            },
            t(2),
        );
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PATIENT])),
            "{:?}",
            s.outputs
        );
        // The professional was never revoked.
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: "RAS".into(),
                prescriptions: vec![],
            },
        );
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
    }
}
