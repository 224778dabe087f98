//! TURN over TCP and TLS: the accept loop of a stream listener, within
//! its caps, and the socket that puts all the streams of one listener
//! behind one datagram socket (`socket::Datagrams`) for the TURN server. The
//! framing itself is in [`framing`](super::framing).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;

use super::RelayStats;
use super::framing::FrameDecoder;
// The framing's path before it had its own module (the tests use it).
use super::fastpath::table::granted_relayed_address;
pub use super::framing::{Frame, FrameError, MAX_FRAME_LEN, next_frame};
use super::lifetime::LifetimeCap;
use super::log::RateLimitedLog;
use super::relayed::Claims;
use super::shard::{Command, ShardLink};
use super::socket::{Datagram, Datagrams, deliver};

/// Frames queued towards one stream before further ones are dropped (like
/// a full UDP socket buffer: media is loss tolerant, and one slow client
/// must not stall the server's read loop).
const OUTBOUND_QUEUE: usize = 256;
/// Frames queued from all the streams of a listener towards the server.
const INBOUND_QUEUE: usize = 1024;
/// How the frames waiting for a stream are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Those waiting when the writer wakes in one write: one system call
    /// for several frames (plain TCP).
    Batched,
    /// One write, so one TLS record, per frame: coturn's
    /// `turnutils_uclient` over TLS lost 28 of 200 messages when several
    /// frames shared a record (it reads one message per record).
    OnePerFrame,
}

/// The write buffer a stream keeps between batches.
const BATCH_BUFFER: usize = 8 * 1024;
/// Frames taken from a stream's queue at once, at most.
const WRITE_BATCH: usize = 32;
/// How much is read from a stream at once (every frame in it is passed
/// on before the next read).
const READ_CHUNK: usize = 4096;
/// How long queued frames may take to go out once a stream is closing.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
    junk_log: StdMutex<RateLimitedLog>,
    /// Lowers over-long allocation lifetimes (see `lifetime`).
    cap: Option<Arc<LifetimeCap>>,
    /// Where the relayed sockets of allocations made over this listener
    /// are handed, to be read (see `shard`).
    adoption: Option<(Arc<Claims>, ShardLink)>,
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
            junk_log: StdMutex::new(RateLimitedLog::new(
                "TURN streams closed for frames that are not TURN",
            )),
            cap: None,
            adoption: None,
        }
    }

    /// Caps the lifetimes clients ask for.
    pub(crate) fn with_lifetime_cap(mut self, cap: Arc<LifetimeCap>) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Hands the relayed socket of each allocation made over this listener
    /// to `shard` when the Allocate success goes back to the client.
    pub(crate) fn with_adoption(mut self, claims: Arc<Claims>, shard: ShardLink) -> Self {
        self.adoption = Some((claims, shard));
        self
    }

    fn writers(&self) -> std::sync::MutexGuard<'_, Writers> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one accepted stream until it ends or misbehaves.
    pub(crate) async fn serve<S>(self: Arc<Self>, stream: S, peer: SocketAddr, writes: Writes)
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
            let mut frames = Vec::with_capacity(WRITE_BATCH);
            let mut batch = Vec::new();
            while out_rx.recv_many(&mut frames, WRITE_BATCH).await > 0 {
                let written = match writes {
                    Writes::Batched => {
                        batch.clear();
                        for frame in frames.drain(..) {
                            batch.extend_from_slice(&frame);
                        }
                        let written = writer.write_all(&batch).await;
                        // A burst of large frames does not keep its buffer
                        // for the stream's life.
                        batch.shrink_to(BATCH_BUFFER);
                        written
                    }
                    Writes::OnePerFrame => {
                        let mut written = Ok(());
                        for frame in frames.drain(..) {
                            written = writer.write_all(&frame).await;
                            if written.is_err() {
                                break;
                            }
                        }
                        written
                    }
                };
                if written.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        };
        let read = async {
            let mut frames = FrameDecoder::new();
            let mut chunk = [0u8; READ_CHUNK];
            loop {
                loop {
                    match frames.next_frame() {
                        Ok(Some(datagram)) => {
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
                    Ok(Ok(n)) => frames.extend(&chunk[..n]),
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

impl Datagrams for StreamConn {
    /// Never fails while the listener lives: the server's read loop stops
    /// for good on the first error, so one stream's end must not show here.
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (frame, peer) = self
            .inbound_rx
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::other("TURN stream listener closed"))?;
        // Frames are at most MAX_FRAME_LEN, the server's buffer size.
        let n = deliver(&frame, buf);
        if let Some(cap) = &self.cap {
            cap.apply(&mut buf[..n]);
        }
        Ok((n, peer))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let sender = self.writers().get(&target).map(|(_, s)| s.clone());
        let Some(sender) = sender else {
            return Err(io::Error::other(format!("no TURN stream from {target}")));
        };
        if let Some((claims, shard)) = &self.adoption
            && let Some(relayed) = granted_relayed_address(buf)
            && let Some(socket) = claims.take(relayed.port())
        {
            shard.send(Command::Adopt(socket));
        }
        match sender.try_send(buf.to_vec()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats
                    .stream_send_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(io::Error::other(format!(
                    "TURN stream from {target} is closed"
                )));
            }
        }
        Ok(buf.len())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    // `close` is a no-op: `turn` calls it on the listener socket whenever
    // an allocation made through it closes. The listener ends with the
    // relay.
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The caps on one stream listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// Open streams in all.
    pub(crate) total: usize,
    /// Open streams per client address.
    pub(crate) per_address: usize,
    /// How long a stream may stay silent.
    pub(crate) idle: Duration,
}

/// Accepts TCP (and, with an acceptor, TLS) connections and serves each on
/// its own task, within the caps (in all and per client address).
/// Aborting this task ends every stream it accepted.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    conn: Arc<StreamConn>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: StreamLimits,
    stats: Arc<RelayStats>,
) {
    let mut streams = JoinSet::new();
    let mut per_address: std::collections::HashMap<IpAddr, usize> = Default::default();
    let mut owner: std::collections::HashMap<tokio::task::Id, IpAddr> = Default::default();
    let mut refusals = RateLimitedLog::new("TURN stream connections refused (limits reached)");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, say: back off a little.
                        tracing::warn!(%err, "TURN stream accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let mine = per_address.get(&peer.ip()).copied().unwrap_or(0);
                if streams.len() >= limits.total {
                    refusals.count();
                    continue;
                }
                if mine >= limits.per_address {
                    stats.stream_connections_refused_per_address.fetch_add(1, Ordering::Relaxed);
                    refusals.count();
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                stats.stream_connections_accepted.fetch_add(1, Ordering::Relaxed);
                let conn = Arc::clone(&conn);
                let handle = match &acceptor {
                    None => streams.spawn(conn.serve(tcp, peer, Writes::Batched)),
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let stats = Arc::clone(&stats);
                        streams.spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => conn.serve(tls, peer, Writes::OnePerFrame).await,
                                Ok(Err(err)) => {
                                    stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                    tracing::debug!(%peer, %err, "TLS handshake failed");
                                }
                                Err(_) => {
                                    stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                }
                            }
                        })
                    }
                };
                per_address.insert(peer.ip(), mine + 1);
                owner.insert(handle.id(), peer.ip());
            }
            Some(done) = streams.join_next_with_id(), if !streams.is_empty() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => e.id(),
                };
                if let Some(ip) = owner.remove(&id)
                    && let Some(n) = per_address.get_mut(&ip)
                {
                    *n -= 1;
                    if *n == 0 {
                        per_address.remove(&ip);
                    }
                }
            }
        }
    }
}
