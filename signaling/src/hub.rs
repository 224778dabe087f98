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

use ownership::{ActLease, LeaseStatus, LostReason};
use session::act::{Command, LeaveReason};
use session::document::Upload;
use session::store::OnAppended;
use session::{Act, ActId, TraceStore};
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::cluster::Ownership;
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
    /// Starts claiming the act's ownership lease on Redis, when the server
    /// runs among several nodes; `None` when it is alone (it owns every
    /// act it serves).
    fn claim(&self, _act: ActId) -> Option<ActLease> {
        None
    }
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
    /// A `hello`, or a live connection, this node may not serve as the
    /// act's owner (see [`crate::cluster::Ownership`]): `elsewhere` when
    /// another node holds the act, else ownership is unavailable now.
    NotOwner {
        elsewhere: bool,
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
    // The act's lease, with `--redis`: claimed now, renewed by its task,
    // checked before admitting a participant or appending as owner.
    let mut lease = state.claim(act);
    let mut lease_changes = lease.as_ref().map(ActLease::subscribe);
    // Whether this room counts in `lease_held`.
    let mut counted = false;
    // Set when the room stops because it may not act as owner: what
    // queued joins are then told.
    let mut not_owner: Option<bool> = None;
    // Set while Redis is lost: the room goes on without a proven lease,
    // its appends fenced by the trace's unique (act, seq), claiming again.
    let mut fenced = false;
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
            status = lease_change(&mut lease_changes) => {
                match status {
                    LeaseStatus::Held(_) => {
                        if fenced {
                            fenced = false;
                            tracing::info!(%act, "act lease claimed again; joins admitted");
                        }
                        if !counted {
                            counted = true;
                            state.metrics().lease_held.inc();
                        }
                        continue;
                    }
                    LeaseStatus::Claiming { .. } => continue,
                    LeaseStatus::Taken { .. } if fenced => {
                        // Another node claimed the act while this one had
                        // lost Redis: it runs there now.
                        tracing::warn!(%act, "act claimed by another node while Redis was lost here; closing the room");
                        for frames in conns.values() {
                            let _ = frames.try_send(Frame::NotOwner { elsewhere: false });
                        }
                        conns.clear();
                        not_owner = Some(false);
                        break;
                    }
                    LeaseStatus::Taken { .. } => {
                        // Answered to the join waiting on it, if any.
                        lease_changes = None;
                        continue;
                    }
                    LeaseStatus::Lost { reason: LostReason::Expired, .. } if joined => {
                        // Redis stopped answering past the lease's proven
                        // deadline. The live act goes on here: a node that
                        // claims it meanwhile (Redis cut off from this
                        // node only) would fail at the trace's unique
                        // (act, seq) on the first append after this one's,
                        // or this one on its; joins wait (4011) until the
                        // lease is claimed again.
                        state.metrics().lease_lost.inc();
                        if counted {
                            counted = false;
                            state.metrics().lease_held.dec();
                        }
                        tracing::warn!(%act, "Redis lost: the act goes on here, fenced by the trace, until its lease is claimed again");
                        lease = state.claim(act);
                        lease_changes = lease.as_ref().map(ActLease::subscribe);
                        fenced = true;
                        continue;
                    }
                    LeaseStatus::Lost { .. } | LeaseStatus::Released => {
                        // This node may no longer act for the act: its
                        // participants reconnect, and land where it runs.
                        state.metrics().lease_lost.inc();
                        tracing::warn!(%act, "act lease lost; closing the room");
                        for frames in conns.values() {
                            let _ = frames.try_send(Frame::NotOwner { elsewhere: false });
                        }
                        conns.clear();
                        not_owner = Some(false);
                        break;
                    }
                }
            }
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
                if let Some(lease) = lease.as_mut() {
                    // While Redis is lost, at once: the live room must not
                    // wait on a claim Redis cannot answer.
                    let ownership = if fenced {
                        Ownership::Unavailable
                    } else {
                        Ownership::of_join(lease).await
                    };
                    if ownership != Ownership::Owner {
                        let elsewhere = ownership == Ownership::Elsewhere;
                        refused_join(&state, act, &input, elsewhere);
                        let _ = frames.try_send(Frame::NotOwner { elsewhere });
                        if matches!(ownership, Ownership::Elsewhere | Ownership::Ended) {
                            // This room will never own the act: the next
                            // join makes a new room, which claims again.
                            for frames in conns.values() {
                                let _ = frames.try_send(Frame::NotOwner { elsewhere });
                            }
                            conns.clear();
                            not_owner = Some(elsewhere);
                            break;
                        }
                        continue;
                    }
                }
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
        if !step.events.is_empty()
            && !fenced
            && let Some(lease) = lease.as_mut()
        {
            let ownership = Ownership::of_append(lease).await;
            if ownership != Ownership::Owner {
                // Nothing is appended by a node that cannot prove it owns
                // the act; the room stops and its clients reconnect.
                let elsewhere = ownership == Ownership::Elsewhere;
                tracing::warn!(%act, ?ownership, "not the act's proven owner; closing the room without appending");
                match done {
                    Some(Waiter::ConnectionTest(done)) => {
                        let _ = done.send(Err(session::Error::StoreClosed));
                    }
                    Some(Waiter::Command(done)) => {
                        let _ = done.send(CommandReply::Refused(session::Error::StoreClosed));
                    }
                    None => {}
                }
                for frames in conns.values() {
                    let _ = frames.try_send(Frame::NotOwner { elsewhere });
                }
                conns.clear();
                not_owner = Some(elsewhere);
                break;
            }
        }
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
        } else if let RoomCmd::Attach { frames, input, .. } = cmd {
            if let Some(elsewhere) = not_owner {
                refused_join(&state, act, &input, elsewhere);
                let _ = frames.try_send(Frame::NotOwner { elsewhere });
                continue;
            }
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
    if let Some(lease) = lease {
        let status = lease.release().await;
        match status {
            LeaseStatus::Taken { .. } | LeaseStatus::Claiming { .. } => {
                state.metrics().lease_claim_failures.inc();
            }
            _ => {}
        }
        tracing::debug!(%act, ?status, "act lease given back");
    }
    if counted {
        state.metrics().lease_held.dec();
    }
    state.metrics().active_acts.dec();
}

/// The next status of the room's lease, or never without one (or once
/// its task ended).
async fn lease_change(changes: &mut Option<watch::Receiver<LeaseStatus>>) -> LeaseStatus {
    let Some(rx) = changes.as_mut() else {
        return std::future::pending().await;
    };
    match rx.changed().await {
        Ok(()) => rx.borrow_and_update().clone(),
        Err(_) => {
            // The task ended; its last status was seen already.
            *changes = None;
            std::future::pending().await
        }
    }
}

/// Records a join refused for ownership: the audit log line (target
/// `audit`, act and participant number only) and the metric.
fn refused_join<H: RoomHost>(state: &H, act: ActId, input: &Input, elsewhere: bool) {
    let participant = match input {
        Input::Hello { participant, .. } => Some(participant.0),
        _ => None,
    };
    let code = if elsewhere {
        "act_elsewhere"
    } else {
        "ownership_unavailable"
    };
    tracing::info!(target: "audit", %act, participant, outcome = "refused", code, "join refused: ownership");
    state.metrics().signaling_errors.inc();
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
