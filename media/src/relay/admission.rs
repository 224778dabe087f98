//! Who may allocate: the TURN REST API check on every authenticated
//! request, and the allocation quotas (per participant of an act, per act
//! and in total; a participant's connection-test credentials count as
//! theirs, and so do credentials issued at different times, so minting a
//! new username gets around nothing).
//!
//! `turn` 0.17 gives the relay-address generator no username, so each
//! listener has its own `turn::Server`, whose auth handler notes the last
//! username it accepted in a slot that the listener's generator reads.
//! This is exact because a `turn` server handles the requests of a
//! listener one at a time, in its read loop, and the Allocate handler
//! authenticates (calls the auth handler) just before it asks the
//! generator for a relayed socket, with no other request in between.
//! The `turn` version is pinned (`=0.17.2`) for that reason.
//!
//! The slot is read, not taken: for an Allocate with EVEN-PORT, `turn`
//! first calls the generator to find a free port and drops that socket
//! unused, then calls it again for the allocation. Such a probe holds a
//! quota slot only while `turn` holds it, and is not counted as created
//! (see `RelayConn`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::net::UdpSocket;

use super::RelayStats;
use super::credentials::{TurnCredentials, TurnUsername};
use super::peer::{PeerFilter, RelayConn, Scope};
use super::traffic::{ParticipantTraffic, TrafficSnapshot};

/// How many live allocations are allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotas {
    /// Per participant of an act.
    pub(crate) per_participant: usize,
    /// Per act.
    pub(crate) per_act: usize,
    /// In all.
    pub(crate) total: usize,
}

/// Live allocations, by username and by participant.
#[derive(Debug)]
pub(crate) struct Admission {
    quotas: Quotas,
    live: Mutex<Live>,
    stats: Arc<RelayStats>,
    /// The clock origin of the participants' traffic counters.
    epoch: Instant,
}

#[derive(Debug, Default)]
struct Live {
    by_user: HashMap<String, usize>,
    /// Act id, then participant id (as the username spells them): the
    /// participant's live allocations and their shared counters.
    by_participant: HashMap<String, HashMap<String, Participant>>,
    /// Act id, then the participant the quota counts (a connection-test
    /// credential's participant without its `precall-` prefix): live
    /// allocations.
    quota_use: HashMap<String, HashMap<String, usize>>,
    /// The generation the next participant entry gets.
    next_generation: u64,
    total: usize,
}

/// One participant's live allocations and counters.
#[derive(Debug)]
struct Participant {
    allocations: usize,
    traffic: Arc<ParticipantTraffic>,
}

impl Admission {
    pub(crate) fn new(quotas: Quotas, stats: Arc<RelayStats>) -> Self {
        Admission {
            quotas,
            live: Mutex::new(Live::default()),
            stats,
            epoch: Instant::now(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one allocation slot for `username`, or says which quota is
    /// reached.
    pub(crate) fn acquire(self: &Arc<Self>, username: &str) -> Result<AllocationSlot, String> {
        let mut live = self.live();
        let parsed = TurnUsername::parse(username).ok();
        let refuse = |reason: String| {
            self.stats
                .allocations_refused_quota
                .fetch_add(1, Ordering::Relaxed);
            Err(reason)
        };
        if live.total >= self.quotas.total {
            return refuse(format!(
                "total allocation quota reached ({} allocations)",
                self.quotas.total
            ));
        }
        // The auth handler lets only well-formed usernames through.
        let Some(parsed) = parsed else {
            return refuse("allocation without a well-formed username".to_owned());
        };
        let of_act = live.quota_use.get(&parsed.act);
        let act_use: usize = of_act.map(|m| m.values().sum()).unwrap_or(0);
        let mine = of_act
            .and_then(|m| m.get(parsed.quota_participant()))
            .copied()
            .unwrap_or(0);
        if act_use >= self.quotas.per_act {
            return refuse(format!(
                "allocation quota reached for the act ({} allocations)",
                self.quotas.per_act
            ));
        }
        if mine >= self.quotas.per_participant {
            return refuse(format!(
                "allocation quota reached for participant {} ({} allocations)",
                parsed.quota_participant(),
                self.quotas.per_participant
            ));
        }
        *live
            .quota_use
            .entry(parsed.act.clone())
            .or_default()
            .entry(parsed.quota_participant().to_owned())
            .or_default() += 1;
        *live.by_user.entry(username.to_owned()).or_default() += 1;
        live.total += 1;
        self.stats
            .allocations_active
            .store(live.total as u64, Ordering::Relaxed);
        let owner = Some((parsed.act.clone(), parsed.participant.clone()));
        let traffic = match &owner {
            Some((act, participant)) => {
                let Live {
                    by_participant,
                    next_generation,
                    ..
                } = &mut *live;
                let entry = by_participant
                    .entry(act.clone())
                    .or_default()
                    .entry(participant.clone())
                    .or_insert_with(|| {
                        *next_generation += 1;
                        Participant {
                            allocations: 0,
                            traffic: Arc::new(ParticipantTraffic::new(
                                *next_generation,
                                self.epoch,
                            )),
                        }
                    });
                entry.allocations += 1;
                Arc::clone(&entry.traffic)
            }
            None => Arc::new(ParticipantTraffic::new(0, self.epoch)),
        };
        Ok(AllocationSlot {
            admission: Arc::clone(self),
            username: username.to_owned(),
            owner,
            traffic,
            released: AtomicBool::new(false),
        })
    }

    fn release(&self, username: &str, owner: Option<&(String, String)>) {
        let mut live = self.live();
        if let Some(n) = live.by_user.get_mut(username) {
            *n -= 1;
            if *n == 0 {
                live.by_user.remove(username);
            }
            live.total -= 1;
        }
        if let Some((act, participant)) = owner
            && let Some(of_act) = live.quota_use.get_mut(act)
        {
            let counted = participant
                .strip_prefix(super::credentials::PROBE_PREFIX)
                .unwrap_or(participant);
            if let Some(n) = of_act.get_mut(counted) {
                *n -= 1;
                if *n == 0 {
                    of_act.remove(counted);
                }
            }
            if of_act.is_empty() {
                live.quota_use.remove(act);
            }
        }
        if let Some((act, participant)) = owner
            && let Some(of_act) = live.by_participant.get_mut(act)
        {
            if let Some(p) = of_act.get_mut(participant) {
                p.allocations -= 1;
                if p.allocations == 0 {
                    of_act.remove(participant);
                }
            }
            if of_act.is_empty() {
                live.by_participant.remove(act);
            }
        }
        self.stats
            .allocations_active
            .store(live.total as u64, Ordering::Relaxed);
    }

    /// The traffic of every participant of `act` with a live allocation,
    /// by participant id.
    pub(crate) fn traffic_of_act(&self, act: &str) -> Vec<(String, TrafficSnapshot)> {
        self.live()
            .by_participant
            .get(act)
            .map(|of_act| {
                of_act
                    .iter()
                    .map(|(id, p)| (id.clone(), p.traffic.snapshot(p.allocations)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The usernames with live allocations that belong to `participant`
    /// of `act`, with their allocation counts.
    pub(crate) fn usernames_of(&self, act: &str, participant: &str) -> Vec<(String, usize)> {
        self.live()
            .by_user
            .iter()
            .filter(|(name, _)| {
                TurnUsername::parse(name)
                    .is_ok_and(|u| u.act == act && u.participant == participant)
            })
            .map(|(name, n)| (name.clone(), *n))
            .collect()
    }

    /// Every username with live allocations, with their counts.
    pub(crate) fn usernames(&self) -> Vec<(String, usize)> {
        self.live()
            .by_user
            .iter()
            .map(|(name, n)| (name.clone(), *n))
            .collect()
    }

    /// Live allocations.
    pub(crate) fn total(&self) -> usize {
        self.live().total
    }

    /// Live allocations of `username`.
    pub(crate) fn of_user(&self, username: &str) -> usize {
        self.live().by_user.get(username).copied().unwrap_or(0)
    }
}

/// One allocation's place in the quotas, given back once (on the relayed
/// socket's `close`, or when it is dropped).
#[derive(Debug)]
pub(crate) struct AllocationSlot {
    admission: Arc<Admission>,
    username: String,
    /// The act and participant the username names.
    owner: Option<(String, String)>,
    /// The owner's counters, which the relayed socket bumps per datagram.
    traffic: Arc<ParticipantTraffic>,
    released: AtomicBool,
}

impl AllocationSlot {
    /// The counters of the participant this allocation belongs to.
    pub(crate) fn traffic(&self) -> &ParticipantTraffic {
        &self.traffic
    }

    /// Whether the allocation has closed.
    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.admission.release(&self.username, self.owner.as_ref());
        }
    }
}

impl Drop for AllocationSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// The last username the auth handler of one listener accepted.
pub(crate) type LastUser = Arc<Mutex<Option<String>>>;

/// The `turn` auth handler of one listener: TURN REST API credentials.
pub(crate) struct ListenerAuth {
    pub(crate) credentials: Arc<TurnCredentials>,
    pub(crate) last_user: LastUser,
    pub(crate) stats: Arc<RelayStats>,
}

impl turn::auth::AuthHandler for ListenerAuth {
    /// Returns the long-term key `MD5(username:realm:password)` of a
    /// usable username; `turn` then checks the request's
    /// MESSAGE-INTEGRITY with it (a wrong password fails there).
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let mut last = self.last_user.lock().unwrap_or_else(|e| e.into_inner());
        match self.credentials.check_username(username) {
            Ok(_) => {
                *last = Some(username.to_owned());
                let password = self.credentials.password_for(username);
                Ok(turn::auth::generate_auth_key(username, realm, &password))
            }
            Err(err) => {
                *last = None;
                self.stats.auth_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src_addr, %err, "TURN credentials refused");
                Err(turn::Error::Other(err.to_string()))
            }
        }
    }
}

/// The relay-address generator of one listener: binds a UDP socket on the
/// relay IP, within the quotas.
pub(crate) struct RelayAllocator {
    pub(crate) relay_ip: IpAddr,
    pub(crate) advertised_ip: IpAddr,
    pub(crate) last_user: LastUser,
    pub(crate) admission: Arc<Admission>,
    pub(crate) filter: Arc<PeerFilter>,
    pub(crate) stats: Arc<RelayStats>,
    /// Each way's cap of one allocation, if any.
    pub(crate) bandwidth: Option<governor::Quota>,
}

#[async_trait]
impl turn::relay::RelayAddressGenerator for RelayAllocator {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn webrtc_util::Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.relay_ip.is_ipv4() {
            return Err(turn::Error::Other(
                "requested address family is not served".to_owned(),
            ));
        }
        let username = self
            .last_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                turn::Error::Other("allocation without an authenticated username".to_owned())
            })?;
        let slot = self.admission.acquire(&username).map_err(|reason| {
            tracing::info!(%reason, "TURN allocation refused");
            turn::Error::Other(reason)
        })?;
        let scope = match TurnUsername::parse(&username) {
            Ok(u) if u.is_probe_only() => Scope::ProbeOnly,
            _ => Scope::Call,
        };
        let socket = UdpSocket::bind(SocketAddr::new(self.relay_ip, requested_port))
            .await
            .map_err(|e| turn::Error::Other(format!("cannot bind a relayed socket: {e}")))?;
        let mut relayed = socket
            .local_addr()
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        relayed.set_ip(self.advertised_ip);
        let conn = RelayConn::new(
            socket,
            Arc::clone(&self.filter),
            scope,
            Arc::clone(&self.stats),
            slot,
        )
        .with_bandwidth(self.bandwidth);
        Ok((Arc::new(conn), relayed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission() -> Arc<Admission> {
        Arc::new(Admission::new(
            Quotas {
                per_participant: 10,
                per_act: 100,
                total: 100,
            },
            Arc::default(),
        ))
    }

    #[test]
    fn participants_share_counters_until_their_last_allocation_closes() {
        let a = admission();
        // Two credentials of one participant (issued at different times),
        // and one of another participant of the same act.
        let first = a.acquire("100:act-1:2").unwrap();
        let second = a.acquire("200:act-1:2").unwrap();
        let other = a.acquire("100:act-1:1").unwrap();
        first.traffic().on_sent(100);
        second.traffic().on_sent(50);
        other.traffic().on_received(10);
        let mut seen = a.traffic_of_act("act-1");
        seen.sort_by(|x, y| x.0.cmp(&y.0));
        let [(p1, one), (p2, two)] = &seen[..] else {
            panic!("{seen:?}");
        };
        assert_eq!((p1.as_str(), p2.as_str()), ("1", "2"));
        assert_eq!((one.allocations, one.received_packets), (1, 1));
        assert_eq!(
            (two.allocations, two.sent_packets, two.sent_bytes),
            (2, 2, 150)
        );
        assert!(a.traffic_of_act("act-2").is_empty());

        // One of two closes: the counters stay; the last closes: gone.
        let generation = two.generation;
        first.release();
        let left = a.traffic_of_act("act-1");
        let two = left.iter().find(|(p, _)| p == "2").unwrap().1;
        assert_eq!((two.allocations, two.sent_packets), (1, 2));
        drop(second);
        assert!(a.traffic_of_act("act-1").iter().all(|(p, _)| p != "2"));
        // A new allocation starts a new generation from zero.
        let again = a.acquire("300:act-1:2").unwrap();
        let fresh = a
            .traffic_of_act("act-1")
            .into_iter()
            .find(|(p, _)| p == "2")
            .unwrap()
            .1;
        assert_ne!(fresh.generation, generation);
        assert_eq!((fresh.allocations, fresh.sent_packets), (1, 0));
        drop((again, other));
        assert!(a.traffic_of_act("act-1").is_empty());
        assert_eq!(a.total(), 0);
    }

    #[test]
    fn quotas_count_per_participant_and_act_whatever_the_username() {
        let a = Arc::new(Admission::new(
            Quotas {
                per_participant: 2,
                per_act: 3,
                total: 100,
            },
            Arc::default(),
        ));
        // New usernames (later expiries, the connection test's) for the
        // same participant share one quota.
        let one = a.acquire("100:act-1:2").unwrap();
        let two = a.acquire("200:act-1:precall-2").unwrap();
        let e = a.acquire("300:act-1:2").unwrap_err();
        assert!(e.contains("participant 2"), "{e}");
        assert!(a.acquire("400:act-1:precall-2").is_err());
        // The act's quota holds whoever asks.
        let three = a.acquire("100:act-1:3").unwrap();
        let e = a.acquire("100:act-1:4").unwrap_err();
        assert!(e.contains("act"), "{e}");
        a.acquire("100:act-2:4").unwrap();
        drop(two);
        let again = a.acquire("500:act-1:2").unwrap();
        assert!(a.acquire("not-a-username").is_err());
        drop((one, three, again));
    }
}
