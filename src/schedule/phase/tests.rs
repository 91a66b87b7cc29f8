//! The phase function and the occurrences under it, with a controlled clock (plain instants).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::*;
use crate::schedule::timing::{parse_cron, resolve_local, When};

const PARIS: Tz = chrono_tz::Europe::Paris;
const NEW_YORK: Tz = chrono_tz::America::New_York;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
}

fn local(tz: Tz, s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("test wall-clock time");
    resolve_local(naive, tz).expect("exists in the zone")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Lead and tail times in seconds: deploy_before, start_before, stop_after, teardown_after.
fn timing(when: When, tz: Tz, leads: [u64; 4], keep_deployed: bool) -> Timing {
    Timing {
        when,
        tz,
        deploy_before: secs(leads[0]),
        start_before: secs(leads[1]),
        stop_after: secs(leads[2]),
        teardown_after: secs(leads[3]),
        keep_deployed,
        max_runtime: None,
        adaptive_lead: false,
    }
}

fn once(start: DateTime<Utc>, end: DateTime<Utc>, leads: [u64; 4]) -> Timing {
    timing(When::Once { start, end }, chrono_tz::UTC, leads, false)
}

fn cron(expr: &str, tz: Tz, duration: u64, leads: [u64; 4], keep: bool) -> Timing {
    let c = parse_cron(expr).expect("test cron");
    timing(When::Recurring { cron: c, expr: expr.into(), duration: secs(duration) }, tz, leads, keep)
}

/// A one-off show 20:00-22:00 UTC: deploy 30 min ahead, start 10 min ahead, stop 5 min after,
/// tear down 5 min after that.
fn show() -> Timing {
    once(at("2026-12-18T20:00:00Z"), at("2026-12-18T22:00:00Z"), [1800, 600, 300, 300])
}

fn desired(t: &Timing, now: &str) -> Option<Desired> {
    decide(Some(t), true, at(now), None).desired
}

fn after(t: &Timing, from: &str, n: usize) -> Vec<DateTime<Utc>> {
    t.occurrences_after(at(from)).take(n).collect()
}

fn hold(kind: OverrideKind, set_at: &str, until: Option<DateTime<Utc>>) -> Override {
    Override { kind, set_at: at(set_at), until }
}

#[test]
fn one_off_walks_every_phase_in_order_changing_at_each_boundary() {
    let t = show();
    let steps = [
        ("2026-12-18T19:29:59Z", Desired::Absent, "2026-12-18T19:30:00Z"),
        ("2026-12-18T19:30:00Z", Desired::Deployed, "2026-12-18T19:50:00Z"),
        ("2026-12-18T19:50:00Z", Desired::Running, "2026-12-18T20:00:00Z"),
        ("2026-12-18T20:00:00Z", Desired::Running, "2026-12-18T22:05:00Z"),
        ("2026-12-18T22:04:59.999Z", Desired::Running, "2026-12-18T22:05:00Z"),
        ("2026-12-18T22:05:00Z", Desired::Stopped, "2026-12-18T22:10:00Z"),
    ];
    for (now, want, next) in steps {
        let d = decide(Some(&t), true, at(now), None);
        assert_eq!(d.desired, Some(want), "at {now}");
        assert_eq!(d.next_boundary, Some(at(next)), "at {now}");
        assert_eq!(d.window.map(|w| w.on_air), Some(at("2026-12-18T20:00:00Z")));
    }
    let end = decide(Some(&t), true, at("2026-12-18T22:10:00Z"), None);
    assert_eq!((end.desired, end.next_boundary), (Some(Desired::TornDown), None));
    let listed = next_boundaries(Some(&t), at("2026-12-18T12:00:00Z"), 10);
    let want: Vec<_> = [
        ("2026-12-18T19:30:00Z", Desired::Deployed),
        ("2026-12-18T19:50:00Z", Desired::Running),
        ("2026-12-18T22:05:00Z", Desired::Stopped),
        ("2026-12-18T22:10:00Z", Desired::TornDown),
    ]
    .into_iter()
    .map(|(s, d)| (at(s), d))
    .collect();
    assert_eq!(listed, want);
}

#[test]
fn catch_up_inside_the_window_deploys_and_starts_at_once() {
    let d = desired(&show(), "2026-12-18T21:00:00Z").expect("timed");
    assert_eq!(step_toward(None, d), vec![Action::Deploy, Action::Start]);
}

#[test]
fn an_event_whose_end_has_passed_is_never_started() {
    let t = show();
    // Back from downtime in the tail: a live channel is stopped, nothing is deployed anew.
    let tail = desired(&t, "2026-12-18T22:07:00Z").expect("timed");
    assert_eq!(tail, Desired::Stopped);
    assert_eq!(step_toward(Some(Phase::Running), tail), vec![Action::Stop]);
    assert_eq!(step_toward(None, tail), vec![]);
    // After the window: stopped and torn down.
    let over = desired(&t, "2026-12-19T03:00:00Z").expect("timed");
    assert_eq!(step_toward(Some(Phase::Running), over), vec![Action::Stop, Action::Teardown]);
    assert_eq!(step_toward(None, over), vec![]);
}

#[test]
fn one_off_in_local_time_on_dst_days() {
    // 02:30 does not exist in Paris on 2025-03-30; 03:30 CEST is 01:30 UTC.
    assert!(resolve_local(
        NaiveDateTime::parse_from_str("2025-03-30T02:30:00", "%Y-%m-%dT%H:%M:%S").expect("naive"),
        PARIS
    )
    .is_err());
    let start = local(PARIS, "2025-03-30T03:30:00");
    assert_eq!(start, at("2025-03-30T01:30:00Z"));
    let t = once(start, local(PARIS, "2025-03-30T05:00:00"), [600, 300, 0, 60]);
    assert_eq!(desired(&t, "2025-03-30T01:25:00Z"), Some(Desired::Running));
    // 01:30 happens twice in New York on 2025-11-02: the first reading (EDT) is taken, so a
    // show 01:30-01:30 local lasts the whole repeated hour.
    let start = local(NEW_YORK, "2025-11-02T01:30:00");
    assert_eq!(start, at("2025-11-02T05:30:00Z"));
    let t = once(start, start + chrono::Duration::hours(1), [0, 0, 0, 0]);
    assert_eq!(desired(&t, "2025-11-02T06:15:00Z"), Some(Desired::Running));
    assert_eq!(desired(&t, "2025-11-02T06:30:00Z"), Some(Desired::TornDown));
}

#[test]
fn fixed_cron_in_a_skipped_hour_fires_once_at_the_end_of_the_gap() {
    let t = cron("0 30 2 * * *", PARIS, 600, [0, 0, 0, 0], false);
    let want = ["2025-03-29T01:30:00Z", "2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"].map(at);
    assert_eq!(after(&t, "2025-03-29T00:00:00Z", 3), want);
    assert_eq!(desired(&t, "2025-03-30T01:05:00Z"), Some(Desired::Running));
    assert_eq!(t.occurrence_at_or_before(at("2025-03-30T01:30:00Z")), Some(want[1]));
}

#[test]
fn fixed_cron_in_a_repeated_hour_fires_once_at_the_first_reading() {
    let t = cron("0 30 2 * * *", PARIS, 600, [0, 0, 0, 0], false);
    let want = ["2025-10-25T00:30:00Z", "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"].map(at);
    assert_eq!(after(&t, "2025-10-25T00:00:00Z", 3), want);
    // From the second reading of 02:10 the next one is tomorrow, and the last one was today.
    assert_eq!(after(&t, "2025-10-26T01:10:00Z", 1), vec![want[2]]);
    assert_eq!(t.occurrence_at_or_before(at("2025-10-26T01:10:00Z")), Some(want[1]));
    assert_eq!(desired(&t, "2025-10-26T01:35:00Z"), Some(Desired::TornDown));
}

#[test]
fn interval_cron_in_a_repeated_hour_fires_at_both_readings_in_time_order() {
    let t = cron("0 */20 1 * * *", NEW_YORK, 60, [0, 0, 0, 0], false);
    let want = [
        "2025-11-02T05:00:00Z",
        "2025-11-02T05:20:00Z",
        "2025-11-02T05:40:00Z",
        "2025-11-02T06:00:00Z",
        "2025-11-02T06:20:00Z",
        "2025-11-02T06:40:00Z",
        "2025-11-03T06:00:00Z",
    ]
    .map(at);
    assert_eq!(after(&t, "2025-11-02T00:00:00Z", 7), want);
    for (i, w) in t.windows_from(at("2025-11-02T00:00:00Z"), 7).iter().enumerate() {
        assert_eq!(w.on_air, want[i]);
    }
    assert_eq!(t.occurrence_at_or_before(at("2025-11-02T06:10:00Z")), Some(want[3]));
    assert_eq!(t.occurrence_at_or_before(at("2025-11-02T05:50:00Z")), Some(want[2]));
}

#[test]
fn occurrences_from_inside_a_repeated_hour_miss_nothing() {
    // croner's own iterator, started at 02:40 CEST, skips 02:00 and 02:30 CET.
    let t = cron("0 0,30 * * * *", PARIS, 60, [0, 0, 0, 0], false);
    let want = ["2025-10-26T01:00:00Z", "2025-10-26T01:30:00Z", "2025-10-26T02:00:00Z"].map(at);
    assert_eq!(after(&t, "2025-10-26T00:40:00Z", 3), want);
}

#[test]
fn every_second_cron_skips_no_second() {
    // croner's own iterator yields every other second for `* * * * * *`.
    let t = cron("* * * * * *", chrono_tz::UTC, 1, [0, 0, 0, 0], false);
    let got = after(&t, "2025-03-01T00:00:00.500Z", 3);
    assert_eq!(got, ["2025-03-01T00:00:01Z", "2025-03-01T00:00:02Z", "2025-03-01T00:00:03Z"].map(at));
}

#[test]
fn leap_day_cron_skips_common_years_and_2100() {
    let t = cron("0 0 20 29 2 *", PARIS, 3600, [1800, 600, 0, 300], false);
    assert_eq!(after(&t, "2025-01-01T00:00:00Z", 2), ["2028-02-29T19:00:00Z", "2032-02-29T19:00:00Z"].map(at));
    assert_eq!(after(&t, "2097-03-01T00:00:00Z", 1), [at("2104-02-29T19:00:00Z")]);
    assert_eq!(t.occurrence_at_or_before(at("2027-06-01T00:00:00Z")), Some(at("2024-02-29T19:00:00Z")));
    assert_eq!(desired(&t, "2028-02-29T19:30:00Z"), Some(Desired::Running));
    assert_eq!(desired(&t, "2028-02-29T18:35:00Z"), Some(Desired::Deployed));
    let d = decide(Some(&t), true, at("2027-06-01T00:00:00Z"), None);
    assert_eq!(d.desired, Some(Desired::TornDown));
    assert_eq!(d.next_boundary, Some(at("2028-02-29T18:30:00Z")));
}

#[test]
fn last_day_of_month_cron_follows_month_lengths_and_dst() {
    let t = cron("0 0 12 L * *", PARIS, 3600, [0, 0, 0, 0], false);
    let want = ["2025-01-31T11:00:00Z", "2025-02-28T11:00:00Z", "2025-03-31T10:00:00Z"].map(at);
    assert_eq!(after(&t, "2025-01-15T00:00:00Z", 3), want);
    assert_eq!(after(&t, "2028-02-15T00:00:00Z", 1), [at("2028-02-29T11:00:00Z")]);
}

#[test]
fn never_matching_cron_is_rejected() {
    let err = parse_cron("0 0 0 30 2 *").expect_err("30 February");
    assert!(err.contains("never matches"), "{err}");
}

#[test]
fn absurd_lead_and_tail_times_saturate_instead_of_overflowing() {
    let years = 300_000 * 365 * 86_400;
    for t in [
        cron("0 0 20 * * *", NEW_YORK, years, [years, years, years, years], true),
        once(at("2026-12-18T20:00:00Z"), at("2026-12-18T22:00:00Z"), [years, years, years, years]),
    ] {
        let now = at("2026-06-10T10:00:00Z");
        assert_eq!(desired(&t, "2026-06-10T10:00:00Z"), Some(Desired::Running));
        assert!(!t.windows_from(now, 1).is_empty());
        let _ = next_boundaries(Some(&t), now, 3);
    }
}

#[test]
fn every_ten_seconds_cycles_through_the_phases() {
    let t = cron("*/10 * * * * *", chrono_tz::UTC, 5, [0, 0, 0, 2], false);
    assert_eq!(desired(&t, "2026-01-01T00:00:00Z"), Some(Desired::Running));
    assert_eq!(desired(&t, "2026-01-01T00:00:05Z"), Some(Desired::Stopped));
    assert_eq!(desired(&t, "2026-01-01T00:00:07Z"), Some(Desired::TornDown));
    let listed = next_boundaries(Some(&t), at("2026-01-01T00:00:00.500Z"), 4);
    let want = [
        ("2026-01-01T00:00:05Z", Desired::Stopped),
        ("2026-01-01T00:00:07Z", Desired::TornDown),
        ("2026-01-01T00:00:10Z", Desired::Running),
        ("2026-01-01T00:00:15Z", Desired::Stopped),
    ]
    .map(|(s, d)| (at(s), d));
    assert_eq!(listed, want);
}

#[test]
fn overlapping_occurrences_are_cut_and_never_stop_between_them() {
    // Hourly, 90 minutes on air: each window ends where the next one goes on air.
    let t = cron("0 0 * * * *", chrono_tz::UTC, 5400, [1800, 600, 0, 300], false);
    let ws = t.windows_from(at("2026-01-01T00:00:00Z"), 4);
    for pair in ws.windows(2) {
        assert_eq!(pair[0].off_air, pair[1].on_air);
        assert_eq!(pair[0].teardown_at, pair[1].on_air);
    }
    for now in ["2026-01-01T00:55:00Z", "2026-01-01T01:00:00Z", "2026-01-01T01:59:59Z", "2026-01-01T02:30:00Z"] {
        assert_eq!(desired(&t, now), Some(Desired::Running), "at {now}");
    }
    assert_eq!(next_boundaries(Some(&t), at("2026-01-01T00:55:00Z"), 3), vec![]);
    // Back to back with a tail: the tail of one never stops what the next one runs.
    let t = cron("0 0 * * * *", chrono_tz::UTC, 3000, [1800, 600, 900, 300], false);
    assert_eq!(desired(&t, "2026-01-01T00:55:00Z"), Some(Desired::Running));
    let d = decide(Some(&t), true, at("2026-01-01T00:55:00Z"), None);
    assert_eq!(d.window.map(|w| w.on_air), Some(at("2026-01-01T01:00:00Z")));
}

#[test]
fn keep_deployed_stays_deployed_between_occurrences() {
    let kept = cron("0 0 20 * * *", PARIS, 7200, [1800, 600, 0, 300], true);
    let plain = cron("0 0 20 * * *", PARIS, 7200, [1800, 600, 0, 300], false);
    let noon = "2026-06-10T10:00:00Z";
    assert_eq!(desired(&kept, noon), Some(Desired::Deployed));
    assert_eq!(desired(&plain, noon), Some(Desired::TornDown));
    assert_eq!(decide(Some(&kept), false, at(noon), None).desired, Some(Desired::TornDown));
    assert_eq!(desired(&kept, "2026-06-10T18:30:00Z"), Some(Desired::Running));
}

#[test]
fn disabled_event_is_neither_put_on_air_nor_killed_mid_air() {
    let t = show();
    let off = |now: &str| decide(Some(&t), false, at(now), None).desired;
    assert_eq!(off("2026-12-18T12:00:00Z"), Some(Desired::Absent));
    assert_eq!(off("2026-12-18T19:40:00Z"), None);
    assert_eq!(off("2026-12-18T21:00:00Z"), None);
    assert_eq!(off("2026-12-18T22:05:00Z"), Some(Desired::TornDown));
    assert_eq!(off("2026-12-19T12:00:00Z"), Some(Desired::TornDown));
}

#[test]
fn on_demand_events_are_left_alone() {
    let manual = hold(OverrideKind::Start, "2026-01-01T00:00:00Z", None);
    let d = decide(None, true, at("2026-01-01T00:00:00Z"), Some(&manual));
    assert_eq!(d, Decision { desired: None, window: None, next_boundary: None });
    assert_eq!(override_until(None, at("2026-01-01T00:00:00Z")), None);
    assert_eq!(next_boundaries(None, at("2026-01-01T00:00:00Z"), 3), vec![]);
}

#[test]
fn hold_leaves_the_event_alone_until_it_expires() {
    let t = show();
    let h = hold(OverrideKind::Hold, "2026-12-18T19:00:00Z", Some(at("2026-12-18T21:00:00Z")));
    let d = decide(Some(&t), true, at("2026-12-18T20:30:00Z"), Some(&h));
    assert_eq!(d.desired, None);
    assert_eq!(d.next_boundary, Some(at("2026-12-18T21:00:00Z")));
    let d = decide(Some(&t), true, at("2026-12-18T21:00:00Z"), Some(&h));
    assert_eq!(d.desired, Some(Desired::Running));
}

#[test]
fn manual_stop_keeps_the_channel_stopped_until_the_window_ends() {
    let t = show();
    let now = at("2026-12-18T21:00:00Z");
    let until = override_until(Some(&t), now);
    assert_eq!(until, Some(at("2026-12-18T22:10:00Z")));
    let stop = hold(OverrideKind::Stop, "2026-12-18T21:00:00Z", until);
    let d = decide(Some(&t), true, at("2026-12-18T21:30:00Z"), Some(&stop));
    assert_eq!(d.desired, Some(Desired::Stopped));
    assert_eq!(step_toward(Some(Phase::Stopped), Desired::Stopped), vec![]);
    let d = decide(Some(&t), true, at("2026-12-18T22:10:00Z"), Some(&stop));
    assert_eq!(d.desired, Some(Desired::TornDown));
}

#[test]
fn manual_stop_between_windows_does_not_cancel_the_next_show() {
    let t = cron("0 0 20 * * *", PARIS, 7200, [1800, 600, 0, 300], false);
    let now = at("2026-06-10T10:00:00Z");
    let until = override_until(Some(&t), now);
    assert_eq!(until, Some(at("2026-06-10T17:30:00Z")));
    let stop = hold(OverrideKind::Stop, "2026-06-10T10:00:00Z", until);
    assert_eq!(decide(Some(&t), true, now, Some(&stop)).desired, Some(Desired::TornDown));
    let d = decide(Some(&t), true, at("2026-06-10T18:00:00Z"), Some(&stop));
    assert_eq!(d.desired, Some(Desired::Running));
}

#[test]
fn manual_start_after_the_end_wins_until_cleared() {
    let start = hold(OverrideKind::Start, "2026-12-18T23:00:00Z", None);
    let d = decide(Some(&show()), true, at("2026-12-19T01:00:00Z"), Some(&start));
    assert_eq!((d.desired, d.next_boundary), (Some(Desired::Running), None));
}

#[test]
fn manual_teardown_inside_the_window_holds_until_the_window_ends() {
    let t = show();
    let until = override_until(Some(&t), at("2026-12-18T20:15:00Z"));
    let down = hold(OverrideKind::Teardown, "2026-12-18T20:15:00Z", until);
    let d = decide(Some(&t), true, at("2026-12-18T21:00:00Z"), Some(&down));
    assert_eq!(d.desired, Some(Desired::TornDown));
    assert_eq!(d.next_boundary, Some(at("2026-12-18T22:05:00Z")));
}

#[test]
fn manual_deploy_before_the_window_lasts_until_the_schedule_deploys() {
    let t = show();
    let until = override_until(Some(&t), at("2026-12-18T18:00:00Z"));
    assert_eq!(until, Some(at("2026-12-18T19:30:00Z")));
    let up = hold(OverrideKind::Deploy, "2026-12-18T18:00:00Z", until);
    let d = decide(Some(&t), true, at("2026-12-18T18:00:00Z"), Some(&up));
    assert_eq!(d.desired, Some(Desired::Deployed));
    assert_eq!(desired(&t, "2026-12-18T19:30:00Z"), Some(Desired::Deployed));
}

#[test]
fn expired_override_is_ignored() {
    let t = show();
    let stale = hold(OverrideKind::Teardown, "2026-12-17T20:00:00Z", Some(at("2026-12-17T22:00:00Z")));
    let now = at("2026-12-18T21:00:00Z");
    assert_eq!(decide(Some(&t), true, now, Some(&stale)), decide(Some(&t), true, now, None));
}

#[test]
fn step_toward_moves_every_recorded_phase_to_every_desired_state() {
    use Action::*;
    use Desired as D;
    let cases: &[(Option<Phase>, Desired, &[Action])] = &[
        (None, D::Running, &[Deploy, Start]),
        (None, D::Deployed, &[Deploy]),
        (None, D::Stopped, &[]),
        (None, D::TornDown, &[]),
        (Some(Phase::Deploying), D::Deployed, &[Deploy]),
        (Some(Phase::Deploying), D::Running, &[Deploy, Start]),
        (Some(Phase::Deploying), D::Absent, &[Teardown]),
        (Some(Phase::Deployed), D::Running, &[Start]),
        (Some(Phase::Deployed), D::Absent, &[Teardown]),
        (Some(Phase::Starting), D::Running, &[Start]),
        (Some(Phase::Starting), D::Stopped, &[Stop]),
        (Some(Phase::Running), D::Running, &[]),
        (Some(Phase::Running), D::Stopped, &[Stop]),
        (Some(Phase::Running), D::TornDown, &[Stop, Teardown]),
        (Some(Phase::Stopping), D::Running, &[Start]),
        (Some(Phase::Stopping), D::TornDown, &[Stop, Teardown]),
        (Some(Phase::Stopped), D::Deployed, &[]),
        (Some(Phase::Stopped), D::Running, &[Start]),
        (Some(Phase::TearingDown), D::Running, &[Teardown]),
        (Some(Phase::TearingDown), D::Deployed, &[Teardown]),
        (Some(Phase::TearingDown), D::TornDown, &[Teardown]),
        (Some(Phase::TornDown), D::Running, &[Deploy, Start]),
        (Some(Phase::TornDown), D::Absent, &[]),
    ];
    for (actual, desired, want) in cases {
        assert_eq!(step_toward(*actual, *desired), want.to_vec(), "{actual:?} -> {desired:?}");
    }
}

// ---- properties ----

/// Days with a DST change in Paris or New York, a leap day, month ends.
const DAYS: &[(&str, &str)] = &[
    ("Europe/Paris", "2025-03-30"),
    ("Europe/Paris", "2025-10-26"),
    ("Europe/Paris", "2026-03-29"),
    ("Europe/Paris", "2026-10-25"),
    ("America/New_York", "2025-03-09"),
    ("America/New_York", "2025-11-02"),
    ("America/New_York", "2026-03-08"),
    ("America/New_York", "2026-11-01"),
    ("Europe/Paris", "2028-02-29"),
    ("America/New_York", "2028-02-29"),
    ("Europe/Paris", "2025-02-28"),
];

const CRONS: &[&str] = &[
    "0 30 2 * * *",
    "0 30 1 * * *",
    "0 0 20 29 2 *",
    "0 0 12 L * *",
    "*/10 * * * * *",
    "0 0,30 * * * *",
    "0 */20 1 * * *",
    "0 0 * * * *",
    "0 15 1,2,3 * * *",
];

fn day_start(day: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(&format!("{day}T00:00:00"), "%Y-%m-%dT%H:%M:%S").expect("day")
}

/// A timing on or around one of `DAYS`, and an instant within a day and a half of it.
fn arb_case() -> impl Strategy<Value = (Timing, DateTime<Utc>)> {
    let shape = (0..=CRONS.len(), 1u64..3 * 3600, 0u64..7200, 0u64..=100, 0u64..1800, 0u64..1800, any::<bool>());
    let place = (prop::sample::select(DAYS), 0i64..24 * 3600, -36 * 3600 * 1000i64..36 * 3600 * 1000);
    (shape, place).prop_map(|((kind, dur, deploy, pct, stop, down, keep), ((zone, day), start_s, now_ms))| {
        let tz: Tz = zone.parse().expect("zone");
        let midnight = day_start(day);
        let leads = [deploy, deploy * pct / 100, stop, down];
        let t = match CRONS.get(kind) {
            Some(expr) => cron(expr, tz, dur, leads, keep),
            None => {
                // A one-off show written in local time that day (a skipped time moves an hour on).
                let naive = midnight + chrono::Duration::seconds(start_s);
                let start = resolve_local(naive, tz)
                    .or_else(|_| resolve_local(naive + chrono::Duration::hours(1), tz))
                    .expect("an hour after a gap exists");
                once(start, start + chrono::Duration::seconds(dur as i64), leads)
            }
        };
        let noon = tz.from_local_datetime(&(midnight + chrono::Duration::hours(12))).earliest().expect("noon");
        (t, noon.with_timezone(&Utc) + chrono::Duration::milliseconds(now_ms))
    })
}

fn rank(d: Desired) -> u8 {
    match d {
        Desired::Absent => 0,
        Desired::Deployed => 1,
        Desired::Running => 2,
        Desired::Stopped => 3,
        Desired::TornDown => 4,
    }
}

fn arb_override(now: DateTime<Utc>) -> impl Strategy<Value = Override> {
    let kind = prop_oneof![
        Just(OverrideKind::Hold),
        Just(OverrideKind::Start),
        Just(OverrideKind::Stop),
        Just(OverrideKind::Teardown),
        Just(OverrideKind::Deploy),
    ];
    (kind, prop::option::of(-7200i64..7200)).prop_map(move |(kind, until)| Override {
        kind,
        set_at: now - chrono::Duration::minutes(5),
        until: until.map(|s| now + chrono::Duration::seconds(s)),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn decide_is_constant_until_its_next_boundary((t, now) in arb_case(), enabled in any::<bool>()) {
        let d = decide(Some(&t), enabled, now, None);
        let probes: Vec<DateTime<Utc>> = match d.next_boundary {
            Some(b) => {
                prop_assert!(b > now, "boundary {b} not after {now}");
                let span = b - now;
                vec![now + span / 4, now + span / 2, b - chrono::Duration::milliseconds(1)]
            }
            None => vec![now + chrono::Duration::hours(1), now + chrono::Duration::days(40)],
        };
        for p in probes.into_iter().filter(|p| *p >= now) {
            prop_assert_eq!(&decide(Some(&t), enabled, p, None), &d, "at {} (from {})", p, now);
        }
    }

    #[test]
    fn running_iff_some_window_is_between_start_and_stop((t, now) in arb_case()) {
        let d = decide(Some(&t), true, now, None);
        let desired = d.desired.expect("timed and enabled");
        // The strongest demand of every window still standing at `now`.
        let windows = t.windows_from(now, 2000);
        let mut want = windows.iter().map(|w| phase_in(w, now).level()).max().unwrap_or(0);
        if want == 0 && t.keep_deployed && matches!(t.when, When::Recurring { .. }) && t.occurrence_at_or_before(now).is_some() {
            want = 1;
        }
        prop_assert_eq!(desired.level(), want, "{:?} at {}", desired, now);
        let running = windows.iter().any(|w| w.start_at <= now && now < w.stop_at);
        prop_assert_eq!(desired == Desired::Running, running);
        if desired == Desired::Running {
            let w = d.window.expect("a running event has a window");
            prop_assert!(w.start_at <= now && now < w.stop_at, "{:?} at {}", w, now);
        }
    }

    #[test]
    fn phases_never_go_backward_within_one_window(
        (t, now) in arb_case(),
        steps in prop::collection::vec(0i64..4 * 3600 * 1000, 1..8),
    ) {
        let mut times: Vec<DateTime<Utc>> = steps.iter().map(|ms| now + chrono::Duration::milliseconds(*ms)).collect();
        times.sort();
        let one_off = matches!(t.when, When::Once { .. });
        let mut last: Option<(Window, Desired)> = None;
        for at in times {
            let d = decide(Some(&t), true, at, None);
            let (Some(w), Some(desired)) = (d.window, d.desired) else { continue };
            // A recurring event's answer comes from one window while something is deployed
            // for it (without keep_deployed); a one-off event has a single window throughout.
            if !one_off && (t.keep_deployed || desired.level() == 0) {
                last = None;
                continue;
            }
            if let Some((lw, ld)) = last {
                if lw == w {
                    prop_assert!(rank(ld) <= rank(desired), "{:?} then {:?} at {}", ld, desired, at);
                }
            }
            last = Some((w, desired));
        }
    }

    #[test]
    fn overrides_win_while_in_force_and_expire(((t, now), ov) in arb_case().prop_flat_map(|(t, now)| (Just((t, now)), arb_override(now)))) {
        let base = decide(Some(&t), true, now, None);
        let d = decide(Some(&t), true, now, Some(&ov));
        prop_assert_eq!(d.window, base.window);
        if !ov.in_force(now) {
            prop_assert_eq!(&d, &base);
            return Ok(());
        }
        let schedule = base.desired;
        let want = match ov.kind {
            OverrideKind::Hold => None,
            OverrideKind::Start => Some(Desired::Running),
            OverrideKind::Teardown => Some(Desired::TornDown),
            OverrideKind::Stop if schedule == Some(Desired::Running) => Some(Desired::Stopped),
            OverrideKind::Deploy if schedule.is_some_and(|s| s.level() == 0) => Some(Desired::Deployed),
            OverrideKind::Stop | OverrideKind::Deploy => schedule,
        };
        prop_assert_eq!(d.desired, want);
        if let Some(u) = ov.until {
            prop_assert!(d.next_boundary.is_some_and(|b| b <= u));
            prop_assert_eq!(decide(Some(&t), true, u, Some(&ov)), decide(Some(&t), true, u, None));
        }
    }

    #[test]
    fn next_boundaries_list_real_changes_in_order((t, now) in arb_case()) {
        let listed = next_boundaries(Some(&t), now, 6);
        let mut previous = (now, decide(Some(&t), true, now, None).desired.expect("timed"));
        for (at, desired) in listed {
            prop_assert!(at > previous.0);
            prop_assert_ne!(desired, previous.1);
            prop_assert_eq!(decide(Some(&t), true, at, None).desired, Some(desired));
            let before = decide(Some(&t), true, at - chrono::Duration::milliseconds(1), None);
            prop_assert_eq!(before.desired, Some(previous.1));
            previous = (at, desired);
        }
    }

    #[test]
    fn windows_are_ordered_and_cut_at_the_next_occurrence((t, now) in arb_case()) {
        let ws = t.windows_from(now, 30);
        for w in &ws {
            prop_assert!(w.teardown_at > now);
            prop_assert!(w.deploy_at <= w.start_at && w.start_at <= w.on_air && w.on_air <= w.off_air);
            prop_assert!(w.off_air <= w.stop_at && w.stop_at <= w.teardown_at);
        }
        for pair in ws.windows(2) {
            prop_assert!(pair[0].on_air < pair[1].on_air);
            prop_assert!(pair[0].teardown_at <= pair[1].on_air);
        }
    }

    #[test]
    fn last_occurrence_at_or_before_has_none_between_it_and_now((t, now) in arb_case()) {
        match t.occurrence_at_or_before(now) {
            Some(p) => {
                prop_assert!(p <= now);
                prop_assert!(t.occurrences_after(p).next().is_none_or(|n| n > now));
            }
            None => {
                let one_off = matches!(t.when, When::Once { .. });
                prop_assert!(one_off, "a cron always matched before");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Interval crons fire at every instant whose wall-clock time matches, both readings of a
    /// repeated hour included, none in a skipped one: checked second by second.
    #[test]
    fn interval_cron_occurrences_are_every_matching_second(
        expr in prop::sample::select(&["0 0,30 * * * *", "0 */20 1 * * *", "*/10 * * * * *", "0 15 1,2,3 * * *"][..]),
        (zone, day) in prop::sample::select(&DAYS[..8]),
        offset in -3 * 3600i64..3 * 3600,
    ) {
        let tz: Tz = zone.parse().expect("zone");
        let t = cron(expr, tz, 60, [0, 0, 0, 0], false);
        let c = parse_cron(expr).expect("cron");
        let from = tz.from_local_datetime(&(day_start(day) + chrono::Duration::hours(2)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| day_start(day).and_utc())
            + chrono::Duration::seconds(offset);
        let to = from + chrono::Duration::hours(3);
        let want: Vec<DateTime<Utc>> = (1..=3 * 3600)
            .map(|s| from + chrono::Duration::seconds(s))
            .filter(|s| c.is_time_matching(&s.with_timezone(&tz)).unwrap_or(false))
            .collect();
        let got: Vec<DateTime<Utc>> = t.occurrences_after(from).take_while(|o| *o <= to).collect();
        prop_assert_eq!(got, want);
    }
}
