//! A relay alone (UDP only, no signaling server) and relay-stress runs
//! against it, for the data-path tests.

use std::sync::Arc;
use std::time::Duration;

use load_tests::relay_stress::{self, Flow, StressConfig, StressResult};

/// A loopback relay with only a UDP listener, on `shards` shards, and the
/// credentials it checks.
pub async fn udp_relay(
    secret: &[u8],
    shards: usize,
) -> (media::Relay, Arc<media::TurnCredentials>) {
    let credentials = Arc::new(media::TurnCredentials::new(secret.to_vec()).unwrap());
    let mut config = media::RelayConfig::loopback("teleconsult-test");
    config.tcp_listen = None;
    config.udp_shards = shards;
    let relay = media::Relay::start(config, Arc::clone(&credentials))
        .await
        .unwrap();
    (relay, credentials)
}

/// A TURN client of `server` with an allocation, under credentials
/// issued for the patient of act `act`.
pub async fn patient_allocation(
    server: std::net::SocketAddr,
    credentials: &media::TurnCredentials,
    act: &str,
) -> load_tests::turn_client::TurnClient {
    let c = credentials
        .issue(act, "patient", Duration::from_secs(600))
        .unwrap();
    load_tests::turn_client::TurnClient::allocate(server, &c.username, &c.password)
        .await
        .unwrap()
}

/// Runs six sessions of 100 packets of 300 B a second each way for 3 s
/// through `relay` (made with `secret`), each one TURN client and a plain
/// peer (`peers_outside`) or two TURN clients; asserts nothing was lost
/// and every session set up.
pub async fn stress(relay: &media::Relay, secret: &[u8], peers_outside: bool) -> StressResult {
    let cfg = StressConfig {
        server: relay.udp_addr().unwrap(),
        secret: secret.to_vec(),
        sessions: 6,
        flows: vec![Flow {
            packets_per_second: 100.0,
            size: 300,
        }],
        duration: Duration::from_secs(3),
        direct: false,
        peers_outside,
        relay_pid: Some(std::process::id()),
    };
    let r = relay_stress::run(&cfg, |_| {}).await.unwrap();
    assert_eq!((r.lost, r.setup_failures), (0, 0), "{r:?}");
    // 12 ends × 100 packets/s × 3 s.
    assert!((3300..=3700).contains(&r.sent), "{}", r.sent);
    r
}
