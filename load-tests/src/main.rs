//! `teleconsult-load`: loads a teleconsult server with synthetic
//! participants carrying real encoded media, or a TURN relay with
//! relay-stress traffic, and says whether the SLO held.
//!
//! Exit status: 0 when every SLO held, 1 when one broke, 2 on error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use load_tests::clip_cache;
use load_tests::media_source::{ClipOrigin, EncodedMedia, MediaSpec};
use load_tests::participant::IceTiming;
use load_tests::relay_stress::{self, StressConfig, StressResult};
use load_tests::report::{self, Panel, Series};
use load_tests::scenario::{self, IceOverride, RoomsConfig, RoomsResult, Target};
use load_tests::slo::{Breach, CapacitySearch, Observed, Slo};

#[derive(Debug, Parser)]
#[command(name = "teleconsult-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N concurrent 1:1 téléconsultations (professional + patient).
    Consult(RoomsArgs),
    /// Téléexpertise rooms of 3 (requester, expert, patient).
    Rooms(RoomsArgs),
    /// A join storm: JOINS participants joining at a given rate.
    Storm(StormArgs),
    /// Opaque packets through TURN channels, without WebRTC.
    RelayStress(StressArgs),
    /// Runs the product's TURN relay (media crate) alone, for benchmarks.
    Relay(RelayArgs),
    /// Prints a TURN REST API username and password for --secret (for
    /// turnutils_uclient -u USER -w PASSWORD).
    Credentials {
        #[arg(long, env = "TURN_SECRET")]
        secret: String,
    },
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// The server's base URL (plain HTTP on loopback), e.g.
    /// http://127.0.0.1:8080. Repeat it for nodes sharing one store and
    /// one Redis: room i goes to the i-th URL, modulo their number.
    #[arg(long, conflicts_with = "spawn_server")]
    url: Vec<String>,
    /// The operator token (else read from --data DIR/keys/api.token).
    #[arg(long, env = "TELECONSULT_API_TOKEN")]
    api_token: Option<String>,
    /// The server's data directory, to read the operator token.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The server's process id, to sample its CPU and memory; repeat it
    /// in the order of the --url it belongs to.
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Start this `teleconsult` binary (`serve --insecure-http` on a free
    /// loopback port with a fresh data directory) and load it.
    #[arg(long)]
    spawn_server: Option<PathBuf>,
    /// Force media through a TURN relay (iceTransportPolicy relay).
    #[arg(long)]
    relay_only: bool,
    /// Use this TURN URL (e.g. coturn's turn:127.0.0.1:3478?transport=udp)
    /// instead of the server's relay, with REST credentials from
    /// --ice-secret.
    #[arg(long, requires = "ice_secret")]
    ice_turn: Option<String>,
    /// The TURN REST API secret of --ice-turn.
    #[arg(long)]
    ice_secret: Option<String>,
    /// The bots' ICE check interval, ms (webrtc-rs sends a relayed packet
    /// on its next wake-up, paced by this while checking). Default: 200,
    /// or 20 with --relay-only.
    #[arg(long)]
    ice_check_interval_ms: Option<u64>,
    /// Checks on a candidate pair before it fails. Default: 7, or 100
    /// with --relay-only (2 s of checks at 20 ms; 1.4 s by default).
    #[arg(long)]
    ice_max_binding_requests: Option<u16>,
    /// The bots' consent-check interval once connected, ms (the driver's
    /// tick then is the lesser of this and 200 ms). Default: 500, or 50
    /// with --relay-only.
    #[arg(long)]
    ice_keepalive_ms: Option<u64>,
}

impl TargetArgs {
    /// The bots' ICE timers: the crate's and a browser's, or, when media
    /// is forced through a relay, the quick ones that bring the relayed
    /// first frame under a second (docs/BENCHMARKS.md, "Relayed first
    /// frame"); each flag overrides its own.
    fn ice_timing(&self) -> anyhow::Result<IceTiming> {
        let base = if self.relay_only {
            IceTiming::RELAYED
        } else {
            IceTiming::default()
        };
        let check = self
            .ice_check_interval_ms
            .unwrap_or(base.check_interval.as_millis() as u64);
        let keepalive = self
            .ice_keepalive_ms
            .unwrap_or(base.keepalive.as_millis() as u64);
        anyhow::ensure!(
            (1..=10_000).contains(&check) && (1..=10_000).contains(&keepalive),
            "--ice-check-interval-ms and --ice-keepalive-ms must be 1 to 10000"
        );
        let requests = self
            .ice_max_binding_requests
            .unwrap_or(base.max_binding_requests);
        anyhow::ensure!(
            requests >= 1,
            "--ice-max-binding-requests must be at least 1"
        );
        Ok(IceTiming {
            check_interval: Duration::from_millis(check),
            max_binding_requests: requests,
            keepalive: Duration::from_millis(keepalive),
        })
    }
}

#[derive(Debug, Args)]
struct MediaArgs {
    /// Video bitrate, kbit/s.
    #[arg(long, default_value_t = 1000)]
    video_kbps: u32,
    /// Audio bitrate, kbit/s.
    #[arg(long, default_value_t = 32)]
    audio_kbps: u32,
    /// Frames in the encoded clip (30 fps, replayed in a loop).
    #[arg(long, default_value_t = 60)]
    clip_frames: u32,
}

#[derive(Debug, Args)]
struct SloArgs {
    /// Largest packet loss, percent.
    #[arg(long, default_value_t = 1.0)]
    max_loss_percent: f64,
    /// Largest p99 one-way latency, ms.
    #[arg(long, default_value_t = 150.0)]
    max_p99_ms: f64,
    /// Join failures allowed.
    #[arg(long, default_value_t = 0)]
    max_join_failures: u64,
}

impl SloArgs {
    fn slo(&self) -> Slo {
        Slo {
            max_loss: self.max_loss_percent / 100.0,
            max_p99_latency_ms: self.max_p99_ms,
            max_join_failures: self.max_join_failures,
        }
    }
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write SVG charts into this directory.
    #[arg(long)]
    charts: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CapacityArgs {
    /// Step the load up until the SLO breaks; report the last load that
    /// held.
    #[arg(long)]
    find_capacity: bool,
    /// Added load per step.
    #[arg(long, default_value_t = 5)]
    step: u32,
    /// Largest load to try.
    #[arg(long, default_value_t = 1000)]
    max: u32,
}

#[derive(Debug, Args)]
struct RoomsArgs {
    /// Rooms (the first step, with --find-capacity).
    #[arg(long, default_value_t = 4)]
    rooms: u32,
    /// Rooms started per second (the ramp).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds each participant plays media.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    media: MediaArgs,
    #[command(flatten)]
    slo: SloArgs,
    #[command(flatten)]
    capacity: CapacityArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct StormArgs {
    /// Participants joining.
    #[arg(long, default_value_t = 100)]
    joins: u32,
    /// Joins per second.
    #[arg(long, default_value_t = 20.0)]
    joins_per_second: f64,
    /// Seconds each participant plays media once connected.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    media: MediaArgs,
    #[command(flatten)]
    slo: SloArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct StressArgs {
    /// The TURN server, UDP (ours or coturn).
    #[arg(long, default_value = "127.0.0.1:3478")]
    turn: std::net::SocketAddr,
    /// Its TURN REST API shared secret.
    #[arg(long, env = "TURN_SECRET")]
    secret: String,
    /// Sessions (pairs of clients; the first step with --find-capacity).
    #[arg(long, default_value_t = 10)]
    sessions: u32,
    /// Seconds to send.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Video bitrate per direction, kbit/s (with 50 Opus packets/s).
    #[arg(long, default_value_t = 1000)]
    video_kbps: u32,
    /// Send opaque packets of this size at --pps instead of a
    /// consultation's traffic.
    #[arg(long, requires = "pps")]
    size: Option<usize>,
    /// Packets per second per client, with --size.
    #[arg(long)]
    pps: Option<f64>,
    /// The relay's process id, to sample its CPU and memory.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Also measure the same load without the relay, to give the latency
    /// the relay adds.
    #[arg(long)]
    baseline: bool,
    /// One TURN client and a plain UDP peer per session (each packet
    /// crosses the relay once), instead of two TURN clients: the traffic
    /// coturn's `--multiplex-peer` relays.
    #[arg(long)]
    peers_outside: bool,
    #[command(flatten)]
    slo: SloArgs,
    #[command(flatten)]
    capacity: CapacityArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct RelayArgs {
    /// UDP address to listen on.
    #[arg(long, default_value = "127.0.0.1:3479")]
    listen: std::net::SocketAddr,
    /// The TURN REST API shared secret.
    #[arg(long, env = "TURN_SECRET")]
    secret: String,
    /// The TURN realm.
    #[arg(long, default_value = "teleconsult")]
    realm: String,
    /// UDP shards (threads of the data path); 0: one per core it may run
    /// on.
    #[arg(long, default_value_t = 0)]
    shards: usize,
}

fn main() -> ExitCode {
    tracing_subscriber_init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn tracing_subscriber_init() {
    // Quiet by default: the progress bar and the table are the output.
}

/// Returns whether every SLO held.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Consult(args) => rooms_command("consult", 2, args).await,
        Command::Rooms(args) => rooms_command("rooms", 3, args).await,
        Command::Storm(args) => {
            let rooms = args.joins.div_ceil(2);
            let rooms_args = RoomsArgs {
                rooms,
                rate: args.joins_per_second / 2.0,
                duration: args.duration,
                target: args.target,
                media: args.media,
                slo: args.slo,
                capacity: CapacityArgs {
                    find_capacity: false,
                    step: 1,
                    max: rooms,
                },
                output: args.output,
            };
            rooms_command("storm", 2, rooms_args).await
        }
        Command::RelayStress(args) => stress_command(args).await,
        Command::Relay(args) => relay_command(args).await,
        Command::Credentials { secret } => {
            let c = media::TurnCredentials::new(secret.into_bytes())?.issue(
                "uclient",
                "bench",
                Duration::from_secs(3600),
            )?;
            println!("{} {}", c.username, c.password);
            Ok(true)
        }
    }
}

#[derive(Debug, Serialize)]
struct RoomsReport<'a> {
    scenario: &'a str,
    room_size: u32,
    rate_rooms_per_second: f64,
    play_seconds: u64,
    /// The nodes loaded (room i on the i-th, modulo their number).
    targets: Vec<String>,
    relay_only: bool,
    ice_turn: Option<String>,
    video_kbps_target: u32,
    video_kbps_encoded: f64,
    /// AV1 base quantizer the clip was coded at to meet the target.
    video_quantizer: u8,
    /// The original encode's time, also when the clip came from the cache.
    encode_seconds: f64,
    /// Whether the clip was read from the clip cache rather than encoded.
    clip_from_cache: bool,
    slo: Slo,
    steps: Vec<Step<RoomsResult>>,
    held: bool,
    capacity_rooms: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Step<R> {
    load: u32,
    result: R,
    breaches: Vec<Breach>,
}

async fn targets_of(
    args: &TargetArgs,
) -> anyhow::Result<(Vec<Target>, Option<scenario::SpawnedServer>)> {
    if let Some(bin) = &args.spawn_server {
        let server = scenario::spawn_server(bin, &[]).await?;
        return Ok((vec![server.target.clone()], Some(server)));
    }
    anyhow::ensure!(
        !args.url.is_empty(),
        "give --url (with --api-token or --data) or --spawn-server"
    );
    anyhow::ensure!(
        args.server_pid.len() <= args.url.len(),
        "{} --server-pid for {} --url: give at most one per URL, in the same order",
        args.server_pid.len(),
        args.url.len()
    );
    let api_token = match (&args.api_token, &args.data) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => scenario::api_token_from(d)?,
        (None, None) => anyhow::bail!("give --api-token or --data to create acts"),
    };
    let targets = args
        .url
        .iter()
        .enumerate()
        .map(|(i, url)| Target {
            base_url: url.clone(),
            api_token: api_token.clone(),
            pid: args.server_pid.get(i).copied(),
        })
        .collect();
    Ok((targets, None))
}

async fn rooms_command(name: &str, room_size: u32, args: RoomsArgs) -> anyhow::Result<bool> {
    let (targets, _server) = targets_of(&args.target).await?;
    eprintln!(
        "media (rav1e AV1 640x360, opus): from the clip cache in {} if there, else encoding...",
        clip_cache::default_dir().display()
    );
    let media = Arc::new(EncodedMedia::load_or_encode(MediaSpec {
        video_bps: args.media.video_kbps * 1000,
        audio_bps: args.media.audio_kbps * 1000,
        clip_frames: args.media.clip_frames,
        ..MediaSpec::default()
    })?);
    match &media.origin {
        ClipOrigin::Cache { path, load_time } => eprintln!(
            "clip from the cache in {:.2} s: {} (encoded in {:.1} s by an earlier run)",
            load_time.as_secs_f64(),
            path.display(),
            media.encode_time.as_secs_f64(),
        ),
        ClipOrigin::Encoded { stored } => eprintln!(
            "clip encoded in {:.1} s (not in the cache); {}",
            media.encode_time.as_secs_f64(),
            stored
                .as_ref()
                .map_or("cache not written".to_owned(), |p| format!(
                    "cached as {}",
                    p.display()
                )),
        ),
    }
    eprintln!(
        "clip: {} frames ({} encodes to pick AV1 quantizer {}): \
         {:.0} kbit/s video for a {} kbit/s target, {:.0} packets/s per peer",
        media.video.len(),
        media.video_encodes,
        media.quantizer,
        media.video_bps() / 1000.0,
        args.media.video_kbps,
        media.packets_per_second()
    );
    let ratio = media.video_bitrate_ratio();
    if !(0.85..=1.15).contains(&ratio) {
        eprintln!(
            "warning: the clip's video bitrate is {:+.0} % off its target \
             (out of this test pattern's range at 640x360)",
            (ratio - 1.0) * 100.0
        );
    }
    let slo = args.slo.slo();
    let ice_timing = args.target.ice_timing()?;
    let ice_override = match (&args.target.ice_turn, &args.target.ice_secret) {
        (Some(url), Some(secret)) => Some(IceOverride {
            url: url.clone(),
            secret: secret.as_bytes().to_vec(),
        }),
        _ => None,
    };
    let mut search = if args.capacity.find_capacity {
        CapacitySearch::new(args.rooms, args.capacity.step, args.capacity.max)
    } else {
        CapacitySearch::new(args.rooms, 1, args.rooms)
    };
    let mut steps = Vec::new();
    let mut next_act = 0u64;
    while let Some(load) = search.current() {
        let cfg = RoomsConfig {
            rooms: load,
            room_size,
            rate: args.rate,
            play_for: Duration::from_secs(args.duration),
            relay_only: args.target.relay_only,
            ice_override: ice_override.clone(),
            ice_timing,
        };
        let bar = ProgressBar::new(u64::from(load));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:40} {pos}/{len} rooms done",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("{name} {load}×{room_size}"));
        let b = bar.clone();
        let result =
            scenario::run_rooms(&targets, media.clone(), &cfg, next_act, move || b.inc(1)).await?;
        bar.finish();
        next_act += u64::from(load);
        let breaches = slo.evaluate(&result.observed());
        print_rooms(load, &result, &breaches);
        search.record(breaches.clone());
        steps.push(Step {
            load,
            result,
            breaches,
        });
    }
    let held = steps.iter().all(|s| s.breaches.is_empty());
    if args.capacity.find_capacity {
        match search.last_held {
            Some(n) => println!("capacity: {n} rooms of {room_size} held the SLO"),
            None => println!("capacity: not even {} rooms held the SLO", args.rooms),
        }
    }
    let report = RoomsReport {
        scenario: name,
        room_size,
        rate_rooms_per_second: args.rate,
        play_seconds: args.duration,
        targets: targets.iter().map(|t| t.base_url.clone()).collect(),
        relay_only: args.target.relay_only,
        ice_turn: args.target.ice_turn.clone(),
        video_kbps_target: args.media.video_kbps,
        video_kbps_encoded: media.video_bps() / 1000.0,
        video_quantizer: media.quantizer,
        encode_seconds: media.encode_time.as_secs_f64(),
        clip_from_cache: matches!(media.origin, ClipOrigin::Cache { .. }),
        slo,
        capacity_rooms: search.last_held,
        held: if args.capacity.find_capacity {
            search.last_held.is_some()
        } else {
            held
        },
        steps,
    };
    if let Some(path) = &args.output.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.output.charts {
        rooms_charts(dir, name, &report)?;
    }
    Ok(report.held)
}

fn print_rooms(load: u32, r: &RoomsResult, breaches: &[Breach]) {
    println!(
        "\n{load} rooms of {}: {} participants, {} join failures, loss {:.3} %, frames {}/{} whole ({:.2} %)",
        r.room_size,
        r.participants,
        r.join_failures,
        r.loss * 100.0,
        r.frames_complete,
        r.frames_expected,
        r.frame_completeness * 100.0
    );
    println!("{}", report::header());
    for (name, unit, summary) in [
        ("join (WS open → admitted)", "ms", &r.join_ms),
        ("ICE connected", "ms", &r.ice_connected_ms),
        ("first whole frame", "ms", &r.first_frame_ms),
        ("one-way latency", "ms", &r.latency_ms),
        ("video jitter (RFC 3550)", "ms", &r.video_jitter_ms),
        ("audio jitter (RFC 3550)", "ms", &r.audio_jitter_ms),
        ("received video bitrate", "kbit/s", &r.video_kbps),
    ] {
        println!("{}", report::row(name, unit, summary));
    }
    if !r.server_cpu.is_empty() {
        let peak_cpu = r.server_cpu.iter().copied().fold(0.0, f64::max);
        let peak_rss = r.server_rss_bytes.iter().copied().max().unwrap_or(0);
        println!(
            "server: peak CPU {:.0} % of a core, peak RSS {:.1} MiB",
            peak_cpu * 100.0,
            peak_rss as f64 / 1048576.0
        );
        if r.nodes.len() > 1 {
            for n in &r.nodes {
                println!(
                    "  node {}: mean CPU {:.0} %, peak {:.0} % of a core",
                    n.base_url,
                    n.mean_cpu() * 100.0,
                    n.peak_cpu() * 100.0
                );
            }
        }
    }
    if !r.harness.cpu.is_empty() {
        println!(
            "harness: mean CPU {:.0} %, peak {:.0} % of a core",
            r.harness.mean_cpu() * 100.0,
            r.harness.peak_cpu() * 100.0
        );
    }
    for e in r.errors.iter().take(5) {
        println!("error: {e}");
    }
    report_breaches(breaches);
}

fn report_breaches(breaches: &[Breach]) {
    if breaches.is_empty() {
        println!("SLO held");
    } else {
        for b in breaches {
            println!("SLO BROKEN: {b}");
        }
    }
}

fn rooms_charts(dir: &std::path::Path, name: &str, report: &RoomsReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let last = report.steps.last().context("no step ran")?;
    let t = &last.result.timeline;
    let series = |n: &str, f: &dyn Fn(&scenario::TimelinePoint) -> f64| Series {
        name: n.into(),
        points: t.iter().map(|p| (p.second as f64, f(p))).collect(),
    };
    let cpu = Series {
        name: "server CPU".into(),
        points: last
            .result
            .server_cpu
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64 + 1.0, c * 100.0))
            .collect(),
    };
    report::chart(
        &dir.join(format!("{name}-time.svg")),
        &format!("{name}: {} rooms of {}", last.load, report.room_size),
        "seconds",
        &[
            Panel {
                y_label: "latency ms".into(),
                series: vec![
                    series("p50", &|p| p.latency_p50_ms),
                    series("p99", &|p| p.latency_p99_ms),
                ],
            },
            Panel {
                y_label: "loss %".into(),
                series: vec![series("loss", &|p| {
                    let all = p.received + p.lost;
                    if all == 0 {
                        0.0
                    } else {
                        p.lost as f64 * 100.0 / all as f64
                    }
                })],
            },
            Panel {
                y_label: "CPU % of a core".into(),
                series: vec![cpu],
            },
        ],
    )?;
    if report.steps.len() > 1 {
        let by_load = |n: &str, f: &dyn Fn(&RoomsResult) -> f64| Series {
            name: n.into(),
            points: report
                .steps
                .iter()
                .map(|s| (f64::from(s.load), f(&s.result)))
                .collect(),
        };
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        report::chart(
            &dir.join(format!("{name}-load.svg")),
            &format!("{name}: figures against load"),
            "rooms",
            &[
                Panel {
                    y_label: "latency ms".into(),
                    series: vec![
                        by_load("p50", &|r| r.latency_ms.p50),
                        by_load("p99", &|r| r.latency_ms.p99),
                    ],
                },
                Panel {
                    y_label: "loss %".into(),
                    series: vec![by_load("loss", &|r| r.loss * 100.0)],
                },
                Panel {
                    y_label: "server CPU %".into(),
                    series: vec![by_load("mean", &|r| mean(&r.server_cpu) * 100.0)],
                },
            ],
        )?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct StressReport {
    turn: String,
    flows: Vec<relay_stress::Flow>,
    duration_seconds: u64,
    slo: Slo,
    steps: Vec<Step<StressStep>>,
    capacity_sessions: Option<u32>,
    held: bool,
}

#[derive(Debug, Serialize)]
struct StressStep {
    relayed: StressResult,
    baseline: Option<StressResult>,
    /// Relayed minus baseline latency, ms.
    relay_added_p50_ms: Option<f64>,
    relay_added_p99_ms: Option<f64>,
}

async fn stress_command(args: StressArgs) -> anyhow::Result<bool> {
    let flows = match (args.size, args.pps) {
        (Some(size), Some(pps)) => vec![relay_stress::Flow {
            packets_per_second: pps,
            size,
        }],
        _ => StressConfig::consultation_flows(args.video_kbps * 1000),
    };
    let slo = args.slo.slo();
    let mut search = if args.capacity.find_capacity {
        CapacitySearch::new(args.sessions, args.capacity.step, args.capacity.max)
    } else {
        CapacitySearch::new(args.sessions, 1, args.sessions)
    };
    let mut steps = Vec::new();
    while let Some(load) = search.current() {
        let mut cfg = StressConfig {
            server: args.turn,
            secret: args.secret.as_bytes().to_vec(),
            sessions: load,
            flows: flows.clone(),
            duration: Duration::from_secs(args.duration),
            direct: false,
            peers_outside: args.peers_outside,
            relay_pid: args.relay_pid,
        };
        let bar = ProgressBar::new(args.duration);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:40} {pos}/{len} s {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("relay-stress {load} sessions"));
        let b = bar.clone();
        let relayed = relay_stress::run(&cfg, move |received| {
            b.inc(1);
            b.set_message(format!("{received} packets received"));
        })
        .await?;
        bar.finish_and_clear();
        let baseline = if args.baseline {
            cfg.direct = true;
            cfg.relay_pid = None;
            Some(relay_stress::run(&cfg, |_| {}).await?)
        } else {
            None
        };
        let observed = Observed {
            loss: relayed.loss,
            p99_latency_ms: relayed.latency_ms.p99,
            join_failures: relayed.setup_failures,
            packets_expected: relayed.sent,
        };
        let breaches = slo.evaluate(&observed);
        let step = StressStep {
            relay_added_p50_ms: baseline
                .as_ref()
                .map(|b| relayed.latency_ms.p50 - b.latency_ms.p50),
            relay_added_p99_ms: baseline
                .as_ref()
                .map(|b| relayed.latency_ms.p99 - b.latency_ms.p99),
            relayed,
            baseline,
        };
        print_stress(load, &step, &breaches);
        search.record(breaches.clone());
        steps.push(Step {
            load,
            result: step,
            breaches,
        });
    }
    let held = if args.capacity.find_capacity {
        search.last_held.is_some()
    } else {
        steps.iter().all(|s| s.breaches.is_empty())
    };
    if args.capacity.find_capacity {
        match search.last_held {
            Some(n) => println!("capacity: {n} relayed sessions held the SLO"),
            None => println!("capacity: not even {} sessions held the SLO", args.sessions),
        }
    }
    let report = StressReport {
        turn: args.turn.to_string(),
        flows,
        duration_seconds: args.duration,
        slo,
        capacity_sessions: search.last_held,
        held,
        steps,
    };
    if let Some(path) = &args.output.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.output.charts {
        stress_charts(dir, &report)?;
    }
    Ok(held)
}

fn print_stress(load: u32, s: &StressStep, breaches: &[Breach]) {
    let r = &s.relayed;
    println!(
        "\n{load} sessions, {:.0} packets/s offered: sent {}, received {}, loss {:.3} %, setup failures {}",
        r.offered_pps,
        r.sent,
        r.received,
        r.loss * 100.0,
        r.setup_failures
    );
    for e in &r.setup_errors {
        println!("  setup failed: {e}");
    }
    if r.release_failures > 0 {
        println!("  allocations not released: {}", r.release_failures);
        for e in &r.release_errors {
            println!("  release failed: {e}");
        }
    }
    println!("{}", report::header());
    println!(
        "{}",
        report::row("one-way latency via relay", "ms", &r.latency_ms)
    );
    if let Some(b) = &s.baseline {
        println!(
            "{}",
            report::row("one-way latency direct", "ms", &b.latency_ms)
        );
    }
    println!(
        "{}",
        report::row("allocate+permission+bind", "ms", &r.setup_ms)
    );
    println!("jitter (RFC 3550, mean of streams): {:.3} ms", r.jitter_ms);
    if let (Some(a), Some(b)) = (s.relay_added_p50_ms, s.relay_added_p99_ms) {
        println!("relay-added latency: p50 {a:.3} ms, p99 {b:.3} ms");
    }
    if let Some(cpu) = r.relay_cpu_seconds {
        println!(
            "relay: {:.2} s CPU ({:.0} % of a core), {:.2} µs per packet delivered ({:.2} µs per forward)",
            cpu,
            cpu * 100.0 / (r.timeline.len().max(1) as f64),
            r.relay_cpu_us_per_packet.unwrap_or(0.0),
            r.relay_cpu_us_per_packet.unwrap_or(0.0) / 2.0
        );
    }
    if let Some(h) = r.harness_cpu_seconds {
        println!(
            "harness: {:.0} % of a core while sending",
            h * 100.0 / (r.timeline.len().max(1) as f64)
        );
    }
    if let (Some(idle), Some(alloc), Some(per)) = (
        r.relay_rss_idle,
        r.relay_rss_allocated,
        r.relay_bytes_per_allocation,
    ) {
        println!(
            "relay RSS: {:.1} MiB idle, {:.1} MiB with the allocations, {:.1} KiB per allocation",
            idle as f64 / 1048576.0,
            alloc as f64 / 1048576.0,
            per / 1024.0
        );
    }
    if let (Some(idle), Some(alloc), Some(per)) = (
        r.relay_anon_idle,
        r.relay_anon_allocated,
        r.relay_anon_bytes_per_allocation,
    ) {
        println!(
            "relay anonymous memory (RSS less the binary's code pages): {:.1} MiB idle, {:.1} MiB with the allocations, {:.2} KiB per allocation",
            idle as f64 / 1048576.0,
            alloc as f64 / 1048576.0,
            per / 1024.0
        );
    }
    report_breaches(breaches);
}

fn stress_charts(dir: &std::path::Path, report: &StressReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let last = report.steps.last().context("no step ran")?;
    let t = &last.result.relayed.timeline;
    let mut prev = (0u64, 0u64);
    let per_second: Vec<(f64, f64, f64)> = t
        .iter()
        .map(|s| {
            let sent = s.sent - prev.0;
            let got = s.received - prev.1;
            prev = (s.sent, s.received);
            (f64::from(s.second), sent as f64, got as f64)
        })
        .collect();
    report::chart(
        &dir.join("relay-stress-time.svg"),
        &format!("relay-stress: {} sessions via {}", last.load, report.turn),
        "seconds",
        &[
            Panel {
                y_label: "packets/s".into(),
                series: vec![
                    Series {
                        name: "sent".into(),
                        points: per_second.iter().map(|p| (p.0, p.1)).collect(),
                    },
                    Series {
                        name: "received".into(),
                        points: per_second.iter().map(|p| (p.0, p.2)).collect(),
                    },
                ],
            },
            Panel {
                y_label: "relay CPU % of a core".into(),
                series: vec![Series {
                    name: "relay CPU".into(),
                    points: t
                        .iter()
                        .filter_map(|s| s.relay_cpu.map(|c| (f64::from(s.second), c * 100.0)))
                        .collect(),
                }],
            },
        ],
    )?;
    if report.steps.len() > 1 {
        let by_load = |n: &str, f: &dyn Fn(&StressStep) -> Option<f64>| Series {
            name: n.into(),
            points: report
                .steps
                .iter()
                .filter_map(|s| f(&s.result).map(|v| (f64::from(s.load), v)))
                .collect(),
        };
        let cpu_share = |s: &StressStep| {
            s.relayed
                .relay_cpu_seconds
                .map(|c| c * 100.0 / report.duration_seconds.max(1) as f64)
        };
        report::chart(
            &dir.join("relay-stress-load.svg"),
            &format!("relay-stress via {}: figures against load", report.turn),
            "sessions (relayed 1:1 consultations)",
            &[
                Panel {
                    y_label: "latency ms".into(),
                    series: vec![
                        by_load("p50", &|s| Some(s.relayed.latency_ms.p50)),
                        by_load("p99", &|s| Some(s.relayed.latency_ms.p99)),
                    ],
                },
                Panel {
                    y_label: "loss %".into(),
                    series: vec![by_load("loss", &|s| Some(s.relayed.loss * 100.0))],
                },
                Panel {
                    y_label: "relay CPU % of a core".into(),
                    series: vec![by_load("relay CPU", &cpu_share)],
                },
            ],
        )?;
    }
    Ok(())
}

async fn relay_command(args: RelayArgs) -> anyhow::Result<bool> {
    let credentials = Arc::new(media::TurnCredentials::new(args.secret.into_bytes())?);
    let mut config = media::RelayConfig::loopback(args.realm);
    config.udp_listen = Some(args.listen);
    config.tcp_listen = None;
    config.udp_shards = args.shards;
    config.relay_ip = args.listen.ip();
    config.max_allocations_total = 100_000;
    // turnutils_uclient runs all its clients under one username.
    config.max_allocations_per_participant = 1_000;
    config.max_allocations_per_act = 1_000;
    let relay = media::Relay::start(config, credentials).await?;
    println!(
        "relay listening on {} (pid {})",
        relay.udp_addr().map(|a| a.to_string()).unwrap_or_default(),
        std::process::id()
    );
    tokio::signal::ctrl_c().await?;
    relay.stop().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, targets_of};

    fn target_args(args: &[&str]) -> super::TargetArgs {
        let cli = Cli::try_parse_from(
            ["teleconsult-load", "consult", "--api-token", "t"]
                .iter()
                .chain(args),
        )
        .expect("the arguments parse");
        match cli.command {
            Command::Consult(a) => a.target,
            other => panic!("not consult: {other:?}"),
        }
    }

    fn targets(args: &[&str]) -> anyhow::Result<Vec<load_tests::scenario::Target>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async { targets_of(&target_args(args)).await.map(|(t, _)| t) })
    }

    #[test]
    fn relay_only_bots_take_the_quick_ice_timers_unless_told_otherwise() {
        use load_tests::participant::IceTiming;
        use std::time::Duration;
        let t = |args: &[&str]| target_args(args).ice_timing();
        assert_eq!(t(&[]).unwrap(), IceTiming::default());
        assert_eq!(t(&["--relay-only"]).unwrap(), IceTiming::RELAYED);
        let mixed = t(&["--relay-only", "--ice-keepalive-ms", "500"]).unwrap();
        assert_eq!(mixed.keepalive, Duration::from_millis(500));
        assert_eq!(mixed.check_interval, Duration::from_millis(20));
        let e = t(&["--ice-check-interval-ms", "0"]).unwrap_err();
        assert!(e.to_string().contains("1 to 10000"), "{e}");
        let e = t(&["--relay-only", "--ice-max-binding-requests", "0"]).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn repeated_urls_are_nodes_each_with_its_own_pid_in_order() {
        let t = targets(&[
            "--url",
            "http://127.0.0.1:1",
            "--url",
            "http://127.0.0.1:2",
            "--server-pid",
            "11",
        ])
        .expect("two targets");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].base_url, "http://127.0.0.1:1");
        assert_eq!(t[0].pid, Some(11));
        assert_eq!(t[1].base_url, "http://127.0.0.1:2");
        assert_eq!(t[1].pid, None);
        assert!(t.iter().all(|t| t.api_token == "t"));
    }

    #[test]
    fn more_pids_than_urls_or_no_url_is_refused_with_a_clear_error() {
        let e = targets(&[
            "--url",
            "http://127.0.0.1:1",
            "--server-pid",
            "1",
            "--server-pid",
            "2",
        ])
        .expect_err("two pids for one URL");
        assert!(e.to_string().contains("2 --server-pid for 1 --url"), "{e}");
        let e = targets(&[]).expect_err("no URL");
        assert!(e.to_string().contains("give --url"), "{e}");
    }
}
