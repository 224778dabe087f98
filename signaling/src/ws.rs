//! The WebSocket driver: one task pair per connection. It reads frames,
//! enforces size and rate limits, checks the invitation in `hello`, and
//! passes messages to the room; a writer task sends the room's frames.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use session::act::LeaveReason;
use session::{ActId, ParticipantId};
use tokio::time::Instant;

use crate::cluster::{OWNERSHIP_RETRY_SECS, Route, forward};
use crate::hub::{Frame, RoomCmd, conn_channel};
use crate::limits::{self, RateLimiter};
use crate::protocol::{self, ClientMessage, DecodeError, ErrorCode, ServerMessage, VERSION};
use crate::room::Input;
use crate::state::AppState;

pub async fn upgrade(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A connection another node forwards carries a node link token: it is
    // checked now, before anything else (docs/OWNERSHIP.md).
    let linked = match headers.get(forward::LINK_HEADER) {
        None => None,
        Some(token) => match check_link(&state, token) {
            Some(act) => Some(act),
            None => {
                return axum::response::IntoResponse::into_response((
                    axum::http::StatusCode::FORBIDDEN,
                    "node link refused\n",
                ));
            }
        },
    };
    // Refused before the upgrade: a full server or a greedy client. A
    // forwarded connection counts against the server's limit only: every
    // one comes from the forwarding node's address.
    let client = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .filter(|_| linked.is_none());
    let permit = match state.connections.acquire(client) {
        Ok(p) => p,
        Err(why) => {
            tracing::warn!(?why, "WebSocket connection refused");
            return axum::response::IntoResponse::into_response((
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too many connections",
            ));
        }
    };
    // Frames up to twice the protocol limit are read, so that an oversized
    // one gets an error frame; larger ones drop the connection.
    ws.max_message_size(2 * protocol::MAX_FRAME_BYTES)
        .max_frame_size(2 * protocol::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            connection(state, socket, linked).await;
            drop(permit);
        })
}

/// Checks a forwarded connection's node link token: the act it is for,
/// or `None` for a 403 (audited with the reason; the token is never
/// logged).
fn check_link(state: &AppState, token: &axum::http::HeaderValue) -> Option<ActId> {
    let refuse = |why: &dyn std::fmt::Display| {
        tracing::warn!(target: "audit", outcome = "refused", reason = %why, "node link refused");
        state.metrics.signaling_errors.inc();
        None
    };
    let Some(cluster) = state.cluster() else {
        return refuse(&"this node runs alone (no --redis)");
    };
    let Ok(token) = token.to_str() else {
        return refuse(&ownership::LinkError::Malformed);
    };
    match cluster.check_link(token) {
        Ok((node, act)) => {
            tracing::debug!(%act, from = %node, "forwarded connection accepted");
            Some(act)
        }
        Err(e) => refuse(&e),
    }
}

fn close_code(reason: LeaveReason) -> (u16, &'static str) {
    match reason {
        LeaveReason::LeftByChoice => (1000, "left"),
        LeaveReason::ConnectionLost => (4001, "connection_lost"),
        LeaveReason::Replaced => (4002, "replaced"),
        LeaveReason::ActEnded => (4003, "act_ended"),
        LeaveReason::ConsentWithdrawn => (4004, "consent_withdrawn"),
        LeaveReason::ServerShutdown => (4005, "server_shutdown"),
        LeaveReason::ProtocolViolation => (4006, "protocol_violation"),
    }
}

/// The close of a `hello` refused by the join budget: 4008 with reason
/// `retry_after:SECONDS` (the per-minute budget: join again then), or 4009
/// `joins_spent` (the act's total: joining again is refused).
fn join_refused_close(retry_after_secs: Option<u32>) -> (u16, String) {
    match retry_after_secs {
        Some(secs) => (4008, format!("retry_after:{secs}")),
        None => (4009, "joins_spent".to_string()),
    }
}

/// The error and close of a connection this node may not serve as the
/// act's owner: `act_elsewhere` and 4010 `act_elsewhere` when another node
/// holds it (no node named), else `ownership_unavailable` and 4011
/// `retry_after:SECONDS`. The web client reconnects with the same link.
fn not_owner(elsewhere: bool) -> (ServerMessage, (u16, String)) {
    if elsewhere {
        (
            ServerMessage::Error {
                code: ErrorCode::ActElsewhere,
                message: "this consultation runs on another node; reconnect".into(),
            },
            (4010, "act_elsewhere".into()),
        )
    } else {
        (
            ServerMessage::Error {
                code: ErrorCode::OwnershipUnavailable,
                message: format!(
                    "the server cannot confirm it runs this consultation now; retry in {OWNERSHIP_RETRY_SECS} s"
                ),
            },
            (4011, format!("retry_after:{OWNERSHIP_RETRY_SECS}")),
        )
    }
}

/// A close frame with `code` and `reason`.
fn close_frame((code, reason): (u16, String)) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn send_and_close(socket: &mut WebSocket, code: ErrorCode, message: &str) {
    let msg = ServerMessage::Error {
        code,
        message: message.to_string(),
    };
    let _ = socket
        .send(Message::Text(protocol::encode(&msg).into()))
        .await;
    let (code, reason) = close_code(LeaveReason::ProtocolViolation);
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Closes a connection the server will not serve because it is stopping.
async fn close_for_shutdown(socket: &mut WebSocket) {
    let (code, reason) = close_code(LeaveReason::ServerShutdown);
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Serves one participant connection: `linked` is the act a forwarding
/// node's link token names, for a connection forwarded by a peer.
async fn connection(state: AppState, mut socket: WebSocket, linked: Option<ActId>) {
    // 1. The hello, with the invitation; a server stopping meanwhile
    // closes the connection.
    let mut stopping = state.stopping();
    let first = tokio::select! {
        first = tokio::time::timeout(limits::HELLO_TIMEOUT, socket.recv()) => Some(first),
        _ = stopping.wait_for(|stopping| *stopping) => None,
    };
    let Some(first) = first else {
        return close_for_shutdown(&mut socket).await;
    };
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t,
        _ => {
            return send_and_close(&mut socket, ErrorCode::HelloFirst, "say hello first").await;
        }
    };
    let (token, user_agent) = match protocol::decode(&text) {
        Ok(ClientMessage::Hello {
            v,
            token,
            user_agent,
        }) if v == VERSION => (token, user_agent.unwrap_or_default()),
        Ok(ClientMessage::Hello { .. }) => {
            state.metrics.signaling_errors.inc();
            return send_and_close(
                &mut socket,
                ErrorCode::UnsupportedVersion,
                "this server speaks protocol version 1",
            )
            .await;
        }
        _ => {
            state.metrics.signaling_errors.inc();
            return send_and_close(&mut socket, ErrorCode::HelloFirst, "say hello first").await;
        }
    };
    let invitation = match state.invitations.verify(&token, state.clock().now()) {
        Ok(i) => i,
        Err(e) => {
            state.metrics.signaling_errors.inc();
            return send_and_close(&mut socket, ErrorCode::Forbidden, &e.to_string()).await;
        }
    };
    // 1b. Which node serves it: a forwarded connection here (its link
    // must be for this act), any other at the act's owner, which may be
    // another node.
    match linked {
        Some(act) if act != invitation.act => {
            state.metrics.signaling_errors.inc();
            tracing::warn!(target: "audit", act = %invitation.act, outcome = "refused", "node link for another act");
            return send_and_close(
                &mut socket,
                ErrorCode::Forbidden,
                "node link for another consultation",
            )
            .await;
        }
        Some(_) => {}
        None => {
            if let Some(cluster) = state.cluster()
                && let Route::Forward(peer) = cluster.route(&invitation.act).await
            {
                return forward_to(
                    &state,
                    socket,
                    invitation.act,
                    peer,
                    text.as_str().to_owned(),
                )
                .await;
            }
        }
    }
    let room = match state.room(invitation.act).await {
        Ok(r) => r,
        // The server began stopping while the room was being opened.
        Err(_) if *stopping.borrow() => return close_for_shutdown(&mut socket).await,
        Err(session::Error::UnknownAct(_)) => {
            return send_and_close(
                &mut socket,
                ErrorCode::Forbidden,
                "this consultation does not exist",
            )
            .await;
        }
        Err(e @ session::Error::TraceIntegrity(_)) => {
            // The finding names an act and an event number, no content.
            tracing::error!(act = %invitation.act, error = %e, "room refused: its trace does not verify");
            return send_and_close(
                &mut socket,
                ErrorCode::Unavailable,
                "this consultation's record failed its trace integrity check; contact the operator",
            )
            .await;
        }
        Err(e) => {
            tracing::error!(act = %invitation.act, error = %e, "cannot open the room");
            return send_and_close(
                &mut socket,
                ErrorCode::Unavailable,
                "the server cannot open this consultation now",
            )
            .await;
        }
    };

    // 2. Attach to the room; from now on the room speaks to this client.
    // Once the server is stopping, no one joins: its rooms are closing.
    if *stopping.borrow() {
        return close_for_shutdown(&mut socket).await;
    }
    let conn = state.next_conn();
    let (frames_tx, mut frames_rx) = conn_channel();
    let attach = RoomCmd::Attach {
        conn,
        frames: frames_tx.clone(),
        input: Input::Hello {
            conn,
            participant: ParticipantId(invitation.participant.0),
            user_agent,
        },
    };
    if room.tx.send(attach).await.is_err() {
        return send_and_close(
            &mut socket,
            ErrorCode::Unavailable,
            "the consultation is restarting; reconnect",
        )
        .await;
    }
    state.metrics.connected_participants.inc();
    // Ids and roles only: never names, tokens or payloads.
    tracing::debug!(act = %invitation.act, participant = invitation.participant.0, role = %invitation.role, conn, "participant attached");
    let (mut sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(async move {
        // WebSocket pings keep a silent client's reads alive (browsers
        // answer them by themselves); see `limits::IDLE_TIMEOUT`.
        let mut ping = tokio::time::interval(limits::PING_INTERVAL);
        ping.tick().await;
        loop {
            let frame = tokio::select! {
                frame = frames_rx.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            match frame {
                Frame::Msg(m) => {
                    if sink
                        .send(Message::Text(protocol::encode(&m).into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Frame::RefuseJoin { retry_after_secs } => {
                    let _ = sink
                        .send(close_frame(join_refused_close(retry_after_secs)))
                        .await;
                    break;
                }
                Frame::NotOwner { elsewhere } => {
                    let (error, close) = not_owner(elsewhere);
                    let _ = sink
                        .send(Message::Text(protocol::encode(&error).into()))
                        .await;
                    let _ = sink.send(close_frame(close)).await;
                    break;
                }
                Frame::Close(reason) => {
                    let (code, reason) = close_code(reason);
                    let _ = sink.send(close_frame((code, reason.to_owned()))).await;
                    break;
                }
            }
        }
    });

    // 3. Read until the client or the room ends it.
    let mut limiter =
        RateLimiter::new(limits::BURST, limits::PER_SECOND, Instant::now().into_std());
    let mut violations = 0u32;
    let mut writer_done = false;
    // When the client was last heard from (any frame, pongs included).
    let mut heard = Instant::now();
    let reason = loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(limits::IDLE_TIMEOUT, stream.next()) => match m {
                Ok(m) => m,
                // Nothing at all, not even a pong: the network is gone.
                Err(_) => break Some(LeaveReason::ConnectionLost),
            },
            _ = &mut writer => {
                writer_done = true;
                break None;
            }
        };
        let refuse = |code: ErrorCode, message: String| {
            let _ = frames_tx.try_send(Frame::Msg(ServerMessage::Error { code, message }));
        };
        heard = Instant::now();
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                violations += 1;
                state.metrics.signaling_errors.inc();
                refuse(ErrorCode::Malformed, "text frames only".into());
                if violations > limits::MAX_VIOLATIONS {
                    break Some(LeaveReason::ProtocolViolation);
                }
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) => break Some(LeaveReason::LeftByChoice),
            Some(Err(_)) | None => break Some(LeaveReason::ConnectionLost),
        };
        if !limiter.allow(Instant::now().into_std()) {
            violations += 1;
            state.metrics.signaling_errors.inc();
            refuse(
                ErrorCode::RateLimited,
                "too many messages; slow down".into(),
            );
        } else {
            tracing::trace!(conn, bytes = text.len(), "frame received");
            match protocol::decode(&text) {
                Ok(msg) => {
                    if room
                        .tx
                        .send(RoomCmd::Input(Input::Message { conn, msg }))
                        .await
                        .is_err()
                    {
                        break None;
                    }
                    continue;
                }
                Err(DecodeError::TooLarge(n)) => {
                    violations += 1;
                    state.metrics.signaling_errors.inc();
                    refuse(
                        ErrorCode::TooLarge,
                        format!(
                            "frame of {n} bytes; the limit is {}",
                            protocol::MAX_FRAME_BYTES
                        ),
                    );
                }
                Err(DecodeError::Malformed(why)) => {
                    violations += 1;
                    state.metrics.signaling_errors.inc();
                    refuse(ErrorCode::Malformed, why);
                }
            }
        }
        if violations > limits::MAX_VIOLATIONS {
            break Some(LeaveReason::ProtocolViolation);
        }
    };
    tracing::debug!(act = %invitation.act, conn, ?reason, violations, "connection closed");
    if let Some(reason) = reason {
        let _ = room
            .tx
            .send(RoomCmd::Input(Input::Closed {
                conn,
                reason,
                silent_ms: u64::try_from(heard.elapsed().as_millis()).unwrap_or(u64::MAX),
            }))
            .await;
        if reason == LeaveReason::ProtocolViolation {
            let _ = frames_tx.try_send(Frame::Close(reason));
        }
    }
    drop(frames_tx);
    if !writer_done {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    }
    state.metrics.connected_participants.dec();
}

/// Forwards the participant (whose `hello` is `hello`) to `peer`, the
/// act's owner, until either closes. An owner that cannot be reached, or
/// refuses the link, leaves the participant told to retry.
async fn forward_to(
    state: &AppState,
    mut socket: WebSocket,
    act: ActId,
    peer: forward::Peer,
    hello: String,
) {
    let Some(cluster) = state.cluster() else {
        return;
    };
    let link = cluster.mint_link(&act);
    let owner = match forward::connect(&peer, &link, cluster.peer_tls()).await {
        Ok(owner) => owner,
        Err(e) => {
            state.metrics.forward_failures.inc();
            tracing::warn!(%act, to = %peer.node, error = %e, "could not forward a participant to the act's owner");
            let (error, _) = not_owner(false);
            let _ = socket
                .send(Message::Text(protocol::encode(&error).into()))
                .await;
            let _ = socket.send(forward::retry_close()).await;
            return;
        }
    };
    tracing::info!(target: "audit", %act, to = %peer.node, outcome = "forwarded", "participant forwarded to the act's owner");
    state.metrics.forwarded_connections.inc();
    let ended = forward::pump(socket, owner, hello, state.stopping()).await;
    state.metrics.forwarded_connections.dec();
    if ended == forward::Ended::LinkLost {
        state.metrics.forward_failures.inc();
        tracing::warn!(%act, to = %peer.node, "the link to the act's owner broke; the participant was told to retry");
    }
}
