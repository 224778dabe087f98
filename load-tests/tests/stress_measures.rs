//! The harness measures what it is shown: relay-stress through our relay,
//! with an in-process UDP shim in front of it that delays every
//! ChannelData packet by 20 ms and drops one in 20, reports that delay
//! and that loss within 10 %.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use load_tests::relay_stress::{self, Flow, StressConfig};
use tokio::net::UdpSocket;

const DELAY: Duration = Duration::from_millis(20);
const DROP_ONE_IN: u64 = 20;

/// A UDP proxy to `upstream`: one upstream socket per client, so the
/// relay sees each client apart. Client → relay ChannelData is delayed
/// (by a thread with its own precise sleep: tokio's timer rounds to the
/// millisecond) and thinned; everything else passes at once.
async fn shim(upstream: SocketAddr) -> SocketAddr {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let (delay_line, delayed) =
        std::sync::mpsc::channel::<(Instant, std::net::UdpSocket, Vec<u8>)>();
    std::thread::spawn(move || {
        for (due, socket, packet) in delayed {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let _ = socket.send(&packet);
        }
    });
    tokio::spawn(async move {
        let mut clients: HashMap<SocketAddr, (Arc<UdpSocket>, std::net::UdpSocket)> =
            HashMap::new();
        let mut seen = 0u64;
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = front.recv_from(&mut buf).await.unwrap();
            if let std::collections::hash_map::Entry::Vacant(slot) = clients.entry(from) {
                let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                std_socket.connect(upstream).unwrap();
                let blocking = std_socket.try_clone().unwrap();
                blocking.set_nonblocking(false).unwrap();
                std_socket.set_nonblocking(true).unwrap();
                let s = Arc::new(UdpSocket::from_std(std_socket).unwrap());
                let (back, front) = (s.clone(), front.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 2048];
                    while let Ok(n) = back.recv(&mut buf).await {
                        let _ = front.send_to(&buf[..n], from).await;
                    }
                });
                slot.insert((s, blocking));
            }
            let (up, blocking) = &clients[&from];
            let packet = buf[..n].to_vec();
            if packet[0] & 0xc0 == 0x40 {
                seen += 1;
                if seen.is_multiple_of(DROP_ONE_IN) {
                    continue;
                }
                let due = Instant::now() + DELAY;
                delay_line
                    .send((due, blocking.try_clone().unwrap(), packet))
                    .unwrap();
            } else {
                let _ = up.send(&packet).await;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_delay_and_loss_are_reported_within_ten_percent() {
    let secret = b"stress-test-secret".to_vec();
    let credentials = Arc::new(media::TurnCredentials::new(secret.clone()).unwrap());
    let mut config = media::RelayConfig::loopback("teleconsult-test");
    config.tcp_listen = None;
    let relay = media::Relay::start(config, credentials).await.unwrap();
    let front = shim(relay.udp_addr().unwrap()).await;

    let mut cfg = StressConfig {
        server: relay.udp_addr().unwrap(),
        secret,
        sessions: 4,
        flows: vec![Flow {
            packets_per_second: 100.0,
            size: 200,
        }],
        duration: Duration::from_secs(4),
        direct: false,
        peers_outside: false,
        relay_pid: Some(std::process::id()),
    };
    // The same load without the shim: the baseline to subtract.
    let base = relay_stress::run(&cfg, |_| {}).await.unwrap();
    assert_eq!((base.lost, base.setup_failures), (0, 0), "{base:?}");
    cfg.server = front;
    let r = relay_stress::run(&cfg, |_| {}).await.unwrap();
    assert_eq!(r.setup_failures, 0, "{r:?}");
    // 8 clients × 100 packets/s × 4 s.
    assert!((3000..=3300).contains(&r.sent), "{}", r.sent);
    let injected_loss = 1.0 / DROP_ONE_IN as f64;
    assert!(
        (r.loss - injected_loss).abs() <= 0.1 * injected_loss,
        "loss {} for {injected_loss}",
        r.loss
    );
    let delay_ms = DELAY.as_secs_f64() * 1000.0;
    let added = r.latency_ms.p50 - base.latency_ms.p50;
    assert!(
        (added - delay_ms).abs() <= 0.1 * delay_ms,
        "p50 {} ms, baseline {} ms, for {delay_ms} ms",
        r.latency_ms.p50,
        base.latency_ms.p50
    );
    // The relay (in this process) was seen working.
    assert!(r.relay_cpu_seconds.unwrap() > 0.0, "{r:?}");
    assert!(r.relay_bytes_per_allocation.is_some());
    assert!(r.relay_anon_bytes_per_allocation.is_some());
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_baseline_loses_nothing_and_is_fast() {
    let cfg = StressConfig {
        server: "127.0.0.1:9".parse().unwrap(),
        secret: b"unused".to_vec(),
        sessions: 2,
        flows: StressConfig::consultation_flows(1_000_000),
        duration: Duration::from_secs(2),
        direct: true,
        peers_outside: false,
        relay_pid: None,
    };
    let r = relay_stress::run(&cfg, |_| {}).await.unwrap();
    assert_eq!((r.lost, r.setup_failures), (0, 0), "{r:?}");
    // 4 clients × ~164 packets/s × 2 s.
    assert!(r.sent > 1200, "{}", r.sent);
    assert!(r.latency_ms.p50 < 10.0, "{:?}", r.latency_ms);
}
