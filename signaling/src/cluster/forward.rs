//! Forwarding a participant's WebSocket to the node that owns its act
//! (docs/OWNERSHIP.md, "Reaching the owner").
//!
//! A node that accepts a participant whose act another live node holds
//! opens a WebSocket of its own to the owner's advertised address, with a
//! node link token in [`LINK_HEADER`], replays the participant's `hello`
//! there, and then copies frames both ways unchanged until either side
//! closes. The owner checks the token before the upgrade, then serves the
//! participant as if it had connected directly: the invitation in the
//! `hello` is checked there again, and the welcome carries the owner's own
//! relay credentials. A forwarded connection is never forwarded again.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{self, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// The request header a forwarding node's connection carries its node
/// link token in.
pub const LINK_HEADER: &str = "teleconsult-node-link";

/// How long opening the link to the owner may take (TCP, TLS and the
/// WebSocket handshake) before the participant is told to retry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The node a participant is forwarded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub node: ownership::NodeId,
    /// Its advertised base URL (`http://` or `https://`).
    pub address: String,
}

impl Peer {
    /// The owner's WebSocket endpoint: the advertised base URL with
    /// `ws`/`wss` for `http`/`https`, and `/ws`.
    pub fn ws_url(&self) -> Option<String> {
        let base = self.address.trim_end_matches('/');
        if let Some(rest) = base.strip_prefix("https://") {
            Some(format!("wss://{rest}/ws"))
        } else {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}/ws"))
        }
    }
}

/// Why the link to the owner could not be opened (logged; the participant
/// is told to retry).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the owner's advertised address {0:?} is not an http(s) URL")]
    Address(String),
    #[error("the owner did not answer within {CONNECT_TIMEOUT:?}")]
    Timeout,
    #[error("could not reach the owner: {0}")]
    Connect(#[source] std::io::Error),
    #[error("TLS to the owner failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("the owner refused the node link: {0}")]
    Handshake(#[source] tungstenite::Error),
}

/// How the forwarding node trusts its peers' certificates over `wss://`.
pub type PeerTls = Arc<rustls::ClientConfig>;

/// The TLS settings for links to peers over `https://`: the public web
/// roots, plus the certificates this node serves with (`own_cert`, a PEM
/// chain), so that nodes sharing one certificate, a self-signed one copied
/// to each included, trust each other.
pub fn peer_tls(own_cert: Option<&std::path::Path>) -> Result<PeerTls, crate::Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = own_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|_| crate::Error::PeerCertificate(path.to_path_buf()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|_| crate::Error::PeerCertificate(path.to_path_buf()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| crate::Error::PeerCertificate(own_cert.map(Into::into).unwrap_or_default()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How a forwarded connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The participant closed, or went away.
    ByParticipant,
    /// The owner closed it (its close frame was passed on).
    ByOwner,
    /// The link to the owner broke without a close (the owner died or the
    /// network between the nodes failed): the participant was told to
    /// retry, and its next connection claims the act if the owner is gone.
    LinkLost,
    /// This node is stopping: the participant was told to retry (and
    /// lands on another node).
    Stopping,
}

/// Opens the WebSocket link to `peer` for one participant, with `link`
/// (a node link token) in [`LINK_HEADER`].
pub async fn connect(
    peer: &Peer,
    link: &str,
    tls: &PeerTls,
) -> Result<WebSocketStream<Box<dyn Stream>>, ForwardError> {
    let url = peer
        .ws_url()
        .ok_or_else(|| ForwardError::Address(peer.address.clone()))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| ForwardError::Address(peer.address.clone()))?;
    let value = link
        .parse()
        .map_err(|_| ForwardError::Address(peer.address.clone()))?;
    request.headers_mut().insert(LINK_HEADER, value);
    let uri = request.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| ForwardError::Address(peer.address.clone()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let open = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(ForwardError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if secure {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| ForwardError::Address(peer.address.clone()))?;
            let tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(ForwardError::Tls)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (socket, _response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(ForwardError::Handshake)?;
        Ok(socket)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| ForwardError::Timeout)?
}

/// A byte stream to a peer node: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Copies frames between the participant and the owner until either
/// closes; `hello` (the participant's first frame, already read here) is
/// sent to the owner first. Pings and pongs are not copied: each hop keeps
/// its own connection alive (the owner pings this node, which answers).
pub async fn pump(
    participant: WebSocket,
    owner: WebSocketStream<Box<dyn Stream>>,
    hello: String,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Ended {
    let (mut to_participant, mut from_participant) = participant.split();
    let (mut to_owner, mut from_owner) = owner.split();
    if to_owner
        .send(tungstenite::Message::text(hello))
        .await
        .is_err()
    {
        let _ = to_participant.send(retry_close()).await;
        return Ended::LinkLost;
    }
    loop {
        tokio::select! {
            () = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => {
                let _ = to_owner.send(tungstenite::Message::Close(None)).await;
                let _ = to_participant.send(retry_close()).await;
                return Ended::Stopping;
            }
            msg = from_participant.next() => {
                let msg = match msg {
                    Some(Ok(ws::Message::Close(frame))) => {
                        let _ = to_owner
                            .send(tungstenite::Message::Close(frame.map(close_to_owner)))
                            .await;
                        return Ended::ByParticipant;
                    }
                    Some(Ok(msg)) => msg,
                    // Gone without a close.
                    Some(Err(_)) | None => {
                        let _ = to_owner.send(tungstenite::Message::Close(None)).await;
                        return Ended::ByParticipant;
                    }
                };
                let msg = match msg {
                    ws::Message::Text(t) => tungstenite::Message::text(t.as_str()),
                    ws::Message::Binary(b) => tungstenite::Message::Binary(b),
                    ws::Message::Ping(_) | ws::Message::Pong(_) | ws::Message::Close(_) => continue,
                };
                if to_owner.send(msg).await.is_err() {
                    let _ = to_participant.send(retry_close()).await;
                    return Ended::LinkLost;
                }
            }
            msg = from_owner.next() => {
                let msg = match msg {
                    Some(Ok(tungstenite::Message::Close(frame))) => {
                        let _ = to_participant
                            .send(ws::Message::Close(frame.map(close_to_participant)))
                            .await;
                        return Ended::ByOwner;
                    }
                    Some(Ok(tungstenite::Message::Text(t))) => ws::Message::Text(t.as_str().into()),
                    Some(Ok(tungstenite::Message::Binary(b))) => ws::Message::Binary(b),
                    Some(Ok(_)) => continue,
                    // The owner died, or the network between the nodes broke.
                    Some(Err(_)) | None => {
                        let _ = to_participant.send(retry_close()).await;
                        return Ended::LinkLost;
                    }
                };
                if to_participant.send(msg).await.is_err() {
                    let _ = to_owner.send(tungstenite::Message::Close(None)).await;
                    return Ended::ByParticipant;
                }
            }
        }
    }
}

fn close_to_owner(frame: ws::CloseFrame) -> tungstenite::protocol::CloseFrame {
    tungstenite::protocol::CloseFrame {
        code: frame.code.into(),
        reason: frame.reason.as_str().into(),
    }
}

fn close_to_participant(frame: tungstenite::protocol::CloseFrame) -> ws::CloseFrame {
    ws::CloseFrame {
        code: frame.code.into(),
        reason: frame.reason.as_str().into(),
    }
}

/// The close a participant gets when the link to the owner cannot be
/// opened or breaks: 4011 `retry_after:SECONDS`, as when ownership is
/// unavailable; its next connection lands on a live node.
pub fn retry_close() -> ws::Message {
    ws::Message::Close(Some(ws::CloseFrame {
        code: 4011,
        reason: format!("retry_after:{}", super::OWNERSHIP_RETRY_SECS).into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str) -> Peer {
        Peer {
            node: ownership::NodeId::new("node-b").unwrap(),
            address: address.to_owned(),
        }
    }

    #[test]
    fn the_owners_websocket_url_follows_its_advertised_scheme() {
        assert_eq!(
            peer("https://10.0.0.5:8443").ws_url().as_deref(),
            Some("wss://10.0.0.5:8443/ws")
        );
        assert_eq!(
            peer("http://127.0.0.1:8080/").ws_url().as_deref(),
            Some("ws://127.0.0.1:8080/ws")
        );
        assert_eq!(peer("ftp://x").ws_url(), None);
    }
}
