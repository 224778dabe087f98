//! Clients of one relay sending to each other's relayed addresses (both
//! participants relayed): the shard hands a datagram from one allocation
//! to the other without the kernel (within a shard or from one shard to
//! another), but only as far as the kernel path
//! would take it. The receiving allocation decides: with no permission
//! for the sender's IP nothing reaches its client; with a channel bound to
//! the sender it gets ChannelData; with a permission only, a Data
//! indication naming the sender's relayed address.

mod common;

use std::time::Duration;

use load_tests::turn_client::{CHANNEL, TurnClient, channel_data, parse_channel_data};
use stun::message::{Getter, Message};
use turn::proto::data::Data;
use turn::proto::peeraddr::PeerAddress;

async fn send(from: &TurnClient, payload: &[u8]) {
    let mut frame = Vec::new();
    channel_data(CHANNEL, payload, &mut frame);
    from.socket.send(&frame).await.unwrap();
}

async fn receive(client: &TurnClient) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), client.socket.recv(&mut buf))
        .await
        .expect("the client receives")
        .unwrap();
    buf[..n].to_vec()
}

/// The three cases on a relay of `shards` UDP shards.
async fn only_as_far_as_the_receivers_permission(shards: usize) {
    let (relay, credentials) = common::relay::udp_relay(b"hairpin-secret", shards).await;
    let server = relay.udp_addr().unwrap();
    let mut clients = Vec::new();
    for i in 0..5 {
        let act = format!("act-hairpin-{i}");
        clients.push(common::relay::patient_allocation(server, &credentials, &act).await);
    }
    let [a, b, c, d, e] = &clients[..] else {
        unreachable!()
    };
    // `b` permits nobody; `d` binds a channel to `c`, whose IP (the
    // relay's) `e` shares.
    a.bind_peer(b.relayed).await.unwrap();
    d.bind_peer(c.relayed).await.unwrap();
    c.bind_peer(d.relayed).await.unwrap();
    e.bind_peer(d.relayed).await.unwrap();
    // From here on no request reaches `turn`: every miss is data.
    let before = relay.stats().snapshot();

    // `a`'s datagram is checked and counted by `b`'s socket (as one the
    // kernel delivered), then handed to `turn`, which drops it for want of
    // a permission.
    send(a, b"from a").await;
    let stats = relay.stats().clone();
    common::wait_until(
        "the shard to hand a's datagram to turn",
        Duration::from_secs(10),
        || {
            let s = stats.snapshot();
            s.fastpath_hairpins > before.fastpath_hairpins
                && s.relayed_packets_from_peers > before.relayed_packets_from_peers
                && s.fastpath_misses > before.fastpath_misses
        },
    )
    .await;

    // ChannelData on `d`'s channel to `c`.
    send(c, b"from c").await;
    let got = receive(d).await;
    assert_eq!(parse_channel_data(&got), Some((CHANNEL, &b"from c"[..])));

    // `d`'s permission for the relay's IP covers `e`, its channel does
    // not: a Data indication naming `e`'s relayed address.
    send(e, b"from e").await;
    let got = receive(d).await;
    let mut m = Message::new();
    m.raw = got;
    m.decode().expect("a STUN message");
    assert_eq!(m.typ.method, stun::message::METHOD_DATA);
    let mut peer = PeerAddress::default();
    peer.get_from(&m).unwrap();
    assert_eq!((peer.ip, peer.port), (e.relayed.ip(), e.relayed.port()));
    let mut data = Data::default();
    data.get_from(&m).unwrap();
    assert_eq!(data.0, b"from e");

    // Nothing ever reaches `b`.
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), b.socket.recv(&mut buf))
            .await
            .is_err(),
        "a's datagram reached b"
    );
    // The shard adds its counts after each wake-up's sends: wait for the
    // third hand-over to be counted.
    common::wait_until(
        "the shard to count three hairpins",
        Duration::from_secs(10),
        || stats.snapshot().fastpath_hairpins >= before.fastpath_hairpins + 3,
    )
    .await;
    let after = relay.stats().snapshot();
    assert_eq!(
        after.fastpath_hairpins - before.fastpath_hairpins,
        3,
        "{after:?}"
    );
    // Only `a`'s went to `turn`.
    assert_eq!(
        after.fastpath_misses - before.fastpath_misses,
        1,
        "{after:?}"
    );
    assert_eq!(after.fastpath_dropped, 0, "{after:?}");
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hairpin_goes_only_as_far_as_the_receivers_permission() {
    // One shard reads every allocation: each case within it.
    only_as_far_as_the_receivers_permission(1).await;
    // Two: the kernel spreads the clients, and a datagram between two
    // allocations is handed over within a shard or from one to the other.
    only_as_far_as_the_receivers_permission(2).await;
}
