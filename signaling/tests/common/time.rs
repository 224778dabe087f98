//! Paused tokio time for the WebSocket tests.
//!
//! The test server reads its dates from a clock that follows tokio's time
//! (`signaling::clock::Clock::tokio`), so a test on paused time
//! (`#[tokio::test(start_paused = true)]`) decides exactly how much time
//! passes. Left to itself, paused time jumps to the next timer whenever
//! the runtime is idle, which it is while a frame crosses the loopback or
//! the store's writer thread makes events durable: timeouts (the client's,
//! the server's idle and hello timeouts) would fire in the middle of real
//! work. [`hold`] stops those jumps: time then moves only by
//! [`tokio::time::advance`], and a test waits for states over real IO
//! between its steps of time.

use std::sync::mpsc;
use std::time::Duration;

/// How long, in real time, a hold lasts at most: a test stuck waiting for
/// something that never comes is let go then, so that its timeouts fire
/// and it fails with their message instead of hanging.
const REAL_LIMIT: Duration = Duration::from_secs(60);

/// Time stands still (but for [`tokio::time::advance`]) while this lives.
#[must_use = "time moves again when the hold is dropped"]
pub struct Hold {
    _release: mpsc::Sender<()>,
}

/// Holds paused time still: tokio does not auto-advance while a blocking
/// task runs, so one waits here until the hold is dropped. Call it inside
/// a paused current-thread runtime.
pub fn hold() -> Hold {
    let (release, held) = mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        // Ends when the sender is dropped, or at the real-time limit.
        let _ = held.recv_timeout(REAL_LIMIT);
    });
    Hold { _release: release }
}

/// Moves held time on by `d`; the timers due by then fire.
pub async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

/// Lets the runtime run whatever is ready (tasks just woken, frames
/// already on the loopback) while time stands still: each yield lets the
/// scheduler poll the other tasks and the socket driver once.
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}
