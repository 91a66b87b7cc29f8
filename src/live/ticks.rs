//! SCTE-35 durations: 90 kHz ticks in 33 bits, as MediaLive's splice insert `Duration` takes
//! them (0..=8_589_934_591). Built from whole milliseconds with integer arithmetic only
//! (1 ms = 90 ticks exactly), so `90s` is 8_100_000 ticks and never 8_099_999.

use std::fmt;

/// Ticks per millisecond of the 90 kHz clock.
const PER_MS: u64 = 90;

/// A duration in 90 kHz ticks, within the 33 bits SCTE-35 gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Ticks(u64);

impl TryFrom<u64> for Ticks {
    type Error = TicksError;

    fn try_from(raw: u64) -> Result<Ticks, TicksError> {
        match raw <= Ticks::MAX.0 {
            true => Ok(Ticks(raw)),
            false => Err(TicksError::TooLong(u128::from(raw))),
        }
    }
}

impl From<Ticks> for u64 {
    fn from(t: Ticks) -> u64 {
        t.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicksError {
    /// More than 33 bits of ticks (about 26 h 30 min).
    #[error("{0} ticks is more than SCTE-35's 33 bits hold (at most {max})", max = Ticks::MAX.0)]
    TooLong(u128),
    #[error("{0} ticks is negative")]
    Negative(i64),
}

impl Ticks {
    /// 2^33 - 1: the largest duration a splice insert carries.
    pub const MAX: Ticks = Ticks((1 << 33) - 1);
    /// The longest whole-millisecond duration that fits: 26h30m43.717s.
    pub const MAX_MILLIS: u64 = Ticks::MAX.0 / PER_MS;

    /// Exactly `ms` × 90 ticks, or an error past [`Ticks::MAX`].
    pub fn from_millis(ms: u64) -> Result<Ticks, TicksError> {
        let ticks = u128::from(ms) * u128::from(PER_MS);
        match u64::try_from(ticks) {
            Ok(t) if t <= Ticks::MAX.0 => Ok(Ticks(t)),
            _ => Err(TicksError::TooLong(ticks)),
        }
    }

    pub fn from_secs(secs: u64) -> Result<Ticks, TicksError> {
        Ticks::from_millis(secs.saturating_mul(1000)).map_err(|_| TicksError::TooLong(u128::from(secs) * 90_000))
    }

    /// A raw count as MediaLive reports it (DescribeSchedule's `Duration`, an `i64`).
    pub fn from_raw(raw: i64) -> Result<Ticks, TicksError> {
        match u64::try_from(raw) {
            Err(_) => Err(TicksError::Negative(raw)),
            Ok(t) if t > Ticks::MAX.0 => Err(TicksError::TooLong(u128::from(t))),
            Ok(t) => Ok(Ticks(t)),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// As MediaLive's API field takes it. Lossless: 33 bits fit an `i64`.
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Whole milliseconds, rounded down (exact for ticks made by [`Ticks::from_millis`]).
    pub fn as_millis(self) -> u64 {
        self.0 / PER_MS
    }
}

/// `1m30s`, `1.5s`, `26h30m43.717s`: the duration grammar's own form (see
/// [`super::command::parse_duration`]), to the millisecond.
impl fmt::Display for Ticks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_millis(self.as_millis(), f)
    }
}

pub(crate) fn format_millis(ms: u64, f: &mut impl fmt::Write) -> fmt::Result {
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        write!(f, "{h}h")?;
    }
    if m > 0 {
        write!(f, "{m}m")?;
    }
    if milli > 0 {
        let frac = format!("{milli:03}");
        write!(f, "{s}.{}s", frac.trim_end_matches('0'))
    } else if s > 0 || ms == 0 {
        write!(f, "{s}s")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ninety_seconds_is_eight_million_one_hundred_thousand_ticks() {
        assert_eq!(Ticks::from_secs(90).map(Ticks::get), Ok(8_100_000));
        assert_eq!(Ticks::from_millis(90_000).map(|t| t.to_string()), Ok("1m30s".to_string()));
    }

    #[test]
    fn the_bounds_are_33_bits() {
        assert_eq!(Ticks::MAX.get(), 8_589_934_591);
        assert_eq!(Ticks::MAX_MILLIS, 95_443_717);
        assert_eq!(Ticks::from_millis(Ticks::MAX_MILLIS).map(Ticks::get), Ok(8_589_934_530));
        assert_eq!(Ticks::from_millis(Ticks::MAX_MILLIS + 1), Err(TicksError::TooLong(8_589_934_620)));
        assert_eq!(Ticks::from_millis(0).map(Ticks::get), Ok(0));
        assert!(Ticks::from_millis(u64::MAX).is_err(), "no overflow");
        assert!(Ticks::from_secs(u64::MAX).is_err(), "no overflow");
        assert_eq!(Ticks::from_secs(95_443).map(|t| t.to_string()), Ok("26h30m43s".into()));
        assert!(Ticks::from_secs(95_444).is_err());
        assert_eq!(Ticks::from_raw(8_589_934_591), Ok(Ticks::MAX));
        assert!(Ticks::from_raw(8_589_934_592).is_err());
        assert_eq!(Ticks::from_raw(-1), Err(TicksError::Negative(-1)));
        assert_eq!(Ticks::MAX.as_i64(), 8_589_934_591);
    }

    #[test]
    fn display_is_compact_and_to_the_millisecond() {
        let show = |ms| Ticks::from_millis(ms).map(|t| t.to_string()).unwrap_or_default();
        assert_eq!(show(0), "0s");
        assert_eq!(show(1), "0.001s");
        assert_eq!(show(1500), "1.5s");
        assert_eq!(show(120_000), "2m");
        assert_eq!(show(3_600_000), "1h");
        assert_eq!(show(3_600_250), "1h0.25s");
        assert_eq!(show(Ticks::MAX_MILLIS), "26h30m43.717s");
        // Ticks MediaLive reports that are no whole millisecond show rounded down.
        assert_eq!(Ticks::from_raw(8_100_089).map(|t| t.to_string()), Ok("1m30s".into()));
    }

    proptest! {
        #[test]
        fn millis_round_trip_exactly(ms in 0..=Ticks::MAX_MILLIS) {
            let t = Ticks::from_millis(ms);
            prop_assert!(t.is_ok());
            let t = t.unwrap_or(Ticks::MAX);
            prop_assert_eq!(t.get(), ms * 90);
            prop_assert!(t <= Ticks::MAX);
            prop_assert_eq!(t.as_millis(), ms);
            prop_assert_eq!(Ticks::from_raw(t.as_i64()), Ok(t));
        }

        #[test]
        fn anything_past_33_bits_is_refused(ms in Ticks::MAX_MILLIS + 1..) {
            prop_assert!(Ticks::from_millis(ms).is_err());
        }

        #[test]
        fn raw_ticks_stay_in_bounds(raw in any::<i64>()) {
            match Ticks::from_raw(raw) {
                Ok(t) => prop_assert!((0..=8_589_934_591).contains(&t.get())),
                Err(_) => prop_assert!(!(0..=8_589_934_591).contains(&raw)),
            }
        }
    }
}
