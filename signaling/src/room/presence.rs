//! Who is connected, and who was lost: a hello attaches a connection to
//! its participant (replacing an older one), a dropped connection opens an
//! incident and is waited for until the recovery timeout, when the act is
//! marked interrupted; the return closes the incident and resumes the act.

use session::act::{Command, LeaveReason, Phase};
use session::incident::IncidentKind;
use session::participant::Role;
use session::{ParticipantId, Pii, Timestamp};

use super::{ConnId, LeftConnected, Output, Room, Step, error, millis};
use crate::budget::Exhausted;
use crate::consent_text;
use crate::protocol::{ActView, ErrorCode, ServerMessage, VERSION};

/// Longest user agent kept, in characters.
const MAX_USER_AGENT: usize = 256;

impl Room {
    /// A connection presented a valid invitation for `p`: welcomed (and a
    /// returning participant's absence ended), unless the act is over or
    /// the join budget is spent.
    pub(super) fn hello(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        user_agent: String,
        now: Timestamp,
        step: &mut Step,
    ) {
        if self.act.phase.is_terminal() {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::Ended {
                    reason: format!("this consultation has ended ({})", self.act.phase),
                },
            });
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ActEnded,
            });
            return;
        }
        let Some(role) = self.role(p) else {
            step.outputs.push(error(
                conn,
                ErrorCode::Forbidden,
                "not a participant of this act",
            ));
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ProtocolViolation,
            });
            return;
        };
        // Each join is recorded (and a lost connection before it is an
        // incident): a reconnection loop is held by its own budget.
        if let Err(spent) = self.budget.join(p, now) {
            let retry_after_secs = matches!(spent, Exhausted::JoinsMinute(_))
                .then(|| self.budget.join_retry_after(p, now));
            let message = match retry_after_secs {
                Some(secs) => format!("{spent} (try again in {secs} s)"),
                None => spent.to_string(),
            };
            step.outputs.push(error(conn, ErrorCode::Refused, &message));
            step.outputs.push(Output::RefuseJoin {
                conn,
                retry_after_secs,
            });
            return;
        }
        // A reload or reconnect resumes the same participant.
        if let Some(old) = self.conns.insert(p, conn) {
            step.outputs.push(Output::Close {
                conn: old,
                reason: LeaveReason::Replaced,
            });
            self.media_on.remove(&p);
            self.depart(p, LeaveReason::Replaced, now, step);
        }
        self.returned(p, now, step);
        let user_agent: String = user_agent.chars().take(MAX_USER_AGENT).collect();
        self.apply(
            Command::Join {
                participant: p,
                user_agent: Pii::new(user_agent),
            },
            now,
            step,
        );
        if self.act.phase == Phase::Request {
            self.apply(Command::Prepare, now, step);
        }
        // Consent may already stand (attested with a téléexpertise
        // request, or given before a reconnect): joining may be what the
        // performance was waiting for.
        self.maybe_start(now, step);
        let consent_texts = match role {
            Role::Patient | Role::Companion => consent_text::patient_texts(),
            Role::Requester if !self.act.patient_present => consent_text::attestation_texts(),
            _ => Vec::new(),
        };
        step.outputs.push(Output::Send {
            conn,
            msg: ServerMessage::Welcome {
                v: VERSION,
                participant: p.0,
                role,
                act: ActView {
                    id: self.act.id.to_string(),
                    kind: self.act.kind,
                    patient_present: self.act.patient_present,
                },
                consent_texts,
            },
        });
        self.broadcast_state(step);
    }

    /// A connection is gone: its participant leaves (for a lost
    /// connection, is waited for; for a protocol violation, loses its
    /// relay access).
    pub(super) fn closed(
        &mut self,
        conn: ConnId,
        reason: LeaveReason,
        silent_ms: u64,
        now: Timestamp,
        step: &mut Step,
    ) {
        // Lets the driver drop the connection's queue.
        step.outputs.push(Output::Close { conn, reason });
        if let Some(p) = self.participant_of(conn) {
            self.conns.remove(&p);
            self.depart(p, reason, now, step);
            if reason == LeaveReason::ConnectionLost {
                self.lose(p, now, silent_ms, step);
            }
            if reason == LeaveReason::ProtocolViolation {
                self.revoke_relay_of(p, step);
            }
            self.broadcast_state(step);
        }
    }

    /// A participant's connection dropped: an incident opens, and the
    /// clock of [`Room::tick`] starts.
    pub(super) fn lose(
        &mut self,
        p: ParticipantId,
        now: Timestamp,
        silent_ms: u64,
        step: &mut Step,
    ) {
        self.open_loss(p, now, silent_ms, false, step);
    }

    /// Opens a lost participant's incident (`server_outage` when their
    /// server stopped, not their connection) and starts waiting for them.
    fn open_loss(
        &mut self,
        p: ParticipantId,
        now: Timestamp,
        silent_ms: u64,
        server_outage: bool,
        step: &mut Step,
    ) {
        if self.act.phase.is_terminal() || self.lost.contains_key(&p) {
            return;
        }
        self.lost.insert(p, (now, silent_ms));
        let mut metrics = vec![("silent_before_ms".to_string(), silent_ms as f64)];
        if server_outage {
            metrics.push(("server_outage".to_string(), 1.0));
        }
        self.apply(
            Command::OpenIncident {
                kind: IncidentKind::SignalingDisconnected,
                participant: Some(p),
                metrics: metrics.into_iter().collect(),
            },
            now,
            step,
        );
    }

    /// The room runs an act whose previous room never closed its
    /// participants' connections: that room's server stopped without a
    /// word (killed, or a node lost, its act taken over here). Each
    /// participant the trace shows connected is recorded as gone with a
    /// lost connection, and an incident opens for each, marked
    /// `server_outage`, counting the silence from the act's last recorded
    /// event (as far as the trace knows, when the outage began); their
    /// return closes it with the whole outage's length, and a recovery
    /// timeout passed without them interrupts the act, as for any loss.
    pub(super) fn orphaned(&mut self, left: LeftConnected, now: Timestamp, step: &mut Step) {
        if self.act.phase.is_terminal() {
            return;
        }
        let silent_ms = left.since.map_or(0, |since| millis(since, now));
        for p in left.participants {
            if self.conns.contains_key(&p) || self.lost.contains_key(&p) {
                continue;
            }
            self.depart(p, LeaveReason::ConnectionLost, now, step);
            self.open_loss(p, now, silent_ms, true, step);
        }
    }

    /// A lost participant is back: their incident closes (its duration is
    /// the time they were away) and an interruption they caused ends.
    pub(super) fn returned(&mut self, p: ParticipantId, now: Timestamp, step: &mut Step) {
        let Some((since, silent_ms)) = self.lost.remove(&p) else {
            return;
        };
        let open = self.act.incidents.iter().rev().find(|i| {
            i.kind == IncidentKind::SignalingDisconnected
                && i.participant == Some(p)
                && i.closed_at.is_none()
        });
        if let Some(incident) = open.map(|i| i.id) {
            self.apply(
                Command::CloseIncident {
                    incident,
                    metrics: [
                        (
                            "reconnected_after_ms".to_string(),
                            millis(since, now) as f64,
                        ),
                        // From the last frame heard to the return.
                        (
                            "outage_ms".to_string(),
                            (millis(since, now) + silent_ms) as f64,
                        ),
                    ]
                    .into(),
                },
                now,
                step,
            );
        }
        if self.act.is_interrupted_by(p) {
            self.apply(Command::Resume { participant: p }, now, step);
        }
    }

    /// The earliest time a participant lost during the performance will
    /// have stayed away for the recovery timeout (see [`Room::tick`]).
    pub(super) fn recovery_deadline(&self) -> Option<Timestamp> {
        if self.act.phase != Phase::Performance {
            return None;
        }
        self.lost
            .iter()
            .filter(|(p, _)| !self.act.is_interrupted_by(**p))
            .map(|(_, (since, _))| since.plus(self.recovery_timeout))
            .min()
    }

    /// Marks the act interrupted when a participant lost during the
    /// performance stays away longer than the recovery timeout.
    pub(super) fn tick(&mut self, now: Timestamp, step: &mut Step) {
        if self.act.phase != Phase::Performance {
            return;
        }
        let limit = u64::try_from(self.recovery_timeout.as_millis()).unwrap_or(u64::MAX);
        let overdue: Vec<(ParticipantId, u64)> = self
            .lost
            .iter()
            .filter(|(p, _)| !self.act.is_interrupted_by(**p))
            .map(|(p, (since, _))| (*p, millis(*since, now)))
            .filter(|(_, ms)| *ms >= limit)
            .collect();
        for &(participant, lost_for_ms) in &overdue {
            self.apply(
                Command::Interrupt {
                    participant,
                    lost_for_ms,
                },
                now,
                step,
            );
        }
        if !overdue.is_empty() {
            self.broadcast_state(step);
        }
    }

    /// The act is over: tell everyone and close. (The trace's terminal
    /// event marks the end; no leave is recorded after it.)
    pub(super) fn end_for_all(&mut self, step: &mut Step) {
        let reason = format!("the act is {}", self.act.phase);
        let conns = std::mem::take(&mut self.conns);
        self.media_on.clear();
        for conn in conns.into_values() {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::StopMedia {
                    reason: reason.clone(),
                },
            });
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::Ended {
                    reason: reason.clone(),
                },
            });
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ActEnded,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session::ActEvent;

    use crate::budget::BudgetLimits;
    use crate::room::testing::*;
    use crate::room::*;

    #[test]
    fn a_lost_connection_waits_then_interrupts_and_the_return_resumes() {
        let mut r = live_room(30);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left", "incident_opened"]);
        let view = r.view_for(PRO);
        assert!(
            view.participants
                .iter()
                .any(|p| p.id == 2 && p.reconnecting)
        );
        // Ticks before the timeout change nothing; the one after it
        // interrupts, once.
        for at in [11, 20, 39] {
            assert!(r.handle(Input::Tick, t(at)).events.is_empty(), "at {at}");
        }
        let s = r.handle(Input::Tick, t(40));
        assert_eq!(kinds(&s), ["interrupted"]);
        assert!(matches!(
            s.events[0].body,
            ActEvent::Interrupted {
                lost_for_ms: 30_000,
                ..
            }
        ));
        assert!(r.view_for(PRO).interrupted);
        assert!(r.handle(Input::Tick, t(41)).events.is_empty());
        // Back 50 s after the loss: the incident closes, the act resumes.
        let s = r.handle(
            Input::Hello {
                conn: 21,
                participant: PATIENT,
                user_agent: "test".into(),
            },
            t(60),
        );
        assert_eq!(kinds(&s)[..3], ["incident_closed", "resumed", "joined"]);
        assert!(matches!(
            s.events[0].body,
            ActEvent::IncidentClosed {
                duration_ms: 50_000,
                ..
            }
        ));
        assert!(matches!(
            s.events[1].body,
            ActEvent::Resumed {
                interrupted_ms: 20_000,
                ..
            }
        ));
        let view = r.view_for(PRO);
        assert!(!view.interrupted);
        assert!(view.participants.iter().all(|p| !p.reconnecting));
    }

    #[test]
    fn the_room_asks_to_be_woken_at_its_recovery_deadline() {
        let mut r = live_room(30);
        assert_eq!(r.poll_timeout(), None, "nothing to wait for");
        let lost = |conn| Input::Closed {
            conn,
            reason: LeaveReason::ConnectionLost,
            silent_ms: 0,
        };
        r.handle(lost(20), t(10));
        assert_eq!(r.poll_timeout(), Some(t(40)));
        r.handle(lost(10), t(15));
        assert_eq!(r.poll_timeout(), Some(t(40)), "the earliest deadline");
        assert_eq!(kinds(&r.handle(Input::Tick, t(40))), ["interrupted"]);
        assert_eq!(r.poll_timeout(), Some(t(45)));
        r.handle(Input::Tick, t(45));
        assert_eq!(r.poll_timeout(), None, "both interrupted");

        // In the waiting room, a drop is waited for by no deadline.
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        r.handle(lost(20), t(10));
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn leaving_by_choice_or_before_the_call_is_no_interruption() {
        let mut r = live_room(5);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::LeftByChoice,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left"], "a choice is no incident");
        assert!(r.handle(Input::Tick, t(100)).events.is_empty());

        // In the waiting room, a drop is an incident but never interrupts.
        let mut r = room().with_recovery_timeout(Duration::from_secs(5));
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left", "incident_opened"]);
        assert!(r.handle(Input::Tick, t(100)).events.is_empty());
    }

    #[test]
    fn a_room_rebuilt_after_its_server_died_records_the_outage() {
        // Both joined at t(1); the server dies with them connected. A new
        // room (another node's, or a restarted server's) runs the act as
        // the trace left it.
        let live = live_room(30);
        let left = LeftConnected {
            participants: vec![PRO, PATIENT],
            since: Some(t(1)),
        };
        let mut r = Room::new(live.act().clone(), vec![])
            .with_recovery_timeout(Duration::from_secs(30))
            .with_left_connected(left);
        let s = r.handle(
            Input::Hello {
                conn: 30,
                participant: PATIENT,
                user_agent: "test".into(),
            },
            t(21),
        );
        assert_eq!(
            kinds(&s)[..4],
            ["left", "incident_opened", "left", "incident_opened"],
            "each participant left connected is lost, with an incident"
        );
        let opened: Vec<_> = s
            .events
            .iter()
            .filter_map(|e| match &e.body {
                ActEvent::IncidentOpened { metrics, .. } => Some(metrics.clone()),
                _ => None,
            })
            .collect();
        for metrics in &opened {
            assert_eq!(metrics.get("server_outage"), Some(&1.0));
            // Silent since the last recorded event (the admission, at t(1)).
            assert_eq!(metrics.get("silent_before_ms"), Some(&20_000.0));
        }
        // The patient's return closes theirs with the whole outage.
        let closed = s.events.iter().find_map(|e| match &e.body {
            ActEvent::IncidentClosed { metrics, .. } => Some(metrics.clone()),
            _ => None,
        });
        assert_eq!(closed.expect("closed").get("outage_ms"), Some(&20_000.0));
        assert!(kinds(&s).contains(&"joined"));
        // Once only: the next input records no second outage.
        let s = hello(&mut r, 31, PRO);
        assert!(!kinds(&s).contains(&"incident_opened"), "{:?}", kinds(&s));
        assert!(r.act().incidents.iter().all(|i| i.closed_at.is_some()));
    }

    #[test]
    fn a_room_on_a_trace_that_closed_its_connections_records_no_outage() {
        let mut r = live_room(30);
        for conn in [10, 20] {
            r.handle(
                Input::Closed {
                    conn,
                    reason: LeaveReason::LeftByChoice,
                    silent_ms: 0,
                },
                t(5),
            );
        }
        let mut r = Room::new(r.act().clone(), vec![]).with_left_connected(LeftConnected {
            participants: vec![],
            since: Some(t(5)),
        });
        let s = hello(&mut r, 30, PRO);
        assert_eq!(kinds(&s), ["joined"]);
    }

    #[test]
    fn who_was_left_connected_is_read_from_the_events() {
        let mut r = room();
        let mut events = Vec::new();
        events.extend(hello(&mut r, 10, PRO).events);
        events.extend(hello(&mut r, 20, PATIENT).events);
        events.extend(
            r.handle(
                Input::Closed {
                    conn: 10,
                    reason: LeaveReason::LeftByChoice,
                    silent_ms: 0,
                },
                t(4),
            )
            .events,
        );
        let left = LeftConnected::from_events(&events);
        assert_eq!(left.participants, [PATIENT]);
        assert_eq!(left.since, Some(t(4)));
        assert_eq!(LeftConnected::from_events(&[]), LeftConnected::default());
    }

    #[test]
    fn reconnect_replaces_the_old_connection() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = hello(&mut r, 11, PRO);
        assert!(s.outputs.contains(&Output::Close {
            conn: 10,
            reason: LeaveReason::Replaced
        }));
        assert_eq!(r.connected(), 1);
        let kinds: Vec<_> = s.events.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds, ["left", "joined"]);
        // The old connection closing later changes nothing.
        let s = r.handle(
            Input::Closed {
                conn: 10,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(3),
        );
        assert!(s.events.is_empty());
        assert_eq!(r.connected(), 1);
    }

    #[test]
    fn a_join_refused_by_its_budget_says_when_to_retry_or_that_it_is_spent() {
        let mut room = room().with_budget(BudgetLimits {
            joins_per_minute: 2,
            joins_total: 3,
            ..BudgetLimits::default()
        });
        let join = |room: &mut Room, conn: ConnId, at: i64| {
            room.handle(
                Input::Hello {
                    conn,
                    participant: PATIENT,
                    user_agent: "test".into(),
                },
                t(at),
            )
        };
        let refusal = |step: &Step| {
            step.outputs.iter().find_map(|o| match o {
                Output::RefuseJoin {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                Output::Close {
                    reason: LeaveReason::ProtocolViolation,
                    ..
                } => panic!("closed as a violation"),
                _ => None,
            })
        };
        assert_eq!(refusal(&join(&mut room, 20, 1)), None);
        assert_eq!(refusal(&join(&mut room, 21, 11)), None);
        // The minute that began at 1 s ends at 61 s: 50 s from 11 s.
        let later = join(&mut room, 22, 11);
        assert_eq!(refusal(&later), Some(Some(50)));
        assert!(matches!(
            sent_to(&later, 22)[..],
            [ServerMessage::Error { code: ErrorCode::Refused, message }]
                if message.contains("try again in 50 s")
        ));
        assert!(later.events.is_empty());
        assert_eq!(refusal(&join(&mut room, 23, 61)), None);
        // The act's total is spent: no retry to offer.
        assert_eq!(refusal(&join(&mut room, 24, 200)), Some(None));
    }

    #[test]
    fn messages_before_hello_are_refused() {
        let mut r = room();
        let s = say(&mut r, 99, ClientMessage::Ping {});
        assert!(matches!(
            sent_to(&s, 99)[0],
            ServerMessage::Error {
                code: ErrorCode::HelloFirst,
                ..
            }
        ));
        assert!(s.events.is_empty());
    }
}
