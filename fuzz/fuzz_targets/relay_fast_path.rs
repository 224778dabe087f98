//! The relay's data path, sans IO, with the relay's own code
//! (`media::relay::fastpath`), as the shard (`relay::shard`) calls it:
//! each input is screened (`wire::is_turn_datagram`), routed as a
//! datagram from a client (`table::Table::route_client`, which notes
//! requests), answered in the routing table (`observe_answer`, and read
//! as an Allocate success by `granted_relayed_address`), routed again, and
//! what the reader returned is wrapped back as ChannelData and as a Data
//! indication in a buffer with the data path's headroom.
//!
//! Checks, beyond "no panic": a range the reader returns lies inside the
//! datagram; ChannelData and a Data indication written in place read back
//! to the same channel, peer and payload; the table routes a channel only
//! for the allocation that asked, and nothing after expiry.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::relay::fastpath::table::{self, ClientRoute, Table};
use media::relay::fastpath::wire::{self, ClientDatagram, HEADROOM};

fuzz_target!(|data: &[u8]| {
    let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let now = Instant::now();
    let mut table = Table::new(now);
    let id = table.add_allocation(client, 50000).expect("an empty table has room");
    let _ = wire::is_turn_datagram(data);
    let _ = table::granted_relayed_address(data);
    let routed = |route: ClientRoute| {
        if let ClientRoute::Peer {
            allocation,
            payload,
            ..
        } = route
        {
            assert_eq!(allocation, id);
            assert!(payload.start <= payload.end && payload.end <= data.len());
        }
    };
    // The input as a request, then as its own answer with the success
    // type of its method (the low bit of the first byte flipped on).
    routed(table.route_client(now, client, data));
    if data.len() >= 2 {
        let mut answer = data.to_vec();
        answer[0] |= 0x01;
        table.observe_answer(now, client, &answer);
    }
    routed(table.route_client(now, client, data));
    for ch in 0x4000..0x4004u16 {
        if let Some((a, _peer)) = table.channel_peer(now, client, ch) {
            assert_eq!(a, id);
        }
    }
    table.expire(now + Duration::from_secs(3600));
    assert_eq!(table.next_expiry(), None);

    let (payload, peer) = match wire::read_client(data) {
        ClientDatagram::ChannelData { channel, payload } => {
            assert!(wire::CHANNELS.contains(&channel));
            (payload, None)
        }
        ClientDatagram::Send { peer, data: range } => (range, Some(peer)),
        ClientDatagram::Control => return,
    };
    assert!(payload.start <= payload.end && payload.end <= data.len());
    let body = &data[payload];
    let mut buf = vec![0u8; HEADROOM + body.len() + 3];
    buf[HEADROOM..HEADROOM + body.len()].copy_from_slice(body);
    let r = wire::wrap_channel_data(&mut buf, body.len(), 0x4001).expect("room for it");
    match wire::read_client(&buf[r]) {
        ClientDatagram::ChannelData { channel, payload } => {
            assert_eq!(channel, 0x4001);
            assert_eq!(payload.len(), body.len());
        }
        other => panic!("ChannelData read back as {other:?}"),
    }
    let peer = peer.unwrap_or_else(|| "192.0.2.1:9".parse().unwrap());
    let txid = [7u8; 12];
    if let Some(r) = wire::wrap_data_indication(&mut buf, body.len(), peer, &txid) {
        let m = &buf[r];
        assert_eq!(m.len() % 4, 0);
        assert_eq!(u16::from_be_bytes([m[0], m[1]]), wire::DATA_INDICATION);
        let addr_len = usize::from(u16::from_be_bytes([m[22], m[23]]));
        assert_eq!(wire::read_xor_address(&m[24..24 + addr_len], &txid), Some(peer));
        let at = 24 + addr_len + 4;
        assert_eq!(&m[at..at + body.len()], body);
    }
});
