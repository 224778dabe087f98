//! A node's registration in the cluster, sans IO: a heartbeat key with a
//! TTL, refreshed at a third of it, and the entry other nodes read.
//!
//! Same rule as the lease ([`crate::lease`]): the node counts itself
//! registered only until `sent + ttl − margin` of its last answered
//! heartbeat. Registration tells peers where to reach a node; it grants no
//! act (only a lease does), so a lapsed registration does not stop the
//! node's rooms.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::lease::{NoAnswer, RequestId};
use crate::node::NodeId;

/// Timings of the heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// The node key's TTL: a dead node disappears from the list after it.
    pub ttl: Duration,
    /// Time between two heartbeats.
    pub every: Duration,
    /// As [`crate::LeaseConfig::margin`].
    pub margin: Duration,
    /// Wait before retrying a heartbeat that got no answer.
    pub retry: Duration,
}

impl Default for HeartbeatConfig {
    /// 5 s, as the lease: a dead node leaves the list within 5 s.
    fn default() -> Self {
        HeartbeatConfig::with_ttl(Duration::from_secs(5))
    }
}

impl HeartbeatConfig {
    /// Beat at a third of `ttl`; margin and retry as the lease's.
    pub fn with_ttl(ttl: Duration) -> Self {
        HeartbeatConfig {
            ttl,
            every: ttl / 3,
            margin: ttl / 100 + Duration::from_millis(2),
            retry: ttl / 20,
        }
    }
}

/// One live node as listed by [`crate::Redis::nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    pub node: NodeId,
    /// Where peers reach it (its node-to-node URL), as it advertised.
    pub address: String,
    /// Its last heartbeat, Redis time in milliseconds since the Unix epoch.
    pub last_beat_ms: u64,
}

/// Checks an advertised address: 1 to 256 printable ASCII characters, no
/// space (it is stored as is after `v1:`).
pub fn check_address(address: &str) -> Result<(), Error> {
    let ok = !address.is_empty()
        && address.len() <= 256
        && address.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(Error::Address) }
}

/// A heartbeat to send now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeatRequest {
    pub id: RequestId,
    pub node: NodeId,
    pub address: String,
    pub ttl: Duration,
}

/// What happened to the registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatEvent {
    /// Registered (first time, or again after a lapse) until `until`.
    Registered { until: Instant },
    /// No answered heartbeat for a whole TTL: peers may no longer list us.
    Lapsed,
    /// A heartbeat got no answer.
    Unreachable,
}

/// The heartbeat machine of one node.
#[derive(Debug)]
pub struct Heartbeat {
    node: NodeId,
    address: String,
    config: HeartbeatConfig,
    next_at: Instant,
    in_flight: Option<(RequestId, Instant)>,
    until: Option<Instant>,
    next_id: u64,
    events: VecDeque<HeartbeatEvent>,
}

impl Heartbeat {
    /// Starts beating at `now`.
    pub fn new(
        node: NodeId,
        address: String,
        config: HeartbeatConfig,
        now: Instant,
    ) -> Result<Self, Error> {
        check_address(&address)?;
        Ok(Heartbeat {
            node,
            address,
            config,
            next_at: now,
            in_flight: None,
            until: None,
            next_id: 0,
            events: VecDeque::new(),
        })
    }

    /// Whether the node is proven registered at `now`.
    pub fn registered(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// The proven end of the registration, if registered at `now`.
    pub fn registered_until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|u| now < *u)
    }

    /// The next heartbeat to send, stamped as sent at `now`.
    pub fn poll_request(&mut self, now: Instant) -> Option<BeatRequest> {
        self.handle_timeout(now);
        if self.in_flight.is_some() || now < self.next_at {
            return None;
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.in_flight = Some((id, now));
        Some(BeatRequest {
            id,
            node: self.node.clone(),
            address: self.address.clone(),
            ttl: self.config.ttl,
        })
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<HeartbeatEvent> {
        self.events.pop_front()
    }

    /// When to call [`Heartbeat::handle_timeout`] (and poll) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let beat = self.in_flight.is_none().then_some(self.next_at);
        match (beat, self.until) {
            (Some(b), Some(u)) => Some(b.min(u)),
            (b, u) => b.or(u),
        }
    }

    /// Time passed: ends a registration whose proven deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(u) = self.until
            && now >= u
        {
            self.until = None;
            self.events.push_back(HeartbeatEvent::Lapsed);
        }
    }

    /// Redis's answer (or [`NoAnswer`]) to heartbeat `id`, received at `now`.
    pub fn handle_reply(&mut self, now: Instant, id: RequestId, reply: Result<(), NoAnswer>) {
        self.handle_timeout(now);
        let Some((_, sent)) = self.in_flight.filter(|(i, _)| *i == id) else {
            return;
        };
        self.in_flight = None;
        match reply {
            Ok(()) => {
                let until = sent + self.config.ttl.saturating_sub(self.config.margin);
                self.next_at = sent + self.config.every;
                if now < until {
                    let was = self.until.is_some();
                    self.until = Some(self.until.map_or(until, |u| u.max(until)));
                    if !was {
                        self.events.push_back(HeartbeatEvent::Registered { until });
                    }
                }
            }
            Err(NoAnswer) => {
                self.next_at = now + self.config.retry;
                self.events.push_back(HeartbeatEvent::Unreachable);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TTL: Duration = Duration::from_millis(600);

    #[test]
    fn beats_at_a_third_and_lapses_without_answers() {
        let t0 = Instant::now();
        let node = NodeId::new("a").unwrap();
        let mut hb = Heartbeat::new(
            node,
            "https://a:8443".into(),
            HeartbeatConfig::with_ttl(TTL),
            t0,
        )
        .unwrap();
        let req = hb.poll_request(t0).unwrap();
        assert_eq!(req.address, "https://a:8443");
        hb.handle_reply(t0, req.id, Ok(()));
        let until = t0 + TTL - (TTL / 100 + Duration::from_millis(2));
        assert_eq!(hb.poll_event(), Some(HeartbeatEvent::Registered { until }));
        assert_eq!(hb.poll_timeout(), Some(t0 + TTL / 3));
        assert!(hb.registered(until - Duration::from_millis(1)));
        let req = hb.poll_request(t0 + TTL / 3).unwrap();
        hb.handle_reply(t0 + TTL / 3, req.id, Err(NoAnswer));
        assert_eq!(hb.poll_event(), Some(HeartbeatEvent::Unreachable));
        hb.handle_timeout(until);
        assert!(!hb.registered(until));
        assert_eq!(hb.poll_event(), Some(HeartbeatEvent::Lapsed));
    }

    #[test]
    fn addresses_are_checked() {
        assert!(check_address("https://node-a.example:8443").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(257)] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Whenever the node counts itself registered, its key exists in
        /// (simulated) Redis, whatever the delays and losses.
        #[test]
        fn registered_implies_the_key_exists(
            steps in prop::collection::vec((0u64..300_000, any::<u8>()), 1..300),
        ) {
            let t0 = Instant::now();
            let mut t = 0u64; // µs, real time; the node's clock equals it
            let mut expires: Option<u64> = None;
            let mut net: Vec<(RequestId, Option<bool>)> = Vec::new();
            let mut hb = Heartbeat::new(
                NodeId::new("a").unwrap(), "h:1".into(), HeartbeatConfig::with_ttl(TTL), t0,
            ).unwrap();
            for (dt, what) in steps {
                let now = t0 + Duration::from_micros(t);
                match what % 5 {
                    0 => t += dt,
                    1 => if let Some(r) = hb.poll_request(now) { net.push((r.id, None)) },
                    2 => if let Some(p) = net.iter_mut().find(|p| p.1.is_none()) {
                        expires = Some(t + TTL.as_micros() as u64);
                        p.1 = Some(true);
                    },
                    3 => if !net.is_empty() {
                        let (id, done) = net.remove(0);
                        hb.handle_reply(now, id, if done == Some(true) { Ok(()) } else { Err(NoAnswer) });
                    },
                    _ => hb.handle_timeout(now),
                }
                let now = t0 + Duration::from_micros(t);
                if hb.registered(now) {
                    prop_assert!(expires.is_some_and(|e| e > t), "registered without a live key");
                }
            }
        }
    }
}
