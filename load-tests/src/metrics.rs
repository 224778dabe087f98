//! Measures, sans IO: sample sets with percentiles, RTP loss and jitter
//! (RFC 3550), per-stream receive statistics, and `/proc` readings of a
//! process's CPU time and memory. Everything takes times as arguments.

use serde::Serialize;

/// A set of samples (milliseconds, or any unit) kept whole: percentiles
/// are exact (nearest rank). A bot run holds at most a few hundred
/// thousand samples, so exactness costs little.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f64>,
    sorted: bool,
}

/// Percentiles of a sample set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Samples {
    /// Adds one sample (NaN is ignored).
    pub fn record(&mut self, value: f64) {
        if !value.is_nan() {
            self.values.push(value);
            self.sorted = false;
        }
    }

    /// Adds all samples of `other`.
    pub fn merge(&mut self, other: &Samples) {
        self.values.extend_from_slice(&other.values);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.values.sort_by(f64::total_cmp);
            self.sorted = true;
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) by nearest rank: the smallest sample
    /// with at least `q` of the samples at or below it. `None` when empty.
    pub fn quantile(&mut self, q: f64) -> Option<f64> {
        if self.values.is_empty() {
            return None;
        }
        self.sort();
        let n = self.values.len();
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        Some(self.values[rank.clamp(1, n) - 1])
    }

    /// Count, mean, p50, p95, p99 and max (all zero when empty).
    pub fn summary(&mut self) -> Summary {
        if self.values.is_empty() {
            return Summary::default();
        }
        let mean = self.values.iter().sum::<f64>() / self.values.len() as f64;
        Summary {
            count: self.values.len(),
            mean,
            p50: self.quantile(0.50).unwrap_or(0.0),
            p95: self.quantile(0.95).unwrap_or(0.0),
            p99: self.quantile(0.99).unwrap_or(0.0),
            max: self.quantile(1.0).unwrap_or(0.0),
        }
    }
}

/// Sequence numbers seen on one stream: extended to 32 bits across
/// wraps, to count what was expected and what arrived (RFC 3550 A.3).
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    base: Option<u32>,
    max_ext: u32,
    received: u64,
}

impl SeqTracker {
    /// Takes a 16-bit sequence number as it arrived.
    pub fn on_packet(&mut self, seq: u16) {
        self.received += 1;
        let Some(_) = self.base else {
            self.base = Some(u32::from(seq));
            self.max_ext = u32::from(seq);
            return;
        };
        let max16 = self.max_ext as u16;
        let delta = seq.wrapping_sub(max16);
        if delta != 0 && delta < 0x8000 {
            // Ahead (possibly across a wrap).
            self.max_ext = self.max_ext.wrapping_add(u32::from(delta));
        }
    }

    /// Packets the sender sent from the first to the highest seen.
    pub fn expected(&self) -> u64 {
        match self.base {
            Some(base) => u64::from(self.max_ext.wrapping_sub(base)) + 1,
            None => 0,
        }
    }

    /// Packets that arrived (duplicates included).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets missing: expected minus received, never negative.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// The interarrival jitter estimator of RFC 3550 §6.4.1, in the stream's
/// timestamp units: J += (|D| − J) / 16, D the change in transit time.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    last_transit: Option<f64>,
    jitter: f64,
}

impl Jitter {
    /// `arrival` in the stream's timestamp units (arrival time × clock
    /// rate), `rtp_timestamp` as sent.
    pub fn on_packet(&mut self, arrival: f64, rtp_timestamp: u32) {
        let transit = arrival - f64::from(rtp_timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The current estimate, in timestamp units.
    pub fn value(&self) -> f64 {
        self.jitter
    }
}

/// What one receiver measured on one incoming RTP stream.
#[derive(Debug, Clone)]
pub struct StreamStats {
    clock_rate: u32,
    pub seq: SeqTracker,
    pub jitter: Jitter,
    /// One-way latency of each packet, ms, from the send-time trailer.
    pub latency_ms: Samples,
    pub bytes: u64,
    first_arrival_micros: Option<u64>,
    last_arrival_micros: u64,
    /// RTP timestamp of the first packet, to unwrap later ones.
    first_rtp: Option<u32>,
}

impl StreamStats {
    pub fn new(clock_rate: u32) -> Self {
        StreamStats {
            clock_rate,
            seq: SeqTracker::default(),
            jitter: Jitter::default(),
            latency_ms: Samples::default(),
            bytes: 0,
            first_arrival_micros: None,
            last_arrival_micros: 0,
            first_rtp: None,
        }
    }

    /// One packet: its sequence number and RTP timestamp, when it arrived
    /// and when it was sent (wall clock, µs), and its payload size.
    pub fn on_packet(
        &mut self,
        seq: u16,
        rtp_timestamp: u32,
        arrival_micros: u64,
        sent_micros: Option<u64>,
        bytes: usize,
    ) {
        self.seq.on_packet(seq);
        let first = *self.first_arrival_micros.get_or_insert(arrival_micros);
        let first_rtp = *self.first_rtp.get_or_insert(rtp_timestamp);
        self.last_arrival_micros = arrival_micros;
        // Arrival in timestamp units, relative to the first packet, on
        // the same origin as the timestamps relative to the first.
        let arrival =
            arrival_micros.saturating_sub(first) as f64 * f64::from(self.clock_rate) / 1e6;
        self.jitter
            .on_packet(arrival, rtp_timestamp.wrapping_sub(first_rtp));
        if let Some(sent) = sent_micros {
            self.latency_ms
                .record(arrival_micros.saturating_sub(sent) as f64 / 1000.0);
        }
        self.bytes += bytes as u64;
    }

    /// Jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter.value() * 1000.0 / f64::from(self.clock_rate)
    }

    /// Mean received bitrate between the first and last packet, bit/s.
    pub fn bitrate_bps(&self) -> f64 {
        let Some(first) = self.first_arrival_micros else {
            return 0.0;
        };
        let span = self.last_arrival_micros.saturating_sub(first);
        if span == 0 {
            return 0.0;
        }
        self.bytes as f64 * 8.0 * 1e6 / span as f64
    }
}

/// A process's CPU time and memory at one moment, from `/proc/PID`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcSample {
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// The anonymous part of it (heap, stacks; not the pages of the
    /// binary's code, which a process faults in as it first runs each
    /// path and which are shared and reclaimable), bytes: `RssAnon`, when
    /// the kernel reports it.
    pub anon_bytes: Option<u64>,
}

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`, 100 on Linux
/// for every architecture we run on).
pub const USER_HZ: f64 = 100.0;

impl ProcSample {
    /// Reads `/proc/PID/stat` and `/proc/PID/status`.
    pub fn read(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Self::parse(&stat, &status).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable /proc entry")
        })
    }

    /// Parses the two files' text.
    pub fn parse(stat: &str, status: &str) -> Option<Self> {
        // The command name is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the name: state is field 3 of the man page; utime is 14,
        // stime 15, so indexes 11 and 12 here.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let kib = |field: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some(ProcSample {
            cpu_seconds: (utime + stime) / USER_HZ,
            rss_bytes: kib("VmRSS:")? * 1024,
            anon_bytes: kib("RssAnon:").map(|k| k * 1024),
        })
    }

    /// CPU use between two samples, in cores (1.0 = one core busy).
    pub fn cpu_between(earlier: &ProcSample, later: &ProcSample, seconds: f64) -> f64 {
        if seconds <= 0.0 {
            return 0.0;
        }
        (later.cpu_seconds - earlier.cpu_seconds).max(0.0) / seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s = Samples::default();
        for v in 1..=100 {
            s.record(f64::from(v));
        }
        let sum = s.summary();
        assert_eq!(
            (sum.p50, sum.p95, sum.p99, sum.max),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(sum.count, 100);
        assert!((sum.mean - 50.5).abs() < 1e-9);
        // Order of insertion does not matter; a merge adds samples.
        let mut t = Samples::default();
        for v in (1..=1000).rev() {
            t.record(f64::from(v));
        }
        assert_eq!(t.quantile(0.99), Some(990.0));
        t.merge(&s);
        assert_eq!(t.len(), 1100);
        assert_eq!(Samples::default().quantile(0.5), None);
        let mut one = Samples::default();
        one.record(7.0);
        one.record(f64::NAN);
        assert_eq!(one.summary().p99, 7.0);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn loss_counts_across_a_sequence_wrap_and_reordering() {
        let mut t = SeqTracker::default();
        // 65530..=65535, 0..=9 with 3 and 65533 missing, 5 late.
        let mut seqs: Vec<u16> = (65_530..=65_535).chain(0..=9).collect();
        seqs.retain(|&s| s != 3 && s != 65_533 && s != 5);
        seqs.push(5);
        for s in seqs {
            t.on_packet(s);
        }
        assert_eq!(t.expected(), 16);
        assert_eq!(t.received(), 14);
        assert_eq!(t.lost(), 2);
    }

    #[test]
    fn jitter_is_zero_for_a_steady_stream_and_follows_rfc3550() {
        let mut j = Jitter::default();
        for i in 0..100u32 {
            j.on_packet(f64::from(i * 960 + 500), i * 960);
        }
        assert_eq!(j.value(), 0.0);
        // Alternating ±160 units of transit change: D = 320 each time;
        // J converges to 320.
        let mut j = Jitter::default();
        for i in 0..400u32 {
            let wobble = if i % 2 == 0 { 0.0 } else { 320.0 };
            j.on_packet(f64::from(i * 960) + wobble, i * 960);
        }
        assert!((j.value() - 320.0).abs() < 1.0, "{}", j.value());
    }

    #[test]
    fn stream_stats_latency_bitrate_and_jitter() {
        let mut s = StreamStats::new(48_000);
        for i in 0..51u64 {
            let sent = 1_000_000 + i * 20_000;
            // Constant 5 ms one-way delay: no jitter.
            s.on_packet(i as u16, (i * 960) as u32, sent + 5_000, Some(sent), 100);
        }
        let lat = s.latency_ms.summary();
        assert_eq!((lat.p50, lat.p99), (5.0, 5.0));
        assert_eq!(s.jitter_ms(), 0.0);
        // 51 packets of 100 B over 1 s.
        assert!(
            (s.bitrate_bps() - 40_800.0).abs() < 1.0,
            "{}",
            s.bitrate_bps()
        );
        assert_eq!(s.seq.lost(), 0);
    }

    #[test]
    fn proc_stat_and_status_parse() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 100 1000000 2000 18446744073709551615";
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nRssAnon:\t    1500 kB\nRssFile:\t     548 kB\nThreads:\t3\n";
        let s = ProcSample::parse(stat, status).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.rss_bytes, 2048 * 1024);
        assert_eq!(s.anon_bytes, Some(1500 * 1024));
        let old_kernel = "Name:\tx\nVmRSS:\t    2048 kB\n";
        assert_eq!(
            ProcSample::parse(stat, old_kernel).unwrap().anon_bytes,
            None
        );
        let later = ProcSample {
            cpu_seconds: 4.0,
            rss_bytes: 0,
            anon_bytes: None,
        };
        assert_eq!(ProcSample::cpu_between(&s, &later, 2.0), 0.5);
        assert_eq!(ProcSample::parse("garbage", status), None);
        // Our own process is readable.
        let me = ProcSample::read(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0);
        assert!(me.anon_bytes.is_some_and(|a| a > 0 && a <= me.rss_bytes));
    }
}
