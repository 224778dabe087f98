//! The test peer of the pre-call connection test.
//!
//! A browser on the device-check screen offers a peer connection with one
//! data channel, once per network path it wants to try (direct, or through
//! the relay over UDP, TCP or TLS). The server answers with a [`Probe`]
//! peer, which speaks a tiny protocol on the channel:
//!
//! - a text `ping N` is answered at once with `pong N`, for the round trip;
//! - binary messages are counted: the browser sends as fast as the channel
//!   lets it for a moment;
//! - a text `up?` is answered with `up BYTES MS`, the bytes received after
//!   the first binary message and the milliseconds between the first and
//!   the last, so the browser learns what it could send;
//! - anything else is ignored.
//!
//! No health data crosses this channel: the probe exists before consent,
//! and never sees the other participants. Each probe peer lives at most
//! [`ProbeConfig::lifetime`], and at most [`ProbeConfig::max_concurrent`]
//! run at once.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

use crate::{Error, OfferError};

/// Where and how many probe peers run.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The address probe peers gather their UDP candidates on: the server's
    /// own, which the relay may reach too.
    pub ip: IpAddr,
    /// Probe peers alive at once; more are refused with [`Error::ProbeBusy`].
    pub max_concurrent: usize,
    /// How long one probe peer lives, whatever the browser does.
    pub lifetime: Duration,
    /// How long to wait for the probe's own candidates before answering.
    pub gather_timeout: Duration,
    /// Where the live probe peers' sockets are written down, for the
    /// relay: connection-test credentials reach these and nothing else.
    pub peers: Arc<ProbePeers>,
}

/// The UDP sockets of the live probe peers, shared by the probe (which
/// writes them down from its answers, and strikes them out when the peer
/// ends) and the relay (see [`RelayConfig::probe_peers`](crate::RelayConfig::probe_peers)).
#[derive(Debug, Default)]
pub struct ProbePeers(RwLock<HashSet<SocketAddr>>);

impl ProbePeers {
    /// Whether `addr` is a live probe peer's socket.
    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&addr)
    }

    /// Writes down `addr` as a probe peer's socket.
    pub fn insert(&self, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr);
    }

    /// Strikes out `addr`.
    pub fn remove(&self, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }

    /// How many sockets are written down.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The UDP host candidates of an SDP (the probe's own sockets).
fn host_candidates(sdp: &str) -> Vec<SocketAddr> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=candidate:"))
        .filter_map(|c| {
            // foundation component transport priority address port typ host
            let f: Vec<&str> = c.split_whitespace().collect();
            if f.len() < 8 || !f[2].eq_ignore_ascii_case("udp") || f[6] != "typ" || f[7] != "host" {
                return None;
            }
            Some(SocketAddr::new(f[4].parse().ok()?, f[5].parse().ok()?))
        })
        .collect()
}

impl ProbeConfig {
    pub fn new(ip: IpAddr) -> Self {
        ProbeConfig {
            ip,
            max_concurrent: 32,
            lifetime: Duration::from_secs(30),
            gather_timeout: Duration::from_secs(5),
            peers: Arc::default(),
        }
    }
}

/// The server's test peer factory. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct Probe {
    config: ProbeConfig,
    slots: Arc<Semaphore>,
}

/// The largest SDP offer a probe accepts; a data-channel-only offer is a
/// few kilobytes.
pub const MAX_OFFER_BYTES: usize = 32 * 1024;

impl Probe {
    pub fn new(config: ProbeConfig) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        Probe { config, slots }
    }

    /// Probe peers running now.
    pub fn active(&self) -> usize {
        self.config.max_concurrent - self.slots.available_permits()
    }

    /// Answers a browser's offer with a new probe peer, and returns the
    /// answer's SDP once the peer's candidates are in it (no trickle: one
    /// HTTP round trip does the whole exchange).
    pub async fn answer(&self, offer_sdp: String) -> Result<String, Error> {
        if offer_sdp.len() > MAX_OFFER_BYTES {
            return Err(Error::BadOffer(OfferError::TooLarge {
                max: MAX_OFFER_BYTES,
            }));
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::ProbeBusy)?;
        let offer =
            RTCSessionDescription::offer(offer_sdp).map_err(|e| Error::BadOffer(e.into()))?;
        let events = Arc::new(PeerEvents::default());
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler {
                events: events.clone(),
            }))
            .with_udp_addrs(vec![format!("{}:0", self.config.ip)])
            .build()
            .await
            .map_err(|source| Error::Probe {
                context: "cannot create the test peer",
                source,
            })?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let answer = negotiate(&*pc, offer, &events, self.config.gather_timeout).await;
        match answer {
            Ok(sdp) => {
                let sockets = host_candidates(&sdp);
                for s in &sockets {
                    self.config.peers.insert(*s);
                }
                let peers = Arc::clone(&self.config.peers);
                let lifetime = self.config.lifetime;
                tokio::spawn(async move {
                    live(pc, events, permit, lifetime).await;
                    for s in sockets {
                        peers.remove(s);
                    }
                });
                Ok(sdp)
            }
            Err(e) => {
                let _ = pc.close().await;
                Err(e)
            }
        }
    }
}

async fn negotiate(
    pc: &dyn PeerConnection,
    offer: RTCSessionDescription,
    events: &PeerEvents,
    gather_timeout: Duration,
) -> Result<String, Error> {
    pc.set_remote_description(offer)
        .await
        .map_err(|e| Error::BadOffer(e.into()))?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| Error::BadOffer(e.into()))?;
    let gathered = events.gathered.notified();
    pc.set_local_description(answer)
        .await
        .map_err(|source| Error::Probe {
            context: "cannot set the answer",
            source,
        })?;
    // Candidates are few (one UDP socket): gathering ends quickly. If it
    // does not, answer with what there is rather than fail.
    let _ = tokio::time::timeout(gather_timeout, gathered).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(Error::ProbeNoAnswer)
}

/// Keeps the peer alive until the browser is done or its time is up.
async fn live(
    pc: Arc<dyn PeerConnection>,
    events: Arc<PeerEvents>,
    permit: OwnedSemaphorePermit,
    lifetime: Duration,
) {
    let _ = tokio::time::timeout(lifetime, events.done.notified()).await;
    let _ = pc.close().await;
    drop(permit);
}

#[derive(Default)]
struct PeerEvents {
    gathered: Notify,
    done: Notify,
}

struct Handler {
    events: Arc<PeerEvents>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.events.gathered.notify_one();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            self.events.done.notify_one();
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let events = self.events.clone();
        tokio::spawn(async move {
            serve_channel(&*channel).await;
            events.done.notify_one();
        });
    }
}

/// Counts the upload burst: what arrived after the first binary message.
#[derive(Debug, Default)]
pub struct UploadMeter {
    first: Option<Instant>,
    last: Option<Instant>,
    bytes_after_first: u64,
}

impl UploadMeter {
    pub fn record(&mut self, len: usize, now: Instant) {
        if self.first.is_none() {
            self.first = Some(now);
        } else {
            self.bytes_after_first += len as u64;
        }
        self.last = Some(now);
    }

    /// `up BYTES MS`, then starts over for the next burst.
    pub fn report(&mut self) -> String {
        let ms = match (self.first, self.last) {
            (Some(f), Some(l)) => l.duration_since(f).as_secs_f64() * 1000.0,
            _ => 0.0,
        };
        let line = format!("up {} {ms:.3}", self.bytes_after_first);
        *self = UploadMeter::default();
        line
    }
}

/// What the probe answers to one text message, if anything.
pub fn reply(text: &str, meter: &mut UploadMeter) -> Option<String> {
    if let Some(n) = text.strip_prefix("ping ") {
        // Echo only short, plain tokens: the probe is not a reflector.
        (n.len() <= 32 && n.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| format!("pong {n}"))
    } else if text == "up?" {
        Some(meter.report())
    } else {
        None
    }
}

async fn serve_channel(channel: &dyn DataChannel) {
    let mut meter = UploadMeter::default();
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnMessage(msg) if msg.is_string => {
                let text = String::from_utf8_lossy(&msg.data);
                if let Some(answer) = reply(&text, &mut meter)
                    && channel.send_text(&answer).await.is_err()
                {
                    return;
                }
            }
            DataChannelEvent::OnMessage(msg) => meter.record(msg.data.len(), Instant::now()),
            DataChannelEvent::OnClose => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_echoed_only_when_plain() {
        let mut m = UploadMeter::default();
        assert_eq!(reply("ping 42", &mut m).as_deref(), Some("pong 42"));
        assert_eq!(reply("ping a b", &mut m), None);
        assert_eq!(reply(&format!("ping {}", "x".repeat(33)), &mut m), None);
        assert_eq!(reply("hello", &mut m), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_upload_meter_counts_after_the_first_message() {
        let mut m = UploadMeter::default();
        m.record(1000, Instant::now());
        tokio::time::advance(Duration::from_millis(250)).await;
        m.record(4000, Instant::now());
        tokio::time::advance(Duration::from_millis(250)).await;
        m.record(4000, Instant::now());
        assert_eq!(reply("up?", &mut m).as_deref(), Some("up 8000 500.000"));
        // And starts over.
        assert_eq!(reply("up?", &mut m).as_deref(), Some("up 0 0.000"));
    }
}
