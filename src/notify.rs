//! Notifications to people. The daemon reports what it did or could not do through a
//! [`Notifier`]: always to the log ([`LogNotifier`]), and to the alert SNS topic when
//! `bootstrap` made one ([`SnsNotifier`]: email and SMS subscribers). Slack channels and Discord
//! channels named in an event's `notify` list get it too (chat's notifier, a [`Notifier`] of its
//! own). Delivery never blocks the caller.

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
    /// The event's `notify` targets from its schedule file (`slack:#live-ops`,
    /// `discord:123…`; other entries are for the log and SNS only).
    pub targets: Vec<String>,
    /// What a person can do about it from chat: buttons that run `/ott` commands (through
    /// roles, confirmation and the audit trail like typed ones).
    pub buttons: Vec<NoticeButton>,
}

/// A button on a notice: its label and the `/ott` command it runs (`ack 12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeButton {
    pub label: String,
    pub command: String,
}

impl NoticeButton {
    pub fn new(label: impl Into<String>, command: impl Into<String>) -> NoticeButton {
        NoticeButton { label: label.into(), command: command.into() }
    }
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

/// Every notice to each of several notifiers.
pub struct Fanout(pub Vec<std::sync::Arc<dyn Notifier>>);

impl Notifier for Fanout {
    fn notify(&self, n: Notice) {
        for sink in &self.0 {
            sink.notify(n.clone());
        }
    }
}

/// The next notice to deliver; after `stop`, only those already queued, then `None`.
pub async fn next_notice(
    rx: &mut tokio::sync::mpsc::Receiver<Notice>,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<Notice> {
    if !stop.is_cancelled() {
        tokio::select! {
            n = rx.recv() => return n,
            _ = stop.cancelled() => {}
        }
    }
    rx.close();
    rx.recv().await
}

/// Notices queued for SNS at most.
const SNS_QUEUE: usize = 1024;
/// Publish attempts per notice (each is itself retried by the SDK on throttling and 5xx).
const SNS_ATTEMPTS: u32 = 3;

/// Notices published to an SNS topic by a task of their own: a slow or failing SNS never
/// holds up the daemon; a full queue drops the notice (the log has it).
pub struct SnsNotifier {
    queue: tokio::sync::mpsc::Sender<Notice>,
}

impl SnsNotifier {
    /// Start the publishing task on `tasks`; once `stop` is cancelled it publishes what is
    /// queued, takes nothing more and ends.
    pub fn start(
        topic: crate::aws::alerting::Topic,
        tasks: &tokio_util::task::TaskTracker,
        stop: tokio_util::sync::CancellationToken,
    ) -> SnsNotifier {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Notice>(SNS_QUEUE);
        tasks.spawn(async move {
            while let Some(n) = next_notice(&mut rx, &stop).await {
                let level = match n.level {
                    Level::Info => "info",
                    Level::Warning => "warning",
                    Level::Error => "ACTION NEEDED",
                };
                let subject = format!("ottd {level}: {}", n.event);
                for attempt in 1..=SNS_ATTEMPTS {
                    match topic.publish(&subject, &n.text).await {
                        Ok(()) => break,
                        Err(e) if attempt == SNS_ATTEMPTS => {
                            tracing::warn!(event = %n.event, "notification not delivered to SNS: {e}")
                        }
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(attempt))).await,
                    }
                }
            }
        });
        SnsNotifier { queue: tx }
    }
}

impl Notifier for SnsNotifier {
    fn notify(&self, n: Notice) {
        if let Err(e) = self.queue.try_send(n) {
            tracing::warn!("SNS notification queue full or closed; notice dropped (it is in the log): {e}");
        }
    }
}

pub use crate::target::{check_target, Target, TARGET_FORMS};
