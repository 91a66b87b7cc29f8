//! What an operation answers, structured so each front end renders it its own way: the CLI
//! as text or JSON ([`Reply::text`], [`Reply::data`]), chat as Slack blocks or Discord embeds.

use serde::Serialize;

/// How the answer ends, for exit statuses and chat wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    #[default]
    Done,
    /// Progress, not failure (CloudFront still disabling): run it again later.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Reply {
    /// One line saying what happened: "final is RUNNING (94.2s)".
    pub headline: String,
    pub outcome: Outcome,
    /// Facts worth a label: phase, deployment, channel state, override end.
    pub fields: Vec<Field>,
    /// Playback URLs and test players (chat shows them as buttons).
    pub links: Vec<Link>,
    /// Longer text for the terminal (tables of resources, plans, schedules), one line each.
    pub lines: Vec<String>,
    /// Notes said along the way: an override recorded, a wait behind another actor.
    pub notes: Vec<String>,
    /// The structured answer (`--output json`); `null` when the fields say it all.
    pub data: serde_json::Value,
}

impl Reply {
    pub fn new(headline: impl Into<String>) -> Reply {
        Reply { headline: headline.into(), ..Reply::default() }
    }

    pub fn field(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.fields.push(Field { name: name.to_string(), value: value.into() });
        self
    }

    pub fn link(&mut self, label: impl Into<String>, url: impl Into<String>) {
        self.links.push(Link { label: label.into(), url: url.into() });
    }

    pub fn with_data<T: Serialize>(mut self, data: &T) -> Reply {
        self.data = serde_json::to_value(data).unwrap_or(serde_json::Value::Null);
        self
    }

    /// The reply as terminal text: notes, headline, lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.notes {
            out.push_str(n);
            out.push('\n');
        }
        if !self.headline.is_empty() {
            out.push_str(&self.headline);
            out.push('\n');
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The reply as JSON: its data when it has some, else the whole reply.
    pub fn json(&self) -> String {
        let v = if self.data.is_null() { serde_json::to_value(self).unwrap_or_default() } else { self.data.clone() };
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}
