//! What operators watch, in Prometheus' text format at `/metrics`.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The server's gauges and counters. Cheap to clone; all share one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub connected_participants: IntGauge,
    pub active_acts: IntGauge,
    pub signaling_errors: IntCounter,
    pub trace_appends: IntCounter,
    /// Checkpoint submissions per witness URL and outcome (`ok`,
    /// `conflict`, `refused`, `failed`).
    pub witness_submissions: IntCounterVec,
    /// The size of the newest cosigned checkpoint.
    pub witnessed_size: IntGauge,
    /// Rollbacks or forks seen through a witness while running.
    pub witness_rollbacks: IntCounter,
    /// Acts whose lease this node holds (rooms owning their act on Redis).
    pub lease_held: IntGauge,
    /// Leases lost without a release (Redis unreachable past the deadline,
    /// or taken over).
    pub lease_lost: IntCounter,
    /// Claims that did not end held: the act is elsewhere, or Redis did
    /// not answer.
    pub lease_claim_failures: IntCounter,
    /// 1 while Redis answers this node's requests, 0 when not; absent
    /// meaning (stays 0) without `--redis`.
    pub redis_up: IntGauge,
    /// Participant connections this node forwards to their act's owner now.
    pub forwarded_connections: IntGauge,
    /// Forwarded connections refused or broken: the owner could not be
    /// reached, refused the link, or the link broke without a close.
    pub forward_failures: IntCounter,
    relay_allocations: IntGauge,
    relay_bytes: IntCounter,
    relay_packets: IntCounter,
    relay_dropped: IntCounter,
    relay_junk: IntCounter,
    relay_streams_refused: IntCounter,
    relay_streams_idle_closed: IntCounter,
    relay_allocations_swept: IntCounter,
    relay_fastpath: IntCounter,
    relay_fastpath_misses: IntCounter,
    relay_fastpath_hairpins: IntCounter,
    relay_fastpath_handovers: IntCounter,
    relay_fastpath_dropped: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let connected_participants = gauge(
            "teleconsult_connected_participants",
            "Participants with an open signaling connection.",
        );
        let active_acts = gauge(
            "teleconsult_active_acts",
            "Acts with a live room in this process.",
        );
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let signaling_errors = counter(
            "teleconsult_signaling_errors_total",
            "Signaling frames refused: malformed, oversized, rate-limited or forbidden.",
        );
        let trace_appends = counter(
            "teleconsult_trace_appends_total",
            "Durable appends to the act trace.",
        );
        let relay_allocations = gauge(
            "teleconsult_relay_allocations",
            "Live TURN allocations on the relay.",
        );
        let relay_bytes = counter(
            "teleconsult_relay_bytes_total",
            "Bytes the relay forwarded, both directions.",
        );
        let relay_dropped = counter(
            "teleconsult_relay_dropped_total",
            "Packets the relay dropped: to or from a refused peer, over an allocation's bitrate, or on a full stream.",
        );
        let relay_packets = counter(
            "teleconsult_relay_packets_total",
            "Packets the relay forwarded, both directions.",
        );
        let relay_junk = counter(
            "teleconsult_relay_junk_total",
            "Datagrams and streams the relay dropped for not speaking TURN (counted, not logged one by one).",
        );
        let relay_streams_refused = counter(
            "teleconsult_relay_streams_refused_total",
            "TURN TCP/TLS connections refused because their address held too many.",
        );
        let relay_streams_idle_closed = counter(
            "teleconsult_relay_streams_idle_closed_total",
            "TURN TCP/TLS connections closed after staying silent too long.",
        );
        let relay_allocations_swept = counter(
            "teleconsult_relay_allocations_swept_total",
            "Allocations deleted because their credential expired or was revoked.",
        );
        let relay_fastpath = counter(
            "teleconsult_relay_fastpath_datagrams_total",
            "Datagrams the relay's UDP data path relayed itself (ChannelData, Send and Data indications on a known route).",
        );
        let relay_fastpath_misses = counter(
            "teleconsult_relay_fastpath_misses_total",
            "Datagrams the UDP data path handed to the TURN server (requests, data on a route it did not know).",
        );
        let relay_fastpath_hairpins = counter(
            "teleconsult_relay_fastpath_hairpins_total",
            "Datagrams from a client to another allocation's relayed address on this relay, handed over without the kernel (within a UDP shard or to another's) (then checked and routed as the receiving allocation's).",
        );
        let relay_fastpath_handovers = counter(
            "teleconsult_relay_fastpath_handovers_total",
            "Hairpins from one UDP shard to another (the two clients on different shards).",
        );
        let relay_fastpath_dropped = counter(
            "teleconsult_relay_fastpath_dropped_total",
            "Datagrams the UDP data path dropped: refused by the kernel (full buffer) or the TURN server too far behind.",
        );
        let witness_submissions = IntCounterVec::new(
            Opts::new(
                "teleconsult_witness_submissions_total",
                "Checkpoint submissions to witnesses, by witness URL and outcome (ok, conflict, refused, failed).",
            ),
            &["witness", "outcome"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(witness_submissions.clone()))
            .expect("unique metric");
        let witnessed_size = gauge(
            "teleconsult_witnessed_size",
            "Leaves in the newest checkpoint a witness cosigned.",
        );
        let witness_rollbacks = counter(
            "teleconsult_witness_rollbacks_total",
            "Rollbacks or forks of the store seen through a witness while running.",
        );
        let lease_held = gauge(
            "teleconsult_lease_held",
            "Acts whose ownership lease on Redis this node holds.",
        );
        let lease_lost = counter(
            "teleconsult_lease_lost_total",
            "Act leases lost without a release (Redis unreachable past their deadline, or taken).",
        );
        let lease_claim_failures = counter(
            "teleconsult_lease_claim_failures_total",
            "Act lease claims that did not end held (act owned elsewhere, or Redis not answering).",
        );
        let redis_up = gauge(
            "teleconsult_lease_redis_answering",
            "1 while Redis (act ownership) answers this node, else 0.",
        );
        let forwarded_connections = gauge(
            "teleconsult_forwarded_connections",
            "Participant connections this node forwards to their act's owner node now.",
        );
        let forward_failures = counter(
            "teleconsult_forward_failures_total",
            "Forwarded connections whose owner could not be reached, refused the link, or broke it.",
        );
        Metrics {
            registry,
            forwarded_connections,
            forward_failures,
            lease_held,
            lease_lost,
            lease_claim_failures,
            redis_up,
            witness_submissions,
            witnessed_size,
            witness_rollbacks,
            connected_participants,
            active_acts,
            signaling_errors,
            trace_appends,
            relay_allocations,
            relay_bytes,
            relay_packets,
            relay_dropped,
            relay_junk,
            relay_streams_refused,
            relay_streams_idle_closed,
            relay_allocations_swept,
            relay_fastpath,
            relay_fastpath_misses,
            relay_fastpath_hairpins,
            relay_fastpath_handovers,
            relay_fastpath_dropped,
        }
    }

    /// Brings the relay's figures in before rendering.
    pub fn observe_relay(&self, relay: &media::StatsSnapshot) {
        self.relay_allocations
            .set(i64::try_from(relay.allocations_active).unwrap_or(i64::MAX));
        let bytes = relay.relayed_bytes_to_peers + relay.relayed_bytes_from_peers;
        let packets = relay.relayed_packets_to_peers + relay.relayed_packets_from_peers;
        // The relay's counters only grow; add what is new since last time.
        self.relay_bytes
            .inc_by(bytes.saturating_sub(self.relay_bytes.get()));
        self.relay_packets
            .inc_by(packets.saturating_sub(self.relay_packets.get()));
        let dropped =
            relay.peer_packets_denied + relay.packets_over_bitrate + relay.stream_send_dropped;
        self.relay_dropped
            .inc_by(dropped.saturating_sub(self.relay_dropped.get()));
        for (metric, value) in [
            (
                &self.relay_junk,
                relay.junk_datagrams + relay.stream_frame_errors,
            ),
            (
                &self.relay_streams_refused,
                relay.stream_connections_refused_per_address,
            ),
            (&self.relay_streams_idle_closed, relay.stream_idle_closed),
            (&self.relay_allocations_swept, relay.allocations_swept),
            (&self.relay_fastpath, relay.fastpath_datagrams),
            (&self.relay_fastpath_misses, relay.fastpath_misses),
            (&self.relay_fastpath_hairpins, relay.fastpath_hairpins),
            (&self.relay_fastpath_handovers, relay.fastpath_handovers),
            (&self.relay_fastpath_dropped, relay.fastpath_dropped),
        ] {
            metric.inc_by(value.saturating_sub(metric.get()));
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_junk_refusals_and_sweeps_are_exported() {
        let m = Metrics::new();
        let mut s = media::StatsSnapshot {
            junk_datagrams: 1000,
            stream_frame_errors: 50,
            stream_connections_refused_per_address: 20,
            stream_idle_closed: 3,
            allocations_swept: 2,
            fastpath_datagrams: 900,
            fastpath_misses: 40,
            fastpath_hairpins: 300,
            fastpath_handovers: 120,
            fastpath_dropped: 1,
            ..Default::default()
        };
        m.observe_relay(&s);
        s.junk_datagrams += 5;
        m.observe_relay(&s);
        let text = m.render();
        for line in [
            "teleconsult_relay_junk_total 1055",
            "teleconsult_relay_streams_refused_total 20",
            "teleconsult_relay_streams_idle_closed_total 3",
            "teleconsult_relay_allocations_swept_total 2",
            "teleconsult_relay_fastpath_datagrams_total 900",
            "teleconsult_relay_fastpath_misses_total 40",
            "teleconsult_relay_fastpath_hairpins_total 300",
            "teleconsult_relay_fastpath_handovers_total 120",
            "teleconsult_relay_fastpath_dropped_total 1",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
