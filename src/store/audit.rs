//! The audit trail: every operation anyone asked for (CLI user, schedule, recovery, chat
//! user), what was decided, how it ended and how long it took. A row is opened when the
//! operation is admitted and closed when it ends, so an operation cut short by a crash still
//! shows, with no result.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::sqlite::Sqlite;
use super::{parse_time, time_str, Meta, Result, StoreError, Write};

/// What is known when an operation is admitted (or refused).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `cli:alice`, `schedule`, `recovery`, `slack:U123`…
    pub actor: String,
    pub event: Option<String>,
    pub operation: String,
    /// The operation's arguments as JSON.
    pub args: String,
    /// `allowed`, `queued` or `refused`.
    pub decision: String,
    /// Whether the operation changes anything (a read does not): `ottd audit` hides reads
    /// unless asked.
    pub changes: bool,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEnd {
    /// `ok`, or the error's class (`transient`, `permanent`, `pending`, `busy`, `refused`).
    pub result: &'static str,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// An open audit row, to close when its operation ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKey(String);

impl AuditKey {
    pub(super) fn new(at: DateTime<Utc>) -> AuditKey {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        AuditKey(format!("{}-{}-{n}", super::instance(), at.timestamp_micros()))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// When its operation was admitted (micros since the epoch), as the key carries it: the
    /// DynamoDB backend finds the row's day bucket by it.
    pub(super) fn at_micros(&self) -> Option<i64> {
        self.0.rsplit('-').nth(1).and_then(|m| m.parse().ok())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: Option<String>,
    pub operation: String,
    pub args: serde_json::Value,
    pub decision: String,
    /// `None` while it runs (or when its process died before it ended).
    pub result: Option<String>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// The ottd that executed it (`host:pid:random`; empty on rows from before ottd recorded it).
    pub instance: String,
}

type RawRow =
    (i64, String, String, Option<String>, String, String, String, Option<String>, Option<i64>, Option<String>, String);

/// The audit trail: every admitted operation, who asked, what it decided and how it ended.
pub trait Audit {
    /// Record an admitted operation; close it with [`Store::audit_close`]. The write is
    /// queued, not waited for: the audit trail never holds up the action it records.
    fn audit_open(&self, e: &AuditEntry) -> AuditKey;
    fn audit_close(&self, key: &AuditKey, end: AuditEnd);
    /// Close an admitted operation that was refused when its turn came (a hold placed while
    /// it was queued): its decision becomes `refused`.
    fn audit_refuse(&self, key: &AuditKey, end: AuditEnd);
    /// Record an operation that is over as soon as it is decided (a refusal, a read).
    fn audit_record(&self, e: &AuditEntry, end: AuditEnd);
    /// Audit rows, oldest first: of one event or all, from `since` on, reads too or not, the
    /// latest `limit`. Rows still queued for the writer count too: this blocks the thread
    /// until they are committed, so async code flushes with `.await` and calls
    /// [`Store::audit_committed`] instead.
    fn audit(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>>;
    /// [`Store::audit`] of the rows committed so far.
    fn audit_committed(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>>;
    /// Forget audit rows from before `before`. Returns how many went.
    fn prune_audit(&self, before: DateTime<Utc>) -> Write<usize>;
}

impl Audit for Sqlite {
    fn audit_open(&self, e: &AuditEntry) -> AuditKey {
        let key = AuditKey::new(e.at);
        let (e, k) = (e.clone(), key.0.clone());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO audit (at, actor, event, operation, args, decision, changes, key, instance)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                time_str(e.at),
                e.actor,
                e.event,
                e.operation,
                e.args,
                e.decision,
                e.changes,
                k,
                super::instance()
            ])
            .map(drop)
        })
        .detach();
        key
    }

    fn audit_close(&self, key: &AuditKey, end: AuditEnd) {
        let k = key.0.clone();
        self.write(move |c| {
            c.prepare_cached("UPDATE audit SET result = ?2, duration_ms = ?3, error = ?4 WHERE key = ?1")?
                .execute(params![k, end.result, i64::try_from(end.duration_ms).unwrap_or(i64::MAX), end.error])
                .map(drop)
        })
        .detach();
    }

    fn audit_refuse(&self, key: &AuditKey, end: AuditEnd) {
        let k = key.0.clone();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE audit SET decision = 'refused', result = ?2, duration_ms = ?3, error = ?4 WHERE key = ?1",
            )?
            .execute(params![k, end.result, i64::try_from(end.duration_ms).unwrap_or(i64::MAX), end.error])
            .map(drop)
        })
        .detach();
    }

    fn audit_record(&self, e: &AuditEntry, end: AuditEnd) {
        let (e, k) = (e.clone(), AuditKey::new(e.at).0);
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO audit (at, actor, event, operation, args, decision, key, result, duration_ms, error, changes,
                     instance)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                time_str(e.at),
                e.actor,
                e.event,
                e.operation,
                e.args,
                e.decision,
                k,
                end.result,
                i64::try_from(end.duration_ms).unwrap_or(i64::MAX),
                end.error,
                e.changes,
                super::instance()
            ])
            .map(drop)
        })
        .detach();
    }

    fn audit(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        self.flush().wait()?;
        self.audit_committed(event, since, reads, limit)
    }

    fn audit_committed(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        let since = since.map(time_str).unwrap_or_default();
        let rows: Vec<RawRow> = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, at, actor, event, operation, args, decision, result, duration_ms, error, instance FROM (
                     SELECT * FROM audit WHERE (?1 IS NULL OR event = ?1) AND at >= ?2 AND (?4 OR changes)
                     ORDER BY id DESC LIMIT ?3
                 ) ORDER BY id",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![event, since, limit, reads], |r| RawRow::try_from(r))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(id, at, actor, event, operation, args, decision, result, ms, error, instance)| {
                Ok(AuditRow {
                    id,
                    at: parse_time(&at, "audit.at")?,
                    actor,
                    event,
                    operation,
                    args: serde_json::from_str(&args)
                        .map_err(|_| StoreError::Corrupt { what: "audit.args", value: args.clone() })?,
                    decision,
                    result,
                    duration_ms: ms.map(|m| m.max(0) as u64),
                    error,
                    instance,
                })
            })
            .collect()
    }

    fn prune_audit(&self, before: DateTime<Utc>) -> Write<usize> {
        let before = time_str(before);
        self.write(move |c| c.execute("DELETE FROM audit WHERE at < ?1", params![before]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    fn entry(actor: &str, event: &str, op: &str, at: &str) -> AuditEntry {
        AuditEntry {
            at: parse_time(at, "test").expect("time"),
            actor: actor.into(),
            event: Some(event.into()),
            operation: op.into(),
            args: "{}".into(),
            decision: "allowed".into(),
            changes: true,
        }
    }

    #[test]
    fn an_audit_row_is_opened_then_closed_and_read_back_by_event_and_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        let key = store.audit_open(&entry("cli:ops", "final", "start", "2026-11-30T10:00:00Z"));
        assert_eq!(store.audit(None, None, true, 10).expect("q")[0].result, None, "running: no result yet");
        store.audit_close(&key, AuditEnd { result: "ok", duration_ms: 1500, error: None });
        let refused =
            AuditEntry { decision: "refused".into(), ..entry("slack:U1", "semi", "teardown", "2026-11-30T11:00:00Z") };
        store.audit_record(&refused, AuditEnd { result: "refused", duration_ms: 0, error: Some("on hold".into()) });
        let all = store.audit(None, None, true, 10).expect("q");
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].result.as_deref(), all[0].duration_ms), (Some("ok"), Some(1500)));
        assert_eq!(all[1].error.as_deref(), Some("on hold"));
        assert_eq!(store.audit(Some("semi"), None, true, 10).expect("q").len(), 1);
        let since = parse_time("2026-11-30T10:30:00Z", "t").expect("t");
        assert_eq!(store.audit(None, Some(since), true, 10).expect("q")[0].event.as_deref(), Some("semi"));
        assert_eq!(store.audit(None, None, true, 1).expect("q")[0].id, all[1].id, "the latest, when limited");
        let read = AuditEntry {
            changes: false,
            operation: "status".into(),
            ..entry("cli:ops", "final", "x", "2026-11-30T12:00:00Z")
        };
        store.audit_record(&read, AuditEnd { result: "ok", duration_ms: 3, error: None });
        assert_eq!(store.audit(None, None, false, 10).expect("q").len(), 2, "reads hidden unless asked");
        assert_eq!(store.audit(None, None, true, 10).expect("q").len(), 3);
        assert_eq!(store.prune_audit(since).wait().expect("prune"), 1);
    }
}
