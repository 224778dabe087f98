//! TURN over TCP and TLS framing: cutting STUN messages and ChannelData
//! out of a byte stream (RFC 8656 §12.5, RFC 5766 §11.5), sans IO.
//!
//! - The first two bits of a frame tell its kind: `00` is a STUN message
//!   (20-byte header, then `length` bytes, a multiple of 4, and the magic
//!   cookie: RFC 3489 messages are refused), `01` is ChannelData (4-byte
//!   header, then `length` bytes, padded to a multiple of 4 on streams).
//!   `10` and `11` are not TURN.
//! - The `turn` server reads into a 1500-byte buffer, so no frame larger
//!   than [`MAX_FRAME_LEN`] is handed over: a stream that announces one is
//!   closed.
//! - Padding is stripped on the way in; outgoing ChannelData is already
//!   padded by the `turn` crate.
//!
//! [`next_frame`] looks at a buffer; [`FrameDecoder`] is the buffer of one
//! stream, as the relay's stream listeners run it (and the fuzz target
//! `turn_stream` drives it).

/// The largest frame (header included, padding excluded) accepted on a
/// stream: the `turn` server's read buffer.
pub const MAX_FRAME_LEN: usize = 1500;

const STUN_HEADER_LEN: usize = 20;
const CHANNEL_HEADER_LEN: usize = 4;
const MAGIC_COOKIE: u32 = 0x2112_A442;

/// One frame found at the start of a buffer: `buf[..frame.frame_len()]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A STUN message (request, response or indication).
    Stun {
        /// Header and attributes, in bytes.
        len: usize,
    },
    /// A ChannelData message.
    ChannelData {
        /// The channel number, 0x4000..=0x7FFF. RFC 8656 narrowed the range
        /// to 0x4FFF, but RFC 5766 clients (coturn's among them) use it all,
        /// and so does the `turn` crate.
        channel: u16,
        /// Header and application data, in bytes, without the padding.
        len: usize,
    },
}

impl Frame {
    /// How many bytes of the buffer make the frame, without padding: what
    /// is handed to the TURN server.
    pub fn frame_len(&self) -> usize {
        match *self {
            Frame::Stun { len } | Frame::ChannelData { len, .. } => len,
        }
    }
}

/// Why a stream was cut: the peer does not speak TURN over TCP correctly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first two bits are `10` or `11`.
    #[error("not a TURN frame: first byte {0:#04x} is neither STUN (0b00) nor ChannelData (0b01)")]
    UnknownType(u8),
    /// STUN message lengths are multiples of 4 (RFC 8489 §5).
    #[error("STUN message length {0} is not a multiple of 4")]
    StunLengthUnaligned(u16),
    /// Not an RFC 5389/8489 STUN message.
    #[error("STUN magic cookie is {0:#010x}, expected 0x2112a442")]
    BadMagicCookie(u32),
    /// The announced frame is larger than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length, header included, padding excluded.
        len: usize,
        /// [`MAX_FRAME_LEN`].
        max: usize,
    },
}

/// Finds the frame at the start of `buf`.
///
/// - `Ok(None)`: `buf` holds only the beginning of a frame (or nothing);
///   read more.
/// - `Ok(Some((frame, consumed)))`: the frame is `buf[..frame.frame_len()]`;
///   drop `consumed` bytes (the frame and its padding) before the next call.
/// - `Err(_)`: the stream is not TURN or breaks a limit; close it. Errors
///   are reported as soon as the bytes that show them have arrived.
pub fn next_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    match first >> 6 {
        0b00 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            let body = u16::from_be_bytes([buf[2], buf[3]]);
            if !body.is_multiple_of(4) {
                return Err(FrameError::StunLengthUnaligned(body));
            }
            let len = STUN_HEADER_LEN + usize::from(body);
            if len > MAX_FRAME_LEN {
                return Err(FrameError::TooLarge {
                    len,
                    max: MAX_FRAME_LEN,
                });
            }
            if buf.len() >= 8 {
                let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                if cookie != MAGIC_COOKIE {
                    return Err(FrameError::BadMagicCookie(cookie));
                }
            }
            if buf.len() < len {
                return Ok(None);
            }
            Ok(Some((Frame::Stun { len }, len)))
        }
        0b01 => {
            if buf.len() < CHANNEL_HEADER_LEN {
                return Ok(None);
            }
            let channel = u16::from_be_bytes([buf[0], buf[1]]);
            let data = u16::from_be_bytes([buf[2], buf[3]]);
            let len = CHANNEL_HEADER_LEN + usize::from(data);
            if len > MAX_FRAME_LEN {
                return Err(FrameError::TooLarge {
                    len,
                    max: MAX_FRAME_LEN,
                });
            }
            let padded = len.next_multiple_of(4);
            if buf.len() < padded {
                return Ok(None);
            }
            Ok(Some((Frame::ChannelData { channel, len }, padded)))
        }
        _ => Err(FrameError::UnknownType(first)),
    }
}

/// The framing of one stream: bytes go in as they are read, whole frames
/// come out without their padding. What each TCP or TLS stream of the
/// relay runs, and what the fuzz target `turn_stream` drives.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder, with room for one largest frame and one read.
    pub fn new() -> Self {
        FrameDecoder {
            buf: Vec::with_capacity(MAX_FRAME_LEN + 4096),
        }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame (header included, padding excluded), `Ok(None)`
    /// when more bytes are needed, or why the stream must be closed (see
    /// [`next_frame`]).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some((frame, consumed)) = next_frame(&self.buf)? else {
            return Ok(None);
        };
        let len = frame.frame_len();
        debug_assert!(len > 0 && len <= MAX_FRAME_LEN, "{frame:?}");
        debug_assert!(
            len <= consumed && consumed - len < 4 && consumed <= self.buf.len(),
            "{frame:?} {consumed}"
        );
        let datagram = self.buf[..len].to_vec();
        self.buf.drain(..consumed);
        Ok(Some(datagram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&u16::try_from(body).unwrap().to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend(std::iter::repeat_n(0xAB, body));
        m
    }

    #[test]
    fn empty_and_short_buffers_need_more() {
        assert_eq!(next_frame(&[]), Ok(None));
        assert_eq!(next_frame(&[0x00]), Ok(None));
        assert_eq!(next_frame(&[0x40]), Ok(None));
        assert_eq!(next_frame(&[0x7F, 0xFF, 0x00]), Ok(None));
        assert_eq!(next_frame(&stun(8)[..27]), Ok(None));
    }

    #[test]
    fn stun_message_is_cut_at_its_length() {
        let mut buf = stun(8);
        buf.extend_from_slice(&[0x40, 0x00, 0x00, 0x01, 0xFF, 0, 0, 0]);
        assert_eq!(next_frame(&buf), Ok(Some((Frame::Stun { len: 28 }, 28))));
    }

    #[test]
    fn channel_data_padding_is_consumed_not_returned() {
        let buf = [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(
            next_frame(&buf),
            Ok(Some((
                Frame::ChannelData {
                    channel: 0x4001,
                    len: 9
                },
                12
            )))
        );
        // The padding has not arrived yet.
        assert_eq!(next_frame(&buf[..10]), Ok(None));
        // Empty ChannelData, on the last RFC 5766 channel.
        assert_eq!(
            next_frame(&[0x7F, 0xFF, 0, 0]),
            Ok(Some((
                Frame::ChannelData {
                    channel: 0x7FFF,
                    len: 4
                },
                4
            )))
        );
    }

    #[test]
    fn malformed_input_is_refused_early() {
        assert_eq!(next_frame(&[0x80]), Err(FrameError::UnknownType(0x80)));
        assert_eq!(next_frame(&[0xC3, 0]), Err(FrameError::UnknownType(0xC3)));
        assert_eq!(
            next_frame(&[0x00, 0x01, 0x00, 0x05]),
            Err(FrameError::StunLengthUnaligned(5))
        );
        assert_eq!(
            next_frame(&[0x00, 0x01, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF]),
            Err(FrameError::BadMagicCookie(0xDEAD_BEEF))
        );
    }

    #[test]
    fn frame_size_limit_is_exact() {
        let at_limit = u16::try_from(MAX_FRAME_LEN - STUN_HEADER_LEN).unwrap();
        assert!(matches!(
            next_frame(&stun(usize::from(at_limit))),
            Ok(Some((Frame::Stun { len: MAX_FRAME_LEN }, MAX_FRAME_LEN)))
        ));
        let over = (at_limit + 4).to_be_bytes();
        assert_eq!(
            next_frame(&[0x00, 0x01, over[0], over[1]]),
            Err(FrameError::TooLarge {
                len: MAX_FRAME_LEN + 4,
                max: MAX_FRAME_LEN
            })
        );
        let over = u16::try_from(MAX_FRAME_LEN - 3).unwrap().to_be_bytes();
        assert_eq!(
            next_frame(&[0x40, 0x00, over[0], over[1]]),
            Err(FrameError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            })
        );
        assert_eq!(
            next_frame(&[0x40, 0x00, 0xFF, 0xFF]),
            Err(FrameError::TooLarge {
                len: 65539,
                max: MAX_FRAME_LEN
            })
        );
    }
}
