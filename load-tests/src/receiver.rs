//! What a bot measures on the media it receives, sans IO: per stream loss,
//! jitter, one-way latency (from the send-time trailer) and bitrate; for
//! video, whole and incomplete frames and when the first whole frame came;
//! and a per-second timeline for charts.

use std::collections::HashMap;

use crate::metrics::{Samples, StreamStats};
use crate::packetize::{Av1Depacketizer, Depacketized, trailer};

/// RTP payload type of AV1 in the default codec table.
pub const AV1_PT: u8 = 41;
/// RTP payload type of Opus in the default codec table.
pub const OPUS_PT: u8 = 111;

/// One second of a run, for charts over time.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Packets received.
    pub received: u64,
    /// Packets found missing (sequence gaps) in this second.
    pub lost: u64,
    /// One-way latency samples, ms.
    pub latency_ms: Samples,
}

/// Seconds since the run started → what happened in them.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub buckets: Vec<Bucket>,
}

impl Timeline {
    fn bucket(&mut self, second: usize) -> &mut Bucket {
        if self.buckets.len() <= second {
            self.buckets.resize_with(second + 1, Bucket::default);
        }
        &mut self.buckets[second]
    }

    /// Adds another timeline's buckets to this one's.
    pub fn merge(&mut self, other: &Timeline) {
        for (i, b) in other.buckets.iter().enumerate() {
            let mine = self.bucket(i);
            mine.received += b.received;
            mine.lost += b.lost;
            mine.latency_ms.merge(&b.latency_ms);
        }
    }
}

/// One incoming stream (an SSRC).
#[derive(Debug)]
pub struct Stream {
    pub video: bool,
    pub stats: StreamStats,
    depacketizer: Av1Depacketizer,
    pub frames_complete: u64,
    pub frames_incomplete: u64,
    first_frame_ts: Option<u32>,
    last_frame_ts: Option<u32>,
    lost_so_far: u64,
}

impl Stream {
    fn new(video: bool) -> Self {
        Stream {
            video,
            stats: StreamStats::new(if video { 90_000 } else { 48_000 }),
            depacketizer: Av1Depacketizer::default(),
            frames_complete: 0,
            frames_incomplete: 0,
            first_frame_ts: None,
            last_frame_ts: None,
            lost_so_far: 0,
        }
    }

    /// Frames the sender sent between the first and last frame seen, from
    /// their timestamps (`ticks_per_frame` apart).
    pub fn frames_expected(&self, ticks_per_frame: u32) -> u64 {
        match (self.first_frame_ts, self.last_frame_ts) {
            (Some(a), Some(b)) => u64::from(b.wrapping_sub(a) / ticks_per_frame.max(1)) + 1,
            _ => 0,
        }
    }
}

/// Everything one participant received.
#[derive(Debug, Default)]
pub struct Receiver {
    pub streams: HashMap<u32, Stream>,
    /// Microseconds after the run's start when the first whole video frame
    /// arrived.
    pub first_frame_at_micros: Option<u64>,
    pub timeline: Timeline,
}

impl Receiver {
    /// One RTP packet: `since_start_micros` is its arrival relative to the
    /// run's start, `arrival_micros` on the wall clock (the trailer's
    /// clock).
    #[allow(clippy::too_many_arguments)]
    pub fn on_packet(
        &mut self,
        since_start_micros: u64,
        arrival_micros: u64,
        ssrc: u32,
        payload_type: u8,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) {
        let video = payload_type == AV1_PT;
        let stream = self
            .streams
            .entry(ssrc)
            .or_insert_with(|| Stream::new(video));
        let (media, sent) = match trailer::strip(payload) {
            Some((m, s)) => (m, Some(s)),
            None => (payload, None),
        };
        stream
            .stats
            .on_packet(seq, timestamp, arrival_micros, sent, payload.len());
        let bucket = self
            .timeline
            .bucket((since_start_micros / 1_000_000) as usize);
        bucket.received += 1;
        if let Some(s) = sent {
            bucket
                .latency_ms
                .record(arrival_micros.saturating_sub(s) as f64 / 1000.0);
        }
        let lost = stream.stats.seq.lost();
        bucket.lost += lost.saturating_sub(stream.lost_so_far);
        stream.lost_so_far = lost;
        if !stream.video {
            return;
        }
        for result in stream.depacketizer.push(seq, timestamp, marker, media) {
            match result {
                Depacketized::Pending => {}
                Depacketized::Frame(frame) => {
                    stream.frames_complete += 1;
                    stream.first_frame_ts.get_or_insert(frame.timestamp);
                    stream.last_frame_ts = Some(frame.timestamp);
                    self.first_frame_at_micros.get_or_insert(since_start_micros);
                }
                Depacketized::Incomplete { timestamp } => {
                    stream.frames_incomplete += 1;
                    stream.first_frame_ts.get_or_insert(timestamp);
                    stream.last_frame_ts = Some(timestamp);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::packetize_av1;

    #[test]
    fn frames_loss_and_latency_of_a_video_stream() {
        // Three frames of 3 packets each; the middle frame loses one.
        let mut tu = vec![0x32u8, 0x0f, 0xd0];
        tu.extend(std::iter::repeat_n(7u8, 0x0f + 0x50 * 128 - 1));
        let payloads = packetize_av1(&tu, 1100).unwrap();
        let mut r = Receiver::default();
        let mut seq = 0u16;
        for frame in 0..3u32 {
            for (i, p) in payloads.iter().enumerate() {
                let sent = 1_000_000 + u64::from(frame) * 33_333;
                seq = seq.wrapping_add(1);
                if frame == 1 && i == 1 {
                    continue;
                }
                let mut p = p.clone();
                trailer::append(&mut p, sent);
                r.on_packet(
                    u64::from(frame) * 33_333,
                    sent + 2_000,
                    9,
                    AV1_PT,
                    seq,
                    frame * 3000,
                    i + 1 == payloads.len(),
                    &p,
                );
            }
        }
        let s = &r.streams[&9];
        assert_eq!((s.frames_complete, s.frames_incomplete), (2, 1));
        assert_eq!(s.frames_expected(3000), 3);
        assert_eq!(s.stats.seq.lost(), 1);
        assert_eq!(s.stats.latency_ms.clone().summary().p99, 2.0);
        assert_eq!(r.first_frame_at_micros, Some(0));
        assert_eq!(r.timeline.buckets[0].lost, 1);
    }
}
