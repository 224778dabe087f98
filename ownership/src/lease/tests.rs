//! The lease machine step by step: claim, renew, loss by deadline, loss by
//! supersession, release, backoff, stale answers.

use super::*;

const TTL: Duration = Duration::from_millis(900);

fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn events(lease: &mut Lease) -> Vec<LeaseEvent> {
    std::iter::from_fn(|| lease.poll_event()).collect()
}

/// Claims at `t0` and wins token 7; returns the machine.
fn acquired(t0: Instant) -> Lease {
    let mut lease = Lease::new(node("a"), LeaseConfig::with_ttl(TTL));
    assert!(lease.claim(t0));
    let req = lease.poll_request(t0).expect("claim sent at once");
    assert_eq!(
        req.op,
        Op::Claim {
            node: node("a"),
            ttl: TTL
        }
    );
    assert!(lease.poll_request(t0).is_none(), "one request in flight");
    lease.handle_reply(t0 + ms(5), req.id, Ok(Reply::Claimed(FencingToken(7))));
    lease
}

#[test]
fn a_won_claim_is_held_until_sent_plus_ttl_minus_margin() {
    let t0 = Instant::now();
    let mut lease = acquired(t0);
    let until = t0 + TTL - (TTL / 100 + ms(2));
    assert_eq!(
        events(&mut lease),
        vec![LeaseEvent::Acquired {
            token: FencingToken(7),
            until
        }]
    );
    assert_eq!(
        lease.held(t0 + ms(5)),
        Some(Held {
            token: FencingToken(7),
            until
        })
    );
    assert_eq!(lease.held(until), None, "the deadline itself is not held");
    assert_eq!(lease.poll_timeout(), Some(t0 + TTL / 3), "renew at a third");
}

#[test]
fn renewing_moves_the_deadline_from_the_renews_send_time() {
    let t0 = Instant::now();
    let mut lease = acquired(t0);
    events(&mut lease);
    let t1 = t0 + TTL / 3;
    assert!(
        lease.poll_request(t1 - ms(1)).is_none(),
        "not before renew time"
    );
    let req = lease.poll_request(t1).unwrap();
    let value = LeaseValue {
        token: FencingToken(7),
        node: node("a"),
    };
    assert_eq!(
        req.op,
        Op::Renew {
            value: value.clone(),
            ttl: TTL
        }
    );
    lease.handle_reply(t1 + ms(400), req.id, Ok(Reply::Renewed(true)));
    let until = t1 + TTL - (TTL / 100 + ms(2));
    assert_eq!(
        events(&mut lease),
        vec![LeaseEvent::Renewed {
            token: FencingToken(7),
            until
        }]
    );
    assert!(lease.held(until - ms(1)).is_some());
}

#[test]
fn unanswered_renews_end_the_lease_at_its_deadline_then_give_it_back() {
    let t0 = Instant::now();
    let mut lease = acquired(t0);
    events(&mut lease);
    let until = t0 + TTL - (TTL / 100 + ms(2));
    let mut now = t0 + TTL / 3;
    let mut tries = 0;
    while now < until {
        if let Some(req) = lease.poll_request(now) {
            tries += 1;
            lease.handle_reply(now + ms(10), req.id, Err(NoAnswer));
        }
        now += ms(10);
        lease.handle_timeout(now);
    }
    assert!(tries >= 5, "renews retried while the lease holds ({tries})");
    assert_eq!(lease.held(now), None);
    let evs = events(&mut lease);
    assert_eq!(
        evs.last(),
        Some(&LeaseEvent::Lost {
            token: FencingToken(7),
            reason: LostReason::Expired
        })
    );
    let req = lease.poll_request(now).expect("best-effort release");
    assert!(matches!(req.op, Op::Release { .. }));
    lease.handle_reply(now, req.id, Err(NoAnswer));
    assert!(lease.is_idle());
    assert!(events(&mut lease).is_empty(), "the loss was announced once");
}

#[test]
fn a_renew_refused_means_superseded_at_once() {
    let t0 = Instant::now();
    let mut lease = acquired(t0);
    events(&mut lease);
    let req = lease.poll_request(t0 + TTL / 3).unwrap();
    lease.handle_reply(t0 + TTL / 3, req.id, Ok(Reply::Renewed(false)));
    assert_eq!(lease.held(t0 + TTL / 3), None);
    assert_eq!(
        events(&mut lease),
        vec![LeaseEvent::Lost {
            token: FencingToken(7),
            reason: LostReason::Superseded
        }]
    );
    assert!(lease.is_idle());
    assert!(
        lease.poll_request(t0 + TTL / 3).is_none(),
        "nothing to give back"
    );
}

#[test]
fn release_stops_holding_before_redis_answers() {
    let t0 = Instant::now();
    let mut lease = acquired(t0);
    events(&mut lease);
    lease.release(t0 + ms(10));
    assert_eq!(lease.held(t0 + ms(10)), None);
    let req = lease.poll_request(t0 + ms(10)).unwrap();
    assert!(matches!(req.op, Op::Release { .. }));
    lease.handle_reply(t0 + ms(12), req.id, Ok(Reply::Released(true)));
    assert_eq!(
        events(&mut lease),
        vec![LeaseEvent::Released {
            token: FencingToken(7)
        }]
    );
    assert!(lease.is_idle());
}

#[test]
fn unanswered_claims_back_off_exponentially_up_to_the_ttl() {
    let t0 = Instant::now();
    let mut lease = Lease::new(node("a"), LeaseConfig::with_ttl(TTL));
    lease.claim(t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..8 {
        let req = lease.poll_request(now).unwrap();
        lease.handle_reply(now, req.id, Err(NoAnswer));
        let next = lease.poll_timeout().unwrap();
        waits.push((next - now).as_millis());
        assert!(lease.poll_request(next - ms(1)).is_none());
        now = next;
    }
    assert_eq!(waits, vec![45, 90, 180, 360, 720, 900, 900, 900]);
}

#[test]
fn a_taken_claim_names_the_owner_and_warming_up_waits() {
    let t0 = Instant::now();
    let mut lease = Lease::new(node("a"), LeaseConfig::with_ttl(TTL));
    lease.claim(t0);
    let req = lease.poll_request(t0).unwrap();
    lease.handle_reply(
        t0,
        req.id,
        Ok(Reply::WarmingUp {
            retry_after: ms(250),
        }),
    );
    assert_eq!(lease.poll_timeout(), Some(t0 + ms(250)));
    let req = lease.poll_request(t0 + ms(250)).unwrap();
    let owner = LeaseValue {
        token: FencingToken(3),
        node: node("b"),
    };
    lease.handle_reply(t0 + ms(251), req.id, Ok(Reply::Taken(Some(owner.clone()))));
    assert_eq!(
        events(&mut lease),
        vec![LeaseEvent::Taken { owner: Some(owner) }]
    );
    assert!(lease.is_idle());
}

#[test]
fn a_claim_won_too_late_is_given_back_and_stale_answers_are_ignored() {
    let t0 = Instant::now();
    let mut lease = Lease::new(node("a"), LeaseConfig::with_ttl(TTL));
    lease.claim(t0);
    let req = lease.poll_request(t0).unwrap();
    lease.handle_reply(
        t0,
        RequestId(req.id.0 + 1),
        Ok(Reply::Claimed(FencingToken(1))),
    );
    assert!(lease.held(t0).is_none(), "an answer to another request");
    lease.handle_reply(t0 + TTL, req.id, Ok(Reply::Claimed(FencingToken(2))));
    assert!(lease.held(t0 + TTL).is_none());
    let req = lease.poll_request(t0 + TTL).unwrap();
    assert_eq!(
        req.op,
        Op::Release {
            value: LeaseValue {
                token: FencingToken(2),
                node: node("a")
            }
        }
    );
}

#[test]
fn release_during_a_claim_gives_a_won_claim_back() {
    let t0 = Instant::now();
    let mut lease = Lease::new(node("a"), LeaseConfig::with_ttl(TTL));
    lease.claim(t0);
    let req = lease.poll_request(t0).unwrap();
    lease.release(t0);
    lease.handle_reply(t0, req.id, Ok(Reply::Claimed(FencingToken(4))));
    assert!(lease.held(t0).is_none());
    assert!(matches!(
        lease.poll_request(t0).map(|r| r.op),
        Some(Op::Release { .. })
    ));
    assert!(events(&mut lease).is_empty());
}
