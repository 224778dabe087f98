//! A warning said at most once a minute: floods (junk datagrams, refused
//! connections, streams cut for bad frames) cost a counter, not a log line
//! each.

use std::time::Duration;

/// A warning said at most once a minute, with how many times it happened
/// since: a flood of junk or refused connections costs a counter, not a
/// log line each.
pub(crate) struct RateLimitedLog {
    what: &'static str,
    pending: u64,
    last: Option<std::time::Instant>,
}

/// How often a [`RateLimitedLog`] speaks at most.
const LOG_SUMMARY_EVERY: Duration = Duration::from_secs(60);

impl RateLimitedLog {
    pub(crate) fn new(what: &'static str) -> Self {
        RateLimitedLog {
            what,
            pending: 0,
            last: None,
        }
    }

    /// Counts one occurrence; logs the summary if a minute has passed
    /// since the last one.
    pub(crate) fn count(&mut self) {
        self.pending += 1;
        let now = std::time::Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= LOG_SUMMARY_EVERY)
        {
            tracing::warn!(
                count = self.pending,
                "{} (summary, at most one a minute)",
                self.what
            );
            self.pending = 0;
            self.last = Some(now);
        }
    }
}
