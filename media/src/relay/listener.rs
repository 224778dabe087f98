//! The UDP listener as the TURN server sees it: the socket, with its
//! address read once at bind time.
//!
//! `turn` asks its listener for its local address on every ChannelData
//! datagram a client sends (to key the allocation's 5-tuple). A plain
//! socket answers each time with a `getsockname` system call: 3.5 % of the
//! relay's CPU at 160 relayed sessions (`perf`, docs/BENCHMARKS.md). The
//! address of a bound socket never changes, so it is kept here.

//!
//! Datagrams that are neither STUN nor ChannelData are dropped here,
//! counted ([`RelayStats::junk_datagrams`]) and summed up in a log line at
//! most once a minute: `turn` would log an error for each.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use std::io;

use tokio::net::UdpSocket;

use super::RelayStats;
use super::lifetime::LifetimeCap;
use super::log::RateLimitedLog;
use super::socket::Datagrams;

/// A bound UDP listener and its address.
pub(crate) struct ListenerConn {
    socket: UdpSocket,
    local: SocketAddr,
    stats: Arc<RelayStats>,
    junk_log: Mutex<RateLimitedLog>,
    /// Lowers over-long allocation lifetimes (see `lifetime`).
    cap: Option<Arc<LifetimeCap>>,
}

/// Whether a datagram can be TURN: a STUN message (first bits `00`, the
/// magic cookie, a length that matches) or ChannelData (first bits `01`,
/// a length that fits).
pub(crate) fn is_turn_datagram(buf: &[u8]) -> bool {
    match buf.first().map(|b| b >> 6) {
        Some(0b00) => {
            buf.len() >= 20
                && buf[4..8] == 0x2112_A442u32.to_be_bytes()
                && 20 + usize::from(u16::from_be_bytes([buf[2], buf[3]])) == buf.len()
        }
        Some(0b01) => {
            buf.len() >= 4 && 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]])) <= buf.len()
        }
        _ => false,
    }
}

impl ListenerConn {
    pub(crate) fn new(socket: UdpSocket, stats: Arc<RelayStats>) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        Ok(ListenerConn {
            socket,
            local,
            stats,
            junk_log: Mutex::new(RateLimitedLog::new(
                "junk datagrams (neither STUN nor ChannelData) dropped on the TURN UDP listener",
            )),
            cap: None,
        })
    }

    /// Caps the lifetimes clients ask for.
    pub(crate) fn with_lifetime_cap(mut self, cap: Arc<LifetimeCap>) -> Self {
        self.cap = Some(cap);
        self
    }

    /// The address the listener is bound to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.local
    }
}

impl Datagrams for ListenerConn {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if is_turn_datagram(&buf[..n]) {
                if let Some(cap) = &self.cap {
                    cap.apply(&mut buf[..n]);
                }
                return Ok((n, from));
            }
            self.stats.junk_datagrams.fetch_add(1, Ordering::Relaxed);
            self.junk_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .count();
        }
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(buf, target).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Socket buffer the UDP listener asks for. Every client's datagrams queue
/// on this one socket, and clients that send in the same instant (a
/// packetized video frame each) overflow the kernel's default (208 KiB
/// here) before the relay reads them. The kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`.
const UDP_BUFFER: usize = 4 << 20;

/// Asks for [`UDP_BUFFER`] both ways; a refusal only costs bursts.
pub(crate) fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    if let Err(e) = s
        .set_recv_buffer_size(UDP_BUFFER)
        .and_then(|()| s.set_send_buffer_size(UDP_BUFFER))
    {
        tracing::warn!("relay: cannot enlarge the UDP buffers: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stun_and_channel_data_are_turn() {
        let mut stun = vec![0u8, 1, 0, 4, 0x21, 0x12, 0xA4, 0x42];
        stun.extend([0u8; 16]);
        assert!(is_turn_datagram(&stun));
        assert!(!is_turn_datagram(&stun[..23]), "length mismatch");
        let mut no_cookie = stun.clone();
        no_cookie[4] = 0;
        assert!(!is_turn_datagram(&no_cookie));
        assert!(is_turn_datagram(b"\x40\x01\x00\x02hi"));
        assert!(!is_turn_datagram(b"\x40\x01\x00\x09hi"));
        for junk in [
            &b""[..],
            b"\x80abc",
            b"\xffxxxx",
            b"GET / HTTP/1.1",
            b"\x00\x01",
        ] {
            assert!(!is_turn_datagram(junk), "{junk:?}");
        }
    }

    #[tokio::test]
    async fn answers_with_the_bound_address_and_carries_datagrams() {
        let conn = ListenerConn::new(
            UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            Arc::default(),
        )
        .unwrap();
        let local = conn.local_addr().unwrap();
        assert_eq!(local, conn.socket.local_addr().unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Junk first: dropped and counted; the ChannelData after it comes
        // through.
        peer.send_to(b"GET / HTTP/1.0", local).await.unwrap();
        let ping = b"\x40\x00\x00\x04ping";
        peer.send_to(ping, local).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = conn.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&ping[..], peer.local_addr().unwrap()));
        assert_eq!(conn.stats.junk_datagrams.load(Ordering::Relaxed), 1);
        conn.send_to(b"pong", from).await.unwrap();
        let n = peer.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
    }
}
