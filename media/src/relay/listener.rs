//! The UDP listener: its sockets, one per shard (`SO_REUSEPORT`), and the
//! datagram socket each shard's `turn` server reads from.
//!
//! The shard (`shard`) reads the listener socket itself and relays the
//! media it has a route for; [`ListenerConn`] gives `turn` the rest
//! (requests, data without a known route), and sends what `turn` sends
//! through the shard, which reads the answers on the way out. Its address
//! is read once at bind time: `turn` asks for it on every ChannelData
//! datagram it handles, and a `getsockname` each time cost 3.5 % of the
//! relay's CPU at 160 relayed sessions (`perf`, docs/BENCHMARKS.md).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;

use nix::sys::socket::{setsockopt, sockopt};
use tokio::sync::{Mutex, mpsc};

use super::shard::{Command, ShardLink};
use super::socket::{Datagram, Datagrams, deliver};

/// One shard's listener as the `turn` server sees it.
pub(crate) struct ListenerConn {
    local: SocketAddr,
    from_shard: Mutex<mpsc::Receiver<Datagram>>,
    shard: ShardLink,
}

impl ListenerConn {
    pub(crate) fn new(
        local: SocketAddr,
        from_shard: mpsc::Receiver<Datagram>,
        shard: ShardLink,
    ) -> Self {
        ListenerConn {
            local,
            from_shard: Mutex::new(from_shard),
            shard,
        }
    }
}

impl Datagrams for ListenerConn {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (datagram, from) = self
            .from_shard
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the relay's UDP listener is closed"))?;
        Ok((deliver(&datagram, buf), from))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let command = Command::Send {
            to: target,
            datagram: buf.to_vec(),
        };
        if self.shard.send(command) {
            Ok(buf.len())
        } else {
            Err(io::Error::other("the relay's UDP listener is closed"))
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Socket buffer each listener socket asks for. Every client's datagrams
/// queue on these sockets, and clients that send in the same instant (a
/// packetized video frame each) overflow the kernel's default (208 KiB
/// here) before the relay reads them. The kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`.
const UDP_BUFFER: usize = 4 << 20;

/// Binds `shards` non-blocking UDP sockets to `addr` with `SO_REUSEPORT`
/// (the first one picks the port when `addr`'s is 0), with enlarged
/// buffers.
pub(crate) fn bind(addr: SocketAddr, shards: usize) -> io::Result<Vec<UdpSocket>> {
    let mut sockets: Vec<UdpSocket> = Vec::with_capacity(shards);
    let mut at = addr;
    for _ in 0..shards.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(at),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        setsockopt(&socket.as_fd(), sockopt::ReusePort, &true).map_err(io::Error::from)?;
        socket.bind(&at.into())?;
        socket.set_nonblocking(true)?;
        if let Err(e) = socket
            .set_recv_buffer_size(UDP_BUFFER)
            .and_then(|()| socket.set_send_buffer_size(UDP_BUFFER))
        {
            tracing::warn!("relay: cannot enlarge the UDP buffers: {e}");
        }
        let socket = UdpSocket::from(socket);
        at = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_one_port() {
        let sockets = bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = sockets[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        for s in &sockets {
            assert_eq!(s.local_addr().unwrap().port(), port);
        }
        // A socket without SO_REUSEPORT cannot take the port.
        assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_err());
    }
}
