//! Recovery: what to do about an alert, as a pure function of the alert, where the event
//! stands in its schedule, the operator's override, the recent recovery actions, the policy
//! and the clock. The daemon carries the verdict out through the operations layer (actor
//! `recovery`), so every action is audited and runs on the event's worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::config::alerts::{
    is_stream_alert, Policies, Policy, Remedy, INPUT_LOSS, OUTPUT_ERRORS, STREAM_BROKEN, STREAM_STALE,
};

/// Whether recovery leaves an alert of ottd's own stream probe alone because MediaLive shows
/// an open alert of its own on the event: MediaLive's alert names the cause, and its policy
/// acts on it (restarting twice for one fault would only count twice against the breaker).
pub fn defers_to_medialive(alert_type: &str, open_types: &[&str]) -> bool {
    is_stream_alert(alert_type) && open_types.iter().any(|t| !is_stream_alert(t))
}

/// Whether the event should be on air now, as far as recovery may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Standing {
    /// Inside its window (timed), or started by someone (on demand).
    OnAir,
    /// Outside its window, or an on-demand event nobody started.
    OffAir,
    /// An operator put it on hold.
    Held,
}

/// An alert as recovery sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Situation<'a> {
    pub alert_type: &'a str,
    pub set_at: DateTime<Utc>,
    /// CLEARED since.
    pub cleared: bool,
    /// Recovery already acted on this alert.
    pub acted: bool,
    pub standing: Standing,
    /// When recovery acted on this event lately (any alert).
    pub recent_actions: &'a [DateTime<Utc>],
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Act {
        remedy: Remedy,
    },
    /// Look again at `at` (the policy's wait for CLEARED).
    WaitUntil {
        at: DateTime<Utc>,
    },
    /// Nothing to do: cleared, already acted on, or a notify-only policy.
    Nothing {
        why: &'static str,
    },
    /// Not now: off air or on hold.
    Guarded {
        why: &'static str,
    },
    /// Too many actions lately: a human is needed; it closes at `until`.
    BreakerOpen {
        until: DateTime<Utc>,
    },
}

fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| t.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What to do now about one alert; see the module documentation.
pub fn decide(p: &Policies, s: &Situation<'_>) -> Verdict {
    let policy = p.for_type(s.alert_type);
    if s.cleared {
        return Verdict::Nothing { why: "cleared" };
    }
    if s.acted {
        return Verdict::Nothing { why: "already acted on" };
    }
    if policy.remedy == Remedy::Notify {
        return Verdict::Nothing { why: "the policy only notifies" };
    }
    match s.standing {
        Standing::Held => return Verdict::Guarded { why: "on hold" },
        Standing::OffAir => return Verdict::Guarded { why: "outside its window" },
        Standing::OnAir => {}
    }
    let due = plus(s.set_at, policy.wait);
    if s.now < due {
        return Verdict::WaitUntil { at: due };
    }
    breaker(p, s.recent_actions, s.now)
        .map_or(Verdict::Act { remedy: policy.remedy }, |until| Verdict::BreakerOpen { until })
}

/// When the breaker closes again, if it is open: `breaker_max` actions within the window.
pub fn breaker(p: &Policies, recent: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let window = chrono::Duration::from_std(p.breaker_window).unwrap_or(chrono::Duration::MAX);
    let from = now.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut inside: Vec<DateTime<Utc>> = recent.iter().copied().filter(|t| *t > from && *t <= now).collect();
    if inside.len() < p.breaker_max as usize {
        return None;
    }
    inside.sort_unstable();
    // It closes when enough of them have left the window.
    let k = inside.len() + 1 - p.breaker_max as usize;
    inside.get(k - 1).map(|t| t.checked_add_signed(window).unwrap_or(DateTime::<Utc>::MAX_UTC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stream_alert_defers_to_an_open_alert_of_medialives_own_only() {
        assert!(defers_to_medialive(STREAM_STALE, &["Video Not Detected", STREAM_STALE]));
        assert!(!defers_to_medialive(STREAM_STALE, &[STREAM_STALE, STREAM_BROKEN]));
        assert!(!defers_to_medialive("Video Not Detected", &["Failed to Write to Output"]));
        let p = Policies::shipped();
        assert_eq!(p.for_type(STREAM_STALE).remedy, Remedy::RestartPipeline);
        assert_eq!(p.for_type(STREAM_BROKEN).remedy, Remedy::Notify);
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-18T20:00:00Z").expect("t0").with_timezone(&Utc)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(secs)
    }

    fn situation<'a>(alert_type: &'a str, now: i64, recent: &'a [DateTime<Utc>]) -> Situation<'a> {
        Situation {
            alert_type,
            set_at: t0(),
            cleared: false,
            acted: false,
            standing: Standing::OnAir,
            recent_actions: recent,
            now: at(now),
        }
    }

    const OUTPUT: &str = "Failed to Create Output File or Socket";

    #[test]
    fn an_output_error_restarts_its_pipeline_after_the_wait_unless_cleared() {
        let p = Policies::shipped();
        assert_eq!(decide(&p, &situation(OUTPUT, 3, &[])), Verdict::WaitUntil { at: at(10) });
        assert_eq!(decide(&p, &situation(OUTPUT, 10, &[])), Verdict::Act { remedy: Remedy::RestartPipeline });
        let cleared = Situation { cleared: true, ..situation(OUTPUT, 10, &[]) };
        assert_eq!(decide(&p, &cleared), Verdict::Nothing { why: "cleared" });
        let acted = Situation { acted: true, ..situation(OUTPUT, 60, &[]) };
        assert_eq!(decide(&p, &acted), Verdict::Nothing { why: "already acted on" });
    }

    #[test]
    fn unknown_alerts_and_failovers_are_only_notified() {
        let p = Policies::shipped();
        assert_eq!(
            decide(&p, &situation("Something New", 999, &[])),
            Verdict::Nothing { why: "the policy only notifies" }
        );
        assert!(matches!(decide(&p, &situation("Input Failed Over", 999, &[])), Verdict::Nothing { .. }));
    }

    #[test]
    fn nothing_is_done_off_air_or_on_hold() {
        let p = Policies::shipped();
        let off = Situation { standing: Standing::OffAir, ..situation(OUTPUT, 60, &[]) };
        assert_eq!(decide(&p, &off), Verdict::Guarded { why: "outside its window" });
        let held = Situation { standing: Standing::Held, ..situation(OUTPUT, 60, &[]) };
        assert_eq!(decide(&p, &held), Verdict::Guarded { why: "on hold" });
    }

    #[test]
    fn the_breaker_opens_after_three_actions_in_an_hour_and_closes_as_they_age() {
        let p = Policies::shipped();
        let recent = [at(-3000), at(-2000), at(-1000)];
        assert_eq!(decide(&p, &situation(OUTPUT, 60, &recent)), Verdict::BreakerOpen { until: at(600) });
        assert_eq!(decide(&p, &situation(OUTPUT, 600, &recent)), Verdict::Act { remedy: Remedy::RestartPipeline });
        assert_eq!(decide(&p, &situation(OUTPUT, 60, &recent[1..])), Verdict::Act { remedy: Remedy::RestartPipeline });
    }

    proptest! {
        #[test]
        fn recovery_never_acts_off_air_held_cleared_or_past_the_breaker(
            wait in 0u64..600,
            now in 0i64..7200,
            recent in prop::collection::vec(-7200i64..7200, 0..8),
            standing in prop_oneof![Just(Standing::OnAir), Just(Standing::OffAir), Just(Standing::Held)],
            cleared in any::<bool>(),
            acted in any::<bool>(),
        ) {
            let mut p = Policies::shipped();
            p.default = Policy { remedy: Remedy::RestartChannel, wait: Duration::from_secs(wait) };
            let recent: Vec<DateTime<Utc>> = recent.into_iter().map(at).collect();
            let s = Situation {
                alert_type: "x",
                set_at: t0(),
                cleared,
                acted,
                standing,
                recent_actions: &recent,
                now: at(now),
            };
            let v = decide(&p, &s);
            if let Verdict::Act { .. } = v {
                prop_assert!(standing == Standing::OnAir && !cleared && !acted);
                prop_assert!(at(now) >= t0() + chrono::Duration::seconds(wait as i64));
                let inside = recent.iter().filter(|t| **t > at(now) - chrono::Duration::hours(1) && **t <= at(now)).count();
                prop_assert!(inside < 3, "the breaker allows at most 3 per hour");
            }
            if let Verdict::BreakerOpen { until } = v {
                prop_assert!(until > at(now));
            }
            if let Verdict::WaitUntil { at: w } = v {
                prop_assert!(w > at(now));
            }
        }
    }
}
