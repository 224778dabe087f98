//! Junk sent to the relay's listeners is counted, not logged one line per
//! datagram or stream: `turn` logs an error for every datagram it cannot
//! handle, so a flood of junk was a flood of log lines. Now junk never
//! reaches `turn`; the relay counts it (`/metrics`) and says so in a
//! summary at most once a minute.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

/// Error and warning records through the `log` facade (what `turn` uses).
static LOG_LINES: AtomicU64 = AtomicU64::new(0);
/// Warning and error events through `tracing` (what the relay uses).
static TRACING_LINES: AtomicU64 = AtomicU64::new(0);

struct CountingLogger;

impl log::Log for CountingLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LOG_LINES.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn flush(&self) {}
}

struct CountingSubscriber;

impl tracing::Subscriber for CountingSubscriber {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        TRACING_LINES.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

const DEADLINE: Duration = Duration::from_secs(10);

/// A STUN Binding request, which the relay answers without credentials.
fn binding_request(id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[id; 12]);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_is_counted_and_summed_up_not_logged_per_packet() {
    log::set_logger(&CountingLogger).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    tracing::subscriber::set_global_default(CountingSubscriber).unwrap();

    let relay = common::loopback_relay(common::credentials()).await;
    let udp = relay.udp_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(udp).await.unwrap();
    let junk: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x80\x01\x02\x03\x04\x05\x06\x07",
        b"\xff",
        b"\x00\x01\x00\x04\x00\x00\x00\x00", // STUN-like, no magic cookie
        b"\x40\x00\x00\xff\x01",             // ChannelData longer than sent
    ];
    for round in 0..10u8 {
        for i in 0..100 {
            socket.send(junk[i % junk.len()]).await.unwrap();
        }
        // The listener handles datagrams in order: once this is answered,
        // the hundred before it were handled.
        socket.send(&binding_request(round)).await.unwrap();
        let mut buf = [0u8; 1500];
        loop {
            let n = tokio::time::timeout(DEADLINE, socket.recv(&mut buf))
                .await
                .expect("the relay answers the Binding request")
                .unwrap();
            if n >= 20 && buf[8..20] == [round; 12] {
                break;
            }
        }
    }
    // Fifty TCP connections that speak HTTP.
    let tcp = relay.tcp_addr().unwrap();
    for _ in 0..50 {
        let mut s = TcpStream::connect(tcp).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while relay.stats().snapshot().stream_frame_errors < 50 {
        assert!(tokio::time::Instant::now() < deadline, "streams not cut");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert_eq!(
        LOG_LINES.load(Ordering::Relaxed),
        0,
        "turn logged the junk datagrams"
    );
    let stats = relay.stats().snapshot();
    assert_eq!(stats.junk_datagrams, 1000, "{stats:?}");
    assert_eq!(stats.stream_frame_errors, 50, "{stats:?}");
    let lines = TRACING_LINES.load(Ordering::Relaxed);
    assert!(
        lines <= 2,
        "{lines} warnings: one summary per listener at most"
    );
    relay.stop().await.unwrap();
}
