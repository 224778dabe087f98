//! The allocation quotas and the slots they hand out: per participant of
//! an act, per act and in total (a participant's connection-test
//! credentials count as theirs, and so do credentials issued at different
//! times, so minting a new username gets around nothing); and the live
//! allocations by username and by participant, with each participant's
//! traffic counters.
//!
//! A slot is held by the relayed socket of one allocation and given back
//! when it closes. For an Allocate with EVEN-PORT, `turn` first asks for a
//! socket to find a free port and drops it unused: such a probe holds a
//! slot only while `turn` holds it (see `turn_server` and `relayed`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::RelayStats;
use super::credentials::{PROBE_PREFIX, TurnUsername};
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

/// Why an allocation was refused a slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// The relay holds its total of allocations.
    #[error("total allocation quota reached ({0} allocations)")]
    Total(usize),
    /// The username is not one the auth handler lets through.
    #[error("allocation without a well-formed username")]
    Unparsable,
    /// The act holds its quota.
    #[error("allocation quota reached for the act ({0} allocations)")]
    Act(usize),
    /// The participant (with its connection-test credentials) holds its
    /// quota.
    #[error("allocation quota reached for participant {participant} ({quota} allocations)")]
    Participant {
        /// The participant the quota counts.
        participant: String,
        /// Its quota.
        quota: usize,
    },
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
    pub(crate) fn acquire(self: &Arc<Self>, username: &str) -> Result<AllocationSlot, Refused> {
        let mut live = self.live();
        let parsed = TurnUsername::parse(username).ok();
        let refuse = |reason: Refused| {
            self.stats
                .allocations_refused_quota
                .fetch_add(1, Ordering::Relaxed);
            Err(reason)
        };
        if live.total >= self.quotas.total {
            return refuse(Refused::Total(self.quotas.total));
        }
        // The auth handler lets only well-formed usernames through.
        let Some(parsed) = parsed else {
            return refuse(Refused::Unparsable);
        };
        let of_act = live.quota_use.get(&parsed.act);
        let act_use: usize = of_act.map(|m| m.values().sum()).unwrap_or(0);
        let mine = of_act
            .and_then(|m| m.get(parsed.quota_participant()))
            .copied()
            .unwrap_or(0);
        if act_use >= self.quotas.per_act {
            return refuse(Refused::Act(self.quotas.per_act));
        }
        if mine >= self.quotas.per_participant {
            return refuse(Refused::Participant {
                participant: parsed.quota_participant().to_owned(),
                quota: self.quotas.per_participant,
            });
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
                .strip_prefix(PROBE_PREFIX)
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
        let e = a.acquire("300:act-1:2").unwrap_err().to_string();
        assert!(e.contains("participant 2"), "{e}");
        assert!(a.acquire("400:act-1:precall-2").is_err());
        // The act's quota holds whoever asks.
        let three = a.acquire("100:act-1:3").unwrap();
        let e = a.acquire("100:act-1:4").unwrap_err().to_string();
        assert!(e.contains("act"), "{e}");
        a.acquire("100:act-2:4").unwrap();
        drop(two);
        let again = a.acquire("500:act-1:2").unwrap();
        assert!(a.acquire("not-a-username").is_err());
        drop((one, three, again));
    }
}
