//! Who asks for an operation. Every actor goes through the same operations and the same
//! audit trail; what differs is whether its manual action implies an operator override.

use serde::Serialize;

/// A chat platform: configuration's word (grants name it), the actor's here.
pub use crate::config::grants::Platform;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Actor {
    /// The `ottd` command line, run by this OS user.
    Cli { user: String },
    /// The daemon putting events on air as their schedules say.
    Schedule,
    /// The daemon stopping a channel that runs where no schedule wants it (cost guard,
    /// `max_runtime`); `reason` says which.
    Guard { reason: String },
    /// The daemon fixing what an alert reported.
    Recovery,
    /// Someone in chat.
    Chat { platform: Platform, user: String },
}

impl Actor {
    /// The CLI as run by the current OS user (the one behind `sudo`, if any).
    pub fn cli() -> Actor {
        let user = ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|u| !u.is_empty())
            .or_else(os_user)
            .unwrap_or_else(|| "unknown".to_string());
        Actor::Cli { user }
    }

    /// A person (rather than the daemon itself): their start/stop/deploy/teardown of a timed
    /// event is an override the schedule respects.
    pub fn is_human(&self) -> bool {
        matches!(self, Actor::Cli { .. } | Actor::Chat { .. })
    }

    /// How the audit trail and overrides name it: `cli:alice`, `schedule`,
    /// `guard:cost-guard`, `recovery`, `slack:U123`.
    pub fn label(&self) -> String {
        match self {
            Actor::Cli { user } => format!("cli:{user}"),
            Actor::Schedule => "schedule".to_string(),
            Actor::Guard { reason } => format!("guard:{reason}"),
            Actor::Recovery => "recovery".to_string(),
            Actor::Chat { platform, user } => format!("{}:{user}", platform.as_str()),
        }
    }
}

/// The name of this process's real user from /proc and /etc/passwd (services and cron jobs
/// often run without USER set); `uid:N` when the name is unknown.
fn os_user() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid:{uid}")))
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}
