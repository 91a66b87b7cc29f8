//! The `/ott` application command: its definition (one place, registered by the gateway
//! client and shown in the README) and the way back from an interaction's options to the
//! `/ott …` text the front desk parses. Pure.
//!
//! Each word of [`grammar::WORDS`] is a subcommand; words that take an event have an `event`
//! string option with autocomplete (required when the grammar requires it), `restart` also
//! takes `pipeline` (0 or 1) and `ack` takes `alert` (its number).

use serde_json::{json, Value};

use crate::chat::grammar;

/// The command's name: `/ott`.
pub const NAME: &str = "ott";

/// Option types (Discord's `ApplicationCommandOptionType`).
const SUB_COMMAND: u64 = 1;
const STRING: u64 = 3;
const INTEGER: u64 = 4;

/// Discord's limit on descriptions.
const DESCRIPTION_MAX: usize = 100;

/// The options a subcommand takes, in the order their values form the `/ott` text.
fn options_of(word: &str, takes: Option<bool>) -> Vec<Value> {
    let event = |required: bool| json!({"type": STRING, "name": "event", "description": "the event (its id)", "required": required, "autocomplete": true});
    match (word, takes) {
        ("ack", _) => vec![json!({
            "type": INTEGER, "name": "alert", "description": "the alert's number (see /ott alerts)",
            "required": true, "min_value": 1
        })],
        ("restart", _) => vec![
            event(true),
            json!({
                "type": INTEGER, "name": "pipeline", "description": "the MediaLive pipeline: 0 or 1", "required": true,
                "choices": [{"name": "0", "value": 0}, {"name": "1", "value": 1}]
            }),
        ],
        ("cost", _) => vec![
            event(true),
            json!({"type": INTEGER, "name": "audience", "description": "viewers assumed for origination and CloudFront", "required": false, "min_value": 0}),
        ],
        ("break", _) => vec![
            event(true),
            json!({"type": STRING, "name": "duration", "description": "how long: 90s, 2m, 1m30s (none: until /ott back)", "required": false}),
            json!({"type": STRING, "name": "at", "description": "a time in the event's zone: 20:15 or 20:15:30 (none: now)", "required": false}),
        ],
        ("back", _) => vec![
            event(true),
            json!({"type": INTEGER, "name": "splice_id", "description": "a break started elsewhere, by its splice event id (none: ottd's open break)", "required": false, "min_value": 0, "max_value": u32::MAX}),
        ],
        ("slate", _) => vec![
            event(true),
            json!({
                "type": STRING, "name": "state", "description": "on or off", "required": true,
                "choices": [{"name": "on", "value": "on"}, {"name": "off", "value": "off"}]
            }),
        ],
        ("switch", _) => vec![
            event(true),
            json!({"type": STRING, "name": "to", "description": "primary, backup or an input attachment's name", "required": true}),
        ],
        (_, Some(required)) => vec![event(required)],
        (_, None) => vec![],
    }
}

/// The `/ott` command, as `PUT …/commands` takes it (an array of one command).
pub fn definitions() -> Value {
    let subcommands: Vec<Value> = grammar::WORDS
        .iter()
        .map(|(word, takes, what)| {
            let description = crate::chat::message::cut(what, DESCRIPTION_MAX);
            json!({"type": SUB_COMMAND, "name": word, "description": description, "options": options_of(word, *takes)})
        })
        .collect();
    json!([{
        "name": NAME,
        "type": 1,
        "description": "Live OTT events: status, deploy, start, stop, alerts",
        "options": subcommands,
    }])
}

/// Why an interaction's data is not an `/ott` command ottd can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("not the /{NAME} command")]
    NotOurs,
    #[error("no subcommand given")]
    NoSubcommand,
}

/// An option's value as a word of the text: strings as typed, numbers as digits.
fn word_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `/ott` text of an APPLICATION_COMMAND's `data`: the subcommand, then its option values
/// in the definition's order (`restart final 1`, `ack 12`, `status`).
pub fn text_of(data: &Value) -> Result<String, OptionsError> {
    if data["name"] != NAME {
        return Err(OptionsError::NotOurs);
    }
    let sub = data["options"].as_array().and_then(|o| o.first()).ok_or(OptionsError::NoSubcommand)?;
    let word = sub["name"].as_str().filter(|w| !w.is_empty()).ok_or(OptionsError::NoSubcommand)?;
    let given = sub["options"].as_array().cloned().unwrap_or_default();
    let mut words = vec![word.to_string()];
    // Known words keep the definition's order; an unknown one is left to the grammar, which
    // says what it meant.
    let takes = grammar::WORDS.iter().find(|(w, _, _)| *w == word).map(|(_, t, _)| *t).unwrap_or(None);
    for o in options_of(word, takes) {
        let value = given.iter().find(|g| g["name"] == o["name"]).and_then(|g| word_of(&g["value"]));
        let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
        // `at` is a keyword of the grammar before its time.
        if o["name"] == "at" {
            words.push("at".to_string());
        }
        words.push(value);
    }
    Ok(words.join(" "))
}

/// The text typed so far in the focused option of an APPLICATION_COMMAND_AUTOCOMPLETE.
pub fn focused(data: &Value) -> Option<String> {
    fn walk(options: &Value) -> Option<String> {
        for o in options.as_array()? {
            if o["focused"] == Value::Bool(true) {
                return Some(word_of(&o["value"]).unwrap_or_default());
            }
            if let Some(found) = walk(&o["options"]) {
                return Some(found);
            }
        }
        None
    }
    walk(&data["options"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(sub: &str, options: Value) -> Value {
        json!({"id": "1", "name": "ott", "type": 1, "options": [{"type": 1, "name": sub, "options": options}]})
    }

    #[test]
    fn every_word_of_the_grammar_is_a_subcommand_within_discord_limits() {
        let defs = definitions();
        let subs = defs[0]["options"].as_array().expect("subcommands");
        assert_eq!(subs.len(), grammar::WORDS.len());
        assert!(subs.len() <= 25, "Discord takes at most 25 subcommands");
        for ((word, takes, _), sub) in grammar::WORDS.iter().zip(subs) {
            assert_eq!(sub["name"], *word);
            let d = sub["description"].as_str().expect("description");
            assert!(!d.is_empty() && d.chars().count() <= DESCRIPTION_MAX, "{word}: {d}");
            let event = sub["options"].as_array().expect("options").iter().find(|o| o["name"] == "event").cloned();
            match (*word, takes) {
                ("ack", _) => assert!(event.is_none()),
                (_, Some(required)) => {
                    let e = event.expect("event option");
                    assert_eq!((e["required"].as_bool(), e["autocomplete"].as_bool()), (Some(*required), Some(true)));
                }
                (_, None) => assert!(event.is_none(), "{word}"),
            }
        }
    }

    #[test]
    fn options_become_the_text_the_grammar_parses() {
        let events = ["final", "semi-1"].map(|id| grammar::EventZone { id, tz: chrono_tz::UTC });
        let cases = [
            (
                data(
                    "break",
                    json!([{"type": 3, "name": "at", "value": "20:15"}, {"type": 3, "name": "duration", "value": "90s"},
                           {"type": 3, "name": "event", "value": "final"}]),
                ),
                "break final 90s at 20:15",
            ),
            (
                data(
                    "slate",
                    json!([{"type": 3, "name": "event", "value": "final"}, {"type": 3, "name": "state", "value": "off"}]),
                ),
                "slate final off",
            ),
            (
                data(
                    "back",
                    json!([{"type": 4, "name": "splice_id", "value": 90001}, {"type": 3, "name": "event", "value": "final"}]),
                ),
                "back final 90001",
            ),
            (data("back", json!([{"type": 3, "name": "event", "value": "final"}])), "back final"),
            (data("status", json!([])), "status"),
            (data("status", json!([{"type": 3, "name": "event", "value": "final"}])), "status final"),
            (data("ack", json!([{"type": 4, "name": "alert", "value": 12}])), "ack 12"),
            // Given in another order than defined: the definition's order wins.
            (
                data(
                    "restart",
                    json!([{"type": 4, "name": "pipeline", "value": 1}, {"type": 3, "name": "event", "value": "final"}]),
                ),
                "restart final 1",
            ),
            (data("start", json!([{"type": 3, "name": "event", "value": " semi-1 "}])), "start semi-1"),
        ];
        for (d, want) in cases {
            let text = text_of(&d).expect("text");
            assert_eq!(text, want);
            assert!(grammar::parse(&text, &events, chrono::Utc::now()).is_ok(), "{text}");
        }
        assert_eq!(text_of(&json!({"name": "other"})), Err(OptionsError::NotOurs));
        assert_eq!(text_of(&json!({"name": "ott", "options": []})), Err(OptionsError::NoSubcommand));
    }

    #[test]
    fn the_focused_option_is_found_inside_the_subcommand() {
        let d = data("start", json!([{"type": 3, "name": "event", "value": "fi", "focused": true}]));
        assert_eq!(focused(&d).as_deref(), Some("fi"));
        let d = data(
            "restart",
            json!([{"type": 3, "name": "event", "value": "fin"}, {"type": 4, "name": "pipeline", "value": "", "focused": true}]),
        );
        assert_eq!(focused(&d).as_deref(), Some(""));
        assert_eq!(focused(&data("status", json!([]))), None);
    }
}
