//! The lifecycle words of the domain: where one event's deployment stands ([`Phase`]), where
//! one of its AWS resources stands ([`Status`]), what an operator asked for by hand
//! ([`Override`]), and what MediaLive says went wrong ([`Alert`]). Plain values with their text forms; the state file, the phase function,
//! the engine and the operations layer all speak them, and none of them owns them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a resource stands. `Creating` and `Deleting` mean "a call was sent and its outcome
/// is not recorded": the engine must look before it acts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Creating,
    Created,
    Deleting,
    /// CloudFront: disabled, waiting to be Deployed before it may be deleted.
    Disabling,
    Deleted,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Creating, Status::Created, Status::Deleting, Status::Disabling, Status::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Deleting => "deleting",
            Status::Disabling => "disabling",
            Status::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Lifecycle of one deployment as the engine last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Deploying,
    Deployed,
    Starting,
    Running,
    Stopping,
    Stopped,
    TearingDown,
    TornDown,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Deploying,
        Phase::Deployed,
        Phase::Starting,
        Phase::Running,
        Phase::Stopping,
        Phase::Stopped,
        Phase::TearingDown,
        Phase::TornDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Deploying => "deploying",
            Phase::Deployed => "deployed",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::TearingDown => "tearing-down",
            Phase::TornDown => "torn-down",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What an operator (or the daemon's cost guard) asked for, by hand, for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverrideKind {
    /// The daemon must not act on this event.
    Hold,
    Start,
    Stop,
    Teardown,
    Deploy,
}

impl OverrideKind {
    pub const ALL: [OverrideKind; 5] =
        [OverrideKind::Hold, OverrideKind::Start, OverrideKind::Stop, OverrideKind::Teardown, OverrideKind::Deploy];

    pub fn as_str(self) -> &'static str {
        match self {
            OverrideKind::Hold => "hold",
            OverrideKind::Start => "start",
            OverrideKind::Stop => "stop",
            OverrideKind::Teardown => "teardown",
            OverrideKind::Deploy => "deploy",
        }
    }

    pub fn parse(s: &str) -> Option<OverrideKind> {
        OverrideKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An override as the phase function reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub kind: OverrideKind,
    /// When it was set (audit and `status`; the rules do not use it).
    pub set_at: DateTime<Utc>,
    /// When the schedule takes over again; `None` = until the operator clears it.
    pub until: Option<DateTime<Utc>>,
}

impl Override {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// What MediaLive says of an alert: raised, or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlarmState {
    Set,
    Cleared,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Set => "SET",
            AlarmState::Cleared => "CLEARED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub state: AlarmState,
    /// Shared by a SET and its CLEARED; repeats across channels and restarts with the channel,
    /// so an alert is keyed on (channel, pipeline, alarm id).
    pub alarm_id: String,
    /// MediaLive's wording, e.g. `Failed to Create Output File or Socket` (an open set).
    pub alert_type: String,
    /// 0 or 1 (a SINGLE_PIPELINE channel has only 0).
    pub pipeline: u8,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_from_its_text() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for k in OverrideKind::ALL {
            assert_eq!(OverrideKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Phase::parse("Running"), None);
        assert_eq!(OverrideKind::parse(""), None);
    }
}
