//! Who may run what from chat: roles granted to Slack and Discord users, user groups and
//! Discord roles, optionally only for some events or only in some channels. Pure.
//!
//! - `viewer`: help, list, schedule, status, links, plan, alerts, audit;
//! - `operator`: also deploy, start, stop, hold, resume, ack, restart;
//! - `admin`: also teardown.
//!
//! Nobody has a role unless a grant names them: anything that changes AWS is denied by
//! default. A grant with `events` counts only for commands on those events (and for the
//! commands that name no event, when they only read); a grant with `channels` counts only for
//! commands asked in those channels, so a team's channel can control its own events.

use std::fmt;

use super::grammar::Command;
/// The grants are configuration's plain data; what they allow is decided here.
pub use crate::config::grants::{Access, Grant, Principal, Role};
use crate::ops::Platform;

impl Principal {
    fn names(&self, c: &Caller) -> bool {
        match self {
            Principal::User(p, id) => *p == c.platform && *id == c.user,
            Principal::Group(p, id) => *p == c.platform && c.groups.iter().any(|g| g == id),
            Principal::Anyone(p) => *p == c.platform,
        }
    }
}

/// Who is asking, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub platform: Platform,
    pub user: String,
    /// Slack user groups or Discord roles the user has (as far as the adapter knows).
    pub groups: Vec<String>,
    /// The channel id the command came from (without the platform prefix).
    pub channel: String,
}

impl Caller {
    /// `slack:U0123`: how the audit trail names the user.
    pub fn label(&self) -> String {
        format!("{}:{}", self.platform.as_str(), self.user)
    }

    pub fn channel_label(&self) -> String {
        format!("{}:{}", self.platform.as_str(), self.channel)
    }
}

/// The role a command word needs: `/ott`'s words (`restart`) and the operations' names
/// (`restart-pipeline`, `bootstrap`). The one classification of chat: the gate ([`needed`]),
/// `/ott help` and a deferred Discord answer's visibility ([`changes`]) all read it. A unit
/// test holds it to [`crate::ops::Operation::changes_something`] for every operation the
/// grammar makes.
pub fn word_role(word: &str) -> Role {
    if let Some((_, role, _)) = crate::live::command::WORDS.iter().find(|(w, _, _)| *w == word) {
        return *role;
    }
    match word {
        "teardown" | "bootstrap" => Role::Admin,
        "deploy" | "start" | "stop" | "hold" | "resume" | "ack" | "restart" | "restart-pipeline" | "rotate-preview" => {
            Role::Operator
        }
        _ => Role::Viewer,
    }
}

/// Whether a command word changes something (AWS, an override, an alert's owner): its answers
/// are for the channel, and it needs more than a viewer.
pub fn changes(word: &str) -> bool {
    word_role(word) >= Role::Operator
}

/// Whether the text after `/ott` is a known command that only reads (status, links, help…):
/// a replay of it changes nothing, so its replay record need not be committed before the
/// answer (see `Desk::first_sighting`). A typo or anything unknown counts as changing.
pub fn reads_only(text: &str) -> bool {
    let word = text.split_whitespace().next().unwrap_or_default().to_lowercase();
    super::grammar::WORDS.iter().any(|(w, _, _)| *w == word) && !changes(&word)
}

/// The role a command needs.
pub fn needed(command: &Command) -> Role {
    match command {
        Command::Help | Command::List => Role::Viewer,
        Command::Op(op) => word_role(op.name()),
    }
}

fn event_matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => pattern == event,
    }
}

impl Access {
    /// The highest role `caller` has for a command on `event` (`None`: a command naming no
    /// event) that `changes` something or only reads.
    pub fn role(&self, caller: &Caller, event: Option<&str>, changes: bool) -> Option<Role> {
        let channel = caller.channel_label();
        self.grants
            .iter()
            .filter(|g| g.who.iter().any(|p| p.names(caller)))
            .filter(|g| g.channels.as_ref().is_none_or(|cs| cs.contains(&channel)))
            .filter(|g| match (&g.events, event) {
                (None, _) => true,
                (Some(ps), Some(e)) => ps.iter().any(|p| event_matches(p, e)),
                (Some(_), None) => !changes,
            })
            .map(|g| g.role)
            .max()
    }

    /// `Ok` when `caller` may run `command`; else what they have and what it needs.
    pub fn check(&self, caller: &Caller, command: &Command) -> Result<Role, Denied> {
        let need = needed(command);
        let (event, changes) = match command {
            Command::Op(op) => (op.event(), op.changes_something()),
            _ => (None, false),
        };
        match self.role(caller, event, changes) {
            Some(have) if have >= need => Ok(have),
            have => Err(Denied { need, have, event: event.map(str::to_string) }),
        }
    }

    /// The commands of `/ott help` that `caller` may run here (any event they have a role for).
    pub fn may_run(&self, caller: &Caller) -> Option<Role> {
        let channel = caller.channel_label();
        self.grants
            .iter()
            .filter(|g| g.who.iter().any(|p| p.names(caller)))
            .filter(|g| g.channels.as_ref().is_none_or(|cs| cs.contains(&channel)))
            .map(|g| g.role)
            .max()
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub need: Role,
    pub have: Option<Role>,
    pub event: Option<String>,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = self.event.as_ref().map(|e| format!(" on {e}")).unwrap_or_default();
        match self.have {
            None => {
                write!(f, "you have no ottd role here{on}; this needs {}. Ask an ottd admin to grant one.", self.need)
            }
            Some(have) => {
                write!(
                    f,
                    "this needs the {} role{on}; you are {have} here. Ask an ottd admin if you should be.",
                    self.need
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_known_reading_commands_count_as_reads() {
        for text in ["status final", "STATUS", " links final", "help", "list", "schedule", "audit final"] {
            assert!(reads_only(text), "{text}");
        }
        for text in ["deploy final", "Start final", "teardown x", "hold final", "ack 3", "deplyo final", "", "?"] {
            assert!(!reads_only(text), "{text}");
        }
    }
    use super::*;
    use proptest::prelude::*;

    fn caller(user: &str, groups: &[&str], channel: &str) -> Caller {
        Caller {
            platform: Platform::Slack,
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            channel: channel.into(),
        }
    }

    fn grant(role: Role, who: &[&str], events: Option<&[&str]>, channels: Option<&[&str]>) -> Grant {
        Grant {
            role,
            who: who.iter().map(|w| Principal::parse(w).expect("principal")).collect(),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
            channels: channels.map(|c| c.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn op(text: &str) -> Command {
        let events =
            ["final", "semi-1", "magazine"].map(|id| super::super::grammar::EventZone { id, tz: chrono_tz::UTC });
        super::super::grammar::parse(text, &events, chrono::Utc::now()).expect("command")
    }

    #[test]
    fn roles_allow_and_deny_per_command() {
        let access = Access {
            grants: vec![
                grant(Role::Viewer, &["slack:*"], None, None),
                grant(Role::Operator, &["slack:group:SOPS"], None, None),
                grant(Role::Admin, &["slack:ULEAD"], None, None),
            ],
        };
        let viewer = caller("UANY", &[], "C1");
        let operator = caller("UOP", &["SOPS"], "C1");
        let admin = caller("ULEAD", &[], "C1");
        for text in
            ["help", "list", "schedule", "status", "status final", "links final", "plan final", "alerts", "audit"]
        {
            assert!(access.check(&viewer, &op(text)).is_ok(), "viewer may {text}");
        }
        assert!(access.check(&viewer, &op("schedule-actions final")).is_ok(), "viewer may read the schedule");
        for text in [
            "deploy final",
            "start final",
            "stop final",
            "hold final",
            "resume final",
            "ack 3",
            "break final 90s",
            "back final",
            "slate final on",
            "switch final backup",
        ] {
            let denied = access.check(&viewer, &op(text)).expect_err(text);
            assert_eq!((denied.need, denied.have), (Role::Operator, Some(Role::Viewer)), "{text}");
            assert!(access.check(&operator, &op(text)).is_ok(), "operator may {text}");
        }
        let denied = access.check(&operator, &op("teardown final")).expect_err("operator teardown");
        assert_eq!(
            denied.to_string(),
            "this needs the admin role on final; you are operator here. Ask an ottd admin if you should be."
        );
        assert!(access.check(&admin, &op("teardown final")).is_ok());
        let nobody = Caller { platform: Platform::Discord, ..caller("UANY", &[], "C1") };
        assert_eq!(access.check(&nobody, &op("status")).expect_err("no grant").have, None, "slack:* is not discord");
    }

    #[test]
    fn event_and_channel_scopes() {
        let access = Access {
            grants: vec![
                grant(Role::Viewer, &["slack:*"], None, None),
                grant(Role::Operator, &["slack:group:SSPORT"], Some(&["final", "semi-*"]), None),
                grant(Role::Operator, &["slack:*"], Some(&["magazine"]), Some(&["slack:CMAG"])),
            ],
        };
        let sport = caller("U1", &["SSPORT"], "C1");
        assert!(access.check(&sport, &op("start final")).is_ok());
        assert!(access.check(&sport, &op("start semi-1")).is_ok());
        assert!(access.check(&sport, &op("start magazine")).is_err());
        assert!(access.check(&sport, &op("ack 4")).is_err(), "an event-scoped grant does not cover ack of any alert");
        let anyone = caller("U2", &[], "CMAG");
        assert!(access.check(&anyone, &op("start magazine")).is_ok(), "the magazine channel runs its own event");
        assert!(access.check(&caller("U2", &[], "COTHER"), &op("start magazine")).is_err());
        assert!(access.check(&anyone, &op("start final")).is_err());
    }

    #[test]
    fn one_classification_of_words_agrees_with_the_operations_layer() {
        for (word, takes, _) in super::super::grammar::WORDS {
            let text = match (*word, takes) {
                ("ack", _) => "ack 3".to_string(),
                ("restart", _) => "restart final 0".to_string(),
                ("slate", _) => "slate final on".to_string(),
                ("switch", _) => "switch final backup".to_string(),
                (w, Some(true)) => format!("{w} final"),
                (w, _) => w.to_string(),
            };
            let command = op(&text);
            assert_eq!(needed(&command), word_role(word), "{word}: the typed word and its operation agree");
            if let Command::Op(o) = &command {
                assert_eq!(changes(word), o.changes_something(), "{word}");
                assert_eq!(changes(o.name()), o.changes_something(), "{}", o.name());
            }
        }
        assert_eq!(word_role("teardown"), Role::Admin);
        assert_eq!(word_role("bootstrap"), Role::Admin);
        assert_eq!(word_role("nonsense"), Role::Viewer);
        assert!(!changes("status") && changes("ack") && changes("resume"));
    }

    fn arb_grant() -> impl Strategy<Value = Grant> {
        let role = prop::sample::select(Role::ALL.to_vec());
        let who = prop::sample::subsequence(vec!["slack:*", "slack:U1", "slack:group:S1", "discord:*"], 1..3);
        let events = prop::option::of(prop::sample::subsequence(vec!["final", "semi-*", "magazine"], 1..3));
        let channels = prop::option::of(prop::sample::subsequence(vec!["slack:C1", "slack:C2"], 1..2));
        (role, who, events, channels)
            .prop_map(|(role, who, events, channels)| grant(role, &who, events.as_deref(), channels.as_deref()))
    }

    proptest! {
        #[test]
        fn a_grant_never_takes_anything_away(
            grants in prop::collection::vec(arb_grant(), 0..5),
            extra in arb_grant(),
            text in prop::sample::select(vec!["status", "start final", "teardown semi-1", "ack 2", "hold magazine", "links final"]),
            groups in prop::sample::subsequence(vec!["S1", "S2"], 0..2),
            channel in prop::sample::select(vec!["C1", "C2", "C3"]),
        ) {
            let c = caller("U1", &groups, channel);
            let before = Access { grants: grants.clone() };
            let mut more = grants;
            more.push(extra);
            let after = Access { grants: more };
            if before.check(&c, &op(text)).is_ok() {
                prop_assert!(after.check(&c, &op(text)).is_ok());
            }
        }

        #[test]
        fn nothing_that_changes_aws_runs_without_an_operator_grant(
            grants in prop::collection::vec(arb_grant(), 0..5),
            text in prop::sample::select(vec!["start final", "stop semi-1", "deploy magazine", "teardown final", "hold final"]),
        ) {
            let c = caller("U1", &["S1"], "C1");
            let access = Access { grants: grants.clone() };
            let operators = grants.iter().any(|g| g.role >= Role::Operator);
            if !operators {
                prop_assert!(access.check(&c, &op(text)).is_err());
            }
        }
    }
}
