//! What the data path knows of the control plane's decisions: which
//! allocation a client's address holds, the allocation's channels and its
//! permissions, each with the lifetime the `turn` server gives it.
//!
//! The `turn` crate tells nobody when it binds a channel or installs a
//! permission, so the table learns them by watching the control plane's
//! traffic go by: [`Table::observe_request`] notes a ChannelBind or
//! CreatePermission a client sent, [`Table::observe_answer`] installs it
//! when the `turn` server's success answer to that very transaction goes
//! back to the same client. The server has checked the request's
//! credentials and peer by then; the table never decides anything the
//! server did not.
//!
//! Entries expire [`MARGIN`] before the server's own, so a packet the table
//! no longer routes still finds the binding on the server's slow path.
//! Sans IO: every call takes `now`; [`Table::next_expiry`] says when to
//! call [`Table::expire`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::wire::{self, ATTR_XOR_PEER_ADDRESS, CHANNELS, ClientDatagram, MAGIC_COOKIE};

/// The `turn` server's channel binding lifetime (RFC 8656 §12: 10 min).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// The `turn` server's permission lifetime (RFC 8656 §9: 300 s).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// How much sooner than the server the table forgets a binding.
pub const MARGIN: Duration = Duration::from_secs(1);
/// How long a request waits for its answer before it is forgotten.
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Requests awaiting an answer, at most: a flood of requests makes the
/// table note none (they then take the slow path), never grow.
pub const MAX_PENDING: usize = 4096;

/// ChannelBind request and success answer.
const CHANNEL_BIND: u16 = 0x0009;
const CHANNEL_BIND_SUCCESS: u16 = 0x0109;
/// CreatePermission request and success answer.
const CREATE_PERMISSION: u16 = 0x0008;
const CREATE_PERMISSION_SUCCESS: u16 = 0x0108;
/// The CHANNEL-NUMBER attribute.
const ATTR_CHANNEL_NUMBER: u16 = 0x000C;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An allocation, as the table names it (a number, not the client's
/// address, so that the per-packet maps key on 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocationId(pub u32);

/// Where a datagram from a peer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRoute {
    /// As ChannelData on this channel.
    Channel(u16),
    /// As a Data indication (a permission, no channel).
    Indication,
    /// Not known here: the control plane decides (it drops what has no
    /// permission).
    Control,
}

/// Where a datagram from a client goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRoute {
    /// `datagram[payload]` goes to `peer` from `allocation`'s relayed
    /// socket.
    Peer {
        allocation: AllocationId,
        peer: SocketAddr,
        payload: Range<usize>,
    },
    /// The control plane reads it (a request, which the table has noted,
    /// or data on a route the table does not know).
    Control,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    peer: SocketAddr,
    expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noted {
    ChannelBind {
        channel: u16,
        peer: SocketAddr,
    },
    Permission {
        ip: IpAddr,
    },
    /// Two different requests under one transaction id: install neither.
    Conflict,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    noted: Noted,
    at: Instant,
}

/// The data path's routing state for one shard of clients.
#[derive(Debug, Default)]
pub struct Table {
    next_id: u32,
    allocations: Map<SocketAddr, AllocationId>,
    channels: Map<(AllocationId, u16), Channel>,
    by_peer: Map<(AllocationId, SocketAddr), u16>,
    permissions: Map<(AllocationId, IpAddr), Instant>,
    pending: Map<(SocketAddr, [u8; 12]), Pending>,
}

impl Table {
    /// A client's allocation is live (the relay opened its socket).
    pub fn add_allocation(&mut self, client: SocketAddr) -> AllocationId {
        if let Some(id) = self.allocations.get(&client) {
            return *id;
        }
        self.next_id = self.next_id.wrapping_add(1);
        let id = AllocationId(self.next_id);
        self.allocations.insert(client, id);
        id
    }

    /// A client's allocation ended (deleted, expired, revoked): forget it
    /// and everything bound to it.
    pub fn remove_allocation(&mut self, client: SocketAddr) {
        let Some(id) = self.allocations.remove(&client) else {
            return;
        };
        self.channels.retain(|(a, _), _| *a != id);
        self.by_peer.retain(|(a, _), _| *a != id);
        self.permissions.retain(|(a, _), _| *a != id);
    }

    /// The allocation `client` holds, if any.
    pub fn allocation(&self, client: SocketAddr) -> Option<AllocationId> {
        self.allocations.get(&client).copied()
    }

    /// Where ChannelData from `client` on `channel` goes.
    pub fn channel_peer(
        &self,
        now: Instant,
        client: SocketAddr,
        channel: u16,
    ) -> Option<(AllocationId, SocketAddr)> {
        let id = self.allocations.get(&client)?;
        let c = self.channels.get(&(*id, channel))?;
        (c.expires > now).then_some((*id, c.peer))
    }

    /// Whether `client`'s allocation may send to and hear from `ip`.
    pub fn permits(&self, now: Instant, id: AllocationId, ip: IpAddr) -> bool {
        self.permissions
            .get(&(id, ip))
            .is_some_and(|expires| *expires > now)
    }

    /// How a datagram `peer` sent to allocation `id` goes to its client.
    pub fn peer_route(&self, now: Instant, id: AllocationId, peer: SocketAddr) -> PeerRoute {
        if let Some(channel) = self.by_peer.get(&(id, peer))
            && self
                .channels
                .get(&(id, *channel))
                .is_some_and(|c| c.expires > now)
        {
            return PeerRoute::Channel(*channel);
        }
        if self.permits(now, id, peer.ip()) {
            PeerRoute::Indication
        } else {
            PeerRoute::Control
        }
    }

    /// What to do with `datagram` from `client`: ChannelData on a live
    /// channel and a Send indication to a permitted peer go to the peer;
    /// anything else is the control plane's, and a ChannelBind or
    /// CreatePermission among it is noted ([`Table::observe_request`]).
    pub fn route_client(
        &mut self,
        now: Instant,
        client: SocketAddr,
        datagram: &[u8],
    ) -> ClientRoute {
        let to_peer = match wire::read_client(datagram) {
            // Port 0 is no peer (the kernel refuses to send there).
            ClientDatagram::Send { peer, .. } if peer.port() == 0 => None,
            ClientDatagram::ChannelData { channel, payload } => self
                .channel_peer(now, client, channel)
                .map(|(allocation, peer)| (allocation, peer, payload)),
            ClientDatagram::Send { peer, data } => self
                .allocation(client)
                .filter(|id| self.permits(now, *id, peer.ip()))
                .map(|allocation| (allocation, peer, data)),
            ClientDatagram::Control => {
                self.observe_request(now, client, datagram);
                None
            }
        };
        match to_peer.filter(|(_, peer, _)| peer.port() != 0) {
            Some((allocation, peer, payload)) => ClientRoute::Peer {
                allocation,
                peer,
                payload,
            },
            None => ClientRoute::Control,
        }
    }

    /// Notes a ChannelBind or CreatePermission `client` sent (any other
    /// datagram is ignored). Nothing is installed until the answer.
    pub fn observe_request(&mut self, now: Instant, client: SocketAddr, buf: &[u8]) {
        // The server answers nothing to a client without an allocation: a
        // note from one would only wait out ANSWER_WAIT, and a flood of
        // them would fill `pending` for everyone.
        if !self.allocations.contains_key(&client) {
            return;
        }
        let Some((kind, txid)) = stun_header(buf) else {
            return;
        };
        let noted = match kind {
            CHANNEL_BIND => read_channel_bind(buf, &txid),
            CREATE_PERMISSION => {
                read_first_peer(buf, &txid).map(|p| Noted::Permission { ip: p.ip() })
            }
            _ => return,
        };
        let Some(noted) = noted else { return };
        let full = self.pending.len() >= MAX_PENDING;
        match self.pending.entry((client, txid)) {
            Entry::Occupied(mut e) => {
                if e.get().noted != noted {
                    e.get_mut().noted = Noted::Conflict;
                }
            }
            Entry::Vacant(e) if !full => {
                e.insert(Pending { noted, at: now });
            }
            Entry::Vacant(_) => {}
        }
    }

    /// Installs what a noted request asked for when the server's answer to
    /// `client` is that request's success.
    pub fn observe_answer(&mut self, now: Instant, client: SocketAddr, buf: &[u8]) {
        let Some((kind, txid)) = stun_header(buf) else {
            return;
        };
        if kind != CHANNEL_BIND_SUCCESS && kind != CREATE_PERMISSION_SUCCESS {
            // An error answer ends the transaction too.
            if kind & 0x0110 == 0x0110 {
                self.pending.remove(&(client, txid));
            }
            return;
        }
        let Some(p) = self.pending.remove(&(client, txid)) else {
            return;
        };
        let Some(id) = self.allocations.get(&client).copied() else {
            return;
        };
        match (kind, p.noted) {
            (CHANNEL_BIND_SUCCESS, Noted::ChannelBind { channel, peer }) => {
                // The server refuses a channel already bound to another
                // peer and a peer already on another channel; mirror it.
                if let Some(old) = self.channels.get(&(id, channel))
                    && old.peer != peer
                {
                    return;
                }
                if let Some(old) = self.by_peer.get(&(id, peer))
                    && *old != channel
                {
                    return;
                }
                self.channels.insert(
                    (id, channel),
                    Channel {
                        peer,
                        expires: now + CHANNEL_LIFETIME - MARGIN,
                    },
                );
                self.by_peer.insert((id, peer), channel);
                self.permissions
                    .insert((id, peer.ip()), now + PERMISSION_LIFETIME - MARGIN);
            }
            (CREATE_PERMISSION_SUCCESS, Noted::Permission { ip }) => {
                self.permissions
                    .insert((id, ip), now + PERMISSION_LIFETIME - MARGIN);
            }
            _ => {}
        }
    }

    /// Forgets expired bindings, permissions and unanswered requests.
    pub fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        self.channels.retain(|(id, ch), c| {
            let live = c.expires > now;
            if !live {
                gone.push((*id, c.peer, *ch));
            }
            live
        });
        for (id, peer, ch) in gone {
            if self.by_peer.get(&(id, peer)) == Some(&ch) {
                self.by_peer.remove(&(id, peer));
            }
        }
        self.permissions.retain(|_, expires| *expires > now);
        self.pending.retain(|_, p| now < p.at + ANSWER_WAIT);
    }

    /// When [`Table::expire`] next has something to do.
    pub fn next_expiry(&self) -> Option<Instant> {
        let channels = self.channels.values().map(|c| c.expires);
        let permissions = self.permissions.values().copied();
        let pending = self.pending.values().map(|p| p.at + ANSWER_WAIT);
        channels.chain(permissions).chain(pending).min()
    }

    /// Requests awaiting their answer (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Allocate success answer.
const ALLOCATE_SUCCESS: u16 = 0x0103;
/// The XOR-RELAYED-ADDRESS attribute.
const ATTR_XOR_RELAYED_ADDRESS: u16 = 0x0016;

/// The relayed address an Allocate success answer grants, if `buf` is
/// one: how the data path learns that an allocation is live, and which
/// relayed socket it holds.
pub fn granted_relayed_address(buf: &[u8]) -> Option<SocketAddr> {
    let (kind, txid) = stun_header(buf)?;
    if kind != ALLOCATE_SUCCESS {
        return None;
    }
    attributes(buf)
        .find(|(k, _)| *k == ATTR_XOR_RELAYED_ADDRESS)
        .and_then(|(_, v)| wire::read_xor_address(v, &txid))
}

/// A STUN message's type and transaction id.
fn stun_header(buf: &[u8]) -> Option<(u16, [u8; 12])> {
    if buf.len() < 20
        || buf[0] >> 6 != 0
        || u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) != MAGIC_COOKIE
        || 20 + usize::from(u16::from_be_bytes([buf[2], buf[3]])) != buf.len()
    {
        return None;
    }
    Some((
        u16::from_be_bytes([buf[0], buf[1]]),
        buf[8..20].try_into().ok()?,
    ))
}

/// The attributes of a STUN message, as (type, value).
fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 20;
    std::iter::from_fn(move || {
        let kind = u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([*buf.get(at + 2)?, *buf.get(at + 3)?]));
        let value = buf.get(at + 4..at + 4 + len)?;
        at += 4 + len + (4 - len % 4) % 4;
        Some((kind, value))
    })
}

fn read_first_peer(buf: &[u8], txid: &[u8; 12]) -> Option<SocketAddr> {
    attributes(buf)
        .find(|(k, _)| *k == ATTR_XOR_PEER_ADDRESS)
        .and_then(|(_, v)| wire::read_xor_address(v, txid))
}

fn read_channel_bind(buf: &[u8], txid: &[u8; 12]) -> Option<Noted> {
    let (_, v) = attributes(buf).find(|(k, _)| *k == ATTR_CHANNEL_NUMBER)?;
    let channel = u16::from_be_bytes([*v.first()?, *v.get(1)?]);
    if !CHANNELS.contains(&channel) {
        return None;
    }
    Some(Noted::ChannelBind {
        channel,
        peer: read_first_peer(buf, txid)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::fastpath::wire::{test_message, write_xor_address};

    #[test]
    fn an_allocate_success_names_its_relayed_address() {
        let txid = [9u8; 12];
        let relayed: SocketAddr = "192.0.2.15:50000".parse().unwrap();
        let mut v = [0u8; 20];
        let n = write_xor_address(relayed, &txid, &mut v);
        let ok = test_message(
            ALLOCATE_SUCCESS,
            txid,
            &[(ATTR_XOR_RELAYED_ADDRESS, &v[..n])],
        );
        assert_eq!(granted_relayed_address(&ok), Some(relayed));
        let refresh = test_message(0x0104, txid, &[(ATTR_XOR_RELAYED_ADDRESS, &v[..n])]);
        assert_eq!(granted_relayed_address(&refresh), None);
        assert_eq!(granted_relayed_address(&ok[..ok.len() - 1]), None);
        let bare = test_message(ALLOCATE_SUCCESS, txid, &[]);
        assert_eq!(granted_relayed_address(&bare), None);
    }

    const CLIENT: &str = "10.0.0.1:5000";

    fn message(kind: u16, txid: [u8; 12], attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let attrs: Vec<(u16, &[u8])> = attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        test_message(kind, txid, &attrs)
    }

    fn peer_attr(peer: &str, txid: [u8; 12]) -> (u16, Vec<u8>) {
        let mut out = [0u8; 20];
        let n = write_xor_address(peer.parse().unwrap(), &txid, &mut out);
        (ATTR_XOR_PEER_ADDRESS, out[..n].to_vec())
    }

    fn bind(channel: u16, peer: &str, txid: [u8; 12]) -> Vec<u8> {
        let mut ch = channel.to_be_bytes().to_vec();
        ch.extend_from_slice(&[0, 0]);
        message(
            CHANNEL_BIND,
            txid,
            &[(ATTR_CHANNEL_NUMBER, ch), peer_attr(peer, txid)],
        )
    }

    #[test]
    fn client_datagrams_go_to_a_peer_only_on_a_route_the_server_granted() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::default();
        let id = t.add_allocation(client);
        let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
        let data = b"\x40\x01\x00\x03abc\x00";
        // Before the bind: the control plane's.
        assert_eq!(t.route_client(now, client, data), ClientRoute::Control);
        // The request is noted on its way to the server.
        let request = bind(0x4001, "10.0.0.2:6000", [3; 12]);
        assert_eq!(t.route_client(now, client, &request), ClientRoute::Control);
        assert_eq!(t.pending(), 1);
        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, [3; 12], &[]));
        assert_eq!(
            t.route_client(now, client, data),
            ClientRoute::Peer {
                allocation: id,
                peer,
                payload: 4..7
            }
        );
        // Another client, another channel: not routed.
        let other: SocketAddr = "10.0.0.3:5000".parse().unwrap();
        assert_eq!(t.route_client(now, other, data), ClientRoute::Control);
        assert_eq!(
            t.route_client(now, client, b"\x40\x02\x00\x03abc\x00"),
            ClientRoute::Control
        );
        // A Send indication to the permitted IP (another port) goes; to
        // another IP it is the server's.
        let txid = [4u8; 12];
        let send = |to: &str| {
            message(
                wire::SEND_INDICATION,
                txid,
                &[peer_attr(to, txid), (wire::ATTR_DATA, b"xyz".to_vec())],
            )
        };
        match t.route_client(now, client, &send("10.0.0.2:7000")) {
            ClientRoute::Peer {
                allocation, peer, ..
            } => assert_eq!((allocation, peer), (id, "10.0.0.2:7000".parse().unwrap())),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.route_client(now, client, &send("10.0.0.4:7000")),
            ClientRoute::Control
        );
    }

    #[test]
    fn requests_from_addresses_without_an_allocation_are_not_noted() {
        let now = Instant::now();
        let mut t = Table::default();
        let stranger: SocketAddr = "10.0.0.66:4000".parse().unwrap();
        for i in 0..100u8 {
            t.observe_request(now, stranger, &bind(0x4001, "10.0.0.2:6000", [i; 12]));
        }
        assert_eq!(t.pending(), 0, "a flood from strangers fills nothing");
        // Port 0 is no peer: a Send indication to it is the server's.
        let client: SocketAddr = CLIENT.parse().unwrap();
        let id = t.add_allocation(client);
        let txid = [5u8; 12];
        t.observe_request(
            now,
            client,
            &message(CREATE_PERMISSION, txid, &[peer_attr("10.0.0.2:1", txid)]),
        );
        t.observe_answer(now, client, &message(CREATE_PERMISSION_SUCCESS, txid, &[]));
        assert!(t.permits(now, id, "10.0.0.2".parse().unwrap()));
        let send = message(
            wire::SEND_INDICATION,
            txid,
            &[
                peer_attr("10.0.0.2:0", txid),
                (wire::ATTR_DATA, b"x".to_vec()),
            ],
        );
        assert_eq!(t.route_client(now, client, &send), ClientRoute::Control);
    }

    #[test]
    fn a_channel_is_routed_only_after_the_servers_success_answer() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::default();
        let id = t.add_allocation(client);
        let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
        t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", [1; 12]));
        assert_eq!(t.channel_peer(now, client, 0x4001), None, "no answer yet");
        assert_eq!(t.peer_route(now, id, peer), PeerRoute::Control);
        // An answer to another transaction or another client installs nothing.
        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, [2; 12], &[]));
        t.observe_answer(
            now,
            "10.0.0.9:1".parse().unwrap(),
            &message(CHANNEL_BIND_SUCCESS, [1; 12], &[]),
        );
        assert_eq!(t.channel_peer(now, client, 0x4001), None);
        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, [1; 12], &[]));
        assert_eq!(t.channel_peer(now, client, 0x4001), Some((id, peer)));
        assert_eq!(t.peer_route(now, id, peer), PeerRoute::Channel(0x4001));
        // The binding's permission covers the peer's other ports, as a Data
        // indication.
        assert_eq!(
            t.peer_route(now, id, "10.0.0.2:7000".parse().unwrap()),
            PeerRoute::Indication
        );
        // The permission ends first (5 min), then the channel (10 min),
        // each a second before the server's.
        let later = now + PERMISSION_LIFETIME - MARGIN;
        assert!(!t.permits(later, id, peer.ip()));
        assert_eq!(t.peer_route(later, id, peer), PeerRoute::Channel(0x4001));
        let end = now + CHANNEL_LIFETIME - MARGIN;
        assert_eq!(t.channel_peer(end, client, 0x4001), None);
        assert_eq!(t.next_expiry(), Some(later));
        t.expire(end);
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.peer_route(now, id, peer), PeerRoute::Control);
    }

    #[test]
    fn an_error_answer_or_a_conflicting_request_installs_nothing() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::default();
        t.add_allocation(client);
        t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", [1; 12]));
        t.observe_answer(now, client, &message(0x0119, [1; 12], &[]));
        assert_eq!(t.pending(), 0, "an error answer ends the transaction");
        // A second request under the same id naming another peer (spoofed
        // or not): the success that follows installs neither.
        t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", [3; 12]));
        t.observe_request(now, client, &bind(0x4001, "10.6.6.6:6000", [3; 12]));
        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, [3; 12], &[]));
        assert_eq!(t.channel_peer(now, client, 0x4001), None);
        // Unanswered requests are forgotten after ANSWER_WAIT.
        t.observe_request(now, client, &bind(0x4002, "10.0.0.2:6000", [4; 12]));
        t.expire(now + ANSWER_WAIT);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_permission_is_its_first_peers_address_only() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::default();
        let id = t.add_allocation(client);
        let txid = [5; 12];
        let m = message(
            CREATE_PERMISSION,
            txid,
            &[peer_attr("10.0.0.3:1", txid), peer_attr("10.0.0.4:1", txid)],
        );
        t.observe_request(now, client, &m);
        t.observe_answer(now, client, &message(CREATE_PERMISSION_SUCCESS, txid, &[]));
        assert!(t.permits(now, id, "10.0.0.3".parse().unwrap()));
        assert!(!t.permits(now, id, "10.0.0.4".parse().unwrap()));
        t.remove_allocation(client);
        assert!(!t.permits(now, id, "10.0.0.3".parse().unwrap()));
        assert_eq!(t.allocation(client), None);
    }

    #[test]
    fn the_pending_requests_are_bounded() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::default();
        t.add_allocation(client);
        for i in 0..(MAX_PENDING as u32 + 10) {
            let mut txid = [0u8; 12];
            txid[..4].copy_from_slice(&i.to_be_bytes());
            t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", txid));
        }
        assert_eq!(t.pending(), MAX_PENDING);
    }

    proptest::proptest! {
        /// Whatever requests and answers go by, in whatever order, the
        /// table routes a channel only to the peer its request named, never
        /// binds one channel to two peers nor one peer to two channels, and
        /// routes nothing after expiry.
        #[test]
        fn routes_only_what_a_success_installed(
            ops in proptest::collection::vec((0u8..4, 0u8..3, 0u8..3, 0u8..4, 0u64..700), 0..60)
        ) {
            let client: SocketAddr = CLIENT.parse().unwrap();
            let peers = ["10.0.0.2:6000", "10.0.0.3:6000", "10.0.0.2:7000"];
            let mut t = Table::default();
            let id = t.add_allocation(client);
            let mut asked: Vec<(u16, SocketAddr)> = Vec::new();
            let mut now = Instant::now();
            for (op, ch, peer, tx, secs) in ops {
                now += Duration::from_secs(secs / 10);
                let channel = 0x4000 + u16::from(ch);
                let txid = [tx; 12];
                match op {
                    0 => {
                        t.observe_request(now, client, &bind(channel, peers[peer as usize], txid));
                        asked.push((channel, peers[peer as usize].parse().unwrap()));
                    }
                    1 => t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, txid, &[])),
                    2 => t.observe_answer(now, client, &message(0x0119, txid, &[])),
                    _ => t.expire(now),
                }
                for ch in 0x4000..0x4003u16 {
                    if let Some((a, p)) = t.channel_peer(now, client, ch) {
                        proptest::prop_assert_eq!(a, id);
                        proptest::prop_assert!(asked.contains(&(ch, p)));
                        proptest::prop_assert_eq!(t.peer_route(now, id, p), PeerRoute::Channel(ch));
                    }
                }
                let bound: Vec<_> = (0x4000..0x4003u16)
                    .filter_map(|ch| t.channel_peer(now, client, ch).map(|(_, p)| p))
                    .collect();
                for (i, p) in bound.iter().enumerate() {
                    proptest::prop_assert!(!bound[i + 1..].contains(p), "one peer on two channels");
                }
                proptest::prop_assert!(t.channel_peer(now + CHANNEL_LIFETIME, client, 0x4000).is_none());
            }
        }
    }
}
