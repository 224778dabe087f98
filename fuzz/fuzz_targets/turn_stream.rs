//! The relay's input path, with the relay's own code (`media`'s feature
//! `fuzzing`, `media::relay::fuzzing`): TURN over TCP/TLS framing (the
//! `FrameDecoder` every stream runs), then each frame, and the whole input
//! as a UDP datagram, through the listeners' lifetime cap and the `turn`
//! 0.17.2 request handler with the relay's auth handler, as our listeners
//! run them (STUN and ChannelData decoding, attribute parsing, nonce, realm
//! and our TURN REST username check, then the Allocate, Refresh,
//! CreatePermission, ChannelBind, Send and Binding handlers).
//!
//! Input: one control byte, then the stream's bytes. The low 6 bits of the
//! control byte + 1 are the read size, so framing is also checked with
//! the frames split across reads. Bit 7 asks the harness to sign each STUN
//! message with the credentials its USERNAME names (the fuzzer cannot
//! compute an HMAC), so that the authenticated handlers are reached too.
//!
//! No socket is opened: the listener and the relayed sockets are sinks.
//!
//! Checks, beyond "no panic": framing gives the same frames and the same
//! error whether the bytes come at once or in pieces, never hands over
//! more than `MAX_FRAME_LEN` bytes, and always makes progress (the
//! decoder's own debug assertions, on in fuzz builds, check what it
//! consumes).
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use media::TurnCredentials;
use media::relay::fuzzing::{FrameDecoder, FrameError, MAX_FRAME_LEN, auth_handler, cap_lifetimes};
use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use stun::integrity::MessageIntegrity;
use stun::message::{Message, Setter};
use tokio::sync::Mutex;
use turn::allocation::allocation_manager::{Manager, ManagerConfig};
use turn::proto::chandata::ChannelData;
use turn::relay::RelayAddressGenerator;
use turn::server::request::Request;

const REALM: &str = "fuzz.test";
const NONCE: &str = "fuzz-nonce";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn credentials() -> &'static Arc<TurnCredentials> {
    static C: OnceLock<Arc<TurnCredentials>> = OnceLock::new();
    C.get_or_init(|| {
        let c = TurnCredentials::new(b"fuzz-secret".to_vec()).expect("secret");
        c.revoke("revoked", "1");
        Arc::new(c)
    })
}

/// What a framing run produced: the frames, then the error that ended it.
type Cut = (Vec<Vec<u8>>, Option<FrameError>);

/// Runs the relay's framing over `bytes` arriving `read` bytes at a time,
/// as each stream of a TCP or TLS listener does.
fn cut(bytes: &[u8], read: usize) -> Cut {
    let mut frames = Vec::new();
    let mut decoder = FrameDecoder::new();
    for piece in bytes.chunks(read) {
        decoder.extend(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(
                        !frame.is_empty() && frame.len() <= MAX_FRAME_LEN,
                        "{} bytes",
                        frame.len()
                    );
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// The listener socket and the relayed sockets: sends vanish, nothing is
/// ever received.
#[derive(Debug)]
struct Sink(SocketAddr);

#[async_trait]
impl webrtc_util::Conn for Sink {
    async fn connect(&self, _: SocketAddr) -> Result<(), webrtc_util::Error> {
        Ok(())
    }
    async fn recv(&self, _: &mut [u8]) -> Result<usize, webrtc_util::Error> {
        std::future::pending().await
    }
    async fn recv_from(&self, _: &mut [u8]) -> Result<(usize, SocketAddr), webrtc_util::Error> {
        std::future::pending().await
    }
    async fn send(&self, buf: &[u8]) -> Result<usize, webrtc_util::Error> {
        Ok(buf.len())
    }
    async fn send_to(&self, buf: &[u8], _: SocketAddr) -> Result<usize, webrtc_util::Error> {
        Ok(buf.len())
    }
    fn local_addr(&self) -> Result<SocketAddr, webrtc_util::Error> {
        Ok(self.0)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn close(&self) -> Result<(), webrtc_util::Error> {
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Hands out sink sockets as relayed addresses.
struct Sinks(AtomicU16);

#[async_trait]
impl RelayAddressGenerator for Sinks {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }
    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn webrtc_util::Conn + Send + Sync>, SocketAddr), turn::Error> {
        if !use_ipv4 {
            return Err(turn::Error::Other("IPv4 only".into()));
        }
        let port = if requested_port == 0 {
            self.0.fetch_add(1, Ordering::Relaxed).max(1024)
        } else {
            requested_port
        };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        Ok((Arc::new(Sink(addr)), addr))
    }
}

/// Re-signs a STUN message with the right nonce and the MESSAGE-INTEGRITY
/// of the credentials its USERNAME names; `None` if it is not one.
fn signed(frame: &[u8]) -> Option<Vec<u8>> {
    if ChannelData::is_channel_data(frame) {
        return None;
    }
    let mut m = Message {
        raw: frame.to_vec(),
        ..Default::default()
    };
    m.decode().ok()?;
    let username = String::from_utf8(m.get(ATTR_USERNAME).ok()?).ok()?;
    let realm = m
        .get(ATTR_REALM)
        .ok()
        .and_then(|r| String::from_utf8(r).ok())
        .unwrap_or_else(|| REALM.into());
    let mut out = Message::new();
    out.typ = m.typ;
    out.transaction_id = m.transaction_id;
    out.write_header();
    for a in &m.attributes.0 {
        if a.typ == ATTR_MESSAGE_INTEGRITY {
            break;
        }
        if a.typ != ATTR_NONCE {
            out.add(a.typ, &a.value);
        }
    }
    out.add(ATTR_NONCE, NONCE.as_bytes());
    let password = credentials().password_for(&username);
    MessageIntegrity::new_long_term_integrity(username, realm, password)
        .add_to(&mut out)
        .ok()?;
    Some(out.raw)
}

async fn handle(
    conn: &Arc<Sink>,
    manager: &Arc<Manager>,
    nonces: &Arc<Mutex<HashMap<String, tokio::time::Instant>>>,
    src: SocketAddr,
    datagram: Vec<u8>,
) {
    let mut r = Request::new(
        conn.clone(),
        src,
        manager.clone(),
        auth_handler(Arc::clone(credentials())),
    );
    r.buff = datagram;
    r.realm = REALM.into();
    r.nonces = nonces.clone();
    r.channel_bind_timeout = std::time::Duration::from_secs(600);
    let _ = r.handle_request().await;
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let read = usize::from(control & 0x3F) + 1;
    let sign = control & 0x80 != 0;

    let whole = cut(stream, stream.len().max(1));
    assert_eq!(
        cut(stream, read),
        whole,
        "framing depends on how bytes arrive"
    );

    runtime().block_on(async {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3478);
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000);
        let conn = Arc::new(Sink(local));
        let manager = Arc::new(Manager::new(ManagerConfig {
            relay_addr_generator: Box::new(Sinks(AtomicU16::new(49152))),
            alloc_close_notify: None,
        }));
        let nonces = Arc::new(Mutex::new(HashMap::from([(
            NONCE.to_owned(),
            tokio::time::Instant::now(),
        )])));
        let mut datagrams: Vec<Vec<u8>> = whole.0;
        // The UDP listener reads datagrams of up to 1500 bytes.
        datagrams.push(stream[..stream.len().min(MAX_FRAME_LEN)].to_vec());
        for d in datagrams {
            let mut d = if sign { signed(&d).unwrap_or(d) } else { d };
            // What every listener does before `turn` reads a datagram.
            cap_lifetimes(credentials(), REALM, &mut d);
            handle(&conn, &manager, &nonces, src, d).await;
        }
        let _ = manager.close().await;
    });
});
