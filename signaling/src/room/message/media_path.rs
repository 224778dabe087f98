//! `media_path`: the route, candidate types and codecs a participant's
//! media took, recorded (clipped) in the trace.

use session::Timestamp;
use session::act::{Command, MediaPath, MediaRoute};

use super::{From, Handled};
use crate::room::{Room, Step};

/// Most candidate types or codecs recorded for one media path.
const MAX_MEDIA_ITEMS: usize = 8;

impl Room {
    pub(super) fn media_path(
        &mut self,
        from: From,
        route: MediaRoute,
        candidate_types: Vec<String>,
        codecs: Vec<String>,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        let clip = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .take(MAX_MEDIA_ITEMS)
                .map(|s| {
                    s.chars()
                        .filter(|c| c.is_ascii_graphic())
                        .take(32)
                        .collect()
                })
                .collect()
        };
        self.apply(
            Command::RecordMedia(MediaPath {
                participant: from.p,
                route,
                candidate_types: clip(candidate_types),
                codecs: clip(codecs),
            }),
            now,
            step,
        );
        Handled::Quiet
    }
}
