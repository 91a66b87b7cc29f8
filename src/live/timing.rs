//! When a schedule action starts: now (MediaLive's immediate mode) or at a fixed UTC time,
//! which MediaLive takes only 15 s to 14 days ahead. [`check_fixed`] says why a time is refused
//! before any AWS call, in words an operator reads.
//!
//! The bounds are MediaLive's, inclusive, to the millisecond. The call comes a moment after
//! the check, so the edges should check again with the time of the call (or leave a margin):
//! a time exactly 15 s ahead here is 14.9 s ahead at MediaLive.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// MediaLive refuses fixed times nearer than this.
pub const MIN_LEAD: Duration = Duration::seconds(15);
/// MediaLive refuses fixed times further than this.
pub const MAX_LEAD: Duration = Duration::days(14);

/// `ScheduleActionStartSettings`, the two modes ottd uses (not follow mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// `ImmediateModeScheduleActionStartSettings`.
    Immediate,
    /// `FixedModeScheduleActionStartSettings`, at this instant.
    Fixed(DateTime<Utc>),
}

/// Why MediaLive would refuse a fixed start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingError {
    Past { at: DateTime<Utc>, now: DateTime<Utc> },
    TooSoon { at: DateTime<Utc>, now: DateTime<Utc> },
    TooFar { at: DateTime<Utc>, now: DateTime<Utc> },
}

/// In UTC; [`TimingError::in_zone`] for the event's zone.
impl fmt::Display for TimingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(self, &Utc))
    }
}

impl std::error::Error for TimingError {}

impl TimingError {
    /// The message with the times in the event's zone (`20:00:05 CET`), for chat.
    pub fn in_zone(&self, tz: Tz) -> String {
        describe(self, &tz)
    }
}

fn describe<Z: TimeZone>(e: &TimingError, tz: &Z) -> String
where
    Z::Offset: fmt::Display,
{
    let lead = "MediaLive needs 15 s to 14 days ahead";
    match *e {
        TimingError::Past { at, now } => format!("{lead}: {} was {} ago", local(at, now, tz), span(now - at)),
        TimingError::TooSoon { at, now } | TimingError::TooFar { at, now } => {
            format!("{lead}: {} is {} from now", local(at, now, tz), span(at - now))
        }
    }
}

/// `20:00:05 CET` on the same local day as `now`, with the date otherwise.
pub fn local<Z: TimeZone>(at: DateTime<Utc>, now: DateTime<Utc>, tz: &Z) -> String
where
    Z::Offset: fmt::Display,
{
    let (at, now) = (at.with_timezone(tz), now.with_timezone(tz));
    match at.date_naive() == now.date_naive() {
        true => at.format("%H:%M:%S %Z").to_string(),
        false => at.format("%Y-%m-%d %H:%M:%S %Z").to_string(),
    }
}

/// `4 s`, `1 min 30 s`, `14 d 1 s`: a distance in time, to the second (rounded down).
pub fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let parts = [(s / 86_400, "d"), (s / 3600 % 24, "h"), (s / 60 % 60, "min"), (s % 60, "s")];
    let text: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, u)| format!("{n} {u}")).collect();
    match text.is_empty() {
        true if d > Duration::zero() => "less than 1 s".to_string(),
        true => "0 s".to_string(),
        false => text.join(" "),
    }
}

/// Whether MediaLive takes `at` as a fixed start time when asked at `now`: 15 s to 14 days
/// ahead, both bounds included.
pub fn check_fixed(now: DateTime<Utc>, at: DateTime<Utc>) -> Result<(), TimingError> {
    let ahead = at - now;
    if ahead < Duration::zero() {
        Err(TimingError::Past { at, now })
    } else if ahead < MIN_LEAD {
        Err(TimingError::TooSoon { at, now })
    } else if ahead > MAX_LEAD {
        Err(TimingError::TooFar { at, now })
    } else {
        Ok(())
    }
}

/// [`check_fixed`] for a fixed start; an immediate one always passes.
pub fn check_start(now: DateTime<Utc>, start: Start) -> Result<(), TimingError> {
    match start {
        Start::Immediate => Ok(()),
        Start::Fixed(at) => check_fixed(now, at),
    }
}

/// `FixedModeScheduleActionStartSettings.Time`: `yyyy-mm-ddThh:mm:ss.nnnZ`.
pub fn fixed_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `Time` as DescribeSchedule gives it back (any RFC 3339 form).
pub fn parse_fixed_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn fixed_times_are_taken_from_15_s_to_14_days_ahead_both_included() {
        let now = t("2026-12-18T20:00:00Z");
        let ms = Duration::milliseconds(1);
        assert_eq!(check_fixed(now, now + MIN_LEAD), Ok(()));
        assert_eq!(check_fixed(now, now + MAX_LEAD), Ok(()));
        let soon = now + MIN_LEAD - ms;
        assert_eq!(check_fixed(now, soon), Err(TimingError::TooSoon { at: soon, now }));
        let far = now + MAX_LEAD + ms;
        assert_eq!(check_fixed(now, far), Err(TimingError::TooFar { at: far, now }));
        assert_eq!(check_fixed(now, now), Err(TimingError::TooSoon { at: now, now }));
        let past = now - ms;
        assert_eq!(check_fixed(now, past), Err(TimingError::Past { at: past, now }));
        assert_eq!(check_start(now, Start::Immediate), Ok(()));
        assert_eq!(check_start(now, Start::Fixed(soon)), Err(TimingError::TooSoon { at: soon, now }));
    }

    #[test]
    fn the_reason_says_how_far_the_time_is() {
        let now = t("2026-12-18T19:00:01Z");
        let e = check_fixed(now, t("2026-12-18T19:00:05Z")).expect_err("too soon");
        assert_eq!(e.to_string(), "MediaLive needs 15 s to 14 days ahead: 19:00:05 UTC is 4 s from now");
        assert_eq!(
            e.in_zone(chrono_tz::Europe::Paris),
            "MediaLive needs 15 s to 14 days ahead: 20:00:05 CET is 4 s from now"
        );
        let e = check_fixed(now, t("2026-12-18T18:58:31Z")).expect_err("past");
        assert_eq!(e.to_string(), "MediaLive needs 15 s to 14 days ahead: 18:58:31 UTC was 1 min 30 s ago");
        let e = check_fixed(now, t("2027-01-01T19:00:02Z")).expect_err("far");
        assert_eq!(
            e.to_string(),
            "MediaLive needs 15 s to 14 days ahead: 2027-01-01 19:00:02 UTC is 14 d 1 s from now"
        );
    }

    #[test]
    fn spans_round_down_to_the_second() {
        assert_eq!(span(Duration::milliseconds(14_999)), "14 s");
        assert_eq!(span(Duration::milliseconds(999)), "less than 1 s");
        assert_eq!(span(Duration::zero()), "0 s");
        assert_eq!(span(Duration::seconds(3 * 3600 + 5)), "3 h 5 s");
    }

    #[test]
    fn fixed_times_are_written_as_medialive_takes_them_and_read_back() {
        let at = t("2026-12-18T20:00:05+01:00");
        assert_eq!(fixed_time(at), "2026-12-18T19:00:05.000Z");
        assert_eq!(parse_fixed_time(&fixed_time(at)), Some(at));
        assert_eq!(parse_fixed_time("2026-12-18T19:00:05Z"), Some(at));
        assert_eq!(parse_fixed_time("tomorrow"), None);
    }
}
