//! What a retried command finds. Its actions' names are deterministic (see
//! [`super::naming`]), so after a timeout or MediaLive's "already exists" the edge reads the
//! schedule (DescribeSchedule) and compares: the same action under the name means the first
//! attempt went through and there is nothing to do; a different one under it means something
//! else holds the name, and ottd refuses rather than guess.
//!
//! Assumptions: a batch is all or nothing, so one of the plan's actions found with the same
//! settings means the whole batch went through. MediaLive purges an action about 1 h after its
//! start, after which its name is free and a retry would create it again: retries must come
//! well within that hour (the store's record of the result covers the rest). Whether
//! DescribeSchedule returns an immediate action as immediate or with the time it resolved to
//! is not documented, so an immediate action matches a held one with either.

use std::fmt;

use super::action::{ScheduleAction, When};
use super::timing::Start;

/// What the schedule holds under one action's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    Same,
    Different(ScheduleAction),
}

/// What to do with a retried plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// Nothing of it is in the schedule: send the batch (again).
    Send,
    /// Already scheduled with the same settings: nothing to do.
    Done,
    /// A different action holds one of its names: refuse.
    Conflict { wanted: ScheduleAction, held: ScheduleAction },
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retry::Send => f.write_str("not in the schedule yet: sending it"),
            Retry::Done => f.write_str("already scheduled, same settings: nothing to do"),
            Retry::Conflict { wanted, held } => write!(
                f,
                "a different action holds the name `{}` ({}, not {}): refusing",
                wanted.name,
                held.settings.describe(),
                wanted.settings.describe()
            ),
        }
    }
}

fn same_start(wanted: When, held: When) -> bool {
    match (wanted, held) {
        (When::Start(Start::Immediate), When::Start(_)) => true,
        (w, h) => w == h,
    }
}

/// What `schedule` holds under `wanted`'s name.
pub fn find(wanted: &ScheduleAction, schedule: &[ScheduleAction]) -> Found {
    match schedule.iter().find(|a| a.name == wanted.name) {
        None => Found::Missing,
        Some(held) if held.settings == wanted.settings && same_start(wanted.start, held.start) => Found::Same,
        Some(held) => Found::Different(held.clone()),
    }
}

/// What a retry of the plan whose actions are `wanted` should do, given the schedule.
pub fn retry(wanted: &[ScheduleAction], schedule: &[ScheduleAction]) -> Retry {
    let found: Vec<(&ScheduleAction, Found)> = wanted.iter().map(|w| (w, find(w, schedule))).collect();
    for (w, f) in &found {
        if let Found::Different(held) = f {
            return Retry::Conflict { wanted: (*w).clone(), held: held.clone() };
        }
    }
    match found.iter().any(|(_, f)| *f == Found::Same) {
        true => Retry::Done,
        false => Retry::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::action::Settings;
    use crate::live::ticks::Ticks;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn splice(name: &str, start: When, secs: u64) -> ScheduleAction {
        let duration = Ticks::from_secs(secs).ok();
        ScheduleAction { name: name.into(), start, settings: Settings::SpliceInsert { splice_event_id: 17, duration } }
    }

    const NAME: &str = "ottd-final-1a2b3c4d-break-17";

    #[test]
    fn the_same_action_under_the_name_means_nothing_to_do() {
        let at = When::fixed(t("2026-12-18T19:15:00Z"));
        let wanted = [splice(NAME, at, 90)];
        assert_eq!(retry(&wanted, &[]), Retry::Send);
        let other = splice("console-break", at, 90);
        assert_eq!(retry(&wanted, std::slice::from_ref(&other)), Retry::Send, "another name is no answer");
        assert_eq!(retry(&wanted, &[other, splice(NAME, at, 90)]), Retry::Done);
        assert_eq!(Retry::Done.to_string(), "already scheduled, same settings: nothing to do");
    }

    #[test]
    fn a_different_action_under_the_name_is_refused() {
        let at = When::fixed(t("2026-12-18T19:15:00Z"));
        let wanted = splice(NAME, at, 90);
        let longer = splice(NAME, at, 120);
        let r = retry(std::slice::from_ref(&wanted), std::slice::from_ref(&longer));
        assert_eq!(r, Retry::Conflict { wanted: wanted.clone(), held: longer });
        assert_eq!(
            r.to_string(),
            "a different action holds the name `ottd-final-1a2b3c4d-break-17` \
             (break 17 for 2m (10800000 ticks), not break 17 for 1m30s (8100000 ticks)): refusing"
        );
        let later = splice(NAME, When::fixed(t("2026-12-18T19:16:00Z")), 90);
        assert!(matches!(retry(std::slice::from_ref(&wanted), &[later]), Retry::Conflict { .. }), "another time");
        assert!(matches!(
            retry(std::slice::from_ref(&wanted), &[splice(NAME, When::Follow, 90)]),
            Retry::Conflict { .. }
        ));
        let switch = ScheduleAction {
            name: NAME.into(),
            start: at,
            settings: Settings::InputSwitch { attachment: "backup".into() },
        };
        assert_eq!(find(&wanted, std::slice::from_ref(&switch)), Found::Different(switch));
    }

    #[test]
    fn an_immediate_action_matches_whatever_start_the_schedule_reports() {
        let wanted = [splice(NAME, When::immediate(), 90)];
        assert_eq!(retry(&wanted, &[splice(NAME, When::immediate(), 90)]), Retry::Done);
        assert_eq!(retry(&wanted, &[splice(NAME, When::fixed(t("2026-12-18T19:00:00Z")), 90)]), Retry::Done);
        assert!(matches!(retry(&wanted, &[splice(NAME, When::Follow, 90)]), Retry::Conflict { .. }));
        // A fixed action is not matched by an immediate one.
        let fixed = [splice(NAME, When::fixed(t("2026-12-18T19:15:00Z")), 90)];
        assert!(matches!(retry(&fixed, &[splice(NAME, When::immediate(), 90)]), Retry::Conflict { .. }));
    }
}
