//! The server's use of the TURN relay: credentials per act and participant,
//! handed out only while media is allowed, revoked when it stops.

use std::sync::Arc;
use std::time::Duration;

use media::{Relay, TurnCredentials};
use session::{ActId, ParticipantId};

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

    /// Revokes the participants' credentials and drops their allocations.
    pub async fn revoke(&self, act: ActId, participants: &[ParticipantId]) {
        for p in participants {
            if let Err(e) = self.relay.revoke(&act.to_string(), &p.0.to_string()).await {
                tracing::warn!(%act, error = %e, "relay revocation failed");
            }
        }
    }

    /// Lets the act's participants get credentials again (consent given
    /// anew after a withdrawal).
    pub fn reopen(&self, act: ActId) {
        self.credentials.forget_act(&act.to_string());
    }
}
