//! Names of the schedule actions ottd creates, and the splice event ids of its breaks.
//!
//! A name is `ottd-<event>-<nonce>-<kind>-<counter>` (`ottd-final-1a2b3c4d-break-17`), a pure
//! function of the event, the deployment's nonce, the command's kind and the channel's
//! counter. The counter is recorded with the command's intent, so a retried command makes the
//! same name and MediaLive's "already exists" tells the retry what happened (see
//! [`super::retry`]). Neither botocore's model nor the SDK constrains `ActionName` beyond
//! "unique within the schedule"; ottd keeps to `[A-Za-z0-9_-]` and at most
//! [`MAX_NAME_LEN`] characters, which every console and log shows unchanged. The literal
//! `ottd` (not the configured prefix) marks ottd's actions among ones added by hand: a
//! schedule belongs to one channel, so the prefix would separate nothing.

use std::fmt;

/// The longest action name ottd makes (a self-imposed bound: none is documented).
pub const MAX_NAME_LEN: usize = 128;

/// What marks an action as ottd's.
pub const PREFIX: &str = "ottd";

/// What an action does, as its name says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Break,
    /// The return that ends ottd's open break: named after the break (its counter), so two
    /// `back`s for one break are one action.
    Back,
    /// A return for a break by its splice event id (`back EVENT SPLICE_ID`, a break started
    /// elsewhere): named by the command's own counter, since such ids are anyone's.
    Return,
    SlateOn,
    SlateOff,
    Switch,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        ActionKind::Break,
        ActionKind::Back,
        ActionKind::Return,
        ActionKind::SlateOn,
        ActionKind::SlateOff,
        ActionKind::Switch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Break => "break",
            ActionKind::Back => "back",
            ActionKind::Return => "return",
            ActionKind::SlateOn => "slate-on",
            ActionKind::SlateOff => "slate-off",
            ActionKind::Switch => "switch",
        }
    }
}

/// A valid action name (see the module doc for the rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionName(String);

impl ActionName {
    /// Any name the schedule holds, ottd's or not, if it keeps to ottd's rules.
    pub fn parse(s: &str) -> Result<ActionName, NamingError> {
        if s.is_empty() || s.len() > MAX_NAME_LEN {
            return Err(NamingError::Length { len: s.len() });
        }
        match s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            Some(c) => Err(NamingError::Character { part: "name", given: s.to_string(), character: c }),
            None => Ok(ActionName(s.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parts of one of ottd's own names, or `None` for any other name.
    pub fn parts(&self) -> Option<NameParts> {
        let rest = self.0.strip_prefix(PREFIX)?.strip_prefix('-')?;
        let (rest, counter) = rest.rsplit_once('-')?;
        // No leading zeros or sign: one counter, one spelling.
        if (counter.starts_with('0') && counter != "0") || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let counter = counter.parse().ok()?;
        let (kind, rest) = ActionKind::ALL.into_iter().find_map(|k| Some((k, rest.strip_suffix(k.as_str())?)))?;
        let (event, nonce) = rest.strip_suffix('-')?.rsplit_once('-')?;
        (valid_event(event) && valid_nonce(nonce)).then(|| NameParts {
            event: event.to_string(),
            nonce: nonce.to_string(),
            kind,
            counter,
        })
    }
}

impl fmt::Display for ActionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one of ottd's action names is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts {
    pub event: String,
    pub nonce: String,
    pub kind: ActionKind,
    pub counter: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error("the {part} `{given}` can't be part of a MediaLive action name (`{character}`)")]
    Character { part: &'static str, given: String, character: char },
    #[error("the {part} of an action name can't be empty")]
    Empty { part: &'static str },
    #[error("an action name of {len} characters: ottd keeps them to 1-{MAX_NAME_LEN}")]
    Length { len: usize },
}

/// Event ids are `[a-z0-9-]` (`schedule::file::valid_id`); any ASCII letter passes here, and
/// no `_`, so the name splits back into its parts.
fn valid_event(e: &str) -> bool {
    !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Nonces are 8 hex digits (`plan::new_nonce`); no `-`, so the name splits back.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check(part: &'static str, given: &str, ok: impl Fn(char) -> bool) -> Result<(), NamingError> {
    if given.is_empty() {
        return Err(NamingError::Empty { part });
    }
    match given.chars().find(|c| !ok(*c)) {
        Some(character) => Err(NamingError::Character { part, given: given.to_string(), character }),
        None => Ok(()),
    }
}

/// `ottd-<event>-<nonce>-<kind>-<counter>`: the same inputs, the same name.
pub fn action_name(event: &str, nonce: &str, kind: ActionKind, counter: u32) -> Result<ActionName, NamingError> {
    check("event", event, |c| c.is_ascii_alphanumeric() || c == '-')?;
    check("deployment nonce", nonce, |c| c.is_ascii_alphanumeric())?;
    ActionName::parse(&format!("{PREFIX}-{event}-{nonce}-{}-{counter}", kind.as_str()))
}

/// The splice event id of the break the counter names. The counter grows by one per command
/// on a channel, and a channel (one deployment) starts with an empty schedule, so two splice
/// inserts of a channel never share an id, let alone while scheduled or active.
pub fn splice_event_id(counter: u32) -> u32 {
    counter
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_a_pure_function_of_their_parts() {
        let n = action_name("final", "1a2b3c4d", ActionKind::Break, 17);
        assert_eq!(n.as_ref().map(ActionName::as_str), Ok("ottd-final-1a2b3c4d-break-17"));
        assert_eq!(n, action_name("final", "1a2b3c4d", ActionKind::Break, 17), "a retry makes the same name");
        assert_ne!(n, action_name("final", "1a2b3c4d", ActionKind::Break, 18));
        let longest = action_name(&"e".repeat(24), "ffffffff", ActionKind::SlateOff, u32::MAX);
        assert_eq!(longest.map(|n| n.as_str().len()), Ok(4 + 1 + 24 + 1 + 8 + 1 + 9 + 1 + 10));
        assert_eq!(splice_event_id(17), 17);
    }

    #[test]
    fn bad_parts_are_named() {
        let e = action_name("fin al", "1a2b3c4d", ActionKind::Back, 1).expect_err("space");
        assert_eq!(e.to_string(), "the event `fin al` can't be part of a MediaLive action name (` `)");
        assert_eq!(action_name("", "1a", ActionKind::Back, 1), Err(NamingError::Empty { part: "event" }));
        assert!(matches!(
            action_name("final", "1a-2b", ActionKind::Back, 1),
            Err(NamingError::Character { part: "deployment nonce", character: '-', .. })
        ));
        let long = "e".repeat(120);
        assert_eq!(action_name(&long, "1a2b3c4d", ActionKind::Back, 1), Err(NamingError::Length { len: 141 }));
        assert_eq!(ActionName::parse(""), Err(NamingError::Length { len: 0 }));
        assert!(ActionName::parse("console.switch.1").is_err());
    }

    #[test]
    fn only_ottds_own_names_have_parts() {
        let n = ActionName::parse("ottd-semi-1-00ab00cd-slate-on-3").expect("valid");
        assert_eq!(
            n.parts(),
            Some(NameParts { event: "semi-1".into(), nonce: "00ab00cd".into(), kind: ActionKind::SlateOn, counter: 3 })
        );
        for other in [
            "immediate_input_switch_123456",
            "ottd-final-1a2b3c4d-dance-3",
            "ottd-final-break-3",
            "ottd-final-1a2b3c4d-break-03",
            "ottd-final-1a2b3c4d-break-99999999999",
            "ottd--1a2b3c4d-break-3",
            "ottdx-final-1a2b3c4d-break-3",
        ] {
            assert_eq!(ActionName::parse(other).ok().and_then(|n| n.parts()), None, "{other}");
        }
    }

    fn kind() -> impl Strategy<Value = ActionKind> {
        prop::sample::select(ActionKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_name_is_valid_and_splits_back(
            event in "[a-z][a-z0-9-]{0,22}[a-z0-9]",
            nonce in "[0-9a-f]{8}",
            kind in kind(),
            counter in any::<u32>(),
        ) {
            let name = action_name(&event, &nonce, kind, counter);
            prop_assert!(name.is_ok());
            let name = name.unwrap_or_else(|_| ActionName(String::new()));
            prop_assert!(name.as_str().len() <= MAX_NAME_LEN);
            prop_assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert_eq!(ActionName::parse(name.as_str()), Ok(name.clone()));
            prop_assert_eq!(name.parts(), Some(NameParts { event, nonce, kind, counter }));
        }

        #[test]
        fn any_text_either_parses_into_a_valid_name_or_is_refused(s in "\\PC{0,140}") {
            if let Ok(n) = ActionName::parse(&s) {
                prop_assert!(!n.as_str().is_empty() && n.as_str().len() <= MAX_NAME_LEN);
                let _ = n.parts();
            }
        }
    }
}
