//! What ottd's own recorded commands say about the channel now: whether a break is open and
//! whether the slate is up. The schedule cannot say it alone: an immediate action carries no
//! start time, and MediaLive purges actions an hour after their start, so a slate up for two
//! hours has no action left in the schedule. Each command's record (in the state, see
//! `store::live`) keeps its actions and when it was taken; this module reads them. Pure.
//!
//! It also settles a record a previous holder left at "intent" (killed between recording the
//! command and hearing MediaLive's answer): the schedule holding its actions means MediaLive
//! took it; anything else means it never arrived, and it is not sent again later (a break
//! five minutes late is worse than none; the operator sees it failed and asks again). Past
//! [`PURGE_HORIZON`] a missing action proves nothing (MediaLive may have purged it): such a
//! record counts as taken, so what may stand on air can still be undone.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::action::{ScheduleAction, Settings, When, SLATE_LAYER};
use super::retry::{retry, Retry};
use super::timing::Start;

/// A command's record body as the state keeps it (JSON, opaque to the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The command as typed, canonical (`break final 1m30s`).
    pub command: String,
    /// The actions decided for it (none yet while only the intent is recorded).
    #[serde(default)]
    pub actions: Vec<ScheduleAction>,
}

impl Entry {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// A body this version cannot read counts as no actions (and so as nothing standing).
    pub fn from_json(body: &str) -> Entry {
        serde_json::from_str(body).unwrap_or_else(|_| Entry { command: String::new(), actions: Vec::new() })
    }
}

/// Where a recorded command stands, as far as the ledger cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Recorded, MediaLive's answer unknown.
    Pending,
    /// MediaLive took it.
    Yes,
    /// Refused or lost: nothing of it stands.
    No,
}

/// One recorded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub counter: u32,
    pub taken: Taken,
    /// When it was recorded: an immediate action's start.
    pub at: DateTime<Utc>,
    pub actions: Vec<ScheduleAction>,
}

/// What stands on the channel now from ottd's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Standing {
    /// The splice event id of the break that is open now.
    pub open_break: Option<u32>,
    pub slate_up: bool,
}

fn start_of(a: &ScheduleAction, at: DateTime<Utc>) -> DateTime<Utc> {
    match a.start {
        When::Start(Start::Fixed(t)) => t,
        _ => at,
    }
}

/// Open break and slate from the commands MediaLive took, newest counter deciding.
pub fn standing(history: &[Recorded], now: DateTime<Utc>) -> Standing {
    let mut taken: Vec<&Recorded> = history.iter().filter(|r| r.taken == Taken::Yes).collect();
    taken.sort_by_key(|r| std::cmp::Reverse(r.counter));
    let actions = || taken.iter().flat_map(|r| r.actions.iter().map(move |a| (a, start_of(a, r.at), r.counter)));
    // Only a return asked after the break ends it: splice ids given by hand (`back EVENT ID`)
    // may be ones ottd's counter reaches later.
    let returned = |id: u32, after: u32| {
        actions()
            .any(|(a, t, c)| c > after && t <= now && a.settings == Settings::ReturnToNetwork { splice_event_id: id })
    };
    let open_break = actions().find_map(|(a, t, c)| match &a.settings {
        Settings::SpliceInsert { splice_event_id, duration } if t <= now && !returned(*splice_event_id, c) => {
            let ends = duration.map(|d| t + Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
            ends.is_none_or(|e| now < e).then_some(*splice_event_id)
        }
        _ => None,
    });
    let slate_up = actions()
        .find_map(|(a, t, _)| match a.settings {
            Settings::StaticImageActivate { layer: SLATE_LAYER, .. } if t <= now => Some(true),
            Settings::StaticImageDeactivate { layer: SLATE_LAYER } if t <= now => Some(false),
            _ => None,
        })
        .unwrap_or(false);
    Standing { open_break, slate_up }
}

/// How long after its start an action is surely still in the schedule: MediaLive purges
/// actions about an hour after their start, so past this a missing action proves nothing.
pub const PURGE_HORIZON: Duration = Duration::minutes(50);

/// How a pending record was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The schedule holds every one of its actions with the same settings: MediaLive took it.
    Held,
    /// Not in the schedule while it would still be there: it never arrived (or no actions were
    /// decided before the holder died).
    Missing,
    /// Not in the schedule, but started longer ago than MediaLive keeps actions: it may have
    /// been taken and purged. Counted as taken, the way an operator can undo (`back`, `slate
    /// off` are harmless when nothing stands), where "not taken" would refuse the undo of a
    /// break or slate that is on air.
    Purged,
}

impl Settled {
    pub fn taken(self) -> Taken {
        match self {
            Settled::Held | Settled::Purged => Taken::Yes,
            Settled::Missing => Taken::No,
        }
    }

    /// What the record says of it.
    pub fn detail(self) -> &'static str {
        match self {
            Settled::Held => "found in the schedule after an interruption",
            Settled::Missing => "interrupted before MediaLive took it: not in the schedule",
            Settled::Purged => {
                "unknown after an interruption: no longer in the schedule (MediaLive purges actions an hour after \
                 their start); counted as taken"
            }
        }
    }
}

/// A pending record against what the schedule holds at `now`.
pub fn settle(pending: &Recorded, held: &[ScheduleAction], now: DateTime<Utc>) -> Settled {
    if pending.actions.is_empty() {
        return Settled::Missing;
    }
    if retry(&pending.actions, held) == Retry::Done {
        return Settled::Held;
    }
    let started = pending.actions.iter().map(|a| start_of(a, pending.at)).max().unwrap_or(pending.at);
    if now - started >= PURGE_HORIZON {
        Settled::Purged
    } else {
        Settled::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ticks::Ticks;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn rec(counter: u32, taken: Taken, at: &str, settings: Settings) -> Recorded {
        Recorded {
            counter,
            taken,
            at: t(at),
            actions: vec![ScheduleAction {
                name: format!("ottd-final-n-{counter}"),
                start: When::immediate(),
                settings,
            }],
        }
    }

    fn splice(id: u32, secs: Option<u64>) -> Settings {
        Settings::SpliceInsert { splice_event_id: id, duration: secs.map(|s| Ticks::from_secs(s).expect("ticks")) }
    }

    #[test]
    fn a_break_is_open_for_its_duration_or_until_back() {
        let h = [rec(1, Taken::Yes, "2026-12-04T20:00:00Z", splice(1, Some(90)))];
        assert_eq!(standing(&h, t("2026-12-04T20:01:29Z")).open_break, Some(1));
        assert_eq!(standing(&h, t("2026-12-04T20:01:30Z")).open_break, None, "over after 90 s");
        let open = [rec(3, Taken::Yes, "2026-12-04T20:00:00Z", splice(3, None))];
        assert_eq!(standing(&open, t("2026-12-05T02:00:00Z")).open_break, Some(3), "open-ended: open until back");
        let mut back = open.to_vec();
        back.push(rec(4, Taken::Yes, "2026-12-04T20:05:00Z", Settings::ReturnToNetwork { splice_event_id: 3 }));
        assert_eq!(standing(&back, t("2026-12-04T20:04:59Z")).open_break, Some(3));
        assert_eq!(standing(&back, t("2026-12-04T20:05:00Z")).open_break, None);
        // `back final 5` for a console break 5, then ottd's own break 5 (its counter got there):
        // the earlier return does not end the later break.
        let by_hand = [
            rec(2, Taken::Yes, "2026-12-04T20:00:00Z", Settings::ReturnToNetwork { splice_event_id: 5 }),
            rec(5, Taken::Yes, "2026-12-04T20:10:00Z", splice(5, None)),
        ];
        assert_eq!(standing(&by_hand, t("2026-12-04T20:11:00Z")).open_break, Some(5));
    }

    #[test]
    fn only_what_medialive_took_stands() {
        let h = [
            rec(1, Taken::No, "2026-12-04T20:00:00Z", splice(1, None)),
            rec(
                2,
                Taken::Pending,
                "2026-12-04T20:00:00Z",
                Settings::StaticImageActivate {
                    uri: "s3ssl://b/slate.png".into(),
                    layer: SLATE_LAYER,
                    duration_ms: None,
                },
            ),
        ];
        assert_eq!(standing(&h, t("2026-12-04T20:01:00Z")), Standing::default());
    }

    #[test]
    fn a_fixed_break_opens_at_its_time() {
        let mut r = rec(5, Taken::Yes, "2026-12-04T20:00:00Z", splice(5, Some(60)));
        r.actions[0].start = When::fixed(t("2026-12-04T20:15:00Z"));
        assert_eq!(standing(&[r.clone()], t("2026-12-04T20:14:59Z")).open_break, None);
        assert_eq!(standing(&[r], t("2026-12-04T20:15:30Z")).open_break, Some(5));
    }

    #[test]
    fn the_newest_slate_command_decides_even_past_the_schedules_purge() {
        let on = Settings::StaticImageActivate { uri: "s3ssl://b/s.png".into(), layer: SLATE_LAYER, duration_ms: None };
        let off = Settings::StaticImageDeactivate { layer: SLATE_LAYER };
        let up = [rec(1, Taken::Yes, "2026-12-04T18:00:00Z", on.clone())];
        assert!(standing(&up, t("2026-12-04T21:00:00Z")).slate_up, "three hours on: still up");
        let down = [up[0].clone(), rec(2, Taken::Yes, "2026-12-04T19:00:00Z", off.clone())];
        assert!(!standing(&down, t("2026-12-04T21:00:00Z")).slate_up);
        let again = [down[0].clone(), down[1].clone(), rec(3, Taken::Yes, "2026-12-04T20:00:00Z", on)];
        assert!(standing(&again, t("2026-12-04T21:00:00Z")).slate_up);
        let other_layer = [rec(1, Taken::Yes, "2026-12-04T18:00:00Z", Settings::StaticImageDeactivate { layer: 2 })];
        assert!(!standing(&other_layer, t("2026-12-04T21:00:00Z")).slate_up);
    }

    #[test]
    fn a_pending_record_is_taken_only_when_the_schedule_holds_it() {
        let r = rec(1, Taken::Pending, "2026-12-04T20:00:00Z", splice(1, Some(90)));
        let soon = t("2026-12-04T20:05:00Z");
        assert_eq!(settle(&r, &r.actions, soon), Settled::Held);
        assert_eq!(settle(&r, &[], soon), Settled::Missing);
        let other = ScheduleAction { settings: splice(1, Some(30)), ..r.actions[0].clone() };
        assert_eq!(settle(&r, &[other], soon), Settled::Missing, "a different action under the name");
        let bare = Recorded { actions: Vec::new(), ..r.clone() };
        assert_eq!(settle(&bare, &[], soon), Settled::Missing, "killed before its actions were decided");
        assert_eq!(settle(&bare, &[], t("2026-12-05T20:00:00Z")), Settled::Missing, "nothing to have purged");
    }

    #[test]
    fn a_pending_record_older_than_the_schedule_keeps_actions_counts_as_taken() {
        // Killed right after `slate on`; the next command comes two hours later, when MediaLive
        // has purged the action: the slate may well be up, and `slate off` must not be refused.
        let r = rec(
            4,
            Taken::Pending,
            "2026-12-04T20:00:00Z",
            Settings::StaticImageActivate { uri: "s3ssl://a/slate.png".into(), layer: SLATE_LAYER, duration_ms: None },
        );
        let later = t("2026-12-04T22:00:00Z");
        assert_eq!(settle(&r, &[], t("2026-12-04T20:49:59Z")), Settled::Missing, "inside the horizon");
        assert_eq!(settle(&r, &[], t("2026-12-04T20:50:00Z")), Settled::Purged);
        let settled = Recorded { taken: settle(&r, &[], later).taken(), ..r.clone() };
        assert!(standing(&[settled], later).slate_up);
        // A fixed-time action counts from its start, not from when it was asked for.
        let fixed = Recorded {
            actions: vec![ScheduleAction {
                start: When::Start(Start::Fixed(t("2026-12-04T21:30:00Z"))),
                ..r.actions[0].clone()
            }],
            ..r
        };
        assert_eq!(settle(&fixed, &[], later), Settled::Missing, "started 30 min ago: it would still be there");
    }

    use proptest::prelude::*;

    /// One command of a random history: a break (id = its counter, with or without a
    /// duration), a back for some splice id (an earlier break's, or one given by hand that a
    /// later break may take), the slate on or off; taken or not.
    fn step() -> impl Strategy<Value = (u8, Option<u64>, bool, bool)> {
        (0u8..4, prop::option::of(1u64..600), any::<bool>(), any::<bool>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn what_stands_is_what_the_taken_commands_say(steps in prop::collection::vec(step(), 0..30), probe in 0i64..4000) {
            let t0 = t("2026-12-04T20:00:00Z");
            let mut history = Vec::new();
            for (i, (kind, secs, on, ok)) in steps.iter().enumerate() {
                let counter = i as u32 + 1;
                let at = t0 + Duration::seconds(i as i64 * 60);
                let settings = match kind {
                    0 => splice(counter, *secs),
                    1 => Settings::ReturnToNetwork { splice_event_id: (counter * 7) % 31 + 1 },
                    2 if *on => Settings::StaticImageActivate { uri: "s3ssl://b/s.png".into(), layer: SLATE_LAYER, duration_ms: None },
                    _ => Settings::StaticImageDeactivate { layer: SLATE_LAYER },
                };
                let taken = if *ok { Taken::Yes } else { Taken::No };
                history.push(Recorded { at, ..rec(counter, taken, "2026-12-04T20:00:00Z", settings) });
            }
            let now = t0 + Duration::seconds(probe);
            let got = standing(&history, now);
            let done: Vec<&Recorded> = history.iter().filter(|r| r.taken == Taken::Yes && r.at <= now).collect();
            // The slate: the newest taken slate command at or before now.
            let slate = done.iter().rev().find_map(|r| match r.actions[0].settings {
                Settings::StaticImageActivate { .. } => Some(true),
                Settings::StaticImageDeactivate { .. } => Some(false),
                _ => None,
            });
            prop_assert_eq!(got.slate_up, slate.unwrap_or(false));
            // An open break was taken, has started, has no taken back and is not over.
            if let Some(id) = got.open_break {
                let b = done.iter().find(|r| r.counter == id).expect("the open break was taken and has started");
                let Settings::SpliceInsert { duration, .. } = &b.actions[0].settings else {
                    panic!("the open break is a splice insert")
                };
                let running = duration.is_none_or(|d| now < b.at + Duration::milliseconds(d.as_millis() as i64));
                prop_assert!(running, "break {} is over", id);
                let back = Settings::ReturnToNetwork { splice_event_id: id };
                let ended = done.iter().any(|r| r.counter > b.counter && r.actions[0].settings == back);
                prop_assert!(!ended, "break {} was ended", id);
            } else {
                // No break that qualifies was missed.
                for r in &done {
                    if let Settings::SpliceInsert { splice_event_id, duration } = &r.actions[0].settings {
                        let over = duration.is_some_and(|d| now >= r.at + Duration::milliseconds(d.as_millis() as i64));
                        let end = Settings::ReturnToNetwork { splice_event_id: *splice_event_id };
                        let back = done.iter().any(|x| x.counter > r.counter && x.actions[0].settings == end);
                        prop_assert!(over || back, "break {} stands but was not found", splice_event_id);
                    }
                }
            }
        }
    }

    #[test]
    fn a_body_round_trips_and_a_bad_one_is_empty() {
        let e = Entry {
            command: "break final 1m30s".into(),
            actions: rec(1, Taken::Yes, "2026-12-04T20:00:00Z", splice(1, Some(90))).actions,
        };
        assert_eq!(Entry::from_json(&e.to_json()), e);
        assert!(Entry::from_json("{nonsense").actions.is_empty());
    }
}
