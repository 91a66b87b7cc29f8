//! The state file: one SQLite database (WAL) holding every event's deployment, each resource's
//! ids and step status, the step log, and settings written by `ottd bootstrap`.
//!
//! The engine writes a resource's row *before* each AWS create or delete (`creating`,
//! `deleting`) and again after it (`created`, `deleted`), so a process killed in between
//! leaves a row that says exactly which outcome is unknown. Nothing else may write here.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::plan::Kind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open state file {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the state file's folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state file query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("state file holds a bad value in {what}: {value}")]
    Corrupt { what: &'static str, value: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a resource stands. `Creating` and `Deleting` mean "a call was sent and its outcome
/// is not recorded": the engine must look before it acts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Creating,
    Created,
    Deleting,
    /// CloudFront: disabled, waiting to be Deployed before it may be deleted.
    Disabling,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Deleting => "deleting",
            Status::Disabling => "disabling",
            Status::Deleted => "deleted",
        }
    }
    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "creating" => Status::Creating,
            "created" => Status::Created,
            "deleting" => Status::Deleting,
            "disabling" => Status::Disabling,
            "deleted" => Status::Deleted,
            other => return Err(StoreError::Corrupt { what: "resources.status", value: other.into() }),
        })
    }
}

/// Lifecycle of one deployment as the engine last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Deploying,
    Deployed,
    Starting,
    Running,
    Stopping,
    Stopped,
    TearingDown,
    TornDown,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Deploying,
        Phase::Deployed,
        Phase::Starting,
        Phase::Running,
        Phase::Stopping,
        Phase::Stopped,
        Phase::TearingDown,
        Phase::TornDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Deploying => "deploying",
            Phase::Deployed => "deployed",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::TearingDown => "tearing-down",
            Phase::TornDown => "torn-down",
        }
    }
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub event: String,
    pub nonce: String,
    pub phase: Phase,
    /// When the phase last changed (the cost guard measures running time from it).
    pub phase_since: DateTime<Utc>,
    /// The plan as deployed (JSON), so teardown works even if the config changed since.
    pub plan_json: String,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceRow {
    pub event: String,
    pub key: String,
    pub kind: Kind,
    pub name: String,
    pub status: Status,
    pub aws_id: Option<String>,
    pub arn: Option<String>,
    /// Service-specific facts learned at creation (URLs, domain, ETag…), as JSON.
    pub attrs: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl ResourceRow {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(|v| v.as_str())
    }
}

/// An operator's override of the schedule, as stored (`kind`: hold, start, stop, teardown,
/// deploy; `until`: when the schedule takes over again, `None` = until cleared).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOverride {
    pub event: String,
    pub kind: String,
    pub set_at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    /// Who set it (`cli`, later a chat user).
    pub by: String,
}

pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployments (
    event TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    phase TEXT NOT NULL,
    phase_since TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    last_error TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    event TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    aws_id TEXT,
    arn TEXT,
    attrs TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (event, key)
);
CREATE TABLE IF NOT EXISTS step_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    duration_ms INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
    event TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    set_at TEXT NOT NULL,
    until TEXT,
    by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    event TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    taken_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Channel => "channel",
        Kind::Input => "input",
        Kind::SecurityGroup => "security-group",
        Kind::Distribution => "distribution",
        Kind::LogBucket => "log-bucket",
        Kind::Endpoint => "endpoint",
        Kind::PackageChannel => "package-channel",
        Kind::Secret => "secret",
    }
}

fn parse_kind(s: &str) -> Result<Kind> {
    Ok(match s {
        "channel" => Kind::Channel,
        "input" => Kind::Input,
        "security-group" => Kind::SecurityGroup,
        "distribution" => Kind::Distribution,
        "log-bucket" => Kind::LogBucket,
        "endpoint" => Kind::Endpoint,
        "package-channel" => Kind::PackageChannel,
        "secret" => Kind::Secret,
        other => return Err(StoreError::Corrupt { what: "resources.kind", value: other.into() }),
    })
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// Bring a state file written by an earlier ottd up to this schema (`PRAGMA user_version`).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        // Version 0 files may predate `deployments.phase_since`.
        let mut st =
            conn.prepare("SELECT COUNT(*) FROM pragma_table_info('deployments') WHERE name = 'phase_since'")?;
        let has: i64 = st.query_row([], |r| r.get(0))?;
        if has == 0 {
            conn.execute_batch(
                "ALTER TABLE deployments ADD COLUMN phase_since TEXT NOT NULL DEFAULT '';
                 UPDATE deployments SET phase_since = updated_at;",
            )?;
        }
        conn.pragma_update(None, "user_version", 1)?;
    }
    Ok(())
}

/// Whether a process with this pid exists on this machine (the state file is local).
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Instants as stored: RFC 3339, milliseconds, `Z` (so they also sort as text).
fn time_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now() -> String {
    time_str(Utc::now())
}

/// A stored `deployments.phase`; anything else means the file was edited or is damaged.
fn stored_phase(text: String) -> Result<Phase> {
    Phase::parse(&text).ok_or(StoreError::Corrupt { what: "deployments.phase", value: text })
}

fn override_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredOverride> {
    Ok(StoredOverride {
        event: r.get(0)?,
        kind: r.get(1)?,
        set_at: parse_time(&r.get::<_, String>(2)?),
        until: r.get::<_, Option<String>>(3)?.map(|u| parse_time(&u)),
        by: r.get(4)?,
    })
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Folder { path: dir.display().to_string(), source })?;
        }
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        migrate(&conn).map_err(open_err)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A poisoned lock only means another thread panicked mid-call; SQLite itself is
        // transactional, so the connection is still consistent.
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&conn)?)
    }

    pub fn deployment(&self, event: &str) -> Result<Option<Deployment>> {
        let row = self.with(|c| {
            c.query_row(
                "SELECT event, nonce, phase, plan_json, last_error, updated_at, phase_since FROM deployments WHERE event = ?1",
                params![event],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
        })?;
        row.map(|(event, nonce, phase, plan_json, last_error, updated, since)| {
            let phase = stored_phase(phase)?;
            Ok(Deployment {
                event,
                nonce,
                phase,
                phase_since: parse_time(&since),
                plan_json,
                last_error,
                updated_at: parse_time(&updated),
            })
        })
        .transpose()
    }

    /// The event's phase and since when, without the rest of the row: what the scheduler
    /// reads on every reconcile.
    pub fn phase(&self, event: &str) -> Result<Option<(Phase, DateTime<Utc>)>> {
        let row = self.with(|c| {
            c.prepare_cached("SELECT phase, phase_since FROM deployments WHERE event = ?1")?
                .query_row(params![event], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .optional()
        })?;
        row.map(|(phase, since)| Ok((stored_phase(phase)?, parse_time(&since)))).transpose()
    }

    /// How many events are in each phase (the phase gauge).
    pub fn phase_counts(&self) -> Result<Vec<(Phase, u64)>> {
        let rows: Vec<(String, u64)> = self.with(|c| {
            let mut st = c.prepare_cached("SELECT phase, COUNT(*) FROM deployments GROUP BY phase")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter().map(|(p, n)| Ok((stored_phase(p)?, n))).collect()
    }

    pub fn deployments(&self) -> Result<Vec<Deployment>> {
        let events: Vec<String> = self.with(|c| {
            let mut st = c.prepare("SELECT event FROM deployments ORDER BY event")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::new();
        for e in events {
            if let Some(d) = self.deployment(&e)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Start a new deployment: forget the rows of a torn-down one and record the nonce.
    pub fn begin_deployment(&self, event: &str, nonce: &str, plan_json: &str) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM resources WHERE event = ?1", params![event])?;
            tx.execute(
                "INSERT OR REPLACE INTO deployments (event, nonce, phase, phase_since, plan_json, last_error, updated_at)
                 VALUES (?1, ?2, 'deploying', ?4, ?3, NULL, ?4)",
                params![event, nonce, plan_json, now()],
            )?;
            tx.commit()
        })
    }

    pub fn update_plan(&self, event: &str, plan_json: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE deployments SET plan_json = ?2, updated_at = ?3 WHERE event = ?1",
                params![event, plan_json, now()],
            )
        })?;
        Ok(())
    }

    pub fn set_phase(&self, event: &str, phase: Phase, error: Option<&str>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE deployments SET phase_since = CASE WHEN phase = ?2 THEN phase_since ELSE ?4 END,
                    phase = ?2, last_error = ?3, updated_at = ?4 WHERE event = ?1",
                params![event, phase.as_str(), error, now()],
            )
        })?;
        Ok(())
    }

    pub fn set_error(&self, event: &str, error: Option<&str>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE deployments SET last_error = ?2, updated_at = ?3 WHERE event = ?1",
                params![event, error, now()],
            )
        })?;
        Ok(())
    }

    pub fn resources(&self, event: &str) -> Result<Vec<ResourceRow>> {
        let rows = self.with(|c| {
            let mut st = c.prepare(
                "SELECT event, key, kind, name, status, aws_id, arn, attrs, updated_at
                 FROM resources WHERE event = ?1 ORDER BY rowid",
            )?;
            let rows = st.query_map(params![event], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(event, key, kind, name, status, aws_id, arn, attrs, updated)| {
                Ok(ResourceRow {
                    event,
                    key,
                    kind: parse_kind(&kind)?,
                    name,
                    status: Status::parse(&status)?,
                    aws_id,
                    arn,
                    attrs: serde_json::from_str(&attrs)
                        .map_err(|_| StoreError::Corrupt { what: "resources.attrs", value: attrs.clone() })?,
                    updated_at: parse_time(&updated),
                })
            })
            .collect()
    }

    pub fn resource(&self, event: &str, key: &str) -> Result<Option<ResourceRow>> {
        Ok(self.resources(event)?.into_iter().find(|r| r.key == key))
    }

    /// Record a resource's status and what is known of it (None keeps the stored value).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        event: &str,
        key: &str,
        kind: Kind,
        name: &str,
        status: Status,
        aws_id: Option<&str>,
        arn: Option<&str>,
        attrs: Option<&serde_json::Value>,
    ) -> Result<()> {
        let attrs = attrs.map(|a| a.to_string());
        self.with(|c| {
            c.execute(
                "INSERT INTO resources (event, key, kind, name, status, aws_id, arn, attrs, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, '{}'), ?9)
                 ON CONFLICT (event, key) DO UPDATE SET
                    status = excluded.status,
                    name = excluded.name,
                    aws_id = COALESCE(excluded.aws_id, resources.aws_id),
                    arn = COALESCE(excluded.arn, resources.arn),
                    attrs = CASE WHEN ?8 IS NULL THEN resources.attrs ELSE excluded.attrs END,
                    updated_at = excluded.updated_at",
                params![event, key, kind_str(kind), name, status.as_str(), aws_id, arn, attrs, now()],
            )
        })?;
        Ok(())
    }

    pub fn log_step(&self, event: &str, step: &str, outcome: &str, detail: Option<&str>, ms: u128) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO step_log (event, step, outcome, detail, duration_ms, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![event, step, outcome, detail, ms as i64, now()],
            )
        })?;
        Ok(())
    }

    /// Durations (ms) of the last `limit` successful runs of `step` for `event`, newest first.
    pub fn step_durations(&self, event: &str, step: &str, limit: usize) -> Result<Vec<u64>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT duration_ms FROM step_log WHERE event = ?1 AND step = ?2 AND outcome = 'ok'
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(params![event, step, limit as i64], |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|v| v.max(0) as u64)).collect()
        })
    }

    /// Forget step log rows from before `before`, except each event's latest `keep` successful
    /// runs of each step (the adaptive lead-time check reads those). Returns how many went.
    pub fn prune_step_log(&self, before: DateTime<Utc>, keep: usize) -> Result<usize> {
        let before = time_str(before);
        self.with(|c| {
            c.execute(
                "DELETE FROM step_log WHERE at < ?1 AND id NOT IN (
                     SELECT id FROM (
                         SELECT id, ROW_NUMBER() OVER (PARTITION BY event, step ORDER BY id DESC) AS n
                         FROM step_log WHERE outcome = 'ok'
                     ) WHERE n <= ?2
                 )",
                params![before, keep as i64],
            )
        })
    }

    /// Fold the write-ahead log into the database file and refresh the query planner's
    /// statistics.
    pub fn checkpoint(&self) -> Result<()> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            c.execute_batch("PRAGMA optimize")
        })
    }

    /// Record an operator override (hold, manual start/stop/teardown/deploy) for an event.
    pub fn set_override(&self, o: &StoredOverride) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO overrides (event, kind, set_at, until, by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![o.event, o.kind, o.set_at.to_rfc3339(), o.until.map(|u| u.to_rfc3339()), o.by],
            )
        })?;
        Ok(())
    }

    pub fn clear_override(&self, event: &str) -> Result<bool> {
        Ok(self.with(|c| c.execute("DELETE FROM overrides WHERE event = ?1", params![event]))? > 0)
    }

    pub fn overrides(&self) -> Result<Vec<StoredOverride>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT event, kind, set_at, until, by FROM overrides ORDER BY event")?;
            let rows = st.query_map([], override_row)?;
            rows.collect()
        })
    }

    /// The event's override, if any.
    pub fn override_of(&self, event: &str) -> Result<Option<StoredOverride>> {
        self.with(|c| {
            c.prepare_cached("SELECT event, kind, set_at, until, by FROM overrides WHERE event = ?1")?
                .query_row(params![event], override_row)
                .optional()
        })
    }

    /// Take the event's lease for this process, unless another live process holds it.
    /// `Err(Some(pid))` names the holder. A holder that died (kill -9) holds nothing.
    pub fn take_lease(&self, event: &str) -> Result<std::result::Result<(), u32>> {
        let me = std::process::id();
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let holder: Option<u32> =
                tx.query_row("SELECT pid FROM leases WHERE event = ?1", params![event], |r| r.get(0)).optional()?;
            if let Some(pid) = holder {
                if pid != me && process_alive(pid) {
                    return Ok(Err(pid));
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO leases (event, pid, taken_at) VALUES (?1, ?2, ?3)",
                params![event, me, now()],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
    }

    pub fn release_lease(&self, event: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM leases WHERE event = ?1 AND pid = ?2", params![event, std::process::id()])
        })?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| c.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0)).optional())
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value]))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keeps_known_ids_when_a_later_write_omits_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("s/ottd.db")).expect("open");
        store.begin_deployment("final", "abcd1234", "{}").expect("begin");
        store.record("final", "input", Kind::Input, "n", Status::Creating, None, None, None).expect("intent");
        let attrs = serde_json::json!({"url": "x"});
        store
            .record("final", "input", Kind::Input, "n", Status::Created, Some("123"), Some("arn:1"), Some(&attrs))
            .expect("done");
        store.record("final", "input", Kind::Input, "n", Status::Deleting, None, None, None).expect("deleting");
        let row = store.resource("final", "input").expect("query").expect("row");
        assert_eq!(row.status, Status::Deleting);
        assert_eq!(row.aws_id.as_deref(), Some("123"));
        assert_eq!(row.attr("url"), Some("x"));
        let d = store.deployment("final").expect("q").expect("deployment");
        assert_eq!((d.nonce.as_str(), d.phase), ("abcd1234", Phase::Deploying));
    }

    #[test]
    fn the_schedulers_narrow_reads_agree_with_the_full_rows() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        assert_eq!(store.phase("final").expect("q"), None);
        for (event, phase) in [("final", Phase::Running), ("semi", Phase::Running), ("quali", Phase::Stopped)] {
            store.begin_deployment(event, "abcd1234", "{}").expect("begin");
            store.set_phase(event, phase, None).expect("phase");
        }
        let d = store.deployment("final").expect("q").expect("row");
        assert_eq!(store.phase("final").expect("q"), Some((Phase::Running, d.phase_since)));
        let mut counts = store.phase_counts().expect("counts");
        counts.sort_by_key(|(p, _)| p.as_str());
        assert_eq!(counts, vec![(Phase::Running, 2), (Phase::Stopped, 1)]);

        assert_eq!(store.override_of("semi").expect("q"), None);
        let o = StoredOverride {
            event: "semi".into(),
            kind: "hold".into(),
            set_at: parse_time("2026-11-26T10:00:00Z"),
            until: None,
            by: "ops".into(),
        };
        store.set_override(&o).expect("set");
        assert_eq!(store.override_of("semi").expect("q"), Some(o));
        assert_eq!(store.override_of("final").expect("q"), None);
    }

    #[test]
    fn upkeep_prunes_old_step_log_rows_but_keeps_the_latest_successes_of_each_step() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        for i in 0..5 {
            store.log_step("final", "start", "ok", None, 1000 + i).expect("log");
        }
        store.log_step("final", "start", "error", Some("boom"), 5).expect("log");
        store.log_step("final", "deploy", "ok", None, 9000).expect("log");
        store.log_step("semi", "start", "ok", None, 2000).expect("log");
        let count = || store.with(|c| c.query_row("SELECT COUNT(*) FROM step_log", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count().expect("n"), 8);
        // Nothing is older than an hour ago.
        assert_eq!(store.prune_step_log(Utc::now() - chrono::Duration::hours(1), 2).expect("prune"), 0);
        // Everything is older than an hour from now: keep the latest 2 successes per step.
        assert_eq!(store.prune_step_log(Utc::now() + chrono::Duration::hours(1), 2).expect("prune"), 4);
        assert_eq!(store.step_durations("final", "start", 20).expect("q").len(), 2);
        let mut kept = store.step_durations("final", "start", 20).expect("q");
        kept.sort_unstable();
        assert_eq!(kept, vec![1003, 1004], "the latest two starts stay");
        assert_eq!(store.step_durations("final", "deploy", 20).expect("q"), vec![9000]);
        assert_eq!(store.step_durations("semi", "start", 20).expect("q"), vec![2000]);
        store.checkpoint().expect("checkpoint");
        assert_eq!(count().expect("n"), 4);
    }

    #[test]
    fn a_lease_is_refused_while_another_live_process_holds_it_and_free_when_it_died() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        assert_eq!(store.take_lease("final").expect("q"), Ok(()));
        assert_eq!(store.take_lease("final").expect("q"), Ok(()), "the holder may take it again");
        let hold = |pid: u32| {
            store.with(|c| c.execute("UPDATE leases SET pid = ?1 WHERE event = 'final'", params![pid])).expect("set");
        };
        hold(1); // init: alive for as long as the machine is
        assert_eq!(store.take_lease("final").expect("q"), Err(1));
        hold(u32::MAX - 1); // no such process
        assert_eq!(store.take_lease("final").expect("q"), Ok(()));
        store.release_lease("final").expect("release");
        assert_eq!(
            store.with(|c| c.query_row("SELECT COUNT(*) FROM leases", [], |r| r.get::<_, i64>(0))).expect("n"),
            0
        );
    }

    #[test]
    fn a_state_file_from_before_phase_since_is_migrated() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(
                "CREATE TABLE deployments (event TEXT PRIMARY KEY, nonce TEXT NOT NULL, phase TEXT NOT NULL,
                 plan_json TEXT NOT NULL, last_error TEXT, updated_at TEXT NOT NULL);
                 INSERT INTO deployments VALUES ('final', 'abcd1234', 'running', '{}', NULL, '2026-11-26T10:00:00Z');",
            )
            .expect("old schema");
        }
        let store = Store::open(&path).expect("migrates");
        let d = store.deployment("final").expect("q").expect("row");
        assert_eq!(d.phase, Phase::Running);
        assert_eq!(d.phase_since, d.updated_at);
        drop(store);
        Store::open(&path).expect("opens again");
    }
}
