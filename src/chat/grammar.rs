//! `/ott` commands: the text a chat user types, parsed into an [`Operation`] for the
//! operations layer, or an error that says what was meant ("did you mean `start`?", "no event
//! `finall`: did you mean `final`?"). Pure; the same on Slack and Discord.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use crate::live::EventZone;
use crate::live::{self, CommandError};
use crate::ops::Operation;

/// A parsed `/ott` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// Every event with its phase now and its next change.
    List,
    /// Anything else is an operation of the operations layer.
    Op(Operation),
}

/// The words of `/ott`, with whether they take an event (`Some(true)`: required,
/// `Some(false)`: optional, `None`: none) and what they say in `help`.
pub const WORDS: &[(&str, Option<bool>, &str)] = &[
    ("help", None, "what you may run"),
    ("list", None, "every event, its phase and next change"),
    ("schedule", None, "timed events with their next phase changes"),
    ("status", Some(false), "phase, resources, channel state"),
    ("links", Some(true), "playback URLs and test players"),
    ("plan", Some(true), "what deploy would create"),
    ("deploy", Some(true), "create the workflow"),
    ("start", Some(true), "start the channel: on air"),
    ("stop", Some(true), "stop the channel"),
    ("teardown", Some(true), "delete everything the event owns"),
    ("restart", Some(true), "restart a pipeline of a running channel (0 or 1)"),
    ("hold", Some(true), "the daemon leaves the event alone"),
    ("resume", Some(true), "the schedule is in control again"),
    ("alerts", Some(false), "active MediaLive alerts"),
    ("ack", Some(true), "a human has this alert (its number)"),
    ("audit", Some(false), "who did what"),
    ("rotate-preview", Some(true), "a new preview page link: the old one stops opening"),
    ("cost", Some(true), "what the event will cost (for N viewers) and what its runs cost"),
    ("break", Some(true), "an ad break (SCTE-35) now or at a time: 90s, at 20:15"),
    ("back", Some(true), "return to the network: ends the open break"),
    ("slate", Some(true), "the full-frame slate image on or off"),
    ("switch", Some(true), "switch input: primary, backup or an attachment"),
    ("schedule-actions", Some(true), "what the channel's schedule holds, the active input"),
];

/// Whether `word` is one of live control's (parsed by [`crate::live::command`]).
pub fn is_live(word: &str) -> bool {
    live::command::WORDS.iter().any(|(w, _, _)| w.eq_ignore_ascii_case(word))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    UnknownCommand {
        given: String,
        suggestion: Option<String>,
    },
    MissingEvent {
        command: &'static str,
        suggestions: Vec<String>,
    },
    UnknownEvent {
        given: String,
        suggestion: Option<String>,
    },
    BadAlert {
        given: String,
    },
    BadPipeline {
        given: String,
    },
    BadAudience {
        given: String,
    },
    TooManyWords {
        command: &'static str,
    },
    /// A live-control command's own error (its grammar is [`crate::live::command`]'s).
    Live(CommandError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "say what to do: `/ott help` lists the commands"),
            ParseError::UnknownCommand { given, suggestion: Some(s) } => {
                write!(f, "no command `{given}`: did you mean `{s}`?")
            }
            ParseError::UnknownCommand { given, suggestion: None } => {
                write!(f, "no command `{given}`: `/ott help` lists the commands")
            }
            ParseError::MissingEvent { command, suggestions } if suggestions.is_empty() => {
                write!(f, "`{command}` needs an event: `/ott {command} EVENT`")
            }
            ParseError::MissingEvent { command, suggestions } => {
                write!(f, "`{command}` needs an event, e.g. `/ott {command} {}`", suggestions.join("`, `"))
            }
            ParseError::UnknownEvent { given, suggestion: Some(s) } => {
                write!(f, "no event `{given}`: did you mean `{s}`?")
            }
            ParseError::UnknownEvent { given, suggestion: None } => {
                write!(f, "no event `{given}`: `/ott list` shows them")
            }
            ParseError::BadAlert { given } => write!(f, "`{given}` is not an alert number (see `/ott alerts`)"),
            ParseError::BadPipeline { given } => {
                write!(f, "`{given}` is not a pipeline: MediaLive pipelines are 0 and 1")
            }
            ParseError::BadAudience { given } => {
                write!(f, "`{given}` is not a number of viewers: `/ott cost EVENT 5000`")
            }
            ParseError::TooManyWords { command: "cost" } => {
                write!(f, "`cost` takes an event and a number of viewers: `/ott cost EVENT 5000`")
            }
            ParseError::TooManyWords { command: "restart" } => {
                write!(f, "`restart` takes an event and a pipeline: `/ott restart EVENT 0`")
            }
            ParseError::TooManyWords { command } => write!(f, "`{command}` takes at most one argument"),
            ParseError::Live(e) => write!(f, "{e}"),
        }
    }
}

/// The closest of `candidates` to `given`, if close enough to be a typo.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let given = given.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&given, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1) || c.starts_with(given.as_str()))
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c.to_string())
}

/// Parse the text after `/ott`. `events`: the events that exist (for "did you mean") with
/// their zones (for live control's `at` times), `now` for those times.
pub fn parse(text: &str, events: &[EventZone<'_>], now: DateTime<Utc>) -> Result<Command, ParseError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else { return Err(ParseError::Empty) };
    let word = first.to_lowercase();
    if is_live(&word) {
        return live::parse(text, events, now).map(|c| Command::Op(Operation::Live(c))).map_err(ParseError::Live);
    }
    let names: Vec<&str> = events.iter().map(|e| e.id).collect();
    let events = names.as_slice();
    let Some((command, takes, _)) = WORDS.iter().find(|(w, _, _)| *w == word) else {
        return Err(ParseError::UnknownCommand {
            given: first.to_string(),
            suggestion: closest(&word, WORDS.iter().map(|(w, _, _)| *w)),
        });
    };
    let arg = words.next();
    let second = if matches!(*command, "restart" | "cost") { words.next() } else { None };
    if words.next().is_some() {
        return Err(ParseError::TooManyWords { command });
    }
    let event = |required: bool| -> Result<Option<String>, ParseError> {
        match arg {
            None if required => Err(ParseError::MissingEvent {
                command,
                suggestions: events.iter().take(3).map(|e| e.to_string()).collect(),
            }),
            None => Ok(None),
            Some(e) if events.contains(&e) => Ok(Some(e.to_string())),
            Some(e) => {
                Err(ParseError::UnknownEvent { given: e.to_string(), suggestion: closest(e, events.iter().copied()) })
            }
        }
    };
    if takes.is_none() && arg.is_some() {
        return Err(ParseError::TooManyWords { command });
    }
    let required = |e: Result<Option<String>, ParseError>| e.map(|e| e.unwrap_or_default());
    Ok(match *command {
        "help" => Command::Help,
        "list" => Command::List,
        "schedule" => Command::Op(Operation::Schedule),
        "status" => Command::Op(Operation::Status { event: event(false)? }),
        "alerts" => Command::Op(Operation::Alerts { event: event(false)?, all: false }),
        "audit" => Command::Op(Operation::Audit { event: event(false)?, since: None, all: false }),
        "ack" => {
            let given = arg.unwrap_or_default();
            let alert =
                given.trim_start_matches('#').parse().map_err(|_| ParseError::BadAlert { given: given.into() })?;
            Command::Op(Operation::Ack { alert })
        }
        "links" => Command::Op(Operation::Links { event: required(event(true))? }),
        "plan" => Command::Op(Operation::Plan { event: required(event(true))? }),
        "deploy" => Command::Op(Operation::Deploy { event: required(event(true))? }),
        "start" => Command::Op(Operation::Start { event: required(event(true))? }),
        "stop" => Command::Op(Operation::Stop { event: required(event(true))? }),
        "teardown" => Command::Op(Operation::Teardown { event: required(event(true))? }),
        "hold" => Command::Op(Operation::Hold { event: required(event(true))? }),
        "rotate-preview" => Command::Op(Operation::RotatePreview { event: required(event(true))? }),
        "cost" => {
            let event = required(event(true))?;
            let audience = match second {
                None => crate::cost::DEFAULT_AUDIENCE,
                Some(n) => {
                    n.replace([',', '_'], "").parse().map_err(|_| ParseError::BadAudience { given: n.into() })?
                }
            };
            Command::Op(Operation::Cost { event, audience })
        }
        "restart" => {
            let event = required(event(true))?;
            let given = second.unwrap_or("0");
            let pipeline = match given.parse::<u8>() {
                Ok(p @ (0 | 1)) => p,
                _ => return Err(ParseError::BadPipeline { given: given.to_string() }),
            };
            Command::Op(Operation::RestartPipeline { event, pipeline })
        }
        _ => Command::Op(Operation::Resume { event: required(event(true))? }),
    })
}

/// The text that parses back to `c` (for help texts and buttons); live control's `at` times
/// in `tz`, the event's zone.
pub fn format_in(c: &Command, tz: Tz) -> String {
    match c {
        Command::Op(Operation::Live(l)) => live::command::format(l, tz),
        other => format(other),
    }
}

/// The text that parses back to `c`, `at` times in UTC (see [`format_in`]).
pub fn format(c: &Command) -> String {
    let with = |w: &str, e: &Option<String>| e.as_ref().map_or_else(|| w.to_string(), |e| format!("{w} {e}"));
    match c {
        Command::Help => "help".into(),
        Command::List => "list".into(),
        Command::Op(op) => match op {
            Operation::Schedule => "schedule".into(),
            Operation::Status { event } => with("status", event),
            Operation::Alerts { event, .. } => with("alerts", event),
            Operation::Audit { event, .. } => with("audit", event),
            Operation::Ack { alert } => format!("ack {alert}"),
            Operation::RestartPipeline { event, pipeline } => format!("restart {event} {pipeline}"),
            Operation::Cost { event, audience } => format!("cost {event} {audience}"),
            Operation::Live(l) => live::command::format(l, chrono_tz::UTC),
            other => format!("{} {}", other.name(), other.event().unwrap_or_default()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EVENTS: &[EventZone<'static>] = &[
        EventZone { id: "final", tz: chrono_tz::Europe::Paris },
        EventZone { id: "semi-1", tz: chrono_tz::UTC },
        EventZone { id: "magazine", tz: chrono_tz::UTC },
    ];

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-18T19:00:00Z").expect("time").with_timezone(&Utc)
    }

    fn parse(text: &str, events: &[EventZone<'_>]) -> Result<Command, ParseError> {
        super::parse(text, events, now())
    }

    #[test]
    fn commands_parse_into_operations() {
        assert_eq!(parse("start final", EVENTS), Ok(Command::Op(Operation::Start { event: "final".into() })));
        assert_eq!(parse("  STATUS  ", EVENTS), Ok(Command::Op(Operation::Status { event: None })));
        assert_eq!(parse("ack #12", EVENTS), Ok(Command::Op(Operation::Ack { alert: 12 })));
        assert_eq!(parse("help", EVENTS), Ok(Command::Help));
    }

    #[test]
    fn live_words_parse_into_live_operations() {
        use crate::live::{LiveCommand, Start, Ticks};
        let c = parse("break final 90s", EVENTS).expect("break");
        let want =
            LiveCommand::Break { event: "final".into(), duration: Ticks::from_secs(90).ok(), start: Start::Immediate };
        assert_eq!(c, Command::Op(Operation::Live(want)));
        // `at` is the event's wall clock (Paris, UTC+1 in December), and formats back in it.
        let at = parse("break final 30s at 20:15", EVENTS).expect("at");
        assert_eq!(format_in(&at, chrono_tz::Europe::Paris), "break final 30s at 20:15:00");
        assert_eq!(parse(&format_in(&at, chrono_tz::Europe::Paris), EVENTS), Ok(at));
        let e = parse("slate final up", EVENTS).expect_err("bad word");
        assert!(matches!(e, ParseError::Live(_)), "{e:?}");
        assert!(e.to_string().contains("`up`"), "{e}");
        assert!(
            matches!(parse("breka final", EVENTS), Err(ParseError::UnknownCommand { suggestion: Some(s), .. }) if s == "break")
        );
    }

    #[test]
    fn typos_get_a_did_you_mean() {
        let e = parse("strat final", EVENTS).expect_err("typo");
        assert_eq!(e.to_string(), "no command `strat`: did you mean `start`?");
        let e = parse("start finall", EVENTS).expect_err("typo");
        assert_eq!(e.to_string(), "no event `finall`: did you mean `final`?");
        let e = parse("start", EVENTS).expect_err("missing");
        assert!(e.to_string().starts_with("`start` needs an event, e.g. `/ott start final`"), "{e}");
        assert_eq!(parse("start final now", EVENTS), Err(ParseError::TooManyWords { command: "start" }));
        assert!(matches!(parse("ack twelve", EVENTS), Err(ParseError::BadAlert { .. })));
        assert_eq!(
            parse("restart final 1", EVENTS),
            Ok(Command::Op(Operation::RestartPipeline { event: "final".into(), pipeline: 1 }))
        );
        assert!(matches!(parse("restart final 2", EVENTS), Err(ParseError::BadPipeline { .. })));
        assert_eq!(
            parse("cost final 5,000", EVENTS),
            Ok(Command::Op(Operation::Cost { event: "final".into(), audience: 5000 }))
        );
        assert_eq!(
            parse("cost final", EVENTS),
            Ok(Command::Op(Operation::Cost { event: "final".into(), audience: crate::cost::DEFAULT_AUDIENCE }))
        );
        assert!(parse("cost final lots", EVENTS).expect_err("words").to_string().contains("not a number of viewers"));
        assert_eq!(parse("", EVENTS), Err(ParseError::Empty));
        assert!(matches!(parse("xyzzy", EVENTS), Err(ParseError::UnknownCommand { suggestion: None, .. })));
    }

    fn command() -> impl Strategy<Value = Command> {
        let event = prop::sample::select(EVENTS.iter().map(|e| e.id).collect::<Vec<_>>()).prop_map(str::to_string);
        let live = |c: crate::live::LiveCommand| Command::Op(Operation::Live(c));
        prop_oneof![
            (event.clone(), 1u64..100_000).prop_map(move |(event, ms)| live(crate::live::LiveCommand::Break {
                event,
                duration: crate::live::Ticks::from_millis(ms).ok(),
                start: crate::live::Start::Immediate,
            })),
            (event.clone(), any::<bool>())
                .prop_map(move |(event, on)| live(crate::live::LiveCommand::Slate { event, on })),
            event.clone().prop_map(move |event| live(crate::live::LiveCommand::Switch {
                event,
                to: crate::live::SwitchTarget::Backup,
            })),
            Just(Command::Help),
            Just(Command::List),
            Just(Command::Op(Operation::Schedule)),
            prop::option::of(event.clone()).prop_map(|event| Command::Op(Operation::Status { event })),
            event.clone().prop_map(|event| Command::Op(Operation::Start { event })),
            event.clone().prop_map(|event| Command::Op(Operation::Teardown { event })),
            event.clone().prop_map(|event| Command::Op(Operation::Links { event })),
            (0i64..100_000).prop_map(|alert| Command::Op(Operation::Ack { alert })),
            (event.clone(), 0u8..2)
                .prop_map(|(event, pipeline)| Command::Op(Operation::RestartPipeline { event, pipeline })),
            (event.clone(), 0u64..10_000_000)
                .prop_map(|(event, audience)| Command::Op(Operation::Cost { event, audience })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text, EVENTS);
        }

        #[test]
        fn a_command_round_trips_through_its_text(c in command()) {
            prop_assert_eq!(parse(&format(&c), EVENTS), Ok(c));
        }
    }
}
