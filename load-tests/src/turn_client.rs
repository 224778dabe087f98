//! A small TURN client over UDP for relay-stress: Allocate with long-term
//! (TURN REST API) credentials, CreatePermission, ChannelBind, then
//! ChannelData. Messages are built and read with the `stun` and `turn`
//! crates' types; the driver is one UDP socket per client.
//!
//! It does not refresh allocations (600 s), permissions (300 s) or
//! channels (600 s): a stress step lasts far less. [`TurnClient::release`]
//! deletes the allocation (Refresh with lifetime 0).

use std::net::SocketAddr;
use std::time::Duration;

use crate::{Error, Result};

use stun::agent::TransactionId;
use stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use stun::error_code::ErrorCodeAttribute;
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, Getter, METHOD_ALLOCATE,
    METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_REFRESH, Message, MessageType, Setter,
};
use stun::textattrs::TextAttribute;
use tokio::net::UdpSocket;
use turn::proto::PROTO_UDP;
use turn::proto::channum::ChannelNumber;
use turn::proto::lifetime::Lifetime;
use turn::proto::peeraddr::PeerAddress;
use turn::proto::relayaddr::RelayedAddress;
use turn::proto::reqtrans::RequestedTransport;

/// The channel every stress client binds (one peer each).
pub const CHANNEL: u16 = 0x4000;

/// Long-term credentials and the server's realm and nonce once known.
#[derive(Debug, Clone)]
struct Auth {
    username: String,
    password: String,
    realm: String,
    nonce: String,
}

/// Builds a request of `method` with `attrs`, authenticated when `auth`
/// is given (USERNAME, REALM, NONCE, MESSAGE-INTEGRITY, FINGERPRINT).
fn request(
    method: stun::message::Method,
    attrs: Vec<Box<dyn Setter>>,
    auth: Option<&Auth>,
) -> Result<Message> {
    let mut setters: Vec<Box<dyn Setter>> = vec![
        Box::new(TransactionId::new()),
        Box::new(MessageType::new(method, CLASS_REQUEST)),
    ];
    setters.extend(attrs);
    if let Some(a) = auth {
        setters.push(Box::new(TextAttribute::new(
            ATTR_USERNAME,
            a.username.clone(),
        )));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, a.realm.clone())));
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, a.nonce.clone())));
        setters.push(Box::new(MessageIntegrity::new_long_term_integrity(
            a.username.clone(),
            a.realm.clone(),
            a.password.clone(),
        )));
    }
    setters.push(Box::new(FINGERPRINT));
    let mut m = Message::new();
    m.build(&setters)?;
    Ok(m)
}

/// Encodes a ChannelData message (RFC 8656 §12.4): channel number, length,
/// data. Over UDP no padding is needed.
pub fn channel_data(channel: u16, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Splits a ChannelData message into its channel and data.
pub fn parse_channel_data(buf: &[u8]) -> Option<(u16, &[u8])> {
    if buf.len() < 4 || buf[0] & 0xc0 != 0x40 {
        return None;
    }
    let channel = u16::from_be_bytes([buf[0], buf[1]]);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    buf.get(4..4 + len).map(|d| (channel, d))
}

/// A client with an allocation on a TURN server.
#[derive(Debug)]
pub struct TurnClient {
    pub socket: std::sync::Arc<UdpSocket>,
    pub server: SocketAddr,
    /// The relayed transport address the server gave us.
    pub relayed: SocketAddr,
    auth: Auth,
}

/// Sends `m` and waits for the answer with its transaction id, resending
/// after 250 ms, 500 ms, 1 s (RFC 8489 backoff, shortened for loopback).
async fn transact(socket: &UdpSocket, m: &Message) -> Result<Message> {
    let mut buf = vec![0u8; 2048];
    let mut wait = Duration::from_millis(250);
    for _ in 0..5 {
        socket.send(&m.raw).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Ok(r) => r?,
                Err(_) => break,
            };
            let mut answer = Message::new();
            answer.raw = buf[..n].to_vec();
            if answer.decode().is_ok() && answer.transaction_id == m.transaction_id {
                return Ok(answer);
            }
        }
        wait *= 2;
    }
    Err(Error::TurnNoAnswer)
}

/// The ERROR-CODE of an error response, if it has one.
fn error_code(m: &Message) -> Option<u16> {
    let mut code = ErrorCodeAttribute::default();
    code.get_from(m).ok().map(|()| code.code.0)
}

fn error_of(m: &Message) -> String {
    let mut code = ErrorCodeAttribute::default();
    match code.get_from(m) {
        Ok(()) => format!("{} {}", code.code.0, String::from_utf8_lossy(&code.reason)),
        Err(_) => "error without ERROR-CODE".into(),
    }
}

impl TurnClient {
    /// Allocates a UDP relayed address on `server` with `username` and
    /// `password` (long-term credentials: the first Allocate learns the
    /// realm and nonce from the 401).
    ///
    /// A `437 Allocation Mismatch` means the server still holds an
    /// allocation on this socket's 5-tuple: the kernel handed out a port
    /// whose earlier allocation (from a previous step) the server has not
    /// forgotten yet, as coturn does for a while after a deletion. The
    /// client then starts again from a new port, twice at most, as
    /// libwebrtc's TURN client does.
    pub async fn allocate(server: SocketAddr, username: &str, password: &str) -> Result<Self> {
        let mut new_ports = 0;
        loop {
            let socket = UdpSocket::bind("127.0.0.1:0").await?;
            socket.connect(server).await?;
            let socket = std::sync::Arc::new(socket);
            match Self::allocate_from(socket, server, username, password).await? {
                Some(client) => return Ok(client),
                None if new_ports < 2 => new_ports += 1,
                None => {
                    return Err(Error::TurnRefused {
                        what: "Allocate",
                        reason: "437 Allocation Mismatch from three ports".to_owned(),
                    });
                }
            }
        }
    }

    /// Allocates again from this client's socket (after [`Self::release`]):
    /// the same client address, a new allocation, as a browser's TURN
    /// client does after deleting one. `None` when the server answers 437.
    pub async fn allocate_again(&self) -> Result<Option<Self>> {
        Self::allocate_from(
            std::sync::Arc::clone(&self.socket),
            self.server,
            &self.auth.username,
            &self.auth.password,
        )
        .await
    }

    /// Allocates from `socket`; `None` when the server answers 437.
    async fn allocate_from(
        socket: std::sync::Arc<UdpSocket>,
        server: SocketAddr,
        username: &str,
        password: &str,
    ) -> Result<Option<Self>> {
        let transport = || -> Vec<Box<dyn Setter>> {
            vec![Box::new(RequestedTransport {
                protocol: PROTO_UDP,
            })]
        };
        let first = transact(&socket, &request(METHOD_ALLOCATE, transport(), None)?).await?;
        if first.typ.class != CLASS_ERROR_RESPONSE {
            return Err(Error::TurnUnauthenticated);
        }
        // Only a 401 challenge carries the realm and nonce; any other error
        // (a quota, no capacity) is the server's refusal, named as such.
        match error_code(&first) {
            Some(401) => {}
            Some(437) => return Ok(None),
            _ => {
                return Err(Error::TurnRefusedUnauthenticated {
                    reason: error_of(&first),
                });
            }
        }
        let realm = TextAttribute::get_from_as(&first, ATTR_REALM)
            .map_err(|source| Error::TurnAnswer {
                what: "401 without REALM",
                source,
            })?
            .text;
        let nonce = TextAttribute::get_from_as(&first, ATTR_NONCE)
            .map_err(|source| Error::TurnAnswer {
                what: "401 without NONCE",
                source,
            })?
            .text;
        let auth = Auth {
            username: username.to_string(),
            password: password.to_string(),
            realm,
            nonce,
        };
        let answer = transact(
            &socket,
            &request(METHOD_ALLOCATE, transport(), Some(&auth))?,
        )
        .await?;
        if answer.typ.class != CLASS_SUCCESS_RESPONSE {
            return Err(Error::TurnRefused {
                what: "Allocate",
                reason: error_of(&answer),
            });
        }
        let mut relayed = RelayedAddress::default();
        relayed
            .get_from(&answer)
            .map_err(|source| Error::TurnAnswer {
                what: "no XOR-RELAYED-ADDRESS",
                source,
            })?;
        Ok(Some(TurnClient {
            socket,
            server,
            relayed: SocketAddr::new(relayed.ip, relayed.port),
            auth,
        }))
    }

    async fn authenticated(
        &self,
        method: stun::message::Method,
        attrs: Vec<Box<dyn Setter>>,
        what: &'static str,
    ) -> Result<()> {
        let answer = transact(&self.socket, &request(method, attrs, Some(&self.auth))?).await?;
        if answer.typ.class != CLASS_SUCCESS_RESPONSE {
            return Err(Error::TurnRefused {
                what,
                reason: error_of(&answer),
            });
        }
        Ok(())
    }

    /// Lets `peer` send to our relayed address, and binds [`CHANNEL`] to it.
    pub async fn bind_peer(&self, peer: SocketAddr) -> Result<()> {
        let addr = || PeerAddress {
            ip: peer.ip(),
            port: peer.port(),
        };
        self.authenticated(
            METHOD_CREATE_PERMISSION,
            vec![Box::new(addr())],
            "CreatePermission",
        )
        .await?;
        self.authenticated(
            METHOD_CHANNEL_BIND,
            vec![Box::new(ChannelNumber(CHANNEL)), Box::new(addr())],
            "ChannelBind",
        )
        .await
    }

    /// Refreshes the allocation asking for `lifetime`; returns the
    /// lifetime the server granted.
    pub async fn refresh(&self, lifetime: Duration) -> Result<Duration> {
        self.refreshed(request(
            METHOD_REFRESH,
            vec![Box::new(Lifetime(lifetime))],
            Some(&self.auth),
        )?)
        .await
    }

    /// Refreshes the allocation asking for `lifetime` in a LIFETIME placed
    /// after MESSAGE-INTEGRITY and FINGERPRINT, which cover nothing after
    /// them (a hand-made client can); returns the lifetime granted.
    pub async fn refresh_with_lifetime_after_integrity(
        &self,
        lifetime: Duration,
    ) -> Result<Duration> {
        let mut m = request(METHOD_REFRESH, vec![], Some(&self.auth))?;
        Lifetime(lifetime).add_to(&mut m)?;
        self.refreshed(m).await
    }

    /// Sends the Refresh `m`; returns the lifetime granted.
    async fn refreshed(&self, m: Message) -> Result<Duration> {
        let answer = transact(&self.socket, &m).await?;
        if answer.typ.class != CLASS_SUCCESS_RESPONSE {
            return Err(Error::TurnRefused {
                what: "Refresh",
                reason: error_of(&answer),
            });
        }
        let mut granted = Lifetime::default();
        granted
            .get_from(&answer)
            .map_err(|source| Error::TurnAnswer {
                what: "no LIFETIME",
                source,
            })?;
        Ok(granted.0)
    }

    /// Deletes the allocation.
    pub async fn release(&self) -> Result<()> {
        self.authenticated(
            METHOD_REFRESH,
            vec![Box::new(Lifetime(Duration::ZERO))],
            "Refresh",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::error_code::{CODE_ALLOC_MISMATCH, CODE_UNAUTHORIZED, ErrorCode};
    use stun::message::MessageClass;

    #[test]
    fn channel_data_round_trips_and_matches_the_turn_crate() {
        let mut out = Vec::new();
        channel_data(CHANNEL, b"hello", &mut out);
        assert_eq!(parse_channel_data(&out), Some((CHANNEL, &b"hello"[..])));
        let mut theirs = turn::proto::chandata::ChannelData {
            raw: out.clone(),
            ..Default::default()
        };
        theirs.decode().unwrap();
        assert_eq!(
            (theirs.number.0, &theirs.data[..]),
            (CHANNEL, &b"hello"[..])
        );
        assert_eq!(parse_channel_data(&out[..6]), None);
        assert_eq!(parse_channel_data(&[0x00, 0x01, 0, 0]), None);
    }

    #[test]
    fn authenticated_requests_carry_integrity_and_fingerprint() {
        let auth = Auth {
            username: "u".into(),
            password: "p".into(),
            realm: "r".into(),
            nonce: "n".into(),
        };
        let m = request(
            METHOD_CHANNEL_BIND,
            vec![Box::new(ChannelNumber(CHANNEL))],
            Some(&auth),
        )
        .unwrap();
        let mut back = Message::new();
        back.raw = m.raw.clone();
        back.decode().unwrap();
        assert!(back.contains(stun::attributes::ATTR_MESSAGE_INTEGRITY));
        assert!(back.contains(stun::attributes::ATTR_FINGERPRINT));
        MessageIntegrity::new_long_term_integrity("u".into(), "r".into(), "p".into())
            .check(&mut back)
            .unwrap();
    }

    /// An answer of `class` to the Allocate `req`, with `attrs`.
    fn answer(req: &Message, class: MessageClass, attrs: Vec<Box<dyn Setter>>) -> Vec<u8> {
        let mut setters: Vec<Box<dyn Setter>> = vec![
            Box::new(req.transaction_id),
            Box::new(MessageType::new(METHOD_ALLOCATE, class)),
        ];
        setters.extend(attrs);
        let mut m = Message::new();
        m.build(&setters).unwrap();
        m.raw
    }

    fn error(code: ErrorCode) -> Box<dyn Setter> {
        Box::new(ErrorCodeAttribute {
            code,
            reason: b"refused".to_vec(),
        })
    }

    /// A fake TURN server: 437 to every request from the first port it
    /// hears from (an allocation it still holds there), else the usual
    /// 401 challenge, then success for an authenticated Allocate.
    async fn fake_server_holding_one_port() -> (SocketAddr, tokio::task::JoinHandle<usize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = None;
            let mut ports = std::collections::HashSet::new();
            let mut buf = vec![0u8; 2048];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                let mut req = Message::new();
                req.raw = buf[..n].to_vec();
                req.decode().unwrap();
                ports.insert(from.port());
                let held_here = *held.get_or_insert(from) == from;
                let raw = if held_here {
                    answer(&req, CLASS_ERROR_RESPONSE, vec![error(CODE_ALLOC_MISMATCH)])
                } else if !req.contains(ATTR_USERNAME) {
                    answer(
                        &req,
                        CLASS_ERROR_RESPONSE,
                        vec![
                            error(CODE_UNAUTHORIZED),
                            Box::new(TextAttribute::new(ATTR_REALM, "r".into())),
                            Box::new(TextAttribute::new(ATTR_NONCE, "n".into())),
                        ],
                    )
                } else {
                    let relayed = RelayedAddress {
                        ip: addr.ip(),
                        port: 40000,
                    };
                    answer(&req, CLASS_SUCCESS_RESPONSE, vec![Box::new(relayed)])
                };
                socket.send_to(&raw, from).await.unwrap();
                if !held_here && req.contains(ATTR_USERNAME) {
                    return ports.len();
                }
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_437_on_a_reused_port_makes_the_client_start_again_from_a_new_one() {
        let (server, fake) = fake_server_holding_one_port().await;
        let client = TurnClient::allocate(server, "u", "p").await.unwrap();
        assert_eq!(client.relayed.port(), 40000);
        // The held port, then a fresh one that completed the allocation.
        assert_eq!(fake.await.unwrap(), 2);
    }
}
