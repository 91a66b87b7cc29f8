//! The live-control grammar, one for chat and the CLI: `break EVENT [DURATION] [at TIME]`,
//! `back EVENT`, `slate EVENT on|off`, `switch EVENT primary|backup|ATTACHMENT`,
//! `schedule-actions EVENT`. Parsed into a [`LiveCommand`], or a [`CommandError`] that names
//! the bad word and says what would do. Pure: the clock and the events' zones are passed in.
//!
//! - A duration is `90s`, `1m30s`, `2m`, `1h`, `1.5s`, `500ms` (units h, m, s, ms, largest
//!   first, each once) or a bare number, which is **seconds** (`90` = 90 s: breaks are said
//!   in seconds). It must be more than zero and at most [`Ticks::MAX_MILLIS`] (26h30m43.717s,
//!   33 bits of 90 kHz ticks).
//! - `at HH:MM[:SS]` is a wall-clock time in the event's zone, meaning its occurrence
//!   **nearest to now**, within 12 h either way (a tie goes to the future): at 23:50, `at 00:10`
//!   is tomorrow; at 20:00:10, `at 20:00:05` is today, 5 s ago, which the timing rules then
//!   refuse rather than silently moving the break to tomorrow. A time the DST change skips is
//!   refused; a time it repeats names two instants and the nearest wins, like any other.
//!   Only `break` takes `at` for now; the other commands act immediately.
//! - `switch`'s target stays as typed ([`SwitchTarget`]): the channel's attachments are only
//!   known when deciding (see [`super::inputs::resolve`] for the did-you-mean).
//!
//! The values' parsers are in [`super::words`].

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::ticks::Ticks;
use super::timing::Start;
pub use super::words::{parse_clock, parse_duration, resolve_clock};
use crate::chat::grammar::closest;
use crate::config::grants::Role;

/// A parsed live-control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveCommand {
    /// An SCTE-35 splice insert: `duration` `None` = open until `back`.
    Break { event: String, duration: Option<Ticks>, start: Start },
    /// Return to network: ends the open break, or the break with this splice event id (one
    /// started elsewhere: the console, another tool).
    Back { event: String, splice: Option<u32> },
    /// The full-frame slate image on the top layer, on or off.
    Slate { event: String, on: bool },
    /// An input switch.
    Switch { event: String, to: SwitchTarget },
    /// What the channel's schedule holds (a read).
    ScheduleActions { event: String },
}

/// Where `switch` goes, as the operator said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchTarget {
    Primary,
    Backup,
    /// An input attachment by its name, as typed.
    Attachment(String),
}

/// The words of live control, the role each needs and what `help` says of it.
pub const WORDS: &[(&str, Role, &str)] = &[
    ("break", Role::Operator, "an ad break now or at a time: `break EVENT [90s] [at 20:15]`"),
    ("back", Role::Operator, "return to the network: ends the open break (`back EVENT [SPLICE_ID]`)"),
    ("slate", Role::Operator, "the full-frame slate image: `slate EVENT on|off`"),
    ("switch", Role::Operator, "switch input: `switch EVENT primary|backup|ATTACHMENT`"),
    ("schedule-actions", Role::Viewer, "what the channel's schedule holds"),
];

impl LiveCommand {
    pub fn word(&self) -> &'static str {
        match self {
            LiveCommand::Break { .. } => "break",
            LiveCommand::Back { .. } => "back",
            LiveCommand::Slate { .. } => "slate",
            LiveCommand::Switch { .. } => "switch",
            LiveCommand::ScheduleActions { .. } => "schedule-actions",
        }
    }

    pub fn event(&self) -> &str {
        match self {
            LiveCommand::Break { event, .. }
            | LiveCommand::Back { event, .. }
            | LiveCommand::Slate { event, .. }
            | LiveCommand::Switch { event, .. }
            | LiveCommand::ScheduleActions { event } => event,
        }
    }

    /// Viewers may read the schedule; everything else is an operator's.
    pub fn role(&self) -> Role {
        WORDS.iter().find(|(w, _, _)| *w == self.word()).map_or(Role::Operator, |(_, r, _)| *r)
    }

    /// Whether it writes to the channel's schedule.
    pub fn changes_aws(&self) -> bool {
        !matches!(self, LiveCommand::ScheduleActions { .. })
    }
}

/// An event the grammar may name, with the zone its `at` times are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventZone<'a> {
    pub id: &'a str,
    pub tz: Tz,
}

/// Why a duration word is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationProblem {
    NotADuration,
    Zero,
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("say what to do: `break`, `back`, `slate`, `switch` or `schedule-actions`")]
    Empty,
    #[error("no command `{given}`{}", did_you_mean(.suggestion))]
    UnknownCommand { given: String, suggestion: Option<String> },
    #[error("`{command}` needs an event{}", example(.command, .suggestions))]
    MissingEvent { command: &'static str, suggestions: Vec<String> },
    #[error("no event `{given}`{}", no_event(.suggestion))]
    UnknownEvent { given: String, suggestion: Option<String> },
    #[error("{}", duration_message(.given, .problem))]
    BadDuration { given: String, problem: DurationProblem },
    #[error("`at` needs a time: `at 20:15` or `at 20:15:30`")]
    MissingTime,
    #[error("`{given}` is not a time of day: write HH:MM or HH:MM:SS")]
    BadTime { given: String },
    #[error("{given} does not exist on {date} in {tz}: the clocks skip it")]
    SkippedTime { given: String, date: NaiveDate, tz: Tz },
    #[error("`slate` takes on or off: `/ott slate EVENT on`")]
    MissingSlate,
    #[error("`{given}`: `slate` takes on or off")]
    BadSlate { given: String },
    #[error("`switch` needs where to: `/ott switch EVENT primary|backup|ATTACHMENT`")]
    MissingTarget,
    #[error("`{command}` acts now: only `break` takes `at`")]
    AtOnlyForBreak { command: &'static str },
    #[error("`{given}`: {}", usage(.command))]
    Unexpected { command: &'static str, given: String },
    #[error("`{given}` is not a splice event id: a whole number up to 4294967295, as `schedule-actions` shows")]
    BadSpliceId { given: String },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref().map_or_else(String::new, |s| format!(": did you mean `{s}`?"))
}

fn no_event(s: &Option<String>) -> String {
    s.as_ref().map_or_else(|| ": `/ott list` shows them".to_string(), |s| format!(": did you mean `{s}`?"))
}

fn example(command: &str, suggestions: &[String]) -> String {
    match suggestions.first() {
        None => format!(": `/ott {command} EVENT`"),
        Some(e) => format!(", e.g. `/ott {command} {e}`"),
    }
}

fn usage(command: &str) -> String {
    match command {
        "break" => "`break` takes a duration and `at TIME`: `/ott break EVENT 90s at 20:15`".into(),
        "slate" => "`slate` takes on or off: `/ott slate EVENT on`".into(),
        "switch" => "`switch` takes one target: `/ott switch EVENT backup`".into(),
        "back" => "`back` takes at most a splice event id: `/ott back EVENT [SPLICE_ID]`".into(),
        _ => format!("`{command}` takes only the event: `/ott {command} EVENT`"),
    }
}

fn duration_message(given: &str, problem: &DurationProblem) -> String {
    match problem {
        DurationProblem::NotADuration => {
            format!("`{given}` is not a duration: say 90s, 1m30s, 2m or 90 (seconds)")
        }
        DurationProblem::Zero => {
            format!("`{given}` is no break: leave the duration out for a break that lasts until `back`")
        }
        DurationProblem::TooLong => {
            let max = Ticks::from_millis(Ticks::MAX_MILLIS).unwrap_or(Ticks::MAX);
            format!("`{given}` is longer than SCTE-35 can carry: at most {max}")
        }
    }
}

/// Parse the text after `/ott` (or the CLI's arguments, joined). `events`: the events that
/// exist, with their zones; `now`: the clock `at` times are read against.
pub fn parse(text: &str, events: &[EventZone<'_>], now: DateTime<Utc>) -> Result<LiveCommand, CommandError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else { return Err(CommandError::Empty) };
    let lower = first.to_lowercase();
    let Some(&(command, _, _)) = WORDS.iter().find(|(w, _, _)| *w == lower) else {
        return Err(CommandError::UnknownCommand {
            given: first.to_string(),
            suggestion: closest(&lower, WORDS.iter().map(|(w, _, _)| *w)),
        });
    };
    let Some(given) = words.next() else {
        return Err(CommandError::MissingEvent {
            command,
            suggestions: events.iter().take(3).map(|e| e.id.to_string()).collect(),
        });
    };
    let Some(ev) = events.iter().find(|e| e.id == given) else {
        return Err(CommandError::UnknownEvent {
            given: given.to_string(),
            suggestion: closest(given, events.iter().map(|e| e.id)),
        });
    };
    let event = ev.id.to_string();
    let rest: Vec<&str> = words.collect();
    let unexpected = |w: &str| match w.eq_ignore_ascii_case("at") && command != "break" {
        true => CommandError::AtOnlyForBreak { command },
        false => CommandError::Unexpected { command, given: w.to_string() },
    };
    let only = |n: usize| match rest.get(n) {
        Some(w) => Err(unexpected(w)),
        None => Ok(()),
    };
    match command {
        "break" => {
            let (mut duration, mut start, mut i) = (None, Start::Immediate, 0);
            while let Some(w) = rest.get(i) {
                if w.eq_ignore_ascii_case("at") && start == Start::Immediate {
                    let Some(t) = rest.get(i + 1) else { return Err(CommandError::MissingTime) };
                    start = Start::Fixed(resolve_clock(t, parse_clock(t)?, now, ev.tz)?);
                    i += 2;
                } else if duration.is_none() && !w.eq_ignore_ascii_case("at") {
                    duration = Some(parse_duration(w)?);
                    i += 1;
                } else {
                    return Err(unexpected(w));
                }
            }
            Ok(LiveCommand::Break { event, duration, start })
        }
        "slate" => {
            let on = match rest.first() {
                None => return Err(CommandError::MissingSlate),
                Some(w) if w.eq_ignore_ascii_case("on") => true,
                Some(w) if w.eq_ignore_ascii_case("off") => false,
                Some(w) => return Err(CommandError::BadSlate { given: w.to_string() }),
            };
            only(1)?;
            Ok(LiveCommand::Slate { event, on })
        }
        "switch" => {
            let to = match rest.first() {
                None => return Err(CommandError::MissingTarget),
                Some(w) if w.eq_ignore_ascii_case("primary") => SwitchTarget::Primary,
                Some(w) if w.eq_ignore_ascii_case("backup") => SwitchTarget::Backup,
                Some(w) if w.eq_ignore_ascii_case("at") => return Err(unexpected(w)),
                Some(w) => SwitchTarget::Attachment(w.to_string()),
            };
            only(1)?;
            Ok(LiveCommand::Switch { event, to })
        }
        "back" => {
            let splice = match rest.first() {
                None => None,
                Some(w) if w.eq_ignore_ascii_case("at") => return Err(unexpected(w)),
                Some(w) => Some(w.parse::<u32>().map_err(|_| CommandError::BadSpliceId { given: w.to_string() })?),
            };
            only(usize::from(splice.is_some())).map(|_| LiveCommand::Back { event, splice })
        }
        _ => only(0).map(|_| LiveCommand::ScheduleActions { event }),
    }
}

/// The text that parses back to `c` (times in the event's zone `tz`, read against a `now`
/// within 12 h of them).
pub fn format(c: &LiveCommand, tz: Tz) -> String {
    let mut text = format!("{} {}", c.word(), c.event());
    match c {
        LiveCommand::Break { duration, start, .. } => {
            if let Some(d) = duration {
                text.push_str(&format!(" {d}"));
            }
            if let Start::Fixed(at) = start {
                text.push_str(&at.with_timezone(&tz).format(" at %H:%M:%S").to_string());
            }
        }
        LiveCommand::Slate { on, .. } => text.push_str(if *on { " on" } else { " off" }),
        LiveCommand::Switch { to, .. } => text.push_str(&format!(" {to}")),
        LiveCommand::Back { splice: Some(id), .. } => text.push_str(&format!(" {id}")),
        LiveCommand::Back { splice: None, .. } | LiveCommand::ScheduleActions { .. } => {}
    }
    text
}

/// As the audit trail keeps it: the event, the command's text (fixed times in UTC) and, for
/// a break, its duration in ticks and its instant.
impl serde::Serialize for LiveCommand {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("LiveCommand", 4)?;
        st.serialize_field("event", self.event())?;
        st.serialize_field("command", &format(self, chrono_tz::UTC))?;
        if let LiveCommand::Break { duration, start, .. } = self {
            st.serialize_field("duration_ticks", &duration.map(Ticks::get))?;
            let at = match start {
                Start::Fixed(at) => Some(super::timing::fixed_time(*at)),
                Start::Immediate => None,
            };
            st.serialize_field("at", &at)?;
        }
        st.end()
    }
}

impl fmt::Display for SwitchTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchTarget::Primary => f.write_str("primary"),
            SwitchTarget::Backup => f.write_str("backup"),
            SwitchTarget::Attachment(a) => f.write_str(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    const EVENTS: &[EventZone<'static>] =
        &[EventZone { id: "final", tz: Paris }, EventZone { id: "semi-1", tz: chrono_tz::UTC }];

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn ticks(ms: u64) -> Option<Ticks> {
        Ticks::from_millis(ms).ok()
    }

    const NOW: &str = "2026-12-18T19:00:00Z"; // 20:00 in Paris

    fn p(text: &str) -> Result<LiveCommand, CommandError> {
        parse(text, EVENTS, t(NOW))
    }

    #[test]
    fn the_five_commands_parse() {
        let ev = || "final".to_string();
        assert_eq!(
            p("break final 90s"),
            Ok(LiveCommand::Break { event: ev(), duration: ticks(90_000), start: Start::Immediate })
        );
        assert_eq!(p("break final"), Ok(LiveCommand::Break { event: ev(), duration: None, start: Start::Immediate }));
        assert_eq!(
            p("BREAK final at 20:15 2m"),
            Ok(LiveCommand::Break {
                event: ev(),
                duration: ticks(120_000),
                start: Start::Fixed(t("2026-12-18T19:15:00Z"))
            })
        );
        assert_eq!(p("back final"), Ok(LiveCommand::Back { event: ev(), splice: None }));
        assert_eq!(p("back final 77"), Ok(LiveCommand::Back { event: ev(), splice: Some(77) }));
        assert_eq!(p("back final -1"), Err(CommandError::BadSpliceId { given: "-1".into() }));
        assert!(matches!(p("back final 77 78"), Err(CommandError::Unexpected { command: "back", .. })));
        assert_eq!(p("slate final ON"), Ok(LiveCommand::Slate { event: ev(), on: true }));
        assert_eq!(p("slate final off"), Ok(LiveCommand::Slate { event: ev(), on: false }));
        assert_eq!(p("switch final Backup"), Ok(LiveCommand::Switch { event: ev(), to: SwitchTarget::Backup }));
        assert_eq!(p("switch final primary"), Ok(LiveCommand::Switch { event: ev(), to: SwitchTarget::Primary }));
        assert_eq!(
            p("switch final slate-loop"),
            Ok(LiveCommand::Switch { event: ev(), to: SwitchTarget::Attachment("slate-loop".into()) })
        );
        assert_eq!(p("schedule-actions final"), Ok(LiveCommand::ScheduleActions { event: ev() }));
    }

    #[test]
    fn viewers_read_and_operators_write() {
        let read = LiveCommand::ScheduleActions { event: "final".into() };
        assert_eq!((read.role(), read.changes_aws()), (Role::Viewer, false));
        for text in ["break final", "back final", "slate final on", "switch final backup"] {
            let c = p(text).expect(text);
            assert_eq!((c.role(), c.changes_aws()), (Role::Operator, true), "{text}");
        }
    }

    #[test]
    fn errors_name_the_bad_word() {
        let msg = |text: &str| p(text).expect_err(text).to_string();
        assert_eq!(msg("braek final"), "no command `braek`: did you mean `break`?");
        assert_eq!(msg("bakc final"), "no command `bakc`: did you mean `back`?");
        assert_eq!(msg("schedule final"), "no command `schedule`: did you mean `schedule-actions`?");
        assert_eq!(msg("break finall"), "no event `finall`: did you mean `final`?");
        assert_eq!(msg("break xyzzy"), "no event `xyzzy`: `/ott list` shows them");
        assert_eq!(msg("break"), "`break` needs an event, e.g. `/ott break final`");
        assert_eq!(msg("   "), "say what to do: `break`, `back`, `slate`, `switch` or `schedule-actions`");
        assert_eq!(msg("break final 90x"), "`90x` is not a duration: say 90s, 1m30s, 2m or 90 (seconds)");
        assert_eq!(msg("break final at"), "`at` needs a time: `at 20:15` or `at 20:15:30`");
        assert_eq!(msg("break final at 25:00"), "`25:00` is not a time of day: write HH:MM or HH:MM:SS");
        assert_eq!(
            msg("break final 90s 30s"),
            "`30s`: `break` takes a duration and `at TIME`: `/ott break EVENT 90s at 20:15`"
        );
        assert_eq!(
            msg("break final at 20:15 at 20:16"),
            "`at`: `break` takes a duration and `at TIME`: `/ott break EVENT 90s at 20:15`"
        );
        assert_eq!(
            msg("back final now"),
            "`now` is not a splice event id: a whole number up to 4294967295, as `schedule-actions` shows"
        );
        assert_eq!(msg("back final 7 8"), "`8`: `back` takes at most a splice event id: `/ott back EVENT [SPLICE_ID]`");
        assert_eq!(msg("back final at 20:15"), "`back` acts now: only `break` takes `at`");
        assert_eq!(msg("switch final at 20:15"), "`switch` acts now: only `break` takes `at`");
        assert_eq!(msg("slate final"), "`slate` takes on or off: `/ott slate EVENT on`");
        assert_eq!(msg("slate final up"), "`up`: `slate` takes on or off");
        assert_eq!(msg("slate final on now"), "`now`: `slate` takes on or off: `/ott slate EVENT on`");
        assert_eq!(msg("switch final"), "`switch` needs where to: `/ott switch EVENT primary|backup|ATTACHMENT`");
        assert_eq!(
            msg("switch final backup primary"),
            "`primary`: `switch` takes one target: `/ott switch EVENT backup`"
        );
        assert_eq!(
            msg("schedule-actions final all"),
            "`all`: `schedule-actions` takes only the event: `/ott schedule-actions EVENT`"
        );
    }

    fn command() -> impl Strategy<Value = LiveCommand> {
        let event = prop::sample::select(vec!["final", "semi-1"]).prop_map(str::to_string);
        let duration =
            prop::option::of((1..=Ticks::MAX_MILLIS).prop_filter_map("ticks", |ms| Ticks::from_millis(ms).ok()));
        // Whole seconds within 12 h of NOW, either way.
        let start = prop_oneof![
            Just(Start::Immediate),
            (-43_199i64..=43_200).prop_map(|s| Start::Fixed(t(NOW) + Duration::seconds(s))),
        ];
        let target = prop_oneof![
            Just(SwitchTarget::Primary),
            Just(SwitchTarget::Backup),
            "[a-z][a-z0-9_-]{0,30}"
                .prop_filter("keywords", |a| !["primary", "backup", "at"].contains(&a.as_str()))
                .prop_map(SwitchTarget::Attachment),
        ];
        prop_oneof![
            (event.clone(), duration, start).prop_map(|(event, duration, start)| LiveCommand::Break {
                event,
                duration,
                start
            }),
            (event.clone(), proptest::option::of(any::<u32>()))
                .prop_map(|(event, splice)| LiveCommand::Back { event, splice }),
            (event.clone(), any::<bool>()).prop_map(|(event, on)| LiveCommand::Slate { event, on }),
            (event.clone(), target).prop_map(|(event, to)| LiveCommand::Switch { event, to }),
            event.prop_map(|event| LiveCommand::ScheduleActions { event }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = p(&text);
        }

        #[test]
        fn a_command_round_trips_through_its_text(c in command()) {
            // In UTC: in Paris, a repeated hour's other instant may be nearer than the one meant.
            let events = [EventZone { id: "final", tz: chrono_tz::UTC }, EventZone { id: "semi-1", tz: chrono_tz::UTC }];
            prop_assert_eq!(parse(&format(&c, chrono_tz::UTC), &events, t(NOW)), Ok(c));
        }
    }
}
