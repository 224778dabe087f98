//! With `iceTransportPolicy: relay`, two `webrtc` participants reach each
//! other only through the server's TURN relay (UDP), with credentials the
//! server issued once media was allowed; media packets arrive, and the
//! trace records the relayed path.

mod common;

use common::{assert_media_both_ways, consult, server_with};
use load_tests::participant::Plan;
use session::store::verify_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_through_the_relay_when_forced() {
    let s = server_with(true).await;
    let (act, pro, patient) = consult(&s, |p| Plan {
        relay_only: true,
        timeout: std::time::Duration::from_secs(40),
        ..p
    })
    .await;
    assert_media_both_ways(&pro, &patient);
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
