//! A [`Message`] as a Discord message: one embed (title = headline, fields, the longer lines
//! in a code block, notes and context in the footer) and action rows of buttons: link buttons
//! (style 5) for playback and test players, and buttons (custom id = the action) for ottd.
//! Discord's limits are respected (title 256, description 4,096, 25 fields of 1,024, button
//! label 80, custom id 100, 5 buttons per row, 5 rows).

use serde_json::{json, Value};

use crate::chat::message::{cut, Message, Style, Tone, Visibility};

const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const FIELDS_MAX: usize = 25;
const FOOTER_MAX: usize = 2048;
const LABEL_MAX: usize = 80;
const CUSTOM_ID_MAX: usize = 100;
const PER_ROW: usize = 5;
const ROWS_MAX: usize = 5;

/// The flag that makes a message visible to the caller only.
pub const EPHEMERAL: u64 = 1 << 6;

fn colour(tone: Tone) -> u32 {
    match tone {
        Tone::Done => 0x2e_b8_86,
        Tone::Working => 0x3b_82_f6,
        Tone::Asking => 0xf5_9e_0b,
        Tone::Failed => 0xdc_26_26,
        Tone::Pending => 0xa3_a3_a3,
    }
}

/// The message data (for an interaction response, a webhook edit or a channel message).
pub fn message(m: &Message) -> Value {
    let r = &m.reply;
    let mut embed = json!({"title": cut(&r.headline, TITLE_MAX), "color": colour(m.tone)});
    if !r.lines.is_empty() {
        embed["description"] = json!(format!("```\n{}\n```", cut(&r.lines.join("\n"), DESCRIPTION_MAX - 8)));
    }
    if !r.fields.is_empty() {
        let fields: Vec<Value> = r
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                let value = if f.value.is_empty() { "-".to_string() } else { cut(&f.value, FIELD_VALUE_MAX) };
                json!({"name": cut(&f.name, FIELD_NAME_MAX), "value": value, "inline": true})
            })
            .collect();
        embed["fields"] = json!(fields);
    }
    let mut footer: Vec<&str> = r.notes.iter().map(String::as_str).collect();
    footer.extend(m.context.as_deref());
    if !footer.is_empty() {
        embed["footer"] = json!({"text": cut(&footer.join("\n"), FOOTER_MAX)});
    }
    let mut buttons: Vec<Value> = r
        .links
        .iter()
        .filter(|l| l.url.starts_with("https://") || l.url.starts_with("http://"))
        .map(|l| json!({"type": 2, "style": 5, "label": cut(&l.label, LABEL_MAX), "url": l.url}))
        .collect();
    buttons.extend(m.buttons.iter().filter(|b| b.value.len() <= CUSTOM_ID_MAX).map(|b| {
        let style = match b.style {
            Style::Primary => 1,
            Style::Plain => 2,
            Style::Danger => 4,
        };
        json!({"type": 2, "style": style, "label": cut(&b.label, LABEL_MAX), "custom_id": b.value})
    }));
    let rows: Vec<Value> =
        buttons.chunks(PER_ROW).take(ROWS_MAX).map(|row| json!({"type": 1, "components": row})).collect();
    let mut v = json!({"embeds": [embed], "components": rows, "allowed_mentions": {"parse": []}});
    if m.visibility == Visibility::Ephemeral {
        v["flags"] = json!(EPHEMERAL);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::message::Button;
    use crate::ops::Reply;

    #[test]
    fn a_reply_becomes_an_embed_with_link_and_action_buttons() {
        let mut reply = Reply::new("final is on air").field("phase", "running");
        reply.link("HLS playback", "https://d1.cloudfront.net/out/v1/x/index.m3u8");
        reply.link("push to", "rtmp://10.0.0.1:1935/live/final");
        reply.lines = vec!["a".into(), "b".into()];
        let m = Message::new(reply, Visibility::Ephemeral, Tone::Done)
            .button(Button::new("Ack", "run:ack 4", Style::Primary))
            .context(Some("final · 20:04 UTC".into()));
        let v = message(&m);
        assert_eq!(v["flags"], EPHEMERAL);
        assert_eq!(v["embeds"][0]["title"], "final is on air");
        assert_eq!(v["embeds"][0]["description"], "```\na\nb\n```");
        assert_eq!(v["embeds"][0]["fields"][0]["name"], "phase");
        assert_eq!(v["embeds"][0]["footer"]["text"], "final · 20:04 UTC");
        let row = &v["components"][0]["components"];
        assert_eq!(row[0]["style"], 5);
        assert_eq!(row[0]["url"], "https://d1.cloudfront.net/out/v1/x/index.m3u8");
        assert_eq!(row[1]["custom_id"], "run:ack 4", "an rtmp:// link is not a button: Discord only takes http(s)");
        assert!(row.get(2).is_none());
    }

    #[test]
    fn a_links_answer_shows_the_preview_page_beside_the_test_players() {
        let mut reply = Reply::new("final on d1.cloudfront.net");
        for f in ["HLS", "DASH", "CMAF"] {
            reply.link(f, format!("https://d1.cloudfront.net/{f}"));
            reply.link(format!("{f} player"), format!("https://player.example/{f}"));
        }
        reply.link("Preview", "http://127.0.0.1:9180/preview/final?t=ab12");
        let v = message(&Message::new(reply, Visibility::Ephemeral, Tone::Done));
        let second = &v["components"][1]["components"];
        assert_eq!(second[1]["label"], "Preview", "the seventh button, in the second row of five");
        assert_eq!(second[1]["url"], "http://127.0.0.1:9180/preview/final?t=ab12");
    }

    #[test]
    fn buttons_wrap_into_rows_of_five_and_stop_at_five_rows() {
        let mut m = Message::line("x", Visibility::InChannel, Tone::Asking);
        for i in 0..30 {
            m = m.button(Button::new(format!("b{i}"), format!("run:ack {i}"), Style::Plain));
        }
        let v = message(&m);
        assert!(v.get("flags").is_none());
        let rows = v["components"].as_array().expect("rows");
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r["components"].as_array().is_some_and(|c| c.len() == 5)));
    }
}
