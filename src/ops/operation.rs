//! The operations anyone may ask for, as plain values.

use std::time::Duration;

use serde::Serialize;

use crate::lifecycle::OverrideKind;
use crate::live::LiveCommand;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Operation {
    /// Check every configuration file; report every error.
    Validate,
    /// Create the IAM roles (and, later, the alert plumbing) once.
    Bootstrap,
    Plan {
        event: String,
    },
    Deploy {
        event: String,
    },
    Start {
        event: String,
    },
    Stop {
        event: String,
    },
    Teardown {
        event: String,
    },
    Status {
        event: Option<String>,
    },
    Links {
        event: String,
    },
    Hold {
        event: String,
    },
    Resume {
        event: String,
    },
    Schedule,
    /// Restart one pipeline of a running channel (recovery; chat later).
    RestartPipeline {
        event: String,
        pipeline: u8,
    },
    /// Active alerts (all, with `all`), of one event or all.
    Alerts {
        event: Option<String>,
        all: bool,
    },
    /// A human has the alert: no more repeat notifications.
    Ack {
        alert: i64,
    },
    /// What the event will cost (for `audience` viewers) and what its runs cost.
    Cost {
        event: String,
        audience: u64,
    },
    /// A new preview page token for the event: the old link stops opening.
    RotatePreview {
        event: String,
    },
    /// Live control of a running channel: a break, back, the slate, an input switch, or what
    /// its schedule holds (see [`crate::live`]).
    Live(LiveCommand),
    Audit {
        event: Option<String>,
        #[serde(with = "humantime_opt")]
        since: Option<Duration>,
        /// Reads (status, links…) too, not only what changed something.
        all: bool,
    },
}

mod humantime_opt {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Validate => "validate",
            Operation::Bootstrap => "bootstrap",
            Operation::Plan { .. } => "plan",
            Operation::Deploy { .. } => "deploy",
            Operation::Start { .. } => "start",
            Operation::Stop { .. } => "stop",
            Operation::Teardown { .. } => "teardown",
            Operation::Status { .. } => "status",
            Operation::Links { .. } => "links",
            Operation::Hold { .. } => "hold",
            Operation::Resume { .. } => "resume",
            Operation::Schedule => "schedule",
            Operation::Audit { .. } => "audit",
            Operation::Cost { .. } => "cost",
            Operation::RestartPipeline { .. } => "restart-pipeline",
            Operation::Alerts { .. } => "alerts",
            Operation::Ack { .. } => "ack",
            Operation::Live(c) => c.word(),
            Operation::RotatePreview { .. } => "rotate-preview",
        }
    }

    /// The event it is about, if one.
    pub fn event(&self) -> Option<&str> {
        match self {
            Operation::Plan { event }
            | Operation::Deploy { event }
            | Operation::Start { event }
            | Operation::Stop { event }
            | Operation::Teardown { event }
            | Operation::Links { event }
            | Operation::Hold { event }
            | Operation::Resume { event }
            | Operation::Cost { event, .. }
            | Operation::RotatePreview { event }
            | Operation::RestartPipeline { event, .. } => Some(event),
            Operation::Live(c) => Some(c.event()),
            Operation::Status { event } | Operation::Audit { event, .. } | Operation::Alerts { event, .. } => {
                event.as_deref()
            }
            Operation::Validate | Operation::Bootstrap | Operation::Schedule | Operation::Ack { .. } => None,
        }
    }

    /// Whether it changes AWS (and so runs on the event's worker, one at a time).
    pub fn changes_aws(&self) -> bool {
        match self {
            Operation::Live(c) => c.changes_aws(),
            _ => matches!(
                self,
                Operation::Deploy { .. }
                    | Operation::Start { .. }
                    | Operation::Stop { .. }
                    | Operation::Teardown { .. }
                    | Operation::RestartPipeline { .. }
            ),
        }
    }

    /// Whether it changes anything (AWS, an override, the recorded roles); reads do not.
    pub fn changes_something(&self) -> bool {
        self.changes_aws()
            || matches!(
                self,
                Operation::Bootstrap
                    | Operation::Hold { .. }
                    | Operation::Resume { .. }
                    | Operation::Ack { .. }
                    | Operation::RotatePreview { .. }
            )
    }

    /// The override a person's operation implies on a timed event: the daemon keeps the
    /// event this way until the end of the current window (see `schedule::phase`).
    pub fn implied_override(&self) -> Option<OverrideKind> {
        match self {
            Operation::Deploy { .. } => Some(OverrideKind::Deploy),
            Operation::Start { .. } => Some(OverrideKind::Start),
            Operation::Stop { .. } => Some(OverrideKind::Stop),
            Operation::Teardown { .. } => Some(OverrideKind::Teardown),
            Operation::Hold { .. } => Some(OverrideKind::Hold),
            _ => None,
        }
    }

    /// The arguments as the audit trail stores them.
    pub fn args_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}
