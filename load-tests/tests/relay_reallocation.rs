//! A client deletes its allocation and allocates again from the same
//! address (a browser's TURN client after a restart): the relay's data
//! path routes the new allocation's channel itself, before and after it
//! lets go of the old allocation's socket.

mod common;

use std::sync::Arc;
use std::time::Duration;

use load_tests::turn_client::{CHANNEL, TurnClient, channel_data};
use tokio::net::UdpSocket;

async fn send_and_receive(client: &TurnClient, peer: &UdpSocket, n: usize) {
    let mut frame = Vec::new();
    let mut buf = [0u8; 256];
    for i in 0..n {
        channel_data(CHANNEL, format!("media {i}").as_bytes(), &mut frame);
        client.socket.send(&frame).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), peer.recv(&mut buf))
            .await
            .expect("the peer receives")
            .unwrap();
        assert_eq!(&buf[..got], format!("media {i}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_allocation_from_the_same_address_keeps_the_fast_path() {
    let credentials = Arc::new(media::TurnCredentials::new(b"realloc-secret".to_vec()).unwrap());
    let mut config = media::RelayConfig::loopback("teleconsult-test");
    config.tcp_listen = None;
    config.udp_shards = 1;
    let relay = media::Relay::start(config, Arc::clone(&credentials))
        .await
        .unwrap();
    let c = credentials
        .issue("act-realloc", "patient", Duration::from_secs(600))
        .unwrap();
    let server = relay.udp_addr().unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let first = TurnClient::allocate(server, &c.username, &c.password)
        .await
        .unwrap();
    first.bind_peer(peer.local_addr().unwrap()).await.unwrap();
    send_and_receive(&first, &peer, 3).await;
    let old = first.relayed;
    first.release().await.unwrap();
    let second = first
        .allocate_again()
        .await
        .unwrap()
        .expect("the server forgot the first allocation");
    assert_eq!(
        second.socket.local_addr().unwrap(),
        first.socket.local_addr().unwrap()
    );
    second.bind_peer(peer.local_addr().unwrap()).await.unwrap();
    send_and_receive(&second, &peer, 3).await;

    // The shard lets the closed allocation's socket go at its next
    // housekeeping: its port is free again.
    common::wait_until(
        "the old relayed socket to be let go",
        Duration::from_secs(10),
        || std::net::UdpSocket::bind(old).is_ok(),
    )
    .await;
    // The new allocation's route survived it: its data still takes the
    // fast path, none of it is handed to the `turn` server.
    let before = relay.stats().snapshot();
    send_and_receive(&second, &peer, 5).await;
    let stats = relay.stats().clone();
    common::wait_until(
        "the shard to count the five datagrams",
        Duration::from_secs(10),
        || stats.snapshot().fastpath_datagrams >= before.fastpath_datagrams + 5,
    )
    .await;
    let after = relay.stats().snapshot();
    assert_eq!(after.fastpath_misses, before.fastpath_misses, "{after:?}");
    relay.stop().await.unwrap();
}
