//! Verification of a trace with the public key only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Checkpoint, Hash, Head, TraceRecord, genesis};
use crate::ids::ActId;
pub use crate::integrity::Problem;
use crate::keys::TrustedKeys;

/// Problems listed per act at most; past this the act is plainly broken.
const MAX_PROBLEMS_PER_ACT: usize = 20;

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub acts: usize,
    pub events: u64,
    pub checkpoints: u64,
    /// Empty when the trace is intact. The first is the first bad event.
    pub problems: Vec<Problem>,
    /// Leaves of the Merkle tree over every event and access entry, when
    /// the store has it and the whole store was checked.
    pub tree_size: Option<u64>,
    /// The tree's checkpoints checked.
    pub tree_checkpoints: u64,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the checkpoint chain and the chains of the given acts.
///
/// `records` maps each act to its records in ascending `seq` order, as the
/// store holds them. When `only` is set, just that act's chain is checked
/// (the checkpoint chain is always checked whole, since it vouches for it).
pub fn verify(
    checkpoints: &[Checkpoint],
    records: &BTreeMap<ActId, Vec<TraceRecord>>,
    trusted: &TrustedKeys,
    only: Option<ActId>,
) -> VerifyReport {
    let mut report = VerifyReport {
        checkpoints: checkpoints.len() as u64,
        ..VerifyReport::default()
    };
    // Every head each checkpoint signed, per act, in checkpoint order.
    let mut signed: BTreeMap<ActId, Vec<(u64, Head)>> = BTreeMap::new();
    check_checkpoints(checkpoints, trusted, &mut report.problems, &mut signed);

    let mut acts: BTreeSet<ActId> = records.keys().copied().collect();
    acts.extend(signed.keys().copied());
    if let Some(act) = only {
        acts.retain(|a| *a == act);
    }
    report.acts = acts.len();
    let none = Vec::new();
    for act in acts {
        let recs = records.get(&act).unwrap_or(&none);
        report.events += recs.len() as u64;
        let heads = signed.get(&act).map(Vec::as_slice).unwrap_or(&[]);
        let mut problems = check_act(act, recs, heads);
        problems.truncate(MAX_PROBLEMS_PER_ACT);
        report.problems.extend(problems);
    }
    report
}

/// The checks a reader runs on one act as the store links it: `walked` is
/// the act's records in the order the store's links give them (from its
/// head back through `prev_id`, reversed), `signed` the newest checkpoint
/// naming the act, and `gap` a hole found in the checkpoint chain between
/// that checkpoint and the newest (`(first missing, next found)`).
///
/// It checks each hash, the hash links, the sequence numbers, the
/// checkpoint's signature, and that the chain ends exactly at the head the
/// checkpoint signed. Its findings are worded as [`verify`]'s, and
/// [`crate::store::verify_store`] runs it too, so a reader's refusal is a
/// line of `trace verify`'s report.
pub fn check_read(
    act: ActId,
    walked: &[TraceRecord],
    signed: Option<&Checkpoint>,
    gap: Option<(u64, u64)>,
    trusted: &TrustedKeys,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some((missing, next)) = gap {
        problems.push(missing_checkpoint(missing, next));
    }
    let mut heads = Vec::new();
    if let Some(c) = signed {
        if let Err(why) = trusted.verify(c.key_id, &c.digest(), &c.signature) {
            problems.push(bad_signature(c.no, &why.to_string()));
        }
        heads.extend(c.heads.iter().filter(|h| h.act == act).map(|h| (c.no, *h)));
    }
    let mut found = check_act(act, walked, &heads);
    found.truncate(MAX_PROBLEMS_PER_ACT);
    problems.extend(found);
    problems
}

fn missing_checkpoint(missing: u64, next: u64) -> Problem {
    Problem {
        act: None,
        seq: None,
        checkpoint: Some(missing),
        what: format!("missing (the next checkpoint found is #{next})"),
    }
}

fn bad_signature(no: u64, why: &str) -> Problem {
    Problem {
        act: None,
        seq: None,
        checkpoint: Some(no),
        what: format!("bad signature: {why}"),
    }
}

fn check_checkpoints(
    checkpoints: &[Checkpoint],
    trusted: &TrustedKeys,
    problems: &mut Vec<Problem>,
    signed: &mut BTreeMap<ActId, Vec<(u64, Head)>>,
) {
    let problem = |no: u64, what: String| Problem {
        act: None,
        seq: None,
        checkpoint: Some(no),
        what,
    };
    let mut prev: Hash = [0; 32];
    for (i, c) in checkpoints.iter().enumerate() {
        let expected_no = i as u64 + 1;
        if c.no != expected_no {
            problems.push(missing_checkpoint(expected_no, c.no));
        } else if c.prev != prev {
            problems.push(problem(
                c.no,
                "does not follow the previous checkpoint (one was changed, inserted or deleted)"
                    .into(),
            ));
        }
        let digest = c.digest();
        if let Err(why) = trusted.verify(c.key_id, &digest, &c.signature) {
            problems.push(bad_signature(c.no, &why.to_string()));
        }
        prev = digest;
        for h in &c.heads {
            signed.entry(h.act).or_default().push((c.no, *h));
        }
    }
}

fn check_act(act: ActId, recs: &[TraceRecord], heads: &[(u64, Head)]) -> Vec<Problem> {
    let act_str = act.to_string();
    let at = |seq: Option<u64>, what: String| Problem {
        act: Some(act_str.clone()),
        seq,
        checkpoint: None,
        what,
    };
    let mut problems = Vec::new();

    if recs.is_empty() {
        if let Some((no, head)) = heads.last() {
            problems.push(at(
                None,
                format!(
                    "all its events are missing (deleted), but checkpoint #{no} signed {} of them",
                    head.seq
                ),
            ));
        }
        return problems;
    }

    // The chain itself.
    let mut prev_hash = genesis(act);
    let mut expected_seq = 1;
    for r in recs {
        if r.seq != expected_seq {
            if r.seq > expected_seq {
                let what = if r.seq == expected_seq + 1 {
                    format!("event #{expected_seq} is missing (deleted)")
                } else {
                    format!(
                        "events #{expected_seq} to #{} are missing (deleted)",
                        r.seq - 1
                    )
                };
                problems.push(at(Some(expected_seq), what));
            } else {
                problems.push(at(Some(r.seq), "appears out of order".into()));
            }
        } else if r.prev_hash != prev_hash {
            problems.push(at(
                Some(r.seq),
                if r.seq == 1 {
                    "does not start this act's chain (inserted, or moved from another act)".into()
                } else {
                    format!(
                        "does not follow event #{} (an event was inserted, reordered or changed)",
                        r.seq - 1
                    )
                },
            ));
        }
        if r.computed_hash() != r.hash {
            problems.push(at(
                Some(r.seq),
                "its content was changed (the stored hash does not match)".into(),
            ));
        }
        prev_hash = r.hash;
        expected_seq = r.seq.max(expected_seq) + 1;
    }

    // The signed heads.
    let by_seq: BTreeMap<u64, &TraceRecord> = recs.iter().map(|r| (r.seq, r)).collect();
    for (no, head) in heads {
        match by_seq.get(&head.seq) {
            Some(r) if r.hash == head.hash => {}
            Some(_) => problems.push(at(
                Some(head.seq),
                format!("differs from what checkpoint #{no} signed (changed)"),
            )),
            None => problems.push(at(
                Some(head.seq),
                format!("is missing, but checkpoint #{no} signed it (deleted)"),
            )),
        }
    }
    let last = recs.iter().map(|r| r.seq).max().unwrap_or(0);
    match heads.last() {
        None => problems.push(at(
            Some(1),
            format!(
                "the act's {} events are covered by no signed checkpoint (inserted)",
                recs.len()
            ),
        )),
        Some((_, head)) if last > head.seq => problems.push(at(
            Some(head.seq + 1),
            format!(
                "events #{} to #{last} are covered by no signed checkpoint (inserted)",
                head.seq + 1
            ),
        )),
        Some(_) => {}
    }
    problems.sort_by_key(|p| p.seq);
    problems.dedup();
    problems
}
