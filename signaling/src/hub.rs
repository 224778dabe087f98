//! The IO driver of rooms: one tokio task per live act owns its [`Room`],
//! appends each step's events to the trace (awaiting durability), then
//! delivers the step's frames to the connections.
//!
//! A room is the act's one writer: the WebSocket connections' messages,
//! and the commands the HTTP routes ask ([`RoomCmd::Command`]: a
//! téléexpertise's answer, an attached document...), go through it in
//! order. A room a route started stops again as soon as it is idle (no
//! connection ever came, nothing queued, nothing to wait for); a room that
//! served connections lives until its act ends, as it keeps their join
//! budgets and lost participants.

use std::collections::HashMap;

use std::time::Duration;

use session::act::{Command, LeaveReason};
use session::document::Upload;
use session::store::OnAppended;
use session::{Act, ActId, TraceStore};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::relay_access::RelayAccess;
use crate::room::{ConnId, Input, Output, Room};

/// What a room's task needs from the server that runs it. `AppState`
/// gives it; the hub knows rooms, not the server's state.
pub trait RoomHost: Clone + Send + Sync + 'static {
    /// Where the room's events are appended.
    fn store(&self) -> &dyn TraceStore;
    fn metrics(&self) -> &Metrics;
    /// The TURN relay, when the server runs one.
    fn relay(&self) -> Option<&RelayAccess>;
    /// Called by a room's task when it stops.
    fn forget_room(&self, act: ActId);
    /// The time the room is given: the wall clock, or tokio's in tests.
    fn clock(&self) -> Clock;
    /// Called once events that end the act are durable: the server makes
    /// and submits a checkpoint at once (see `witnessing`).
    fn act_ended(&self) {}
}

/// What a connection's writer task receives.
#[derive(Debug)]
pub enum Frame {
    Msg(ServerMessage),
    Close(LeaveReason),
    /// A `hello` refused by the join budget (see [`Output::RefuseJoin`]).
    RefuseJoin {
        retry_after_secs: Option<u32>,
    },
}

/// What a room task receives.
#[derive(Debug)]
pub enum RoomCmd {
    /// A new connection, with where to send its frames, then its hello.
    Attach {
        conn: ConnId,
        frames: mpsc::Sender<Frame>,
        input: Input,
    },
    Input(Input),
    /// A pre-call connection test to record; answered once it is durable,
    /// or with why it was refused.
    RecordConnectionTest {
        test: session::precall::ConnectionTest,
        done: oneshot::Sender<Result<(), session::Error>>,
    },
    /// A command asked over HTTP, with the checked document for an
    /// attachment (stored with its `attachment_added` event in one
    /// transaction); answered once durable, or with why it was refused.
    /// A room that stops before handling it gives it back
    /// ([`CommandReply::NotHandled`]), to be sent to the act's next room.
    Command {
        command: Command,
        document: Option<Upload>,
        done: oneshot::Sender<CommandReply>,
    },
    /// The server is stopping: close every connection (`server_shutdown`)
    /// and stop. The act is rebuilt from its trace when the server starts
    /// again and its participants reconnect.
    Shutdown,
}

/// What a room answers a [`RoomCmd::Command`].
#[derive(Debug)]
pub enum CommandReply {
    /// Applied and durable: the act as it now stands, and the kinds of
    /// the events recorded.
    Done {
        act: Box<Act>,
        recorded: Vec<&'static str>,
    },
    /// The act's rules refused it, or the trace could not take it.
    Refused(session::Error),
    /// The room stopped before handling it: nothing was recorded.
    NotHandled {
        command: Command,
        document: Option<Upload>,
    },
}

/// Who waits for a step's events to be durable.
enum Waiter {
    ConnectionTest(oneshot::Sender<Result<(), session::Error>>),
    Command(oneshot::Sender<CommandReply>),
}

/// How long a room that no connection ever joined waits for a command
/// before it stops (a route that started it and went away).
const IDLE_STOP: Duration = Duration::from_secs(30);

/// How often a room reads the relay's counters (for relay incidents) while
/// someone's media may go through it.
const RELAY_SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Queue depth per connection; a client this far behind is dropped.
const CONN_QUEUE: usize = 256;

pub fn conn_channel() -> (mpsc::Sender<Frame>, mpsc::Receiver<Frame>) {
    mpsc::channel(CONN_QUEUE)
}

/// Runs one room until its act ends and every connection is gone.
///
/// The room is woken by a command, or when [`Room::poll_timeout`] says (a
/// lost participant's recovery deadline, the next read of the relay's
/// counters); after each step the deadline is asked again.
pub async fn run_room<H: RoomHost>(
    state: H,
    room: Room,
    mut stored: u64,
    mut rx: mpsc::Receiver<RoomCmd>,
) {
    let act = room.act().id;
    let clock = state.clock();
    let mut room = match state.relay() {
        Some(_) => room.with_relay_sampling(RELAY_SAMPLE_EVERY),
        None => room,
    };
    let mut conns: HashMap<ConnId, mpsc::Sender<Frame>> = HashMap::new();
    // Whether a connection ever joined: until then the room serves routes
    // only, and stops once idle.
    let mut joined = false;
    let mut handled = false;
    state.metrics().active_acts.inc();
    loop {
        let wake = room.poll_timeout().map(|at| clock.instant_at(at));
        let idle = !joined && conns.is_empty() && wake.is_none();
        if idle && handled && rx.is_empty() {
            break;
        }
        let cmd = tokio::select! {
            // A wake-up that is due goes first: a read of the relay falls
            // due once a second, and a busy room must not put it off.
            biased;
            () = sleep_until(wake) => {
                let now = clock.now();
                RoomCmd::Input(match state.relay() {
                    // The relay's counters are read when due.
                    Some(relay) if room.relay_sample_due(now) => {
                        Input::RelayTraffic(relay.traffic(act, now))
                    }
                    _ => Input::Tick,
                })
            }
            cmd = rx.recv() => match cmd {
                Some(cmd) => cmd,
                None => break,
            },
            () = sleep_if(idle, IDLE_STOP) => break,
        };
        let now = clock.now();
        let mut done = None;
        let mut document = None;
        handled = true;
        let step = match cmd {
            RoomCmd::Attach {
                conn,
                frames,
                input,
            } => {
                joined = true;
                conns.insert(conn, frames);
                room.handle(input, now)
            }
            RoomCmd::Input(input) => room.handle(input, now),
            RoomCmd::Shutdown => {
                for frames in conns.values() {
                    let _ = frames.try_send(Frame::Close(LeaveReason::ServerShutdown));
                }
                break;
            }
            RoomCmd::RecordConnectionTest { test, done: reply } => {
                match room.record_connection_test(test, now) {
                    Ok(step) => {
                        done = Some(Waiter::ConnectionTest(reply));
                        step
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        continue;
                    }
                }
            }
            RoomCmd::Command {
                command,
                document: doc,
                done: reply,
            } => match room.command(command, now) {
                Ok(step) => {
                    done = Some(Waiter::Command(reply));
                    document = doc;
                    step
                }
                Err(e) => {
                    let _ = reply.send(CommandReply::Refused(e));
                    continue;
                }
            },
        };
        let recorded: Vec<&'static str> = step.events.iter().map(|e| e.body.kind()).collect();
        if !step.events.is_empty() {
            let n = step.events.len() as u64;
            match append(&state, act, stored, step.events, document).await {
                Ok(()) => {
                    stored += n;
                    state.metrics().trace_appends.inc();
                    if room.act().phase.is_terminal() {
                        state.act_ended();
                    }
                    match done {
                        Some(Waiter::ConnectionTest(done)) => {
                            let _ = done.send(Ok(()));
                        }
                        Some(Waiter::Command(done)) => {
                            let _ = done.send(CommandReply::Done {
                                act: Box::new(room.act().clone()),
                                recorded,
                            });
                        }
                        None => {}
                    }
                }
                Err(e) => {
                    // The room and the trace disagree now: end the room;
                    // clients reconnect to a room rebuilt from the trace.
                    tracing::error!(%act, error = %e, "trace append failed; closing the room");
                    match done {
                        Some(Waiter::ConnectionTest(done)) => {
                            let _ = done.send(Err(session::Error::StoreClosed));
                        }
                        Some(Waiter::Command(done)) => {
                            let _ = done.send(CommandReply::Refused(e));
                        }
                        None => {}
                    }
                    for frames in conns.values() {
                        let _ = frames.try_send(Frame::Msg(ServerMessage::Error {
                            code: crate::protocol::ErrorCode::Unavailable,
                            message: "the server could not record this; reconnecting".into(),
                        }));
                        let _ = frames.try_send(Frame::Close(LeaveReason::ServerShutdown));
                    }
                    break;
                }
            }
        }
        for out in step.outputs {
            match out {
                Output::Send { conn, msg } => {
                    if let Some(frames) = conns.get(&conn)
                        && frames.try_send(Frame::Msg(msg)).is_err()
                    {
                        tracing::warn!(%act, conn, "connection too slow; closing it");
                        let _ = frames.try_send(Frame::Close(LeaveReason::ConnectionLost));
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(frames) = conns.remove(&conn) {
                        let _ = frames.try_send(Frame::Close(reason));
                    }
                }
                Output::RefuseJoin {
                    conn,
                    retry_after_secs,
                } => {
                    if let Some(frames) = conns.remove(&conn) {
                        let _ = frames.try_send(Frame::RefuseJoin { retry_after_secs });
                    }
                }
                Output::RevokeRelay(participants) => {
                    if let Some(relay) = state.relay() {
                        relay.revoke(act, &participants).await;
                    }
                }
                Output::ReopenRelay => {
                    if let Some(relay) = state.relay() {
                        relay.reopen(act);
                    }
                }
                Output::ReopenRelayFor(p) => {
                    if let Some(relay) = state.relay() {
                        relay.reopen_participant(act, p);
                    }
                }
            }
        }
        if room.act().phase.is_terminal() && conns.is_empty() {
            break;
        }
    }
    // Take no more commands, then answer those already queued: a join that
    // raced with the end must not hang.
    rx.close();
    let ended = room.act().phase.is_terminal();
    while let Ok(cmd) = rx.try_recv() {
        if let RoomCmd::Command {
            command,
            document,
            done,
        } = cmd
        {
            // The route sends it to the act's next room.
            let _ = done.send(CommandReply::NotHandled { command, document });
        } else if let RoomCmd::Attach { frames, .. } = cmd {
            let msg = if ended {
                ServerMessage::Ended {
                    reason: format!("this consultation has ended ({})", room.act().phase),
                }
            } else {
                ServerMessage::Error {
                    code: crate::protocol::ErrorCode::Unavailable,
                    message: "the consultation is restarting; reconnect".into(),
                }
            };
            let _ = frames.try_send(Frame::Msg(msg));
            let reason = if ended {
                LeaveReason::ActEnded
            } else {
                LeaveReason::ServerShutdown
            };
            let _ = frames.try_send(Frame::Close(reason));
        }
    }
    state.forget_room(act);
    state.metrics().active_acts.dec();
}

/// Sleeps `d` when `cond`, else for ever.
async fn sleep_if(cond: bool, d: Duration) {
    if cond {
        tokio::time::sleep(d).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Appends `events` after the `stored` ones, with `document` in the same
/// transaction when they record one; returns once durable.
async fn append<H: RoomHost>(
    state: &H,
    act: ActId,
    stored: u64,
    events: Vec<session::Event>,
    document: Option<Upload>,
) -> Result<(), session::Error> {
    let (tx, rx) = oneshot::channel();
    let done: OnAppended = Box::new(move |r| {
        let _ = tx.send(r);
    });
    match document {
        None => state.store().append_then(act, Some(stored), events, done),
        // Sealing a document of tens of MiB takes a while: not on the
        // async workers.
        Some(document) => {
            let host = state.clone();
            tokio::task::spawn_blocking(move || {
                host.store()
                    .attach_then(act, stored, document, events, done)
            })
            .await
            .map_err(|_| session::Error::StoreClosed)?;
        }
    }
    rx.await
        .map_err(|_| session::Error::StoreClosed)?
        .map(|_| ())
}

/// The handle a connection uses to reach its room.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub tx: mpsc::Sender<RoomCmd>,
}

impl RoomHandle {
    pub fn spawn<H: RoomHost>(state: H, room: Room, stored: u64) -> RoomHandle {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run_room(state, room, stored, rx));
        RoomHandle { tx }
    }
}
