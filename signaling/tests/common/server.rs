//! Fixtures for the server tests: the server assembled and run in-process
//! on loopback by the same `signaling::server::build` and `Server::run` as
//! `teleconsult serve`, acts and invitations made through the library, a
//! WebSocket client that waits for specific frames (never for a fixed
//! time), and the real `teleconsult serve` process.
//!
//! Every wait is bounded by [`TIMEOUT`], so a server that stops answering
//! fails the test with a message instead of hanging it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use session::act::NewAct;
use session::keys::TrustedKeys;
use session::participant::{Identity, Role};
use session::store::verify_store;
use session::{Act, ActEvent, ActId, ActKind, DataDir, Event, Pii, Timestamp};
use signaling::AppState;
use signaling::invitation::{Invitation, InvitationKeys};
use signaling::links::{DEFAULT_TTL, links_for};
use signaling::protocol::{ErrorCode, IceServer, ServerMessage, SignalData};
use signaling::server::{Settings, Tls, TlsSetting};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower::ServiceExt;

use super::{DOCTOR, DOCTOR_RPPS, PATIENT};

/// The longest any test waits for one expected thing.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Refused frames a connection may send before it is closed. Mirrors
/// `limits::MAX_VIOLATIONS`, which the crate keeps private; documented in
/// `docs/PROTOCOL.md`.
pub const MAX_VIOLATIONS: u32 = 20;

/// How long a new connection has to say hello (`limits::HELLO_TIMEOUT`).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// WebSocket close codes, as `ws.rs` `close_code` sends them.
pub mod close {
    pub const LEFT: u16 = 1000;
    pub const CONNECTION_LOST: u16 = 4001;
    pub const REPLACED: u16 = 4002;
    pub const ACT_ENDED: u16 = 4003;
    pub const CONSENT_WITHDRAWN: u16 = 4004;
    pub const SERVER_SHUTDOWN: u16 = 4005;
    pub const PROTOCOL_VIOLATION: u16 = 4006;
    /// A `hello` refused by the per-minute join budget: retry later.
    pub const JOIN_LATER: u16 = 4008;
    /// A `hello` refused by the act's total join budget.
    pub const JOINS_SPENT: u16 = 4009;
    /// Another node holds the act's lease.
    pub const ACT_ELSEWHERE: u16 = 4010;
    /// Ownership cannot be proven now (Redis down): retry.
    pub const OWNERSHIP_UNAVAILABLE: u16 = 4011;
}

/// The ICE server the test servers hand out once media is allowed.
pub fn test_ice_servers() -> Vec<IceServer> {
    vec![IceServer {
        urls: vec!["stun:127.0.0.1:3478".into()],
        username: None,
        credential: None,
    }]
}

/// A server on 127.0.0.1 (plain HTTP), in this process, on a fresh data
/// directory.
pub struct TestServer {
    pub dir: TempDir,
    pub data: DataDir,
    pub state: AppState,
    pub trusted: TrustedKeys,
    pub addr: SocketAddr,
    /// Completes the shutdown future given to `Server::run`.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One act created for a test, with its participants' tokens.
pub struct TestAct {
    pub act: Act,
    pub links: BTreeMap<String, String>,
}

impl TestAct {
    pub fn id(&self) -> ActId {
        self.act.id
    }

    /// The invitation token of the link named `name` (`patient`,
    /// `professional`, ...).
    pub fn token(&self, name: &str) -> String {
        token_of(&self.links[name])
    }
}

/// The token in a join link's fragment.
pub fn token_of(link: &str) -> String {
    link.split_once('#')
        .unwrap_or_else(|| panic!("no token in the link {link}"))
        .1
        .to_string()
}

/// The act a test creates: a téléconsultation, fictitious doctor, patient
/// alias.
pub fn new_teleconsultation() -> NewAct {
    NewAct {
        kind: ActKind::Teleconsultation,
        requester: signaling::api::professional(DOCTOR, DOCTOR_RPPS).expect("valid doctor"),
        expert: None,
        patient: Identity::Patient {
            alias: Pii::new(PATIENT.parse().expect("valid alias")),
        },
        patient_present: true,
        expertise: None,
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server whose settings `configure` adjusts first.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer::launch(false, configure).await
    }

    /// A server listening as `teleconsult serve` does (connection caps,
    /// TLS handshake and header-read timeouts: every test server does),
    /// over TLS with a self-signed certificate when `tls`; the certificate
    /// is at `dir/tls/cert.pem`.
    pub async fn start_served(tls: bool, configure: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer::launch(tls, configure).await
    }

    /// Assembles the server with `signaling::server::build`, as the binary
    /// does, from [`test_settings`] adjusted by `configure`, and runs it
    /// with `Server::run` until [`TestServer::stop`] or the end of the test.
    async fn launch(tls: bool, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path().join("data"));
        TestServer::launch_in(dir, data, tls, configure).await
    }

    /// A server on the data directory `data` (another server's: nodes
    /// sharing a PostgreSQL trace share its keys), plain HTTP.
    pub async fn start_on(data: DataDir, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        TestServer::launch_in(dir, data, false, configure).await
    }

    async fn launch_in(
        dir: TempDir,
        data: DataDir,
        tls: bool,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let scheme = if tls { "https" } else { "http" };
        let mut settings = test_settings(data.clone(), addr, format!("{scheme}://{addr}"));
        if tls {
            let Tls::Files { cert, key } =
                signaling::server::self_signed(&dir.path().join("tls")).expect("a certificate")
            else {
                unreachable!("self_signed makes files");
            };
            settings.tls = TlsSetting::Files { cert, key };
        }
        configure(&mut settings);
        let server = signaling::server::build(settings)
            .await
            .expect("build the server");
        let state = server.state.clone();
        // Dates follow tokio's clock, paused or not.
        state.set_clock(signaling::clock::Clock::tokio());
        let trusted = server.trusted.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("the server runs");
        });
        TestServer {
            dir,
            data,
            state,
            trusted,
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Shuts the server down as Ctrl-C does, and waits until `run` has
    /// returned; panics if it takes longer than `within`.
    pub async fn stop(&mut self, within: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(within, &mut self.task)
            .await
            .unwrap_or_else(|_| panic!("the server did not stop within {within:?}"))
            .expect("the server task ends cleanly");
    }

    /// A téléconsultation in performance: the professional (participant
    /// number 1) and the patient (number 2) joined, the patient's consent
    /// given, the patient admitted, and both given their ICE servers.
    pub async fn in_performance(&self) -> (TestAct, Client, Client) {
        let act = self.create_act();
        let (mut pro, _) = self.join(&act.token("professional")).await;
        let (mut patient, w) = self.join(&act.token("patient")).await;
        patient.consent(&w).await;
        pro.expect_state("consent", |v| v.consent_given).await;
        pro.send(json!({"type": "admit", "participant": 2})).await;
        pro.expect_ice_servers().await;
        patient.expect_ice_servers().await;
        assert_eq!(
            pro.last_state().phase,
            session::Phase::Performance,
            "the act is in performance"
        );
        (act, pro, patient)
    }

    /// Creates a téléconsultation in the trace and issues its links.
    pub fn create_act(&self) -> TestAct {
        // The server's clock: on paused time, the act opens at the time
        // its room will see.
        let now = self.state.clock().now();
        let (act, events) =
            Act::open(ActId::random(), new_teleconsultation(), now).expect("open the act");
        self.state
            .store
            .append(act.id, Some(0), events)
            .expect("record the act");
        let links = links_for(
            &act,
            &self.state.config.public_url,
            &self.state.invitations,
            now,
            DEFAULT_TTL,
        );
        TestAct { act, links }
    }

    /// A token signed by this server's key for anything.
    pub fn issue(&self, act: ActId, participant: u32, role: Role, expires_at: Timestamp) -> String {
        issue_with(&self.state.invitations, act, participant, role, expires_at)
    }

    /// The act's events, opened with the data key, in chain order.
    pub fn events(&self, act: ActId) -> Vec<Event> {
        self.state
            .store
            .records(act)
            .expect("read the act's records")
            .iter()
            .map(|r| {
                r.open(std::slice::from_ref(&self.state.data_key))
                    .expect("open a record")
            })
            .collect()
    }

    pub fn kinds(&self, act: ActId) -> Vec<&'static str> {
        self.events(act).iter().map(|e| e.body.kind()).collect()
    }

    /// How many records and checkpoints the whole store holds.
    pub fn store_size(&self) -> (usize, usize) {
        let snapshot = self.state.store.snapshot(None).expect("read the store");
        let records = snapshot.records.values().map(Vec::len).sum();
        let checkpoints = snapshot.checkpoints.len();
        (records, checkpoints)
    }

    /// `verify_store` finds nothing wrong, with the public key alone.
    pub fn assert_trace_intact(&self) {
        let report = verify_store(&*self.state.store, &self.trusted, None).expect("verify");
        assert!(
            report.is_intact(),
            "the trace is not intact: {:?}",
            report.problems
        );
        assert!(report.events > 0, "the trace holds events");
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// Connects, says hello with `token` and waits for `welcome`.
    pub async fn join(&self, token: &str) -> (Client, Welcome) {
        let mut c = self.connect().await;
        c.hello(token).await;
        let w = c.welcome().await;
        (c, w)
    }

    /// The server still serves: a fresh client with `token` is welcomed as
    /// `participant`, then leaves.
    pub async fn assert_still_serving(&self, token: &str, participant: u32) {
        let (mut c, w) = self.join(token).await;
        assert_eq!(
            w.participant, participant,
            "welcomed as the same participant"
        );
        c.send(json!({"type": "leave"})).await;
        assert_eq!(c.expect_close().await, close::LEFT);
    }

    /// The router, for `oneshot` requests without a socket.
    pub fn app(&self) -> axum::Router {
        signaling::app(self.state.clone())
    }

    /// One REST request through the router; returns the status and the
    /// body (JSON when it parses, else a JSON string).
    pub async fn rest(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = tokio::time::timeout(TIMEOUT, self.app().oneshot(req))
            .await
            .expect("the API answers in time")
            .expect("infallible");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("read the body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    /// `POST /api/invitations/check` with `token`.
    pub async fn check_invitation(&self, token: &str) -> (StatusCode, Value) {
        self.rest(
            Request::post("/api/invitations/check")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "token": token }).to_string()))
                .expect("request"),
        )
        .await
    }
}

pub fn issue_with(
    keys: &InvitationKeys,
    act: ActId,
    participant: u32,
    role: Role,
    expires_at: Timestamp,
) -> String {
    keys.issue(&Invitation {
        act,
        participant: session::ParticipantId(participant),
        role,
        expires_at,
    })
}

/// What `welcome` said.
#[derive(Debug)]
pub struct Welcome {
    pub participant: u32,
    pub role: Role,
    /// SHA-256 of the first consent text shown, if any.
    pub consent_sha256: Option<String>,
}

/// What a client got next.
#[derive(Debug)]
pub enum Got {
    Msg(ServerMessage),
    /// A close frame with its code, or the connection ended without one.
    Closed(Option<u16>),
}

/// A WebSocket client that speaks the protocol as JSON and keeps every
/// message it received, so tests can assert on what did *not* come.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every server message received so far, in order.
    pub seen: Vec<ServerMessage>,
    /// The reason of the close frame received, if any.
    pub close_reason: Option<String>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        // Without Nagle's algorithm: a frame sent right after another is
        // not held back until the first is acknowledged.
        let connecting = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (ws, _) = tokio::time::timeout(TIMEOUT, connecting)
            .await
            .expect("the WebSocket upgrade answers in time")
            .expect("the WebSocket upgrade succeeds");
        Client {
            ws,
            seen: Vec::new(),
            close_reason: None,
        }
    }

    pub async fn send_raw(&mut self, msg: Message) {
        tokio::time::timeout(TIMEOUT, self.ws.send(msg))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Sends without waiting for the socket to flush, and without failing
    /// if the server has closed meanwhile; returns whether it was queued.
    pub async fn feed_text(&mut self, text: impl Into<String>) -> bool {
        tokio::time::timeout(TIMEOUT, self.ws.feed(Message::text(text.into())))
            .await
            .expect("send in time")
            .is_ok()
    }

    /// Flushes what [`Client::feed_text`] queued, ignoring a closed socket.
    pub async fn flush(&mut self) {
        let _ = tokio::time::timeout(TIMEOUT, self.ws.flush())
            .await
            .expect("flush in time");
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send_raw(Message::text(text.into())).await;
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn hello(&mut self, token: &str) {
        self.send(json!({
            "type": "hello",
            "v": signaling::protocol::VERSION,
            "token": token,
            "user_agent": "integration-test",
        }))
        .await;
    }

    /// The next server message or the close, within [`TIMEOUT`].
    pub async fn next(&mut self) -> Got {
        self.next_within(TIMEOUT).await
    }

    pub async fn next_within(&mut self, limit: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "nothing from the server within {limit:?}; received so far: {:?}",
                        self.seen
                    )
                });
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let msg: ServerMessage = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("not a server message ({e}): {t}"));
                    self.seen.push(msg.clone());
                    return Got::Msg(msg);
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close_reason = frame.as_ref().map(|f| f.reason.to_string());
                    return Got::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(Message::Binary(_))) => panic!("the server sent a binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(None),
            }
        }
    }

    /// The next server message or the close if it has already arrived,
    /// without waiting (for tests on held paused time).
    pub fn next_now(&mut self) -> Option<Got> {
        use futures_util::FutureExt;
        loop {
            let frame = self.ws.next().now_or_never()?;
            return Some(match frame {
                Some(Ok(Message::Text(t))) => {
                    let msg: ServerMessage = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("not a server message ({e}): {t}"));
                    self.seen.push(msg.clone());
                    Got::Msg(msg)
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close_reason = frame.as_ref().map(|f| f.reason.to_string());
                    Got::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(Message::Binary(_))) => panic!("the server sent a binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Got::Closed(None),
            });
        }
    }

    /// Waits for the first message `pick` accepts, skipping others; panics
    /// if the connection closes first. Returns what `pick` returned.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
    ) -> T {
        loop {
            match self.next().await {
                Got::Msg(m) => {
                    if let Some(t) = pick(&m) {
                        return t;
                    }
                }
                Got::Closed(code) => panic!(
                    "closed ({code:?}) while waiting for {what}; received: {:?}",
                    self.seen
                ),
            }
        }
    }

    pub async fn welcome(&mut self) -> Welcome {
        self.expect("welcome", |m| match m {
            ServerMessage::Welcome {
                participant,
                role,
                consent_texts,
                ..
            } => Some(Welcome {
                participant: *participant,
                role: *role,
                consent_sha256: consent_texts.first().map(|t| t.sha256.clone()),
            }),
            ServerMessage::Error { code, message } => {
                panic!("refused instead of welcomed: {code:?}: {message}")
            }
            _ => None,
        })
        .await
    }

    /// Waits for the next `error` frame and checks its code; returns its
    /// message. Other messages (state...) are skipped.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        let (got, message) = self
            .expect(&format!("an error {code:?}"), |m| match m {
                ServerMessage::Error { code, message } => Some((*code, message.clone())),
                _ => None,
            })
            .await;
        assert_eq!(got, code, "error code (message: {message})");
        message
    }

    /// Reads until the server closes; returns the close code. Waits for the
    /// TCP connection to end too, so the server is done with it.
    pub async fn expect_close(&mut self) -> u16 {
        let code = loop {
            match self.next().await {
                Got::Msg(_) => continue,
                Got::Closed(Some(code)) => break code,
                Got::Closed(None) => {
                    panic!(
                        "the connection ended without a close frame: {:?}",
                        self.seen
                    )
                }
            }
        };
        self.wait_ended().await;
        code
    }

    /// Reads until the connection has ended (after a close).
    pub async fn wait_ended(&mut self) {
        tokio::time::timeout(TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await
        .expect("the server ends the connection after closing it");
    }

    /// A round trip: `ping`, then everything received until its `pong`.
    /// Since a room handles its inputs in order and each connection's
    /// frames are delivered in order, whatever an earlier message caused
    /// for this client has arrived once the pong has.
    pub async fn sync(&mut self) -> Vec<ServerMessage> {
        self.send(json!({"type": "ping"})).await;
        let mut before = Vec::new();
        self.expect("pong", |m| {
            if *m == ServerMessage::Pong {
                Some(())
            } else {
                before.push(m.clone());
                None
            }
        })
        .await;
        before
    }

    /// Sends `signal` to participant `to`.
    pub async fn signal(&mut self, to: u32, data: &SignalData) {
        self.send(json!({"type": "signal", "to": to, "data": data}))
            .await;
    }

    /// Accepts the consent text whose hash `welcome` gave.
    pub async fn consent(&mut self, welcome: &Welcome) {
        let sha = welcome
            .consent_sha256
            .clone()
            .expect("a consent text was shown");
        self.send(json!({
            "type": "consent",
            "accept": true,
            "language": "fr",
            "text_sha256": sha,
        }))
        .await;
    }

    pub async fn expect_ice_servers(&mut self) -> Vec<IceServer> {
        self.expect("ice_servers", |m| match m {
            ServerMessage::IceServers { servers } => Some(servers.clone()),
            _ => None,
        })
        .await
    }

    pub async fn expect_stop_media(&mut self) -> String {
        self.expect("stop_media", |m| match m {
            ServerMessage::StopMedia { reason } => Some(reason.clone()),
            _ => None,
        })
        .await
    }

    pub async fn expect_signal(&mut self) -> (u32, SignalData) {
        self.expect("signal", |m| match m {
            ServerMessage::Signal { from, data } => Some((*from, data.clone())),
            _ => None,
        })
        .await
    }

    /// Waits for a `state` that satisfies `f`.
    pub async fn expect_state(
        &mut self,
        what: &str,
        f: impl Fn(&signaling::protocol::RoomView) -> bool,
    ) {
        self.expect(what, |m| match m {
            ServerMessage::State(v) if f(v) => Some(()),
            _ => None,
        })
        .await;
    }

    /// The last `state` received so far.
    pub fn last_state(&self) -> signaling::protocol::RoomView {
        self.seen
            .iter()
            .rev()
            .find_map(|m| match m {
                ServerMessage::State(v) => Some(v.clone()),
                _ => None,
            })
            .expect("a state was received")
    }

    pub fn count(&self, f: impl Fn(&ServerMessage) -> bool) -> usize {
        self.seen.iter().filter(|m| f(m)).count()
    }
}

/// A call's signaling round: the professional (participant 1) offers to
/// the patient (2), who answers; each receives the other's, relayed by
/// the server(s) between them.
pub async fn offer_and_answer(pro: &mut Client, patient: &mut Client) {
    pro.signal(2, &SignalData::Offer { sdp: "v=0".into() })
        .await;
    assert_eq!(patient.expect_signal().await.0, 1);
    patient
        .signal(1, &SignalData::Answer { sdp: "v=0".into() })
        .await;
    assert_eq!(pro.expect_signal().await.0, 2);
}

pub fn is_signal(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Signal { .. })
}

pub fn is_ice_servers(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::IceServers { .. })
}

/// Whether the act's events hold a `left` of `participant` for `reason`.
pub fn left_for(events: &[Event], participant: u32, reason: session::act::LeaveReason) -> bool {
    events.iter().any(|e| {
        matches!(&e.body, ActEvent::Left { participant: p, reason: r }
            if p.0 == participant && *r == reason)
    })
}

/// The real `teleconsult serve --insecure-http` on loopback, killed when
/// dropped.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    log: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts the binary on `data` and a free loopback port, and waits
    /// until it accepts connections.
    pub async fn start(data: &Path, log: &Path) -> ServerProcess {
        ServerProcess::start_with(data, log, &[]).await
    }

    /// [`ServerProcess::start`] with more `serve` arguments (`--store`,
    /// `--redis`, `--node-id`...).
    pub async fn start_with(data: &Path, log: &Path, args: &[&str]) -> ServerProcess {
        let addr = free_loopback_addr();
        let log_file = std::fs::File::create(log).expect("create the server log");
        let child = Command::new(env!("CARGO_BIN_EXE_teleconsult"))
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", &addr.to_string(), "--insecure-http"])
            .args(args)
            .env_remove("TELECONSULT_DATA_KEY")
            .env_remove("TELECONSULT_DATA")
            .env_remove("TELECONSULT_PUBLIC_URL")
            .env_remove("TELECONSULT_CONFIG")
            .env_remove("TELECONSULT_LISTEN")
            .env_remove("TELECONSULT_STORE")
            .env_remove("TELECONSULT_REDIS")
            .env_remove("TELECONSULT_NODE_ID")
            .env_remove("TELECONSULT_ADVERTISE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn teleconsult serve");
        let mut server = ServerProcess {
            child,
            addr,
            log: log.to_path_buf(),
        };
        server.wait_listening().await;
        server
    }

    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("teleconsult serve exited ({status}): {}", self.log());
            }
            if TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "teleconsult serve does not listen on {} after {TIMEOUT:?}: {}",
                self.addr,
                self.log()
            );
            // Polling for the port to open; nothing else to wait on.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill teleconsult serve");
        let status = self.child.wait().expect("reap teleconsult serve");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port free now.
pub fn free_loopback_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The settings every test server starts from, before its `configure`:
/// `serve`'s defaults, but plain HTTP, without the relay, the connection
/// test peer or sign-in (tests that need them turn them on), with
/// [`test_ice_servers`].
pub fn test_settings(data: DataDir, listen: SocketAddr, public_url: String) -> Settings {
    let mut settings = Settings::new(data, listen, public_url);
    settings.tls = TlsSetting::Off;
    settings.ice_servers = test_ice_servers();
    settings.relay = false;
    settings.probe = false;
    settings.sign_in = false;
    settings
}
