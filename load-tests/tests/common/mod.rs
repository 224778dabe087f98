//! A server in-process on loopback, and acts with invitation tokens, for
//! the participant tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use load_tests::participant::{self, Outcome, Plan};
use session::act::NewAct;
use session::participant::{Identity, Role};
use session::{Act, ActId, ActKind, DataDir, PatientAlias, Pii, Timestamp};
use signaling::invitation::Invitation;
use signaling::relay_access::RelayAccess;
use signaling::state::server_secrets;
use signaling::{AppState, ServerConfig};

pub mod netns;
pub mod relay;
pub mod ws;

pub struct Server {
    _dir: tempfile::TempDir,
    pub data: DataDir,
    pub state: AppState,
    pub ws_url: String,
    /// The HTTP listener's address.
    pub http_addr: std::net::SocketAddr,
    /// The sockets of the live pre-call test peers, as the relay sees them.
    pub probe_peers: Arc<media::ProbePeers>,
    pub trusted: session::keys::TrustedKeys,
}

impl Server {
    /// The act's events, opened with the data key, in chain order.
    pub fn events(&self, act: ActId) -> Vec<session::Event> {
        self.state
            .store
            .records(act)
            .unwrap()
            .iter()
            .map(|r| r.open(std::slice::from_ref(&self.state.data_key)).unwrap())
            .collect()
    }

    /// `trace verify` on the whole store.
    pub fn assert_trace_intact(&self) {
        let report = session::store::verify_store(&*self.state.store, &self.trusted, None).unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
    }
}

/// The metrics incident `id` was opened with, and closed with if it
/// was, from the act's `events`.
pub fn incident_metrics(
    events: &[session::Event],
    id: session::incident::IncidentId,
) -> (
    session::incident::Metrics,
    Option<session::incident::Metrics>,
) {
    let mut opened = None;
    let mut closed = None;
    for e in events {
        match &e.body {
            session::ActEvent::IncidentOpened {
                incident, metrics, ..
            } if *incident == id => opened = Some(metrics.clone()),
            session::ActEvent::IncidentClosed {
                incident, metrics, ..
            } if *incident == id => closed = Some(metrics.clone()),
            _ => {}
        }
    }
    (opened.expect("the incident was opened"), closed)
}

/// A server; with `relay`, it also runs the TURN relay on loopback UDP.
pub async fn server_with(relay: bool) -> Server {
    server_at(relay, std::net::Ipv4Addr::LOCALHOST.into()).await
}

/// A server listening on `ip` (e.g. the host end of a veth).
pub async fn server_at(relay: bool, ip: std::net::IpAddr) -> Server {
    server_configured(relay, ip, Default::default()).await
}

/// A server on `ip` judging incidents with `thresholds`.
pub async fn server_configured(
    relay: bool,
    ip: std::net::IpAddr,
    thresholds: session::incident::Thresholds,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (store, keys) = data.open_writer().unwrap();
    let (invitations, api_token) = server_secrets(&data).unwrap();
    // The pre-call test peer, whose sockets the relay lets connection-test
    // credentials reach.
    let probe_config = media::ProbeConfig::new(ip);
    let probe_peers = probe_config.peers.clone();
    let state = AppState::new(
        Arc::new(store),
        keys.data,
        invitations,
        api_token,
        ServerConfig {
            public_url: "http://127.0.0.1".into(),
            ice_servers: vec![],
            link_ttl: Duration::from_secs(3600),
            relay: if relay {
                Some(relay_access(probe_peers.clone()).await)
            } else {
                None
            },
            recovery_timeout: signaling::room::DEFAULT_RECOVERY_TIMEOUT,
            incident_thresholds: thresholds,
            http: Default::default(),
        },
    );
    state.set_probe(Arc::new(media::Probe::new(probe_config)));
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = signaling::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        _dir: dir,
        data,
        state,
        ws_url: format!("ws://{addr}/ws"),
        http_addr: addr,
        probe_peers,
        trusted: keys.trusted,
    }
}

/// Creates a téléconsultation; returns (act, professional token, patient token).
pub fn consultation(state: &AppState) -> (ActId, String, String) {
    let now = Timestamp::now();
    let new = NewAct {
        kind: ActKind::Teleconsultation,
        requester: Identity::Professional {
            name: Pii::new("Dr Fictif Bot".into()),
            rpps: Pii::new("10000000009".parse().unwrap()),
        },
        expert: None,
        patient: Identity::Patient {
            alias: Pii::new("bot-0001".parse::<PatientAlias>().unwrap()),
        },
        patient_present: true,
        expertise: None,
    };
    let (act, events) = Act::open(ActId::random(), new, now).unwrap();
    state.store.append(act.id, Some(0), events).unwrap();
    let token = |role: Role| {
        let p = act.participant_with_role(role).unwrap();
        state.invitations.issue(&Invitation {
            act: act.id,
            participant: p.id,
            role,
            expires_at: now.plus(Duration::from_secs(600)),
        })
    };
    (act.id, token(Role::Requester), token(Role::Patient))
}

/// An act in performance on a [`Server`], as [`in_performance`] leaves it.
pub struct InPerformance {
    pub act: ActId,
    /// The patient's invitation link, to come back with.
    pub patient_token: String,
    /// The professional and the patient, both joined.
    pub call: ws::Pair,
    /// The ICE servers the patient was given once admitted.
    pub patient_ice: Vec<signaling::protocol::IceServer>,
}

/// The act in performance: a téléconsultation created on `s`, its
/// professional and patient joined, the patient's consent given and seen,
/// the patient admitted and given the ICE servers.
pub async fn in_performance(s: &Server) -> InPerformance {
    let (act, pro_token, patient_token) = consultation(&s.state);
    let mut call = ws::Pair::join(&s.ws_url, &pro_token, &patient_token).await;
    let patient_ice = call.consent_and_admit().await;
    InPerformance {
        act,
        patient_token,
        call,
        patient_ice,
    }
}

pub async fn server() -> Server {
    server_with(false).await
}

async fn relay_access(probe_peers: Arc<media::ProbePeers>) -> RelayAccess {
    let credentials = Arc::new(media::TurnCredentials::new(b"test-secret".to_vec()).unwrap());
    let mut config = media::RelayConfig::loopback("teleconsult-test");
    config.tcp_listen = None;
    // Everything runs on loopback: the relay may reach loopback peers
    // because the test says so (a server refuses them by default).
    config.peer_policy = media::PeerPolicy::allowing(&["127.0.0.0/8"]).unwrap();
    config.probe_peers = probe_peers;
    let relay = media::Relay::start(config, credentials.clone())
        .await
        .unwrap();
    let udp = relay.udp_addr().unwrap();
    RelayAccess {
        relay: Arc::new(relay),
        credentials,
        // The webrtc crate's TURN client speaks UDP only.
        urls: vec![format!("turn:{udp}?transport=udp")],
        ttl: Duration::from_secs(600),
    }
}

/// The plan of a participant that sends 100 packets and waits for 90.
pub fn plan(consent: bool, admit: bool) -> Plan {
    Plan {
        consent,
        admit,
        packets: 100,
        expect_packets: 90,
        timeout: Duration::from_secs(30),
        ..Plan::default()
    }
}

/// Runs a consultation's two participants together: the professional
/// admits, the patient consents; `adjust` changes both plans.
pub async fn consult(s: &Server, adjust: impl Fn(Plan) -> Plan) -> (ActId, Outcome, Outcome) {
    let (act, pro_token, patient_token) = consultation(&s.state);
    let (pro, patient) = tokio::join!(
        participant::run(&s.ws_url, &pro_token, adjust(plan(false, true))),
        participant::run(&s.ws_url, &patient_token, adjust(plan(true, false))),
    );
    (act, pro.expect("professional"), patient.expect("patient"))
}

/// Both connected to each other and received at least 90 packets.
pub fn assert_media_both_ways(pro: &Outcome, patient: &Outcome) {
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
}

/// Polls `condition` every 20 ms until it holds, or panics after
/// `deadline` naming `what`: tests wait for a state instead of reading it
/// right after the event that leads to it (deterministic under load).
pub async fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
