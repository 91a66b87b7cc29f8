//! The pure part of Socket Mode: what a frame from Slack means ([`read`]), the
//! acknowledgement to send ([`ack`]), a URL fit for the log ([`shown`]), and the wait before
//! the next connection ([`Backoff`]). No I/O; the client in [`super`] does the talking.

use std::time::Duration;

use serde_json::{json, Value};

/// The first wait after a lost connection; doubles up to [`CEILING`].
pub const FIRST: Duration = Duration::from_secs(1);
pub const CEILING: Duration = Duration::from_secs(30);
/// At least this long between two `apps.connections.open` (Slack rate-limits it).
pub const MIN_GAP: Duration = Duration::from_secs(1);
/// The wait when Slack turned Socket Mode off or refused to open a connection: someone must
/// act in the app's settings; ottd checks back this often.
pub const SLOW_RETRY: Duration = Duration::from_secs(300);
/// Why Slack asked for a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The regular refresh (every few hours).
    Refresh,
    /// The connection closes in about 10 s.
    Warning,
    /// Socket Mode was turned off for the app.
    LinkDisabled,
    Other(String),
}

impl std::fmt::Display for Reason {
    /// Slack's word for it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::Refresh => "refresh_requested",
            Reason::Warning => "warning",
            Reason::LinkDisabled => "link_disabled",
            Reason::Other(s) => s,
        })
    }
}

impl Reason {
    fn parse(s: &str) -> Reason {
        match s {
            "refresh_requested" => Reason::Refresh,
            "warning" => Reason::Warning,
            "link_disabled" => Reason::LinkDisabled,
            other => Reason::Other(other.to_string()),
        }
    }
}

/// What a text frame from Slack asks of the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Hello,
    Disconnect(Reason),
    /// A slash command: its first answer goes in the ack when `in_ack`.
    Command {
        envelope_id: String,
        payload: Value,
        in_ack: bool,
    },
    /// A button: acked at once, answered on `response_url`.
    Interaction {
        envelope_id: String,
        payload: Value,
    },
    /// `events_api` and whatever else comes with an envelope id: acked and ignored.
    Other {
        envelope_id: String,
        kind: String,
    },
    /// Not JSON, or no envelope id: dropped (nothing to ack).
    Unreadable(String),
}

/// A text frame → what to do with it.
pub fn read(text: &str) -> Inbound {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Inbound::Unreadable(format!("not JSON: {e}")),
    };
    let kind = v["type"].as_str().unwrap_or_default();
    match kind {
        "hello" => return Inbound::Hello,
        "disconnect" => return Inbound::Disconnect(Reason::parse(v["reason"].as_str().unwrap_or_default())),
        _ => {}
    }
    let Some(envelope_id) = v["envelope_id"].as_str().filter(|id| !id.is_empty()).map(str::to_string) else {
        return Inbound::Unreadable(format!("a {kind:?} frame without an envelope_id"));
    };
    let payload = v["payload"].clone();
    match kind {
        "slash_commands" => {
            let in_ack = v["accepts_response_payload"].as_bool().unwrap_or(false);
            Inbound::Command { envelope_id, payload, in_ack }
        }
        "interactive" => Inbound::Interaction { envelope_id, payload },
        _ => Inbound::Other { envelope_id, kind: kind.to_string() },
    }
}

/// The acknowledgement of an envelope, with the immediate answer if any.
pub fn ack(envelope_id: &str, payload: Option<Value>) -> String {
    match payload {
        Some(p) => json!({"envelope_id": envelope_id, "payload": p}),
        None => json!({"envelope_id": envelope_id}),
    }
    .to_string()
}

/// A Socket Mode URL fit for logs: without its query (Slack's one-time `ticket`) or userinfo.
pub fn shown(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return "(not a URL)".into() };
    let had_query = u.query().is_some();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    if had_query {
        format!("{u}?…")
    } else {
        u.to_string()
    }
}

/// How the last connection went, for [`Backoff::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Slack asked for a new connection: open one now.
    Refresh,
    /// Closed, failed, silent, or could not be opened: back off.
    Lost,
    /// Socket Mode off, or Slack refused: someone must act; check back slowly.
    Disabled,
}

/// The wait before each new connection (see the module doc).
#[derive(Debug, Default)]
pub struct Backoff {
    /// Connections lost in a row since the last hello.
    failures: u32,
}

impl Backoff {
    /// `greeted`: the last connection got its hello (the doubling starts over).
    /// `since_open`: time since the last `apps.connections.open`.
    pub fn next(&mut self, greeted: bool, after: After, since_open: Duration) -> Duration {
        if greeted {
            self.failures = 0;
        }
        let wait = match after {
            After::Refresh => Duration::ZERO,
            After::Disabled => SLOW_RETRY,
            After::Lost => {
                let wait = FIRST.saturating_mul(1 << self.failures.min(16)).min(CEILING);
                self.failures = self.failures.saturating_add(1);
                wait
            }
        };
        wait.max(MIN_GAP.saturating_sub(since_open))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::slack::SlashCommand;

    #[test]
    fn frames_become_what_to_do() {
        assert_eq!(read(r#"{"type":"hello","num_connections":1}"#), Inbound::Hello);
        assert_eq!(read(r#"{"type":"disconnect","reason":"refresh_requested"}"#), Inbound::Disconnect(Reason::Refresh));
        assert_eq!(read(r#"{"type":"disconnect","reason":"warning"}"#), Inbound::Disconnect(Reason::Warning));
        assert_eq!(
            read(r#"{"type":"disconnect","reason":"link_disabled"}"#),
            Inbound::Disconnect(Reason::LinkDisabled)
        );
        assert_eq!(read(r#"{"type":"disconnect"}"#), Inbound::Disconnect(Reason::Other(String::new())));
        let cmd = r#"{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,
            "payload":{"user_id":"U1","channel_id":"C1","text":"status","response_url":"https://r"}}"#;
        let Inbound::Command { envelope_id, payload, in_ack } = read(cmd) else { panic!("not a command") };
        assert_eq!((envelope_id.as_str(), in_ack), ("e1", true));
        assert_eq!(SlashCommand::from_json(&payload).text, "status");
        let click = r#"{"envelope_id":"e2","type":"interactive","payload":{"type":"block_actions"}}"#;
        assert!(matches!(read(click), Inbound::Interaction { envelope_id, .. } if envelope_id == "e2"));
        assert_eq!(
            read(r#"{"envelope_id":"e3","type":"events_api","payload":{}}"#),
            Inbound::Other { envelope_id: "e3".into(), kind: "events_api".into() }
        );
    }

    #[test]
    fn frames_without_an_envelope_id_or_json_are_dropped() {
        assert!(matches!(read("not json"), Inbound::Unreadable(_)));
        assert!(matches!(read(r#"{"type":"slash_commands","payload":{}}"#), Inbound::Unreadable(_)));
        assert!(matches!(read(r#"{"type":"interactive","envelope_id":""}"#), Inbound::Unreadable(_)));
        assert!(matches!(read("[1,2]"), Inbound::Unreadable(_)));
    }

    #[test]
    fn acks_carry_the_envelope_id_and_the_answer_if_any() {
        let bare: Value = serde_json::from_str(&ack("e1", None)).unwrap_or_default();
        assert_eq!(bare, json!({"envelope_id": "e1"}));
        let full: Value = serde_json::from_str(&ack("e2", Some(json!({"text": "hi"})))).unwrap_or_default();
        assert_eq!(full, json!({"envelope_id": "e2", "payload": {"text": "hi"}}));
    }

    #[test]
    fn lost_connections_back_off_doubling_to_the_ceiling_and_start_over_after_a_hello() {
        let mut b = Backoff::default();
        let long = Duration::from_secs(60);
        let waits: Vec<u64> = (0..8).map(|_| b.next(false, After::Lost, long).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.next(true, After::Lost, long), FIRST);
        assert_eq!(b.next(false, After::Lost, long), 2 * FIRST);
        for _ in 0..100 {
            assert!(b.next(false, After::Lost, long) <= CEILING);
        }
    }

    #[test]
    fn a_refresh_reconnects_at_once_but_never_twice_within_the_gap() {
        let mut b = Backoff::default();
        assert_eq!(b.next(true, After::Refresh, Duration::from_secs(3600)), Duration::ZERO);
        assert_eq!(b.next(true, After::Refresh, Duration::from_millis(300)), Duration::from_millis(700));
    }

    #[test]
    fn a_disabled_link_is_retried_slowly_and_does_not_reset_the_backoff() {
        let mut b = Backoff::default();
        let long = Duration::from_secs(60);
        assert_eq!(b.next(false, After::Lost, long), FIRST);
        assert_eq!(b.next(false, After::Disabled, long), SLOW_RETRY);
        assert_eq!(b.next(false, After::Lost, long), 2 * FIRST);
    }

    #[test]
    fn logged_urls_never_show_the_ticket() {
        let url = "wss://wss-primary.slack.com/link/?ticket=1234-secret&app_id=A0";
        assert_eq!(shown(url), "wss://wss-primary.slack.com/link/?…");
        assert_eq!(shown("ws://u:p@127.0.0.1:9/x"), "ws://127.0.0.1:9/x");
        assert_eq!(shown("not a url ticket=1"), "(not a URL)");
    }
}
