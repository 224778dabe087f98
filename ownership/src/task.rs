//! Tokio tasks that run a sans-IO core against [`Redis`]: one per claimed
//! act ([`ActLease`], started by the room's task) and one per node
//! ([`HeartbeatTask`]).
//!
//! Each request runs as its own future, bounded by the driver's command
//! timeout, so a Redis that hangs never delays the core's deadline: the
//! lease ends at its proven deadline whatever the requests in flight.

use std::time::Instant;

use session::ActId;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::driver::Redis;
use crate::fence::{FencingToken, LeaseValue};
use crate::lease::{Held, Lease, LeaseConfig, LeaseEvent, LostReason, NoAnswer, RequestId};
use crate::node::NodeId;
use crate::registry::{Heartbeat, HeartbeatConfig, HeartbeatEvent};

/// Where an act's lease stands, as last seen by its task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Claiming; `retrying` once a claim got no answer (Redis down): the
    /// task keeps trying with backoff.
    Claiming { retrying: bool },
    /// Held until `held.until` (check it: [`ActLease::held`] does).
    Held(Held),
    /// Another node holds the act: forward to it. The task has ended.
    Taken { owner: Option<LeaseValue> },
    /// The lease ended without a release: stop acting for the act. The
    /// task has ended (after giving the key back if it could).
    Lost {
        token: FencingToken,
        reason: LostReason,
    },
    /// Released on request. The task has ended.
    Released,
}

impl LeaseStatus {
    /// Whether the task is over (nothing more will change).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LeaseStatus::Taken { .. } | LeaseStatus::Lost { .. } | LeaseStatus::Released
        )
    }
}

/// A claim of one act by this node, and then its lease, run by a task.
/// Dropping it releases the lease.
#[derive(Debug)]
pub struct ActLease {
    status: watch::Receiver<LeaseStatus>,
    /// Whether Redis answered the lease's last request: the room shows
    /// "Redis lost" while its lease still runs on its proven deadline.
    answering: watch::Receiver<bool>,
    release: Option<mpsc::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ActLease {
    /// Starts claiming `act` for `node` and keeps the lease while held.
    pub fn claim(redis: Redis, act: ActId, node: NodeId, config: LeaseConfig) -> ActLease {
        let (status_tx, status) = watch::channel(LeaseStatus::Claiming { retrying: false });
        let (release, release_rx) = mpsc::channel(1);
        let (answering_tx, answering) = watch::channel(true);
        let task = tokio::spawn(run_lease(
            redis,
            act,
            Lease::new(node, config),
            (status_tx, answering_tx),
            release_rx,
        ));
        ActLease {
            status,
            answering,
            release: Some(release),
            task: Some(task),
        }
    }

    /// The lease if proven held right now: act as owner only when `Some`.
    pub fn held(&self) -> Option<Held> {
        match &*self.status.borrow() {
            LeaseStatus::Held(h) if Instant::now() < h.until => Some(*h),
            _ => None,
        }
    }

    /// Whether Redis answered the last lease request (false while it is
    /// unreachable; the lease itself ends at its proven deadline).
    pub fn redis_answering(&self) -> bool {
        *self.answering.borrow()
    }

    /// The last status published by the task.
    pub fn status(&self) -> LeaseStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (for a room's `select!`).
    pub fn subscribe(&self) -> watch::Receiver<LeaseStatus> {
        self.status.clone()
    }

    /// Waits until the status satisfies `pred` and returns it; or returns
    /// the final status if the task ended without.
    pub async fn wait_for(&mut self, pred: impl Fn(&LeaseStatus) -> bool) -> LeaseStatus {
        let seen = match self.status.wait_for(|s| pred(s) || s.is_final()).await {
            Ok(s) => Some(s.clone()),
            Err(_) => None,
        };
        seen.unwrap_or_else(|| self.status.borrow().clone())
    }

    /// Stops owning the act and deletes the lease if still ours; returns
    /// when the task has ended.
    pub async fn release(mut self) -> LeaseStatus {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(()).await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.status.borrow().clone()
    }
}

impl Drop for ActLease {
    fn drop(&mut self) {
        // Closing the channel asks the task to release; it ends by itself.
        self.release.take();
    }
}

async fn run_lease(
    redis: Redis,
    act: ActId,
    mut lease: Lease,
    (status, answering): (watch::Sender<LeaseStatus>, watch::Sender<bool>),
    mut release_rx: mpsc::Receiver<()>,
) {
    let mut in_flight: JoinSet<(RequestId, Result<crate::lease::Reply, NoAnswer>)> = JoinSet::new();
    let mut release_open = true;
    lease.claim(Instant::now());
    loop {
        let now = Instant::now();
        lease.handle_timeout(now);
        while let Some(req) = lease.poll_request(now) {
            let redis = redis.clone();
            in_flight.spawn(async move {
                let reply = redis.lease_op(&act, &req.op).await.map_err(|e| {
                    tracing::warn!(%act, error = %e, "lease request got no answer");
                    NoAnswer
                });
                (req.id, reply)
            });
        }
        let mut ended = None;
        while let Some(ev) = lease.poll_event() {
            tracing::debug!(%act, ?ev, "lease");
            let next = match ev {
                LeaseEvent::Acquired { token, until } | LeaseEvent::Renewed { token, until } => {
                    LeaseStatus::Held(Held { token, until })
                }
                LeaseEvent::Taken { owner } => LeaseStatus::Taken { owner },
                LeaseEvent::Lost { token, reason } => {
                    tracing::warn!(%act, %token, ?reason, "lease lost");
                    LeaseStatus::Lost { token, reason }
                }
                LeaseEvent::Released { .. } => LeaseStatus::Released,
                LeaseEvent::Unreachable => match &*status.borrow() {
                    LeaseStatus::Claiming { .. } => LeaseStatus::Claiming { retrying: true },
                    other => other.clone(),
                },
            };
            if next.is_final() {
                ended = Some(next.clone());
            }
            status.send_replace(next);
        }
        if lease.is_idle() && in_flight.is_empty() {
            if ended.is_none() && !status.borrow().is_final() {
                // Released while a claim was in flight.
                status.send_replace(LeaseStatus::Released);
            }
            return;
        }
        if lease.is_idle() && !status.borrow().is_final() {
            status.send_replace(LeaseStatus::Released);
        }
        let wake = lease.poll_timeout();
        tokio::select! {
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((id, reply)) = done {
                    answering.send_if_modified(|a| {
                        let changed = *a != reply.is_ok();
                        *a = reply.is_ok();
                        changed
                    });
                    lease.handle_reply(Instant::now(), id, reply);
                }
            }
            () = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
            msg = release_rx.recv(), if release_open => {
                if msg.is_none() {
                    release_open = false;
                }
                lease.release(Instant::now());
            }
        }
    }
}

/// The node's registration, kept by a task. Dropping it stops the
/// heartbeat (the key expires after its TTL); [`HeartbeatTask::stop`]
/// removes it at once.
#[derive(Debug)]
pub struct HeartbeatTask {
    registered: watch::Receiver<Option<Instant>>,
    task: tokio::task::JoinHandle<()>,
    redis: Redis,
    node: NodeId,
}

impl HeartbeatTask {
    /// Starts beating for `node`, advertising `address`.
    pub fn start(
        redis: Redis,
        node: NodeId,
        address: String,
        config: HeartbeatConfig,
    ) -> Result<HeartbeatTask, crate::Error> {
        let hb = Heartbeat::new(node.clone(), address, config, Instant::now())?;
        let (tx, registered) = watch::channel(None);
        let task = tokio::spawn(run_heartbeat(redis.clone(), hb, tx));
        Ok(HeartbeatTask {
            registered,
            task,
            redis,
            node,
        })
    }

    /// Whether the node is proven registered now.
    pub fn registered(&self) -> bool {
        self.registered.borrow().is_some_and(|u| Instant::now() < u)
    }

    /// Waits until registered (first heartbeat answered).
    pub async fn wait_registered(&mut self) {
        let _ = self.registered.wait_for(|u| u.is_some()).await;
    }

    /// Stops beating and removes the node from the list.
    pub async fn stop(self) -> Result<(), crate::Error> {
        self.task.abort();
        self.redis.deregister(&self.node).await
    }
}

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_heartbeat(
    redis: Redis,
    mut hb: Heartbeat,
    registered: watch::Sender<Option<Instant>>,
) {
    let mut in_flight: JoinSet<(RequestId, Result<(), NoAnswer>)> = JoinSet::new();
    loop {
        let now = Instant::now();
        hb.handle_timeout(now);
        while let Some(req) = hb.poll_request(now) {
            let redis = redis.clone();
            in_flight.spawn(async move {
                let reply = redis.beat(&req).await.map_err(|e| {
                    tracing::warn!(error = %e, "heartbeat got no answer");
                    NoAnswer
                });
                (req.id, reply)
            });
        }
        while let Some(ev) = hb.poll_event() {
            match ev {
                HeartbeatEvent::Lapsed => tracing::warn!("node registration lapsed"),
                HeartbeatEvent::Registered { .. } | HeartbeatEvent::Unreachable => {}
            }
        }
        let until = hb.registered_until(now);
        registered.send_if_modified(|u| {
            let changed = *u != until;
            *u = until;
            changed
        });
        let wake = hb.poll_timeout();
        tokio::select! {
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((id, reply)) = done {
                    hb.handle_reply(Instant::now(), id, reply);
                }
            }
            () = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}
