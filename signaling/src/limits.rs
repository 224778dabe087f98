//! Per-connection limits, without IO: a token bucket for message rate.

use std::time::{Duration, Instant};

/// Allows `burst` messages at once and `per_second` sustained.
#[derive(Debug)]
pub struct RateLimiter {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: u32, now: Instant) -> RateLimiter {
        RateLimiter {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            last: now,
        }
    }

    /// Whether one more message may pass at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How often the server pings each WebSocket.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
/// A connection silent this long (no message, no pong) is taken as lost:
/// a cut network sends no close, and TCP would notice only minutes later.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);

/// The signaling limits: ICE candidates come in bursts at the start.
pub const BURST: u32 = 100;
pub const PER_SECOND: u32 = 30;
/// Refused frames (malformed, oversized, rate-limited) before the server
/// closes the connection.
pub const MAX_VIOLATIONS: u32 = 20;
/// How long a new connection has to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(3, 2, t0);
        assert!(l.allow(t0) && l.allow(t0) && l.allow(t0));
        assert!(!l.allow(t0));
        assert!(l.allow(t0 + Duration::from_millis(500)));
        assert!(!l.allow(t0 + Duration::from_millis(500)));
        // Refill is capped at the burst.
        let later = t0 + Duration::from_secs(60);
        assert!(l.allow(later) && l.allow(later) && l.allow(later));
        assert!(!l.allow(later));
    }
}
