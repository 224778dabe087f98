//! The pre-call test peer answers a `webrtc` client's offer, directly and
//! through the relay: it echoes pings and counts an upload burst exactly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use media::{Probe, ProbeConfig};
use tokio::sync::{Notify, mpsc};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCSessionDescription,
    SettingEngineBuilder,
};

struct Gathered(Arc<Notify>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.0.notify_one();
        }
    }
}

/// A browser-like client: offers one data channel, optionally relay only.
async fn client(
    ice: Option<RTCIceServer>,
) -> (Arc<dyn PeerConnection>, Arc<dyn DataChannel>, String) {
    let gathered = Arc::new(Notify::new());
    let relay_only = ice.is_some();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice.into_iter().collect())
        .with_ice_transport_policy(if relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        })
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                .with_relay_acceptance_min_wait(Some(Duration::ZERO))
                .build(),
        )
        .with_handler(Arc::new(Gathered(gathered.clone())))
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .expect("client peer");
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let channel = pc
        .create_data_channel("probe", None)
        .await
        .expect("channel");
    let offer = pc.create_offer(None).await.expect("offer");
    let done = gathered.notified();
    pc.set_local_description(offer).await.expect("local");
    tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("client gathers its candidates");
    let sdp = pc.local_description().await.expect("offer sdp").sdp;
    (pc, channel, sdp)
}

async fn wait(rx: &mut mpsc::UnboundedReceiver<Option<String>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(40), rx.recv())
        .await
        .expect("the probe answers in time")
        .expect("channel open")
}

/// Runs the probe protocol over an answered connection; returns the
/// bytes the probe counted.
async fn exchange(channel: Arc<dyn DataChannel>, messages: u64) -> u64 {
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<String>>();
    let reader = channel.clone();
    tokio::spawn(async move {
        while let Some(event) = reader.poll().await {
            match event {
                DataChannelEvent::OnOpen => {
                    let _ = tx.send(None);
                }
                DataChannelEvent::OnMessage(m) if m.is_string => {
                    let _ = tx.send(Some(String::from_utf8_lossy(&m.data).into_owned()));
                }
                _ => {}
            }
        }
    });
    assert_eq!(wait(&mut rx).await, None, "the channel opens first");
    channel.send_text("ping 7").await.expect("ping");
    assert_eq!(wait(&mut rx).await.as_deref(), Some("pong 7"));
    for _ in 0..messages {
        channel
            .send(BytesMut::from(&[0x5a; 16_000][..]))
            .await
            .expect("send");
    }
    channel.send_text("up?").await.expect("up?");
    let line = wait(&mut rx).await.expect("a text answer");
    let mut parts = line.split(' ');
    assert_eq!(parts.next(), Some("up"));
    let bytes: u64 = parts.next().and_then(|b| b.parse().ok()).expect("bytes");
    let ms: f64 = parts.next().and_then(|m| m.parse().ok()).expect("ms");
    assert!(ms >= 0.0);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_echoes_and_counts_directly() {
    let probe = Probe::new(ProbeConfig::new("127.0.0.1".parse().unwrap()));
    let (pc, channel, offer) = client(None).await;
    let answer = probe.answer(offer).await.expect("the probe answers");
    assert!(
        answer.contains("a=candidate"),
        "the answer carries candidates"
    );
    pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap())
        .await
        .expect("remote");
    // Everything after the first message: 49 of 50.
    assert_eq!(exchange(channel, 50).await, 49 * 16_000);
    assert_eq!(probe.active(), 1);
    pc.close().await.expect("close");
    // The probe notices the close and frees its slot.
    for _ in 0..100 {
        if probe.active() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        probe.active(),
        0,
        "the probe peer is gone once the client leaves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_is_reached_through_the_relay() {
    let credentials = common::credentials();
    // Connection-test credentials reach only the probe's sockets, which the
    // probe writes down where the relay reads them.
    let probe_config = ProbeConfig::new("127.0.0.1".parse().unwrap());
    let mut config = media::RelayConfig::loopback(common::REALM);
    config.probe_peers = probe_config.peers.clone();
    let relay = media::Relay::start(config, credentials.clone())
        .await
        .expect("relay starts");
    let c = credentials
        .issue("act-1", "precall-1", Duration::from_secs(60))
        .expect("credentials");
    let ice = RTCIceServer {
        urls: vec![format!(
            "turn:{}?transport=udp",
            relay.udp_addr().expect("udp")
        )],
        username: c.username,
        credential: c.password,
    };
    let probe = Probe::new(probe_config);
    let (pc, channel, offer) = client(Some(ice)).await;
    assert!(
        offer.contains("typ relay"),
        "the client offers only relay candidates"
    );
    assert!(!offer.contains("typ host"));
    let answer = probe.answer(offer).await.expect("the probe answers");
    pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap())
        .await
        .expect("remote");
    // A short burst: SCTP through the relay in a debug build is slow
    // (docs/design/media-notes.md).
    assert_eq!(exchange(channel, 10).await, 9 * 16_000);
    assert!(
        relay.stats().snapshot().relayed_packets_to_peers > 0,
        "the traffic went through the relay"
    );
    pc.close().await.expect("close");
}

#[tokio::test]
async fn bad_offers_and_too_many_probes_are_refused() {
    let mut config = ProbeConfig::new("127.0.0.1".parse().unwrap());
    config.max_concurrent = 1;
    let probe = Probe::new(config);
    let err = probe.answer("not an sdp".into()).await.unwrap_err();
    assert!(matches!(err, media::Error::BadOffer(_)), "{err}");
    let err = probe.answer("v=0\r\n".repeat(10_000)).await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert_eq!(probe.active(), 0, "a refused offer holds no slot");

    let (_pc, _channel, offer) = client(None).await;
    probe.answer(offer).await.expect("first probe");
    let (_pc2, _channel2, offer2) = client(None).await;
    let err = probe.answer(offer2).await.unwrap_err();
    assert!(matches!(err, media::Error::ProbeBusy), "{err}");
}
