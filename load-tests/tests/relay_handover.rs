//! Two clients of one relay whose datagrams the kernel put on different
//! UDP shards, one sending to the other's relayed address: the sender's
//! shard hands the datagram to the receiver's shard, which checks it as
//! the receiving allocation's and relays it to its client, without the
//! kernel in between.

mod common;

use std::time::Duration;

use load_tests::turn_client::{CHANNEL, channel_data, parse_channel_data};
use stun::message::{Getter, METHOD_DATA, Message};
use turn::proto::data::Data;

/// The payload of what a TURN client received: ChannelData or a Data
/// indication.
fn payload(datagram: &[u8]) -> Vec<u8> {
    if let Some((_, data)) = parse_channel_data(datagram) {
        return data.to_vec();
    }
    let mut m = Message::new();
    m.raw = datagram.to_vec();
    m.decode().expect("ChannelData or a STUN message");
    assert_eq!(m.typ.method, METHOD_DATA);
    let mut data = Data::default();
    data.get_from(&m).unwrap();
    data.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_for_an_allocation_of_the_other_shard_is_handed_over() {
    let (relay, credentials) = common::relay::udp_relay(b"handover-secret", 2).await;
    let server = relay.udp_addr().unwrap();
    let allocate = |i: usize| {
        let credentials = std::sync::Arc::clone(&credentials);
        async move {
            common::relay::patient_allocation(server, &credentials, &format!("act-handover-{i}"))
                .await
        }
    };
    let receiver = allocate(0).await;
    let stats = relay.stats().clone();
    // New senders until one sits on the other shard (one chance in two
    // each): its datagram is then handed over. The receiver's permission
    // is for the relay's IP, which every sender's relayed address has.
    for attempt in 1..=40 {
        let sender = allocate(attempt).await;
        if attempt == 1 {
            receiver.bind_peer(sender.relayed).await.unwrap();
        }
        sender.bind_peer(receiver.relayed).await.unwrap();
        let before = stats.snapshot();
        let message = format!("attempt {attempt}");
        let mut frame = Vec::new();
        channel_data(CHANNEL, message.as_bytes(), &mut frame);
        sender.socket.send(&frame).await.unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), receiver.socket.recv(&mut buf))
            .await
            .expect("the receiver gets every datagram, on either path")
            .unwrap();
        assert_eq!(payload(&buf[..n]), message.as_bytes());
        // Counted after the wake-up's sends: wait for the count.
        common::wait_until("the hairpin to be counted", Duration::from_secs(10), || {
            stats.snapshot().fastpath_hairpins > before.fastpath_hairpins
        })
        .await;
        let after = stats.snapshot();
        assert_eq!(
            after.fastpath_hairpins,
            before.fastpath_hairpins + 1,
            "{after:?}"
        );
        assert_eq!(after.fastpath_dropped, 0, "{after:?}");
        if after.fastpath_handovers > before.fastpath_handovers {
            assert_eq!(after.fastpath_handovers, before.fastpath_handovers + 1);
            // Checked and counted by the receiving allocation, sent once.
            assert_eq!(
                after.relayed_packets_from_peers,
                before.relayed_packets_from_peers + 1
            );
            relay.stop().await.unwrap();
            return;
        }
        sender.release().await.unwrap();
    }
    panic!("no sender's client landed on the other shard in 40 tries");
}
