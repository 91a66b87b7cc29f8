//! Which Slack workspace a request comes from, and whether it is ours (`[chat.slack] team_id`,
//! `enterprise_id`). Without this, `slack:*` would mean anyone who can invoke the app: users
//! of other workspaces it is installed in, and Slack Connect guests in shared channels. Pure.
//!
//! Slack says where a request comes from in `team_id` and `enterprise_id` (slash commands),
//! and in `team.id`, `user.team_id` and `enterprise.id` (interactions). A Slack Connect guest
//! clicks in our workspace (`team.id` is ours) with a user of their own (`user.team_id` is
//! theirs): every team id present must be ours.

use serde_json::Value;

/// Where a request says it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct From {
    /// The workspace the request was made in.
    pub team: Option<String>,
    /// The workspace the user belongs to, when Slack says it separately.
    pub user_team: Option<String>,
    pub enterprise: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

impl From {
    /// An interaction payload's (`block_actions`).
    pub fn interaction(payload: &Value) -> From {
        From {
            team: text(&payload["team"]["id"]),
            user_team: text(&payload["user"]["team_id"]),
            enterprise: text(&payload["enterprise"]["id"]).or_else(|| text(&payload["user"]["enterprise_id"])),
        }
    }

    /// For the audit trail.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({"team": self.team, "user_team": self.user_team, "enterprise": self.enterprise})
    }
}

/// Why a request was refused: for the audit trail and the log (the user is told only that
/// ottd answers in its own workspace).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Foreign {
    #[error("the request names no Slack team, and [chat.slack] team_id is {0}")]
    NoTeam(String),
    #[error("request from Slack team {seen}, not {ours}")]
    Team { seen: String, ours: String },
    #[error("request from Enterprise Grid organization {seen}, not {ours}")]
    Enterprise { seen: String, ours: String },
}

/// What the user is told.
pub const REFUSAL: &str = "ottd answers only in its own Slack workspace";

/// `Ok` when the request comes from our workspace (and organization), or when none is
/// configured (then no `slack:*` grant exists: validation refuses it).
pub fn check(team_id: Option<&str>, enterprise_id: Option<&str>, from: &From) -> Result<(), Foreign> {
    if let Some(ours) = team_id {
        let Some(seen) = from.team.as_deref() else { return Err(Foreign::NoTeam(ours.into())) };
        for seen in [Some(seen), from.user_team.as_deref()].into_iter().flatten() {
            if seen != ours {
                return Err(Foreign::Team { seen: seen.into(), ours: ours.into() });
            }
        }
    }
    if let Some(ours) = enterprise_id {
        let seen = from.enterprise.as_deref().unwrap_or("none");
        if seen != ours {
            return Err(Foreign::Enterprise { seen: seen.into(), ours: ours.into() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from(team: Option<&str>, user_team: Option<&str>, enterprise: Option<&str>) -> From {
        let s = |v: Option<&str>| v.map(str::to_string);
        From { team: s(team), user_team: s(user_team), enterprise: s(enterprise) }
    }

    #[test]
    fn only_our_workspace_and_organization_pass() {
        assert_eq!(check(Some("T1"), None, &from(Some("T1"), None, None)), Ok(()));
        assert_eq!(check(Some("T1"), None, &from(Some("T1"), Some("T1"), None)), Ok(()));
        assert!(matches!(check(Some("T1"), None, &from(Some("T2"), None, None)), Err(Foreign::Team { .. })));
        assert!(
            matches!(check(Some("T1"), None, &from(Some("T1"), Some("T9"), None)), Err(Foreign::Team { .. })),
            "a Slack Connect guest"
        );
        assert!(matches!(check(Some("T1"), None, &from(None, None, None)), Err(Foreign::NoTeam(_))));
        assert_eq!(check(Some("T1"), Some("E1"), &from(Some("T1"), None, Some("E1"))), Ok(()));
        assert!(matches!(
            check(Some("T1"), Some("E1"), &from(Some("T1"), None, None)),
            Err(Foreign::Enterprise { .. })
        ));
        assert_eq!(check(None, None, &from(Some("T2"), None, None)), Ok(()), "nothing configured: nothing to check");
    }

    #[test]
    fn an_interaction_says_its_team_its_users_team_and_its_organization() {
        let p = json!({"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T9"}, "enterprise": null});
        assert_eq!(From::interaction(&p), from(Some("T1"), Some("T9"), None));
        let p = json!({"team": {"id": "T1"}, "user": {"id": "U1"}, "enterprise": {"id": "E1"}});
        assert_eq!(From::interaction(&p), from(Some("T1"), None, Some("E1")));
    }
}
