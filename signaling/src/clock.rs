//! Where the server reads the time: the edges (WebSocket driver, room
//! driver, HTTP handlers) take it from [`crate::AppState::clock`] instead
//! of the wall clock, so that tests can run the server on paused tokio
//! time. A leaf module: it names nothing else of the crate.

use session::Timestamp;
use tokio::time::Instant;

/// The server's clock: dates for the trace and links ([`Clock::now`]), and
/// the tokio instant a date falls at, for timers ([`Clock::instant_at`]).
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The wall clock, as production runs.
    #[default]
    System,
    /// Dates that follow tokio's clock from `origin` (the wall clock's
    /// date when it was made), so that pausing and advancing tokio's time
    /// in a test moves the server's dates by exactly as much.
    Tokio { origin: Timestamp, start: Instant },
}

impl Clock {
    /// A clock following tokio's time from now; make it inside the
    /// runtime (paused or not) whose time it follows.
    pub fn tokio() -> Clock {
        Clock::Tokio {
            origin: Timestamp::now(),
            start: Instant::now(),
        }
    }

    /// The date now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Tokio { origin, start } => origin.plus(start.elapsed()),
        }
    }

    /// The tokio instant at which [`Clock::now`] reaches `at` (now, if it
    /// is past): what a driver sleeps until.
    pub fn instant_at(&self, at: Timestamp) -> Instant {
        Instant::now() + at.since(self.now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let clock = Clock::tokio();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now().since(t0), Duration::from_millis(1500));
        let at = t0.plus(Duration::from_secs(2));
        assert_eq!(
            clock.instant_at(at) - Instant::now(),
            Duration::from_millis(500)
        );
        // A date already past is due now.
        assert_eq!(clock.instant_at(t0), Instant::now());
    }
}
