//! Budgets of trace events, without IO: how many durable events the
//! messages of one participant, and of one act, may add per minute and in
//! total. Every event a client's message causes is written to the trace
//! for good, and some also stay in the act's memory; without a budget a
//! participant could append thousands (a flood of `callback_number` or
//! `mode` frames before consent) and grow both without bound.
//!
//! The room asks [`TraceBudget::check`] before it runs a budgeted
//! message and [`TraceBudget::charge`]s the events it appended after.
//! Messages that must never be refused (withdrawing consent, concluding,
//! cancelling, leaving) are charged but not checked: they are bounded by
//! the act's rules (a withdrawal needs a consent, a conclusion ends the act).
//!
//! What the live session exchanges (chat digests, file shares, screen
//! shares) has a budget of its own ([`Pool::Exchange`], larger, since a
//! conversation reports each message twice): a busy chat never spends
//! the budget of consents and modes, and a flood of it is held at its own
//! rate, under the act's own caps (10 000 chat reports, 1 000 shares).

use std::collections::BTreeMap;
use std::time::Duration;

use session::{ParticipantId, Timestamp};

/// The budgets in force; from the settings file's `[http]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Events one participant's messages may add per minute.
    pub participant_per_minute: u32,
    /// Events one participant's messages may add over the act's life.
    pub participant_total: u32,
    /// Events all participants' messages may add to one act per minute.
    pub act_per_minute: u32,
    /// Events all participants' messages may add to one act in total.
    pub act_total: u32,
    /// Times one participant may say `hello` (join or rejoin) per minute:
    /// each appends a join, and a lost connection before it an incident.
    pub joins_per_minute: u32,
    /// And over the act's life.
    pub joins_total: u32,
    /// Events one participant's exchange reports (chat digests, shares,
    /// screen shares) may add per minute, and over the act's life.
    pub exchange_per_minute: u32,
    pub exchange_total: u32,
    /// The same for all participants of one act together.
    pub exchange_act_per_minute: u32,
    pub exchange_act_total: u32,
}

impl Default for BudgetLimits {
    /// Sized from a consultation: a few consents, route and mode changes
    /// and call-back numbers per participant, reconnections included,
    /// stay far below.
    fn default() -> BudgetLimits {
        BudgetLimits {
            participant_per_minute: 30,
            participant_total: 300,
            // Four participants at their own rate still fit: one flooding
            // participant never stops the others.
            act_per_minute: 120,
            act_total: 1000,
            // A flapping network reconnects a few times a minute.
            joins_per_minute: 20,
            joins_total: 200,
            // Two a second for a participant's chat, sent and received,
            // and their files; the act's totals sit just above its own
            // caps of 10 000 chat reports and 1 000 shares.
            exchange_per_minute: 120,
            exchange_total: 6_000,
            exchange_act_per_minute: 300,
            exchange_act_total: 12_000,
        }
    }
}

/// Which budget a message draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// Consents, modes, media paths, call-back numbers...
    Records,
    /// Chat digests, file shares and screen shares.
    Exchange,
}

/// The four numbers of one pool.
#[derive(Clone, Copy, Debug)]
struct PoolLimits {
    participant_per_minute: u32,
    participant_total: u32,
    act_per_minute: u32,
    act_total: u32,
}

impl BudgetLimits {
    fn pool(&self, pool: Pool) -> PoolLimits {
        match pool {
            Pool::Records => PoolLimits {
                participant_per_minute: self.participant_per_minute,
                participant_total: self.participant_total,
                act_per_minute: self.act_per_minute,
                act_total: self.act_total,
            },
            Pool::Exchange => PoolLimits {
                participant_per_minute: self.exchange_per_minute,
                participant_total: self.exchange_total,
                act_per_minute: self.exchange_act_per_minute,
                act_total: self.exchange_act_total,
            },
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Events counted for one participant or one act.
#[derive(Clone, Copy, Debug)]
struct Usage {
    total: u32,
    window_start: Timestamp,
    in_window: u32,
}

impl Usage {
    fn new(now: Timestamp) -> Usage {
        Usage {
            total: 0,
            window_start: now,
            in_window: 0,
        }
    }

    fn in_window_at(&self, now: Timestamp) -> u32 {
        if now.since(self.window_start) >= MINUTE {
            0
        } else {
            self.in_window
        }
    }

    fn add(&mut self, n: u32, now: Timestamp) {
        if now.since(self.window_start) >= MINUTE {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window = self.in_window.saturating_add(n);
        self.total = self.total.saturating_add(n);
    }
}

/// Which budget refused, for the message to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exhausted {
    #[error("you have recorded too many events this minute ({0} at most); wait a minute")]
    ParticipantMinute(u32),
    #[error("you have recorded the most events allowed for this act ({0})")]
    ParticipantTotal(u32),
    #[error("this act has recorded too many events this minute ({0} at most); wait a minute")]
    ActMinute(u32),
    #[error("this act has recorded the most events allowed ({0})")]
    ActTotal(u32),
    #[error("you have joined too many times this minute ({0} at most); wait a minute")]
    JoinsMinute(u32),
    #[error("you have joined the most times allowed for this act ({0})")]
    JoinsTotal(u32),
    #[error(
        "you have reported too many chat messages and files this minute ({0} events at most); wait a minute"
    )]
    ExchangeMinute(u32),
    #[error("you have reported the most chat messages and files allowed for this act ({0} events)")]
    ExchangeTotal(u32),
    #[error(
        "this act has recorded too many chat messages and files this minute ({0} events at most); wait a minute"
    )]
    ExchangeActMinute(u32),
    #[error("this act has recorded the most chat messages and files allowed ({0} events)")]
    ExchangeActTotal(u32),
}

/// One pool's usage: the act's and each participant's.
#[derive(Debug, Default)]
struct Counts {
    act: Option<Usage>,
    participants: BTreeMap<ParticipantId, Usage>,
}

/// One act's budgets: its own and each participant's. Holds one entry per
/// participant (at most [`session::Act::MAX_PARTICIPANTS`]).
#[derive(Debug)]
pub struct TraceBudget {
    limits: BudgetLimits,
    records: Counts,
    exchange: Counts,
    joins: BTreeMap<ParticipantId, Usage>,
}

impl TraceBudget {
    pub fn new(limits: BudgetLimits) -> TraceBudget {
        TraceBudget {
            limits,
            records: Counts::default(),
            exchange: Counts::default(),
            joins: BTreeMap::new(),
        }
    }

    fn counts(&self, pool: Pool) -> &Counts {
        match pool {
            Pool::Records => &self.records,
            Pool::Exchange => &self.exchange,
        }
    }

    /// Whether `p` may join (say `hello`) once more at `now`; if so, the
    /// join is counted. Refused joins are not.
    pub fn join(&mut self, p: ParticipantId, now: Timestamp) -> Result<(), Exhausted> {
        let l = self.limits;
        let u = self.joins.entry(p).or_insert_with(|| Usage::new(now));
        if u.total >= l.joins_total {
            return Err(Exhausted::JoinsTotal(l.joins_total));
        }
        if u.in_window_at(now) >= l.joins_per_minute {
            return Err(Exhausted::JoinsMinute(l.joins_per_minute));
        }
        u.add(1, now);
        Ok(())
    }

    /// Whole seconds until `p` may join again after [`Exhausted::JoinsMinute`]
    /// (when its minute window ends; at least 1), so a client can wait it
    /// out instead of looping.
    pub fn join_retry_after(&self, p: ParticipantId, now: Timestamp) -> u32 {
        let left = self
            .joins
            .get(&p)
            .map(|u| MINUTE.saturating_sub(now.since(u.window_start)))
            .unwrap_or_default();
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
    }

    /// Whether `p` may have one more message recorded at `now`, from the
    /// records' pool.
    pub fn check(&self, p: ParticipantId, now: Timestamp) -> Result<(), Exhausted> {
        self.check_in(Pool::Records, p, now)
    }

    /// Whether `p` may have one more message recorded at `now` from `pool`.
    pub fn check_in(&self, pool: Pool, p: ParticipantId, now: Timestamp) -> Result<(), Exhausted> {
        let l = self.limits.pool(pool);
        let c = self.counts(pool);
        let exchange = pool == Pool::Exchange;
        if let Some(u) = c.participants.get(&p) {
            if u.total >= l.participant_total {
                let n = l.participant_total;
                return Err(if exchange {
                    Exhausted::ExchangeTotal(n)
                } else {
                    Exhausted::ParticipantTotal(n)
                });
            }
            if u.in_window_at(now) >= l.participant_per_minute {
                let n = l.participant_per_minute;
                return Err(if exchange {
                    Exhausted::ExchangeMinute(n)
                } else {
                    Exhausted::ParticipantMinute(n)
                });
            }
        }
        if let Some(u) = &c.act {
            if u.total >= l.act_total {
                let n = l.act_total;
                return Err(if exchange {
                    Exhausted::ExchangeActTotal(n)
                } else {
                    Exhausted::ActTotal(n)
                });
            }
            if u.in_window_at(now) >= l.act_per_minute {
                let n = l.act_per_minute;
                return Err(if exchange {
                    Exhausted::ExchangeActMinute(n)
                } else {
                    Exhausted::ActMinute(n)
                });
            }
        }
        Ok(())
    }

    /// Counts `n` events `p`'s message added at `now`, to the records' pool.
    pub fn charge(&mut self, p: ParticipantId, n: usize, now: Timestamp) {
        self.charge_in(Pool::Records, p, n, now);
    }

    /// Counts `n` events `p`'s message added at `now`, to `pool`.
    pub fn charge_in(&mut self, pool: Pool, p: ParticipantId, n: usize, now: Timestamp) {
        if n == 0 {
            return;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let c = match pool {
            Pool::Records => &mut self.records,
            Pool::Exchange => &mut self.exchange,
        };
        c.participants
            .entry(p)
            .or_insert_with(|| Usage::new(now))
            .add(n, now);
        c.act.get_or_insert_with(|| Usage::new(now)).add(n, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    fn small() -> BudgetLimits {
        BudgetLimits {
            participant_per_minute: 3,
            participant_total: 5,
            act_per_minute: 4,
            act_total: 8,
            joins_per_minute: 2,
            joins_total: 3,
            exchange_per_minute: 4,
            exchange_total: 6,
            exchange_act_per_minute: 10,
            exchange_act_total: 20,
        }
    }

    #[test]
    fn joins_are_held_per_minute_then_in_total() {
        let mut b = TraceBudget::new(small());
        let p = ParticipantId(2);
        assert!(b.join(p, at(0)).is_ok() && b.join(p, at(1)).is_ok());
        assert_eq!(b.join(p, at(2)), Err(Exhausted::JoinsMinute(2)));
        assert!(b.join(ParticipantId(1), at(2)).is_ok(), "per participant");
        assert!(b.join(p, at(61)).is_ok());
        assert_eq!(b.join(p, at(200)), Err(Exhausted::JoinsTotal(3)));
    }

    #[test]
    fn a_participant_is_held_per_minute_then_in_total() {
        let mut b = TraceBudget::new(small());
        let p = ParticipantId(3);
        for _ in 0..3 {
            assert!(b.check(p, at(0)).is_ok());
            b.charge(p, 1, at(0));
        }
        assert_eq!(b.check(p, at(30)), Err(Exhausted::ParticipantMinute(3)));
        assert!(b.check(p, at(60)).is_ok(), "a new minute");
        b.charge(p, 2, at(60));
        assert_eq!(b.check(p, at(200)), Err(Exhausted::ParticipantTotal(5)));
    }

    #[test]
    fn the_act_is_held_across_participants() {
        let mut b = TraceBudget::new(small());
        for p in 1..=4 {
            b.charge(ParticipantId(p), 1, at(0));
        }
        assert_eq!(
            b.check(ParticipantId(1), at(1)),
            Err(Exhausted::ActMinute(4))
        );
        for p in 1..=4 {
            b.charge(ParticipantId(p), 1, at(61));
        }
        assert_eq!(
            b.check(ParticipantId(1), at(200)),
            Err(Exhausted::ActTotal(8))
        );
    }

    #[test]
    fn a_message_adding_nothing_costs_nothing() {
        let mut b = TraceBudget::new(small());
        for _ in 0..100 {
            b.charge(ParticipantId(1), 0, at(0));
        }
        assert!(b.check(ParticipantId(1), at(0)).is_ok());
    }

    #[test]
    fn exchanges_have_a_pool_of_their_own() {
        let mut b = TraceBudget::new(small());
        let p = ParticipantId(2);
        for _ in 0..3 {
            b.charge(p, 1, at(0));
        }
        assert_eq!(b.check(p, at(1)), Err(Exhausted::ParticipantMinute(3)));
        // The records' budget is spent; the exchange one is whole.
        assert!(b.check_in(Pool::Exchange, p, at(1)).is_ok());
        b.charge_in(Pool::Exchange, p, 4, at(1));
        assert_eq!(
            b.check_in(Pool::Exchange, p, at(2)),
            Err(Exhausted::ExchangeMinute(4))
        );
        b.charge_in(Pool::Exchange, p, 2, at(62));
        assert_eq!(
            b.check_in(Pool::Exchange, p, at(130)),
            Err(Exhausted::ExchangeTotal(6))
        );
        assert!(
            b.check_in(Pool::Exchange, ParticipantId(1), at(130))
                .is_ok(),
            "per participant"
        );
    }
}
