//! Operator overrides of the schedule, and each timed event's upcoming windows as the last
//! good configuration gave them (so a manual command while the schedule files are broken
//! still gets an override that ends).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::sqlite::Sqlite;
use super::{parse_time, time_str, Result, StoreError, Write};
use crate::lifecycle::{Override, OverrideKind};

/// An override as stored: what, since when, until when (`None` = until `ottd resume`), by whom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOverride {
    pub event: String,
    pub kind: OverrideKind,
    pub set_at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    /// Who set it, as the audit trail names actors (`cli:alice`, `schedule`, `slack:U123`).
    pub by: String,
}

impl StoredOverride {
    /// The override as the phase function reads it.
    pub fn as_override(&self) -> Override {
        Override { kind: self.kind, set_at: self.set_at, until: self.until }
    }
}

/// One window of a timed event, reduced to what an override's end needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownWindow {
    pub deploy_at: DateTime<Utc>,
    pub teardown_at: DateTime<Utc>,
}

type RawOverride = (String, String, String, Option<String>, String);

fn override_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawOverride> {
    r.try_into()
}

fn typed((event, kind, set_at, until, by): RawOverride) -> Result<StoredOverride> {
    let kind = OverrideKind::parse(&kind).ok_or(StoreError::Corrupt { what: "overrides.kind", value: kind })?;
    Ok(StoredOverride {
        event,
        kind,
        set_at: parse_time(&set_at, "overrides.set_at")?,
        until: until.map(|u| parse_time(&u, "overrides.until")).transpose()?,
        by,
    })
}

/// Operator overrides of the schedule and the known windows of timed events.
pub trait Overrides {
    /// Record an override (hold, manual start/stop/teardown/deploy) for an event.
    fn set_override(&self, o: &StoredOverride) -> Write<()>;
    /// Forget the event's override; `true` if it had one.
    fn clear_override(&self, event: &str) -> Write<bool>;
    fn overrides(&self) -> Result<Vec<StoredOverride>>;
    /// The event's override, if any.
    fn override_of(&self, event: &str) -> Result<Option<StoredOverride>>;
    /// Remember the upcoming windows of timed events, as the configuration now in force says.
    fn set_known_windows(&self, windows: Vec<(String, Vec<KnownWindow>)>) -> Write<()>;
    /// The upcoming windows last recorded for `event` (empty: none known).
    fn known_windows(&self, event: &str) -> Result<Vec<KnownWindow>>;
}

impl Overrides for Sqlite {
    fn set_override(&self, o: &StoredOverride) -> Write<()> {
        let o = o.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO overrides (event, kind, set_at, until, by) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![o.event, o.kind.as_str(), time_str(o.set_at), o.until.map(time_str), o.by])
            .map(drop)
        })
    }

    fn clear_override(&self, event: &str) -> Write<bool> {
        let event = event.to_string();
        self.write(move |c| Ok(c.execute("DELETE FROM overrides WHERE event = ?1", params![event])? > 0))
    }

    fn overrides(&self) -> Result<Vec<StoredOverride>> {
        let rows = self.with(|c| {
            let mut st = c.prepare_cached("SELECT event, kind, set_at, until, by FROM overrides ORDER BY event")?;
            let rows = st.query_map([], override_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(typed).collect()
    }

    fn override_of(&self, event: &str) -> Result<Option<StoredOverride>> {
        let row = self.with(|c| {
            c.prepare_cached("SELECT event, kind, set_at, until, by FROM overrides WHERE event = ?1")?
                .query_row(params![event], override_row)
                .optional()
        })?;
        row.map(typed).transpose()
    }

    fn set_known_windows(&self, windows: Vec<(String, Vec<KnownWindow>)>) -> Write<()> {
        let at = super::now();
        self.write(move |c| {
            let mut st = c.prepare_cached(
                "INSERT OR REPLACE INTO known_windows (event, windows, recorded_at) VALUES (?1, ?2, ?3)",
            )?;
            for (event, w) in &windows {
                let json = serde_json::to_string(w).unwrap_or_else(|_| "[]".into());
                st.execute(params![event, json, at])?;
            }
            Ok(())
        })
    }

    fn known_windows(&self, event: &str) -> Result<Vec<KnownWindow>> {
        let json: Option<String> = self.with(|c| {
            c.query_row("SELECT windows FROM known_windows WHERE event = ?1", params![event], |r| r.get(0)).optional()
        })?;
        match json {
            None => Ok(Vec::new()),
            Some(j) => {
                serde_json::from_str(&j).map_err(|_| StoreError::Corrupt { what: "known_windows.windows", value: j })
            }
        }
    }
}
