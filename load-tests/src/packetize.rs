//! RTP payload formats, sans IO: AV1 (the AOM "RTP Payload Format for
//! AV1", aggregation header and OBU fragmentation) and Opus (RFC 7587),
//! and the send-time trailer the bots add to every payload.
//!
//! The packetizers turn one encoded frame into RTP payloads; the
//! depacketizer takes payloads in arrival order with their sequence
//! number, timestamp and marker bit, and gives back whole frames, telling
//! which frames were lost or arrived incomplete.

/// The largest RTP payload we produce (keeps SRTP packets under a 1280-byte
/// IPv6 minimum MTU path with headers and the trailer).
pub const DEFAULT_MAX_PAYLOAD: usize = 1100;

/// OBU types the AV1 payload format cares about.
mod obu_type {
    pub const SEQUENCE_HEADER: u8 = 1;
    pub const TEMPORAL_DELIMITER: u8 = 2;
    pub const TILE_LIST: u8 = 8;
    pub const PADDING: u8 = 15;
}

/// A payload or bitstream that does not follow its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// An OBU or LEB128 field runs past the end of the buffer.
    #[error("truncated OBU or length field")]
    Truncated,
    /// An AV1 aggregation header that contradicts its elements.
    #[error("bad AV1 aggregation: {0}")]
    BadAggregation(&'static str),
}

/// Reads an unsigned LEB128 number; returns it and the bytes it took.
pub fn read_leb128(buf: &[u8]) -> Result<(u64, usize), PayloadError> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(8) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(PayloadError::Truncated)
}

/// Appends `value` as unsigned LEB128.
pub fn write_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb128_len(value: u64) -> usize {
    let mut n = 1;
    let mut v = value >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// One OBU, without its size field: header byte(s) then payload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Obu {
    obu_type: u8,
    /// Header (with `obu_has_size_field` cleared) and payload.
    bytes: Vec<u8>,
}

/// Splits a low-overhead AV1 bitstream (OBUs with size fields, as encoders
/// write them) into OBUs without size fields.
fn split_obus(mut data: &[u8]) -> Result<Vec<Obu>, PayloadError> {
    let mut obus = Vec::new();
    while !data.is_empty() {
        let header = data[0];
        let obu_type = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let header_len = 1 + usize::from(has_extension);
        if data.len() < header_len {
            return Err(PayloadError::Truncated);
        }
        let (payload_len, size_len) = if has_size {
            let (n, l) = read_leb128(&data[header_len..])?;
            (n as usize, l)
        } else {
            (data.len() - header_len, 0)
        };
        let start = header_len + size_len;
        let end = start
            .checked_add(payload_len)
            .filter(|&e| e <= data.len())
            .ok_or(PayloadError::Truncated)?;
        let mut bytes = Vec::with_capacity(header_len + payload_len);
        bytes.push(header & !0x02);
        bytes.extend_from_slice(&data[1..header_len]);
        bytes.extend_from_slice(&data[start..end]);
        obus.push(Obu { obu_type, bytes });
        data = &data[end..];
    }
    Ok(obus)
}

/// Writes an OBU (as carried in RTP, without size field) back with its size
/// field, as decoders expect in a temporal unit.
fn with_size_field(out: &mut Vec<u8>, obu: &[u8]) -> Result<(), PayloadError> {
    let header = *obu.first().ok_or(PayloadError::Truncated)?;
    let header_len = 1 + usize::from(header & 0x04 != 0);
    if obu.len() < header_len {
        return Err(PayloadError::Truncated);
    }
    out.push(header | 0x02);
    out.extend_from_slice(&obu[1..header_len]);
    write_leb128(out, (obu.len() - header_len) as u64);
    out.extend_from_slice(&obu[header_len..]);
    Ok(())
}

/// Normalizes a temporal unit to what survives RTP: without temporal
/// delimiters, tile lists and padding, every OBU with a size field.
pub fn normalize_temporal_unit(data: &[u8]) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity(data.len());
    for obu in split_obus(data)? {
        if carried(obu.obu_type) {
            with_size_field(&mut out, &obu.bytes)?;
        }
    }
    Ok(out)
}

fn carried(obu_type: u8) -> bool {
    !matches!(
        obu_type,
        obu_type::TEMPORAL_DELIMITER | obu_type::TILE_LIST | obu_type::PADDING
    )
}

/// Packetizes one AV1 temporal unit into RTP payloads of at most
/// `max_payload` bytes. Every OBU element carries a LEB128 length (W = 0);
/// an OBU that does not fit is fragmented (Y on the packet it starts in, Z
/// on the packet that continues it). N marks the first packet of a coded
/// video sequence (a temporal unit with a sequence header). The caller
/// sets the RTP marker bit on the last payload.
pub fn packetize_av1(
    temporal_unit: &[u8],
    max_payload: usize,
) -> Result<Vec<Vec<u8>>, PayloadError> {
    assert!(max_payload >= 8, "max_payload too small for AV1");
    let obus: Vec<Obu> = split_obus(temporal_unit)?
        .into_iter()
        .filter(|o| carried(o.obu_type))
        .collect();
    let new_sequence = obus.iter().any(|o| o.obu_type == obu_type::SEQUENCE_HEADER);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut current = vec![if new_sequence { 0x08 } else { 0x00 }];
    for obu in &obus {
        let mut rest: &[u8] = &obu.bytes;
        while !rest.is_empty() {
            let available = max_payload - current.len();
            let whole = leb128_len(rest.len() as u64) + rest.len();
            if whole <= available {
                write_leb128(&mut current, rest.len() as u64);
                current.extend_from_slice(rest);
                rest = &[];
            } else if available >= 3 {
                let frag = available - leb128_len(available as u64);
                write_leb128(&mut current, frag as u64);
                current.extend_from_slice(&rest[..frag]);
                rest = &rest[frag..];
                current[0] |= 0x40; // Y: continues in the next packet
                packets.push(std::mem::replace(&mut current, vec![0x80])); // Z
            } else {
                packets.push(std::mem::replace(&mut current, vec![0x00]));
            }
        }
    }
    if current.len() > 1 || packets.is_empty() {
        packets.push(current);
    }
    Ok(packets)
}

/// Opus over RTP (RFC 7587): one Opus packet per RTP packet, as is; the
/// timestamp advances by the frame's length at 48 kHz (960 for 20 ms) and
/// the marker bit stays clear.
pub fn packetize_opus(opus_packet: &[u8]) -> Vec<u8> {
    opus_packet.to_vec()
}

/// A frame the depacketizer gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// RTP timestamp of the frame.
    pub timestamp: u32,
    /// The temporal unit, OBUs with size fields.
    pub data: Vec<u8>,
}

/// What pushing one payload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Depacketized {
    /// Nothing yet: the frame goes on.
    Pending,
    /// A whole frame.
    Frame(Frame),
    /// The frame with this timestamp was dropped: a packet of it is
    /// missing or the payload was malformed.
    Incomplete { timestamp: u32 },
}

/// Reassembles AV1 temporal units from RTP payloads. Sans IO: feed it
/// what arrives, in order.
#[derive(Debug, Default)]
pub struct Av1Depacketizer {
    timestamp: Option<u32>,
    last_seq: Option<u16>,
    broken: bool,
    /// OBUs of the frame so far; the last may be a fragment.
    obus: Vec<Vec<u8>>,
    /// The last OBU is a fragment waiting for its continuation.
    open_fragment: bool,
}

impl Av1Depacketizer {
    /// Takes one payload. A frame ends with the marker bit. A sequence gap
    /// inside a frame makes it incomplete; a new timestamp before the
    /// marker ends the frame in progress as incomplete (its marker packet
    /// was lost) and starts the next.
    pub fn push(
        &mut self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Vec<Depacketized> {
        let mut out = Vec::new();
        let in_sequence = self.last_seq.is_some_and(|s| s.wrapping_add(1) == seq);
        match self.timestamp {
            Some(ts) if ts != timestamp => {
                // The frame in progress did not end with its marker.
                out.push(Depacketized::Incomplete { timestamp: ts });
                self.reset();
            }
            // A packet of this frame is missing.
            Some(_) if !in_sequence => self.broken = true,
            _ => {}
        }
        let starts_frame = self.timestamp.is_none();
        self.last_seq = Some(seq);
        self.timestamp = Some(timestamp);
        if self.append(payload, starts_frame).is_err() {
            self.broken = true;
        }
        if marker {
            let done = if self.broken || self.open_fragment {
                Depacketized::Incomplete { timestamp }
            } else {
                match self.assemble() {
                    Ok(data) => Depacketized::Frame(Frame { timestamp, data }),
                    Err(_) => Depacketized::Incomplete { timestamp },
                }
            };
            out.push(done);
            self.reset();
        }
        if out.is_empty() {
            out.push(Depacketized::Pending);
        }
        out
    }

    fn reset(&mut self) {
        self.timestamp = None;
        self.broken = false;
        self.obus.clear();
        self.open_fragment = false;
    }

    fn append(&mut self, payload: &[u8], starts_frame: bool) -> Result<(), PayloadError> {
        let (&header, mut rest) = payload.split_first().ok_or(PayloadError::Truncated)?;
        let z = header & 0x80 != 0;
        let y = header & 0x40 != 0;
        let w = (header >> 4) & 0x03;
        if z && (starts_frame || !self.open_fragment) {
            return Err(PayloadError::BadAggregation("continuation without a start"));
        }
        if !z && self.open_fragment {
            return Err(PayloadError::BadAggregation("fragment not continued"));
        }
        let mut index = 0u8;
        while !rest.is_empty() {
            index += 1;
            let element = if w != 0 && index == w {
                std::mem::take(&mut rest)
            } else {
                let (len, l) = read_leb128(rest)?;
                let end = l
                    .checked_add(len as usize)
                    .filter(|&e| e <= rest.len())
                    .ok_or(PayloadError::Truncated)?;
                let e = &rest[l..end];
                rest = &rest[end..];
                e
            };
            if index == 1 && z {
                self.obus
                    .last_mut()
                    .ok_or(PayloadError::BadAggregation("continuation without a start"))?
                    .extend_from_slice(element);
            } else {
                self.obus.push(element.to_vec());
            }
        }
        self.open_fragment = y;
        Ok(())
    }

    fn assemble(&self) -> Result<Vec<u8>, PayloadError> {
        let mut out = Vec::with_capacity(self.obus.iter().map(|o| o.len() + 4).sum());
        for obu in &self.obus {
            with_size_field(&mut out, obu)?;
        }
        Ok(out)
    }
}

/// The send-time trailer every bot payload ends with: 8 bytes of the
/// sender's wall clock in microseconds since the Unix epoch, then the 4
/// bytes `TCLT`. Peers on one host share that clock, so the receiver reads
/// the one-way latency of each packet. It is a harness convention between
/// bots, not part of either payload format: a browser would see garbage at
/// the end of the payload.
pub mod trailer {
    /// Bytes the trailer adds.
    pub const LEN: usize = 12;
    const MAGIC: &[u8; 4] = b"TCLT";

    /// Appends the trailer.
    pub fn append(payload: &mut Vec<u8>, sent_at_micros: u64) {
        payload.extend_from_slice(&sent_at_micros.to_be_bytes());
        payload.extend_from_slice(MAGIC);
    }

    /// Splits a payload into the media payload and its send time.
    pub fn strip(payload: &[u8]) -> Option<(&[u8], u64)> {
        let cut = payload.len().checked_sub(LEN)?;
        let (media, tail) = payload.split_at(cut);
        if &tail[8..] != MAGIC {
            return None;
        }
        let micros = u64::from_be_bytes(tail[..8].try_into().ok()?);
        Some((media, micros))
    }
}

/// The wall clock in microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OBU with a size field.
    fn obu(obu_type: u8, payload_len: usize, fill: u8) -> Vec<u8> {
        let mut out = vec![(obu_type << 3) | 0x02];
        write_leb128(&mut out, payload_len as u64);
        out.extend((0..payload_len).map(|i| fill.wrapping_add(i as u8)));
        out
    }

    fn temporal_unit() -> Vec<u8> {
        let mut tu = obu(obu_type::TEMPORAL_DELIMITER, 0, 0);
        tu.extend(obu(obu_type::SEQUENCE_HEADER, 11, 1));
        tu.extend(obu(6, 5000, 7)); // a frame OBU larger than 4 packets
        tu.extend(obu(obu_type::PADDING, 3, 0));
        tu.extend(obu(6, 200, 9));
        tu
    }

    fn depacketize_all(payloads: &[Vec<u8>], ts: u32, seq0: u16) -> Vec<Depacketized> {
        let mut d = Av1Depacketizer::default();
        let n = payloads.len();
        payloads
            .iter()
            .enumerate()
            .flat_map(|(i, p)| d.push(seq0.wrapping_add(i as u16), ts, i + 1 == n, p))
            .filter(|r| *r != Depacketized::Pending)
            .collect()
    }

    #[test]
    fn leb128_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 40] {
            let mut out = Vec::new();
            write_leb128(&mut out, v);
            assert_eq!(out.len(), leb128_len(v));
            assert_eq!(read_leb128(&out).unwrap(), (v, out.len()));
        }
        assert_eq!(read_leb128(&[0x80]), Err(PayloadError::Truncated));
    }

    #[test]
    fn av1_round_trip_with_fragmentation() {
        let tu = temporal_unit();
        let payloads = packetize_av1(&tu, 1100).unwrap();
        assert!(payloads.len() >= 5, "{}", payloads.len());
        assert!(payloads.iter().all(|p| p.len() <= 1100));
        // N on the first packet only (the unit has a sequence header).
        assert_eq!(payloads[0][0] & 0x08, 0x08);
        assert!(payloads[1..].iter().all(|p| p[0] & 0x08 == 0));
        // Z and Y chain the fragments.
        for pair in payloads.windows(2) {
            assert_eq!(pair[0][0] & 0x40 != 0, pair[1][0] & 0x80 != 0);
        }
        let got = depacketize_all(&payloads, 3000, 65_530);
        assert_eq!(
            got,
            vec![Depacketized::Frame(Frame {
                timestamp: 3000,
                data: normalize_temporal_unit(&tu).unwrap()
            })]
        );
        // The delimiter and padding are gone, both frame OBUs are whole.
        let normalized = normalize_temporal_unit(&tu).unwrap();
        assert_eq!(normalized.len(), tu.len() - 2 - 5);
    }

    #[test]
    fn av1_round_trip_for_every_size_and_mtu() {
        for size in [
            1usize, 2, 3, 126, 127, 128, 129, 1000, 1096, 1097, 1098, 2500,
        ] {
            for mtu in [8usize, 9, 100, 1100] {
                let mut tu = obu(6, size, 3);
                tu.extend(obu(6, size / 2 + 1, 5));
                let payloads = packetize_av1(&tu, mtu).unwrap();
                assert!(payloads.iter().all(|p| p.len() <= mtu && p.len() > 1));
                let got = depacketize_all(&payloads, 7, 1);
                assert_eq!(
                    got,
                    vec![Depacketized::Frame(Frame {
                        timestamp: 7,
                        data: normalize_temporal_unit(&tu).unwrap()
                    })],
                    "size {size} mtu {mtu}"
                );
            }
        }
    }

    #[test]
    fn a_missing_packet_drops_only_its_frame() {
        let tu = temporal_unit();
        let payloads = packetize_av1(&tu, 1100).unwrap();
        let mut d = Av1Depacketizer::default();
        let mut results = Vec::new();
        let n = payloads.len() as u16;
        for (i, p) in payloads.iter().enumerate() {
            if i == 2 {
                continue; // lost
            }
            results.extend(d.push(i as u16, 0, i as u16 + 1 == n, p));
        }
        // The next frame arrives whole.
        for (i, p) in payloads.iter().enumerate() {
            results.extend(d.push(n + i as u16, 3000, i as u16 + 1 == n, p));
        }
        let outcomes: Vec<_> = results
            .into_iter()
            .filter(|r| *r != Depacketized::Pending)
            .map(|r| match r {
                Depacketized::Frame(f) => (f.timestamp, true),
                Depacketized::Incomplete { timestamp } => (timestamp, false),
                Depacketized::Pending => unreachable!(),
            })
            .collect();
        assert_eq!(outcomes, vec![(0, false), (3000, true)]);
    }

    #[test]
    fn a_lost_marker_is_noticed_at_the_next_frame() {
        let payloads = packetize_av1(&obu(6, 3000, 1), 1100).unwrap();
        let mut d = Av1Depacketizer::default();
        let n = payloads.len();
        for (i, p) in payloads.iter().enumerate().take(n - 1) {
            assert_eq!(d.push(i as u16, 0, false, p), vec![Depacketized::Pending]);
        }
        let next = packetize_av1(&obu(6, 10, 1), 1100).unwrap();
        assert_eq!(
            d.push(n as u16, 3000, true, &next[0]),
            vec![
                Depacketized::Incomplete { timestamp: 0 },
                Depacketized::Frame(Frame {
                    timestamp: 3000,
                    data: obu(6, 10, 1)
                })
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_refused_not_panicked_on() {
        let mut d = Av1Depacketizer::default();
        for bad in [&[][..], &[0x80, 1, 0x30], &[0x00, 0x05, 1], &[0x00, 0xff]] {
            let r = d.push(1, 1, true, bad);
            assert_eq!(
                r,
                vec![Depacketized::Incomplete { timestamp: 1 }],
                "{bad:?}"
            );
        }
        assert!(split_obus(&[0x32, 0x05, 0]).is_err());
    }

    #[test]
    fn w_field_elements_are_read() {
        // W = 2: the first element has a length, the last takes the rest.
        let a = [0x30u8, 1, 2];
        let b = [0x30u8, 9];
        let mut p = vec![0x20, a.len() as u8];
        p.extend_from_slice(&a);
        p.extend_from_slice(&b);
        let mut d = Av1Depacketizer::default();
        let mut want = Vec::new();
        with_size_field(&mut want, &a).unwrap();
        with_size_field(&mut want, &b).unwrap();
        assert_eq!(
            d.push(5, 9, true, &p),
            vec![Depacketized::Frame(Frame {
                timestamp: 9,
                data: want
            })]
        );
    }

    #[test]
    fn opus_payload_is_the_packet_and_the_trailer_round_trips() {
        let packet = [0xfc, 0xff, 0xfe, 1, 2, 3];
        let mut p = packetize_opus(&packet);
        assert_eq!(p, packet);
        trailer::append(&mut p, 1_700_000_000_123_456);
        assert_eq!(p.len(), packet.len() + trailer::LEN);
        assert_eq!(
            trailer::strip(&p),
            Some((&packet[..], 1_700_000_000_123_456))
        );
        assert_eq!(trailer::strip(&packet), None);
        assert_eq!(trailer::strip(&[1, 2]), None);
    }
}
