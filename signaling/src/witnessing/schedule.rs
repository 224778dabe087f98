//! When to make a checkpoint, and which to submit to which witness: a
//! plain state taking `now` (time since the task started) and the tree's
//! size, saying what to do and when to be woken next. The log itself: when
//! its next checkpoint is due (every interval, and at once when an act
//! ends, with or without witnesses). Per witness: the size it holds, when
//! it is next due, how many submissions failed in a row (backoff), and
//! whether it was stopped (a rollback or fork was detected through it).

use std::time::Duration;

/// The longest wait between two attempts at a failing witness.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One witness's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The size of the checkpoint it holds, as far as we know (0: none or
    /// unknown; a 409 tells the truth).
    pub held: u64,
    /// When it is next due.
    pub due: Duration,
    /// Failed submissions in a row.
    pub failures: u32,
    /// No more submissions: it showed a rollback or a fork.
    pub stopped: bool,
}

/// A submission to make now: the newest checkpoint, with a consistency
/// proof from `old`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submission {
    pub witness: usize,
    pub old: u64,
}

/// What a submission came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Cosigned: the witness now holds `size`.
    Cosigned { size: u64 },
    /// 409: the witness holds `held`, not the `old` we sent.
    Conflict { held: u64 },
    /// 422: the proof from what it holds does not verify (a fork).
    Inconsistent,
    /// Not reached, or refused otherwise: try again later.
    Failed,
}

/// What the driver does next about one witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing until it is due again.
    Wait,
    /// Submit again at once with a proof from `old` (after a 409; once).
    Retry { old: u64 },
    /// The witness holds a larger tree than ours: rollback.
    Rollback { held: u64, local: u64 },
    /// The witness refused our tree as inconsistent with what it holds.
    Forked { held: u64 },
}

/// The log's checkpoint cadence, every witness's state, and the interval
/// between rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    interval: Duration,
    /// When the log's next checkpoint is due (made only if the tree grew).
    checkpoint_due: Duration,
    slots: Vec<Slot>,
}

impl Schedule {
    /// Witnesses holding `held` (one per witness), all due at `now`.
    pub fn new(interval: Duration, held: &[u64], now: Duration) -> Schedule {
        Schedule {
            interval,
            checkpoint_due: now,
            slots: held
                .iter()
                .map(|&held| Slot {
                    held,
                    due: now,
                    failures: 0,
                    stopped: false,
                })
                .collect(),
        }
    }

    pub fn slot(&self, witness: usize) -> &Slot {
        &self.slots[witness]
    }

    /// An act concluded: a checkpoint is due now, and so is every witness
    /// still in service.
    pub fn nudge(&mut self, now: Duration) {
        self.checkpoint_due = self.checkpoint_due.min(now);
        for s in self.slots.iter_mut().filter(|s| !s.stopped) {
            s.due = s.due.min(now);
        }
    }

    /// When to be woken next: the next checkpoint or the next witness in
    /// service due, whichever comes first.
    pub fn next_wake(&self) -> Duration {
        self.slots
            .iter()
            .filter(|s| !s.stopped)
            .map(|s| s.due)
            .fold(self.checkpoint_due, Duration::min)
    }

    /// Whether a checkpoint or some witness is due at `now`.
    pub fn any_due(&self, now: Duration) -> bool {
        self.checkpoint_due <= now || self.slots.iter().any(|s| !s.stopped && s.due <= now)
    }

    /// Whether the log's checkpoint is due at `now` (made if the tree
    /// grew); if so, it is next due one interval later.
    pub fn take_checkpoint(&mut self, now: Duration) -> bool {
        if self.checkpoint_due > now {
            return false;
        }
        self.checkpoint_due = now + self.interval;
        true
    }

    /// The submissions to make at `now` for a tree of `size` leaves: every
    /// witness due that holds less. Each witness due is next due one
    /// interval later (its outcome may change that).
    pub fn due(&mut self, now: Duration, size: u64) -> Vec<Submission> {
        let interval = self.interval;
        let mut out = Vec::new();
        for (witness, s) in self.slots.iter_mut().enumerate() {
            if s.stopped || s.due > now {
                continue;
            }
            s.due = now + interval;
            if s.held < size {
                out.push(Submission {
                    witness,
                    old: s.held,
                });
            }
        }
        out
    }

    /// Records what the submission of a checkpoint of `size` leaves to
    /// `witness` came to; `retried` when it was already the retry after a
    /// 409.
    pub fn done(
        &mut self,
        witness: usize,
        now: Duration,
        size: u64,
        outcome: Outcome,
        retried: bool,
    ) -> Next {
        let interval = self.interval;
        let s = &mut self.slots[witness];
        match outcome {
            Outcome::Cosigned { size } => {
                s.held = s.held.max(size);
                s.failures = 0;
                s.due = now + interval;
                Next::Wait
            }
            Outcome::Conflict { held } if held > size => {
                s.held = held;
                s.stopped = true;
                Next::Rollback { held, local: size }
            }
            Outcome::Conflict { held } => {
                s.held = held;
                if retried || held == size {
                    // It holds our size already (cosigned earlier), or it
                    // moved twice: the next round sees.
                    s.due = now + interval;
                    Next::Wait
                } else {
                    Next::Retry { old: held }
                }
            }
            Outcome::Inconsistent => {
                s.stopped = true;
                Next::Forked { held: s.held }
            }
            Outcome::Failed => {
                s.failures = s.failures.saturating_add(1);
                s.due = now + backoff(interval, s.failures);
                Next::Wait
            }
        }
    }
}

/// The wait after `failures` failed submissions in a row: the interval,
/// doubled per failure, at most [`MAX_BACKOFF`].
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    interval
        .saturating_mul(1 << failures.min(16))
        .min(MAX_BACKOFF.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn submits_while_the_tree_grows_and_waits_when_it_does_not() {
        let mut s = Schedule::new(2 * S, &[0, 5], at(0));
        assert_eq!(s.next_wake(), at(0));
        assert!(s.take_checkpoint(at(0)));
        let subs = s.due(at(0), 5);
        assert_eq!(
            subs,
            [Submission { witness: 0, old: 0 }],
            "the second holds 5"
        );
        assert_eq!(
            s.done(0, at(0), 5, Outcome::Cosigned { size: 5 }, false),
            Next::Wait
        );
        assert_eq!(s.slot(0).due, at(2));
        assert!(!s.any_due(at(1)));
        assert!(s.due(at(2), 5).is_empty(), "nothing new");
        let subs = s.due(at(4), 9);
        assert_eq!(
            subs,
            [
                Submission { witness: 0, old: 5 },
                Submission { witness: 1, old: 5 }
            ]
        );
    }

    #[test]
    fn a_conclusion_makes_every_witness_due_at_once() {
        let mut s = Schedule::new(2 * S, &[3], at(0));
        s.due(at(0), 3);
        assert_eq!(s.slot(0).due, at(2));
        s.nudge(at(1));
        assert_eq!(s.slot(0).due, at(1));
        assert_eq!(s.due(at(1), 4), [Submission { witness: 0, old: 3 }]);
    }

    #[test]
    fn failures_back_off_and_a_success_resets() {
        let mut s = Schedule::new(2 * S, &[0], at(0));
        s.due(at(0), 1);
        s.done(0, at(0), 1, Outcome::Failed, false);
        assert_eq!(s.slot(0).due, at(4));
        s.due(at(4), 1);
        s.done(0, at(4), 1, Outcome::Failed, false);
        assert_eq!(s.slot(0).due, at(12));
        for _ in 0..20 {
            s.done(0, at(12), 1, Outcome::Failed, false);
        }
        assert_eq!(s.slot(0).due, at(12) + MAX_BACKOFF);
        s.done(0, at(80), 1, Outcome::Cosigned { size: 1 }, false);
        assert_eq!(s.slot(0).failures, 0);
        assert_eq!(s.slot(0).due, at(82));
    }

    #[test]
    fn a_conflict_retries_once_from_the_held_size() {
        let mut s = Schedule::new(2 * S, &[0], at(0));
        assert_eq!(s.due(at(0), 10), [Submission { witness: 0, old: 0 }]);
        assert_eq!(
            s.done(0, at(0), 10, Outcome::Conflict { held: 7 }, false),
            Next::Retry { old: 7 }
        );
        assert_eq!(
            s.done(0, at(0), 10, Outcome::Conflict { held: 8 }, true),
            Next::Wait,
            "not twice"
        );
        assert_eq!(s.slot(0).held, 8);
        assert_eq!(
            s.done(0, at(0), 10, Outcome::Conflict { held: 10 }, false),
            Next::Wait,
            "it holds our size already"
        );
    }

    #[test]
    fn a_larger_held_tree_or_a_refused_proof_stops_the_witness() {
        let mut s = Schedule::new(2 * S, &[0, 4], at(0));
        s.due(at(0), 6);
        assert_eq!(
            s.done(0, at(0), 6, Outcome::Conflict { held: 9 }, false),
            Next::Rollback { held: 9, local: 6 }
        );
        assert_eq!(
            s.done(1, at(0), 6, Outcome::Inconsistent, false),
            Next::Forked { held: 4 }
        );
        assert!(s.slot(0).stopped && s.slot(1).stopped);
        assert_eq!(s.next_wake(), at(0), "only the log's own checkpoints");
        s.nudge(at(1));
        assert!(s.due(at(1), 20).is_empty());
    }

    #[test]
    fn checkpoints_are_made_every_interval_and_at_a_conclusion_without_witnesses() {
        let mut s = Schedule::new(2 * S, &[], at(0));
        assert!(s.any_due(at(0)) && s.take_checkpoint(at(0)));
        assert!(!s.take_checkpoint(at(1)), "once per interval");
        assert_eq!(s.next_wake(), at(2));
        assert!(!s.any_due(at(1)));
        s.nudge(at(1));
        assert_eq!(s.next_wake(), at(1), "an act ended");
        assert!(s.take_checkpoint(at(1)));
        assert_eq!(s.next_wake(), at(3));
        assert!(s.due(at(3), 9).is_empty(), "no witness to submit to");
    }
}
