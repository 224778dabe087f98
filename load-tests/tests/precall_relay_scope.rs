//! The connection test's relay credentials, handed to a patient link
//! before any consent, reach the server's test peer and nothing else: not
//! a UDP service on loopback, not the server's HTTP port, not the relay's
//! own listener. The call's credentials, on the same relay with loopback
//! opted in, do reach the loopback service: the difference is the scope
//! of the credential, not the peer policy.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use load_tests::turn_client::{CHANNEL, TurnClient, channel_data};
use signaling::protocol::IceServer;
use tokio::net::UdpSocket;

/// Allocates with `user`/`pass` and sends `data` to `peer` through the
/// allocation (a permission and a channel first). Returns the client, to
/// keep the allocation.
async fn relay_to(
    relay: SocketAddr,
    (user, pass): &(String, String),
    peer: SocketAddr,
    data: &[u8],
) -> TurnClient {
    let client = TurnClient::allocate(relay, user, pass)
        .await
        .expect("the credentials allocate");
    client
        .bind_peer(peer)
        .await
        .expect("the relay takes the binding");
    let mut buf = Vec::new();
    channel_data(CHANNEL, data, &mut buf);
    client.socket.send(&buf).await.expect("send");
    client
}

/// Waits, up to 10 s, until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first datagram `socket` receives, within 10 s.
async fn receive(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("a datagram in time")
        .expect("recv");
    buf[..n].to_vec()
}

fn credentials(servers: &[IceServer]) -> (String, String) {
    let s = &servers[0];
    (s.username.clone().unwrap(), s.credential.clone().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precall_credentials_reach_only_the_test_peer() {
    let s = common::server_with(true).await;
    let relay = s.state.config.relay.clone().unwrap();
    let relay_addr = relay.relay.udp_addr().unwrap();
    let (act, _pro_token, patient_token) = common::consultation(&s.state);

    let Ok(axum::Json(started)) = signaling::precall::start(
        axum::extract::State(s.state.clone()),
        Ok(axum::Json(signaling::precall::Start {
            token: patient_token,
        })),
    )
    .await
    else {
        panic!("the connection test starts");
    };
    let relay_path = started
        .paths
        .iter()
        .find(|p| p.ice_servers.iter().any(|i| i.username.is_some()))
        .expect("a relay path");
    let (user, pass) = credentials(&relay_path.ice_servers);

    // A UDP service on loopback (a DNS resolver, a metrics agent...), and
    // a socket standing for the test peer, written down as the probe does.
    let service = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.probe_peers.insert(probe.local_addr().unwrap());

    let precall = (user, pass);
    let stats = relay.relay.stats().clone();
    let denied = || stats.peer_packets_denied.load(Ordering::Relaxed);
    let before = denied();
    let mut clients = Vec::new();
    for (peer, what) in [
        (service.local_addr().unwrap(), "the loopback service"),
        (s.http_addr, "the HTTP port"),
        (relay_addr, "the relay itself"),
    ] {
        let n = denied();
        clients.push(relay_to(relay_addr, &precall, peer, what.as_bytes()).await);
        until(&format!("the datagram to {what} is refused"), || {
            denied() > n
        })
        .await;
    }
    assert_eq!(denied() - before, 3);
    let mut buf = [0u8; 64];
    assert!(
        service.try_recv_from(&mut buf).is_err(),
        "nothing reached the loopback service"
    );
    // The test peer is reached.
    let _to_probe = relay_to(
        relay_addr,
        &precall,
        probe.local_addr().unwrap(),
        b"to the probe",
    )
    .await;
    assert_eq!(receive(&probe).await, b"to the probe");

    // The call's credentials (issued once media is allowed) reach the
    // loopback service, which this test's relay opts in to.
    let call = relay
        .ice_server(act, session::ParticipantId(2))
        .expect("call credentials");
    let call = credentials(std::slice::from_ref(&call));
    let _call = relay_to(
        relay_addr,
        &call,
        service.local_addr().unwrap(),
        b"call media",
    )
    .await;
    assert_eq!(receive(&service).await, b"call media");
}
