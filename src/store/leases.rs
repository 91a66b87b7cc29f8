//! Leases: who works on an event right now. One holder at a time per event, whatever process,
//! host or task it is. A lease is a record with a holder, a **term** that grows by one on every
//! grant, a **version** that changes on every grant and renewal, and the duration its holder
//! promised to renew within.
//!
//! Nothing here trusts another machine's clock or a process id: a contender takes a lease over
//! only after watching its version stay the same for a whole lease duration on *its own*
//! monotonic clock ([`crate::lease`] decides that; this module only stores). A holder releases
//! its lease when done, so the next one need not wait. Every write of an event's state carries
//! a [`Fence`] (holder and term) and is refused once the lease has moved on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::sqlite::Sqlite;
use super::{now, parse_time, Result, StoreError, Write};

/// This process among every daemon and command sharing the state: host, pid and a random part.
/// A pid alone repeats (in a container every daemon is PID 1, and pids are reused), a host
/// name alone is shared by a daemon and the commands run beside it.
pub fn instance() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = crate::config::settings::host_name().unwrap_or_else(|| "host".to_string());
        format!("{host}:{}:{:06x}", std::process::id(), rand::rng().random_range(0..0x100_0000u32))
    })
}

/// A lease holder: one acquisition by this process, so two tasks of one process never share
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `instance#n`.
    pub id: String,
    /// What it does, for whoever is refused (`deploy`, `teardown`…).
    pub doing: String,
}

impl Holder {
    pub fn new(doing: &str) -> Holder {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Holder { id: format!("{}#{}", instance(), NEXT.fetch_add(1, Ordering::Relaxed)), doing: doing.to_string() }
    }
}

/// An event's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRecord {
    pub event: String,
    /// Empty once released.
    pub holder: String,
    pub doing: String,
    /// Grows by one on every grant; fences every write of the event's state.
    pub term: u64,
    /// Changes on every grant and renewal: what a contender watches.
    pub version: String,
    /// How long the holder may go without renewing.
    pub duration_ms: u64,
    /// When it was last granted or renewed, by the writer's clock: for people, never decisions.
    pub renewed_at: DateTime<Utc>,
}

impl LeaseRecord {
    pub fn is_free(&self) -> bool {
        self.holder.is_empty()
    }

    /// The instance part of the holder id (`host:pid:rand`).
    pub fn instance(&self) -> &str {
        self.holder.split('#').next().unwrap_or("")
    }
}

/// Proof of holding an event's lease at a term: what every fenced write carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub event: String,
    pub holder: String,
    pub term: u64,
}

/// A lease granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub fence: Fence,
    pub version: String,
    /// The holder it was taken from, when it had not released it (a takeover).
    pub took_over: Option<String>,
}

/// A fresh version: random, so no two renewals anywhere write the same one.
pub fn new_version() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Who works on an event (see the module doc).
pub trait Leases {
    /// The event's lease as it stands now (a consistent read), `None` if never taken.
    fn lease(&self, event: &str) -> Result<Option<LeaseRecord>>;
    /// Every lease record, by event.
    fn leases(&self) -> Result<Vec<LeaseRecord>>;
    /// Take the event's lease for `me` for `duration`. Granted, at the next term, when the
    /// lease is free (never taken or released), already `me`'s, or still at version `seen`
    /// (the caller watched that version unchanged for a whole lease on its own clock).
    /// Otherwise `Err` with the record as it stands.
    fn acquire_lease(
        &self,
        event: &str,
        me: &Holder,
        duration: Duration,
        seen: Option<&str>,
    ) -> Write<std::result::Result<Grant, LeaseRecord>>;
    /// Renew: a new version, if the lease is still `fence`'s; `None` if it has moved on.
    fn renew_lease(&self, fence: &Fence) -> Write<Option<String>>;
    /// Give the lease back (keeping its term), if it is still `fence`'s.
    fn release_lease(&self, fence: &Fence) -> Write<()>;
}

type RawLease = (String, String, String, i64, String, i64, String);

fn lease_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawLease> {
    r.try_into()
}

fn typed((event, holder, doing, term, version, duration_ms, renewed_at): RawLease) -> Result<LeaseRecord> {
    Ok(LeaseRecord {
        event,
        holder,
        doing,
        term: u64::try_from(term).map_err(|_| StoreError::Corrupt { what: "leases.term", value: term.to_string() })?,
        version,
        duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        renewed_at: parse_time(&renewed_at, "leases.renewed_at")?,
    })
}

const COLUMNS: &str = "event, holder, doing, term, version, duration_ms, renewed_at";

fn read(c: &Connection, event: &str) -> rusqlite::Result<Option<RawLease>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM leases WHERE event = ?1"))?
        .query_row(params![event], lease_row)
        .optional()
}

/// Inside a write's transaction: go on only if `fence` still holds the event's lease.
pub(super) fn check_fence(c: &Connection, fence: &Fence) -> Result<()> {
    let row: Option<(String, i64)> = c
        .prepare_cached("SELECT holder, term FROM leases WHERE event = ?1")?
        .query_row(params![fence.event], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((holder, term)) if holder == fence.holder && u64::try_from(term).ok() == Some(fence.term) => Ok(()),
        other => Err(StoreError::Fenced {
            event: fence.event.clone(),
            term: fence.term,
            now: match other {
                None => "gone".to_string(),
                Some((h, t)) if h.is_empty() => format!("released at term {t}"),
                Some((h, t)) => format!("held by {h} at term {t}"),
            },
        }),
    }
}

impl Leases for Sqlite {
    fn lease(&self, event: &str) -> Result<Option<LeaseRecord>> {
        self.with(|c| read(c, event))?.map(typed).transpose()
    }

    fn leases(&self) -> Result<Vec<LeaseRecord>> {
        let rows = self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM leases ORDER BY event"))?;
            let rows = st.query_map([], lease_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(typed).collect()
    }

    fn acquire_lease(
        &self,
        event: &str,
        me: &Holder,
        duration: Duration,
        seen: Option<&str>,
    ) -> Write<std::result::Result<Grant, LeaseRecord>> {
        let (event, me, seen) = (event.to_string(), me.clone(), seen.map(str::to_string));
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.write_checked(move |c| {
            let version = new_version();
            let row = read(c, &event)?.map(typed).transpose()?;
            let (term, took_over) = match &row {
                None => (1, None),
                Some(r) if r.holder == me.id => (r.term, None),
                Some(r) if r.is_free() => (r.term + 1, None),
                Some(r) if seen.as_deref() == Some(r.version.as_str()) => (r.term + 1, Some(r.holder.clone())),
                Some(r) => return Ok(Err(r.clone())),
            };
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO leases ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                event,
                me.id,
                me.doing,
                i64::try_from(term).unwrap_or(i64::MAX),
                version,
                ms,
                now()
            ])?;
            Ok(Ok(Grant { fence: Fence { event, holder: me.id, term }, version, took_over }))
        })
    }

    fn renew_lease(&self, fence: &Fence) -> Write<Option<String>> {
        let fence = fence.clone();
        self.write_checked(move |c| {
            let version = new_version();
            let n = c
                .prepare_cached(
                    "UPDATE leases SET version = ?3, renewed_at = ?4 WHERE event = ?1 AND holder = ?2 AND term = ?5",
                )?
                .execute(params![
                    fence.event,
                    fence.holder,
                    version,
                    now(),
                    i64::try_from(fence.term).unwrap_or(i64::MAX)
                ])?;
            Ok((n == 1).then_some(version))
        })
    }

    fn release_lease(&self, fence: &Fence) -> Write<()> {
        let fence = fence.clone();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE leases SET holder = '', version = ?3, renewed_at = ?4 WHERE event = ?1 AND holder = ?2",
            )?
            .execute(params![fence.event, fence.holder, new_version(), now()])
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const LEASE: Duration = Duration::from_secs(15);

    #[tokio::test]
    async fn a_lease_is_granted_at_a_growing_term_and_taken_over_only_at_the_version_watched() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        let (a, b) = (Holder::new("deploy"), Holder::new("stop"));
        assert_ne!(a.id, b.id, "two acquisitions of one process are two holders");
        let ga = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("free");
        assert_eq!(ga.fence.term, 1);
        let again = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("mine");
        assert_eq!(again.fence.term, 1, "the holder taking it again keeps its term");
        let held = store.acquire_lease("final", &b, LEASE, None).await.expect("q").expect_err("held");
        assert_eq!((held.holder.as_str(), held.doing.as_str(), held.term), (a.id.as_str(), "deploy", 1));
        let renewed = store.renew_lease(&ga.fence).await.expect("q").expect("still a's");
        assert!(
            store.acquire_lease("final", &b, LEASE, Some(&held.version)).await.expect("q").is_err(),
            "a renewal since the version was watched keeps the lease"
        );
        let gb = store.acquire_lease("final", &b, LEASE, Some(&renewed)).await.expect("q").expect("takeover");
        assert_eq!(gb.fence.term, 2);
        assert_eq!(gb.took_over.as_deref(), Some(a.id.as_str()));
        assert_eq!(store.renew_lease(&ga.fence).await.expect("q"), None, "the deposed holder cannot renew");
        store.release_lease(&ga.fence).await.expect("not a's to release");
        assert_eq!(store.lease("final").expect("q").expect("row").holder, b.id);
        store.release_lease(&gb.fence).await.expect("release");
        let free = store.lease("final").expect("q").expect("row");
        assert!(free.is_free());
        assert_eq!(free.term, 2, "a release keeps the term");
        let ga2 = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("free again");
        assert_eq!((ga2.fence.term, ga2.took_over), (3, None));
        assert_eq!(store.leases().expect("q").len(), 1);
    }

    #[tokio::test]
    async fn a_write_with_a_lost_term_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        let (a, b) = (Holder::new("deploy"), Holder::new("deploy"));
        let ga = store.acquire_lease("final", &a, LEASE, None).await.expect("q").expect("free");
        store.begin_deployment(&ga.fence, "abcd1234", "{}").await.expect("fenced write by the holder");
        let seen = store.lease("final").expect("q").expect("row").version;
        let gb = store.acquire_lease("final", &b, LEASE, Some(&seen)).await.expect("q").expect("takeover");
        let err = store
            .set_phase(&ga.fence, crate::lifecycle::Phase::Deployed, None)
            .await
            .expect_err("the old term is fenced off");
        assert!(matches!(&err, StoreError::Fenced { term: 1, .. }), "{err}");
        assert!(err.to_string().contains("term 2"), "{err}");
        assert_eq!(store.phase("final").expect("q").expect("row").0, crate::lifecycle::Phase::Deploying);
        store.set_phase(&gb.fence, crate::lifecycle::Phase::Deployed, None).await.expect("the new holder writes");
        let other = Fence { event: "other".into(), holder: b.id.clone(), term: 2 };
        assert!(store.set_error(&other, Some("x")).await.is_err(), "no lease at all is no fence either");
    }
}
