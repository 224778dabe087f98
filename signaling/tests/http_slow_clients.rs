//! The server holds under slow clients, as `teleconsult serve` listens:
//! 300 half-open TLS connections (connected, no or a partial ClientHello)
//! do not stop `/healthz` answering another client within a second, the
//! connections over the per-address cap are closed at once, and a client
//! that sends its request head slowly (slowloris) or not at all is cut.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::server::{TIMEOUT, TestServer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Accepts exactly the test server's self-signed certificate.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the test certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn test_certificate(server: &TestServer) -> CertificateDer<'static> {
    let pem = std::fs::read_to_string(server.dir.path().join("tls/cert.pem")).expect("cert.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    CertificateDer::from(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("PEM base64"),
    )
}

/// `GET /healthz` over TLS from the loopback address `from`; the body.
fn healthz_over_tls(
    addr: SocketAddr,
    from: IpAddr,
    cert: CertificateDer<'static>,
) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
        .with_no_client_auth();
    let socket = std::net::TcpStream::from(socket2_connect(addr, from)?);
    socket.set_read_timeout(Some(TIMEOUT))?;
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("localhost").expect("name"),
    )
    .map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, socket);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // The server may close without close_notify after the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A blocking TCP connection to `addr` from the local address `from`.
fn socket2_connect(addr: SocketAddr, from: IpAddr) -> std::io::Result<std::os::fd::OwnedFd> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stream = rt.block_on(async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        socket.connect(addr).await
    })?;
    let std = stream.into_std()?;
    std.set_nonblocking(false)?;
    Ok(std.into())
}

/// Counts the connections the server closed: each is read until EOF.
fn watch_close(mut stream: TcpStream, closed: Arc<AtomicUsize>, notify: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        closed.fetch_add(1, Ordering::SeqCst);
        notify.notify_one();
    });
}

/// Waits until `closed` reaches `n`, within [`TIMEOUT`].
async fn wait_closed(closed: &AtomicUsize, notify: &tokio::sync::Notify, n: usize) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while closed.load(Ordering::SeqCst) < n {
        let left = closed.load(Ordering::SeqCst);
        tokio::time::timeout_at(deadline, notify.notified())
            .await
            .unwrap_or_else(|_| {
                panic!("only {left} of {n} connections were closed in {TIMEOUT:?}")
            });
    }
}

const PER_CLIENT: usize = 64;
const HALF_OPEN: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_tls_connections_do_not_stop_healthz() {
    let server = TestServer::start_served(true, |c| {
        c.http.connections_per_client = PER_CLIENT;
        // Longer than the test: the held connections stay held.
        c.http.tls_handshake_secs = 120;
        c.http.header_read_secs = 120;
    })
    .await;
    let cert = test_certificate(&server);
    let closed = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let mut held = Vec::new();
    for i in 0..HALF_OPEN {
        let mut s = TcpStream::connect(server.addr).await.expect("connect");
        if i % 2 == 1 {
            // The start of a ClientHello record, never finished.
            let _ = s
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
                .await;
        }
        held.push(s);
    }
    for s in held {
        watch_close(s, closed.clone(), notify.clone());
    }
    // Those over the per-address cap are closed at once.
    wait_closed(&closed, &notify, HALF_OPEN - PER_CLIENT).await;

    // Another client is served within a second.
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::task::spawn_blocking(move || {
            healthz_over_tls(server.addr, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), cert)
        }),
    )
    .await
    .expect("/healthz answers within a second")
    .expect("the client ran")
    .expect("/healthz over TLS");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains(r#""status":"ok""#),
        "{answer}"
    );
    eprintln!(
        "healthz over TLS beside {HALF_OPEN} half-open: {:?}",
        started.elapsed()
    );
    assert_eq!(
        closed.load(Ordering::SeqCst),
        HALF_OPEN - PER_CLIENT,
        "the connections within the cap are held, not closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_silent_request_head_is_cut() {
    let server = TestServer::start_served(false, |c| c.http.header_read_secs = 1).await;
    // Slowloris: a request head that never ends, one byte at a time.
    // Timed from before the connection: the server's clock starts later.
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("send");
    let cut = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 256];
        loop {
            // The attacker's pace, not a synchronisation.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                // hyper may answer 408 before closing.
                Ok(Ok(_)) => continue,
                Err(_) => continue,
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the slow head is still being read after 5 s");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "cut too soon: {took:?}");

    // A connection that sends nothing is cut as well.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a silent connection is still open after 5 s");

    // A normal request is served.
    let mut ok = TcpStream::connect(server.addr).await.expect("connect");
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, ok.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}
