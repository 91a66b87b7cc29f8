//! Notices to chat channels: an event's `notify` entries `slack:#live-ops` (or a channel id)
//! and `discord:<channel id>` get each notice as a message, with its buttons (ack, restart
//! pipeline, hold) that run `/ott` commands through roles, confirmation and the audit trail
//! like typed ones. Delivery is queued on a task of its own: a slow platform never holds up
//! the daemon, a full queue drops the notice (the log has it).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::message::{Button, Message, Style, Tone, Visibility};
use super::slack::api::WebApi;
use crate::notify::{Level, Notice, Notifier};

const QUEUE: usize = 1024;

/// Somewhere a message can be posted to a channel.
pub trait ChannelPoster: Send + Sync {
    fn post<'a>(&'a self, channel: &'a str, m: &'a Message) -> BoxFuture<'a, Result<(), String>>;
}

impl ChannelPoster for WebApi {
    fn post<'a>(&'a self, channel: &'a str, m: &'a Message) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.post_message(&super::slack::blocks::post(channel, m)).await.map(drop).map_err(|e| e.to_string())
        })
    }
}

impl ChannelPoster for super::discord::api::Api {
    fn post<'a>(&'a self, channel: &'a str, m: &'a Message) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.post_channel(channel, &super::discord::edit_body(m)).await.map(drop).map_err(|e| e.to_string())
        })
    }
}

pub use crate::target::Target;

/// The notice as a chat message.
pub fn message(n: &Notice) -> Message {
    let tone = match n.level {
        Level::Info => Tone::Done,
        Level::Warning => Tone::Asking,
        Level::Error => Tone::Failed,
    };
    let headline = match n.level {
        Level::Error => format!("{}: {} (action needed)", n.event, n.text),
        _ => format!("{}: {}", n.event, n.text),
    };
    let mut m = Message::line(headline, Visibility::InChannel, tone);
    for b in &n.buttons {
        let style = if b.command.starts_with("ack ") { Style::Primary } else { Style::Danger };
        m = m.button(Button::new(b.label.clone(), format!("run:{}", b.command), style));
    }
    m.context(Some(format!("ottd · {} · {}", n.event, chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"))))
}

pub struct ChatNotifier {
    queue: mpsc::Sender<Notice>,
}

impl ChatNotifier {
    /// Start the delivering task on `tasks`; once `stop` is cancelled it delivers what is
    /// queued, takes nothing more and ends.
    pub fn start(
        slack: Option<Arc<dyn ChannelPoster>>,
        discord: Option<Arc<dyn ChannelPoster>>,
        tasks: &tokio_util::task::TaskTracker,
        stop: tokio_util::sync::CancellationToken,
    ) -> ChatNotifier {
        let (tx, mut rx) = mpsc::channel::<Notice>(QUEUE);
        tasks.spawn(async move {
            while let Some(n) = crate::notify::next_notice(&mut rx, &stop).await {
                let m = message(&n);
                for target in n.targets.iter().filter_map(|t| Target::parse(t)) {
                    let (poster, channel, platform) = match &target {
                        Target::Slack(c) => (slack.as_ref(), c, "Slack"),
                        Target::Discord(c) => (discord.as_ref(), c, "Discord"),
                    };
                    let Some(poster) = poster else {
                        tracing::debug!(event = %n.event, "no {platform} token: notice not posted to {channel}");
                        continue;
                    };
                    if let Err(e) = poster.post(channel, &m).await {
                        tracing::warn!(event = %n.event, "notice not delivered to {platform} {channel}: {e}");
                    }
                }
            }
        });
        ChatNotifier { queue: tx }
    }
}

impl Notifier for ChatNotifier {
    fn notify(&self, n: Notice) {
        if !n.targets.iter().any(|t| Target::parse(t).is_some()) {
            return;
        }
        if let Err(e) = self.queue.try_send(n) {
            tracing::warn!("chat notification queue full or closed; notice dropped (it is in the log): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NoticeButton;

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("slack:#live-ops"), Some(Target::Slack("#live-ops".into())));
        assert_eq!(Target::parse("discord:123456789012345678"), Some(Target::Discord("123456789012345678".into())));
        assert_eq!(Target::parse("discord:#general"), None, "Discord channels are ids");
        assert_eq!(Target::parse("#live-ops"), None);
        assert_eq!(Target::parse("email:ops@example.com"), None);
    }

    #[test]
    fn an_alert_notice_carries_its_buttons() {
        let n = Notice {
            event: "final".into(),
            level: Level::Warning,
            text: "Failed to Write to Output on pipeline 0".into(),
            targets: vec!["slack:#live-ops".into()],
            buttons: vec![NoticeButton::new("Ack #4", "ack 4"), NoticeButton::new("Hold final", "hold final")],
        };
        let m = message(&n);
        assert_eq!(m.reply.headline, "final: Failed to Write to Output on pipeline 0");
        assert_eq!(m.visibility, Visibility::InChannel);
        let values: Vec<&str> = m.buttons.iter().map(|b| b.value.as_str()).collect();
        assert_eq!(values, ["run:ack 4", "run:hold final"]);
        assert_eq!(m.buttons[1].style, Style::Danger);
    }
}
