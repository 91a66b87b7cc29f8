//! `ottd schedule`: every event with its next phase changes, in its own time zone and UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::phase::{decide, next_boundaries};
use std::sync::Arc;

use crate::config::Resolved;

#[derive(Debug, Serialize)]
pub struct Change {
    pub utc: String,
    pub local: String,
    pub phase: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub event: String,
    pub title: String,
    pub enabled: bool,
    /// `on-demand`, or the event's time zone.
    pub timing: String,
    /// What the schedule wants right now (`None` for on-demand events).
    pub now: Option<&'static str>,
    pub next: Vec<Change>,
}

pub fn entries(events: &[Arc<Resolved>], now: DateTime<Utc>, limit: usize) -> Vec<Entry> {
    let mut out: Vec<Entry> = events
        .iter()
        .map(|e| {
            let t = e.spec.timing.as_ref();
            let next = next_boundaries(t, now, limit)
                .into_iter()
                .map(|(at, d)| Change {
                    utc: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    local: t
                        .map(|t| at.with_timezone(&t.tz).format("%Y-%m-%d %H:%M:%S %Z").to_string())
                        .unwrap_or_default(),
                    phase: d.as_str(),
                })
                .collect();
            Entry {
                event: e.spec.id.clone(),
                title: e.spec.title.clone(),
                enabled: e.spec.enabled,
                timing: t.map_or_else(|| "on-demand".to_string(), |t| t.tz.name().to_string()),
                now: decide(t, e.spec.enabled, now, None).desired.map(|d| d.as_str()),
                next,
            }
        })
        .collect();
    out.sort_by(|a, b| a.next.first().map(|c| c.utc.clone()).cmp(&b.next.first().map(|c| c.utc.clone())));
    out
}
