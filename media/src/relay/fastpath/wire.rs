//! The three TURN messages that carry relayed media, read and written in
//! place: ChannelData (RFC 8656 §12.4), the Send indication (client →
//! relay, §11.4) and the Data indication (relay → client, §11.6).
//!
//! Nothing here allocates or copies a payload: a reader returns where the
//! payload lies in the datagram, and a writer puts the header in the
//! [`HEADROOM`] bytes a receive buffer keeps in front of the datagram it
//! read from a peer, so the payload goes back out from where the kernel
//! wrote it.
//!
//! Layouts (all integers big-endian):
//!
//! ```text
//! ChannelData     | channel (2) | length (2) | payload (length) | padding to 4 (TCP only)
//! STUN header     | type (2) | length (2) | magic cookie 0x2112A442 (4) | transaction id (12)
//! attribute       | type (2) | length (2) | value (length) | padding to 4
//! XOR-PEER-ADDRESS (0x0012) value
//!                 | 0 (1) | family (1: 1 IPv4, 2 IPv6) | port ^ 0x2112 (2)
//!                 | address ^ cookie (4), or ^ (cookie ‖ transaction id) (16)
//! DATA (0x0013) value: the payload
//! ```
//!
//! A Send indication is read when it holds exactly what a relay needs: one
//! XOR-PEER-ADDRESS and one DATA, beside which only comprehension-optional
//! attributes (type ≥ 0x8000, e.g. FINGERPRINT) and DONT-FRAGMENT may
//! appear. Anything else is [`ClientDatagram::Control`]: the control plane
//! (the `turn` server) reads it and answers or drops it as it always has.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

/// STUN's magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Message type of a Send indication (method Send 0x006, class indication).
pub const SEND_INDICATION: u16 = 0x0016;
/// Message type of a Data indication (method Data 0x007, class indication).
pub const DATA_INDICATION: u16 = 0x0017;
/// The XOR-PEER-ADDRESS attribute.
pub const ATTR_XOR_PEER_ADDRESS: u16 = 0x0012;
/// The DATA attribute.
pub const ATTR_DATA: u16 = 0x0013;
/// The DONT-FRAGMENT attribute (comprehension-required, no value; a relay
/// on loopback or a LAN has nothing to do for it).
pub const ATTR_DONT_FRAGMENT: u16 = 0x001A;
/// Channel numbers the `turn` server binds (RFC 5766's range; RFC 8656
/// narrowed it to 0x4FFF, which clients use).
pub const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x7FFF;
/// Bytes a receive buffer keeps free in front of a peer's datagram so that
/// the longest header written here (a Data indication for an IPv6 peer:
/// 20 + 24 + 4) fits without moving the payload.
pub const HEADROOM: usize = 48;
/// STUN header length.
const STUN_HEADER: usize = 20;

/// What a datagram from a client is, for the data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientDatagram {
    /// ChannelData on `channel`; the payload is `buf[payload]`.
    ChannelData { channel: u16, payload: Range<usize> },
    /// A Send indication to `peer`; the payload is `buf[data]`.
    Send {
        peer: SocketAddr,
        data: Range<usize>,
    },
    /// Anything else: a request, a malformed message, an indication with
    /// attributes the data path does not handle. The control plane reads it.
    Control,
}

/// Whether a datagram can be TURN: a STUN message (first bits `00`, the
/// magic cookie, a length that matches) or ChannelData (first bits `01`,
/// a length that fits).
pub fn is_turn_datagram(buf: &[u8]) -> bool {
    match buf.first().map(|b| b >> 6) {
        Some(0b00) => {
            buf.len() >= 20
                && buf[4..8] == MAGIC_COOKIE.to_be_bytes()
                && 20 + usize::from(u16::from_be_bytes([buf[2], buf[3]])) == buf.len()
        }
        Some(0b01) => {
            buf.len() >= 4 && 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]])) <= buf.len()
        }
        _ => false,
    }
}

/// Reads a datagram a client sent over UDP.
pub fn read_client(buf: &[u8]) -> ClientDatagram {
    match buf.first().map(|b| b >> 6) {
        Some(0b01) => read_channel_data(buf),
        Some(0b00) => read_send(buf).unwrap_or(ClientDatagram::Control),
        _ => ClientDatagram::Control,
    }
}

fn read_channel_data(buf: &[u8]) -> ClientDatagram {
    if buf.len() < 4 {
        return ClientDatagram::Control;
    }
    let channel = u16::from_be_bytes([buf[0], buf[1]]);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if !CHANNELS.contains(&channel) || 4 + len > buf.len() {
        return ClientDatagram::Control;
    }
    ClientDatagram::ChannelData {
        channel,
        payload: 4..4 + len,
    }
}

fn read_send(buf: &[u8]) -> Option<ClientDatagram> {
    if buf.len() < STUN_HEADER
        || u16::from_be_bytes([buf[0], buf[1]]) != SEND_INDICATION
        || u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) != MAGIC_COOKIE
        || STUN_HEADER + usize::from(u16::from_be_bytes([buf[2], buf[3]])) != buf.len()
    {
        return None;
    }
    let txid: &[u8; 12] = buf[8..20].try_into().ok()?;
    let (mut peer, mut data) = (None, None);
    let mut at = STUN_HEADER;
    while at < buf.len() {
        let kind = u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([*buf.get(at + 2)?, *buf.get(at + 3)?]));
        let value = at + 4..at + 4 + len;
        if value.end > buf.len() {
            return None;
        }
        match kind {
            ATTR_XOR_PEER_ADDRESS if peer.is_none() => {
                peer = Some(read_xor_address(&buf[value.clone()], txid)?);
            }
            ATTR_DATA if data.is_none() => data = Some(value.clone()),
            ATTR_DONT_FRAGMENT => {}
            k if k >= 0x8000 => {}
            _ => return None,
        }
        at = value.end + (4 - len % 4) % 4;
    }
    Some(ClientDatagram::Send {
        peer: peer?,
        data: data?,
    })
}

/// Decodes an XOR-MAPPED-ADDRESS-style value.
pub fn read_xor_address(value: &[u8], txid: &[u8; 12]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match (value.get(1)?, value.len()) {
        (1, 8) => {
            let raw = u32::from_be_bytes(value[4..8].try_into().ok()?) ^ MAGIC_COOKIE;
            IpAddr::V4(Ipv4Addr::from(raw))
        }
        (2, 20) => {
            let mut raw = [0u8; 16];
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(txid);
            for (i, b) in raw.iter_mut().enumerate() {
                *b = value[4 + i] ^ key[i];
            }
            IpAddr::V6(Ipv6Addr::from(raw))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes XOR-PEER-ADDRESS's value for `addr` into `out`; returns its
/// length (8 for IPv4, 20 for IPv6).
pub fn write_xor_address(addr: SocketAddr, txid: &[u8; 12], out: &mut [u8; 20]) -> usize {
    out[0] = 0;
    out[2..4].copy_from_slice(&(addr.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[1] = 1;
            out[4..8].copy_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
            8
        }
        IpAddr::V6(ip) => {
            out[1] = 2;
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(txid);
            for (i, b) in ip.octets().iter().enumerate() {
                out[4 + i] = b ^ key[i];
            }
            20
        }
    }
}

/// A payload of `len` bytes at `buf[HEADROOM..HEADROOM + len]` becomes
/// ChannelData on `channel`: the header goes in the 4 bytes in front of
/// it. Returns the datagram's range in `buf`. Over UDP no padding is sent
/// (RFC 8656 §12.5: padding is for stream transports).
pub fn wrap_channel_data(buf: &mut [u8], len: usize, channel: u16) -> Option<Range<usize>> {
    let len16 = u16::try_from(len).ok()?;
    if buf.len() < HEADROOM + len {
        return None;
    }
    let start = HEADROOM - 4;
    buf[start..start + 2].copy_from_slice(&channel.to_be_bytes());
    buf[start + 2..HEADROOM].copy_from_slice(&len16.to_be_bytes());
    Some(start..HEADROOM + len)
}

/// A payload of `len` bytes at `buf[HEADROOM..HEADROOM + len]`, sent by
/// `peer`, becomes a Data indication with transaction id `txid`: the STUN
/// header, XOR-PEER-ADDRESS and DATA's header go in front of it, the
/// padding after it (so `buf` needs up to 3 spare bytes behind the
/// payload). Returns the datagram's range in `buf`. No FINGERPRINT: the
/// `turn` server sends none either.
pub fn wrap_data_indication(
    buf: &mut [u8],
    len: usize,
    peer: SocketAddr,
    txid: &[u8; 12],
) -> Option<Range<usize>> {
    let pad = (4 - len % 4) % 4;
    if buf.len() < HEADROOM + len + pad || len > usize::from(u16::MAX) - 64 {
        return None;
    }
    let mut addr = [0u8; 20];
    let addr_len = write_xor_address(peer, txid, &mut addr);
    let header = STUN_HEADER + 4 + addr_len + 4;
    let start = HEADROOM - header;
    let body = (header - STUN_HEADER + len + pad) as u16;
    let h = &mut buf[start..HEADROOM];
    h[0..2].copy_from_slice(&DATA_INDICATION.to_be_bytes());
    h[2..4].copy_from_slice(&body.to_be_bytes());
    h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    h[8..20].copy_from_slice(txid);
    h[20..22].copy_from_slice(&ATTR_XOR_PEER_ADDRESS.to_be_bytes());
    h[22..24].copy_from_slice(&(addr_len as u16).to_be_bytes());
    h[24..24 + addr_len].copy_from_slice(&addr[..addr_len]);
    let data = 24 + addr_len;
    h[data..data + 2].copy_from_slice(&ATTR_DATA.to_be_bytes());
    h[data + 2..data + 4].copy_from_slice(&(len as u16).to_be_bytes());
    buf[HEADROOM + len..HEADROOM + len + pad].fill(0);
    Some(start..HEADROOM + len + pad)
}

/// A STUN message of type `kind` with these attributes, each padded to 4
/// (for tests: built by hand, byte by byte, as RFC 8489 lays it out).
#[cfg(test)]
pub(crate) fn test_message(kind: u16, txid: [u8; 12], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in attrs {
        body.extend_from_slice(&k.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut m = kind.to_be_bytes().to_vec();
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&txid);
    m.extend_from_slice(&body);
    m
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

    const TXID: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    /// RFC 5769 §2.2's XOR-MAPPED-ADDRESS (192.0.2.1:32853) and §2.3's
    /// (2001:db8:1234:5678:11:2233:4455:6677 port 32853), with their
    /// transaction id: the same encoding as XOR-PEER-ADDRESS.
    #[test]
    fn xor_addresses_match_rfc_5769() {
        let txid = [
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ];
        let v4 = [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        assert_eq!(
            read_xor_address(&v4, &txid),
            Some("192.0.2.1:32853".parse().unwrap())
        );
        let v6 = [
            0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
            0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        ];
        let addr: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        assert_eq!(read_xor_address(&v6, &txid), Some(addr));
        let mut out = [0u8; 20];
        assert_eq!(write_xor_address(addr, &txid, &mut out), 20);
        assert_eq!(out, v6);
        let n = write_xor_address("192.0.2.1:32853".parse().unwrap(), &txid, &mut out);
        assert_eq!(&out[..n], &v4);
    }

    #[test]
    fn channel_data_is_read_in_place() {
        let buf = [0x40, 0x01, 0x00, 0x03, 9, 8, 7, 0];
        assert_eq!(
            read_client(&buf),
            ClientDatagram::ChannelData {
                channel: 0x4001,
                payload: 4..7
            }
        );
        // Length beyond the datagram, a channel out of range, too short.
        assert_eq!(
            read_client(&[0x40, 0x01, 0x00, 0x09, 1]),
            ClientDatagram::Control
        );
        assert_eq!(
            read_client(&[0x80, 0x01, 0x00, 0x00]),
            ClientDatagram::Control
        );
        assert_eq!(read_client(&[0x40, 0x01, 0x00]), ClientDatagram::Control);
        assert_eq!(read_client(&[]), ClientDatagram::Control);
    }

    /// A Send indication built by hand, byte by byte, as RFC 8656 lays it
    /// out, and what is refused.
    #[test]
    fn send_indications_are_read_and_anything_else_goes_to_control() {
        let peer: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let mut addr = [0u8; 20];
        let n = write_xor_address(peer, &TXID, &mut addr);
        let build = |attrs: &[(u16, &[u8])]| test_message(SEND_INDICATION, TXID, attrs);
        let m = build(&[
            (ATTR_XOR_PEER_ADDRESS, &addr[..n]),
            (ATTR_DONT_FRAGMENT, &[]),
            (ATTR_DATA, b"hello"),
            (0x8028, &[0, 0, 0, 0]),
        ]);
        assert_eq!(read_client(&m), ClientDatagram::Send { peer, data: 40..45 });
        assert_eq!(&m[40..45], b"hello");
        // No DATA, no peer, an unknown comprehension-required attribute,
        // a wrong length, a request's type.
        for bad in [
            build(&[(ATTR_XOR_PEER_ADDRESS, &addr[..n])]),
            build(&[(ATTR_DATA, b"x")]),
            build(&[
                (ATTR_XOR_PEER_ADDRESS, &addr[..n]),
                (ATTR_DATA, b"x"),
                (0x0006, b"user"),
            ]),
        ] {
            assert_eq!(read_client(&bad), ClientDatagram::Control);
        }
        let mut long = m.clone();
        long.push(0);
        assert_eq!(read_client(&long), ClientDatagram::Control);
        let mut request = m.clone();
        request[1] = 0x09;
        assert_eq!(read_client(&request), ClientDatagram::Control);
    }

    #[test]
    fn wrapping_puts_the_header_in_the_headroom_and_reads_back() {
        let mut buf = vec![0u8; HEADROOM + 64];
        buf[HEADROOM..HEADROOM + 5].copy_from_slice(b"media");
        let r = wrap_channel_data(&mut buf, 5, 0x4002).unwrap();
        assert_eq!(
            read_client(&buf[r.clone()]),
            ClientDatagram::ChannelData {
                channel: 0x4002,
                payload: 4..9
            }
        );
        assert_eq!(&buf[r][4..], b"media");
        assert_eq!(wrap_channel_data(&mut [0u8; HEADROOM + 2], 5, 0x4002), None);
    }

    /// A Data indication for an IPv6 peer uses the whole headroom; its
    /// attributes read back, field by field.
    #[test]
    fn data_indications_fit_the_headroom_and_read_back() {
        for peer in ["192.0.2.7:4000", "[2001:db8::7]:4000"] {
            let peer: SocketAddr = peer.parse().unwrap();
            let mut buf = vec![0u8; HEADROOM + 16];
            buf[HEADROOM..HEADROOM + 5].copy_from_slice(b"media");
            let r = wrap_data_indication(&mut buf, 5, peer, &TXID).unwrap();
            let m = &buf[r.clone()];
            assert_eq!(m.len() % 4, 0);
            assert_eq!(u16::from_be_bytes([m[0], m[1]]), DATA_INDICATION);
            assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])) + 20, m.len());
            assert_eq!(&m[4..8], &MAGIC_COOKIE.to_be_bytes());
            assert_eq!(&m[8..20], &TXID);
            assert_eq!(u16::from_be_bytes([m[20], m[21]]), ATTR_XOR_PEER_ADDRESS);
            let addr_len = usize::from(u16::from_be_bytes([m[22], m[23]]));
            assert_eq!(read_xor_address(&m[24..24 + addr_len], &TXID), Some(peer));
            let data = 24 + addr_len;
            assert_eq!(u16::from_be_bytes([m[data], m[data + 1]]), ATTR_DATA);
            assert_eq!(u16::from_be_bytes([m[data + 2], m[data + 3]]), 5);
            assert_eq!(&m[data + 4..data + 9], b"media");
            assert_eq!(&m[data + 9..], &[0, 0, 0], "padded to 4");
            assert_eq!(r.start, if peer.is_ipv6() { 0 } else { 12 });
        }
        // No room for the padding.
        let mut buf = vec![0u8; HEADROOM + 5];
        assert_eq!(
            wrap_data_indication(&mut buf, 5, "192.0.2.7:4000".parse().unwrap(), &TXID),
            None
        );
    }
}
