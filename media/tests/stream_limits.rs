//! The TURN TCP listener holds under clients that connect and say
//! nothing, or open many connections from one address: a silent stream is
//! closed after the idle timeout, and an address over its cap is refused
//! while others are still served.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use media::{Relay, RelayConfig, StatsSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(10);

async fn relay(idle: Duration, per_address: usize) -> Relay {
    let mut config = RelayConfig::loopback(common::REALM);
    config.stream_idle_timeout = idle;
    config.max_stream_connections_per_address = per_address;
    Relay::start(config, common::credentials()).await.unwrap()
}

/// Waits until the relay's counters satisfy `check`.
async fn until(relay: &Relay, what: &str, check: impl Fn(&StatsSnapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let s = relay.stats().snapshot();
        if check(&s) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the relay to close the connection (EOF or reset).
async fn expect_closed(stream: &mut TcpStream) {
    let mut chunk = [0u8; 64];
    match tokio::time::timeout(DEADLINE, stream.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("{n} unexpected bytes"),
        Err(_) => panic!("the relay did not close the connection"),
    }
}

/// A STUN Binding request, which the relay answers without credentials.
fn binding_request(id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[id; 12]);
    m
}

/// The connection is served: a Binding request gets its answer.
async fn expect_served(stream: &mut TcpStream, id: u8) {
    stream.write_all(&binding_request(id)).await.unwrap();
    let mut header = [0u8; 20];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut header))
        .await
        .expect("an answer in time")
        .expect("read");
    assert_eq!(&header[0..2], &[0x01, 0x01], "a Binding success response");
    assert_eq!(&header[8..20], &[id; 12]);
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[2], header[3]]))];
    stream.read_exact(&mut body).await.expect("the attributes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_closed_after_the_idle_timeout() {
    let relay = relay(Duration::from_millis(300), 64).await;
    let addr = relay.tcp_addr().unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // A client that speaks stays open as long as it speaks.
    let mut talker = TcpStream::connect(addr).await.unwrap();
    for id in 0..4 {
        expect_served(&mut talker, id).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expect_closed(&mut silent).await;
    until(&relay, "the silent stream is counted as idle", |s| {
        s.stream_idle_closed >= 1
    })
    .await;
    expect_served(&mut talker, 9).await;
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_cap() {
    let relay = relay(Duration::from_secs(60), 3).await;
    let addr = relay.tcp_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    until(&relay, "three streams open", |s| {
        s.stream_connections_active == 3
    })
    .await;
    // Twenty more from the same address are refused, one by one.
    for _ in 0..20 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        expect_closed(&mut extra).await;
    }
    let s = relay.stats().snapshot();
    assert_eq!(s.stream_connections_refused_per_address, 20, "{s:?}");
    assert_eq!(s.stream_connections_active, 3, "{s:?}");
    // Those held are still served; once one closes, a new one is taken.
    for (id, stream) in held.iter_mut().enumerate() {
        expect_served(stream, id as u8).await;
    }
    drop(held.pop());
    until(&relay, "the closed stream is released", |s| {
        s.stream_connections_active == 2
    })
    .await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    expect_served(&mut again, 7).await;
    assert_eq!(
        relay
            .stats()
            .stream_connections_refused_per_address
            .load(Ordering::Relaxed),
        20
    );
    relay.stop().await.unwrap();
}
