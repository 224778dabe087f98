//! Starting the relay: configurations that cannot work and bad TLS files
//! are refused with a clear error, before anything is bound.

mod common;

use media::{Error, Relay, RelayConfig, TlsConfig};

async fn start(config: RelayConfig) -> Result<Relay, Error> {
    Relay::start(config, common::credentials()).await
}

#[tokio::test]
async fn impossible_configurations_are_refused() {
    let mut no_listener = RelayConfig::loopback(common::REALM);
    no_listener.udp_listen = None;
    no_listener.tcp_listen = None;
    let mut unspecified = RelayConfig::loopback(common::REALM);
    unspecified.relay_ip = "0.0.0.0".parse().unwrap();
    let mut zero_quota = RelayConfig::loopback(common::REALM);
    zero_quota.max_allocations_per_participant = 0;
    let mut mixed = RelayConfig::loopback(common::REALM);
    mixed.external_ip = Some("::1".parse().unwrap());
    let no_realm = RelayConfig::loopback("");
    let mut tiny_cap = RelayConfig::loopback(common::REALM);
    tiny_cap.max_bitrate_per_allocation = Some(1_000);
    for config in [
        no_listener,
        unspecified,
        zero_quota,
        mixed,
        no_realm,
        tiny_cap,
    ] {
        let err = start(config).await.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
}

#[tokio::test]
async fn missing_or_broken_pem_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed_cert(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file").unwrap();
    let missing = dir.path().join("missing.pem");

    for (cert_pem, key_pem, what, path) in [
        (&missing, &key, "certificate", &missing),
        (&garbage, &key, "certificate", &garbage),
        (&cert, &missing, "private key", &missing),
        (&cert, &garbage, "private key", &garbage),
    ] {
        let mut config = RelayConfig::loopback(common::REALM);
        config.tls = Some(TlsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
        });
        match start(config).await {
            Err(Error::Pem {
                what: w, path: p, ..
            }) => {
                assert_eq!(w, what);
                assert_eq!(&p, path);
            }
            other => panic!("expected a PEM error, got {other:?}"),
        }
    }

    // A key that does not match the certificate.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = common::self_signed_cert(other.path());
    let mut config = RelayConfig::loopback(common::REALM);
    config.tls = Some(TlsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_pem: cert,
        key_pem: other_key,
    });
    let err = start(config).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err}");
}

#[tokio::test]
async fn a_started_relay_reports_its_addresses_and_stops() {
    let relay = start(RelayConfig::loopback(common::REALM)).await.unwrap();
    let udp = relay.udp_addr().unwrap();
    let tcp = relay.tcp_addr().unwrap();
    assert!(udp.ip().is_loopback() && udp.port() != 0);
    assert!(tcp.ip().is_loopback() && tcp.port() != 0);
    assert_eq!(relay.tls_addr(), None);
    assert_eq!(relay.allocations(), 0);
    relay.stop().await.unwrap();
    // The TCP port is free again.
    tokio::net::TcpListener::bind(tcp).await.unwrap();
}
