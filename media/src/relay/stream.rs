//! TURN over TCP and TLS: cutting STUN messages and ChannelData out of a
//! byte stream (RFC 8656 §12.5, RFC 5766 §11.5), and the adapter that puts
//! all the streams of one listener behind the datagram-shaped
//! `webrtc_util::Conn` that the `turn` server reads from.
//!
//! - The first two bits of a frame tell its kind: `00` is a STUN message
//!   (20-byte header, then `length` bytes, a multiple of 4, and the magic
//!   cookie: RFC 3489 messages are refused), `01` is ChannelData (4-byte header, then `length` bytes, padded to a multiple
//!   of 4 on streams). `10` and `11` are not TURN.
//! - The `turn` server reads into a 1500-byte buffer, so no frame larger
//!   than [`MAX_FRAME_LEN`] is handed over: a stream that announces one is
//!   closed.
//! - Padding is stripped on the way in; outgoing ChannelData is already
//!   padded by the `turn` crate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

use super::RelayStats;

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

/// Frames queued towards one stream before further ones are dropped (like
/// a full UDP socket buffer: media is loss tolerant, and one slow client
/// must not stall the server's read loop).
const OUTBOUND_QUEUE: usize = 256;
/// Frames queued from all the streams of a listener towards the server.
const INBOUND_QUEUE: usize = 1024;
/// How much is read from a stream at once.
const READ_CHUNK: usize = 4096;
/// How long queued frames may take to go out once a stream is closing.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

type Datagram = (Vec<u8>, SocketAddr);
/// The outgoing queue of each open stream, by remote address, with the
/// stream's serial number (so a closing stream never removes a newer one
/// from the same address).
type Writers = HashMap<SocketAddr, (u64, mpsc::Sender<Vec<u8>>)>;

/// All the TCP or TLS streams of one listener, seen by the `turn` server
/// as one datagram socket: a frame from a stream is a datagram from the
/// stream's remote address, and a datagram sent to that address is written
/// onto the stream.
pub(crate) struct StreamConn {
    local: SocketAddr,
    inbound_rx: Mutex<mpsc::Receiver<Datagram>>,
    inbound_tx: mpsc::Sender<Datagram>,
    writers: StdMutex<Writers>,
    next_id: AtomicU64,
    stats: Arc<RelayStats>,
    /// How long a stream may stay silent before it is closed.
    idle_timeout: std::time::Duration,
    /// The summary of streams cut for bad frames (not a line each).
    junk_log: StdMutex<super::RateLimitedLog>,
    /// Lowers over-long allocation lifetimes (see `lifetime`).
    cap: Option<Arc<super::lifetime::LifetimeCap>>,
}

impl std::fmt::Debug for StreamConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConn")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl StreamConn {
    pub(crate) fn new(
        local: SocketAddr,
        stats: Arc<RelayStats>,
        idle_timeout: std::time::Duration,
    ) -> Self {
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        StreamConn {
            local,
            inbound_rx: Mutex::new(inbound_rx),
            inbound_tx,
            writers: StdMutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            stats,
            idle_timeout,
            junk_log: StdMutex::new(super::RateLimitedLog::new(
                "TURN streams closed for frames that are not TURN",
            )),
            cap: None,
        }
    }

    /// Caps the lifetimes clients ask for.
    pub(crate) fn with_lifetime_cap(mut self, cap: Arc<super::lifetime::LifetimeCap>) -> Self {
        self.cap = Some(cap);
        self
    }

    fn writers(&self) -> std::sync::MutexGuard<'_, Writers> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one accepted stream until it ends or misbehaves.
    pub(crate) async fn serve<S>(self: Arc<Self>, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTBOUND_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.writers().insert(peer, (id, out_tx));
        self.stats
            .stream_connections_active
            .fetch_add(1, Ordering::Relaxed);

        let write = async move {
            while let Some(frame) = out_rx.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        };
        let read = async {
            let mut buf: Vec<u8> = Vec::with_capacity(MAX_FRAME_LEN + READ_CHUNK);
            let mut chunk = [0u8; READ_CHUNK];
            loop {
                loop {
                    match next_frame(&buf) {
                        Ok(Some((frame, consumed))) => {
                            let datagram = buf[..frame.frame_len()].to_vec();
                            buf.drain(..consumed);
                            if self.inbound_tx.send((datagram, peer)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(err) => {
                            self.stats
                                .stream_frame_errors
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::trace!(%err, "closing TURN stream");
                            self.junk_log
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .count();
                            return;
                        }
                    }
                }
                match tokio::time::timeout(self.idle_timeout, reader.read(&mut chunk)).await {
                    Ok(Ok(0) | Err(_)) => return,
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                    Err(_) => {
                        self.stats
                            .stream_idle_closed
                            .fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        // The writer ends when its sender leaves the map (below) or when
        // the stream breaks; the reader ends on EOF or a bad frame.
        tokio::pin!(write);
        let write_done = tokio::select! {
            () = read => false,
            () = &mut write => true,
        };
        {
            let mut writers = self.writers();
            if writers.get(&peer).is_some_and(|(i, _)| *i == id) {
                writers.remove(&peer);
            }
        }
        if !write_done {
            // Let queued frames (an error response, say) go out, but do
            // not wait for ever on a peer that does not read.
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, write).await;
        }
        self.stats
            .stream_connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn closed() -> webrtc_util::Error {
    webrtc_util::Error::Other("TURN stream listener closed".to_owned())
}

#[async_trait]
impl webrtc_util::Conn for StreamConn {
    async fn connect(&self, _addr: SocketAddr) -> Result<(), webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "a stream listener does not connect".to_owned(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, webrtc_util::Error> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    /// Never fails while the listener lives: the server's read loop stops
    /// for good on the first error, so one stream's end must not show here.
    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), webrtc_util::Error> {
        let (frame, peer) = self
            .inbound_rx
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(closed)?;
        // Frames are at most MAX_FRAME_LEN, the server's buffer size.
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        if let Some(cap) = &self.cap {
            cap.apply(&mut buf[..n]);
        }
        Ok((n, peer))
    }

    async fn send(&self, _buf: &[u8]) -> Result<usize, webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "send without an address on a stream listener".to_owned(),
        ))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, webrtc_util::Error> {
        let sender = self.writers().get(&target).map(|(_, s)| s.clone());
        let Some(sender) = sender else {
            return Err(webrtc_util::Error::Other(format!(
                "no TURN stream from {target}"
            )));
        };
        match sender.try_send(buf.to_vec()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats
                    .stream_send_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(webrtc_util::Error::Other(format!(
                    "TURN stream from {target} is closed"
                )));
            }
        }
        Ok(buf.len())
    }

    fn local_addr(&self) -> Result<SocketAddr, webrtc_util::Error> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// A no-op: `turn` calls `close` on the listener socket whenever an
    /// allocation made through it closes. The listener ends with the relay.
    async fn close(&self) -> Result<(), webrtc_util::Error> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
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
