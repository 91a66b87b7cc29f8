//! The values inside a live command: durations (`90s`, `1m30s`, `90`) and wall-clock times
//! (`20:15`, `20:15:30`) read in the event's zone. The rules are in [`super::command`]'s doc.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::command::{CommandError, DurationProblem};
use super::ticks::Ticks;

/// Milliseconds of a duration word, saturating (any absurd size is simply too long), or
/// `None` when it is not a duration.
fn millis(word: &str) -> Option<u64> {
    let w = word.to_ascii_lowercase();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Only digits fail to parse by overflowing: saturate.
    let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    if all_digits(&w) {
        return Some(number(&w).saturating_mul(1000));
    }
    if w.is_empty() {
        return None;
    }
    let (mut rest, mut total, mut last_rank) = (w.as_str(), 0u64, 0);
    while !rest.is_empty() {
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int, after) = rest.split_at(end);
        if int.is_empty() {
            return None;
        }
        let (frac, after) = match after.strip_prefix('.') {
            Some(r) => {
                let (frac, after) = r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len()));
                if frac.is_empty() || frac.len() > 3 {
                    return None;
                }
                (frac, after)
            }
            None => ("", after),
        };
        let unit_end = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let (rank, per) = match unit {
            "h" => (1, 3_600_000),
            "m" => (2, 60_000),
            "s" => (3, 1000),
            "ms" => (4, 1),
            _ => return None,
        };
        if rank <= last_rank || (!frac.is_empty() && unit != "s") {
            return None;
        }
        let frac_ms = format!("{frac:0<3}").parse::<u64>().unwrap_or(0);
        total = total.saturating_add(number(int).saturating_mul(per)).saturating_add(frac_ms);
        (rest, last_rank) = (after, rank);
    }
    Some(total)
}

/// A break's duration: more than zero, at most 33 bits of ticks.
pub fn parse_duration(word: &str) -> Result<Ticks, CommandError> {
    let bad = |problem| CommandError::BadDuration { given: word.to_string(), problem };
    match millis(word) {
        None => Err(bad(DurationProblem::NotADuration)),
        Some(0) => Err(bad(DurationProblem::Zero)),
        Some(ms) => Ticks::from_millis(ms).map_err(|_| bad(DurationProblem::TooLong)),
    }
}

/// `HH:MM` or `HH:MM:SS` (hours may have one digit).
pub fn parse_clock(word: &str) -> Result<NaiveTime, CommandError> {
    let bad = || CommandError::BadTime { given: word.to_string() };
    let parts: Vec<&str> = word.split(':').collect();
    let digits = |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed =
        (2..=3).contains(&parts.len()) && digits(parts[0], &[1, 2]) && parts[1..].iter().all(|p| digits(p, &[2]));
    if !well_formed {
        return Err(bad());
    }
    let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u32>().ok());
    match (n(0), n(1), n(2)) {
        (Some(h), Some(m), Some(s)) => NaiveTime::from_hms_opt(h, m, s).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// The instant a wall-clock `time` in `tz` names: its occurrence nearest to `now` (see the
/// module doc). `given` is the word, for the error.
pub fn resolve_clock(given: &str, time: NaiveTime, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, CommandError> {
    let today = now.with_timezone(&tz).date_naive();
    // Where a skipped time would have been, with the offset in force now: close enough to
    // tell whether the nearest day is the one that skips it.
    let offset = Duration::seconds(i64::from(tz.offset_from_utc_datetime(&now.naive_utc()).fix().local_minus_utc()));
    let mut candidates: Vec<(DateTime<Utc>, Option<NaiveDate>)> = Vec::new();
    for date in [today.pred_opt(), Some(today), today.succ_opt()].into_iter().flatten() {
        let naive = date.and_time(time);
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => candidates.push((t.with_timezone(&Utc), None)),
            LocalResult::Ambiguous(a, b) => {
                candidates.push((a.with_timezone(&Utc), None));
                candidates.push((b.with_timezone(&Utc), None));
            }
            LocalResult::None => candidates.push(((naive - offset).and_utc(), Some(date))),
        }
    }
    let nearest = candidates.into_iter().min_by_key(|(t, _)| ((*t - now).abs(), *t < now));
    match nearest {
        Some((t, None)) => Ok(t),
        Some((_, Some(date))) => Err(CommandError::SkippedTime { given: given.to_string(), date, tz }),
        None => Err(CommandError::BadTime { given: given.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn durations_take_units_largest_first_and_bare_seconds() {
        let ms = |w: &str| parse_duration(w).map(Ticks::as_millis);
        assert_eq!(ms("90s"), Ok(90_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("2m"), Ok(120_000));
        assert_eq!(ms("90"), Ok(90_000), "a bare number is seconds");
        assert_eq!(ms("1H"), Ok(3_600_000));
        assert_eq!(ms("1.5s"), Ok(1500));
        assert_eq!(ms("0.25s"), Ok(250));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1m0.001s"), Ok(60_001));
        assert_eq!(ms("26h30m43.717s"), Ok(Ticks::MAX_MILLIS));
        assert_eq!(parse_duration("90s").map(Ticks::get), Ok(8_100_000));
        for bad in ["90x", "s", "1.5m", "1.s", "1.2345s", "30s1m", "1m1m", "-5s", "1e3", "", "1 m", "90sec"] {
            let e = parse_duration(bad).expect_err(bad);
            assert_eq!(e, CommandError::BadDuration { given: bad.into(), problem: DurationProblem::NotADuration });
        }
        assert_eq!(
            parse_duration("90x").map_err(|e| e.to_string()),
            Err("`90x` is not a duration: say 90s, 1m30s, 2m or 90 (seconds)".into())
        );
        for zero in ["0", "0s", "0m0s", "0ms"] {
            let e = parse_duration(zero).expect_err(zero);
            assert_eq!(e, CommandError::BadDuration { given: zero.into(), problem: DurationProblem::Zero });
        }
        for long in ["26h30m43.718s", "95444", "27h", "99999999999999999999999s", "18446744073709551615h"] {
            let e = parse_duration(long).expect_err(long);
            assert_eq!(e, CommandError::BadDuration { given: long.into(), problem: DurationProblem::TooLong });
        }
        assert_eq!(
            parse_duration("27h").map_err(|e| e.to_string()),
            Err("`27h` is longer than SCTE-35 can carry: at most 26h30m43.717s".into())
        );
    }

    #[test]
    fn clock_times_are_hh_mm_with_optional_seconds() {
        assert_eq!(parse_clock("20:15"), Ok(NaiveTime::from_hms_opt(20, 15, 0).expect("t")));
        assert_eq!(parse_clock("8:05:09"), Ok(NaiveTime::from_hms_opt(8, 5, 9).expect("t")));
        for bad in ["24:00", "20:60", "20:15:60", "2015", "20:5", "20:15:", ":15", "20:15:00:00", "ab:cd", "+1:00"] {
            assert_eq!(parse_clock(bad), Err(CommandError::BadTime { given: bad.into() }), "{bad}");
        }
    }

    #[test]
    fn at_means_the_nearest_occurrence_within_12_hours() {
        let at = |time: &str, now: &str, tz| {
            let clock = parse_clock(time).expect("clock");
            resolve_clock(time, clock, t(now), tz)
        };
        // 20:00 in Paris: later today, or just past (the timing rules refuse that one).
        assert_eq!(at("20:00:05", "2026-12-18T19:00:00Z", Paris), Ok(t("2026-12-18T19:00:05Z")));
        assert_eq!(at("19:59:55", "2026-12-18T19:00:00Z", Paris), Ok(t("2026-12-18T18:59:55Z")));
        // 23:50: ten past midnight is tomorrow.
        assert_eq!(at("00:10", "2026-12-18T22:50:00Z", Paris), Ok(t("2026-12-18T23:10:00Z")));
        // 00:20: 23:50 is yesterday's, half an hour ago.
        assert_eq!(at("23:50", "2026-12-18T23:20:00Z", Paris), Ok(t("2026-12-18T22:50:00Z")));
        // Exactly 12 h either way: the future wins.
        assert_eq!(at("08:00", "2026-12-18T20:00:00Z", chrono_tz::UTC), Ok(t("2026-12-19T08:00:00Z")));
        assert_eq!(at("08:00:01", "2026-12-18T20:00:00Z", chrono_tz::UTC), Ok(t("2026-12-18T08:00:01Z")));
    }

    #[test]
    fn dst_gaps_are_refused_and_repeats_take_the_nearest() {
        let at = |time: &str, now: &str| resolve_clock(time, parse_clock(time).expect("clock"), t(now), Paris);
        // 2026-03-29: Paris jumps from 02:00 to 03:00.
        let e = at("02:30", "2026-03-29T00:45:00Z").expect_err("skipped");
        assert_eq!(e.to_string(), "02:30 does not exist on 2026-03-29 in Europe/Paris: the clocks skip it");
        assert_eq!(at("03:30", "2026-03-29T00:45:00Z"), Ok(t("2026-03-29T01:30:00Z")));
        // 2026-10-25: 02:00-03:00 happens twice (CEST, then CET).
        assert_eq!(at("02:30", "2026-10-25T00:10:00Z"), Ok(t("2026-10-25T00:30:00Z")), "the first is nearer");
        assert_eq!(at("02:30", "2026-10-25T01:20:00Z"), Ok(t("2026-10-25T01:30:00Z")), "the second is nearer");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_durations_never_panic_and_stay_in_bounds(word in "[0-9hms.]{0,24}") {
            if let Ok(t) = parse_duration(&word) {
                prop_assert!(t.get() > 0 && t <= Ticks::MAX);
            }
        }

        #[test]
        fn a_duration_round_trips_through_its_text(ms in 1..=Ticks::MAX_MILLIS) {
            let t = Ticks::from_millis(ms).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parse_duration(&t.to_string()), Ok(t));
        }
    }
}
