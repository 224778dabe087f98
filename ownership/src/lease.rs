//! The lease of one act on one node, sans IO.
//!
//! The machine is fed the time (`now`, a monotonic [`Instant`]) and the
//! answers to the Redis requests it asked for, and says which request to
//! send next ([`Lease::poll_request`]), what happened
//! ([`Lease::poll_event`]) and when to wake it ([`Lease::poll_timeout`]).
//! The driver (`crate::task`) sends each request as soon as it is polled and
//! feeds back exactly one answer per request, or a [`NoAnswer`] after its own
//! timeout.
//!
//! **The rule that keeps two nodes from both owning an act.** A lease is
//! proven held only until `sent + ttl − margin`, where `sent` is when the
//! claim or the last successful renew was *sent*: Redis set the key's expiry
//! at `processed + ttl ≥ sent + ttl`, so the key cannot have expired (and
//! been claimed by another node) before that instant, as long as this node's
//! clock and Redis's run at the same rate within `margin`. Past it, without a
//! newer proof, [`Lease::held`] answers `None` and the room must stop acting
//! for the act, whatever Redis's state: unreachable Redis means the lease
//! ends at its proven deadline, not later. Renewals start at a third of the
//! TTL, so two more tries fit before the deadline.
//!
//! A Redis that restarted empty would forget the lease early: the claim
//! script refuses claims until the instance has held its data for one TTL
//! (docs/OWNERSHIP.md, "Restart guard"), by which time every lease granted
//! by the lost data has passed its deadline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::fence::{FencingToken, LeaseValue};
use crate::node::NodeId;

/// Timings of a lease. All nodes of a cluster use the same TTL: the restart
/// guard waits the claiming node's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The key's time to live in Redis (`PX`).
    pub ttl: Duration,
    /// How long after a proof (claim or renew sent) the next renew goes out.
    pub renew_every: Duration,
    /// Subtracted from the TTL: the clock rate difference between this node
    /// and Redis over one TTL, plus scheduling slack.
    pub margin: Duration,
    /// First wait before retrying a claim or renew that got no answer.
    pub retry_min: Duration,
    /// Longest wait between two claim attempts.
    pub retry_max: Duration,
}

impl Default for LeaseConfig {
    /// A 5 s lease: after its node dies, an act waits at most 5 s before
    /// another node may claim it (the issue asks for both pages back within
    /// 15 s), renewed every 1.7 s.
    fn default() -> Self {
        LeaseConfig::with_ttl(Duration::from_secs(5))
    }
}

impl LeaseConfig {
    /// Renew at a third of the TTL; margin 1 % of the TTL + 2 ms (a clock
    /// drift far above what quartz clocks show); retries from a 20th of
    /// the TTL up to the TTL.
    pub fn with_ttl(ttl: Duration) -> Self {
        LeaseConfig {
            ttl,
            renew_every: ttl / 3,
            margin: ttl / 100 + Duration::from_millis(2),
            retry_min: ttl / 20,
            retry_max: ttl,
        }
    }

    /// How long a proof sent at some instant holds.
    fn proven_for(&self) -> Duration {
        self.ttl.saturating_sub(self.margin)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.retry_min.saturating_mul(factor).min(self.retry_max)
    }
}

/// Matches an answer to its request; answers to older requests are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// A Redis request the lease needs sent now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub op: Op,
}

/// What to ask Redis (the scripts are in `crate::driver`, the keys in docs/OWNERSHIP.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Claim script: restart guard, then `INCR` the act's counter and
    /// `SET lease v1:TOKEN:NODE NX PX ttl` if no lease is held.
    Claim { node: NodeId, ttl: Duration },
    /// Renew script: `PEXPIRE lease ttl` if the lease still holds `value`.
    Renew { value: LeaseValue, ttl: Duration },
    /// Release script: `DEL lease` if the lease still holds `value`.
    Release { value: LeaseValue },
}

/// Redis's answer to an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The claim won under this token.
    Claimed(FencingToken),
    /// Another claim holds the act; its value when it could be read.
    Taken(Option<LeaseValue>),
    /// The Redis instance lost its data less than one TTL ago: try again then.
    WarmingUp { retry_after: Duration },
    /// Renew: whether the lease still held our value (and was extended).
    Renewed(bool),
    /// Release: whether the lease held our value (and was deleted).
    Released(bool),
}

/// A request that got no usable answer: Redis unreachable, timed out, or an
/// error. Whether Redis carried it out is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoAnswer;

/// Why a held lease ended without being released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// Its proven deadline passed without a newer proof (Redis unreachable or slow).
    Expired,
    /// Redis answered that the lease no longer holds our value.
    Superseded,
}

/// What happened, for the room and the logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    /// This node owns the act until `until`, under `token`.
    Acquired { token: FencingToken, until: Instant },
    /// A renew proved the lease until `until`.
    Renewed { token: FencingToken, until: Instant },
    /// The claim lost: another node holds the act (its value if readable).
    Taken { owner: Option<LeaseValue> },
    /// The node no longer owns the act and must stop acting for it.
    Lost {
        token: FencingToken,
        reason: LostReason,
    },
    /// The release asked for went through (or the lease was already gone).
    Released { token: FencingToken },
    /// A request got no answer; claims back off, a held lease keeps its deadline.
    Unreachable,
}

/// Proof that this node holds the act's lease at the instant asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub token: FencingToken,
    /// The proven deadline: act only before it.
    pub until: Instant,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: RequestId,
    sent: Instant,
}

#[derive(Clone, Debug)]
enum State {
    Idle,
    Claiming {
        attempt: u32,
        next_try: Instant,
        in_flight: Option<InFlight>,
        /// `release` was asked while the claim was in flight: a won claim is
        /// given back at once.
        cancelled: bool,
    },
    Held {
        value: LeaseValue,
        until: Instant,
        renew_at: Instant,
        in_flight: Option<InFlight>,
    },
    Releasing {
        value: LeaseValue,
        in_flight: Option<InFlight>,
        sent_once: bool,
        /// Release asked by the user (announce `Released`), or given back
        /// after a loss (best effort, already announced as `Lost`).
        announce: bool,
    },
}

/// The lease machine of one act on one node.
#[derive(Debug)]
pub struct Lease {
    node: NodeId,
    config: LeaseConfig,
    state: State,
    next_id: u64,
    events: VecDeque<LeaseEvent>,
}

impl Lease {
    /// An idle machine for one act on `node`.
    pub fn new(node: NodeId, config: LeaseConfig) -> Self {
        Lease {
            node,
            config,
            state: State::Idle,
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    /// The timings it runs with.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Starts claiming the act (from idle only; returns whether it started).
    /// Claims that get no answer are retried with exponential backoff until
    /// won, taken, or [`Lease::release`]d.
    pub fn claim(&mut self, now: Instant) -> bool {
        if !matches!(self.state, State::Idle) {
            return false;
        }
        self.state = State::Claiming {
            attempt: 0,
            next_try: now,
            in_flight: None,
            cancelled: false,
        };
        true
    }

    /// Stops owning the act now, and deletes the lease in Redis if it still
    /// holds our value. [`Lease::held`] answers `None` from this call on.
    pub fn release(&mut self, now: Instant) {
        self.expire(now);
        match &mut self.state {
            State::Idle | State::Releasing { .. } => {}
            State::Claiming {
                in_flight,
                cancelled,
                ..
            } => {
                if in_flight.is_some() {
                    *cancelled = true;
                } else {
                    self.state = State::Idle;
                }
            }
            State::Held { value, .. } => {
                self.state = State::Releasing {
                    value: value.clone(),
                    in_flight: None,
                    sent_once: false,
                    announce: true,
                };
            }
        }
    }

    /// The lease, if it is proven held at `now`. The room asks before every
    /// action taken as the act's owner.
    pub fn held(&self, now: Instant) -> Option<Held> {
        match &self.state {
            State::Held { value, until, .. } if now < *until => Some(Held {
                token: value.token,
                until: *until,
            }),
            _ => None,
        }
    }

    /// Whether the machine is idle: no claim, no lease, nothing in flight.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// The next request to send, stamped as sent at `now`.
    pub fn poll_request(&mut self, now: Instant) -> Option<Request> {
        self.expire(now);
        let ttl = self.config.ttl;
        let node = self.node.clone();
        let id = RequestId(self.next_id);
        let op = match &mut self.state {
            State::Idle => return None,
            State::Claiming {
                next_try,
                in_flight,
                ..
            } => {
                if in_flight.is_some() || now < *next_try {
                    return None;
                }
                *in_flight = Some(InFlight { id, sent: now });
                Op::Claim { node, ttl }
            }
            State::Held {
                value,
                renew_at,
                in_flight,
                ..
            } => {
                if in_flight.is_some() || now < *renew_at {
                    return None;
                }
                *in_flight = Some(InFlight { id, sent: now });
                Op::Renew {
                    value: value.clone(),
                    ttl,
                }
            }
            State::Releasing {
                value,
                in_flight,
                sent_once,
                ..
            } => {
                if *sent_once {
                    return None;
                }
                *sent_once = true;
                *in_flight = Some(InFlight { id, sent: now });
                Op::Release {
                    value: value.clone(),
                }
            }
        };
        self.next_id += 1;
        Some(Request { id, op })
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<LeaseEvent> {
        self.events.pop_front()
    }

    /// When to call [`Lease::handle_timeout`] (and poll) next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle => None,
            State::Claiming {
                next_try,
                in_flight,
                ..
            } => in_flight.is_none().then_some(*next_try),
            State::Held {
                until,
                renew_at,
                in_flight,
                ..
            } => Some(if in_flight.is_none() {
                (*renew_at).min(*until)
            } else {
                *until
            }),
            State::Releasing { .. } => None,
        }
    }

    /// Time passed: ends a lease whose proven deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Redis's answer (or [`NoAnswer`]) to request `id`, received at `now`.
    pub fn handle_reply(&mut self, now: Instant, id: RequestId, reply: Result<Reply, NoAnswer>) {
        self.expire(now);
        let config = self.config;
        match &mut self.state {
            State::Idle => {}
            State::Claiming {
                attempt,
                next_try,
                in_flight,
                cancelled,
            } => {
                let Some(sent) = in_flight.filter(|f| f.id == id).map(|f| f.sent) else {
                    return;
                };
                *in_flight = None;
                match reply {
                    Ok(Reply::Claimed(token)) => {
                        let value = LeaseValue {
                            token,
                            node: self.node.clone(),
                        };
                        let until = sent + config.proven_for();
                        if *cancelled || now >= until {
                            if now >= until && !*cancelled {
                                self.events.push_back(LeaseEvent::Lost {
                                    token,
                                    reason: LostReason::Expired,
                                });
                            }
                            self.state = State::Releasing {
                                value,
                                in_flight: None,
                                sent_once: false,
                                announce: false,
                            };
                        } else {
                            self.events.push_back(LeaseEvent::Acquired { token, until });
                            self.state = State::Held {
                                value,
                                until,
                                renew_at: sent + config.renew_every,
                                in_flight: None,
                            };
                        }
                    }
                    Ok(Reply::Taken(owner)) => {
                        if !*cancelled {
                            self.events.push_back(LeaseEvent::Taken { owner });
                        }
                        self.state = State::Idle;
                    }
                    Ok(Reply::WarmingUp { retry_after }) if !*cancelled => {
                        *next_try = now + retry_after;
                    }
                    Err(NoAnswer) if !*cancelled => {
                        *next_try = now + config.backoff(*attempt);
                        *attempt = attempt.saturating_add(1);
                        self.events.push_back(LeaseEvent::Unreachable);
                    }
                    // Cancelled, or an answer that does not fit a claim: a
                    // claim that might have won stays unknown to us and
                    // expires in Redis by itself.
                    _ => self.state = State::Idle,
                }
            }
            State::Held {
                value,
                until,
                renew_at,
                in_flight,
            } => {
                let Some(sent) = in_flight.filter(|f| f.id == id).map(|f| f.sent) else {
                    return;
                };
                *in_flight = None;
                match reply {
                    Ok(Reply::Renewed(true)) => {
                        *until = (*until).max(sent + config.proven_for());
                        *renew_at = sent + config.renew_every;
                        self.events.push_back(LeaseEvent::Renewed {
                            token: value.token,
                            until: *until,
                        });
                    }
                    Ok(Reply::Renewed(false)) => {
                        self.events.push_back(LeaseEvent::Lost {
                            token: value.token,
                            reason: LostReason::Superseded,
                        });
                        self.state = State::Idle;
                    }
                    _ => {
                        *renew_at = now + config.retry_min;
                        self.events.push_back(LeaseEvent::Unreachable);
                    }
                }
            }
            State::Releasing {
                value,
                in_flight,
                announce,
                ..
            } => {
                if in_flight.is_none_or(|f| f.id != id) {
                    return;
                }
                if *announce {
                    self.events
                        .push_back(LeaseEvent::Released { token: value.token });
                }
                self.state = State::Idle;
            }
        }
        self.expire(now);
    }

    /// Ends a held lease whose proven deadline is reached: announces the
    /// loss and gives the key back (best effort, compare-and-delete).
    fn expire(&mut self, now: Instant) {
        if let State::Held { value, until, .. } = &self.state
            && now >= *until
        {
            self.events.push_back(LeaseEvent::Lost {
                token: value.token,
                reason: LostReason::Expired,
            });
            self.state = State::Releasing {
                value: value.clone(),
                in_flight: None,
                sent_once: false,
                announce: false,
            };
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
