//! Times as the compte rendu shows them: the legal time in France
//! (Europe/Paris), with its offset from UTC, so a reader in France reads
//! their own clock and anyone can get back to UTC.
//!
//! Europe/Paris has followed the EU rule since 1996: UTC+02:00 from the
//! last Sunday of March at 01:00 UTC to the last Sunday of October at
//! 01:00 UTC, UTC+01:00 otherwise. The rule is computed here, without a
//! time zone database: the output depends on the timestamp alone.

use std::time::Duration;

use session::Timestamp;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// The last Sunday of `month` in `year`, at 01:00 UTC.
fn last_sunday_0100_utc(year: i32, month: Month) -> Option<OffsetDateTime> {
    let days = month.length(year);
    let last = Date::from_calendar_date(year, month, days).ok()?;
    let back = i64::from(last.weekday().number_days_from_sunday());
    let sunday = last.checked_sub(time::Duration::days(back))?;
    Some(sunday.with_hms(1, 0, 0).ok()?.assume_utc())
}

/// The offset from UTC of Paris legal time at `utc`, in hours (1 or 2).
fn paris_offset_hours(utc: OffsetDateTime) -> i8 {
    let year = utc.year();
    match (
        last_sunday_0100_utc(year, Month::March),
        last_sunday_0100_utc(year, Month::October),
    ) {
        (Some(start), Some(end)) if utc >= start && utc < end => 2,
        _ => 1,
    }
}

/// A time in Paris: the local date and time and its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParisTime {
    pub local: OffsetDateTime,
    pub offset_hours: i8,
}

/// `at` in Paris legal time; `None` only for a timestamp out of range.
pub fn paris(at: Timestamp) -> Option<ParisTime> {
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_micros()) * 1000).ok()?;
    let offset_hours = paris_offset_hours(utc);
    let offset = UtcOffset::from_hms(offset_hours, 0, 0).ok()?;
    Some(ParisTime {
        local: utc.to_offset(offset),
        offset_hours,
    })
}

/// `at` as the compte rendu prints it: `04/12/2026 20:34:27 (UTC+01:00)`,
/// Paris legal time to the second with its offset. A timestamp out of
/// range prints as its RFC 3339 UTC form.
pub fn local_time(at: Timestamp) -> String {
    match paris(at) {
        Some(p) => {
            let t = p.local;
            format!(
                "{:02}/{:02}/{:04} {:02}:{:02}:{:02} (UTC+{:02}:00)",
                t.day(),
                u8::from(t.month()),
                t.year(),
                t.hour(),
                t.minute(),
                t.second(),
                p.offset_hours
            )
        }
        None => at.to_rfc3339(),
    }
}

/// A duration as the compte rendu prints it: `450 ms` under a second,
/// else `2 min 05 s`, `1 h 02 min 03 s` (whole seconds).
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min {s:02} s"),
        (h, m) => format!("{h} h {m:02} min {s:02} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .expect("a date");
        Timestamp::from_micros((t.unix_timestamp_nanos() / 1000) as i64)
    }

    #[test]
    fn winter_is_utc_plus_one_summer_plus_two() {
        assert_eq!(
            local_time(at("2026-12-04T19:34:27Z")),
            "04/12/2026 20:34:27 (UTC+01:00)"
        );
        assert_eq!(
            local_time(at("2026-07-14T10:00:00Z")),
            "14/07/2026 12:00:00 (UTC+02:00)"
        );
    }

    #[test]
    fn the_changes_fall_on_the_last_sundays_at_one_utc() {
        // 2026: 29 March and 25 October.
        assert_eq!(
            local_time(at("2026-03-29T00:59:59Z")),
            "29/03/2026 01:59:59 (UTC+01:00)"
        );
        assert_eq!(
            local_time(at("2026-03-29T01:00:00Z")),
            "29/03/2026 03:00:00 (UTC+02:00)"
        );
        assert_eq!(
            local_time(at("2026-10-25T00:59:59Z")),
            "25/10/2026 02:59:59 (UTC+02:00)"
        );
        assert_eq!(
            local_time(at("2026-10-25T01:00:00Z")),
            "25/10/2026 02:00:00 (UTC+01:00)"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(Duration::from_millis(450)), "450 ms");
        assert_eq!(duration(Duration::from_millis(7_400)), "7 s");
        assert_eq!(duration(Duration::from_secs(125)), "2 min 05 s");
        assert_eq!(duration(Duration::from_secs(3723)), "1 h 02 min 03 s");
    }
}
