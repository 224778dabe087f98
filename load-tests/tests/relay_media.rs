//! With `iceTransportPolicy: relay`, two `webrtc` participants reach each
//! other only through the server's TURN relay (UDP), with credentials the
//! server issued once media was allowed; media packets arrive, and the
//! trace records the relayed path.

mod common;

use std::time::Duration;

use common::{consultation, server_with};
use load_tests::participant::{self, Plan};
use session::TraceStore;
use session::store::verify_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_through_the_relay_when_forced() {
    let s = server_with(true).await;
    let (act, pro_token, patient_token) = consultation(&s.state);
    let plan = |consent, admit| Plan {
        consent,
        admit,
        packets: 100,
        expect_packets: 90,
        timeout: Duration::from_secs(40),
        relay_only: true,
        tcp_only: false,
    };
    let (pro, patient) = tokio::join!(
        participant::run(&s.ws_url, &pro_token, plan(false, true)),
        participant::run(&s.ws_url, &patient_token, plan(true, false)),
    );
    let (pro, patient) = (pro.unwrap(), patient.unwrap());
    assert_eq!(
        (pro.connected_peers, patient.connected_peers),
        (1, 1),
        "{pro:?} {patient:?}"
    );
    assert!(
        pro.packets_received >= 90,
        "professional received {}",
        pro.packets_received
    );
    assert!(
        patient.packets_received >= 90,
        "patient received {}",
        patient.packets_received
    );
    for pair in pro.selected_pairs.iter().chain(&patient.selected_pairs) {
        assert!(pair.contains(&"relay".to_string()), "not relayed: {pair:?}");
    }
    let relay = s.state.config.relay.as_ref().unwrap();
    let stats = relay.relay.stats().snapshot();
    assert!(stats.allocations_created >= 2, "{stats:?}");
    assert!(stats.relayed_packets_to_peers >= 180, "{stats:?}");

    let records = s.state.store.records(act).unwrap();
    let routes: Vec<String> = records
        .iter()
        .filter(|r| r.kind == "media_connected")
        .map(|r| String::from_utf8_lossy(&r.public).into_owned())
        .collect();
    assert!(
        !routes.is_empty() && routes.iter().all(|r| r.contains("\"route\":\"relay\"")),
        "{routes:?}"
    );
    // Operators see the relay's work at /metrics.
    use tower::ServiceExt;
    let res = signaling::app(s.state.clone())
        .oneshot(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    let bytes: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("teleconsult_relay_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(bytes > 0, "{text}");

    let trusted = s.data.key_dir().trusted().unwrap();
    assert!(
        verify_store(&*s.state.store, &trusted, None)
            .unwrap()
            .is_intact()
    );
}
