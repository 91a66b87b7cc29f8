//! The state: every event's deployment, each resource's ids and step status, the step log,
//! operator overrides, leases, alerts, the audit trail, chat requests, live-control commands,
//! and settings written by `ottd bootstrap`. Nothing ottd knows about deployed resources,
//! alerts or pending work lives only in memory.
//!
//! Two backends sit behind one interface, the traits below, gathered as [`Backend`]:
//! [`sqlite`], one embedded file (WAL) for a daemon on its own, the default; and
//! [`dynamo`], one DynamoDB table shared by a group of daemons on several hosts. The rest of
//! ottd holds a [`Store`] and sees only these methods, never SQL or DynamoDB items.
//!
//! The engine writes a resource's row *before* each AWS create or delete (`creating`,
//! `deleting`) and again after it (`created`, `deleted`), so a process killed in between
//! leaves a row that says exactly which outcome is unknown. Those writes are *fenced*: they
//! carry the event's lease ([`Fence`]) and are refused once the lease has moved on, so a
//! holder that was paused past its lease records nothing.
//!
//! Layout: [`deployments`] (deployments and resources), [`steps`] (step log, upkeep),
//! [`overrides`] (operator overrides, known windows), [`leases`] (who works on an event),
//! [`audit`] (the audit trail), [`alerts`] (alerts and envelopes taken), [`requests`] (chat
//! confirmations and approvals), [`seen`] (requests already taken, against replays), [`live`]
//! (live-control commands and each deployment's counter that numbers them);
//! [`transfer`] (every durable record out of one backend and into another).

pub mod alerts;
pub mod audit;
pub mod deployments;
pub mod dynamo;
pub mod leases;
pub mod live;
pub mod overrides;
pub mod readers;
pub mod requests;
pub mod seen;
pub mod sqlite;
pub mod steps;
pub mod transfer;
pub mod writer;

use std::path::Path;

use chrono::{DateTime, Utc};

pub use alerts::Alerts;
pub use audit::{Audit, AuditEnd, AuditEntry, AuditKey, AuditRow};
pub use deployments::{Deployment, Deployments, ResourceRow};
pub use dynamo::Dynamo;
pub use leases::{instance, Fence, Grant, Holder, LeaseRecord, Leases};
pub use live::{Live, LiveRecord, LiveState};
pub use overrides::{KnownWindow, Overrides, StoredOverride};
pub use requests::Requests;
pub use seen::Seen;
pub use sqlite::Sqlite;
pub use steps::Steps;
pub use transfer::{Imported, Snapshot, Transfer, TransferError};
pub use writer::Write;

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
    #[error("state file write not committed: {0}")]
    Commit(String),
    #[error("the state file's writer has stopped")]
    WriterGone,
    /// A write of an event's state by a holder whose lease has moved on: nothing was written.
    #[error("lease of {event} lost: written at term {term}, the lease is now {now}")]
    Fenced { event: String, term: u64, now: String },
    #[error("DynamoDB table {table}: {message}")]
    Dynamo { table: String, message: String },
}

impl StoreError {
    /// Another process holds the file's write lock past the busy timeout: worth a retry.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Query(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        ) || matches!(self, StoreError::Commit(m) if m.contains("locked") || m.contains("busy"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Settings and markers (`ottd bootstrap`'s role ARNs), and waiting for queued writes.
pub trait Meta {
    /// Wait until every write queued so far is committed (for readers of detached writes).
    fn flush(&self) -> Write<()>;
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> Write<()>;
    /// `key`'s value, writing `value` first if it has none: of two processes racing to set a
    /// key once (the preview page's token), both get the one that was written first.
    fn meta_or_insert(&self, key: &str, value: &str) -> Write<String>;
}

/// Everything a backend offers: the store's whole interface.
pub trait Backend:
    Deployments + Steps + Overrides + Leases + Audit + Alerts + Requests + Seen + Live + Meta + Transfer + Send + Sync
{
    /// The SQLite backend, for tests that poke its file directly.
    fn as_sqlite(&self) -> Option<&Sqlite> {
        None
    }

    /// How often the daemon may look for changes other processes made (overrides, phases for
    /// the metrics): free on a local file, billed per request on a shared table.
    fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}

/// The state as the rest of ottd holds it: one backend, chosen at start.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.backend
    }
}

impl Store {
    /// The embedded backend: the SQLite file at `path` (created with its folder if missing).
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store { backend: Box::new(Sqlite::open(path)?) })
    }

    /// The shared backend: the DynamoDB table `table` (made by `ottd bootstrap`).
    pub async fn open_dynamo(conf: &aws_config::SdkConfig, table: &str) -> Result<Store> {
        Ok(Store { backend: Box::new(Dynamo::open(conf, table).await?) })
    }

    /// The store `ottd.toml` names: the SQLite file at `paths.state`, or the DynamoDB table of
    /// `[state]` (created first when `create`, as `ottd bootstrap` does; the region and
    /// credentials are those of every other AWS call).
    pub async fn configured(settings: &crate::config::Settings, create: bool) -> Result<Store> {
        match &settings.state {
            crate::config::settings::StateBackend::Sqlite => Store::open(&settings.state_path),
            crate::config::settings::StateBackend::Dynamodb { table } => {
                let conf = crate::aws::Aws::loader(settings).load().await;
                if create && dynamo::create_table(&conf, table).await? {
                    tracing::info!(table = %table, "created the DynamoDB state table");
                }
                Store::open_dynamo(&conf, table).await
            }
        }
    }

    /// A store on any backend.
    pub fn on(backend: impl Backend + 'static) -> Store {
        Store { backend: Box::new(backend) }
    }

    /// Tests: take the event's lease for the tests' one holder and return its fence.
    #[cfg(test)]
    pub(crate) fn test_fence(&self, event: &str) -> Fence {
        let me = Holder { id: "test".into(), doing: "test".into() };
        match self.acquire_lease(event, &me, std::time::Duration::from_secs(3600), None).wait() {
            Ok(Ok(g)) => g.fence,
            other => panic!("test lease of {event}: {other:?}"),
        }
    }

    /// Tests: the SQLite backend underneath.
    #[cfg(test)]
    pub(crate) fn sqlite(&self) -> &Sqlite {
        self.backend.as_sqlite().unwrap_or_else(|| panic!("this test needs the SQLite backend"))
    }
}

/// Instants as stored: RFC 3339, milliseconds, `Z` (so they also sort as text).
pub(crate) fn time_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored instant; anything else means the file was edited or is damaged, as for a phase.
pub(crate) fn parse_time(s: &str, what: &'static str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt { what, value: s.to_string() })
}

pub(crate) fn now() -> String {
    time_str(Utc::now())
}
