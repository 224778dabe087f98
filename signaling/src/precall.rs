//! The HTTP side of the pre-call connection test (see `media::probe` for
//! the test peer and `session::precall` for the verdict).
//!
//! 1. `POST /api/precall/start` with the join token: the paths this server
//!    offers, each with the ICE servers to try it with. Relay paths get
//!    TURN credentials of their own (participant `precall-N`), valid two
//!    minutes: the relay lets them reach only the test peer's sockets
//!    (`media::relay::peer`), so they are handed out before consent, unlike
//!    the call's. They count in participant N's allocation quota and are
//!    revoked with N's call credentials (end of the act, withdrawal, N
//!    leaving or put out); a new test while the act is open gets new ones.
//! 2. `POST /api/precall/offer` with the token and an SDP offer, once per
//!    path: the test peer's answer, candidates included.
//! 3. `POST /api/precall/result` with the token and each path's figures:
//!    recorded in the act's trace (event `connection_tested`), with the
//!    verdict the server draws; the verdict is returned.
//!
//! Every step checks the token and refuses ended acts, like joining does.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use session::precall::{ConnectionTest, PathResult, TestPath, Verdict};
use session::{ActId, ParticipantId};
use tokio::sync::oneshot;

use crate::api::ApiError;
use crate::hub::RoomCmd;
use crate::invitation::Invitation;
use crate::protocol::IceServer;
use crate::state::AppState;

/// How long the relay credentials of a connection test last.
const TEST_CREDENTIALS_TTL: Duration = Duration::from_secs(120);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    pub token: String,
}

/// One path the browser should try.
#[derive(Debug, Serialize)]
pub struct PathToTry {
    pub path: TestPath,
    /// What to give `RTCPeerConnection`; relay paths use
    /// `iceTransportPolicy: "relay"` with exactly these.
    pub ice_servers: Vec<IceServer>,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub paths: Vec<PathToTry>,
    /// Paths this server does not offer (no relay, or no TLS listener):
    /// the browser reports them as unavailable.
    pub unavailable: Vec<TestPath>,
}

/// Checks a join token for the connection test: valid, and its act open.
async fn admit(state: &AppState, token: &str) -> Result<Invitation, ApiError> {
    Ok(crate::api::open_invitation(state, token).await?.0)
}

fn probe_or_unavailable(state: &AppState) -> Result<&media::Probe, ApiError> {
    state.probe().ok_or(ApiError::NoConnectionTest)
}

/// `POST /api/precall/start`.
pub async fn start(
    State(state): State<AppState>,
    body: Result<Json<Start>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Started>, ApiError> {
    let Json(req) = body?;
    let inv = admit(&state, &req.token).await?;
    probe_or_unavailable(&state)?;
    let mut paths = vec![PathToTry {
        path: TestPath::Direct,
        ice_servers: state.config.ice_servers.clone(),
    }];
    let mut unavailable = Vec::new();
    let relay = state
        .config
        .relay
        .as_ref()
        .and_then(|r| Some((r, test_credentials(r, inv.act, inv.participant)?)));
    for (path, scheme) in [
        (TestPath::RelayUdp, "turn:"),
        (TestPath::RelayTcp, "turn:"),
        (TestPath::RelayTls, "turns:"),
    ] {
        let transport = if path == TestPath::RelayUdp {
            "transport=udp"
        } else {
            "transport=tcp"
        };
        let url = relay.as_ref().and_then(|(r, _)| {
            r.urls
                .iter()
                .find(|u| u.starts_with(scheme) && u.ends_with(transport))
        });
        match (url, &relay) {
            (Some(url), Some((_, (username, credential)))) => paths.push(PathToTry {
                path,
                ice_servers: vec![IceServer {
                    urls: vec![url.clone()],
                    username: Some(username.clone()),
                    credential: Some(credential.clone()),
                }],
            }),
            _ => unavailable.push(path),
        }
    }
    Ok(Json(Started { paths, unavailable }))
}

fn test_credentials(
    relay: &crate::relay_access::RelayAccess,
    act: ActId,
    participant: ParticipantId,
) -> Option<(String, String)> {
    let who = media::relay::credentials::probe_participant(&participant.0.to_string());
    // A test asked for while the act is open gets working credentials even
    // after a revocation (a withdrawal, or the participant left and came
    // back): they reach only the test peer. Those issued before the
    // revocation stay dead.
    relay.credentials.reopen_participant(&act.to_string(), &who);
    match relay
        .credentials
        .issue(&act.to_string(), &who, TEST_CREDENTIALS_TTL)
    {
        Ok(c) => Some((c.username, c.password)),
        Err(e) => {
            tracing::error!(%act, error = %e, "cannot issue connection test credentials");
            None
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub token: String,
    pub sdp: String,
}

#[derive(Debug, Serialize)]
pub struct Answer {
    pub sdp: String,
}

/// `POST /api/precall/offer`.
pub async fn offer(
    State(state): State<AppState>,
    body: Result<Json<Offer>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Answer>, ApiError> {
    let Json(req) = body?;
    admit(&state, &req.token).await?;
    let probe = probe_or_unavailable(&state)?;
    let sdp = probe.answer(req.sdp).await?;
    Ok(Json(Answer { sdp }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub token: String,
    pub paths: Vec<PathResult>,
}

#[derive(Debug, Serialize)]
pub struct Recorded {
    pub verdict: Verdict,
    pub recorded_at: String,
}

/// `POST /api/precall/result`.
pub async fn result(
    State(state): State<AppState>,
    body: Result<Json<Report>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Recorded>, ApiError> {
    let Json(req) = body?;
    let inv = admit(&state, &req.token).await?;
    let test = ConnectionTest::new(inv.participant, req.paths)?;
    let verdict = test.verdict;
    let room = match state.room(inv.act).await {
        Ok(room) => room,
        // The server began stopping: the client sends its result again.
        Err(_) if *state.stopping().borrow() => return Err(ApiError::RoomRestarting),
        Err(e) => return Err(e.into()),
    };
    let (done, answer) = oneshot::channel();
    room.tx
        .send(RoomCmd::RecordConnectionTest { test, done })
        .await
        .map_err(|_| ApiError::RoomRestarting)?;
    match answer.await {
        Ok(Ok(())) => Ok(Json(Recorded {
            verdict,
            recorded_at: state.clock().now().to_rfc3339(),
        })),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::RoomRestarting),
    }
}
