//! Batched datagram IO for the data path: `recvmmsg` into a pool of
//! fixed-size slots, each with [`HEADROOM`] in front of the datagram, and
//! `sendmmsg` of ranges of those slots, so that a relayed payload is
//! received once, framed in place and sent without a copy or an
//! allocation.
//!
//! The system calls come from `nix` (the workspace forbids `unsafe`).
//! Every socket is non-blocking: a receive takes what is queued, a send
//! that the kernel refuses for want of buffer space drops the datagram
//! (counted), as a congested link would.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg, sendto,
};

use super::wire::HEADROOM;

/// Datagrams per system call, each way (the floor measured on this
/// machine: 4.0 µs a packet in batches of 32, 5.8 µs one by one).
pub const BATCH: usize = 32;
/// Slots in a pool: two batches, so that one wake-up can read a batch
/// from the listener and more from relayed sockets before sending.
pub const POOL: usize = 2 * BATCH;
/// The largest datagram the data path takes. Larger ones arrive
/// truncated and are dropped (counted in [`Pool::truncated`]).
pub const MAX_DATAGRAM: usize = 2048 - HEADROOM - 4;
/// One slot: headroom, the datagram, and room for a Data indication's
/// padding behind it.
pub const SLOT: usize = HEADROOM + MAX_DATAGRAM + 4;

/// Where a slot's datagram came from, and its length (0: empty or
/// dropped).
#[derive(Debug, Clone, Copy)]
struct Meta {
    from: SocketAddr,
    len: usize,
}

/// Which kind of socket a receive reads: each keeps its own headers,
/// because the kernel writes back the length of the address it filled and
/// the next call offers only that much room (a listener on `[::]` gives
/// 28-byte addresses, relayed sockets on an IPv4 relay IP 16-byte ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The UDP listener (clients).
    Listener,
    /// A relayed socket (peers).
    Relayed,
}

/// Receive buffers: [`POOL`] slots of [`SLOT`] bytes, filled from the
/// front, emptied all at once by [`Pool::clear`] after the sends that
/// point into them are flushed.
pub struct Pool {
    bufs: Box<[u8]>,
    meta: [Meta; POOL],
    used: usize,
    /// `recvmmsg` headers, by [`Source`].
    headers: [MultiHeaders<SockaddrStorage>; 2],
    /// Datagrams dropped because they were longer than [`MAX_DATAGRAM`].
    pub truncated: u64,
    /// `recvmmsg` calls that returned at least one datagram.
    pub calls: u64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("used", &self.used).finish()
    }
}

impl Default for Pool {
    fn default() -> Self {
        let mut bufs = vec![0u8; POOL * SLOT].into_boxed_slice();
        // Fault the slots in now (zeroed memory is mapped lazily): they
        // are the shard's fixed memory, counted as the idle relay's, and
        // the first packets do not each pay a page fault.
        for page in bufs.chunks_mut(4096) {
            page[0] = std::hint::black_box(0);
        }
        // The buffer need not start on a page: its last one too.
        if let Some(last) = bufs.last_mut() {
            *last = std::hint::black_box(0);
        }
        Pool {
            bufs,
            meta: [Meta {
                from: SocketAddr::from(([0, 0, 0, 0], 0)),
                len: 0,
            }; POOL],
            used: 0,
            headers: [
                MultiHeaders::preallocate(BATCH, None),
                MultiHeaders::preallocate(BATCH, None),
            ],
            truncated: 0,
            calls: 0,
        }
    }
}

impl Pool {
    /// Slots still free.
    pub fn free(&self) -> usize {
        POOL - self.used
    }

    /// Reads up to a batch of what `fd` has queued into the free slots;
    /// returns the slots filled (empty when nothing was queued or no slot
    /// is free). Truncated datagrams fill a slot of length 0.
    pub fn recv(&mut self, fd: RawFd, source: Source) -> io::Result<Range<usize>> {
        let start = self.used;
        let want = self.free().min(BATCH);
        if want == 0 {
            return Ok(start..start);
        }
        let mut chunks = self.bufs[start * SLOT..(start + want) * SLOT].chunks_exact_mut(SLOT);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] = std::array::from_fn(|_| {
            [IoSliceMut::new(match chunks.next() {
                Some(c) => &mut c[HEADROOM..HEADROOM + MAX_DATAGRAM],
                None => &mut [],
            })]
        });
        // An interrupted call reads nothing: level-triggered readiness
        // brings the caller back.
        let got = match recvmmsg(
            fd,
            &mut self.headers[source as usize],
            iovs.iter_mut().take(want),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(results) => {
                let mut n = 0;
                for (i, msg) in results.enumerate() {
                    let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                    let from = msg.address.as_ref().and_then(to_socket_addr);
                    self.meta[start + i] = match (truncated, from) {
                        (false, Some(from)) => Meta {
                            from,
                            len: msg.bytes,
                        },
                        (true, Some(from)) => {
                            self.truncated += 1;
                            Meta { from, len: 0 }
                        }
                        (_, None) => Meta {
                            from: SocketAddr::from(([0, 0, 0, 0], 0)),
                            len: 0,
                        },
                    };
                    n = i + 1;
                }
                n
            }
            Err(Errno::EINTR | Errno::EAGAIN) => 0,
            Err(e) => return Err(io::Error::from(e)),
        };
        if got > 0 {
            self.calls += 1;
        }
        self.used += got;
        Ok(start..start + got)
    }

    /// Copies `datagram` from `from` into the next free slot, as a
    /// receive would have put it (at `HEADROOM`); `None` if no slot is
    /// free or it is longer than [`MAX_DATAGRAM`].
    pub fn insert(&mut self, datagram: &[u8], from: SocketAddr) -> Option<usize> {
        if self.used == POOL || datagram.len() > MAX_DATAGRAM {
            return None;
        }
        let i = self.used;
        let at = i * SLOT + HEADROOM;
        self.bufs[at..at + datagram.len()].copy_from_slice(datagram);
        self.meta[i] = Meta {
            from,
            len: datagram.len(),
        };
        self.used += 1;
        Some(i)
    }

    /// Where slot `i`'s datagram came from, and the datagram (empty if
    /// it was dropped).
    pub fn datagram(&mut self, i: usize) -> (SocketAddr, &mut [u8]) {
        let m = self.meta[i];
        let at = i * SLOT + HEADROOM;
        (m.from, &mut self.bufs[at..at + m.len])
    }

    /// Slot `i` as a whole, the datagram at `HEADROOM` (for framing in
    /// place), and its length.
    pub fn slot(&mut self, i: usize) -> (&mut [u8], usize) {
        let len = self.meta[i].len;
        (&mut self.bufs[i * SLOT..(i + 1) * SLOT], len)
    }

    /// Forgets every slot; the sends pointing into them must have been
    /// flushed.
    pub fn clear(&mut self) {
        self.used = 0;
    }

    fn bytes(&self, i: usize, range: &Range<u16>) -> &[u8] {
        let at = i * SLOT;
        &self.bufs[at + usize::from(range.start)..at + usize::from(range.end)]
    }
}

/// Datagrams in one GSO message at most (the kernel's
/// `UDP_MAX_SEGMENTS` is 64).
const GSO_SEGMENTS: usize = 32;
/// Bytes in one GSO message at most (an IP datagram's payload).
const GSO_BYTES: usize = 60_000;
/// The largest segment grouped: the kernel refuses a segment that does
/// not fit the route's MTU with its headers (1500 − 40 − 8 for IPv6).
const GSO_MAX_SEGMENT: usize = 1452;

/// One datagram to send: a range of a pool slot, to `to` from socket `fd`.
#[derive(Debug, Clone)]
struct Out {
    fd: RawFd,
    /// Order of arrival, kept within a socket when the queue is sorted.
    seq: u16,
    slot: u16,
    range: Range<u16>,
    to: SocketAddr,
}

impl Out {
    fn len(&self) -> u16 {
        self.range.end - self.range.start
    }
}

/// Datagrams waiting to be sent, grouped by socket at flush time so that
/// each socket gets one `sendmmsg` per [`BATCH`].
pub struct Outbox {
    queue: Vec<Out>,
    headers: MultiHeaders<SockaddrStorage>,
    /// The same, with room for a `UDP_SEGMENT` control message each.
    gso_headers: MultiHeaders<SockaddrStorage>,
    /// The destinations of one `sendmmsg`, kept between calls so that a
    /// call writes as many as it sends (a whole batch of them is 4 KiB).
    addrs: Vec<Option<SockaddrStorage>>,
    /// Whether to group datagrams with UDP GSO (off once the kernel
    /// refuses it).
    gso: bool,
    /// GSO messages sent (each several datagrams).
    pub gso_messages: u64,
    /// Send calls made (`sendmmsg`, or `sendto` for a lone datagram).
    pub calls: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams the kernel refused (no buffer space, an ICMP error
    /// reported on the socket): dropped, as on a lossy link.
    pub dropped: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            queue: Vec::with_capacity(POOL),
            headers: MultiHeaders::preallocate(BATCH, None),
            gso_headers: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(u16))),
            addrs: Vec::with_capacity(BATCH),
            gso: true,
            gso_messages: 0,
            calls: 0,
            sent: 0,
            dropped: 0,
        }
    }
}

impl Outbox {
    /// Queues `range` of pool slot `slot` for `to`, from socket `fd`.
    pub fn push(&mut self, fd: RawFd, slot: usize, range: Range<usize>, to: SocketAddr) {
        // Slots and ranges fit in u16 by construction (POOL, SLOT).
        let seq = self.queue.len() as u16;
        self.queue.push(Out {
            fd,
            seq,
            slot: slot as u16,
            range: range.start as u16..range.end as u16,
            to,
        });
    }

    /// Sends everything queued: per socket, one call per batch, where
    /// datagrams of one size to one destination travel as one UDP GSO
    /// message (the kernel cuts them; `UDP_SEGMENT`).
    pub fn flush(&mut self, pool: &Pool) {
        if self.queue.is_empty() {
            return;
        }
        // In place, no allocation; a socket's datagrams keep their order.
        self.queue.sort_unstable_by_key(|o| (o.fd, o.seq));
        let mut at = 0;
        while at < self.queue.len() {
            let fd = self.queue[at].fd;
            let run_end = self.queue[at..]
                .iter()
                .position(|o| o.fd != fd)
                .map_or(self.queue.len(), |p| at + p);
            while at < run_end {
                let (sent, grouped, result) = self.send_some(fd, pool, at, run_end);
                self.calls += 1;
                match result {
                    // Interrupted before sending: again.
                    Err(Errno::EINTR) => {}
                    // A kernel without UDP GSO for this socket refuses a
                    // grouped call: from now on, without it. (An error
                    // of a call without GSO is that datagram's.)
                    Err(Errno::EINVAL | Errno::EIO | Errno::ENOPROTOOPT) if grouped => {
                        tracing::debug!("relay: UDP GSO refused, sending datagram by datagram");
                        self.gso = false;
                    }
                    Ok(()) if sent > 0 => {
                        self.sent += sent as u64;
                        at += sent;
                    }
                    // The first datagram was refused: a full buffer
                    // refuses them all, drop the socket's; anything else
                    // drops that one and goes on.
                    Ok(()) | Err(Errno::EAGAIN) => {
                        self.dropped += (run_end - at) as u64;
                        at = run_end;
                    }
                    Err(_) => {
                        self.dropped += 1;
                        at += 1;
                    }
                }
            }
        }
        self.queue.clear();
    }

    /// One system call for the datagrams `queue[at..end]` (all from `fd`),
    /// or as many of them as fit; returns how many datagrams it sent and
    /// whether the call grouped some with GSO.
    fn send_some(
        &mut self,
        fd: RawFd,
        pool: &Pool,
        at: usize,
        end: usize,
    ) -> (usize, bool, nix::Result<()>) {
        let run = &self.queue[at..end];
        if run.len() == 1 {
            // One datagram: a plain `sendto` costs less.
            let o = &run[0];
            let r = sendto(
                fd,
                pool.bytes(usize::from(o.slot), &o.range),
                &SockaddrStorage::from(o.to),
                MsgFlags::MSG_DONTWAIT,
            );
            return (usize::from(r.is_ok()), false, r.map(|_| ()));
        }
        // The segment size of this call: its longest datagram. A message
        // is a run to one destination whose datagrams all have that size
        // but the last (the kernel's rule for GSO); others go alone.
        let segment = run.iter().map(Out::len).max().unwrap_or(0);
        // Segments must fit a 1500-byte path with IPv6's headers.
        let gso = self.gso && segment > 0 && usize::from(segment) <= GSO_MAX_SEGMENT;
        let mut bounds = [(0usize, 0usize); BATCH];
        let (mut messages, mut i) = (0, 0);
        while i < run.len() && messages < BATCH {
            let first = i;
            i += 1;
            while gso
                && i < run.len()
                && run[i].to == run[first].to
                && run[i - 1].len() == segment
                && run[i].len() > 0
                && i - first < GSO_SEGMENTS
                && (i + 1 - first) * usize::from(segment) <= GSO_BYTES
            {
                i += 1;
            }
            bounds[messages] = (first, i);
            messages += 1;
        }
        let datagrams = i;
        let mut it = run[..datagrams].iter();
        let iovs: [IoSlice<'_>; POOL] = std::array::from_fn(|_| {
            IoSlice::new(match it.next() {
                Some(o) => pool.bytes(usize::from(o.slot), &o.range),
                None => &[],
            })
        });
        let slices: [&[IoSlice<'_>]; BATCH] = std::array::from_fn(|m| {
            let (a, b) = bounds[m];
            &iovs[a..b]
        });
        self.addrs.clear();
        self.addrs.extend(
            bounds[..messages]
                .iter()
                .map(|(a, _)| Some(SockaddrStorage::from(run[*a].to))),
        );
        let grouped = bounds[..messages].iter().any(|(a, b)| b - a > 1);
        let result = if grouped {
            let cmsgs = [ControlMessage::UdpGsoSegments(&segment)];
            sendmmsg(
                fd,
                &mut self.gso_headers,
                slices.iter().take(messages),
                &self.addrs,
                cmsgs,
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|r| r.count())
        } else {
            let cmsgs: [ControlMessage<'_>; 0] = [];
            sendmmsg(
                fd,
                &mut self.headers,
                slices.iter().take(messages),
                &self.addrs,
                cmsgs,
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|r| r.count())
        };
        match result {
            Ok(0) => (0, grouped, Ok(())),
            Ok(m) => {
                if grouped {
                    self.gso_messages +=
                        bounds[..m].iter().filter(|(a, b)| b - a > 1).count() as u64;
                }
                (bounds[m - 1].1, grouped, Ok(()))
            }
            Err(e) => (0, grouped, Err(e)),
        }
    }
}

/// A socket address from what the kernel wrote.
fn to_socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inserted_datagram_sits_where_a_receive_puts_it() {
        let mut pool = Pool::default();
        let from = SocketAddr::from(([192, 0, 2, 9], 4000));
        let i = pool.insert(b"handed over", from).unwrap();
        assert_eq!(i, 0);
        let (got_from, datagram) = pool.datagram(i);
        assert_eq!((got_from, &datagram[..]), (from, &b"handed over"[..]));
        let (slot, len) = pool.slot(i);
        assert_eq!(
            (&slot[HEADROOM..HEADROOM + len], len),
            (&b"handed over"[..], 11)
        );
        assert!(
            pool.insert(&[0; MAX_DATAGRAM + 1], from).is_none(),
            "too long"
        );
        for _ in 1..POOL {
            assert!(pool.insert(b"x", from).is_some());
        }
        assert_eq!(pool.free(), 0);
        assert!(pool.insert(b"x", from).is_none(), "full");
        pool.clear();
        assert_eq!(pool.insert(b"y", from), Some(0));
    }
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    fn bound() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// Waits (bounded) until `fd` has something queued, then reads it.
    fn recv_some(pool: &mut Pool, fd: RawFd, want: usize) -> Vec<usize> {
        let mut got = Vec::new();
        for _ in 0..2000 {
            got.extend(pool.recv(fd, Source::Listener).unwrap());
            if got.len() >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        got
    }

    #[test]
    fn receives_a_batch_at_headroom_and_sends_ranges_of_it() {
        let (relay, a, b) = (bound(), bound(), bound());
        for i in 0..40u8 {
            a.send_to(&[i; 100], relay.local_addr().unwrap()).unwrap();
        }
        let mut pool = Pool::default();
        let slots = recv_some(&mut pool, relay.as_raw_fd(), 40);
        assert_eq!(slots.len(), 40, "two calls at most: a batch is 32");
        assert!(pool.calls >= 2);
        let mut out = Outbox::default();
        for i in slots {
            let (from, data) = pool.datagram(i);
            assert_eq!(from, a.local_addr().unwrap());
            assert_eq!(data.len(), 100);
            let first = data[0];
            // Frame in place: a 4-byte header in the headroom.
            let (slot, len) = pool.slot(i);
            slot[HEADROOM - 4..HEADROOM].copy_from_slice(&[0x40, 0, 0, first]);
            out.push(
                relay.as_raw_fd(),
                i,
                HEADROOM - 4..HEADROOM + len,
                b.local_addr().unwrap(),
            );
        }
        out.flush(&pool);
        pool.clear();
        // One call: forty datagrams of one size to one place are two GSO
        // messages (32 segments at most each).
        assert_eq!((out.sent, out.dropped, out.calls), (40, 0, 1));
        assert_eq!(out.gso_messages, 2);
        b.set_nonblocking(false).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 200];
        for i in 0..40u8 {
            let (n, from) = b.recv_from(&mut buf).unwrap();
            assert_eq!(from, relay.local_addr().unwrap());
            assert_eq!(n, 104);
            assert_eq!(&buf[..4], &[0x40, 0, 0, i], "in order");
            assert!(buf[4..n].iter().all(|x| *x == i));
        }
    }

    #[test]
    fn same_size_datagrams_to_one_destination_go_as_one_gso_message() {
        let (relay, a, b, c) = (bound(), bound(), bound(), bound());
        // To b: five of 300 bytes then one of 100 (one GSO message); to
        // c: two of 300 (another); then one of 50 to b alone.
        let plan: [(&UdpSocket, usize); 9] = [
            (&b, 300),
            (&b, 300),
            (&b, 300),
            (&b, 300),
            (&b, 300),
            (&b, 100),
            (&c, 300),
            (&c, 300),
            (&b, 50),
        ];
        for (i, (_, len)) in plan.iter().enumerate() {
            a.send_to(&vec![i as u8; *len], relay.local_addr().unwrap())
                .unwrap();
        }
        let mut pool = Pool::default();
        let slots = recv_some(&mut pool, relay.as_raw_fd(), plan.len());
        let mut out = Outbox::default();
        for (i, (to, _)) in slots.iter().zip(plan.iter()) {
            let (_, len) = pool.slot(*i);
            out.push(
                relay.as_raw_fd(),
                *i,
                HEADROOM..HEADROOM + len,
                to.local_addr().unwrap(),
            );
        }
        out.flush(&pool);
        assert_eq!((out.sent, out.dropped, out.calls), (9, 0, 1));
        assert_eq!(out.gso_messages, 2, "b's six, c's two");
        let mut buf = [0u8; 2048];
        for (to, expect) in [(&b, vec![0, 1, 2, 3, 4, 5, 8]), (&c, vec![6, 7])] {
            to.set_nonblocking(false).unwrap();
            to.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for i in expect {
                let n = to.recv(&mut buf).unwrap();
                assert_eq!(n, plan[i].1, "datagram {i} whole, in order");
                assert!(buf[..n].iter().all(|x| *x == i as u8));
            }
        }
    }

    #[test]
    fn a_refused_lone_datagram_does_not_turn_gso_off() {
        let (relay, a, b) = (bound(), bound(), bound());
        for _ in 0..4 {
            a.send_to(&[1u8; 200], relay.local_addr().unwrap()).unwrap();
        }
        let mut pool = Pool::default();
        let slots = recv_some(&mut pool, relay.as_raw_fd(), 4);
        let mut out = Outbox::default();
        // Port 0: the kernel refuses it (EINVAL), as it would a GSO call.
        let (_, len) = pool.slot(slots[0]);
        out.push(
            relay.as_raw_fd(),
            slots[0],
            HEADROOM..HEADROOM + len,
            "127.0.0.1:0".parse().unwrap(),
        );
        out.flush(&pool);
        assert_eq!((out.sent, out.dropped), (0, 1));
        for i in &slots[1..] {
            let (_, len) = pool.slot(*i);
            out.push(
                relay.as_raw_fd(),
                *i,
                HEADROOM..HEADROOM + len,
                b.local_addr().unwrap(),
            );
        }
        out.flush(&pool);
        assert_eq!((out.sent, out.gso_messages), (3, 1), "GSO still on");
    }

    #[test]
    fn each_kind_of_socket_gets_whole_addresses_of_its_own_family() {
        // A listener on IPv6 and relayed sockets on IPv4, read through
        // one pool: the kernel's address lengths (28 and 16 bytes) must
        // not leak from one to the other.
        let listener = UdpSocket::bind("[::1]:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        let (relayed, peer) = (bound(), bound());
        let mut pool = Pool::default();
        for round in 0..3 {
            peer.send_to(b"p", relayed.local_addr().unwrap()).unwrap();
            let got = recv_some_from(&mut pool, relayed.as_raw_fd(), Source::Relayed);
            assert_eq!(pool.datagram(got).0, peer.local_addr().unwrap(), "{round}");
            client
                .send_to(b"c", listener.local_addr().unwrap())
                .unwrap();
            let got = recv_some_from(&mut pool, listener.as_raw_fd(), Source::Listener);
            assert_eq!(
                pool.datagram(got).0,
                client.local_addr().unwrap(),
                "{round}"
            );
            pool.clear();
        }
    }

    /// Waits (bounded) for one datagram on `fd`; its slot.
    fn recv_some_from(pool: &mut Pool, fd: RawFd, source: Source) -> usize {
        for _ in 0..2000 {
            if let Some(i) = pool.recv(fd, source).unwrap().next() {
                return i;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("nothing received");
    }

    #[test]
    fn over_long_datagrams_are_dropped_and_counted() {
        let (relay, a) = (bound(), bound());
        a.send_to(&vec![7u8; MAX_DATAGRAM + 1], relay.local_addr().unwrap())
            .unwrap();
        a.send_to(&vec![8u8; MAX_DATAGRAM], relay.local_addr().unwrap())
            .unwrap();
        let mut pool = Pool::default();
        let slots = recv_some(&mut pool, relay.as_raw_fd(), 2);
        assert_eq!(slots.len(), 2);
        assert_eq!(pool.datagram(slots[0]).1.len(), 0);
        assert_eq!(pool.datagram(slots[1]).1.len(), MAX_DATAGRAM);
        assert_eq!(pool.truncated, 1);
    }

    #[test]
    fn a_full_pool_reads_nothing_more() {
        let (relay, a) = (bound(), bound());
        for _ in 0..(POOL + 5) {
            a.send_to(b"x", relay.local_addr().unwrap()).unwrap();
        }
        let mut pool = Pool::default();
        let slots = recv_some(&mut pool, relay.as_raw_fd(), POOL);
        assert_eq!(slots.len(), POOL);
        assert_eq!(
            pool.recv(relay.as_raw_fd(), Source::Listener)
                .unwrap()
                .len(),
            0
        );
        pool.clear();
        assert_eq!(recv_some(&mut pool, relay.as_raw_fd(), 5).len(), 5);
    }

    #[test]
    fn the_largest_datagram_is_the_one_the_docs_state() {
        // docs/SECURITY.md and docs/design/relay-fast-path.md say 1,996.
        assert_eq!(MAX_DATAGRAM, 1996);
        assert_eq!(SLOT, 2048);
    }

    #[test]
    fn an_empty_socket_reads_nothing() {
        let relay = bound();
        let mut pool = Pool::default();
        assert_eq!(
            pool.recv(relay.as_raw_fd(), Source::Listener).unwrap(),
            0..0
        );
        assert_eq!(pool.calls, 0);
    }
}
