//! The plain data of `[[chat.grant]]` and `[chat.approval]`: the chat platforms, roles, whom
//! a grant names, which commands need a second person. Configuration reads them
//! ([`super::chat::compile`]); chat decides with them (who may run what, what needs a
//! confirmation) in impl blocks of its own, so configuration depends on no feature. The
//! operations layer takes [`Platform`] from here for its chat actors.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A chat platform: the grants name one, and a chat actor comes from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Slack,
    Discord,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }
}

/// An ottd role: each includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom a grant names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Principal {
    /// `slack:U0123`, `discord:80351110224678912`.
    User(Platform, String),
    /// `slack:group:S0123` (a Slack user group), `discord:role:123` (a Discord role).
    Group(Platform, String),
    /// `slack:*`, `discord:*`: anyone on the platform (in the workspace or guild).
    Anyone(Platform),
}

impl Principal {
    /// Parse the config form; `None` for anything else.
    pub fn parse(s: &str) -> Option<Principal> {
        let (platform, rest) = s.split_once(':')?;
        let platform = match platform {
            "slack" => Platform::Slack,
            "discord" => Platform::Discord,
            _ => return None,
        };
        let group_word = match platform {
            Platform::Slack => "group:",
            Platform::Discord => "role:",
        };
        let id_ok = |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
        if rest == "*" {
            Some(Principal::Anyone(platform))
        } else if let Some(g) = rest.strip_prefix(group_word) {
            id_ok(g).then(|| Principal::Group(platform, g.to_string()))
        } else {
            id_ok(rest).then(|| Principal::User(platform, rest.to_string()))
        }
    }
}

/// One `[[chat.grant]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub role: Role,
    pub who: Vec<Principal>,
    /// Only for these events (`semi-*` matches by prefix); `None`: every event.
    pub events: Option<Vec<String>>,
    /// Only when asked in these channels (`slack:C0123`, `discord:123`); `None`: anywhere.
    pub channels: Option<Vec<String>>,
}

/// Every grant in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Access {
    pub grants: Vec<Grant>,
}

/// When a command needs a second person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Always,
    /// Only while the event is inside its scheduled window (on air, or about to be).
    InWindow,
    Never,
}

impl Rule {
    pub const NAMES: [&'static str; 3] = ["always", "in-window", "never"];

    pub fn parse(s: &str) -> Option<Rule> {
        match s {
            "always" => Some(Rule::Always),
            "in-window" => Some(Rule::InWindow),
            "never" => Some(Rule::Never),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// Command name (`teardown`, `stop`, …) → rule; commands not named need no second person.
    pub rules: BTreeMap<String, Rule>,
    /// How long a confirmation button works.
    pub confirm_within: Duration,
    /// How long an approval request stays open.
    pub approve_within: Duration,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals {
            rules: BTreeMap::from([("teardown".to_string(), Rule::Always), ("stop".to_string(), Rule::InWindow)]),
            confirm_within: Duration::from_secs(120),
            approve_within: Duration::from_secs(15 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_odd_ones_are_refused() {
        assert_eq!(Principal::parse("slack:U01"), Some(Principal::User(Platform::Slack, "U01".into())));
        assert_eq!(Principal::parse("slack:group:S01"), Some(Principal::Group(Platform::Slack, "S01".into())));
        assert_eq!(Principal::parse("discord:role:42"), Some(Principal::Group(Platform::Discord, "42".into())));
        assert_eq!(Principal::parse("discord:*"), Some(Principal::Anyone(Platform::Discord)));
        for bad in ["U01", "teams:U01", "slack:", "slack:group:", "slack:U 1", "discord:group:1x-"] {
            assert_eq!(Principal::parse(bad), None, "{bad}");
        }
    }
}
