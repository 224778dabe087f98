//! Raw TCP against the relay's stream listener: frames split across
//! reads are reassembled, malformed or oversized input closes that
//! connection only, and the listener keeps serving.

mod common;

use std::time::Duration;

use media::relay::stream::next_frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(10);

fn binding_request(txid: [u8; 12]) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&txid);
    m
}

/// Reads one frame from the stream.
async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        if let Some((frame, _)) = next_frame(&buf).expect("the relay sends valid frames") {
            return buf[..frame.frame_len()].to_vec();
        }
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut chunk))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits for the relay to close the connection.
async fn expect_closed(stream: &mut TcpStream) {
    let mut chunk = [0u8; 256];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut chunk))
            .await
            .expect("the relay closes the connection")
        {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

async fn assert_binding_works(addr: std::net::SocketAddr, txid: [u8; 12], byte_by_byte: bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = binding_request(txid);
    if byte_by_byte {
        for b in &request {
            stream.write_all(&[*b]).await.unwrap();
            stream.flush().await.unwrap();
        }
    } else {
        stream.write_all(&request).await.unwrap();
    }
    let response = read_frame(&mut stream).await;
    assert_eq!(&response[..2], &[0x01, 0x01], "Binding success response");
    assert_eq!(&response[8..20], &txid, "same transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_request_split_into_single_bytes_is_answered() {
    let relay = common::loopback_relay(common::credentials()).await;
    assert_binding_works(relay.tcp_addr().unwrap(), [1; 12], true).await;
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_closes_only_that_connection() {
    let relay = common::loopback_relay(common::credentials()).await;
    let addr = relay.tcp_addr().unwrap();

    // A healthy connection opened first stays usable.
    let mut healthy = TcpStream::connect(addr).await.unwrap();

    let cases: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\n\r\n", // first bits 01 ('G'), then a huge length
        &[0x80, 0, 0, 0],          // first bits 10
        &[0x00, 0x01, 0x00, 0x03, 0, 0, 0, 0], // STUN length not a multiple of 4
        &[0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 0, 0], // RFC 3489 (no magic cookie)
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut bad = TcpStream::connect(addr).await.unwrap();
        bad.write_all(bytes).await.unwrap();
        expect_closed(&mut bad).await;
        // The relay counts the error as it drops the connection: the close
        // may be seen first.
        let stats = relay.stats().clone();
        common::wait_until(&format!("case {i} counted"), DEADLINE, || {
            stats.snapshot().stream_frame_errors == i as u64 + 1
        })
        .await;
    }

    // An oversized ChannelData header is refused before its body comes.
    let mut big = TcpStream::connect(addr).await.unwrap();
    big.write_all(&[0x40, 0x00, 0x10, 0x00]).await.unwrap();
    expect_closed(&mut big).await;
    let stats = relay.stats().clone();
    common::wait_until("the oversized header counted", DEADLINE, || {
        stats.snapshot().stream_frame_errors == 5
    })
    .await;

    healthy.write_all(&binding_request([2; 12])).await.unwrap();
    let response = read_frame(&mut healthy).await;
    assert_eq!(&response[8..20], &[2; 12]);
    assert_binding_works(addr, [3; 12], false).await;

    drop(healthy);
    let stats = relay.stats().clone();
    common::wait_until("streams to close", DEADLINE, || {
        stats.snapshot().stream_connections_active == 0
    })
    .await;
    assert_eq!(stats.snapshot().stream_connections_accepted, 7);
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_data_for_an_unknown_channel_does_not_close_the_stream() {
    let relay = common::loopback_relay(common::credentials()).await;
    let addr = relay.tcp_addr().unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // No allocation: turn drops it. Padded to 8 bytes.
    stream
        .write_all(&[0x40, 0x00, 0x00, 0x03, 9, 9, 9, 0])
        .await
        .unwrap();
    stream.write_all(&binding_request([4; 12])).await.unwrap();
    let response = read_frame(&mut stream).await;
    assert_eq!(&response[8..20], &[4; 12]);
    assert_eq!(relay.stats().snapshot().stream_frame_errors, 0);
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_drops_a_client_that_does_not_speak_tls() {
    let dir = tempfile::tempdir().unwrap();
    let relay = common::loopback_relay_with_tls(common::credentials(), dir.path()).await;
    let addr = relay.tls_addr().unwrap();
    // Plain STUN on the TLS port is not a TLS handshake.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(&binding_request([5; 12])).await.unwrap();
    expect_closed(&mut plain).await;
    // The failed handshake drops the connection before it is counted, so
    // the close may be seen first: wait for the count.
    let stats = relay.stats().clone();
    common::wait_until("the failed handshake counted", DEADLINE, || {
        stats.snapshot().tls_handshake_failures == 1
    })
    .await;
    relay.stop().await.unwrap();
}
