//! The server's use of the TURN relay: credentials per act and participant,
//! handed out only while media is allowed, revoked when it stops.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use media::{Relay, TrafficSnapshot, TurnCredentials};
use session::incident::RelaySample;
use session::{ActId, ParticipantId, Timestamp};

use crate::protocol::IceServer;

/// The relay and how clients reach it.
#[derive(Clone, Debug)]
pub struct RelayAccess {
    pub relay: Arc<Relay>,
    pub credentials: Arc<TurnCredentials>,
    /// `turn:`/`turns:` URLs announced to clients.
    pub urls: Vec<String>,
    /// How long issued credentials last; covers a whole consultation.
    pub ttl: Duration,
}

impl RelayAccess {
    /// Fresh short-lived credentials for one participant of one act.
    pub fn ice_server(&self, act: ActId, participant: ParticipantId) -> Option<IceServer> {
        match self
            .credentials
            .issue(&act.to_string(), &participant.0.to_string(), self.ttl)
        {
            Ok(c) => Some(IceServer {
                urls: self.urls.clone(),
                username: Some(c.username),
                credential: Some(c.password),
            }),
            Err(e) => {
                tracing::error!(%act, error = %e, "cannot issue relay credentials");
                None
            }
        }
    }

    /// Revokes the participants' credentials (their connection-test ones
    /// too) and drops their allocations.
    pub async fn revoke(&self, act: ActId, participants: &[ParticipantId]) {
        for p in participants {
            if let Err(e) = self.relay.revoke(&act.to_string(), &p.0.to_string()).await {
                tracing::warn!(%act, error = %e, "relay revocation failed");
            }
        }
    }

    /// Lets one participant get credentials again: they left (or were put
    /// out) and media is allowed for them anew. Credentials revoked when
    /// they left stay dead.
    pub fn reopen_participant(&self, act: ActId, participant: ParticipantId) {
        self.relay
            .reopen(&act.to_string(), &participant.0.to_string());
    }

    /// What the relay sees of each participant of `act` that has a live
    /// allocation now, for the room's relay incident detector.
    pub fn traffic(&self, act: ActId, now: Timestamp) -> BTreeMap<ParticipantId, RelaySample> {
        self.relay
            .traffic_of_act(&act.to_string())
            .into_iter()
            .filter_map(|(p, t)| Some((ParticipantId(p.parse().ok()?), sample(&t, now))))
            .collect()
    }

    /// Lets the act's participants get credentials again (consent given
    /// anew after a withdrawal). Only credentials issued from now on work:
    /// those revoked stay dead.
    pub fn reopen(&self, act: ActId) {
        self.credentials.reopen(&act.to_string());
    }
}

/// The relay's snapshot, its "how long ago"s turned into times.
fn sample(t: &TrafficSnapshot, now: Timestamp) -> RelaySample {
    RelaySample {
        allocations: t.allocations as u64,
        generation: t.generation,
        sent_packets: t.sent_packets,
        sent_bytes: t.sent_bytes,
        received_packets: t.received_packets,
        received_bytes: t.received_bytes,
        last_sent_at: t.last_sent_ago.map(|ago| now.minus(ago)),
        resumed_at: t.resumed_ago.map(|ago| now.minus(ago)),
    }
}
