//! The stats a `webrtc` crate participant reports over signaling, the same
//! a browser takes from `getStats`: ICE and peer connection states (from
//! the event handler), inbound packets received and lost (from the RTP
//! sequence numbers of what arrives, so loss is what the network really
//! dropped), and the selected pair's RTT (from the connection's own stats).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use session::act::MediaRoute;
use session::incident::{IceState, PeerConnectionState};
use signaling::protocol::StatsReport;
use webrtc::peer_connection::{
    PeerConnection, RTCIceConnectionState, RTCPeerConnectionState, StatsSelector,
};

/// Per peer: states and the inbound sequence-number window.
#[derive(Debug, Default)]
struct PeerLink {
    ice: Option<IceState>,
    pc: Option<PeerConnectionState>,
    /// First and highest extended sequence number seen.
    first: Option<u64>,
    highest: u64,
    received: u64,
}

/// What the event handlers of one participant's connections record.
#[derive(Debug, Default)]
pub struct LinkState {
    peers: Mutex<HashMap<u32, PeerLink>>,
}

impl LinkState {
    fn with<T>(&self, peer: u32, f: impl FnOnce(&mut PeerLink) -> T) -> T {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(peers.entry(peer).or_default())
    }

    pub fn set_ice(&self, peer: u32, state: RTCIceConnectionState) {
        let state = match state {
            RTCIceConnectionState::New => IceState::New,
            RTCIceConnectionState::Checking => IceState::Checking,
            RTCIceConnectionState::Connected => IceState::Connected,
            RTCIceConnectionState::Completed => IceState::Completed,
            RTCIceConnectionState::Disconnected => IceState::Disconnected,
            RTCIceConnectionState::Failed => IceState::Failed,
            RTCIceConnectionState::Closed => IceState::Closed,
            _ => return,
        };
        self.with(peer, |p| p.ice = Some(state));
    }

    pub fn set_pc(&self, peer: u32, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::New => PeerConnectionState::New,
            RTCPeerConnectionState::Connecting => PeerConnectionState::Connecting,
            RTCPeerConnectionState::Connected => PeerConnectionState::Connected,
            RTCPeerConnectionState::Disconnected => PeerConnectionState::Disconnected,
            RTCPeerConnectionState::Failed => PeerConnectionState::Failed,
            RTCPeerConnectionState::Closed => PeerConnectionState::Closed,
            _ => return,
        };
        self.with(peer, |p| p.pc = Some(state));
    }

    /// One inbound RTP packet. Sequence numbers are extended across the
    /// 16-bit wrap by taking the nearest candidate to the highest so far.
    pub fn on_rtp(&self, peer: u32, seq: u16) {
        self.with(peer, |p| {
            let ext = match p.first {
                None => {
                    let e = u64::from(seq) + (1 << 16);
                    p.first = Some(e);
                    p.highest = e;
                    e
                }
                Some(_) => {
                    let cycle = p.highest & !0xffff;
                    let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)]
                        .map(|c| c + u64::from(seq));
                    candidates
                        .into_iter()
                        .min_by_key(|c| c.abs_diff(p.highest))
                        .unwrap_or(p.highest)
                }
            };
            p.highest = p.highest.max(ext);
            p.received += 1;
        });
    }

    /// Cumulative (received, lost) from `peer`.
    fn counters(&self, peer: u32) -> (u64, u64) {
        self.with(peer, |p| {
            let expected = p.first.map_or(0, |f| p.highest - f + 1);
            (p.received, expected.saturating_sub(p.received))
        })
    }
}

/// The report for the connection with `peer`.
pub async fn report(
    pc: &dyn PeerConnection,
    link: &LinkState,
    peer: u32,
    route: Option<MediaRoute>,
) -> StatsReport {
    let (received, lost) = link.counters(peer);
    let (ice, peer_connection) = link.with(peer, |p| (p.ice, p.pc));
    let stats = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let selected = stats
        .transport()
        .map(|t| t.selected_candidate_pair_id.clone())
        .unwrap_or_default();
    let rtt_ms = stats
        .candidate_pairs()
        .find(|p| p.stats.id == selected)
        .map(|p| p.current_round_trip_time * 1000.0)
        .filter(|ms| *ms > 0.0);
    StatsReport {
        ice,
        peer_connection,
        packets_received: Some(received),
        packets_lost: i64::try_from(lost).ok(),
        frames_decoded: None,
        video_on: false,
        rtt_ms,
        bitrate_kbps: None,
        route,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_counted_from_sequence_gaps_across_the_wrap() {
        let link = LinkState::default();
        for seq in [65_530u16, 65_531, 65_533, 65_535, 0, 1, 4] {
            link.on_rtp(7, seq);
        }
        // 65530..=65535 then 0..=4: 11 expected, 7 received.
        assert_eq!(link.counters(7), (7, 4));
        // A late duplicate-free reorder does not count as loss twice.
        link.on_rtp(7, 2);
        assert_eq!(link.counters(7), (8, 3));
        assert_eq!(link.counters(8), (0, 0));
    }
}
