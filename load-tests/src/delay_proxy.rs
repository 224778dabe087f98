//! A UDP delay proxy: one hop placed on a participant's direct media path
//! that holds every datagram, both ways, for a configurable time before
//! passing it on, as `tc qdisc ... netem delay` would on both ends of a
//! link. It exists because the kernel the fault tests run on has no
//! `sch_netem` (and no tc actions or netfilter), so added delay cannot be
//! made by the kernel.
//!
//! How traffic gets there: the participant whose path is delayed rewrites
//! the ICE candidates it exchanges over signaling (it is the test's own
//! client, so it controls its signaling):
//!
//! - its own candidates are announced at the proxy's [`DelayProxy::peer_side`]
//!   ([`DelayProxy::announce`]), so the far peer sends there; the proxy
//!   passes that on, from [`DelayProxy::client_side`], to the real address;
//! - the far peer's candidates are replaced by the proxy's
//!   [`DelayProxy::client_side`] ([`DelayProxy::reach`]), so the client
//!   sends there; the proxy passes that on, from `peer_side`, to the far
//!   peer's real address.
//!
//! Each agent thus sees exactly the addresses it was given (no
//! peer-reflexive candidate, no way around the proxy), and everything on
//! the path goes through it: STUN connectivity and consent checks, DTLS,
//! RTP and RTCP. The round trip ICE measures grows by twice the delay.
//!
//! One host candidate per side is expected (the test clients bind one
//! address each); the latest one rewritten is where the proxy forwards.
//! Datagrams leave in the order they came, each direction on its own, so a
//! change of delay never reorders them: when the delay is lifted, what
//! arrives next waits behind what is still held, as in a FIFO queue.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The proxy: two sockets on one address and the tasks that move
/// datagrams between them. Dropping it stops them.
pub struct DelayProxy {
    peer_side: SocketAddr,
    client_side: SocketAddr,
    /// Microseconds each datagram is held, read when it arrives.
    delay_us: Arc<AtomicU64>,
    /// Where datagrams go: the client's real address, then the far
    /// peer's, learnt from the candidates rewritten.
    targets: Arc<Targets>,
    /// Datagrams passed on, client to peer and peer to client.
    forwarded: Arc<[AtomicU64; 2]>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Targets {
    client: Mutex<Option<SocketAddr>>,
    peer: Mutex<Option<SocketAddr>>,
}

impl Targets {
    fn get(slot: &Mutex<Option<SocketAddr>>) -> Option<SocketAddr> {
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(slot: &Mutex<Option<SocketAddr>>, addr: SocketAddr) {
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr);
    }
}

impl std::fmt::Debug for DelayProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayProxy")
            .field("peer_side", &self.peer_side)
            .field("client_side", &self.client_side)
            .field("delay", &self.delay())
            .field("targets", &self.targets)
            .finish()
    }
}

impl DelayProxy {
    /// Binds the proxy's two UDP sockets on `ip` (an address both the
    /// client and the far peer can reach) and starts it with no delay.
    pub async fn start(ip: IpAddr) -> std::io::Result<DelayProxy> {
        let peer_sock = Arc::new(UdpSocket::bind((ip, 0)).await?);
        let client_sock = Arc::new(UdpSocket::bind((ip, 0)).await?);
        let delay_us = Arc::new(AtomicU64::new(0));
        let targets = Arc::new(Targets::default());
        let forwarded = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let direction = |from: &Arc<UdpSocket>, to: &Arc<UdpSocket>, to_peer: bool| {
            let (queue, held) = mpsc::unbounded_channel();
            [
                tokio::spawn(receive(from.clone(), delay_us.clone(), queue)),
                tokio::spawn(pass_on(
                    held,
                    to.clone(),
                    targets.clone(),
                    to_peer,
                    forwarded.clone(),
                )),
            ]
        };
        // Peer → proxy's peer side → (held) → from the client side → client,
        // and client → client side → (held) → from the peer side → peer.
        let mut tasks = Vec::from(direction(&peer_sock, &client_sock, false));
        tasks.extend(direction(&client_sock, &peer_sock, true));
        Ok(DelayProxy {
            peer_side: peer_sock.local_addr()?,
            client_side: client_sock.local_addr()?,
            delay_us,
            targets,
            forwarded,
            tasks,
        })
    }

    /// Where the far peer sends: announced as the client's candidate.
    pub fn peer_side(&self) -> SocketAddr {
        self.peer_side
    }

    /// Where the client sends: given to it as the far peer's candidate.
    pub fn client_side(&self) -> SocketAddr {
        self.client_side
    }

    /// Holds each datagram arriving from now on for `delay`, each way.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// The current one-way delay.
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::Relaxed))
    }

    /// Datagrams passed on so far: (client to peer, peer to client).
    pub fn forwarded(&self) -> (u64, u64) {
        (
            self.forwarded[1].load(Ordering::Relaxed),
            self.forwarded[0].load(Ordering::Relaxed),
        )
    }

    /// Rewrites one of the client's own ICE candidates (the
    /// `candidate:...` attribute value) to announce the proxy's peer side
    /// instead, remembering the real address as where to forward. Anything
    /// but a UDP candidate is returned unchanged.
    pub fn announce(&self, candidate: &str) -> String {
        rewrite(candidate, self.peer_side, |real| {
            Targets::set(&self.targets.client, real);
        })
    }

    /// Rewrites one of the far peer's ICE candidates to the proxy's client
    /// side, remembering the real address as where to forward.
    pub fn reach(&self, candidate: &str) -> String {
        rewrite(candidate, self.client_side, |real| {
            Targets::set(&self.targets.peer, real);
        })
    }

    /// Applies [`Self::announce`] (`own`) or [`Self::reach`] to every
    /// `a=candidate:` line of an SDP.
    pub fn rewrite_sdp(&self, sdp: &str, own: bool) -> String {
        sdp.split_inclusive('\n')
            .map(|line| match line.strip_prefix("a=") {
                Some(attr) if attr.starts_with("candidate:") => {
                    let end = attr.trim_end_matches(['\r', '\n']);
                    let eol = &attr[end.len()..];
                    let new = if own {
                        self.announce(end)
                    } else {
                        self.reach(end)
                    };
                    format!("a={new}{eol}")
                }
                _ => line.to_string(),
            })
            .collect()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Rewrites the address and port of a UDP ICE candidate
/// (`candidate:<foundation> <component> <transport> <priority> <ip> <port>
/// typ ...`, RFC 8839 §5.1) to `to`, calling `real` with the original.
fn rewrite(candidate: &str, to: SocketAddr, real: impl FnOnce(SocketAddr)) -> String {
    let mut fields: Vec<&str> = candidate.split(' ').collect();
    let original = match fields.as_slice() {
        [_, _, transport, _, ip, port, ..] if transport.eq_ignore_ascii_case("udp") => ip
            .parse::<IpAddr>()
            .ok()
            .zip(port.parse::<u16>().ok())
            .map(|(ip, port)| SocketAddr::new(ip, port)),
        _ => None,
    };
    let Some(original) = original else {
        return candidate.to_string();
    };
    real(original);
    let (ip, port) = (to.ip().to_string(), to.port().to_string());
    fields[4] = &ip;
    fields[5] = &port;
    fields.join(" ")
}

/// A datagram held until `due`.
struct Held {
    due: Instant,
    data: Vec<u8>,
}

/// Reads datagrams from `sock` and queues each, stamped with when it may
/// leave.
async fn receive(
    sock: Arc<UdpSocket>,
    delay_us: Arc<AtomicU64>,
    queue: mpsc::UnboundedSender<Held>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _from)) = sock.recv_from(&mut buf).await else {
            // ICMP errors (port unreachable) surface here: keep going.
            continue;
        };
        let delay = Duration::from_micros(delay_us.load(Ordering::Relaxed));
        let held = Held {
            due: Instant::now() + delay,
            data: buf[..n].to_vec(),
        };
        if queue.send(held).is_err() {
            return;
        }
    }
}

/// Sends the queued datagrams from `sock`, each once it is due, in order,
/// to the client (`to_peer` false) or the far peer.
async fn pass_on(
    mut queue: mpsc::UnboundedReceiver<Held>,
    sock: Arc<UdpSocket>,
    targets: Arc<Targets>,
    to_peer: bool,
    forwarded: Arc<[AtomicU64; 2]>,
) {
    while let Some(held) = queue.recv().await {
        tokio::time::sleep_until(held.due).await;
        let slot = if to_peer {
            &targets.peer
        } else {
            &targets.client
        };
        // Not known yet: dropped, as a network would before the route
        // exists; ICE sends its checks again.
        if let Some(to) = Targets::get(slot)
            && sock.send_to(&held.data, to).await.is_ok()
        {
            forwarded[usize::from(to_peer)].fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn candidates_are_rewritten_to_the_proxy_and_remembered() {
        let proxy = DelayProxy::start(LOCAL).await.unwrap();
        let own = "candidate:1 1 udp 2130706431 10.201.7.2 50000 typ host";
        let announced = proxy.announce(own);
        let p = proxy.peer_side();
        assert_eq!(
            announced,
            format!(
                "candidate:1 1 udp 2130706431 {} {} typ host",
                p.ip(),
                p.port()
            )
        );
        let theirs = "candidate:2 1 UDP 2130706431 10.201.7.1 40000 typ host ufrag x";
        let c = proxy.client_side();
        assert_eq!(
            proxy.reach(theirs),
            format!(
                "candidate:2 1 UDP 2130706431 {} {} typ host ufrag x",
                c.ip(),
                c.port()
            )
        );
        assert_eq!(
            Targets::get(&proxy.targets.client),
            Some("10.201.7.2:50000".parse().unwrap())
        );
        assert_eq!(
            Targets::get(&proxy.targets.peer),
            Some("10.201.7.1:40000".parse().unwrap())
        );
        // TCP candidates and garbage pass unchanged.
        let tcp = "candidate:3 1 tcp 1 10.0.0.1 9 typ host tcptype passive";
        assert_eq!(proxy.announce(tcp), tcp);
        assert_eq!(proxy.reach("candidate:"), "candidate:");
        let sdp = format!("v=0\r\na={own}\r\na=mid:0\r\n");
        assert_eq!(
            proxy.rewrite_sdp(&sdp, true),
            format!("v=0\r\na={announced}\r\na=mid:0\r\n")
        );
    }

    /// A client and a peer, both on loopback, talking through the proxy.
    async fn pair(proxy: &DelayProxy) -> (UdpSocket, UdpSocket) {
        let client = UdpSocket::bind((LOCAL, 0)).await.unwrap();
        let peer = UdpSocket::bind((LOCAL, 0)).await.unwrap();
        let cand = |a: SocketAddr| format!("candidate:1 1 udp 1 {} {} typ host", a.ip(), a.port());
        proxy.announce(&cand(client.local_addr().unwrap()));
        proxy.reach(&cand(peer.local_addr().unwrap()));
        (client, peer)
    }

    #[tokio::test(start_paused = true)]
    async fn each_way_is_held_for_the_delay_then_not_once_lifted() {
        let proxy = DelayProxy::start(LOCAL).await.unwrap();
        let (client, peer) = pair(&proxy).await;
        let mut buf = [0u8; 16];
        proxy.set_delay(Duration::from_millis(300));

        let sent = Instant::now();
        client.send_to(b"ping", proxy.client_side()).await.unwrap();
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], proxy.peer_side()));
        peer.send_to(b"pong", from).await.unwrap();
        let (n, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], proxy.client_side()));
        // The clock is paused: only the proxy's holding moved it.
        assert_eq!(sent.elapsed(), Duration::from_millis(600));

        proxy.set_delay(Duration::ZERO);
        let sent = Instant::now();
        client.send_to(b"ping", proxy.client_side()).await.unwrap();
        peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(sent.elapsed(), Duration::ZERO);
        assert_eq!(proxy.forwarded(), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn lifting_the_delay_never_reorders() {
        let proxy = DelayProxy::start(LOCAL).await.unwrap();
        let (client, peer) = pair(&proxy).await;
        proxy.set_delay(Duration::from_millis(300));
        for i in 0..5u8 {
            client.send_to(&[i], proxy.client_side()).await.unwrap();
        }
        // Let the proxy take those in before the delay changes.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        proxy.set_delay(Duration::ZERO);
        for i in 5..10u8 {
            client.send_to(&[i], proxy.client_side()).await.unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        for _ in 0..10 {
            let (n, _) = peer.recv_from(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    }
}
