//! A [`Message`] as Slack Block Kit: a section with the headline, a section of fields, the
//! longer lines in a code block, link buttons (playback, test players) and action buttons in
//! an actions block, and a context line. Slack's limits are respected (section text 3,000
//! characters, 10 fields, button text 75, 25 elements per actions block).

use serde_json::{json, Value};

use crate::chat::message::{cut, Message, Style, Tone, Visibility};

const TEXT_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_MAX: usize = 10;
const BUTTON_TEXT_MAX: usize = 75;
const ELEMENTS_MAX: usize = 25;

/// The prefix of every action id ottd puts on a button.
pub const ACTION_PREFIX: &str = "ott:";

fn mark(tone: Tone) -> &'static str {
    match tone {
        Tone::Done => ":white_check_mark:",
        Tone::Working => ":hourglass_flowing_sand:",
        Tone::Asking => ":raised_hand:",
        Tone::Failed => ":x:",
        Tone::Pending => ":double_vertical_bar:",
    }
}

/// Slack's mrkdwn escapes: `&`, `<` and `>` are control characters. User mentions
/// (`<@U0123>`) stay mentions.
pub fn escape(s: &str) -> String {
    let escaped = s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    if !escaped.contains("&lt;@") {
        return escaped;
    }
    static MENTION: std::sync::LazyLock<regex_lite::Regex> =
        std::sync::LazyLock::new(|| regex_lite::Regex::new(r"&lt;@([A-Z0-9]{2,30})&gt;").expect("a valid pattern"));
    MENTION.replace_all(&escaped, "<@$1>").into_owned()
}

/// The blocks alone.
pub fn blocks(m: &Message) -> Vec<Value> {
    let r = &m.reply;
    let mut blocks = Vec::new();
    let headline = format!("{} *{}*", mark(m.tone), escape(&r.headline));
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&headline, TEXT_MAX)}}));
    if !r.fields.is_empty() {
        let fields: Vec<Value> = r
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                let text = format!("*{}*\n{}", escape(&f.name), escape(&f.value));
                json!({"type": "mrkdwn", "text": cut(&text, FIELD_MAX)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !r.lines.is_empty() {
        let body = cut(&r.lines.join("\n"), TEXT_MAX - 8);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("```{}```", escape(&body))}}));
    }
    let mut elements: Vec<Value> = r
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "type": "button",
                "action_id": format!("link:{i}"),
                "text": {"type": "plain_text", "text": cut(&l.label, BUTTON_TEXT_MAX)},
                "url": l.url,
            })
        })
        .collect();
    elements.extend(m.buttons.iter().enumerate().map(|(i, b)| {
        let mut button = json!({
            "type": "button",
            "action_id": format!("{ACTION_PREFIX}{i}"),
            "text": {"type": "plain_text", "text": cut(&b.label, BUTTON_TEXT_MAX)},
            "value": b.value,
        });
        match b.style {
            Style::Primary => button["style"] = json!("primary"),
            Style::Danger => button["style"] = json!("danger"),
            Style::Plain => {}
        }
        button
    }));
    for chunk in elements.chunks(ELEMENTS_MAX) {
        blocks.push(json!({"type": "actions", "elements": chunk}));
    }
    let mut context: Vec<String> = r.notes.iter().map(|n| escape(n)).collect();
    context.extend(m.context.iter().map(|c| escape(c)));
    if !context.is_empty() {
        let elements: Vec<Value> =
            context.iter().take(10).map(|c| json!({"type": "mrkdwn", "text": cut(c, TEXT_MAX)})).collect();
        blocks.push(json!({"type": "context", "elements": elements}));
    }
    blocks
}

/// A message body for a slash-command answer or a `response_url` follow-up.
/// `replace`: the follow-up replaces the message it answers (progress edits).
pub fn response(m: &Message, replace: bool) -> Value {
    let mut v = json!({
        "response_type": match m.visibility { Visibility::Ephemeral => "ephemeral", Visibility::InChannel => "in_channel" },
        "text": cut(&m.reply.headline, TEXT_MAX),
        "blocks": blocks(m),
    });
    if replace {
        v["replace_original"] = json!(true);
    }
    v
}

/// A `chat.postMessage` body (notifications).
pub fn post(channel: &str, m: &Message) -> Value {
    json!({"channel": channel, "text": cut(&m.reply.headline, TEXT_MAX), "blocks": blocks(m), "unfurl_links": false})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::message::Button;
    use crate::ops::Reply;

    #[test]
    fn a_reply_becomes_sections_buttons_and_context() {
        let mut reply = Reply::new("final is on air").field("phase", "running").field("channel", "RUNNING");
        reply.link("HLS playback", "https://d1.cloudfront.net/out/v1/x/index.m3u8");
        reply.link("hls.js player", "https://hls-js.netlify.app/demo/?src=https%3A%2F%2Fd1");
        reply.notes.push("the daemon keeps final this way until 22:00 UTC".into());
        let m = Message::new(reply, Visibility::InChannel, Tone::Done)
            .button(Button::new("Hold", "run:hold final", Style::Danger))
            .context(Some("final · 21:04 Europe/Paris · 20:04 UTC".into()));
        let v = response(&m, true);
        assert_eq!(v["response_type"], "in_channel");
        assert_eq!(v["replace_original"], true);
        let blocks = v["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["text"]["text"], ":white_check_mark: *final is on air*");
        assert_eq!(blocks[1]["fields"][0]["text"], "*phase*\nrunning");
        let actions = &blocks[2]["elements"];
        assert_eq!(actions[0]["url"], "https://d1.cloudfront.net/out/v1/x/index.m3u8");
        assert_eq!(actions[1]["text"]["text"], "hls.js player");
        assert_eq!(actions[2]["value"], "run:hold final");
        assert_eq!(actions[2]["action_id"], "ott:0");
        assert_eq!(actions[2]["style"], "danger");
        assert_eq!(blocks[3]["type"], "context");
        assert_eq!(blocks[3]["elements"][1]["text"], "final · 21:04 Europe/Paris · 20:04 UTC");
    }

    #[test]
    fn a_links_answer_shows_the_preview_page_beside_the_test_players() {
        let mut reply = Reply::new("final on d1.cloudfront.net");
        for f in ["HLS", "DASH", "CMAF"] {
            reply.link(f, format!("https://d1.cloudfront.net/{f}"));
            reply.link(format!("{f} player"), format!("https://player.example/{f}"));
        }
        reply.link("Preview", "https://ottd.example.net/preview/final?t=ab12");
        let v = response(&Message::new(reply, Visibility::Ephemeral, Tone::Done), false);
        let actions = &v["blocks"][1]["elements"];
        assert_eq!(actions[5]["text"]["text"], "CMAF player");
        assert_eq!(
            (actions[6]["text"]["text"].as_str(), actions[6]["url"].as_str()),
            (Some("Preview"), Some("https://ottd.example.net/preview/final?t=ab12"))
        );
    }

    #[test]
    fn limits_and_escapes() {
        let mut reply = Reply::new("<script> & co");
        for i in 0..12 {
            reply = reply.field(&format!("f{i}"), "x".repeat(3000));
        }
        reply.lines = vec!["y".repeat(5000)];
        let v = response(&Message::new(reply, Visibility::Ephemeral, Tone::Failed), false);
        assert_eq!(v["response_type"], "ephemeral");
        assert!(v.get("replace_original").is_none());
        let blocks = v["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["text"]["text"], ":x: *&lt;script&gt; &amp; co*");
        assert_eq!(escape("by <@U0DEMO> & <@x>"), "by <@U0DEMO> &amp; &lt;@x&gt;");
        assert_eq!(blocks[1]["fields"].as_array().expect("fields").len(), 10);
        assert!(blocks[1]["fields"][0]["text"].as_str().expect("text").chars().count() <= 2000);
        assert!(blocks[2]["text"]["text"].as_str().expect("text").chars().count() <= 3000);
    }
}
