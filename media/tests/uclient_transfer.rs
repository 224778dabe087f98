//! coturn's `turnutils_uclient` allocates on our relay and sends data
//! client to client through it, over UDP, TCP and TLS.

mod common;

use std::time::Duration;

use common::{Transport, run_uclient};

const MESSAGES: u32 = 50;
const LENGTH: u32 = 200;
const CLIENTS: u32 = 2;
/// With `-y` and without `-c`, each client has an RTP and an RTCP session.
const EXPECTED: u64 = (MESSAGES * CLIENTS * 2) as u64;

async fn transfer(transport: Transport) {
    let dir = tempfile::tempdir().unwrap();
    let credentials = common::credentials();
    let relay = match transport {
        Transport::Tls => common::loopback_relay_with_tls(credentials.clone(), dir.path()).await,
        _ => common::loopback_relay(credentials.clone()).await,
    };
    let c = credentials
        .issue("act-7", "patient", Duration::from_secs(600))
        .unwrap();

    let report = run_uclient(
        &relay,
        transport,
        &c.username,
        &c.password,
        MESSAGES,
        LENGTH,
        CLIENTS,
        Duration::from_secs(60),
    )
    .await;

    let context = format!("{transport:?} uclient output:\n{}", report.output);
    assert_eq!(report.status, Some(0), "{context}");
    assert_eq!(report.sent, Some(EXPECTED), "{context}");
    assert_eq!(report.received, Some(EXPECTED), "{context}");
    assert_eq!(report.lost, Some(0), "{context}");

    // Each message leaves one relayed socket for another one. The relay
    // counts a datagram to a peer after sending it, so the last ones may
    // reach uclient before they are counted: wait for the counts.
    let live = relay.stats().clone();
    common::wait_until(
        "the relay to count every datagram",
        Duration::from_secs(10),
        || {
            let s = live.snapshot();
            // Over UDP the shards add their counts after each wake-up's
            // sends.
            let fast = transport != Transport::Udp
                || s.fastpath_datagrams + s.fastpath_hairpins >= 2 * EXPECTED;
            s.relayed_packets_to_peers >= EXPECTED
                && s.relayed_packets_from_peers >= EXPECTED
                && fast
        },
    )
    .await;
    let stats = relay.stats().snapshot();
    assert_eq!(stats.relayed_packets_to_peers, EXPECTED, "{stats:?}");
    assert_eq!(stats.relayed_packets_from_peers, EXPECTED, "{stats:?}");
    assert_eq!(stats.relayed_bytes_to_peers, EXPECTED * u64::from(LENGTH));
    assert_eq!(stats.relayed_bytes_from_peers, EXPECTED * u64::from(LENGTH));
    assert!(
        stats.allocations_created >= u64::from(CLIENTS * 2),
        "{stats:?}"
    );
    assert_eq!(stats.peer_packets_denied, 0);
    assert_eq!(stats.auth_refused, 0);
    assert_eq!(stats.stream_frame_errors, 0);
    if transport == Transport::Udp {
        // Each message crosses the data path twice (client to relayed
        // socket, relayed socket to client), or once when it is handed
        // over without the kernel (a hairpin, within a shard or to another;
        // the kernel path only when a shard's hand-over queue is full);
        // uclient binds its channels before sending, so all of it is the
        // shards' own work, and only requests reach the `turn` server.
        assert_eq!(
            stats.fastpath_datagrams + stats.fastpath_hairpins,
            2 * EXPECTED,
            "{stats:?}"
        );
        assert_eq!(stats.fastpath_dropped, 0, "{stats:?}");
        assert!(
            stats.recv_batches > 0 && stats.send_batches > 0,
            "{stats:?}"
        );
    } else {
        assert!(stats.stream_connections_accepted >= u64::from(CLIENTS * 2));
        // Over TCP and TLS the `turn` server relays: the relayed sockets'
        // shard hands it every peer datagram.
        assert_eq!(stats.fastpath_datagrams, 0, "{stats:?}");
        assert!(stats.fastpath_misses >= EXPECTED, "{stats:?}");
    }
    if transport == Transport::Tls {
        // uclient tries older TLS versions first, which rustls refuses.
        assert!(stats.stream_connections_accepted > stats.tls_handshake_failures);
    }
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_relays_over_udp() {
    transfer(Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_relays_over_tcp() {
    transfer(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_relays_over_tls() {
    transfer(Transport::Tls).await;
}
