//! Notifications to people. The daemon reports what it did or could not do through a
//! [`Notifier`]: always to the log ([`LogNotifier`]), and to the alert SNS topic when
//! `bootstrap` made one ([`SnsNotifier`]: email and SMS subscribers). Slack channels and Discord
//! channels named in an event's `notify` list get it too ([`crate::chat::notify`]). Delivery never blocks the caller.

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

/// What a `notify` entry may be, as `validate` lists it.
pub const TARGET_FORMS: &str = "slack:#channel, slack:<channel id>, discord:<channel id>, log or sns";

/// Why a `notify` entry of a schedule file is refused, with a did-you-mean where one fits
/// (`Ok`: a notifier takes it). The notifiers take exactly these: `slack:…` and
/// `discord:<id>` as [`crate::chat::notify::Target::parse`] reads them (it is what delivers
/// them), and `log` and `sns`, which name where every notice goes anyway (the log, and the
/// SNS topic `bootstrap` made), so a list may say so.
pub fn check_target(entry: &str) -> Result<(), String> {
    use crate::chat::notify::Target;
    if entry == "log" || entry == "sns" || Target::parse(entry).is_some() {
        return Ok(());
    }
    let refuse = |why: String| Err(format!("`{entry}` is not a notify target: {why} (targets: {TARGET_FORMS})"));
    let mean = |fixed: String| refuse(format!("did you mean `{fixed}`?"));
    let e = entry.trim();
    if e.is_empty() {
        return Err(format!("an empty notify target (targets: {TARGET_FORMS})"));
    }
    if e.eq_ignore_ascii_case("log") || e.eq_ignore_ascii_case("sns") {
        return mean(e.to_ascii_lowercase());
    }
    if let Some((platform, channel)) = e.split_once(':') {
        let channel = channel.trim();
        let lower = platform.trim().to_ascii_lowercase();
        // A platform mistyped (`Slack:`, `slak:`, `discrod:`): the same channel on the right one.
        let platform = ["slack", "discord"].into_iter().find(|p| lower == *p || strsim::levenshtein(&lower, p) <= 2);
        return match platform {
            Some(_) if channel.is_empty() => refuse(format!("`{lower}:` needs a channel")),
            Some("discord") if channel.chars().all(|c| c.is_ascii_digit()) => mean(format!("discord:{channel}")),
            Some("discord") => {
                refuse("Discord channels are named by their channel id (Developer Mode → Copy Channel ID)".to_string())
            }
            Some(p) => mean(format!("{p}:{channel}")),
            None if lower == "sns" || lower.starts_with("arn") => {
                refuse("write `sns`: notices go to the topic `bootstrap` made".to_string())
            }
            None if lower == "http" || lower == "https" => {
                refuse("webhooks are not supported, chat posts with the bot token".to_string())
            }
            None => refuse("no notifier takes it".to_string()),
        };
    }
    if e.contains('@') {
        return refuse(
            "ottd sends no email itself: subscribe the address to the SNS topic `bootstrap` made \
             (`<prefix>-alerts`) and write `sns`"
                .to_string(),
        );
    }
    if e.len() >= 15 && e.chars().all(|c| c.is_ascii_digit()) {
        return mean(format!("discord:{e}"));
    }
    let channel = e.strip_prefix('#').unwrap_or(e);
    let slack_name = |c: &str| {
        (1..=80).contains(&c.len())
            && c.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    let slack_id = |c: &str| {
        (9..=12).contains(&c.len())
            && c.starts_with(['C', 'G'])
            && c.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    if e.starts_with('#') || slack_name(channel) && channel.contains(['-', '_']) {
        return mean(format!("slack:#{}", channel.to_ascii_lowercase()));
    }
    if slack_id(e) {
        return mean(format!("slack:{e}"));
    }
    refuse("no notifier takes it".to_string())
}

#[cfg(test)]
mod tests {
    use super::check_target;

    #[test]
    fn every_notify_target_a_notifier_takes_is_accepted_and_nothing_else() {
        for ok in ["slack:#live-ops", "slack:C0123ABCD", "discord:123456789012345678", "log", "sns"] {
            assert_eq!(check_target(ok), Ok(()), "{ok}");
        }
        let hint = |e: &str| check_target(e).expect_err(e);
        assert!(hint("#live-ops").contains("did you mean `slack:#live-ops`?"), "{}", hint("#live-ops"));
        assert!(hint("live-ops").contains("did you mean `slack:#live-ops`?"), "{}", hint("live-ops"));
        assert!(hint("Slack:#live-ops").contains("did you mean `slack:#live-ops`?"));
        assert!(hint("slak:#live-ops").contains("did you mean `slack:#live-ops`?"));
        assert!(hint("123456789012345678").contains("did you mean `discord:123456789012345678`?"));
        assert!(hint("discrod:123456789012345678").contains("did you mean `discord:123456789012345678`?"));
        assert!(hint("discord:#general").contains("channel id"), "{}", hint("discord:#general"));
        assert!(hint("slack:").contains("needs a channel"), "{}", hint("slack:"));
        assert!(hint("SNS").contains("did you mean `sns`?"));
        assert!(hint("ops@example.com").contains("subscribe"), "{}", hint("ops@example.com"));
        assert!(hint("").contains("empty"), "{}", hint(""));
        for e in ["#live-ops", "teams:general", "x"] {
            assert!(hint(e).contains("slack:#channel"), "the accepted forms are listed: {}", hint(e));
        }
    }
}
