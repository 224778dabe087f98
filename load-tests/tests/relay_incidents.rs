//! Incidents from what the server's own TURN relay sees, with a real
//! relay and a real TURN client (UDP, ChannelData): the patient, allowed
//! media, allocates with the credentials the server issued and relays
//! 50 datagrams a second to a peer that echoes them.
//!
//! - The patient stops sending for 5 s, then resumes: one
//!   `relay_media_stopped` incident, whose episode is the silence (±20 %).
//! - The patient deletes its allocation (Refresh with lifetime 0, a real
//!   TURN deallocation) and allocates again 3 s later: one
//!   `relay_allocation_lost` incident, closed by the new allocation.
//! - The patient withdraws consent: the server revokes the relay
//!   allocations, which is no incident.
//!
//! The trace verifies. Real time: the relay's sockets and the room's
//! 1 s tick cannot run on a paused clock, so the thresholds are shortened
//! (1 s of silence, 1 s clear) and the test takes about 20 s.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use load_tests::turn_client::{CHANNEL, TurnClient, channel_data};
use session::incident::{IncidentKind, Thresholds};
use session::{ActEvent, ActId};
use signaling::protocol::{ClientMessage, IceServer, ServerMessage};
use tokio::net::UdpSocket;

/// One datagram every this long, as audio.
const EVERY: Duration = Duration::from_millis(20);
/// The room samples the relay once a second: the trace's own times are
/// the decisions, up to one tick after the fact.
const TICK: Duration = Duration::from_secs(1);
/// How long a test waits for a state it expects, under load.
const WAIT: Duration = Duration::from_secs(20);

/// Sends a 200-byte datagram through the allocation every [`EVERY`] while
/// `on`; counts what it sent.
fn start_sending(client: &TurnClient, on: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let socket = Arc::clone(&client.socket);
    let sent = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&sent);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        let mut buf = Vec::new();
        loop {
            tick.tick().await;
            if !on.load(Ordering::Relaxed) {
                continue;
            }
            channel_data(CHANNEL, &[0x80; 200], &mut buf);
            if socket.send(&buf).await.is_err() {
                return;
            }
            count.fetch_add(1, Ordering::Relaxed);
        }
    });
    sent
}

/// A peer that echoes every datagram back to the relayed address.
async fn echo_peer() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&received);
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    (addr, received)
}

/// Allocates with the relay credentials in `servers` and binds the
/// channel to `peer`.
async fn allocate(
    relay: std::net::SocketAddr,
    servers: &[IceServer],
    peer: std::net::SocketAddr,
) -> TurnClient {
    let turn = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("relay credentials were issued");
    let client = TurnClient::allocate(
        relay,
        turn.username.as_deref().unwrap(),
        turn.credential.as_deref().unwrap(),
    )
    .await
    .expect("the relay allocates");
    client.bind_peer(peer).await.expect("the channel is bound");
    client
}

/// The act's incidents of `kind`: (participant, opening event, closing
/// event if any).
fn incidents(
    s: &common::Server,
    act: ActId,
    kind: IncidentKind,
) -> Vec<(Option<u32>, session::Event, Option<session::Event>)> {
    let events = s.events(act);
    events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::IncidentOpened {
                incident,
                kind: k,
                participant,
                ..
            } if *k == kind => {
                let closed = events.iter().find(|c| {
                    matches!(&c.body, ActEvent::IncidentClosed { incident: i, .. } if i == incident)
                });
                Some((participant.map(|p| p.0), e.clone(), closed.cloned()))
            }
            _ => None,
        })
        .collect()
}

fn closing(e: &session::Event) -> (u64, &session::incident::Metrics) {
    match &e.body {
        ActEvent::IncidentClosed {
            duration_ms,
            metrics,
            ..
        } => (*duration_ms, metrics),
        other => panic!("not a closing: {other:?}"),
    }
}

fn within(what: &str, got_ms: f64, expected: Duration, tolerance: Duration) {
    let expected_ms = expected.as_secs_f64() * 1000.0;
    let tolerance_ms = tolerance.as_secs_f64() * 1000.0;
    println!("{what}: {got_ms:.0} ms (expected {expected_ms:.0} ± {tolerance_ms:.0} ms)");
    assert!(
        (got_ms - expected_ms).abs() <= tolerance_ms,
        "{what}: {got_ms} ms, expected {expected_ms:.0} ± {tolerance_ms:.0} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_allocation_loss_and_media_stop_are_incidents_but_revocation_is_not() {
    let thresholds = Thresholds {
        relay_silence: Duration::from_secs(1),
        clear_after: Duration::from_secs(1),
        ..Thresholds::default()
    };
    let s = common::server_configured(true, std::net::Ipv4Addr::LOCALHOST.into(), thresholds).await;
    let relay = s.state.config.relay.clone().unwrap();
    let relay_addr = relay.relay.udp_addr().unwrap();
    let common::InPerformance {
        act,
        mut call,
        patient_ice: servers,
        ..
    } = common::in_performance(&s).await;

    // Media through the relay for 2 s.
    let (peer, echoed) = echo_peer().await;
    let client = allocate(relay_addr, &servers, peer).await;
    let on = Arc::new(AtomicBool::new(true));
    let sent = start_sending(&client, Arc::clone(&on));
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::wait_until("the peer to get the relayed datagrams", WAIT, || {
        echoed.load(Ordering::Relaxed) >= 50
    })
    .await;

    // 5 s of silence, then media again for 3 s.
    on.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    on.store(true, Ordering::Relaxed);
    let silence = stopped.elapsed();
    // Closed a clear time after the first datagram again, at a tick.
    common::wait_until("relay_media_stopped to close", WAIT, || {
        incidents(&s, act, IncidentKind::RelayMediaStopped)
            .iter()
            .any(|(_, _, closed)| closed.is_some())
    })
    .await;
    let stops = incidents(&s, act, IncidentKind::RelayMediaStopped);
    let [(who, opened, Some(closed))] = &stops[..] else {
        panic!("expected one closed relay_media_stopped, got {stops:#?}");
    };
    assert_eq!(*who, Some(call.patient_id), "the patient's incident");
    let ActEvent::IncidentOpened { metrics, .. } = &opened.body else {
        unreachable!()
    };
    assert!(metrics["sent_packets"] >= 50.0, "{metrics:?}");
    assert!(metrics["received_packets"] >= 50.0, "echoes: {metrics:?}");
    assert!(metrics["silent_ms"] >= 1000.0, "{metrics:?}");
    let (duration_ms, metrics) = closing(closed);
    within(
        "relay_media_stopped episode",
        metrics["episode_ms"],
        silence,
        silence / 5,
    );
    // Opened a silence threshold after the last datagram and closed a
    // clear time after the first again (both 1 s), each at a tick.
    within(
        "relay_media_stopped in the trace",
        duration_ms as f64,
        silence,
        TICK + Duration::from_millis(200),
    );
    assert!(metrics["sent_pps"] > 30.0, "flowing again: {metrics:?}");
    assert!(incidents(&s, act, IncidentKind::RelayAllocationLost).is_empty());

    // The patient deletes its allocation, and allocates again 3 s later.
    on.store(false, Ordering::Relaxed);
    client.release().await.expect("the allocation is deleted");
    let released = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = allocate(relay_addr, &servers, peer).await;
    let gone_for = released.elapsed();
    let on = Arc::new(AtomicBool::new(true));
    let sent_again = start_sending(&client, Arc::clone(&on));
    common::wait_until("relay_allocation_lost to close", WAIT, || {
        incidents(&s, act, IncidentKind::RelayAllocationLost)
            .iter()
            .any(|(_, _, closed)| closed.is_some())
    })
    .await;
    let losses = incidents(&s, act, IncidentKind::RelayAllocationLost);
    let [(who, opened, Some(closed))] = &losses[..] else {
        panic!("expected one closed relay_allocation_lost, got {losses:#?}");
    };
    assert_eq!(*who, Some(call.patient_id));
    let ActEvent::IncidentOpened { metrics, .. } = &opened.body else {
        unreachable!()
    };
    assert_eq!(metrics["allocations"], 0.0);
    assert!(metrics["relayed_packets"] >= 50.0, "{metrics:?}");
    let (duration_ms, metrics) = closing(closed);
    // Seen at the first tick without the allocation, and at the first
    // with the new one.
    within(
        "relay_allocation_lost in the trace",
        duration_ms as f64,
        gone_for,
        TICK + Duration::from_millis(200),
    );
    assert!(
        (metrics["episode_ms"] - duration_ms as f64).abs() < 5.0,
        "{metrics:?}"
    );
    assert_eq!(
        incidents(&s, act, IncidentKind::RelayMediaStopped).len(),
        1,
        "a deleted allocation is not stopped media"
    );

    // Consent withdrawn while media flows: the server revokes the
    // allocations, and records no relay incident for that.
    common::wait_until("media flowing again", WAIT, || {
        sent_again.load(Ordering::Relaxed) >= 100
    })
    .await;
    call.patient.send(ClientMessage::WithdrawConsent {});
    call.patient
        .expect("stop_media", |m| {
            matches!(m, ServerMessage::StopMedia { .. }).then_some(())
        })
        .await;
    common::wait_until("the relay allocations to be revoked", WAIT, || {
        relay.relay.traffic_of_act(&act.to_string()).is_empty()
    })
    .await;
    // A window for an incident the revocation must not cause (the relay
    // is read once a second): an absence, not a synchronisation.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        incidents(&s, act, IncidentKind::RelayAllocationLost).len(),
        1
    );
    assert_eq!(incidents(&s, act, IncidentKind::RelayMediaStopped).len(), 1);
    let all: Vec<IncidentKind> = s
        .events(act)
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::IncidentOpened { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        all,
        [
            IncidentKind::RelayMediaStopped,
            IncidentKind::RelayAllocationLost
        ],
        "no other incident"
    );
    println!(
        "sent {} then {} datagrams, {} echoed",
        sent.load(Ordering::Relaxed),
        sent_again.load(Ordering::Relaxed),
        echoed.load(Ordering::Relaxed)
    );
    s.assert_trace_intact();
}
