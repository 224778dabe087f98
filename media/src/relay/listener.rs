//! The UDP listener as the `turn` server sees it: the socket, with its
//! address read once at bind time.
//!
//! `turn` asks its listener for its local address on every ChannelData
//! datagram a client sends (to key the allocation's 5-tuple). A plain
//! socket answers each time with a `getsockname` system call: 3.5 % of the
//! relay's CPU at 160 relayed sessions (`perf`, docs/BENCHMARKS.md). The
//! address of a bound socket never changes, so it is kept here.

use std::net::SocketAddr;

use async_trait::async_trait;
use tokio::net::UdpSocket;

/// A bound UDP listener and its address.
pub(crate) struct ListenerConn {
    socket: UdpSocket,
    local: SocketAddr,
}

impl ListenerConn {
    pub(crate) fn new(socket: UdpSocket) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        Ok(ListenerConn { socket, local })
    }

    /// The address the listener is bound to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.local
    }
}

#[async_trait]
impl webrtc_util::Conn for ListenerConn {
    async fn connect(&self, addr: SocketAddr) -> Result<(), webrtc_util::Error> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, webrtc_util::Error> {
        Ok(self.socket.recv(buf).await?)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), webrtc_util::Error> {
        Ok(self.socket.recv_from(buf).await?)
    }

    async fn send(&self, buf: &[u8]) -> Result<usize, webrtc_util::Error> {
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, webrtc_util::Error> {
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> Result<SocketAddr, webrtc_util::Error> {
        Ok(self.local)
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

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_util::Conn;

    #[tokio::test]
    async fn answers_with_the_bound_address_and_carries_datagrams() {
        let conn = ListenerConn::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()).unwrap();
        let local = conn.local_addr().unwrap();
        assert_eq!(local, conn.socket.local_addr().unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"ping", local).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = conn.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"ping"[..], peer.local_addr().unwrap())
        );
        conn.send_to(b"pong", from).await.unwrap();
        let n = peer.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
    }
}
