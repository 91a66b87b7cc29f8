//! Alerts from MediaLive: each keyed on (channel, pipeline, alarm id), opened by SET and
//! closed by CLEARED, with the envelope ids already seen (EventBridge may deliver twice), and
//! the messages that could not be read (quarantined with their raw body).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use futures::future::BoxFuture;

use super::sqlite::Sqlite;
use super::{now, parse_time, time_str, Meta, Result, Write};
use crate::lifecycle::{AlarmState, Alert};

/// What recording an alert event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "recorded", rename_all = "kebab-case")]
pub enum Recorded {
    /// The same envelope id was recorded before: nothing changed.
    Duplicate,
    /// Older than what is recorded for its key: nothing changed.
    Stale,
    /// A new alert (SET).
    Opened { id: i64 },
    /// A SET for an alert already open (MediaLive repeats itself).
    StillOpen { id: i64 },
    /// CLEARED an open alert.
    Cleared { id: i64 },
    /// CLEARED for an alert never seen SET: kept for the record.
    ClearedUnseen { id: i64 },
    /// CLEARED again for an alert already closed (a repeat): nothing changed.
    AlreadyCleared { id: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub event: String,
    pub channel_id: String,
    pub pipeline: u8,
    pub alarm_id: String,
    pub alert_type: String,
    pub message: String,
    pub set_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// When people were told about it.
    pub notified_at: Option<DateTime<Utc>>,
    /// People were told it cleared (after recovery acted on it).
    pub cleared_notified: bool,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    /// What recovery did about it, and when.
    pub action: Option<String>,
    pub acted_at: Option<DateTime<Utc>>,
}

impl AlertRow {
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

type Raw = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

const COLUMNS: &str = "id, event, channel_id, pipeline, alarm_id, alert_type, message, set_at, cleared_at, \
                       notified_at, acked_by, acked_at, action, acted_at, cleared_notified";

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    r.try_into()
}

fn row(r: Raw) -> Result<AlertRow> {
    let t = |s: Option<String>, what| s.map(|s| parse_time(&s, what)).transpose();
    Ok(AlertRow {
        id: r.0,
        event: r.1,
        channel_id: r.2,
        pipeline: u8::try_from(r.3).unwrap_or(0),
        alarm_id: r.4,
        alert_type: r.5,
        message: r.6,
        set_at: parse_time(&r.7, "alerts.set_at")?,
        cleared_at: t(r.8, "alerts.cleared_at")?,
        notified_at: t(r.9, "alerts.notified_at")?,
        acked_by: r.10,
        acked_at: t(r.11, "alerts.acked_at")?,
        action: r.12,
        acted_at: t(r.13, "alerts.acted_at")?,
        cleared_notified: r.14,
    })
}

/// Remember an EventBridge envelope id: `true` the first time (in the caller's transaction).
fn note_envelope(c: &rusqlite::Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.prepare_cached("INSERT OR IGNORE INTO seen_envelopes (id, at) VALUES (?1, ?2)")?
        .execute(params![id, now()])?
        > 0)
}

/// MediaLive's alerts per event, correlated by channel, pipeline and alarm id, and the envelopes already taken.
pub trait Alerts {
    /// Record an alert event for `event` (the managed event its channel belongs to), once per
    /// envelope id, ignoring one older than what its key already has. Done in one write, so
    /// the SQS message may be deleted once this is committed.
    fn record_alert(
        &self,
        envelope_id: &str,
        time: DateTime<Utc>,
        event: &str,
        channel_id: &str,
        alert: &Alert,
    ) -> Write<Recorded>;
    /// Keep a message that could not be read, with its raw body and why (once per `source`,
    /// e.g. `sqs:<message id>`: a redelivery is not kept twice).
    fn quarantine(&self, source: &str, body: &str, error: &str) -> Write<()>;
    /// How many messages are quarantined.
    fn quarantined(&self) -> Result<u64>;
    /// Alerts, oldest first: open ones only, or all; of one event or all events.
    fn alerts(&self, event: Option<&str>, all: bool) -> Result<Vec<AlertRow>>;
    fn alert(&self, id: i64) -> Result<Option<AlertRow>>;
    /// A human has it: no more repeat notifications. `false` if there is no such alert.
    fn ack_alert(&self, id: i64, by: &str) -> Write<bool>;
    /// Claim telling people about the alert: `true` for the one caller (of every daemon
    /// sharing the state) that claims it first, who then tells them.
    fn alert_notified(&self, id: i64) -> Write<bool>;
    /// Close the event's open alerts (its channel is gone: nothing will clear them).
    fn close_alerts_of(&self, event: &str, at: DateTime<Utc>) -> Write<usize>;
    /// Claim telling people the alert cleared: `true` for the first claimant only.
    fn alert_cleared_notified(&self, id: i64) -> Write<bool>;
    /// Claim acting on the alert (recorded before acting): `true` for the first claimant only,
    /// so of several daemons sweeping the same alert exactly one acts.
    fn alert_acted(&self, id: i64, action: &str, at: DateTime<Utc>) -> Write<bool>;
    /// When recovery changed something on `event` since `since` (the breaker counts these),
    /// from the audit trail as committed: queued audit rows are flushed first, so two passes
    /// one after the other never both see room in the breaker for one more action.
    fn recovery_actions<'a>(
        &'a self,
        event: &'a str,
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<DateTime<Utc>>>>;
    /// Events with an alert recovery has not settled: people not told yet, open and not acted
    /// on, or cleared after an action and not told so (what the alert runner looks
    /// at again after a restart).
    fn events_with_undecided_alerts(&self) -> Result<Vec<String>>;
    /// Whether this envelope id is new (and remember it): MediaLive's channel state changes
    /// are deduplicated like its alerts.
    fn first_sight(&self, envelope_id: &str) -> Write<bool>;
    /// The managed event whose deployment has this MediaLive channel, if any.
    fn event_of_channel(&self, channel_id: &str) -> Result<Option<String>>;
    /// Forget alert history and seen envelope ids from before `before`; open alerts stay.
    fn prune_alerts(&self, before: DateTime<Utc>) -> Write<usize>;
}

impl Alerts for Sqlite {
    fn record_alert(
        &self,
        envelope_id: &str,
        time: DateTime<Utc>,
        event: &str,
        channel_id: &str,
        alert: &Alert,
    ) -> Write<Recorded> {
        let (envelope_id, event, channel_id, a) =
            (envelope_id.to_string(), event.to_string(), channel_id.to_string(), alert.clone());
        self.write(move |c| {
            if !note_envelope(c, &envelope_id)? {
                return Ok(Recorded::Duplicate);
            }
            let at = time_str(time);
            let latest: Option<(i64, String, Option<String>)> = c
                .prepare_cached(
                    "SELECT id, last_time, cleared_at FROM alerts WHERE channel_id = ?1 AND pipeline = ?2 AND alarm_id = ?3
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![channel_id, a.pipeline, a.alarm_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if let Some((_, last, _)) = &latest {
                // Stored times are fixed-width RFC 3339 UTC: they compare as text.
                if at < *last {
                    return Ok(Recorded::Stale);
                }
            }
            let insert = |cleared: Option<&str>| -> rusqlite::Result<i64> {
                c.prepare_cached(
                    "INSERT INTO alerts (event, channel_id, pipeline, alarm_id, alert_type, message, set_at, cleared_at, last_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
                )?
                .execute(params![event, channel_id, a.pipeline, a.alarm_id, a.alert_type, a.message, at, cleared])?;
                Ok(c.last_insert_rowid())
            };
            Ok(match (a.state, latest) {
                (AlarmState::Set, Some((id, _, None))) => {
                    c.execute("UPDATE alerts SET last_time = ?2, message = ?3 WHERE id = ?1", params![id, at, a.message])?;
                    Recorded::StillOpen { id }
                }
                (AlarmState::Set, _) => Recorded::Opened { id: insert(None)? },
                (AlarmState::Cleared, Some((id, _, None))) => {
                    c.execute("UPDATE alerts SET cleared_at = ?2, last_time = ?2 WHERE id = ?1", params![id, at])?;
                    Recorded::Cleared { id }
                }
                (AlarmState::Cleared, Some((id, _, Some(_)))) => Recorded::AlreadyCleared { id },
                (AlarmState::Cleared, None) => Recorded::ClearedUnseen { id: insert(Some(&at))? },
            })
        })
    }

    fn quarantine(&self, source: &str, body: &str, error: &str) -> Write<()> {
        let (source, body, error) = (source.to_string(), body.to_string(), error.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO quarantine (at, source, body, error) VALUES (?1, ?2, ?3, ?4)",
                params![now(), source, body, error],
            )
            .map(drop)
        })
    }

    fn quarantined(&self) -> Result<u64> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0)))
    }

    fn alerts(&self, event: Option<&str>, all: bool) -> Result<Vec<AlertRow>> {
        let rows: Vec<Raw> = self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE (?1 IS NULL OR event = ?1) AND (?2 OR cleared_at IS NULL) ORDER BY id"
            ))?;
            let rows = st.query_map(params![event, all], raw)?;
            rows.collect()
        })?;
        rows.into_iter().map(row).collect()
    }

    fn alert(&self, id: i64) -> Result<Option<AlertRow>> {
        let r = self.with(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?
                .query_row(params![id], raw)
                .optional()
        })?;
        r.map(row).transpose()
    }

    fn ack_alert(&self, id: i64, by: &str) -> Write<bool> {
        let by = by.to_string();
        self.write(move |c| {
            Ok(c.execute("UPDATE alerts SET acked_by = ?2, acked_at = ?3 WHERE id = ?1", params![id, by, now()])? > 0)
        })
    }

    fn alert_notified(&self, id: i64) -> Write<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE alerts SET notified_at = ?2 WHERE id = ?1 AND notified_at IS NULL",
                params![id, now()],
            )?;
            Ok(n == 1)
        })
    }

    fn close_alerts_of(&self, event: &str, at: DateTime<Utc>) -> Write<usize> {
        let (event, at) = (event.to_string(), time_str(at));
        self.write(move |c| {
            c.execute(
                "UPDATE alerts SET cleared_at = ?2, last_time = MAX(last_time, ?2), cleared_notified = 1
                 WHERE event = ?1 AND cleared_at IS NULL",
                params![event, at],
            )
        })
    }

    fn alert_cleared_notified(&self, id: i64) -> Write<bool> {
        self.write(move |c| {
            let n = c.execute(
                "UPDATE alerts SET cleared_notified = 1 WHERE id = ?1 AND cleared_notified = 0",
                params![id],
            )?;
            Ok(n == 1)
        })
    }

    fn alert_acted(&self, id: i64, action: &str, at: DateTime<Utc>) -> Write<bool> {
        let action = action.to_string();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE alerts SET action = ?2, acted_at = ?3 WHERE id = ?1 AND acted_at IS NULL",
                params![id, action, time_str(at)],
            )?;
            Ok(n == 1)
        })
    }

    fn recovery_actions<'a>(
        &'a self,
        event: &'a str,
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<DateTime<Utc>>>> {
        Box::pin(async move {
            self.flush().await?;
            let rows: Vec<String> = self.with(|c| {
                let mut st = c.prepare_cached(
                    "SELECT at FROM audit WHERE event = ?1 AND actor = 'recovery' AND changes AND decision != 'refused'
                     AND at >= ?2 ORDER BY id",
                )?;
                let rows = st.query_map(params![event, time_str(since)], |r| r.get(0))?;
                rows.collect()
            })?;
            rows.iter().map(|t| parse_time(t, "audit.at")).collect()
        })
    }

    fn events_with_undecided_alerts(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT event FROM alerts WHERE notified_at IS NULL
                     OR (cleared_at IS NULL AND acted_at IS NULL)
                     OR (cleared_at IS NOT NULL AND acted_at IS NOT NULL AND cleared_notified = 0)
                 ORDER BY event",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn first_sight(&self, envelope_id: &str) -> Write<bool> {
        let id = envelope_id.to_string();
        self.write(move |c| note_envelope(c, &id))
    }

    fn event_of_channel(&self, channel_id: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT event FROM resources WHERE kind = 'channel' AND aws_id = ?1 ORDER BY rowid DESC LIMIT 1",
            )?
            .query_row(params![channel_id], |r| r.get(0))
            .optional()
        })
    }

    fn prune_alerts(&self, before: DateTime<Utc>) -> Write<usize> {
        let before = time_str(before);
        self.write(move |c| {
            let a = c.execute("DELETE FROM alerts WHERE cleared_at IS NOT NULL AND last_time < ?1", params![before])?;
            let s = c.execute("DELETE FROM seen_envelopes WHERE at < ?1", params![before])?;
            let q = c.execute("DELETE FROM quarantine WHERE at < ?1", params![before])?;
            Ok(a + s + q)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    fn alert(state: AlarmState) -> Alert {
        Alert {
            state,
            alarm_id: "a1".into(),
            alert_type: "Failed to Write to Output".into(),
            pipeline: 1,
            message: "403".into(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, "t").expect("time")
    }

    #[test]
    fn set_then_cleared_opens_and_closes_once_and_duplicates_and_stale_events_change_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        let rec = |id: &str, time: &str, state| {
            store.record_alert(id, t(time), "final", "123", &alert(state)).wait().expect("record")
        };
        let opened = rec("e1", "2026-12-18T20:00:00Z", AlarmState::Set);
        let Recorded::Opened { id } = opened else { panic!("{opened:?}") };
        assert_eq!(rec("e1", "2026-12-18T20:00:00Z", AlarmState::Set), Recorded::Duplicate);
        assert_eq!(rec("e2", "2026-12-18T20:00:05Z", AlarmState::Set), Recorded::StillOpen { id });
        assert_eq!(rec("e0", "2026-12-18T19:59:00Z", AlarmState::Cleared), Recorded::Stale, "older than recorded");
        assert_eq!(store.alerts(Some("final"), false).expect("q").len(), 1);
        assert_eq!(rec("e3", "2026-12-18T20:00:20Z", AlarmState::Cleared), Recorded::Cleared { id });
        assert!(store.alerts(Some("final"), false).expect("q").is_empty(), "closed");
        assert_eq!(
            rec("e3b", "2026-12-18T20:00:20Z", AlarmState::Cleared),
            Recorded::AlreadyCleared { id },
            "a repeat"
        );
        let again = rec("e4", "2026-12-18T21:00:00Z", AlarmState::Set);
        assert!(matches!(again, Recorded::Opened { id: n } if n != id), "the same alarm id later is a new alert");
        let all = store.alerts(None, true).expect("q");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cleared_at, Some(t("2026-12-18T20:00:20Z")));
        assert!(store.ack_alert(all[1].id, "cli:ops").wait().expect("ack"));
        assert_eq!(store.alert(all[1].id).expect("q").and_then(|a| a.acked_by).as_deref(), Some("cli:ops"));
        assert!(!store.ack_alert(999, "cli:ops").wait().expect("ack"));
    }
}
