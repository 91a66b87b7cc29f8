//! Notifications to people: the seam alerts and chat will plug into. The daemon reports what
//! it did or could not do through a [`Notifier`]; today the only implementation writes to the
//! log. Slack, Discord and SNS notifiers come with the alerts and chat work.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    /// Someone must act.
    Error,
}

/// One message about one event.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub event: String,
    pub level: Level,
    pub text: String,
    /// The event's `notify` targets from its schedule file.
    pub targets: Vec<String>,
}

pub trait Notifier: Send + Sync {
    /// Deliver or queue the notice; must not block the caller.
    fn notify(&self, notice: Notice);
}

/// Notices as log lines (always on; other notifiers add to it).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify(&self, n: Notice) {
        match n.level {
            Level::Info => tracing::info!(event = %n.event, targets = ?n.targets, "{}", n.text),
            Level::Warning => tracing::warn!(event = %n.event, targets = ?n.targets, "{}", n.text),
            Level::Error => tracing::error!(event = %n.event, targets = ?n.targets, "{}", n.text),
        }
    }
}
