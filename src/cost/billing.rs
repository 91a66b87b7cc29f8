//! MediaLive's billing arithmetic: each resource's running time rounded up to the minute, with
//! a 10-minute minimum per run; a per-hour rate times billed minutes. And how amounts are
//! written.

/// The fewest minutes a run is billed.
pub const MINIMUM_MINUTES: u64 = 10;

/// The minutes MediaLive bills for a run of `d`: rounded up to the minute, at least
/// [`MINIMUM_MINUTES`] (a run that lasted no time at all is billed the minimum too).
pub fn billed_minutes(d: chrono::Duration) -> u64 {
    let ms = u64::try_from(d.num_milliseconds()).unwrap_or(0);
    ms.div_ceil(60_000).max(MINIMUM_MINUTES)
}

/// Minutes a planned span lasts, rounded up (no minimum: for spans that are not one run).
pub fn minutes_up(d: chrono::Duration) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0).div_ceil(60_000)
}

/// Dollars for `minutes` at `per_hour`.
pub fn at_rate(minutes: u64, per_hour: f64) -> f64 {
    minutes as f64 * per_hour / 60.0
}

/// An amount as a person reads it: `$1.20`, `$0.0234` below a cent's worth of detail.
pub fn usd(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.1 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// A unit price: `$0.1404`, with the table's precision.
pub fn rate(x: f64) -> String {
    let s = format!("{x:.4}");
    // $0.0300 reads better as $0.03; keep at least two decimals.
    let trimmed = s.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    if decimals < 2 {
        format!("${x:.2}")
    } else {
        format!("${trimmed}")
    }
}

/// A duration in minutes as `1h 10m`, `45m`.
pub fn hm(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_run_is_billed_by_the_minute_rounded_up_with_a_ten_minute_minimum() {
        assert_eq!(billed_minutes(Duration::minutes(3)), 10, "a 3-minute run bills 10 minutes");
        assert_eq!(billed_minutes(Duration::seconds(10 * 60)), 10);
        assert_eq!(billed_minutes(Duration::seconds(10 * 60 + 1)), 11, "10 min 1 s bills 11");
        assert_eq!(billed_minutes(Duration::minutes(70)), 70);
        assert_eq!(billed_minutes(Duration::zero()), 10);
        assert_eq!(billed_minutes(Duration::seconds(-5)), 10, "a clock step back bills the minimum");
        assert_eq!(minutes_up(Duration::seconds(61)), 2);
    }

    #[test]
    fn prices_times_minutes() {
        // The seed's HD-720p ladder, single pipeline: 0.1404 + 0.4212 + 3 x 0.2124 per hour.
        let per_hour = 0.1404 + 0.4212 + 3.0 * 0.2124;
        assert!((at_rate(10, per_hour) - 0.1998).abs() < 1e-9, "the minimum of a 3-minute run");
        assert!((at_rate(11, per_hour) - 0.21978).abs() < 1e-9);
        assert!((at_rate(60, per_hour) - 1.1988).abs() < 1e-9, "about $1.20 an hour");
    }

    #[test]
    fn amounts_read_well() {
        assert_eq!(
            (usd(1.2048), usd(0.0234), usd(0.0), usd(12.5)),
            ("$1.20".into(), "$0.0234".into(), "$0.00".into(), "$12.50".into())
        );
        assert_eq!(
            (rate(0.1404), rate(0.03), rate(0.05), rate(0.7020)),
            ("$0.1404".into(), "$0.03".into(), "$0.05".into(), "$0.702".into())
        );
        assert_eq!((hm(45), hm(60), hm(70)), ("45m".into(), "1h".into(), "1h 10m".into()));
    }
}
