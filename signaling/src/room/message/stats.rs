//! `stats`: what a participant's client measures of its media, judged by
//! the incident detector; its route decides whether the relay is watched.

use session::Timestamp;

use super::{From, Handled};
use crate::protocol::StatsReport;
use crate::room::{Room, Step};

impl Room {
    pub(super) fn stats(
        &mut self,
        from: From,
        report: &StatsReport,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        // A report racing with the end of media is moot, not wrong.
        if self.media_allowed(from.p) {
            let sample = report.to_sample();
            let events = self.detector.observe(from.p, &sample, now);
            self.record_incidents(events, now, step);
            self.follow_route(from.p, sample.route, now, step);
        }
        Handled::Quiet
    }
}
