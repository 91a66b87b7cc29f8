//! A chat message, platform-neutral: the operations layer's [`Reply`] plus who sees it, the
//! buttons to press and a context line. Slack renders it as Block Kit
//! ([`super::slack::blocks`]), Discord as an embed with components ([`super::discord::embeds`]).

use crate::ops::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Only the caller sees it (reads: channels get noisy).
    #[default]
    Ephemeral,
    /// The channel sees it (changes: the team knows who did what).
    InChannel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Primary,
    Danger,
    Plain,
}

/// A button that runs something in ottd when pressed. Its value comes back in the platform's
/// signed interaction: `confirm:12`, `approve:12`, `run:ack 4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub value: String,
    pub style: Style,
}

impl Button {
    pub fn new(label: impl Into<String>, value: impl Into<String>, style: Style) -> Button {
        Button { label: label.into(), value: value.into(), style }
    }
}

/// How far along a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// An answer or a success.
    #[default]
    Done,
    /// Work under way: more follows.
    Working,
    /// A question (confirm, approve).
    Asking,
    /// Refused or failed.
    Failed,
    /// Not finished, not failed: run it again later (CloudFront still disabling).
    Pending,
}

#[derive(Debug, Clone, Default)]
pub struct Message {
    pub reply: Reply,
    pub visibility: Visibility,
    pub tone: Tone,
    /// Buttons that act (the reply's links are link buttons besides these).
    pub buttons: Vec<Button>,
    /// The line under the message: the event and the time, local and UTC.
    pub context: Option<String>,
}

impl Message {
    pub fn new(reply: Reply, visibility: Visibility, tone: Tone) -> Message {
        Message { reply, visibility, tone, ..Message::default() }
    }

    /// A one-line message.
    pub fn line(text: impl Into<String>, visibility: Visibility, tone: Tone) -> Message {
        Message::new(Reply::new(text), visibility, tone)
    }

    pub fn button(mut self, b: Button) -> Message {
        self.buttons.push(b);
        self
    }

    pub fn context(mut self, c: Option<String>) -> Message {
        self.context = c;
        self
    }

    /// Whether more messages follow this one.
    pub fn is_final(&self) -> bool {
        self.tone != Tone::Working
    }

    /// The message as plain text (notifications' fallback, logs of tests).
    pub fn plain(&self) -> String {
        let mut out = self.reply.text();
        for f in &self.reply.fields {
            out.push_str(&format!("{}: {}\n", f.name, f.value));
        }
        for l in &self.reply.links {
            out.push_str(&format!("{}: {}\n", l.label, l.url));
        }
        out
    }
}

/// `s` cut to at most `max` characters, with an ellipsis when cut (platform limits).
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_the_limit_in_characters() {
        assert_eq!(cut("final", 10), "final");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("abc", 0), "…");
    }
}
