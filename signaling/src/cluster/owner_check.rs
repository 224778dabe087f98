//! Whether this node may act as an act's owner now: what a room asks its
//! lease before admitting a participant or appending to the trace.

use ownership::{ActLease, LeaseStatus};

/// How long a room waits for its first claim's answer before telling a
/// joining client to retry (Redis answers in well under a millisecond
/// when it is up; [`RedisConfig::new`]'s command timeout is 1 s).
pub const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether this node may act as the act's owner now, as a room asks before
/// admitting a participant or appending to the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The lease is proven held (and, for [`Ownership::of_join`], Redis
    /// answers).
    Owner,
    /// Another node holds the act: the client is told `act_elsewhere`.
    Elsewhere,
    /// Redis does not answer, the claim is still pending, or the lease
    /// ended: the client is told `ownership_unavailable` and retries.
    Unavailable,
    /// The lease ended (lost, or released): the room must stop.
    Ended,
}

impl Ownership {
    /// Waits (at most [`CLAIM_WAIT`]) for a pending first claim to settle,
    /// then says whether the room may append to the trace as owner: only
    /// while the lease is proven held, Redis answering or not (a live act
    /// goes on to its lease's proven deadline).
    pub async fn of_append(lease: &mut ActLease) -> Ownership {
        settle(lease).await;
        match lease.status() {
            _ if lease.held().is_some() => Ownership::Owner,
            LeaseStatus::Taken { .. } => Ownership::Elsewhere,
            LeaseStatus::Claiming { .. } => Ownership::Unavailable,
            LeaseStatus::Held(_) | LeaseStatus::Lost { .. } | LeaseStatus::Released => {
                Ownership::Ended
            }
        }
    }

    /// As [`Ownership::of_append`], for a participant's `hello`: a join is
    /// admitted only while Redis answers too, since a lease Redis no
    /// longer renews will end within its TTL and the newcomer would be
    /// cut off at once; it retries instead.
    pub async fn of_join(lease: &mut ActLease) -> Ownership {
        match Ownership::of_append(lease).await {
            Ownership::Owner if !lease.redis_answering() => Ownership::Unavailable,
            other => other,
        }
    }
}

/// Waits until the first claim got an answer (held, taken, or "Redis does
/// not answer"), for at most [`CLAIM_WAIT`].
async fn settle(lease: &mut ActLease) {
    if lease.status() == (LeaseStatus::Claiming { retrying: false }) {
        let _ = tokio::time::timeout(
            CLAIM_WAIT,
            lease.wait_for(|s| *s != LeaseStatus::Claiming { retrying: false }),
        )
        .await;
    }
}
