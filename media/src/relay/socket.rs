//! What the TURN server reads from and writes to, in our own terms: a
//! datagram socket. The UDP listener, the streams of a TCP or TLS listener
//! and the relayed socket of each allocation are one each; `turn_server`
//! puts them behind the interface the `turn` crate wants.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// A datagram and its sender (or its destination), queued between the
/// relay's tasks: the shards, the streams and the `turn` server.
pub(crate) type Datagram = (Vec<u8>, SocketAddr);

/// Copies a queued datagram into the `turn` server's buffer; what does not
/// fit (over its 1,500 bytes) is cut, as its own socket reads would.
pub(crate) fn deliver(datagram: &[u8], buf: &mut [u8]) -> usize {
    let n = datagram.len().min(buf.len());
    buf[..n].copy_from_slice(&datagram[..n]);
    n
}

/// A datagram socket as the relay's TURN server uses it.
pub(crate) trait Datagrams: Send + Sync + 'static {
    /// The next datagram and where it came from. An error ends the
    /// server's read loop (listeners) or the allocation (relayed sockets).
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;

    /// Sends `buf` to `target`; how many bytes were taken.
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Called when the TURN server is done with the socket (the allocation
    /// closed, or the listener's read loop ended).
    fn close(&self) {}
}
