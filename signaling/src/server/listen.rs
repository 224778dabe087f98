//! Listening: TLS or plain HTTP on loopback, the connection caps, and the
//! TLS handshake and header-read timeouts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::Error;
use crate::throttle::{ConnCaps, ConnSlot, HttpLimits};

/// How the server listens.
#[derive(Clone, Debug)]
pub enum Tls {
    /// PEM certificate chain and key files.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP, allowed on loopback only, for development and tests.
    Off,
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, created under
/// `dir` on first start and reused after.
pub fn self_signed(dir: &Path) -> Result<Tls, Error> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if !cert.exists() || !key.exists() {
        std::fs::create_dir_all(dir).map_err(|e| Error::file("create", dir, e))?;
        let generated = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .map_err(Error::Certificate)?;
        write_private(&key, &generated.signing_key.serialize_pem())?;
        std::fs::write(&cert, generated.cert.pem()).map_err(|e| Error::file("write", &cert, e))?;
    }
    Ok(Tls::Files { cert, key })
}

fn write_private(path: &Path, content: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|e| Error::file("write", path, e))
}

/// Binds `addr` for [`serve_on`], refusing plain HTTP off loopback.
pub fn bind(addr: SocketAddr, tls: &Tls) -> Result<std::net::TcpListener, Error> {
    if matches!(tls, Tls::Off) && !addr.ip().is_loopback() {
        return Err(Error::PlainHttpOffLoopback(addr));
    }
    std::net::TcpListener::bind(addr).map_err(|cause| Error::Listen { addr, cause })
}

/// Serves `app` on a bound `listener` (tests bind their own). Every
/// accepted connection first takes a place in [`ConnCaps`] (over a cap it
/// is closed at once, before any TLS work); a TLS handshake must end within
/// `tls_handshake_secs`; a request head must arrive within
/// `header_read_secs`.
pub async fn serve_on(
    listener: std::net::TcpListener,
    app: Router,
    tls: Tls,
    limits: &HttpLimits,
) -> Result<(), Error> {
    serve_with(listener, app, tls, limits, Handle::new()).await
}

/// [`serve_on`], stopped through `handle`: after
/// `handle.graceful_shutdown`, no connection is accepted, and this returns
/// once the open HTTP connections have ended (WebSockets live on their
/// own tasks, closed by their rooms).
pub(super) async fn serve_with(
    listener: std::net::TcpListener,
    app: Router,
    tls: Tls,
    limits: &HttpLimits,
    handle: Handle<SocketAddr>,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    if matches!(tls, Tls::Off) && !addr.ip().is_loopback() {
        return Err(Error::PlainHttpOffLoopback(addr));
    }
    let capped = Capped {
        caps: ConnCaps::new(limits),
    };
    let header_read = Duration::from_secs(limits.header_read_secs.max(1));
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    // A connection that sends no request at all is dropped as well.
    let server = axum_server::from_tcp(listener)
        .map_err(Error::Serve)?
        .first_request_timeout(header_read)
        .handle(handle);
    match tls {
        Tls::Off => {
            let mut server = server.acceptor(capped);
            // axum-server installs hyper's timer but turns this off.
            server
                .http_builder()
                .http1()
                .header_read_timeout(header_read);
            server.serve(make).await.map_err(Error::Serve)
        }
        Tls::Files { cert, key } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(|cause| Error::LoadCertificate {
                    path: cert.clone(),
                    cause,
                })?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(Duration::from_secs(limits.tls_handshake_secs.max(1)))
                .acceptor(capped);
            let mut server = server.acceptor(acceptor);
            // axum-server installs hyper's timer but turns this off.
            server
                .http_builder()
                .http1()
                .header_read_timeout(header_read);
            server.serve(make).await.map_err(Error::Serve)
        }
    }
}

/// The acceptor that gives each connection its place in [`ConnCaps`], or
/// closes it.
#[derive(Clone, Debug)]
struct Capped {
    caps: Arc<ConnCaps>,
}

impl<S> axum_server::accept::Accept<TcpStream, S> for Capped {
    type Stream = Held;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(Held, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.caps.admit(peer.ip()));
        std::future::ready(match admitted {
            Some(slot) => {
                let _ = stream.set_nodelay(true);
                Ok((
                    Held {
                        stream,
                        _slot: slot,
                    },
                    service,
                ))
            }
            // Dropping the stream closes it.
            None => Err(std::io::Error::other("over the connection cap")),
        })
    }
}

/// A connection holding its place in [`ConnCaps`] until it is dropped.
#[derive(Debug)]
struct Held {
    stream: TcpStream,
    _slot: ConnSlot,
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
