//! Consultation scenarios against a running server: acts created over the
//! REST API, bots joining over the WebSocket with the encoded media, and
//! the server's CPU and memory sampled from `/proc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::media_source::EncodedMedia;
use crate::metrics::{ProcSample, Samples, Summary};
use crate::participant::{self, Outcome, Plan};
use crate::receiver::Timeline;
use crate::slo::Observed;

/// A server to load: its base URL (`http://127.0.0.1:PORT`), operator
/// token, and process id when known.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub api_token: String,
    pub pid: Option<u32>,
}

impl Target {
    /// `ws://…/ws` from the base URL.
    pub fn ws_url(&self) -> String {
        let rest = self
            .base_url
            .trim_end_matches('/')
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        format!("{rest}/ws")
    }
}

/// A `teleconsult serve` the harness started, stopped when dropped.
#[derive(Debug)]
pub struct SpawnedServer {
    child: std::process::Child,
    _data: tempfile::TempDir,
    pub target: Target,
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings for a server under load from this harness (`harness.toml`):
/// every bot runs from one address, which the per-address limits would
/// otherwise hold back.
pub const HARNESS_SETTINGS: &str = include_str!("../harness.toml");

/// Starts `binary serve` on a free loopback port with plain HTTP, a fresh
/// data directory and [`HARNESS_SETTINGS`], and waits for `/healthz`.
pub async fn spawn_server(binary: &Path, extra: &[String]) -> Result<SpawnedServer> {
    let data = tempfile::tempdir()?;
    let settings = data.path().join("harness.toml");
    std::fs::write(&settings, HARNESS_SETTINGS)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(binary)
        .arg("--data")
        .arg(data.path())
        .arg("serve")
        .arg("--config")
        .arg(&settings)
        .arg("--insecure-http")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Error::io_at(format!("cannot start {}", binary.display()), e))?;
    let pid = child.id();
    let base_url = format!("http://127.0.0.1:{port}");
    let mut server = SpawnedServer {
        child,
        _data: data,
        target: Target {
            base_url: base_url.clone(),
            api_token: String::new(),
            pid: Some(pid),
        },
    };
    let token_file = server._data.path().join("keys/api.token");
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait()? {
            return Err(Error::ServerExited(status));
        }
        if let Ok(token) = std::fs::read_to_string(&token_file)
            && get(&base_url, "/healthz").await.is_ok()
        {
            server.target.api_token = token.trim().to_string();
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::ServerSilent)
}

/// The operator token in `DATA/keys/api.token`.
pub fn api_token_from(data: &Path) -> Result<String> {
    let path: PathBuf = data.join("keys/api.token");
    Ok(std::fs::read_to_string(&path)
        .map_err(|e| Error::io_at(format!("cannot read {}", path.display()), e))?
        .trim()
        .to_string())
}

async fn request(
    base_url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(u16, Vec<u8>)> {
    let authority = base_url
        .strip_prefix("http://")
        .ok_or(Error::NotPlainHttp)?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = sender
        .send_request(req.body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))?)
        .await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

async fn get(base_url: &str, path: &str) -> Result<Vec<u8>> {
    let (status, body) = request(base_url, "GET", path, None, None).await?;
    if status != 200 {
        return Err(Error::HttpStatus {
            path: path.to_owned(),
            status,
        });
    }
    Ok(body)
}

/// Creates an act over `POST /api/acts`; returns the join tokens, the
/// professional's first, then the patient's, then the expert's if any.
pub async fn create_act(target: &Target, room_size: u32, n: u64) -> Result<Vec<String>> {
    let mut body = serde_json::json!({
        "kind": if room_size >= 3 { "teleexpertise" } else { "teleconsultation" },
        "professional": {"name": "Dr Bot Requérant", "rpps": "10000000009"},
        "patient": format!("bot-{n:06}"),
    });
    if room_size >= 3 {
        body["expert"] = serde_json::json!({"name": "Dr Bot Expert", "rpps": "10000000017"});
    }
    let (status, answer) = request(
        &target.base_url,
        "POST",
        "/api/acts",
        Some(&target.api_token),
        Some(body.to_string()),
    )
    .await?;
    if status != 201 {
        return Err(Error::ActRefused {
            status,
            body: String::from_utf8_lossy(&answer).into_owned(),
        });
    }
    let created: serde_json::Value = serde_json::from_slice(&answer)?;
    let token = |role: &'static str| -> Result<String> {
        let link = created["links"][role].as_str().ok_or(Error::NoLink(role))?;
        Ok(link
            .split_once('#')
            .ok_or(Error::LinkWithoutToken)?
            .1
            .to_string())
    };
    let mut tokens = vec![token("professional")?, token("patient")?];
    if room_size >= 3 {
        tokens.push(token("expert")?);
    }
    Ok(tokens)
}

/// One load step: `rooms` rooms of `room_size`, started `rate` per
/// second, each playing media for `play_for`.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    pub rooms: u32,
    pub room_size: u32,
    /// Rooms started per second.
    pub rate: f64,
    pub play_for: Duration,
    pub relay_only: bool,
    /// ICE servers to use instead of the server's, made per participant
    /// (e.g. coturn with REST credentials).
    pub ice_override: Option<IceOverride>,
    /// The bots' ICE timers.
    pub ice_timing: participant::IceTiming,
}

/// A TURN server and its REST API secret, for bots to use in place of the
/// product's relay.
#[derive(Debug, Clone)]
pub struct IceOverride {
    pub url: String,
    pub secret: Vec<u8>,
}

/// What a load step measured.
#[derive(Debug, Clone, Serialize)]
pub struct RoomsResult {
    pub rooms: u32,
    pub room_size: u32,
    pub participants: u64,
    pub join_failures: u64,
    /// WebSocket open → admitted, ms.
    pub join_ms: Summary,
    /// WebSocket open → ICE connected, ms.
    pub ice_connected_ms: Summary,
    /// WebSocket open → first whole video frame, ms.
    pub first_frame_ms: Summary,
    /// One-way media latency, ms (audio and video packets).
    pub latency_ms: Summary,
    pub packets_expected: u64,
    pub packets_lost: u64,
    pub loss: f64,
    pub video_jitter_ms: Summary,
    pub audio_jitter_ms: Summary,
    /// Received video bitrate per stream, kbit/s.
    pub video_kbps: Summary,
    pub frames_expected: u64,
    pub frames_complete: u64,
    pub frame_completeness: f64,
    /// Server CPU, cores, and RSS, per second, summed over the nodes.
    pub server_cpu: Vec<f64>,
    pub server_rss_bytes: Vec<u64>,
    /// The same per node, in the order of the targets (only nodes whose
    /// process id was given).
    pub nodes: Vec<NodeUsage>,
    /// This harness process's own CPU and RSS: when it nears the cores it
    /// may use, the bots and not the server set the figures.
    pub harness: NodeUsage,
    /// Per second: received packets, lost, latency p50/p99.
    pub timeline: Vec<TimelinePoint>,
    pub errors: Vec<String>,
}

/// One node's CPU (cores) and RSS, sampled once a second during a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeUsage {
    pub base_url: String,
    pub cpu: Vec<f64>,
    pub rss_bytes: Vec<u64>,
}

impl NodeUsage {
    /// The highest one-second CPU share, cores.
    pub fn peak_cpu(&self) -> f64 {
        self.cpu.iter().copied().fold(0.0, f64::max)
    }

    /// The mean one-second CPU share, cores.
    pub fn mean_cpu(&self) -> f64 {
        if self.cpu.is_empty() {
            0.0
        } else {
            self.cpu.iter().sum::<f64>() / self.cpu.len() as f64
        }
    }
}

/// Samples a process's CPU and RSS once a second until aborted.
fn sample_node(
    base_url: String,
    pid: u32,
) -> (
    Arc<std::sync::Mutex<NodeUsage>>,
    tokio::task::JoinHandle<()>,
) {
    let usage = Arc::new(std::sync::Mutex::new(NodeUsage {
        base_url,
        ..NodeUsage::default()
    }));
    let shared = usage.clone();
    let task = tokio::spawn(async move {
        let mut prev = ProcSample::read(pid).ok();
        let mut at = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = ProcSample::read(pid).ok();
            if let (Some(a), Some(b)) = (prev, now)
                && let Ok(mut u) = shared.lock()
            {
                u.cpu
                    .push(ProcSample::cpu_between(&a, &b, at.elapsed().as_secs_f64()));
                u.rss_bytes.push(b.rss_bytes);
            }
            at = Instant::now();
            prev = now;
        }
    });
    (usage, task)
}

/// Sums the nodes' samples second by second (a node with fewer samples
/// counts for the seconds it has).
fn sum_nodes(nodes: &[NodeUsage]) -> (Vec<f64>, Vec<u64>) {
    let len = nodes.iter().map(|n| n.cpu.len()).max().unwrap_or(0);
    let cpu = (0..len)
        .map(|i| nodes.iter().filter_map(|n| n.cpu.get(i)).sum())
        .collect();
    let rss = (0..len)
        .map(|i| nodes.iter().filter_map(|n| n.rss_bytes.get(i)).sum())
        .collect();
    (cpu, rss)
}

/// One second of a step, for charts.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    pub second: usize,
    pub received: u64,
    pub lost: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

impl RoomsResult {
    /// What the SLO is checked against.
    pub fn observed(&self) -> Observed {
        Observed {
            loss: self.loss,
            p99_latency_ms: self.latency_ms.p99,
            join_failures: self.join_failures,
            packets_expected: self.packets_expected,
        }
    }
}

/// Runs one step and gathers what every participant measured. Room `i`
/// goes to `targets[i % targets.len()]`: its act is created there and its
/// participants connect there (nodes sharing a store and Redis take the
/// act over or forward as they would for people).
pub async fn run_rooms(
    targets: &[Target],
    media: Arc<EncodedMedia>,
    cfg: &RoomsConfig,
    first_act: u64,
    on_room_done: impl Fn() + Send + Sync + 'static,
) -> Result<RoomsResult> {
    if targets.is_empty() {
        return Err(Error::NoTarget);
    }
    let start = Instant::now();
    let on_room_done = Arc::new(on_room_done);
    let mut rooms = tokio::task::JoinSet::new();
    let samplers: Vec<_> = targets
        .iter()
        .filter_map(|t| t.pid.map(|pid| sample_node(t.base_url.clone(), pid)))
        .collect();
    let (harness_usage, harness_task) = sample_node("harness".into(), std::process::id());
    for i in 0..cfg.rooms {
        let due = start + Duration::from_secs_f64(f64::from(i) / cfg.rate.max(0.001));
        tokio::time::sleep_until(due.into()).await;
        let target = targets[i as usize % targets.len()].clone();
        let (media, cfg, done) = (media.clone(), cfg.clone(), on_room_done.clone());
        let act_no = first_act + u64::from(i);
        rooms.spawn(async move {
            let ws_url = target.ws_url();
            let r = run_room(&target, &ws_url, media, &cfg, act_no, start).await;
            done();
            r
        });
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut errors = Vec::new();
    let mut failed_rooms_participants = 0u64;
    while let Some(joined) = rooms.join_next().await {
        match joined? {
            Ok(mut o) => outcomes.append(&mut o),
            Err(e) => {
                errors.push(format!("{e:#}"));
                failed_rooms_participants += u64::from(cfg.room_size);
            }
        }
    }
    let mut nodes = Vec::new();
    for (usage, task) in samplers {
        task.abort();
        if let Ok(u) = usage.lock() {
            nodes.push(u.clone());
        }
    }
    harness_task.abort();
    let mut result = summarize(cfg, outcomes, errors, failed_rooms_participants);
    (result.server_cpu, result.server_rss_bytes) = sum_nodes(&nodes);
    result.nodes = nodes;
    if let Ok(h) = harness_usage.lock() {
        result.harness = h.clone();
    }
    Ok(result)
}

async fn run_room(
    target: &Target,
    ws_url: &str,
    media: Arc<EncodedMedia>,
    cfg: &RoomsConfig,
    act_no: u64,
    start: Instant,
) -> Result<Vec<Outcome>> {
    let tokens = create_act(target, cfg.room_size, act_no).await?;
    let peers = tokens.len() as u32 - 1;
    let plans: Vec<Plan> = (0..tokens.len())
        .map(|i| Plan {
            consent: i == 1,
            admit: i == 0,
            packets: 0,
            expect_packets: 0,
            timeout: cfg.play_for + Duration::from_secs(30),
            relay_only: cfg.relay_only,
            media: Some(media.clone()),
            play_for: cfg.play_for,
            expect_peers: peers,
            run_start: Some(start),
            ice_timing: cfg.ice_timing,
            ice_override: cfg.ice_override.as_ref().map(|o| {
                let c = media::TurnCredentials::new(o.secret.clone()).and_then(|c| {
                    c.issue(
                        &format!("load-{act_no}"),
                        &format!("p{i}"),
                        Duration::from_secs(3600),
                    )
                });
                match c {
                    Ok(c) => vec![signaling::protocol::IceServer {
                        urls: vec![o.url.clone()],
                        username: Some(c.username),
                        credential: Some(c.password),
                    }],
                    Err(_) => Vec::new(),
                }
            }),
            ..Plan::default()
        })
        .collect();
    let runs = tokens
        .iter()
        .zip(plans)
        .map(|(token, plan)| participant::run(ws_url, token, plan));
    let results = futures_util::future::join_all(runs).await;
    results.into_iter().collect()
}

fn summarize(
    cfg: &RoomsConfig,
    outcomes: Vec<Outcome>,
    errors: Vec<String>,
    failed_participants: u64,
) -> RoomsResult {
    let peers = cfg.room_size.saturating_sub(1);
    let mut join = Samples::default();
    let mut ice = Samples::default();
    let mut first = Samples::default();
    let mut latency = Samples::default();
    let mut vj = Samples::default();
    let mut aj = Samples::default();
    let mut kbps = Samples::default();
    let mut timeline = Timeline::default();
    let (mut expected, mut lost, mut frames_expected, mut frames_complete) = (0, 0, 0, 0);
    let mut join_failures = failed_participants;
    let mut errors = errors;
    for o in &outcomes {
        let ok = o.connected_peers >= peers && o.first_frame_ms.is_some() && o.join_ms.is_some();
        if !ok {
            join_failures += 1;
        }
        errors.extend(o.errors.iter().cloned());
        for (value, samples) in [
            (o.join_ms, &mut join),
            (o.ice_connected_ms, &mut ice),
            (o.first_frame_ms, &mut first),
        ] {
            if let Some(v) = value {
                samples.record(v);
            }
        }
        let Some(r) = &o.received else { continue };
        let Ok(r) = r.lock() else { continue };
        timeline.merge(&r.timeline);
        for s in r.streams.values() {
            expected += s.stats.seq.expected();
            lost += s.stats.seq.lost();
            latency.merge(&s.stats.latency_ms);
            if s.video {
                vj.record(s.stats.jitter_ms());
                kbps.record(s.stats.bitrate_bps() / 1000.0);
                frames_expected += s.frames_expected(3000);
                frames_complete += s.frames_complete;
            } else {
                aj.record(s.stats.jitter_ms());
            }
        }
    }
    let timeline = timeline
        .buckets
        .iter_mut()
        .enumerate()
        .map(|(second, b)| TimelinePoint {
            second,
            received: b.received,
            lost: b.lost,
            latency_p50_ms: b.latency_ms.quantile(0.5).unwrap_or(0.0),
            latency_p99_ms: b.latency_ms.quantile(0.99).unwrap_or(0.0),
        })
        .collect();
    errors.truncate(20);
    RoomsResult {
        rooms: cfg.rooms,
        room_size: cfg.room_size,
        participants: outcomes.len() as u64 + failed_participants,
        join_failures,
        join_ms: join.summary(),
        ice_connected_ms: ice.summary(),
        first_frame_ms: first.summary(),
        latency_ms: latency.summary(),
        packets_expected: expected,
        packets_lost: lost,
        loss: if expected == 0 {
            0.0
        } else {
            lost as f64 / expected as f64
        },
        video_jitter_ms: vj.summary(),
        audio_jitter_ms: aj.summary(),
        video_kbps: kbps.summary(),
        frames_expected,
        frames_complete,
        frame_completeness: if frames_expected == 0 {
            0.0
        } else {
            frames_complete as f64 / frames_expected as f64
        },
        server_cpu: Vec::new(),
        server_rss_bytes: Vec::new(),
        nodes: Vec::new(),
        harness: NodeUsage::default(),
        timeline,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::{NodeUsage, sum_nodes};

    #[test]
    fn node_samples_add_up_second_by_second() {
        let node = |cpu: &[f64], rss: &[u64]| NodeUsage {
            base_url: String::new(),
            cpu: cpu.to_vec(),
            rss_bytes: rss.to_vec(),
        };
        let (cpu, rss) = sum_nodes(&[
            node(&[0.5, 0.25, 0.125], &[10, 20, 30]),
            node(&[0.25, 0.5], &[1, 2]),
        ]);
        assert_eq!(cpu, vec![0.75, 0.75, 0.125]);
        assert_eq!(rss, vec![11, 22, 30]);
        assert_eq!(node(&[0.5, 0.25], &[]).peak_cpu(), 0.5);
        assert_eq!(node(&[0.5, 0.25], &[]).mean_cpu(), 0.375);
        assert_eq!(sum_nodes(&[]), (vec![], vec![]));
    }

    #[test]
    fn the_harness_settings_are_a_valid_settings_file_lifting_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harness.toml");
        std::fs::write(&path, super::HARNESS_SETTINGS).unwrap();
        let config = signaling::config::FileConfig::load(&path).unwrap();
        let default = signaling::throttle::HttpLimits::default();
        assert!(config.http.websockets_per_client >= 1000);
        assert!(config.http.connections_per_client > config.http.websockets_per_client);
        assert!(config.http.per_client_per_second > default.per_client_per_second);
        assert!(config.http.join_per_second > default.join_per_second);
    }
}
