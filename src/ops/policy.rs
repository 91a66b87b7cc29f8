//! Pure rules of the operations layer: who may do what now, and how long a person's manual
//! action keeps the schedule away.

use chrono::{DateTime, Utc};

use super::actor::Actor;
use super::error::OpError;
use super::operation::Operation;
use crate::lifecycle::{Override, OverrideKind};
use crate::schedule::phase::override_until;
use crate::schedule::Timing;
use crate::store::KnownWindow;

/// How long an override lasts when nothing says when the schedule needs the event next (the
/// files are broken and no window was ever recorded, or the schedule has nothing more to do):
/// long enough for tonight's manual work, short enough never to cancel tomorrow's show unseen.
pub const FALLBACK_OVERRIDE: chrono::Duration = chrono::Duration::hours(12);

/// What the event's definition says, as far as the override's end goes.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// The configuration in force defines the event: on demand (`None`) or timed.
    Defined(Option<&'a Timing>),
    /// The configuration does not define it now (broken or removed file): the windows the
    /// last good configuration recorded.
    Recorded(&'a [KnownWindow]),
}

/// When a person's override of a timed event ends, or `None` when none is needed (on-demand
/// events are only moved by commands). Never unbounded: see [`FALLBACK_OVERRIDE`].
pub fn override_end(known: Known<'_>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let fallback = now.checked_add_signed(FALLBACK_OVERRIDE).unwrap_or(DateTime::<Utc>::MAX_UTC);
    match known {
        Known::Defined(None) => None,
        Known::Defined(Some(t)) => Some(override_until(Some(t), now).unwrap_or(fallback)),
        Known::Recorded(windows) => {
            let covering = windows.iter().find(|w| w.deploy_at <= now && now < w.teardown_at);
            let next = windows.iter().filter(|w| w.deploy_at > now).map(|w| w.deploy_at).min();
            Some(covering.map(|w| w.teardown_at).or(next).unwrap_or(fallback))
        }
    }
}

/// Whether `actor` may run `op` on an event with override `ov`, now. People may always act
/// (their action is an override of its own); the daemon's own actors never act on an event
/// an operator put on hold.
pub fn admit(actor: &Actor, op: &Operation, ov: Option<&Override>, now: DateTime<Utc>) -> Result<(), OpError> {
    if actor.is_human() || !op.changes_aws() {
        return Ok(());
    }
    match ov.filter(|o| o.in_force(now)) {
        Some(o) if o.kind == OverrideKind::Hold => Err(OpError::refused(format!(
            "{} is on hold (since {}): the daemon leaves it alone until `ottd resume`",
            op.event().unwrap_or("the event"),
            o.set_at.format("%Y-%m-%d %H:%M UTC")
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn an_override_from_recorded_windows_ends_with_the_window_or_before_the_next_show() {
        let w = [
            KnownWindow { deploy_at: t("2026-12-18T19:00:00Z"), teardown_at: t("2026-12-18T22:30:00Z") },
            KnownWindow { deploy_at: t("2026-12-19T19:00:00Z"), teardown_at: t("2026-12-19T22:30:00Z") },
        ];
        let inside = t("2026-12-18T20:00:00Z");
        assert_eq!(override_end(Known::Recorded(&w), inside), Some(t("2026-12-18T22:30:00Z")));
        let between = t("2026-12-19T08:00:00Z");
        assert_eq!(override_end(Known::Recorded(&w), between), Some(t("2026-12-19T19:00:00Z")));
        let after = t("2026-12-20T08:00:00Z");
        assert_eq!(override_end(Known::Recorded(&w), after), Some(after + FALLBACK_OVERRIDE));
        assert_eq!(override_end(Known::Recorded(&[]), after), Some(after + FALLBACK_OVERRIDE), "nothing known");
        assert_eq!(override_end(Known::Defined(None), after), None, "on demand: no override");
    }

    #[test]
    fn the_daemon_never_acts_on_a_held_event_and_people_always_may() {
        let now = t("2026-12-18T20:00:00Z");
        let hold = Override { kind: OverrideKind::Hold, set_at: now, until: None };
        let stop = Operation::Stop { event: "final".into() };
        assert!(admit(&Actor::Schedule, &stop, Some(&hold), now).is_err());
        assert!(admit(&Actor::Recovery, &stop, Some(&hold), now).is_err());
        assert!(admit(&Actor::Cli { user: "ops".into() }, &stop, Some(&hold), now).is_ok());
        assert!(admit(&Actor::Schedule, &Operation::Status { event: None }, Some(&hold), now).is_ok());
        let expired = Override { until: Some(now), ..hold };
        assert!(admit(&Actor::Schedule, &stop, Some(&expired), now).is_ok());
    }
}
