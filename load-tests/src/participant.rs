//! A synthetic participant: the browser's protocol, with `webrtc` media.
//!
//! [`run`] joins with an invitation token, does what its [`Plan`] says
//! (consent as the patient, admit as the professional), negotiates one peer
//! connection with each other participant allowed media (the one with the
//! smaller number offers, as in the web client), sends Opus RTP packets
//! once connected, and counts what it receives. It returns an [`Outcome`]
//! when the act ends, the plan is done, or the time is up.
//!
//! With [`Plan::media`], it plays the encoded AV1 clip and Opus tone in
//! real time to each peer (each payload ending with the send-time
//! trailer) for [`Plan::play_for`], and measures what it receives
//! ([`crate::receiver`]): join latency, ICE connected time, first frame,
//! loss, jitter, latency, bitrate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use signaling::protocol::{ClientMessage, ServerMessage, SignalData};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::delay_proxy::DelayProxy;
use crate::media_source::EncodedMedia;
use crate::packetize::{now_micros, trailer};
use crate::receiver::{AV1_PT, OPUS_PT, Receiver};
use crate::stats;

/// What the participant does besides joining.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// As the patient: accept the consent text shown.
    pub consent: bool,
    /// As a professional: admit whoever waits.
    pub admit: bool,
    /// RTP packets to send to each peer once connected (20 ms apart).
    pub packets: u32,
    /// Stop after receiving this many packets from every peer.
    pub expect_packets: u64,
    /// Give up after this long.
    pub timeout: Duration,
    /// Force media through the TURN relay (`iceTransportPolicy: relay`).
    pub relay_only: bool,
    /// Gather only TCP candidates (ICE over TCP, RFC 6544): the offerer's
    /// are active, the answerer's passive.
    pub tcp_only: bool,
    /// The address media binds to (default loopback), e.g. a veth's in a
    /// network namespace.
    pub bind_ip: Option<IpAddr>,
    /// Report media stats over signaling this often, as the browser does
    /// (see [`crate::stats`]).
    pub stats_every: Option<Duration>,
    /// An in-process loss shim on the receive path, for fault-injection
    /// tests where the kernel cannot drop packets (no netem): while set
    /// to N > 0, one inbound RTP packet in N (by sequence number) is
    /// discarded before it is counted, so it shows as lost.
    pub drop_one_in: Option<Arc<AtomicU64>>,
    /// Route this participant's direct media through a delay proxy, for
    /// fault-injection tests where the kernel cannot delay packets (no
    /// netem): the ICE candidates it sends and receives over signaling
    /// are rewritten to the proxy's addresses (see
    /// [`crate::delay_proxy`]), so every datagram of the path crosses it.
    pub delay_proxy: Option<Arc<DelayProxy>>,
    /// Play this encoded media to each peer instead of the short Opus
    /// stub, and measure what comes back.
    pub media: Option<Arc<EncodedMedia>>,
    /// With `media`: how long to play to each peer.
    pub play_for: Duration,
    /// With `media`: stop once this many peers have been played to (and
    /// 500 ms more for the last packets to arrive).
    pub expect_peers: u32,
    /// The run's start, the origin of the receive timeline and of the
    /// timings in [`Outcome`] (defaults to the WebSocket's opening).
    pub run_start: Option<Instant>,
    /// Use these ICE servers instead of the server's (e.g. coturn with
    /// REST credentials the harness made).
    pub ice_override: Option<Vec<signaling::protocol::IceServer>>,
    /// The ICE agent's timers (see [`IceTiming`]).
    pub ice_timing: IceTiming,
}

/// The ICE agent's timers. `webrtc` 0.21's driver sends a packet bound for
/// a TURN relay only on its next wake-up, and between datagrams it wakes
/// on the ICE agent's tick: the check interval while checking, the
/// keepalive interval (at most 200 ms) once connected. So these set how
/// long each relayed round trip of ICE and DTLS waits
/// (docs/design/relay-fast-path.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IceTiming {
    /// Between two connectivity checks (the crate's default: 200 ms).
    pub check_interval: Duration,
    /// Checks sent on a pair before it fails (the crate's default: 7).
    pub max_binding_requests: u16,
    /// Between two consent checks once connected; 1.5 s without an answer
    /// shows as ICE disconnected, as in a browser.
    pub keepalive: Duration,
}

impl IceTiming {
    /// For media forced through a relay: checks every 20 ms (100 a pair:
    /// 2 s before a pair fails, 1.4 s by default) and consent every 50 ms, so that
    /// each relayed round trip of ICE and DTLS waits 20–50 ms, not 200
    /// (first frame p95 0.45 s instead of 3 s, docs/BENCHMARKS.md).
    pub const RELAYED: IceTiming = IceTiming {
        check_interval: Duration::from_millis(20),
        max_binding_requests: 100,
        keepalive: Duration::from_millis(50),
    };
}

impl Default for IceTiming {
    /// The crate's check timing, and a browser's consent checks (every
    /// half second).
    fn default() -> Self {
        IceTiming {
            check_interval: Duration::from_millis(200),
            max_binding_requests: 7,
            keepalive: Duration::from_millis(500),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub participant: u32,
    /// Whether the server ever sent ICE servers (media allowed).
    pub got_ice_servers: bool,
    /// Peer connections that reached `connected`.
    pub connected_peers: u32,
    /// RTP packets received, all peers together.
    pub packets_received: u64,
    /// RTP packets sent, all peers together.
    pub packets_sent: u64,
    /// Error codes the server sent back, in order.
    pub errors: Vec<String>,
    /// Whether the act ended while connected.
    pub ended: bool,
    /// Candidate types of each connected pair, local then remote, as the
    /// ICE agent selected them (e.g. `["relay", "host"]`).
    pub selected_pairs: Vec<Vec<String>>,
    /// `stats` reports sent.
    pub stats_sent: u32,
    /// Peers that reached `connected`, by number.
    pub connected: Vec<u32>,
    /// Times a peer connection came back to `connected` after losing it.
    pub media_recoveries: u32,
    /// Times the signaling connection was lost and made again.
    pub reconnects: u32,
    /// Milliseconds from the WebSocket's opening to being admitted (or
    /// welcomed, for a professional, who needs no admission).
    pub join_ms: Option<f64>,
    /// Milliseconds from the WebSocket's opening to the first ICE
    /// connection reaching `connected`.
    pub ice_connected_ms: Option<f64>,
    /// Milliseconds from the WebSocket's opening to the first whole video
    /// frame received.
    pub first_frame_ms: Option<f64>,
    /// What was received, with `media`.
    pub received: Option<Arc<Mutex<Receiver>>>,
    /// The selected pair's round-trip time in each `stats` report sent,
    /// as (when, RTT): what the harness measured of the path over time.
    pub rtt_ms: Vec<(Instant, f64)>,
    /// Without `media`: the one-way latency of each RTP packet received,
    /// from the send time the sender appends (both clients read the same
    /// wall clock), as (when received, latency).
    pub one_way_ms: Vec<(Instant, f64)>,
}

/// Events from the peer connections to the participant's loop.
enum PeerEvent {
    Candidate { to: u32, init: RTCIceCandidateInit },
    IceConnected,
    Connected { peer: u32 },
    PlayedOut,
}

struct Handler {
    peer: u32,
    events: mpsc::UnboundedSender<PeerEvent>,
    received: Arc<AtomicU64>,
    link: Arc<stats::LinkState>,
    drop_one_in: Option<Arc<AtomicU64>>,
    measured: Option<(Arc<Mutex<Receiver>>, Instant)>,
    one_way: Arc<Mutex<Vec<(Instant, f64)>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PeerEvent::Candidate {
                to: self.peer,
                init,
            });
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.link.set_ice(self.peer, state);
        if state == RTCIceConnectionState::Connected {
            let _ = self.events.send(PeerEvent::IceConnected);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.link.set_pc(self.peer, state);
        if state == RTCPeerConnectionState::Connected {
            let _ = self.events.send(PeerEvent::Connected { peer: self.peer });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        let link = self.link.clone();
        let peer = self.peer;
        let drop_one_in = self.drop_one_in.clone();
        let measured = self.measured.clone();
        let one_way = self.one_way.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let n = drop_one_in
                        .as_ref()
                        .map_or(0, |d| d.load(Ordering::Relaxed));
                    if n > 0 && u64::from(packet.header.sequence_number) % n == 0 {
                        continue;
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                    link.on_rtp(peer, packet.header.sequence_number);
                    if measured.is_none()
                        && let Some((_, sent)) = trailer::strip(&packet.payload)
                        && let Ok(mut v) = one_way.lock()
                    {
                        let ms = now_micros().saturating_sub(sent) as f64 / 1000.0;
                        v.push((Instant::now(), ms));
                    }
                    if let Some((receiver, start)) = &measured {
                        let h = &packet.header;
                        let since = start.elapsed().as_micros() as u64;
                        if let Ok(mut r) = receiver.lock() {
                            r.on_packet(
                                since,
                                now_micros(),
                                h.ssrc,
                                h.payload_type,
                                h.sequence_number,
                                h.timestamp,
                                h.marker,
                                &packet.payload,
                            );
                        }
                    }
                }
            }
        });
    }
}

struct Peer {
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    video: Option<Arc<TrackLocalStaticRTP>>,
    sender: Arc<dyn RtpSender>,
    remote_set: bool,
    pending: Vec<RTCIceCandidateInit>,
}

fn av1() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/AV1".into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "profile-id=0".into(),
        rtcp_feedback: vec![],
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// What every peer connection of one participant shares.
#[derive(Clone)]
struct Shared {
    events: mpsc::UnboundedSender<PeerEvent>,
    received: Arc<AtomicU64>,
    link: Arc<stats::LinkState>,
    measured: Option<(Arc<Mutex<Receiver>>, Instant)>,
    one_way: Arc<Mutex<Vec<(Instant, f64)>>>,
}

async fn new_peer(
    peer: u32,
    ice_servers: &[signaling::protocol::IceServer],
    plan: &Plan,
    shared: &Shared,
) -> crate::Result<Peer> {
    let (relay_only, tcp_only) = (plan.relay_only, plan.tcp_only);
    let ip = plan.bind_ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ice_servers = plan.ice_override.as_deref().unwrap_or(ice_servers);
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(
            ice_servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone().unwrap_or_default(),
                    credential: s.credential.clone().unwrap_or_default(),
                })
                .collect(),
        )
        .with_ice_transport_policy(if relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        })
        .build();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        // Nominate the first pair that works, whatever its type, as
        // browsers do. The crate's defaults hold a pair back for 0.5 s
        // (server-reflexive), 1 s (peer-reflexive) or 2 s (relay) after
        // ICE starts. Under a join storm the other side's checks often
        // arrive before its trickled candidate, so the pair is
        // peer-reflexive, and the 1 s wait was most of the join → first
        // frame tail (docs/BENCHMARKS.md).
        .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_relay_acceptance_min_wait(Some(Duration::ZERO))
        // As a browser does: a dead path shows as ICE disconnected within
        // 1.5 s, and failed only after 40 s (longer than a blackout the
        // act should survive); consent checks as `ice_timing` says.
        .with_ice_timeouts(
            Some(Duration::from_millis(1500)),
            Some(Duration::from_secs(40)),
            Some(plan.ice_timing.keepalive),
        )
        .with_ice_connection_attempts(
            Some(plan.ice_timing.check_interval),
            Some(plan.ice_timing.max_binding_requests),
        )
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(Arc::new(Handler {
            peer,
            events: shared.events.clone(),
            received: shared.received.clone(),
            link: shared.link.clone(),
            drop_one_in: plan.drop_one_in.clone(),
            measured: shared.measured.clone(),
            one_way: shared.one_way.clone(),
        }))
        .with_udp_addrs(if tcp_only {
            Vec::new()
        } else {
            vec![SocketAddr::new(ip, 0).to_string()]
        })
        .with_tcp_addrs(if tcp_only {
            vec![SocketAddr::new(ip, 0).to_string()]
        } else {
            Vec::new()
        })
        .build()
        .await?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("bot-{peer}"),
        format!("bot-audio-{peer}"),
        "audio".to_string(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(0x1000 + peer),
                ..Default::default()
            },
            codec: opus(),
            ..Default::default()
        }],
    )));
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    let video = if plan.media.is_some() {
        let video = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("bot-{peer}"),
            format!("bot-video-{peer}"),
            "video".to_string(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(0x2000 + peer),
                    ..Default::default()
                },
                codec: av1(),
                ..Default::default()
            }],
        )));
        pc.add_track(video.clone() as Arc<dyn TrackLocal>).await?;
        Some(video)
    } else {
        None
    };
    Ok(Peer {
        pc,
        track,
        video,
        sender,
        remote_set: false,
        pending: Vec::new(),
    })
}

/// [`run`] with owned arguments, for spawning.
pub async fn run_owned(ws_url: String, token: String, plan: Plan) -> crate::Result<Outcome> {
    run(&ws_url, &token, plan).await
}

/// Joins `ws_url` (e.g. `ws://127.0.0.1:8080/ws`) with `token` and follows
/// `plan`.
pub async fn run(ws_url: &str, token: &str, plan: Plan) -> crate::Result<Outcome> {
    let (mut sink, mut stream) = signaling_connect(ws_url, token).await?;
    let ws_open = Instant::now();
    let start = plan.run_start.unwrap_or(ws_open);
    let since_open = |at: Instant| at.duration_since(ws_open).as_secs_f64() * 1000.0;

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let received = Arc::new(AtomicU64::new(0));
    let mut stats_tick =
        tokio::time::interval(plan.stats_every.unwrap_or(Duration::from_secs(3600)));
    let sent = Arc::new(AtomicU64::new(0));
    let mut out = Outcome::default();
    let measured = plan
        .media
        .as_ref()
        .map(|_| (Arc::new(Mutex::new(Receiver::default())), start));
    out.received = measured.as_ref().map(|(r, _)| r.clone());
    let shared = Shared {
        events: events_tx,
        received: received.clone(),
        link: Arc::new(stats::LinkState::default()),
        measured: measured.clone(),
        one_way: Arc::new(Mutex::new(Vec::new())),
    };
    let mut played_out = 0u32;
    let mut all_played_at: Option<Instant> = None;
    let mut me = 0u32;
    let mut ice: Option<Vec<signaling::protocol::IceServer>> = None;
    let mut view: Option<signaling::protocol::RoomView> = None;
    let mut peers: HashMap<u32, Peer> = HashMap::new();
    let mut admitted: Vec<u32> = Vec::new();
    let deadline = tokio::time::Instant::now() + plan.timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(50));

    loop {
        if all_played_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            break;
        }
        if plan.expect_packets > 0
            && !peers.is_empty()
            && received.load(Ordering::Relaxed) >= plan.expect_packets * peers.len() as u64
            && sent.load(Ordering::Relaxed) >= u64::from(plan.packets) * peers.len() as u64
        {
            break;
        }
        let mut to_send: Vec<ClientMessage> = Vec::new();
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => {}
            _ = stats_tick.tick(), if plan.stats_every.is_some() => {
                for (&other, peer) in &peers {
                    let types = selected_pair(peer).await;
                    let route = (!types.is_empty()).then(|| route_of(&types));
                    let report = stats::report(peer.pc.as_ref(), &shared.link, other, route).await;
                    if let Some(rtt) = report.rtt_ms {
                        out.rtt_ms.push((Instant::now(), rtt));
                    }
                    to_send.push(ClientMessage::Stats(report));
                    out.stats_sent += 1;
                }
            }
            ev = events.recv() => match ev {
                Some(PeerEvent::Candidate { to, init }) => to_send.push(ClientMessage::Signal {
                    to,
                    data: SignalData::Candidate {
                        candidate: match &plan.delay_proxy {
                            Some(proxy) => proxy.announce(&init.candidate),
                            None => init.candidate,
                        },
                        sdp_mid: init.sdp_mid,
                        sdp_m_line_index: init.sdp_mline_index,
                    },
                }),
                Some(PeerEvent::Connected { peer }) if out.connected.contains(&peer) => {
                    // Back from disconnected: media resumes on its own.
                    out.media_recoveries += 1;
                }
                Some(PeerEvent::IceConnected) => {
                    out.ice_connected_ms.get_or_insert_with(|| since_open(Instant::now()));
                }
                Some(PeerEvent::PlayedOut) => {
                    played_out += 1;
                    if played_out >= plan.expect_peers.max(1) {
                        all_played_at.get_or_insert_with(Instant::now);
                    }
                }
                Some(PeerEvent::Connected { peer }) => {
                    out.connected_peers += 1;
                    out.connected.push(peer);
                    if let Some(p) = peers.get(&peer) {
                        let track = p.track.clone();
                        let (packets, sent) = (plan.packets, sent.clone());
                        if let (Some(media), Some(video)) = (plan.media.clone(), p.video.clone()) {
                            let done = shared.events.clone();
                            let until = Instant::now() + plan.play_for;
                            tokio::spawn(async move {
                                play(media, track, video, peer, until, sent).await;
                                let _ = done.send(PeerEvent::PlayedOut);
                            });
                        } else {
                            tokio::spawn(async move {
                                send_opus(track, 0x1000 + peer, packets, sent).await;
                            });
                        }
                        let types = selected_pair(p).await;
                        out.selected_pairs.push(types.clone());
                        to_send.push(ClientMessage::MediaPath {
                            route: route_of(&types),
                            candidate_types: types,
                            codecs: vec!["opus".into()],
                        });
                    }
                }
                None => break,
            },
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else {
                    // The signaling link dropped: make it again with the
                    // same invitation, keeping the peer connections (their
                    // ICE recovers on its own once the path is back).
                    match reconnect(ws_url, token, deadline).await {
                        Some((s, r)) => {
                            (sink, stream) = (s, r);
                            out.reconnects += 1;
                            continue;
                        }
                        None => break,
                    }
                };
                let Message::Text(text) = frame else { continue };
                let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else { continue };
                match msg {
                    ServerMessage::Welcome { participant, consent_texts, .. } => {
                        me = participant;
                        out.participant = participant;
                        if plan.consent
                            && let Some(text) = consent_texts.first()
                        {
                            to_send.push(ClientMessage::Consent {
                                accept: true,
                                language: text.language.clone(),
                                text_sha256: text.sha256.clone(),
                            });
                        }
                    }
                    ServerMessage::State(v) => {
                        if out.join_ms.is_none()
                            && v.participants.iter().any(|p| p.id == me && (p.admitted || plan.admit))
                        {
                            out.join_ms = Some(since_open(Instant::now()));
                        }
                        if plan.admit {
                            for p in v.participants.iter().filter(|p| p.connected && !p.admitted) {
                                if !admitted.contains(&p.id) {
                                    admitted.push(p.id);
                                    to_send.push(ClientMessage::Admit { participant: p.id });
                                }
                            }
                        }
                        view = Some(v);
                    }
                    ServerMessage::IceServers { servers } => {
                        out.got_ice_servers = true;
                        ice = Some(servers);
                    }
                    ServerMessage::Signal { from, data } => {
                        let Some(servers) = ice.clone() else { continue };
                        if let std::collections::hash_map::Entry::Vacant(slot) = peers.entry(from) {
                            slot.insert(new_peer(from, &servers, &plan, &shared).await?);
                        }
                        if let Some(peer) = peers.get_mut(&from)
                            && let Some(reply) = on_signal(peer, data, plan.delay_proxy.as_deref()).await?
                        {
                            to_send.push(ClientMessage::Signal { to: from, data: reply });
                        }
                    }
                    ServerMessage::StopMedia { .. } => {
                        ice = None;
                        for (_, p) in peers.drain() {
                            let _ = p.pc.close().await;
                        }
                    }
                    ServerMessage::Ended { .. } => {
                        out.ended = true;
                        break;
                    }
                    ServerMessage::Error { code, .. } => {
                        out.errors.push(format!("{code:?}"));
                    }
                    ServerMessage::Pong
                    | ServerMessage::Incident(_)
                    | ServerMessage::ModeChanged { .. }
                    | ServerMessage::PhoneRoute { .. }
                    | ServerMessage::ShareRecorded { .. }
                    | ServerMessage::ExchangeMismatch { .. } => {}
                }
                // Offer to each peer allowed media, if this side offers.
                if let (Some(servers), Some(v)) = (ice.clone(), view.as_ref())
                    && v.media_allowed
                {
                    let offer_to: Vec<u32> = v
                        .participants
                        .iter()
                        .filter(|p| p.id > me && p.connected && p.admitted && !peers.contains_key(&p.id))
                        .map(|p| p.id)
                        .collect();
                    for other in offer_to {
                        let mut peer = new_peer(other, &servers, &plan, &shared).await?;
                        let offer = peer.pc.create_offer(None).await?;
                        peer.pc.set_local_description(offer.clone()).await?;
                        peer.remote_set = false;
                        let sdp = match &plan.delay_proxy {
                            Some(proxy) => proxy.rewrite_sdp(&offer.sdp, true),
                            None => offer.sdp,
                        };
                        to_send.push(ClientMessage::Signal {
                            to: other,
                            data: SignalData::Offer { sdp },
                        });
                        peers.insert(other, peer);
                    }
                }
            }
        }
        for msg in to_send {
            // Lost while the link is down; the read side notices and
            // reconnects.
            let _ = sink.send(encode(&msg)).await;
        }
    }
    out.packets_received = received.load(Ordering::Relaxed);
    if let Ok(mut v) = shared.one_way.lock() {
        out.one_way_ms = std::mem::take(&mut *v);
    }
    if let Some((r, _)) = &measured
        && let Ok(r) = r.lock()
        && let Some(at) = r.first_frame_at_micros
    {
        // The timeline counts from the run's start; report from WS open.
        let offset = ws_open.duration_since(start).as_secs_f64() * 1000.0;
        out.first_frame_ms = Some(at as f64 / 1000.0 - offset);
    }
    out.packets_sent = sent.load(Ordering::Relaxed);
    for (_, p) in peers.drain() {
        let _ = p.pc.close().await;
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(out)
}

type WsSink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;
type WsStream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

fn encode(msg: &ClientMessage) -> Message {
    Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
}

/// Connects and says hello with `token`.
async fn signaling_connect(ws_url: &str, token: &str) -> crate::Result<(WsSink, WsStream)> {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .map_err(|e| crate::Error::SignalingConnect {
            url: ws_url.to_owned(),
            source: Box::new(e),
        })?;
    let (mut sink, stream) = ws.split();
    sink.send(encode(&ClientMessage::Hello {
        v: signaling::protocol::VERSION,
        token: token.to_string(),
        user_agent: Some("teleconsult-load".into()),
    }))
    .await?;
    Ok((sink, stream))
}

/// Tries to connect again every half second until `deadline`.
async fn reconnect(
    ws_url: &str,
    token: &str,
    deadline: tokio::time::Instant,
) -> Option<(WsSink, WsStream)> {
    while tokio::time::Instant::now() < deadline {
        let attempt =
            tokio::time::timeout(Duration::from_secs(2), signaling_connect(ws_url, token));
        if let Ok(Ok(link)) = attempt.await {
            return Some(link);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

fn route_of(types: &[String]) -> session::act::MediaRoute {
    if types.iter().any(|t| t == "relay") {
        session::act::MediaRoute::Relay
    } else {
        session::act::MediaRoute::Direct
    }
}

/// The candidate types of the pair ICE selected, local then remote.
async fn selected_pair(peer: &Peer) -> Vec<String> {
    let Ok(Some(dtls)) = peer.sender.transport().await else {
        return Vec::new();
    };
    match dtls.ice_transport().get_selected_candidate_pair().await {
        Ok(Some(pair)) => vec![
            pair.local().typ.to_string(),
            pair.remote().typ.to_string(),
            pair.local().protocol.to_string(),
        ],
        _ => Vec::new(),
    }
}

/// Applies a remote offer, answer or candidate; returns the answer to send.
/// With a delay `proxy`, candidates are rewritten to go through it, the
/// peer's on the way in and ours on the way out.
async fn on_signal(
    peer: &mut Peer,
    data: SignalData,
    proxy: Option<&DelayProxy>,
) -> crate::Result<Option<SignalData>> {
    let data = match (proxy, data) {
        (Some(p), SignalData::Offer { sdp }) => SignalData::Offer {
            sdp: p.rewrite_sdp(&sdp, false),
        },
        (Some(p), SignalData::Answer { sdp }) => SignalData::Answer {
            sdp: p.rewrite_sdp(&sdp, false),
        },
        (
            Some(p),
            SignalData::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            },
        ) => SignalData::Candidate {
            candidate: p.reach(&candidate),
            sdp_mid,
            sdp_m_line_index,
        },
        (None, data) => data,
    };
    match data {
        SignalData::Offer { sdp } => {
            peer.pc
                .set_remote_description(RTCSessionDescription::offer(sdp)?)
                .await?;
            peer.remote_set = true;
            for c in peer.pending.drain(..) {
                peer.pc.add_ice_candidate(c).await?;
            }
            let answer = peer.pc.create_answer(None).await?;
            peer.pc.set_local_description(answer.clone()).await?;
            let sdp = match proxy {
                Some(p) => p.rewrite_sdp(&answer.sdp, true),
                None => answer.sdp,
            };
            Ok(Some(SignalData::Answer { sdp }))
        }
        SignalData::Answer { sdp } => {
            peer.pc
                .set_remote_description(RTCSessionDescription::answer(sdp)?)
                .await?;
            peer.remote_set = true;
            for c in peer.pending.drain(..) {
                peer.pc.add_ice_candidate(c).await?;
            }
            Ok(None)
        }
        SignalData::Candidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        } => {
            let init = RTCIceCandidateInit {
                candidate,
                sdp_mid,
                sdp_mline_index: sdp_m_line_index,
                ..Default::default()
            };
            if peer.remote_set {
                peer.pc.add_ice_candidate(init).await?;
            } else {
                peer.pending.push(init);
            }
            Ok(None)
        }
    }
}

/// Plays the encoded media to one peer until `until`: a video frame every
/// 1/fps s (its payloads back to back, the marker on the last) and an
/// Opus packet every 20 ms, each payload with the send-time trailer.
async fn play(
    media: Arc<EncodedMedia>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    peer: u32,
    until: Instant,
    sent: Arc<AtomicU64>,
) {
    let ticks_per_frame = 90_000 / media.spec.fps;
    let video_task = {
        let (media, sent) = (media.clone(), sent.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / media.spec.fps);
            let mut seq = 0u16;
            let mut n = 0u32;
            while Instant::now() < until {
                tick.tick().await;
                let frame = &media.video[n as usize % media.video.len()];
                let last = frame.payloads.len() - 1;
                for (i, p) in frame.payloads.iter().enumerate() {
                    let mut payload = Vec::with_capacity(p.len() + trailer::LEN);
                    payload.extend_from_slice(p);
                    trailer::append(&mut payload, now_micros());
                    let packet = rtp_packet(
                        AV1_PT,
                        seq,
                        n * ticks_per_frame,
                        0x2000 + peer,
                        i == last,
                        payload,
                    );
                    seq = seq.wrapping_add(1);
                    if video.write_rtp(packet).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
        }
    };
    let audio_task = async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut n = 0u32;
        while Instant::now() < until {
            tick.tick().await;
            let mut payload = media.audio[n as usize % media.audio.len()].clone();
            trailer::append(&mut payload, now_micros());
            let packet = rtp_packet(OPUS_PT, n as u16, n * 960, 0x1000 + peer, false, payload);
            if audio.write_rtp(packet).await.is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
        }
    };
    tokio::join!(video_task, audio_task);
}

fn rtp_packet(
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    marker: bool,
    payload: Vec<u8>,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            marker,
            ..Default::default()
        },
        payload: bytes::Bytes::from(payload),
    }
}

/// Sends `count` Opus packets, 20 ms apart, each a short stub ending with
/// the send-time trailer.
async fn send_opus(track: Arc<TrackLocalStaticRTP>, ssrc: u32, count: u32, sent: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..count {
        tick.tick().await;
        let mut payload = vec![0xf8, 0xff, 0xfe];
        trailer::append(&mut payload, now_micros());
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: OPUS_PT,
                sequence_number: i as u16,
                timestamp: i * 960,
                ssrc,
                ..Default::default()
            },
            payload: bytes::Bytes::from(payload),
        };
        if track.write_rtp(packet).await.is_ok() {
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}
