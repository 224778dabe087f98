//! Relay-stress: opaque packets through TURN channels at a set rate,
//! without the WebRTC stack, so the harness is not what limits the relay.
//!
//! A session stands for one relayed 1:1 consultation with both legs
//! through the relay: clients A and B each allocate, bind a channel to
//! the other's relayed address, and send to each other (A → relay
//! → A's allocation → B's allocation → relay → B), so each packet crosses
//! the relay twice. The default traffic is a consultation's: per
//! direction, 1 Mbps of video in 1100-byte packets and 50 Opus packets of
//! 100 bytes a second.
//!
//! With `peers_outside`, a session is one TURN client and a plain UDP
//! peer outside the relay (A → relay → P and P → relay → A): each packet
//! crosses the relay once. Relays that keep peer traffic on shared sockets
//! (coturn's `--multiplex-peer`) relay nothing client to client, so this
//! is the traffic that compares them all.
//!
//! Each packet carries its session, sequence number and send time; every
//! receiving client measures loss, jitter and one-way latency. With
//! `direct`, the same clients send to each other without the relay: the
//! baseline that gives the latency the relay adds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::net::UdpSocket;

use crate::metrics::{ProcSample, Samples, StreamStats, Summary};
use crate::packetize::now_micros;
use crate::turn_client::{CHANNEL, TurnClient, channel_data, parse_channel_data};

/// One kind of packet a client sends.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Flow {
    pub packets_per_second: f64,
    pub size: usize,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct StressConfig {
    /// The TURN server (UDP).
    pub server: SocketAddr,
    /// The TURN REST API shared secret (ours, or coturn's
    /// `static-auth-secret`).
    pub secret: Vec<u8>,
    /// Sessions (pairs of clients).
    pub sessions: u32,
    /// What each client sends.
    pub flows: Vec<Flow>,
    /// How long to send.
    pub duration: Duration,
    /// Skip the relay: the baseline.
    pub direct: bool,
    /// One TURN client and a plain peer per session, instead of two TURN
    /// clients.
    pub peers_outside: bool,
    /// The relay's process, to sample its CPU and memory.
    pub relay_pid: Option<u32>,
}

impl StressConfig {
    /// A consultation's traffic per direction: 1 Mbps of video, 32 kb/s
    /// of audio.
    pub fn consultation_flows(video_bps: u32) -> Vec<Flow> {
        vec![
            Flow {
                packets_per_second: f64::from(video_bps) / 8.0 / 1100.0,
                size: 1100,
            },
            Flow {
                packets_per_second: 50.0,
                size: 100,
            },
        ]
    }

    /// Packets per second all clients send together.
    pub fn offered_pps(&self) -> f64 {
        self.flows.iter().map(|f| f.packets_per_second).sum::<f64>()
            * 2.0
            * f64::from(self.sessions)
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct StressSecond {
    pub second: u32,
    pub received: u64,
    pub sent: u64,
    /// Relay CPU in this second, in cores.
    pub relay_cpu: Option<f64>,
    pub relay_rss_bytes: Option<u64>,
}

/// What a stress run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StressResult {
    pub sessions: u32,
    pub direct: bool,
    pub offered_pps: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss: f64,
    /// One-way latency, client to client, ms.
    pub latency_ms: Summary,
    /// Mean RFC 3550 jitter of the streams, ms.
    pub jitter_ms: f64,
    /// Allocate + CreatePermission + ChannelBind time per client, ms.
    pub setup_ms: Summary,
    /// Clients that could not allocate or bind.
    pub setup_failures: u64,
    /// Why, for the first few failed pairs (the relay's error or a
    /// timeout), so a breach can be told from a harness problem.
    pub setup_errors: Vec<String>,
    /// Allocations the relay did not confirm deleting at the end, and why
    /// for the first few: one left behind keeps its port's 5-tuple busy,
    /// and a later step's client that gets the same port is refused.
    pub release_failures: u64,
    pub release_errors: Vec<String>,
    /// Relay CPU while sending, seconds.
    pub relay_cpu_seconds: Option<f64>,
    /// Relay CPU per packet delivered client to client (two forwards), µs.
    pub relay_cpu_us_per_packet: Option<f64>,
    /// Relay memory before the allocations, after them, and at the end.
    pub relay_rss_idle: Option<u64>,
    pub relay_rss_allocated: Option<u64>,
    pub relay_rss_end: Option<u64>,
    /// (allocated − idle) / allocations, bytes.
    pub relay_bytes_per_allocation: Option<f64>,
    /// The same for anonymous memory alone (`ProcSample::anon_bytes`):
    /// what the allocations hold, without the code pages the relay first
    /// runs while serving them.
    pub relay_anon_idle: Option<u64>,
    pub relay_anon_allocated: Option<u64>,
    pub relay_anon_bytes_per_allocation: Option<f64>,
    /// The harness's own CPU while sending, seconds: near one core per
    /// second means the harness, not the relay, was the limit.
    pub harness_cpu_seconds: Option<f64>,
    pub timeline: Vec<StressSecond>,
}

/// Payload: session (4), sequence (4), send time µs (8), then padding.
const HEADER: usize = 16;

fn encode(session: u32, seq: u32, size: usize, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&session.to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&now_micros().to_be_bytes());
    buf.resize(size.max(HEADER), 0);
}

fn decode(data: &[u8]) -> Option<(u32, u32, u64)> {
    if data.len() < HEADER {
        return None;
    }
    Some((
        u32::from_be_bytes(data[0..4].try_into().ok()?),
        u32::from_be_bytes(data[4..8].try_into().ok()?),
        u64::from_be_bytes(data[8..16].try_into().ok()?),
    ))
}

/// One end of a session.
struct Client {
    socket: Arc<UdpSocket>,
    turn: Option<TurnClient>,
    /// Where to send: the relay (with ChannelData) or, direct or from a
    /// peer outside the relay, the other end.
    to: SocketAddr,
    /// Whether it speaks ChannelData to the relay (a TURN client).
    framed: bool,
    session: u32,
}

async fn setup_pair(
    cfg: &StressConfig,
    credentials: &media::TurnCredentials,
    session: u32,
) -> crate::Result<(Client, Client, f64)> {
    let t0 = Instant::now();
    if cfg.direct {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        let (aa, ba) = (a.local_addr()?, b.local_addr()?);
        let client = |socket, to| Client {
            socket: Arc::new(socket),
            turn: None,
            to,
            framed: false,
            session,
        };
        return Ok((client(a, ba), client(b, aa), 0.0));
    }
    if cfg.peers_outside {
        let ca = credentials.issue(&format!("stress-{session}"), "a", Duration::from_secs(3600))?;
        let a = TurnClient::allocate(cfg.server, &ca.username, &ca.password).await?;
        let peer = UdpSocket::bind("127.0.0.1:0").await?;
        a.bind_peer(peer.local_addr()?).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let outside = Client {
            socket: Arc::new(peer),
            turn: None,
            to: a.relayed,
            framed: false,
            session,
        };
        let inside = Client {
            socket: a.socket.clone(),
            to: a.server,
            turn: Some(a),
            framed: true,
            session,
        };
        return Ok((inside, outside, ms));
    }
    let cred =
        |who: &str| credentials.issue(&format!("stress-{session}"), who, Duration::from_secs(3600));
    let (ca, cb) = (cred("a")?, cred("b")?);
    let (a, b) = tokio::try_join!(
        TurnClient::allocate(cfg.server, &ca.username, &ca.password),
        TurnClient::allocate(cfg.server, &cb.username, &cb.password),
    )?;
    tokio::try_join!(a.bind_peer(b.relayed), b.bind_peer(a.relayed))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let client = |t: TurnClient| Client {
        socket: t.socket.clone(),
        to: t.server,
        turn: Some(t),
        framed: true,
        session,
    };
    Ok((client(a), client(b), ms))
}

/// What one receiving client measured.
struct Received {
    stats: StreamStats,
}

async fn receive(
    client: Arc<UdpSocket>,
    via_relay: bool,
    until: tokio::time::Instant,
    counter: Arc<AtomicU64>,
) -> Received {
    let mut stats = StreamStats::new(1_000_000);
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, client.recv(&mut buf)).await {
        let data = if via_relay {
            match parse_channel_data(&buf[..n]) {
                Some((CHANNEL, d)) => d,
                _ => continue, // a STUN answer or another channel
            }
        } else {
            &buf[..n]
        };
        let Some((_, seq, sent)) = decode(data) else {
            continue;
        };
        let now = now_micros();
        // Timestamps in µs: the jitter comes out in µs.
        stats.on_packet(seq as u16, sent as u32, now, Some(sent), n);
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Received { stats }
}

/// (`with` − `idle`) / `allocations`, bytes.
fn per_allocation(idle: Option<u64>, with: Option<u64>, allocations: usize) -> Option<f64> {
    match (idle, with) {
        (Some(a), Some(b)) if allocations > 0 => Some((b as f64 - a as f64) / allocations as f64),
        _ => None,
    }
}

fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(|p| ProcSample::read(p).ok())
}

/// Runs one stress step: sets up the sessions, sends for the duration,
/// releases the allocations. `progress` is told packets received so far.
pub async fn run(cfg: &StressConfig, progress: impl Fn(u64) + Send) -> crate::Result<StressResult> {
    let credentials = media::TurnCredentials::new(cfg.secret.clone())?;
    let idle = sample(cfg.relay_pid);
    let mut setup = Samples::default();
    let mut failures = 0u64;
    let mut errors = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let pairs = futures_util::stream::iter(0..cfg.sessions)
        .map(|i| setup_pair(cfg, &credentials, i))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for pair in pairs {
        match pair {
            Ok((a, b, ms)) => {
                setup.record(ms);
                setup.record(ms);
                clients.push(a);
                clients.push(b);
            }
            Err(e) => {
                tracing::warn!(error = %e, "relay-stress setup failed");
                failures += 2;
                if errors.len() < 3 {
                    errors.push(format!("{e:#}"));
                }
            }
        }
    }
    // Let the relay settle its allocation work before reading memory.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let allocated = sample(cfg.relay_pid);
    let allocations = clients.iter().filter(|c| c.turn.is_some()).count();

    let received = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let stop_sending = start + cfg.duration;
    let stop_receiving = stop_sending + Duration::from_millis(500);
    let receivers: Vec<_> = clients
        .iter()
        .map(|c| {
            tokio::spawn(receive(
                c.socket.clone(),
                c.framed,
                stop_receiving,
                received.clone(),
            ))
        })
        .collect();

    // One sender for all clients, every millisecond, each flow keeping its
    // rate. (With 5 ms ticks, every client's packets left in one burst
    // that overflowed a relay's default 208 KiB UDP receive buffer at 40
    // sessions, a synchronisation that independent consultations do not
    // have.)
    let sender = {
        let targets: Vec<(Arc<UdpSocket>, SocketAddr, u32, bool)> = clients
            .iter()
            .map(|c| (c.socket.clone(), c.to, c.session, c.framed))
            .collect();
        let flows = cfg.flows.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seqs = vec![0u32; targets.len()];
            // Clients start at spread phases, so they do not all cross a
            // whole packet in the same tick.
            let n = targets.len().max(1) as f64;
            let mut owed: Vec<Vec<f64>> = (0..targets.len())
                .map(|i| vec![i as f64 / n; flows.len()])
                .collect();
            let (mut payload, mut frame) = (Vec::new(), Vec::new());
            let mut last = tokio::time::Instant::now();
            while tokio::time::Instant::now() < stop_sending {
                tick.tick().await;
                let now = tokio::time::Instant::now();
                let dt = now.duration_since(last).as_secs_f64();
                last = now;
                for (i, (socket, to, session, framed)) in targets.iter().enumerate() {
                    for (f, flow) in flows.iter().enumerate() {
                        owed[i][f] += flow.packets_per_second * dt;
                        while owed[i][f] >= 1.0 {
                            owed[i][f] -= 1.0;
                            encode(*session, seqs[i], flow.size, &mut payload);
                            seqs[i] = seqs[i].wrapping_add(1);
                            let bytes = if *framed {
                                channel_data(CHANNEL, &payload, &mut frame);
                                &frame
                            } else {
                                &payload
                            };
                            if socket.send_to(bytes, *to).await.is_ok() {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        })
    };

    // Once a second: the relay's CPU and memory, and the counters.
    let mut timeline = Vec::new();
    let cpu_start = sample(cfg.relay_pid);
    let harness_start = sample(Some(std::process::id()));
    let mut prev = cpu_start;
    let mut prev_at = Instant::now();
    let mut second = 0u32;
    while tokio::time::Instant::now() < stop_sending {
        tokio::time::sleep(Duration::from_secs(1)).await;
        second += 1;
        let now = sample(cfg.relay_pid);
        let elapsed = prev_at.elapsed().as_secs_f64();
        prev_at = Instant::now();
        timeline.push(StressSecond {
            second,
            received: received.load(Ordering::Relaxed),
            sent: sent.load(Ordering::Relaxed),
            relay_cpu: match (&prev, &now) {
                (Some(a), Some(b)) => Some(ProcSample::cpu_between(a, b, elapsed)),
                _ => None,
            },
            relay_rss_bytes: now.map(|s| s.rss_bytes),
        });
        prev = now;
        progress(received.load(Ordering::Relaxed));
    }
    sender.await?;
    let cpu_end = sample(cfg.relay_pid);
    let harness_end = sample(Some(std::process::id()));
    let mut latency = Samples::default();
    let (mut expected, mut got, mut jitter_sum, mut streams) = (0u64, 0u64, 0.0, 0usize);
    for r in receivers {
        let r = r.await?;
        expected += r.stats.seq.expected();
        got += r.stats.seq.received();
        latency.merge(&r.stats.latency_ms);
        if r.stats.seq.received() > 1 {
            // Timestamps were µs: the "clock rate" is 1 MHz.
            jitter_sum += r.stats.jitter_ms();
            streams += 1;
        }
    }
    let rss_end = sample(cfg.relay_pid).map(|s| s.rss_bytes);
    let (mut release_failures, mut release_errors) = (0u64, Vec::new());
    for c in &clients {
        if let Some(t) = &c.turn
            && let Err(e) = t.release().await
        {
            release_failures += 1;
            if release_errors.len() < 3 {
                release_errors.push(format!("{e:#}"));
            }
        }
    }
    let sent_total = sent.load(Ordering::Relaxed);
    // Loss against what was sent (a client whose every packet was lost
    // has no sequence range of its own).
    let lost = sent_total.saturating_sub(got);
    let relay_cpu = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) => Some(b.cpu_seconds - a.cpu_seconds),
        _ => None,
    };
    let _ = expected;
    Ok(StressResult {
        sessions: cfg.sessions,
        direct: cfg.direct,
        offered_pps: cfg.offered_pps(),
        sent: sent_total,
        received: got,
        lost,
        loss: if sent_total == 0 {
            0.0
        } else {
            lost as f64 / sent_total as f64
        },
        latency_ms: latency.summary(),
        jitter_ms: if streams == 0 {
            0.0
        } else {
            jitter_sum / streams as f64
        },
        setup_ms: setup.summary(),
        setup_failures: failures,
        setup_errors: errors,
        release_failures,
        release_errors,
        relay_cpu_seconds: relay_cpu,
        relay_cpu_us_per_packet: relay_cpu.filter(|_| got > 0).map(|c| c * 1e6 / got as f64),
        relay_rss_idle: idle.as_ref().map(|s| s.rss_bytes),
        relay_rss_allocated: allocated.as_ref().map(|s| s.rss_bytes),
        relay_rss_end: rss_end,
        relay_bytes_per_allocation: per_allocation(
            idle.as_ref().map(|s| s.rss_bytes),
            allocated.as_ref().map(|s| s.rss_bytes),
            allocations,
        ),
        relay_anon_idle: idle.as_ref().and_then(|s| s.anon_bytes),
        relay_anon_allocated: allocated.as_ref().and_then(|s| s.anon_bytes),
        relay_anon_bytes_per_allocation: per_allocation(
            idle.and_then(|s| s.anon_bytes),
            allocated.and_then(|s| s.anon_bytes),
            allocations,
        ),
        harness_cpu_seconds: match (harness_start, harness_end) {
            (Some(a), Some(b)) => Some(b.cpu_seconds - a.cpu_seconds),
            _ => None,
        },
        timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_payload_round_trips() {
        let mut buf = Vec::new();
        encode(7, 42, 1100, &mut buf);
        assert_eq!(buf.len(), 1100);
        let (session, seq, sent) = decode(&buf).unwrap();
        assert_eq!((session, seq), (7, 42));
        assert!(sent > 1_600_000_000_000_000);
        assert_eq!(decode(&buf[..10]), None);
    }

    #[test]
    fn consultation_traffic_is_about_one_megabit() {
        let flows = StressConfig::consultation_flows(1_000_000);
        let bps: f64 = flows
            .iter()
            .map(|f| f.packets_per_second * f.size as f64 * 8.0)
            .sum();
        assert!((1_030_000.0..1_050_000.0).contains(&bps), "{bps}");
    }
}
