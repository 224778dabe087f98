//! The two incident detectors wired to the act: the participants'
//! `stats` reports (see the `stats` message) and the relay's view of their
//! allocations, read on a one-second grid while someone's media may go
//! through it. Their decisions become the act's incidents; a participant
//! whose media stopped has its incidents closed.

use std::collections::BTreeMap;
use std::time::Duration;

use session::act::MediaRoute;
use session::incident::{IncidentEvent, RelaySample};
use session::{ParticipantId, Timestamp};

use super::{Room, Step};

impl Room {
    /// Judges the relay's view of every participant allowed media (those
    /// absent from `traffic` have no allocation). Participants not allowed
    /// media are not judged: the allocations the server revokes when
    /// consent is withdrawn or the act ends are not lost ones.
    pub(super) fn relay_traffic(
        &mut self,
        traffic: &BTreeMap<ParticipantId, RelaySample>,
        now: Timestamp,
        step: &mut Step,
    ) {
        let watched: Vec<ParticipantId> = self.relay_watched().collect();
        for p in watched {
            let sample = traffic.get(&p).copied().unwrap_or_default();
            let events = self.relay_detector.observe(p, &sample, now);
            self.record_incidents(events, now, step);
        }
    }

    /// The participants whose relay traffic is judged: allowed media, and
    /// not reported on a direct pair.
    pub(super) fn relay_watched(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.conns
            .keys()
            .copied()
            .filter(|p| self.media_allowed(*p) && !self.off_relay.contains(p))
    }

    /// Moves the relay's next read to the first point of its grid after
    /// `now` (the grid starts at the room's first input) once a read was
    /// taken (`sampled`), or when nobody is watched and none would be. A
    /// read that fell due while the room handled other inputs stays due:
    /// [`Room::poll_timeout`] then says "now", and it is taken next.
    pub(super) fn schedule_relay(&mut self, now: Timestamp, sampled: bool) {
        let Some(every) = self.relay_every else {
            return;
        };
        let due = *self.relay_due.get_or_insert(now);
        let pending = !sampled && self.relay_watched().next().is_some();
        if due <= now && !pending {
            let every_us = every.as_micros().max(1);
            let behind = now.since(due).as_micros() / every_us + 1;
            let step = u64::try_from(every_us * behind).unwrap_or(u64::MAX);
            self.relay_due = Some(due.plus(Duration::from_micros(step)));
        }
    }

    /// Follows the route a participant's client reports. Moving to a direct
    /// pair ends the relay's watch of them (closing what it had open: the
    /// media did not stop, it moved); moving back starts a fresh watch.
    pub(super) fn follow_route(
        &mut self,
        p: ParticipantId,
        route: Option<MediaRoute>,
        now: Timestamp,
        step: &mut Step,
    ) {
        match route {
            // Only the first direct report after the relay ends the watch.
            Some(MediaRoute::Direct) if self.off_relay.insert(p) => {
                let events = self.relay_detector.leave(p, now);
                self.record_incidents(events, now, step);
            }
            Some(MediaRoute::Relay) => {
                self.off_relay.remove(&p);
            }
            _ => {}
        }
    }

    /// Records the detector's decisions in the act. A close whose incident
    /// the act already closed (the act ended meanwhile) has nothing to do.
    pub(super) fn record_incidents(
        &mut self,
        events: Vec<IncidentEvent>,
        now: Timestamp,
        step: &mut Step,
    ) {
        for event in events {
            let key = event.key();
            let opened_as = match event {
                IncidentEvent::Open { .. } => None,
                IncidentEvent::Close { .. } => {
                    let Some(id) = self.incident_ids.remove(&key) else {
                        continue;
                    };
                    if self
                        .act
                        .incidents
                        .iter()
                        .any(|i| i.id == id && i.closed_at.is_some())
                    {
                        continue;
                    }
                    Some(id)
                }
            };
            let Some(command) = event.to_command(opened_as) else {
                continue;
            };
            if self.apply(command, now, step)
                && opened_as.is_none()
                && let Some(opened) = self.act.incidents.last()
            {
                self.incident_ids.insert(key, opened.id);
            }
        }
    }

    /// A participant whose media stopped (gone, consent withdrawn, act
    /// ended) reports no more, and its relay allocations are not watched:
    /// its open incidents end now.
    pub(super) fn close_incidents_without_media(&mut self, now: Timestamp, step: &mut Step) {
        let gone: Vec<ParticipantId> = self
            .detector
            .participants()
            .filter(|p| !self.media_allowed(*p))
            .collect();
        for p in gone {
            let events = self.detector.leave(p, now);
            self.record_incidents(events, now, step);
        }
        let gone: Vec<ParticipantId> = self
            .relay_detector
            .participants()
            .filter(|p| !self.media_allowed(*p))
            .collect();
        for p in gone {
            let events = self.relay_detector.leave(p, now);
            self.record_incidents(events, now, step);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session::ActEvent;
    use session::act::MediaRoute;
    use session::incident::IncidentKind;

    use crate::room::testing::*;
    use crate::room::*;

    #[test]
    fn the_relay_s_view_opens_incidents_but_not_for_what_the_server_revokes() {
        let mut r = live_room(30);
        // The allocation appears, carries media, then is deleted: one
        // incident, closed by a new allocation.
        r.handle(relay(None, 0), t(3));
        for at in 4..8 {
            assert!(
                r.handle(relay(Some(50 * (at - 3) as u64), at), t(at))
                    .events
                    .is_empty()
            );
        }
        let s = r.handle(relay(None, 0), t(8));
        assert_eq!(kinds(&s), ["incident_opened"]);
        let ActEvent::IncidentOpened {
            kind, participant, ..
        } = &s.events[0].body
        else {
            panic!("{s:?}");
        };
        assert_eq!(
            (*kind, *participant),
            (IncidentKind::RelayAllocationLost, Some(PATIENT))
        );
        assert!(
            r.handle(relay(None, 0), t(9)).events.is_empty(),
            "one incident"
        );
        let s = r.handle(relay(Some(0), 0), t(10));
        assert_eq!(kinds(&s), ["incident_closed"]);
        // Media on the new allocation, then consent withdrawn: the server
        // revokes the allocations, which is no incident.
        for at in 11..15 {
            r.handle(relay(Some(50 * (at - 10) as u64), at), t(at));
        }
        let s = say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
        for at in 15..25 {
            let s = r.handle(relay(None, 0), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        assert_eq!(r.act().incidents.len(), 1);
    }

    #[test]
    fn media_moving_off_the_relay_is_no_stopped_media() {
        let mut r = live_room(30);
        for at in 3..8 {
            r.handle(relay(Some(50 * (at - 2) as u64), at), t(at));
        }
        // The relayed media stops: an incident opens...
        let mut opened = None;
        for at in 8..13 {
            let s = r.handle(relay(Some(250), 7), t(at));
            if !s.events.is_empty() {
                opened = Some(kinds(&s));
            }
        }
        assert_eq!(opened.as_deref(), Some(&["incident_opened"][..]));
        // ...and the client says its pair is now direct: the media moved, so
        // the incident ends, and the idle allocation is no longer judged.
        let s = say(&mut r, 20, route_report(MediaRoute::Direct));
        assert_eq!(kinds(&s), ["incident_closed"]);
        for at in 13..30 {
            let s = r.handle(relay(Some(250), 7), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        // Back on the relay (the client's detector records that fall back),
        // a fresh watch: media flowing is no incident.
        say(&mut r, 20, route_report(MediaRoute::Relay));
        for at in 30..36 {
            let s = r.handle(relay(Some(250 + 50 * (at - 29) as u64), at), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        let stopped = r
            .act()
            .incidents
            .iter()
            .filter(|i| i.kind == IncidentKind::RelayMediaStopped)
            .count();
        assert_eq!(stopped, 1);
    }

    #[test]
    fn the_relay_is_read_every_second_while_someone_may_use_it() {
        let mut r = room().with_relay_sampling(Duration::from_secs(1));
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        assert_eq!(r.poll_timeout(), None, "no media yet");
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        // On the grid of the first input (1 s), the next point after 2 s.
        assert_eq!(r.poll_timeout(), Some(t(3)));
        assert!(!r.relay_sample_due(t(2)));
        assert!(r.relay_sample_due(t(3)));
        r.handle(relay(Some(10), 3), t(3));
        assert_eq!(r.poll_timeout(), Some(t(4)));
        // A late wake keeps the grid.
        r.handle(relay(Some(20), 5), t(5).plus(Duration::from_millis(500)));
        assert_eq!(r.poll_timeout(), Some(t(6)));
        // A read that fell due while another input was handled is not
        // skipped: it stays due until taken.
        let late = t(6).plus(Duration::from_millis(200));
        let ping = ClientMessage::Ping {};
        r.handle(
            Input::Message {
                conn: 10,
                msg: ping,
            },
            late,
        );
        r.handle(Input::Tick, late);
        assert_eq!(r.poll_timeout(), Some(t(6)), "still due");
        assert!(r.relay_sample_due(late));
        r.handle(relay(Some(30), 6), t(6).plus(Duration::from_millis(300)));
        assert_eq!(r.poll_timeout(), Some(t(7)));
        // Everyone on a direct pair: nothing to read.
        say(&mut r, 10, route_report(MediaRoute::Direct));
        say(&mut r, 20, route_report(MediaRoute::Direct));
        assert_eq!(r.poll_timeout(), None);
        // Without a relay, nothing is read either.
        assert_eq!(live_room(30).poll_timeout(), None);
    }
}
