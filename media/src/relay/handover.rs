//! Datagrams one shard hands to another: the hairpin across shards.
//!
//! When both participants of a call are relayed by this relay, each
//! client sends to the other's relayed address. A shard that reads both
//! allocations hands the datagram over itself (`shard`); when the kernel
//! put the two clients on different shards, the sender's shard copies it
//! into the receiving shard's [`Handover`] queue and wakes that shard after
//! each batch it reads, instead of sending it out of one relayed socket
//! into the other through the kernel. [`Owners`] says which shard reads
//! each relayed port. A full queue is no loss: the datagram takes the
//! kernel path, as it did before, and may then overtake those queued (UDP
//! promises no order; RTP's jitter buffer puts media back in order).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};

use super::fastpath::batch::MAX_DATAGRAM;

/// Datagrams waiting for one shard before others take the kernel path:
/// 64 of about 2 KiB, 128 KiB per shard.
pub(crate) const QUEUE: usize = 64;

/// A datagram a client of one shard sent to a relayed socket another
/// shard reads, after the sender's checks (`RelayedSocket::check_to_peer`):
/// the receiving shard runs the receiver's and routes it to its client as
/// a datagram from a peer. Carried by value (a bounded queue's slots hold
/// it): no allocation per datagram.
pub(crate) struct Handover {
    /// The relayed socket it is for, as the receiving shard names it.
    pub(crate) token: u64,
    /// The sender's relayed address: what the receiver sees as its peer.
    pub(crate) from: SocketAddr,
    /// The payload's length in `bytes`.
    pub(crate) len: u16,
    pub(crate) bytes: [u8; MAX_DATAGRAM],
}

impl Handover {
    /// `payload` (at most [`MAX_DATAGRAM`] bytes, which is all the shards
    /// read) for `token`, from `from`.
    pub(crate) fn new(token: u64, from: SocketAddr, payload: &[u8]) -> Option<Handover> {
        let len = u16::try_from(payload.len()).ok()?;
        let mut bytes = [0u8; MAX_DATAGRAM];
        bytes.get_mut(..payload.len())?.copy_from_slice(payload);
        Some(Handover {
            token,
            from,
            len,
            bytes,
        })
    }

    /// The payload.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which shard reads each relayed port (all relayed sockets are bound on
/// the relay IP, so a port names one): 0 for none, a shard's index plus
/// one otherwise. 64 KiB, shared by the shards.
pub(crate) struct Owners(Box<[AtomicU8]>);

impl Default for Owners {
    fn default() -> Self {
        Owners((0..=u16::MAX).map(|_| AtomicU8::new(0)).collect())
    }
}

impl Owners {
    /// Shard `index` reads the socket on `port` from now on.
    pub(crate) fn set(&self, port: u16, index: usize) {
        let owner = u8::try_from(index + 1).unwrap_or(0);
        self.0[usize::from(port)].store(owner, Ordering::Release);
    }

    /// Shard `index` let go of the socket on `port` (unless another shard
    /// took the port since).
    pub(crate) fn clear(&self, port: u16, index: usize) {
        let owner = u8::try_from(index + 1).unwrap_or(0);
        let _ = self.0[usize::from(port)].compare_exchange(
            owner,
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// The index of the shard that reads the socket on `port`, if any.
    pub(crate) fn get(&self, port: u16) -> Option<usize> {
        match self.0[usize::from(port)].load(Ordering::Acquire) {
            0 => None,
            owner => Some(usize::from(owner) - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_track_who_reads_a_port_and_only_the_owner_clears_it() {
        let owners = Owners::default();
        assert_eq!(owners.get(50_000), None);
        owners.set(50_000, 1);
        assert_eq!(owners.get(50_000), Some(1));
        owners.clear(50_000, 0);
        assert_eq!(owners.get(50_000), Some(1), "not shard 0's to clear");
        owners.clear(50_000, 1);
        assert_eq!(owners.get(50_000), None);
        owners.set(u16::MAX, 0);
        assert_eq!(owners.get(u16::MAX), Some(0));
    }

    #[test]
    fn a_handover_carries_its_payload_and_refuses_more_than_a_shard_reads() {
        let from = SocketAddr::from(([192, 0, 2, 1], 40_000));
        let h = Handover::new(7, from, b"media").unwrap();
        assert_eq!((h.token, h.from, h.payload()), (7, from, &b"media"[..]));
        assert!(Handover::new(7, from, &[1; MAX_DATAGRAM]).is_some());
        assert!(Handover::new(7, from, &[1; MAX_DATAGRAM + 1]).is_none());
    }
}
