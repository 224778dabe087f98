//! One shard of the UDP data path: a thread that owns one UDP listener
//! socket and the relayed sockets of the allocations its clients hold,
//! and relays their media itself, in batches, without going through the
//! `turn` server.
//!
//! The relay opens one shard per core, each with its own listener socket
//! bound to the same address with `SO_REUSEPORT`: the kernel spreads
//! clients over the shards by their address and keeps each client on one.
//! Each shard has its own `turn` server (`turn_server`), which sees the
//! shard's listener as a datagram socket (`listener::ListenerConn`).
//!
//! One wake-up of the thread (`epoll`, level-triggered):
//! - datagrams from clients are read in batches (`recvmmsg`, into the
//!   slots of a [`Pool`]); ChannelData and Send indications the routing
//!   [`Table`] knows go out on the allocation's relayed socket after the
//!   allocation's checks ([`RelayedSocket::check_to_peer`]); everything else
//!   (requests, data on a route the table does not know) goes to the
//!   shard's `turn` server, the requests noted by the table first;
//! - datagrams from peers, read the same way from every ready relayed
//!   socket, are checked ([`RelayedSocket::check_from_peer`]), framed in place
//!   as ChannelData or a Data indication and sent to the client; those
//!   without a route go to `turn` through the allocation's queue;
//! - what `turn` sends to clients comes as a [`Command::Send`]: the table
//!   reads the answers (a ChannelBind or CreatePermission success installs
//!   its route; an Allocate success makes the shard adopt the allocation's
//!   relayed socket), then the shard sends it;
//! - a client's datagram for a peer that is itself one of this shard's
//!   relayed addresses (both participants relayed by this relay) skips the
//!   kernel: after the sender's checks it is checked as the receiving
//!   allocation's peer datagram and framed for its client in the same slot
//!   (a *hairpin*); one of another shard's goes into that shard's
//!   [`Handover`] queue, which it reads when woken (`handover`);
//! - the sends queued in the wake-up go out, one `sendmmsg` per socket.
//!
//! Nothing on that path takes a lock, scans, or allocates per datagram
//! (the misses handed to `turn` are copied: they are the control plane).
//! Once a second the table forgets what expired and the sockets of closed
//! allocations are let go.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};

use super::RelayStats;
use super::fastpath::batch::{BATCH, Outbox, Pool, Source};
use super::fastpath::table::{
    AllocationId, ClientRoute, PeerRoute, Table, granted_relayed_address,
};
use super::fastpath::wire::{self, HEADROOM};
use super::handover::{self, Handover, Owners};
use super::lifetime::LifetimeCap;
use super::log::RateLimitedLog;
use super::relayed::{Claims, RelayedSocket, Verdict};
use super::socket::Datagram;

/// The `epoll` token of the shard's wake-up event.
const WAKE: u64 = 0;
/// The `epoll` token of the listener.
const LISTENER: u64 = 1;
/// A relayed socket's token is this plus its port ([`relayed_token`]).
const RELAYED: u64 = 2;
/// Batches read from one socket per wake-up, at most (then the next
/// ready socket's turn: level-triggered `epoll` comes back to it).
const BATCHES_PER_SOCKET: usize = 4;
/// How often expired routes are forgotten and closed allocations' sockets
/// let go.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Datagrams queued for the `turn` server (requests, misses) before
/// further ones are dropped: a flood of requests must not stall media.
const TO_TURN_QUEUE: usize = 1024;

/// What the summary of junk datagrams says.
const JUNK: &str = "junk datagrams (neither STUN nor ChannelData) dropped on the TURN UDP listener";

/// What the rest of the relay asks of a shard.
#[derive(Debug)]
pub(crate) enum Command {
    /// A datagram the `turn` server sends to a client of this shard's
    /// listener: its answers, which the table reads before the shard sends
    /// them, and what it relays itself.
    Send { to: SocketAddr, datagram: Vec<u8> },
    /// Read the relayed socket of an allocation made over TCP or TLS:
    /// every datagram from its peers goes to `turn`.
    Adopt(Arc<RelayedSocket>),
    /// End the thread.
    Stop,
}

/// How to give a shard work: a queue, the datagrams other shards hand
/// it, and the event that wakes it.
#[derive(Clone)]
pub(crate) struct ShardLink {
    commands: mpsc::Sender<Command>,
    handovers: mpsc::SyncSender<Handover>,
    wake: Arc<EventFd>,
}

impl ShardLink {
    /// Queues `command` and wakes the shard; false if the shard is gone.
    pub(crate) fn send(&self, command: Command) -> bool {
        let queued = self.commands.send(command).is_ok();
        self.wake();
        queued
    }

    /// Queues a datagram for the shard without waking it (the sender
    /// wakes it once for the batch); false if the queue is full.
    fn hand_over(&self, handover: Handover) -> bool {
        self.handovers.try_send(handover).is_ok()
    }

    fn wake(&self) {
        // A full counter (never, in practice) still wakes the thread.
        let _ = self.wake.write(1);
    }
}

/// A running shard. Dropping it stops the thread.
pub(crate) struct Shard {
    link: ShardLink,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a shard's creator needs besides the sockets.
pub(crate) struct ShardContext {
    pub(crate) claims: Arc<Claims>,
    pub(crate) stats: Arc<RelayStats>,
    /// Lowers over-long allocation lifetimes in requests (see `lifetime`).
    pub(crate) cap: Option<Arc<LifetimeCap>>,
    /// The IP relayed sockets are bound on: a peer on it may be a relayed
    /// socket of this shard (a hairpin). Not the address announced behind
    /// a 1:1 NAT: what reaches that one depends on the NAT's hairpinning,
    /// so the kernel path keeps deciding.
    pub(crate) relay_ip: IpAddr,
    /// Which shard reads each relayed port.
    pub(crate) owners: Arc<Owners>,
    /// Every shard's link, set once they all run.
    pub(crate) links: Arc<OnceLock<Vec<ShardLink>>>,
}

impl Shard {
    /// Starts a shard on `listener` (non-blocking; `None`: a shard that
    /// only reads the relayed sockets of TCP and TLS allocations). Returns
    /// the queue of datagrams for the shard's `turn` server.
    pub(crate) fn start(
        index: usize,
        listener: Option<UdpSocket>,
        context: ShardContext,
    ) -> io::Result<(Shard, tokio::sync::mpsc::Receiver<Datagram>)> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC,
        )?);
        epoll.add(&*wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        if let Some(l) = &listener {
            epoll.add(l, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
        }
        let (commands, commands_rx) = mpsc::channel();
        let (handovers, handovers_rx) = mpsc::sync_channel(handover::QUEUE);
        let (to_turn, to_turn_rx) = tokio::sync::mpsc::channel(TO_TURN_QUEUE);
        let seed = std::hash::BuildHasher::hash_one(
            &foldhash::fast::RandomState::default(),
            Instant::now(),
        );
        let thread_wake = Arc::clone(&wake);
        let parts = move || Driver {
            epoll,
            wake: thread_wake,
            commands: commands_rx,
            listener: listener.map(|socket| Listener {
                socket,
                to_turn,
                junk_log: RateLimitedLog::new(JUNK),
            }),
            claims: context.claims,
            stats: context.stats,
            cap: context.cap,
            relay_ip: context.relay_ip,
            index,
            owners: context.owners,
            links: context.links,
            handovers: handovers_rx,
            to_wake: Vec::new(),
            table: Table::new(Instant::now()),
            sockets: Default::default(),
            pool: Pool::default(),
            to_peers: Outbox::default(),
            to_clients: Outbox::default(),
            counts: Counts::default(),
            indication_seq: seed,
        };
        let thread = std::thread::Builder::new()
            .name(format!("relay-shard-{index}"))
            // The batch buffers hold raw pointers (not `Send`): they are
            // made in the thread that uses them.
            .spawn(move || parts().run())?;
        Ok((
            Shard {
                link: ShardLink {
                    commands,
                    handovers,
                    wake,
                },
                thread: Some(thread),
            },
            to_turn_rx,
        ))
    }

    /// How to give this shard work.
    pub(crate) fn link(&self) -> ShardLink {
        self.link.clone()
    }

    /// Stops the thread and waits for it: its sockets are closed when
    /// this returns.
    pub(crate) async fn stop(mut self) {
        self.link.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.link.send(Command::Stop);
        }
    }
}

/// The shard's listener socket and its way to the `turn` server.
struct Listener {
    socket: UdpSocket,
    to_turn: tokio::sync::mpsc::Sender<Datagram>,
    junk_log: RateLimitedLog,
}

/// A relayed socket the shard reads, and the allocation it routes for
/// (`None`: a TCP or TLS client's, whose datagrams all go to `turn`; the
/// table knows the client).
struct Adopted {
    socket: Arc<RelayedSocket>,
    route: Option<AllocationId>,
}

/// Counters kept in the thread and added to [`RelayStats`] once per
/// wake-up.
#[derive(Default)]
struct Counts {
    misses: u64,
    hairpins: u64,
    handovers: u64,
    dropped: u64,
    junk: u64,
}

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The thread's state.
struct Driver {
    epoll: Epoll,
    wake: Arc<EventFd>,
    commands: mpsc::Receiver<Command>,
    listener: Option<Listener>,
    claims: Arc<Claims>,
    stats: Arc<RelayStats>,
    cap: Option<Arc<LifetimeCap>>,
    relay_ip: IpAddr,
    /// This shard's index among the relay's.
    index: usize,
    owners: Arc<Owners>,
    links: Arc<OnceLock<Vec<ShardLink>>>,
    /// Datagrams other shards handed to this one.
    handovers: mpsc::Receiver<Handover>,
    /// The shards handed datagrams in this wake-up, to wake once each.
    to_wake: Vec<usize>,
    table: Table,
    /// Relayed sockets by `epoll` token ([`relayed_token`]: by port).
    sockets: Map<u64, Adopted>,
    pool: Pool,
    to_peers: Outbox,
    to_clients: Outbox,
    counts: Counts,
    /// Transaction ids of the Data indications the shard builds (an
    /// indication is not a transaction: unique is enough).
    indication_seq: u64,
}

impl Driver {
    fn run(mut self) {
        let mut events = [EpollEvent::empty(); 64];
        let mut housekeeping = Instant::now() + HOUSEKEEPING;
        loop {
            let wait = housekeeping.saturating_duration_since(Instant::now());
            let ms = u16::try_from(wait.as_millis() + 1).unwrap_or(u16::MAX);
            let n = match self.epoll.wait(&mut events, PollTimeout::from(ms)) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    tracing::error!("relay shard: epoll failed, the shard stops: {e}");
                    return;
                }
            };
            let now = Instant::now();
            for event in &events[..n] {
                match event.data() {
                    WAKE => {
                        if !self.on_commands(now) {
                            return;
                        }
                        self.on_handovers(now);
                    }
                    LISTENER => self.on_listener(now),
                    token => self.on_relayed(token, now),
                }
            }
            wake_receivers(&mut self.to_wake, &self.links);
            flush(&mut self.pool, &mut self.to_peers, &mut self.to_clients);
            self.publish_counts();
            if now >= housekeeping {
                self.housekeeping(now);
                housekeeping = now + HOUSEKEEPING;
            }
        }
    }

    /// Runs the queued commands; false when the shard must stop.
    fn on_commands(&mut self, now: Instant) -> bool {
        let _ = self.wake.read();
        loop {
            match self.commands.try_recv() {
                Ok(Command::Send { to, datagram }) => self.send_for_turn(now, to, &datagram),
                Ok(Command::Adopt(socket)) => self.adopt(socket, None),
                Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return false,
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    /// Shows `turn`'s datagram for `to` to the table, adopts the relayed
    /// socket an Allocate success announces, and sends it.
    fn send_for_turn(&mut self, now: Instant, to: SocketAddr, datagram: &[u8]) {
        let Some(fd) = self.listener.as_ref().map(|l| l.socket.as_raw_fd()) else {
            return;
        };
        self.table.observe_answer(now, to, datagram);
        if let Some(relayed) = granted_relayed_address(datagram)
            && let Some(socket) = self.claims.take(relayed.port())
        {
            self.adopt(socket, Some(to));
        }
        match sendto(
            fd,
            datagram,
            &SockaddrStorage::from(to),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(_) => {}
            // Lost, as on the wire: the client retransmits its request.
            Err(_) => self.counts.dropped += 1,
        }
    }

    /// Starts reading `socket`; with `client`, routes for its allocation.
    fn adopt(&mut self, socket: Arc<RelayedSocket>, client: Option<SocketAddr>) {
        let token = relayed_token(socket.port());
        if let Err(e) = self
            .epoll
            .add(socket.socket(), EpollEvent::new(EpollFlags::EPOLLIN, token))
        {
            tracing::error!("relay shard: cannot watch a relayed socket: {e}");
            return;
        }
        self.owners.set(socket.port(), self.index);
        // A closed allocation the table still held for this client (its
        // socket is let go at the next housekeeping) is replaced.
        let route = client.and_then(|client| self.table.add_allocation(client, socket.port()));
        if let Some(old) = self.sockets.insert(token, Adopted { socket, route }) {
            // The port was still bound by `old`'s socket, which the shard
            // holds open until it forgets the token: the kernel cannot
            // have given it again.
            tracing::error!(
                port = old.socket.port(),
                "relay shard: a relayed port adopted twice"
            );
        }
    }

    /// Reads what clients sent, relays what the table routes, hands the
    /// rest to `turn`.
    fn on_listener(&mut self, now: Instant) {
        let Some(listener) = &mut self.listener else {
            return;
        };
        let fd = listener.socket.as_raw_fd();
        for _ in 0..BATCHES_PER_SOCKET {
            if self.pool.free() < BATCH {
                flush(&mut self.pool, &mut self.to_peers, &mut self.to_clients);
            }
            let slots = match self.pool.recv(fd, Source::Listener) {
                Ok(slots) => slots,
                Err(e) => {
                    tracing::debug!("relay shard: reading the listener: {e}");
                    return;
                }
            };
            let full = slots.len() == BATCH;
            for i in slots {
                let (from, datagram) = self.pool.datagram(i);
                if datagram.is_empty() {
                    continue;
                }
                if !wire::is_turn_datagram(datagram) {
                    self.counts.junk += 1;
                    listener.junk_log.count();
                    continue;
                }
                let forward = match self.table.route_client(now, from, datagram) {
                    ClientRoute::Peer {
                        allocation,
                        relayed_port,
                        peer,
                        payload,
                    } => Some((allocation, relayed_port, peer, payload)),
                    ClientRoute::Control => {
                        if let Some(cap) = &self.cap {
                            cap.apply(datagram);
                        }
                        None
                    }
                };
                // The socket on that port, if it is still this allocation's.
                if let Some((id, port, peer, payload)) = forward
                    && let Some(Adopted { socket, route }) = self.sockets.get(&relayed_token(port))
                    && *route == Some(id)
                {
                    if socket.check_to_peer(payload.len(), peer) != Verdict::Pass {
                        continue;
                    }
                    let token = relayed_token(peer.port());
                    // What the kernel would have delivered to the target:
                    // the payload, from the sender's relayed address.
                    let from = SocketAddr::new(peer.ip(), socket.port());
                    let len = payload.len();
                    let hairpin = peer.ip() == self.relay_ip;
                    if hairpin && let Some(target) = self.sockets.get(&token) {
                        self.counts.hairpins += 1;
                        let (slot, _) = self.pool.slot(i);
                        slot.copy_within(
                            HEADROOM + payload.start..HEADROOM + payload.end,
                            HEADROOM,
                        );
                        to_client(
                            Delivery {
                                table: &self.table,
                                pool: &mut self.pool,
                                indication_seq: &mut self.indication_seq,
                                to_clients: &mut self.to_clients,
                                counts: &mut self.counts,
                            },
                            target,
                            Some(fd),
                            now,
                            (i, len, from),
                        );
                        continue;
                    }
                    if hairpin
                        && let Some(shard) = self.owners.get(peer.port())
                        && shard != self.index
                        && let Some(link) = self.links.get().and_then(|l| l.get(shard))
                        && let Some(handover) =
                            Handover::new(token, from, &self.pool.datagram(i).1[payload.clone()])
                        && link.hand_over(handover)
                    {
                        self.counts.hairpins += 1;
                        self.counts.handovers += 1;
                        if !self.to_wake.contains(&shard) {
                            self.to_wake.push(shard);
                        }
                        continue;
                    }
                    self.to_peers.push(
                        socket.fd(),
                        i,
                        HEADROOM + payload.start..HEADROOM + payload.end,
                        peer,
                    );
                    continue;
                }
                if listener.to_turn.try_send((datagram.to_vec(), from)).is_ok() {
                    self.counts.misses += 1;
                } else {
                    self.counts.dropped += 1;
                }
            }
            // The shards handed datagrams start on them now, while this
            // one reads on: their queues empty as they fill.
            wake_receivers(&mut self.to_wake, &self.links);
            if !full {
                return;
            }
        }
    }

    /// Reads what peers sent to one relayed socket and relays it to the
    /// client, or hands it to `turn`.
    fn on_relayed(&mut self, token: u64, now: Instant) {
        let Some(target) = self.sockets.get(&token) else {
            return;
        };
        let listener_fd: Option<RawFd> = self.listener.as_ref().map(|l| l.socket.as_raw_fd());
        for _ in 0..BATCHES_PER_SOCKET {
            if self.pool.free() < BATCH {
                flush(&mut self.pool, &mut self.to_peers, &mut self.to_clients);
            }
            let Ok(slots) = self.pool.recv(target.socket.fd(), Source::Relayed) else {
                return;
            };
            let full = slots.len() == BATCH;
            for i in slots {
                let (peer, datagram) = self.pool.datagram(i);
                let len = datagram.len();
                let verdict = to_client(
                    Delivery {
                        table: &self.table,
                        pool: &mut self.pool,
                        indication_seq: &mut self.indication_seq,
                        to_clients: &mut self.to_clients,
                        counts: &mut self.counts,
                    },
                    target,
                    listener_fd,
                    now,
                    (i, len, peer),
                );
                // Swept at the next housekeeping.
                if verdict == Verdict::Closed {
                    return;
                }
            }
            if !full {
                return;
            }
        }
    }

    /// Relays what other shards handed over to the clients of this one's
    /// allocations.
    ///
    /// At most a queue's worth per wake-up, so that other shards pushing
    /// as fast as this one relays cannot keep it from its own sockets and
    /// commands: with more waiting, it wakes itself again.
    fn on_handovers(&mut self, now: Instant) {
        let listener_fd = self.listener.as_ref().map(|l| l.socket.as_raw_fd());
        for taken in 0.. {
            if taken == handover::QUEUE {
                let _ = self.wake.write(1);
                return;
            }
            let Ok(handover) = self.handovers.try_recv() else {
                return;
            };
            // Let go of since: as a datagram to a closed socket, lost.
            let Some(target) = self.sockets.get(&handover.token) else {
                continue;
            };
            if self.pool.free() == 0 {
                flush(&mut self.pool, &mut self.to_peers, &mut self.to_clients);
            }
            let Some(i) = self.pool.insert(handover.payload(), handover.from) else {
                continue;
            };
            to_client(
                Delivery {
                    table: &self.table,
                    pool: &mut self.pool,
                    indication_seq: &mut self.indication_seq,
                    to_clients: &mut self.to_clients,
                    counts: &mut self.counts,
                },
                target,
                listener_fd,
                now,
                (i, handover.payload().len(), handover.from),
            );
        }
    }

    /// Adds the thread's counters to the relay's.
    fn publish_counts(&mut self) {
        let s = &self.stats;
        let c = std::mem::take(&mut self.counts);
        let add = |a: &std::sync::atomic::AtomicU64, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(
            &s.fastpath_datagrams,
            std::mem::take(&mut self.to_peers.sent) + std::mem::take(&mut self.to_clients.sent),
        );
        add(&s.fastpath_misses, c.misses);
        add(&s.fastpath_hairpins, c.hairpins);
        add(&s.fastpath_handovers, c.handovers);
        add(
            &s.fastpath_dropped,
            c.dropped
                + std::mem::take(&mut self.to_peers.dropped)
                + std::mem::take(&mut self.to_clients.dropped),
        );
        add(&s.junk_datagrams, c.junk);
        add(
            &s.datagrams_truncated,
            std::mem::take(&mut self.pool.truncated),
        );
        add(&s.recv_batches, std::mem::take(&mut self.pool.calls));
        add(
            &s.send_batches,
            std::mem::take(&mut self.to_peers.calls) + std::mem::take(&mut self.to_clients.calls),
        );
        add(
            &s.gso_messages,
            std::mem::take(&mut self.to_peers.gso_messages)
                + std::mem::take(&mut self.to_clients.gso_messages),
        );
    }

    /// Forgets expired routes and lets go of closed allocations' sockets.
    fn housekeeping(&mut self, now: Instant) {
        self.table.expire(now);
        let closed: Vec<u64> = self
            .sockets
            .iter()
            .filter(|(_, a)| a.socket.is_closed())
            .map(|(t, _)| *t)
            .collect();
        for token in closed {
            let Some(a) = self.sockets.remove(&token) else {
                continue;
            };
            let _ = self.epoll.delete(a.socket.socket());
            self.owners.clear(a.socket.port(), self.index);
            // A no-op if a new allocation from the same address replaced
            // it at adoption (the table no longer holds this id).
            if let Some(id) = a.route {
                self.table.remove_allocation(id);
            }
        }
    }
}

/// The `epoll` token of a relayed socket: its port, unique in the relay
/// while the socket is open (the shard holds it open until it forgets the
/// token), so that a hairpin finds its target by the peer's port.
fn relayed_token(port: u16) -> u64 {
    RELAYED + u64::from(port)
}

/// Wakes the shards in `to_wake` (those handed datagrams since the last
/// call) and empties it.
fn wake_receivers(to_wake: &mut Vec<usize>, links: &OnceLock<Vec<ShardLink>>) {
    for shard in to_wake.drain(..) {
        if let Some(link) = links.get().and_then(|l| l.get(shard)) {
            link.wake();
        }
    }
}

/// What relaying a datagram to a client takes from the shard's state.
struct Delivery<'a> {
    table: &'a Table,
    pool: &'a mut Pool,
    indication_seq: &'a mut u64,
    to_clients: &'a mut Outbox,
    counts: &'a mut Counts,
}

/// A datagram of `len` bytes from `from`, at `HEADROOM` in slot `i`, that
/// `target`'s relayed socket read or that was handed over to it without
/// the kernel: checked as the receiver's (an empty one dropped
/// uncounted), then queued for its client through `listener_fd`, or
/// handed to `turn` when the table knows no route. Returns the check's
/// verdict (an empty datagram: `Drop`).
fn to_client(
    d: Delivery<'_>,
    target: &Adopted,
    listener_fd: Option<RawFd>,
    now: Instant,
    (i, len, from): (usize, usize, SocketAddr),
) -> Verdict {
    if len == 0 {
        return Verdict::Drop;
    }
    let verdict = target.socket.check_from_peer(len, from);
    if verdict != Verdict::Pass {
        return verdict;
    }
    let framed = match (target.route, listener_fd) {
        (Some(id), Some(fd)) => d.table.client(id).and_then(|client| {
            frame_for_client(d.table, d.pool, d.indication_seq, now, (id, from), (i, len))
                .map(|range| (fd, client, range))
        }),
        _ => None,
    };
    match framed {
        Some((fd, client, range)) => d.to_clients.push(fd, i, range, client),
        None => {
            let (slot, _) = d.pool.slot(i);
            if target.socket.miss(&slot[HEADROOM..HEADROOM + len], from) {
                d.counts.misses += 1;
            } else {
                d.counts.dropped += 1;
            }
        }
    }
    Verdict::Pass
}

/// Frames the datagram of `len` bytes a peer sent, at `HEADROOM` in slot
/// `i`, for the client of allocation `id`: ChannelData on the channel
/// bound to `peer`, or a Data indication if the client only has a
/// permission. `None` when the table knows no route (`turn` decides).
fn frame_for_client(
    table: &Table,
    pool: &mut Pool,
    indication_seq: &mut u64,
    now: Instant,
    (id, peer): (AllocationId, SocketAddr),
    (i, len): (usize, usize),
) -> Option<Range<usize>> {
    match table.peer_route(now, id, peer) {
        PeerRoute::Channel(channel) => {
            let (slot, _) = pool.slot(i);
            wire::wrap_channel_data(slot, len, channel)
        }
        PeerRoute::Indication => {
            *indication_seq = indication_seq.wrapping_add(1);
            let mut txid = [0u8; 12];
            txid[4..].copy_from_slice(&indication_seq.to_be_bytes());
            let (slot, _) = pool.slot(i);
            wire::wrap_data_indication(slot, len, peer, &txid)
        }
        PeerRoute::Control => None,
    }
}

/// Sends what is queued and frees the pool's slots.
fn flush(pool: &mut Pool, to_peers: &mut Outbox, to_clients: &mut Outbox) {
    to_peers.flush(pool);
    to_clients.flush(pool);
    pool.clear();
}
