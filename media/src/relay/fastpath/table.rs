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
//! Entries expire [`MARGIN`] before the server's own, or up to a second
//! sooner still (lifetimes are kept in whole seconds, [`Deadline`]), so a
//! packet the table no longer routes still finds the binding on the
//! server's slow path. Sans IO: every call takes `now`;
//! [`Table::next_expiry`] says when to call [`Table::expire`].
//!
//! Storage: each allocation, channel and permission sits once in a
//! [`Slab`], found through [`Index`]es of 4-byte indices (`slab` says why:
//! memory per allocation).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::slab::{Index, Key, Slab};
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

/// An allocation, as the table names it: valid while the allocation is in
/// the table, never the name of a later one (a shard keeps it beside the
/// relayed socket until it lets the socket go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocationId(Key);

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
    /// socket, the one bound on `relayed_port`.
    Peer {
        allocation: AllocationId,
        relayed_port: u16,
        peer: SocketAddr,
        payload: Range<usize>,
    },
    /// The control plane reads it (a request, which the table has noted,
    /// or data on a route the table does not know).
    Control,
}

/// A moment as whole seconds since the table's epoch, rounded down (4
/// bytes where an `Instant` takes 16): an entry ends up to a second before
/// the moment it was given, which only sends its packets to the slow path
/// that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline(u32);

#[derive(Debug)]
struct Allocation {
    client: SocketAddr,
    /// Where its relayed socket is bound (the shard finds the socket by
    /// it).
    relayed_port: u16,
}

#[derive(Debug)]
struct Channel {
    /// The allocation's slot ([`Key::index`]): its channels go before it.
    allocation: u32,
    number: u16,
    peer: SocketAddr,
    expires: Deadline,
}

#[derive(Debug)]
struct Permission {
    /// As [`Channel::allocation`].
    allocation: u32,
    ip: IpAddr,
    expires: Deadline,
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
#[derive(Debug)]
pub struct Table {
    /// What [`Deadline`]s count from.
    epoch: Instant,
    /// One hasher for every [`Index`] (keyed at random per table).
    hasher: foldhash::fast::RandomState,
    allocations: Slab<Allocation>,
    /// Allocations by client address.
    by_client: Index,
    channels: Slab<Channel>,
    /// Channels by (allocation, number): ChannelData from the client.
    by_number: Index,
    /// Channels by (allocation, peer): datagrams from the peer.
    by_peer: Index,
    permissions: Slab<Permission>,
    /// Permissions by (allocation, peer IP).
    by_ip: Index,
    pending: Map<(SocketAddr, [u8; 12]), Pending>,
}

impl Table {
    /// An empty table; its lifetimes count from `now`.
    pub fn new(now: Instant) -> Table {
        Table {
            epoch: now,
            hasher: Default::default(),
            allocations: Slab::default(),
            by_client: Index::default(),
            channels: Slab::default(),
            by_number: Index::default(),
            by_peer: Index::default(),
            permissions: Slab::default(),
            by_ip: Index::default(),
            pending: Map::default(),
        }
    }

    fn hash(&self, key: impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    /// `at` as a [`Deadline`] (rounded down).
    fn deadline(&self, at: Instant) -> Deadline {
        let secs = at.saturating_duration_since(self.epoch).as_secs();
        Deadline(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// Whether `deadline` is still ahead at `now`.
    fn live(&self, now: Instant, deadline: Deadline) -> bool {
        now.saturating_duration_since(self.epoch) < Duration::from_secs(u64::from(deadline.0))
    }

    fn instant(&self, deadline: Deadline) -> Instant {
        self.epoch + Duration::from_secs(u64::from(deadline.0))
    }

    /// A client's allocation is live (the relay opened its socket on
    /// `relayed_port`). The server grants a client one allocation at a
    /// time: whatever the table still held for `client` was a closed one's
    /// and goes, with its channels and permissions. `None` only if the
    /// table cannot hold another.
    pub fn add_allocation(
        &mut self,
        client: SocketAddr,
        relayed_port: u16,
    ) -> Option<AllocationId> {
        if let Some(old) = self.allocation(client) {
            self.remove_allocation(old);
        }
        let key = self.allocations.insert(Allocation {
            client,
            relayed_port,
        })?;
        let hasher = &self.hasher;
        self.by_client
            .insert(&self.allocations, key, hasher.hash_one(client), |a| {
                hasher.hash_one(a.client)
            });
        Some(AllocationId(key))
    }

    /// An allocation ended (deleted, expired, revoked, replaced): forget it
    /// and everything bound to it. An id the table no longer holds is
    /// ignored.
    pub fn remove_allocation(&mut self, id: AllocationId) {
        let Some(client) = self.allocations.get(id.0).map(|a| a.client) else {
            return;
        };
        let slot = id.0.index();
        for key in self.channels.keys_where(|c| c.allocation == slot) {
            self.remove_channel(key);
        }
        for key in self.permissions.keys_where(|p| p.allocation == slot) {
            self.remove_permission(key);
        }
        self.by_client.remove(id.0, self.hash(client));
        self.allocations.remove(id.0);
    }

    fn remove_channel(&mut self, key: Key) {
        let Some(c) = self.channels.get(key) else {
            return;
        };
        let by_number = self.hash((c.allocation, c.number));
        let by_peer = self.hash((c.allocation, c.peer));
        self.by_number.remove(key, by_number);
        self.by_peer.remove(key, by_peer);
        self.channels.remove(key);
    }

    fn remove_permission(&mut self, key: Key) {
        let Some(p) = self.permissions.get(key) else {
            return;
        };
        let hash = self.hash((p.allocation, p.ip));
        self.by_ip.remove(key, hash);
        self.permissions.remove(key);
    }

    /// The allocation `client` holds, if any.
    pub fn allocation(&self, client: SocketAddr) -> Option<AllocationId> {
        self.by_client
            .find(&self.allocations, self.hash(client), |a| a.client == client)
            .map(|(key, _)| AllocationId(key))
    }

    /// The client of allocation `id`, while the table holds it.
    pub fn client(&self, id: AllocationId) -> Option<SocketAddr> {
        self.allocations.get(id.0).map(|a| a.client)
    }

    /// Allocation `id`'s channel `number`.
    fn channel(&self, id: AllocationId, number: u16) -> Option<(Key, &Channel)> {
        let slot = id.0.index();
        self.by_number
            .find(&self.channels, self.hash((slot, number)), |c| {
                c.allocation == slot && c.number == number
            })
    }

    /// The channel allocation `id` bound to `peer`.
    fn channel_to(&self, id: AllocationId, peer: SocketAddr) -> Option<(Key, &Channel)> {
        let slot = id.0.index();
        self.by_peer
            .find(&self.channels, self.hash((slot, peer)), |c| {
                c.allocation == slot && c.peer == peer
            })
    }

    /// Allocation `id`'s permission for `ip`.
    fn permission(&self, id: AllocationId, ip: IpAddr) -> Option<(Key, &Permission)> {
        let slot = id.0.index();
        self.by_ip
            .find(&self.permissions, self.hash((slot, ip)), |p| {
                p.allocation == slot && p.ip == ip
            })
    }

    /// Where ChannelData from `client` on `channel` goes.
    pub fn channel_peer(
        &self,
        now: Instant,
        client: SocketAddr,
        channel: u16,
    ) -> Option<(AllocationId, SocketAddr)> {
        let id = self.allocation(client)?;
        let (_, c) = self.channel(id, channel)?;
        self.live(now, c.expires).then_some((id, c.peer))
    }

    /// Whether allocation `id` may send to and hear from `ip`.
    pub fn permits(&self, now: Instant, id: AllocationId, ip: IpAddr) -> bool {
        self.allocations.get(id.0).is_some() && self.permitted(now, id, ip)
    }

    /// [`Table::permits`] for an `id` already known to be live.
    fn permitted(&self, now: Instant, id: AllocationId, ip: IpAddr) -> bool {
        self.permission(id, ip)
            .is_some_and(|(_, p)| self.live(now, p.expires))
    }

    /// How a datagram `peer` sent to allocation `id` goes to its client.
    pub fn peer_route(&self, now: Instant, id: AllocationId, peer: SocketAddr) -> PeerRoute {
        if self.allocations.get(id.0).is_none() {
            return PeerRoute::Control;
        }
        if let Some((_, c)) = self.channel_to(id, peer)
            && self.live(now, c.expires)
        {
            return PeerRoute::Channel(c.number);
        }
        if self.permitted(now, id, peer.ip()) {
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
            Some((allocation, peer, payload)) => match self.allocations.get(allocation.0) {
                Some(a) => ClientRoute::Peer {
                    allocation,
                    relayed_port: a.relayed_port,
                    peer,
                    payload,
                },
                None => ClientRoute::Control,
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
        if self.allocation(client).is_none() {
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
        let Some(id) = self.allocation(client) else {
            return;
        };
        match (kind, p.noted) {
            (CHANNEL_BIND_SUCCESS, Noted::ChannelBind { channel, peer }) => {
                // The server refuses a channel already bound to another
                // peer and a peer already on another channel; mirror it.
                if self
                    .channel(id, channel)
                    .is_some_and(|(_, c)| c.peer != peer)
                    || self
                        .channel_to(id, peer)
                        .is_some_and(|(_, c)| c.number != channel)
                {
                    return;
                }
                self.bind_channel(id, channel, peer, now + CHANNEL_LIFETIME - MARGIN);
                self.permit(id, peer.ip(), now + PERMISSION_LIFETIME - MARGIN);
            }
            (CREATE_PERMISSION_SUCCESS, Noted::Permission { ip }) => {
                self.permit(id, ip, now + PERMISSION_LIFETIME - MARGIN);
            }
            _ => {}
        }
    }

    /// Binds (or refreshes) allocation `id`'s `channel` to `peer` until
    /// `until`.
    fn bind_channel(&mut self, id: AllocationId, number: u16, peer: SocketAddr, until: Instant) {
        let expires = self.deadline(until);
        if let Some((key, _)) = self.channel(id, number) {
            if let Some(c) = self.channels.get_mut(key) {
                c.expires = expires;
            }
            return;
        }
        let allocation = id.0.index();
        let Some(key) = self.channels.insert(Channel {
            allocation,
            number,
            peer,
            expires,
        }) else {
            return;
        };
        let hasher = &self.hasher;
        self.by_number.insert(
            &self.channels,
            key,
            hasher.hash_one((allocation, number)),
            |c| hasher.hash_one((c.allocation, c.number)),
        );
        self.by_peer.insert(
            &self.channels,
            key,
            hasher.hash_one((allocation, peer)),
            |c| hasher.hash_one((c.allocation, c.peer)),
        );
    }

    /// Permits (or keeps permitting) allocation `id` to exchange with `ip`
    /// until `until`.
    fn permit(&mut self, id: AllocationId, ip: IpAddr, until: Instant) {
        let expires = self.deadline(until);
        if let Some((key, _)) = self.permission(id, ip) {
            if let Some(p) = self.permissions.get_mut(key) {
                p.expires = expires;
            }
            return;
        }
        let allocation = id.0.index();
        let Some(key) = self.permissions.insert(Permission {
            allocation,
            ip,
            expires,
        }) else {
            return;
        };
        let hasher = &self.hasher;
        self.by_ip.insert(
            &self.permissions,
            key,
            hasher.hash_one((allocation, ip)),
            |p| hasher.hash_one((p.allocation, p.ip)),
        );
    }

    /// Forgets expired bindings, permissions and unanswered requests.
    pub fn expire(&mut self, now: Instant) {
        for key in self.channels.keys_where(|c| !self.live(now, c.expires)) {
            self.remove_channel(key);
        }
        for key in self.permissions.keys_where(|p| !self.live(now, p.expires)) {
            self.remove_permission(key);
        }
        self.pending.retain(|_, p| now < p.at + ANSWER_WAIT);
        // A burst of setups (hundreds of clients at once) grew it: give
        // the memory back once they are answered.
        if self.pending.is_empty() {
            self.pending.shrink_to_fit();
        }
    }

    /// When [`Table::expire`] next has something to do.
    pub fn next_expiry(&self) -> Option<Instant> {
        let channels = self.channels.iter().map(|(_, c)| c.expires);
        let permissions = self.permissions.iter().map(|(_, p)| p.expires);
        let bound = channels.chain(permissions).min().map(|d| self.instant(d));
        let pending = self.pending.values().map(|p| p.at + ANSWER_WAIT);
        bound.into_iter().chain(pending).min()
    }

    /// Requests awaiting their answer (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Channels and permissions held (for tests).
    pub fn bindings(&self) -> (usize, usize) {
        (self.channels.len(), self.permissions.len())
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
        let mut t = Table::new(now);
        let id = t.add_allocation(client, 50000).unwrap();
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
                relayed_port: 50000,
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
        let mut t = Table::new(now);
        let stranger: SocketAddr = "10.0.0.66:4000".parse().unwrap();
        for i in 0..100u8 {
            t.observe_request(now, stranger, &bind(0x4001, "10.0.0.2:6000", [i; 12]));
        }
        assert_eq!(t.pending(), 0, "a flood from strangers fills nothing");
        // Port 0 is no peer: a Send indication to it is the server's.
        let client: SocketAddr = CLIENT.parse().unwrap();
        let id = t.add_allocation(client, 50000).unwrap();
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
        let mut t = Table::new(now);
        let id = t.add_allocation(client, 50000).unwrap();
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
        let mut t = Table::new(now);
        t.add_allocation(client, 50000).unwrap();
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
        let mut t = Table::new(now);
        let id = t.add_allocation(client, 50000).unwrap();
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
        t.remove_allocation(id);
        assert!(!t.permits(now, id, "10.0.0.3".parse().unwrap()));
        assert_eq!(t.allocation(client), None);
    }

    #[test]
    fn an_ended_allocations_id_never_names_its_successor() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
        let mut t = Table::new(now);
        let old = t.add_allocation(client, 50000).unwrap();
        t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", [1; 12]));
        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, [1; 12], &[]));
        assert_eq!(t.peer_route(now, old, peer), PeerRoute::Channel(0x4001));
        t.remove_allocation(old);
        assert_eq!(
            t.bindings(),
            (0, 0),
            "its channel and permission go with it"
        );
        // Another client's allocation takes the freed slot.
        let other: SocketAddr = "10.0.0.3:5000".parse().unwrap();
        let new = t.add_allocation(other, 50002).unwrap();
        t.observe_request(now, other, &bind(0x4001, "10.0.0.2:6000", [2; 12]));
        t.observe_answer(now, other, &message(CHANNEL_BIND_SUCCESS, [2; 12], &[]));
        assert_eq!(t.peer_route(now, new, peer), PeerRoute::Channel(0x4001));
        // A shard still holding the old id (its socket not yet let go)
        // routes nothing through the new allocation.
        assert_eq!(t.peer_route(now, old, peer), PeerRoute::Control);
        assert!(!t.permits(now, old, peer.ip()));
        assert_eq!(t.client(old), None);
        assert_eq!(t.client(new), Some(other));
        t.remove_allocation(old);
        assert_eq!(
            t.allocation(other),
            Some(new),
            "removing it again is a no-op"
        );
    }

    #[test]
    fn the_pending_requests_are_bounded() {
        let now = Instant::now();
        let client: SocketAddr = CLIENT.parse().unwrap();
        let mut t = Table::new(now);
        t.add_allocation(client, 50000).unwrap();
        for i in 0..(MAX_PENDING as u32 + 10) {
            let mut txid = [0u8; 12];
            txid[..4].copy_from_slice(&i.to_be_bytes());
            t.observe_request(now, client, &bind(0x4001, "10.0.0.2:6000", txid));
        }
        assert_eq!(t.pending(), MAX_PENDING);
    }

    proptest::proptest! {
        /// Three clients, allocations added and ended, a dozen channels and
        /// peers each (the slabs and their indexes grow and reuse slots),
        /// time moving in uneven steps from an epoch that is not a whole
        /// second away: a client's datagrams go only where the server
        /// granted that client's live allocation, and only before the
        /// server's own expiry less MARGIN; an ended allocation's id routes
        /// nothing.
        #[test]
        fn many_allocations_route_only_their_own_live_grants(
            offset_ms in 0u64..1000,
            ops in proptest::collection::vec((0u8..5, 0usize..3, 0u16..12, 0u8..12, 0u64..120_000), 0..150)
        ) {
            let epoch = Instant::now();
            let mut now = epoch + Duration::from_millis(offset_ms);
            let mut t = Table::new(epoch);
            let clients: [SocketAddr; 3] = [
                "10.0.0.1:5000".parse().unwrap(),
                "10.0.0.1:5001".parse().unwrap(),
                "10.0.0.9:5000".parse().unwrap(),
            ];
            let peer_at = |p: u8| -> SocketAddr {
                format!("10.0.1.{}:{}", p % 4, 6000 + u16::from(p / 4)).parse().unwrap()
            };
            let mut ids: [Option<AllocationId>; 3] = [None; 3];
            let mut ended: Vec<AllocationId> = Vec::new();
            // What the server granted each client's current allocation:
            // (channel, peer, end) and (IP, end), ends less MARGIN.
            let mut channels: [Vec<(u16, SocketAddr, Instant)>; 3] = Default::default();
            let mut permissions: [Vec<(IpAddr, Instant)>; 3] = Default::default();
            let mut tx = 0u32;
            for (op, c, ch, p, step_ms) in ops {
                now += Duration::from_millis(step_ms);
                let client = clients[c];
                let (channel, peer) = (0x4000 + ch, peer_at(p));
                let mut txid = [0u8; 12];
                tx += 1;
                txid[..4].copy_from_slice(&tx.to_be_bytes());
                match op {
                    0 => {
                        if let Some(old) = ids[c] {
                            ended.push(old);
                        }
                        ids[c] = t.add_allocation(client, 50000 + c as u16);
                        proptest::prop_assert!(ids[c].is_some());
                        channels[c].clear();
                        permissions[c].clear();
                    }
                    1 => {
                        if let Some(id) = ids[c].take() {
                            t.remove_allocation(id);
                            ended.push(id);
                        }
                        channels[c].clear();
                        permissions[c].clear();
                    }
                    2 => {
                        t.observe_request(now, client, &bind(channel, &peer.to_string(), txid));
                        t.observe_answer(now, client, &message(CHANNEL_BIND_SUCCESS, txid, &[]));
                        if ids[c].is_some() {
                            channels[c].push((channel, peer, now + CHANNEL_LIFETIME - MARGIN));
                            permissions[c].push((peer.ip(), now + PERMISSION_LIFETIME - MARGIN));
                        }
                    }
                    3 => {
                        let m = message(CREATE_PERMISSION, txid, &[peer_attr(&peer.to_string(), txid)]);
                        t.observe_request(now, client, &m);
                        t.observe_answer(now, client, &message(CREATE_PERMISSION_SUCCESS, txid, &[]));
                        if ids[c].is_some() {
                            permissions[c].push((peer.ip(), now + PERMISSION_LIFETIME - MARGIN));
                        }
                    }
                    _ => t.expire(now),
                }
                let granted = |c: usize, ch: u16, peer: SocketAddr| {
                    channels[c].iter().any(|(gc, gp, end)| *gc == ch && *gp == peer && now < *end)
                };
                let permitted = |c: usize, ip: IpAddr| {
                    permissions[c].iter().any(|(gi, end)| *gi == ip && now < *end)
                };
                for (c, client) in clients.iter().enumerate() {
                    proptest::prop_assert_eq!(t.allocation(*client), ids[c]);
                    for ch in 0x4000..0x400c_u16 {
                        if let Some((id, peer)) = t.channel_peer(now, *client, ch) {
                            proptest::prop_assert_eq!(Some(id), ids[c]);
                            proptest::prop_assert!(granted(c, ch, peer), "{:?} ch {:#x} -> {}", client, ch, peer);
                        }
                    }
                    let Some(id) = ids[c] else { continue };
                    for p in 0..12 {
                        match t.peer_route(now, id, peer_at(p)) {
                            PeerRoute::Channel(ch) => proptest::prop_assert!(granted(c, ch, peer_at(p))),
                            PeerRoute::Indication => proptest::prop_assert!(permitted(c, peer_at(p).ip())),
                            PeerRoute::Control => {}
                        }
                    }
                }
                for id in &ended {
                    proptest::prop_assert_eq!(t.client(*id), None);
                    proptest::prop_assert_eq!(t.peer_route(now, *id, peer_at(0)), PeerRoute::Control);
                    proptest::prop_assert!(!t.permits(now, *id, peer_at(0).ip()));
                }
            }
        }
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
            let mut now = Instant::now();
            let mut t = Table::new(now);
            let id = t.add_allocation(client, 50000).unwrap();
            let mut asked: Vec<(u16, SocketAddr)> = Vec::new();
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
