//! Helpers shared by the relay tests: a relay on loopback, credentials,
//! a TLS certificate, and coturn's `turnutils_uclient`.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use media::{Relay, RelayConfig, TlsConfig, TurnCredentials};

pub const SECRET: &str = "test-shared-secret";
pub const REALM: &str = "teleconsult.test";

pub fn credentials() -> Arc<TurnCredentials> {
    Arc::new(TurnCredentials::new(SECRET).expect("secret"))
}

/// A relay on 127.0.0.1 (UDP and TCP, ephemeral ports).
pub async fn loopback_relay(credentials: Arc<TurnCredentials>) -> Relay {
    Relay::start(RelayConfig::loopback(REALM), credentials)
        .await
        .expect("relay starts")
}

/// A self-signed certificate for `localhost`, written as PEM files in
/// `dir`.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("rcgen certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

/// A relay on 127.0.0.1 with UDP, TCP and TLS.
pub async fn loopback_relay_with_tls(credentials: Arc<TurnCredentials>, dir: &Path) -> Relay {
    let (cert_pem, key_pem) = self_signed_cert(dir);
    let mut config = RelayConfig::loopback(REALM);
    config.tls = Some(TlsConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cert_pem,
        key_pem,
    });
    Relay::start(config, credentials)
        .await
        .expect("relay starts")
}

/// How to reach the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn addr(self, relay: &Relay) -> SocketAddr {
        match self {
            Transport::Udp => relay.udp_addr(),
            Transport::Tcp => relay.tcp_addr(),
            Transport::Tls => relay.tls_addr(),
        }
        .expect("listener configured")
    }
}

/// What `turnutils_uclient` printed at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct UclientReport {
    pub sent: Option<u64>,
    pub received: Option<u64>,
    pub lost: Option<u64>,
    pub status: Option<i32>,
    pub output: String,
}

/// Whether coturn's test client is installed.
pub fn uclient_available() -> bool {
    std::process::Command::new("turnutils_uclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A `turnutils_uclient` command in client-to-client mode (`-y`) against
/// the relay: `clients` clients (in pairs) each send `messages` messages
/// of `length` bytes, 5 ms apart. Add arguments before spawning it;
/// the server address comes last and is added by [`finish_uclient`].
#[allow(clippy::too_many_arguments)]
pub fn uclient_command(
    relay: &Relay,
    transport: Transport,
    username: &str,
    password: &str,
    messages: u32,
    length: u32,
    clients: u32,
) -> tokio::process::Command {
    assert!(
        uclient_available(),
        "turnutils_uclient is missing: run scripts/install-deps.sh (Debian package coturn)"
    );
    let addr = transport.addr(relay);
    let mut cmd = tokio::process::Command::new("turnutils_uclient");
    cmd.args(["-y", "-u", username, "-w", password])
        .args(["-n", &messages.to_string()])
        .args(["-l", &length.to_string()])
        .args(["-m", &clients.to_string()])
        .args(["-z", "5"])
        .args(["-p", &addr.port().to_string()]);
    match transport {
        Transport::Udp => {}
        Transport::Tcp => {
            cmd.arg("-t");
        }
        Transport::Tls => {
            cmd.args(["-t", "-S"]);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Adds the server address and starts the command.
pub fn spawn_uclient(
    mut cmd: tokio::process::Command,
    relay: &Relay,
    transport: Transport,
) -> tokio::process::Child {
    cmd.arg(transport.addr(relay).ip().to_string());
    cmd.spawn().expect("spawn turnutils_uclient")
}

/// Waits for a uclient process (killed after `deadline`) and reads its
/// report.
pub async fn finish_uclient(child: tokio::process::Child, deadline: Duration) -> UclientReport {
    let out = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("turnutils_uclient did not finish within {deadline:?}"))
        .expect("turnutils_uclient output");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    let mut report = parse_uclient(&output);
    report.status = out.status.code();
    report.output = output;
    report
}

/// Runs `turnutils_uclient` (see [`uclient_command`]) to its end.
#[allow(clippy::too_many_arguments)]
pub async fn run_uclient(
    relay: &Relay,
    transport: Transport,
    username: &str,
    password: &str,
    messages: u32,
    length: u32,
    clients: u32,
    deadline: Duration,
) -> UclientReport {
    let cmd = uclient_command(
        relay, transport, username, password, messages, length, clients,
    );
    finish_uclient(spawn_uclient(cmd, relay, transport), deadline).await
}

/// Polls `condition` every 10 ms until it holds, or panics after
/// `deadline` with `what`.
pub async fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads the totals of a uclient run: `tot_send_msgs=N, tot_recv_msgs=M`
/// and `Total lost packets L (...)`.
pub fn parse_uclient(output: &str) -> UclientReport {
    let number_after = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    let mut report = UclientReport::default();
    for line in output.lines() {
        if let Some(n) = number_after(line, "tot_send_msgs=") {
            report.sent = Some(n);
        }
        if let Some(n) = number_after(line, "tot_recv_msgs=") {
            report.received = Some(n);
        }
        if let Some(n) = number_after(line, "Total lost packets") {
            report.lost = Some(n);
        }
    }
    report
}
