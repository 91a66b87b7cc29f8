//! The embedded backend: one SQLite file (WAL) on this machine. Reads go through a small pool
//! of connections ([`super::readers`]), writes through the [`Writer`]'s group commits (WAL:
//! neither waits for the other). Fenced writes check the event's lease inside the same
//! transaction, so the default single daemon gets the same guarantees as a group on DynamoDB.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::readers::Readers;
use super::writer::{Write, Writer};
use super::{Backend, Meta, Result, StoreError};

pub struct Sqlite {
    pub(super) readers: Readers,
    writer: Writer,
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
CREATE TABLE IF NOT EXISTS known_windows (
    event TEXT PRIMARY KEY,
    windows TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    event TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    doing TEXT NOT NULL DEFAULT '',
    term INTEGER NOT NULL,
    version TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    renewed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT,
    operation TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '{}',
    decision TEXT NOT NULL,
    changes INTEGER NOT NULL DEFAULT 1,
    key TEXT NOT NULL UNIQUE,
    result TEXT,
    duration_ms INTEGER,
    error TEXT,
    instance TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (event, id);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    pipeline INTEGER NOT NULL,
    alarm_id TEXT NOT NULL,
    alert_type TEXT NOT NULL,
    message TEXT NOT NULL,
    set_at TEXT NOT NULL,
    cleared_at TEXT,
    last_time TEXT NOT NULL,
    notified_at TEXT,
    cleared_notified INTEGER NOT NULL DEFAULT 0,
    acked_by TEXT,
    acked_at TEXT,
    action TEXT,
    acted_at TEXT
);
CREATE INDEX IF NOT EXISTS alerts_by_key ON alerts (channel_id, pipeline, alarm_id, id);
CREATE INDEX IF NOT EXISTS alerts_by_event ON alerts (event, id);
CREATE TABLE IF NOT EXISTS seen_envelopes (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_requests (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    source TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    requester TEXT NOT NULL,
    channel TEXT NOT NULL,
    command TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    requester_groups TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS live_commands (
    event TEXT NOT NULL,
    nonce TEXT NOT NULL,
    counter INTEGER NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (event, nonce, counter)
);
CREATE TABLE IF NOT EXISTS live_counters (
    event TEXT NOT NULL,
    nonce TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (event, nonce)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Bring a state file written by an earlier ottd up to this schema (`PRAGMA user_version`).
/// A table added since (`live_commands`, `live_counters`) needs no step here: [`SCHEMA`]'s
/// `CREATE TABLE IF NOT EXISTS` adds it to an older file on open.
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
    if version < 2 {
        // Leases were per process (pid); now per holder. A lease lives only as long as its
        // process, so the old rows carry nothing worth keeping.
        let mut st = conn.prepare("SELECT COUNT(*) FROM pragma_table_info('leases') WHERE name = 'holder'")?;
        let has: i64 = st.query_row([], |r| r.get(0))?;
        if has == 0 {
            conn.execute_batch(
                "DROP TABLE leases;
                 CREATE TABLE leases (event TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,
                     doing TEXT NOT NULL DEFAULT '', taken_at TEXT NOT NULL);",
            )?;
        }
        conn.pragma_update(None, "user_version", 2)?;
    }
    if version < 3 {
        // Chat requests keep the requester's user groups (or Discord roles), so an approval
        // can check that the requester still holds the role.
        let mut st =
            conn.prepare("SELECT COUNT(*) FROM pragma_table_info('chat_requests') WHERE name = 'requester_groups'")?;
        let has: i64 = st.query_row([], |r| r.get(0))?;
        if has == 0 {
            conn.execute_batch("ALTER TABLE chat_requests ADD COLUMN requester_groups TEXT NOT NULL DEFAULT '[]';")?;
        }
        conn.pragma_update(None, "user_version", 3)?;
    }
    if version < 4 {
        // Leases by time and term instead of process ids (a pid repeats: PID 1 in every
        // container). A pid lease lived only as long as its process, so nothing is lost.
        let mut st = conn.prepare("SELECT COUNT(*) FROM pragma_table_info('leases') WHERE name = 'term'")?;
        let has: i64 = st.query_row([], |r| r.get(0))?;
        if has == 0 {
            conn.execute_batch(
                "DROP TABLE leases;
                 CREATE TABLE leases (event TEXT PRIMARY KEY, holder TEXT NOT NULL, doing TEXT NOT NULL DEFAULT '',
                     term INTEGER NOT NULL, version TEXT NOT NULL, duration_ms INTEGER NOT NULL,
                     renewed_at TEXT NOT NULL);",
            )?;
        }
        // Audit rows name the instance (host:pid:random) that executed them.
        let mut st = conn.prepare("SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = 'instance'")?;
        let has: i64 = st.query_row([], |r| r.get(0))?;
        if has == 0 {
            conn.execute_batch("ALTER TABLE audit ADD COLUMN instance TEXT NOT NULL DEFAULT '';")?;
        }
        conn.pragma_update(None, "user_version", 4)?;
    }
    Ok(())
}

/// A connection to the state file as ottd uses it: WAL, normal sync, a 10 s busy timeout.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Folder { path: dir.display().to_string(), source })?;
        }
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let write = connect(path).map_err(open_err)?;
        write.execute_batch(SCHEMA).map_err(open_err)?;
        migrate(&write).map_err(open_err)?;
        let read = connect(path).map_err(open_err)?;
        Ok(Sqlite { readers: Readers::new(path.to_path_buf(), read), writer: Writer::start(write) })
    }

    /// A read (or, in tests, a direct poke) on the read connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.readers.lend()?;
        Ok(f(&conn)?)
    }

    /// A write, applied by the writer in its next transaction.
    pub(super) fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.writer.write(f)
    }

    /// A write of an event's state by the holder of its lease: refused, changing nothing, when
    /// the lease has moved on (another holder or a later term).
    pub(super) fn write_fenced<T: Send + 'static>(
        &self,
        fence: &super::Fence,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        let fence = fence.clone();
        self.writer.write_checked(move |c| {
            super::leases::check_fence(c, &fence)?;
            Ok(f(c)?)
        })
    }

    /// A write whose closure may refuse with a store error of its own.
    pub(super) fn write_checked<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Write<T> {
        self.writer.write_checked(f)
    }

    /// A write outside any transaction (checkpoints).
    pub(super) fn write_alone<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Write<T> {
        self.writer.alone(f)
    }

    /// Tests: hold the writer (nothing queued after this commits) until the sender is used or
    /// dropped.
    #[cfg(test)]
    pub(crate) fn pause_writer(&self) -> std::sync::mpsc::Sender<()> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        self.write(move |_| {
            let _ = rx.recv();
            Ok(())
        })
        .detach();
        tx
    }
}

impl Meta for Sqlite {
    fn flush(&self) -> Write<()> {
        self.writer.write(|_| Ok(()))
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row(params![key], |r| r.get(0)).optional()
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Write<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value]).map(drop)
        })
    }

    fn meta_or_insert(&self, key: &str, value: &str) -> Write<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
            c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row(params![key], |r| r.get(0))
        })
    }
}

impl Backend for Sqlite {
    fn as_sqlite(&self) -> Option<&Sqlite> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Phase;
    use crate::store::*;

    #[test]
    fn a_state_file_from_before_phase_since_and_holders_is_migrated() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(
                "CREATE TABLE deployments (event TEXT PRIMARY KEY, nonce TEXT NOT NULL, phase TEXT NOT NULL,
                 plan_json TEXT NOT NULL, last_error TEXT, updated_at TEXT NOT NULL);
                 INSERT INTO deployments VALUES ('final', 'abcd1234', 'running', '{}', NULL, '2026-11-26T10:00:00Z');
                 CREATE TABLE leases (event TEXT PRIMARY KEY, pid INTEGER NOT NULL, taken_at TEXT NOT NULL);
                 INSERT INTO leases VALUES ('final', 1, '2026-11-26T10:00:00Z');",
            )
            .expect("old schema");
        }
        let store = Store::open(&path).expect("migrates");
        let d = store.deployment("final").expect("q").expect("row");
        assert_eq!(d.phase, Phase::Running);
        assert_eq!(d.phase_since, d.updated_at);
        let lease = store.acquire_lease("final", &Holder::new("deploy"), std::time::Duration::from_secs(15), None);
        assert_eq!(lease.wait().expect("q").map(|g| g.fence.term), Ok(1), "old leases are gone");
        drop(store);
        Store::open(&path).expect("opens again");
    }

    #[test]
    fn queued_writes_share_commits_and_a_failing_one_fails_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        // Queued back to back, not waited for: they share the writer's next transactions.
        let writes: Vec<Write<()>> =
            (0..200).map(|i| store.begin_deployment(&store.test_fence(&format!("ev-{i}")), "abcd1234", "{}")).collect();
        let bad =
            store.sqlite().write(|c| c.execute("INSERT INTO meta (key, value) VALUES (NULL, NULL)", []).map(drop));
        let good = store.set_meta("after", "bad");
        store.set_meta("detached", "yes").detach();
        assert!(bad.wait().is_err(), "a constraint violation fails its own write");
        good.wait().expect("the write after it commits");
        for w in writes {
            w.wait().expect("committed");
        }
        assert_eq!(store.deployments().expect("q").len(), 200);
        store.flush().wait().expect("flush");
        assert_eq!(store.meta("detached").expect("q").as_deref(), Some("yes"), "a detached write lands too");
        store.checkpoint().wait().expect("a checkpoint runs outside any transaction");
        let path = dir.path().join("ottd.db");
        store.set_meta("last", "queued before the drop").detach();
        drop(store);
        let again = Store::open(&path).expect("reopen");
        assert_eq!(again.meta("last").expect("q").as_deref(), Some("queued before the drop"));
    }

    #[test]
    fn a_corrupt_instant_is_an_error_like_a_corrupt_phase_never_1970() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        store.begin_deployment(&store.test_fence("final"), "abcd1234", "{}").wait().expect("begin");
        store.sqlite().with(|c| c.execute("UPDATE deployments SET phase_since = 'yesterday'", [])).expect("damage");
        let err = store.phase("final").expect_err("corrupt instant");
        assert!(
            matches!(&err, StoreError::Corrupt { what: "deployments.phase_since", value } if value == "yesterday"),
            "{err}"
        );
        assert!(store.deployment("final").is_err());
    }
}
