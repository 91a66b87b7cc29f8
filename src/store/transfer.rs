//! Moving the state from one backend to another: `ottd state export` writes every durable
//! record as a [`Snapshot`] (JSON), `ottd state import` reads one into the store `ottd.toml`
//! names. So a single box (SQLite) grows into a pair (DynamoDB) keeping its history and the
//! AWS resources it deployed: their ids travel in the snapshot, so the pair stops and tears
//! down what the box created and nobody adopts a resource by hand. It goes back the same way.
//!
//! # What a snapshot holds (format 1)
//! Every record with its own keys, ids and instants: deployments, their resources (ids,
//! ARNs, attrs), the step log, overrides, known windows, settings (`meta`: role ARNs, queue
//! URLs), the audit trail (keys and instances), alerts (ids and every mark: told, cleared,
//! told cleared, acked, acted), chat requests (ids, state), the counters that hand out alert,
//! request and audit ids, the quarantine, and the dedupe keys still inside their replay
//! window (chat/SNS request keys for [`super::seen::SEEN_TTL`], EventBridge envelope ids for
//! 7 days) with their times, so a request taken by the box is not taken again by the pair.
//!
//! Not held: **leases**. A lease says which live process works on an event now; the process
//! that held it does not move with the state, and a lease copied to another store would only
//! block that store's daemons until they took it over. The destination's leases stay its own.
//! Nor the instant of expired dedupe keys (they protect nothing any more).
//!
//! # Import
//! Expected flow: stop the daemon, `ottd state export --out s.json`, switch `[state]`, then
//! `ottd state import s.json` (nothing runs on the destination's events: import refuses an
//! event whose lease is held, [`TransferError::LeaseHeld`]), then start the daemons.
//!
//! Guarantees: import is idempotent, an upsert of each record by its own key (event, event
//! and resource key, audit key, alert id, request id, dedupe key); importing the same
//! snapshot again writes nothing. Where the destination already has a record, the newer one
//! stays: a deployment by `updated_at` (its resources follow it: a newer deployment with
//! another nonce replaces the event's resources, one with the same nonce merges them row by
//! row, newer `updated_at` winning), an override by `set_at`, known windows by
//! `recorded_at`; an alert keeps every mark either side made (a claim once made stays made),
//! a pending request takes the snapshot's decision, an open audit row the snapshot's end.
//! Settings take the snapshot's value. Nothing is deleted except resources of a deployment
//! replaced by a newer one. Every counter ends above every id imported.
//!
//! Assumptions: import writes directly, not through the fenced writes of the engine: it is
//! an operator's offline move. An alert or request id the destination holds for a different
//! record means the snapshot comes from another store's history: refused
//! ([`TransferError::Conflict`]), nothing written. On SQLite an import is one transaction;
//! on DynamoDB it is many batched writes (a snapshot may hold thousands of items), so an
//! import cut short is finished by running it again.

pub mod sqlite;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::requests::{Kind as RequestKind, State as RequestState};
use super::{KnownWindow, Leases, Result, StoreError, Write};
use crate::lifecycle::{OverrideKind, Phase, Status};
use crate::plan::Kind;

/// The snapshot format this ottd writes and reads.
pub const FORMAT: u32 = 1;

/// How long an EventBridge envelope id is remembered (as the DynamoDB backend keeps it): an
/// older one protects nothing and is not exported.
pub fn envelope_window() -> chrono::Duration {
    chrono::Duration::days(super::dynamo::alerts::ENVELOPE_DAYS)
}

/// How long a chat or SNS request key is remembered.
pub fn seen_window() -> chrono::Duration {
    chrono::Duration::from_std(super::seen::SEEN_TTL).unwrap_or(chrono::Duration::days(1))
}

/// The stored words of an enum, in and out of JSON; a word that names nothing is an error at
/// its line and column.
macro_rules! words {
    ($module:ident, $ty:ty, $what:literal, $to:expr, $from:expr) => {
        mod $module {
            use super::*;

            pub fn serialize<S: serde::Serializer>(v: &$ty, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str($to(*v))
            }

            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<$ty, D::Error> {
                let text = String::deserialize(d)?;
                $from(text.as_str()).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not {}", $what)))
            }
        }
    };
}

words!(phase_word, Phase, "a phase", Phase::as_str, Phase::parse);
words!(status_word, Status, "a resource status", Status::as_str, Status::parse);
words!(
    kind_word,
    Kind,
    "a resource kind",
    crate::store::dynamo::deployments::kind_str,
    crate::store::dynamo::deployments::kind_of
);
words!(override_word, OverrideKind, "an override kind", OverrideKind::as_str, OverrideKind::parse);
words!(request_kind_word, RequestKind, "a request kind", RequestKind::as_str, RequestKind::parse);
words!(request_state_word, RequestState, "a request state", RequestState::as_str, RequestState::parse);

/// Every durable record of a store (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// [`FORMAT`]: a reader refuses a format it does not know rather than guess.
    pub format: u32,
    /// When it was taken, for people; import ignores it.
    pub exported_at: DateTime<Utc>,
    pub deployments: Vec<DeploymentRecord>,
    /// By event, each event's in the order first written (what `resources` answers).
    pub resources: Vec<ResourceRecord>,
    /// Oldest first.
    pub steps: Vec<StepRecord>,
    pub overrides: Vec<OverrideRecord>,
    pub known_windows: Vec<WindowsRecord>,
    /// Settings and markers (`roles.medialive`, queue URLs…).
    pub meta: BTreeMap<String, String>,
    pub audit: Vec<AuditRecord>,
    pub alerts: Vec<AlertRecord>,
    pub requests: Vec<RequestRecord>,
    /// Chat and SNS request keys still inside their replay window.
    pub seen: Vec<Sighting>,
    /// EventBridge envelope ids still inside their redelivery window.
    pub envelopes: Vec<Sighting>,
    pub quarantine: Vec<Quarantined>,
    pub counters: Counters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    pub event: String,
    pub nonce: String,
    #[serde(with = "phase_word")]
    pub phase: Phase,
    pub phase_since: DateTime<Utc>,
    pub plan_json: String,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    pub event: String,
    pub key: String,
    #[serde(with = "kind_word")]
    pub kind: Kind,
    pub name: String,
    #[serde(with = "status_word")]
    pub status: Status,
    pub aws_id: Option<String>,
    pub arn: Option<String>,
    pub attrs: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

/// A step log row. It has no id of its own in either backend: its whole content is its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    pub event: String,
    pub step: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub duration_ms: i64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRecord {
    pub event: String,
    #[serde(with = "override_word")]
    pub kind: OverrideKind,
    pub set_at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsRecord {
    pub event: String,
    pub windows: Vec<KnownWindow>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub id: i64,
    /// The row's identity in every backend (`instance-micros-n`).
    pub key: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: Option<String>,
    pub operation: String,
    pub args: serde_json::Value,
    pub decision: String,
    pub changes: bool,
    pub result: Option<String>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub instance: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRecord {
    pub id: i64,
    pub event: String,
    pub channel_id: String,
    pub pipeline: i64,
    pub alarm_id: String,
    pub alert_type: String,
    pub message: String,
    pub set_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// The latest SET or CLEARED taken (what an older one is compared with).
    pub last_time: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub cleared_notified: bool,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    pub action: Option<String>,
    pub acted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    pub id: i64,
    #[serde(with = "request_kind_word")]
    pub kind: RequestKind,
    pub requester: String,
    pub requester_groups: Vec<String>,
    pub channel: String,
    pub command: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(with = "request_state_word")]
    pub state: RequestState,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A dedupe key and when it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    pub key: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantined {
    pub source: String,
    pub at: DateTime<Utc>,
    pub body: String,
    pub error: String,
}

/// The last id each counter handed out (0: none yet), whether or not its record is still kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    pub alert: i64,
    pub request: i64,
    pub audit: i64,
}

/// A snapshot that could not be read; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("snapshot format {found} is not one this ottd reads (it reads format {FORMAT})")]
    Format { found: String },
}

/// An event whose lease is held: a daemon works on it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub event: String,
    pub holder: String,
    pub doing: String,
}

/// Why an import wrote nothing (or, [`TransferError::Store`] on DynamoDB, not everything).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("snapshot format {0} is not one this ottd reads (it reads format {FORMAT})")]
    Format(u32),
    #[error("the snapshot holds {what} {key} twice")]
    Duplicate { what: &'static str, key: String },
    #[error(
        "{what} {id} here is another record than the snapshot's ({why}): the snapshot comes from another \
         store's history; import it into a fresh store"
    )]
    Conflict { what: &'static str, id: i64, why: String },
    #[error("{}; stop the daemons using this store (they release their leases on the way out) and import again", held(.0))]
    LeaseHeld(Vec<HeldLease>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn held(leases: &[HeldLease]) -> String {
    leases
        .iter()
        .map(|l| format!("event {} is in use: its lease is held by {} ({})", l.event, l.holder, l.doing))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an import did with one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Not in the destination: written.
    pub new: usize,
    /// In the destination, older (or less marked): written.
    pub updated: usize,
    /// In the destination as in the snapshot.
    pub unchanged: usize,
    /// In the destination and newer there: the destination's kept.
    pub kept: usize,
    /// Resources of a deployment replaced by a newer one: deleted.
    pub removed: usize,
}

impl Count {
    fn add(&mut self, o: &Count) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.kept += o.kept;
        self.removed += o.removed;
    }
}

/// What an import did, by kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub deployments: Count,
    pub resources: Count,
    pub steps: Count,
    pub overrides: Count,
    pub known_windows: Count,
    pub meta: Count,
    pub audit: Count,
    pub alerts: Count,
    pub requests: Count,
    pub seen: Count,
    pub envelopes: Count,
    pub quarantine: Count,
    /// Whether a counter had to be raised above the imported ids.
    pub counters_raised: bool,
}

impl Imported {
    pub fn total(&self) -> Count {
        let mut t = Count::default();
        for c in [
            &self.deployments,
            &self.resources,
            &self.steps,
            &self.overrides,
            &self.known_windows,
            &self.meta,
            &self.audit,
            &self.alerts,
            &self.requests,
            &self.seen,
            &self.envelopes,
            &self.quarantine,
        ] {
            t.add(c);
        }
        t
    }

    /// Records written or deleted: 0 for a snapshot imported before.
    pub fn changed(&self) -> usize {
        let t = self.total();
        t.new + t.updated + t.removed
    }
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.total();
        write!(f, "{} new, {} updated, {} unchanged, {} kept newer here", t.new, t.updated, t.unchanged, t.kept)?;
        if t.removed > 0 {
            write!(f, ", {} resources of replaced deployments removed", t.removed)?;
        }
        Ok(())
    }
}

/// What an import writes: the records to upsert as they are, the events whose resources are
/// replaced, and the counters to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Records to write (its `counters` unused: see [`Changes::counters`]).
    pub records: Snapshot,
    /// Events whose stored resources go before `records.resources` are written (a newer
    /// deployment of the event with another nonce).
    pub replace_resources_of: Vec<String>,
    /// Counters to raise to at least these values.
    pub counters: Option<Counters>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        let r = &self.records;
        r.deployments.is_empty()
            && r.resources.is_empty()
            && r.steps.is_empty()
            && r.overrides.is_empty()
            && r.known_windows.is_empty()
            && r.meta.is_empty()
            && r.audit.is_empty()
            && r.alerts.is_empty()
            && r.requests.is_empty()
            && r.seen.is_empty()
            && r.envelopes.is_empty()
            && r.quarantine.is_empty()
            && self.replace_resources_of.is_empty()
            && self.counters.is_none()
    }
}

impl Snapshot {
    /// A snapshot with no record.
    pub fn empty(exported_at: DateTime<Utc>) -> Snapshot {
        Snapshot {
            format: FORMAT,
            exported_at,
            deployments: Vec::new(),
            resources: Vec::new(),
            steps: Vec::new(),
            overrides: Vec::new(),
            known_windows: Vec::new(),
            meta: BTreeMap::new(),
            audit: Vec::new(),
            alerts: Vec::new(),
            requests: Vec::new(),
            seen: Vec::new(),
            envelopes: Vec::new(),
            quarantine: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// Read a snapshot: its format first (a later format is refused as such, not as a pile of
    /// unknown fields), then every record, any bad one an error at its line and column.
    pub fn parse(text: &str) -> std::result::Result<Snapshot, SnapshotError> {
        #[derive(Deserialize)]
        struct Header {
            format: Option<serde_json::Value>,
        }
        let header: Header = serde_json::from_str(text).map_err(json_error)?;
        match header.format {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(FORMAT)) => {}
            Some(other) => return Err(SnapshotError::Format { found: other.to_string() }),
            None => return Err(SnapshotError::Format { found: "(none: no `format` field)".to_string() }),
        }
        serde_json::from_str(text).map_err(json_error)
    }

    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, JSON values): serializing it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One line for people: how many records of each kind.
    pub fn summary(&self) -> String {
        format!(
            "{} deployments, {} resources, {} step log rows, {} overrides, {} known windows, {} settings, \
             {} audit rows, {} alerts, {} chat requests, {} seen keys, {} envelope ids, {} quarantined",
            self.deployments.len(),
            self.resources.len(),
            self.steps.len(),
            self.overrides.len(),
            self.known_windows.len(),
            self.meta.len(),
            self.audit.len(),
            self.alerts.len(),
            self.requests.len(),
            self.seen.len(),
            self.envelopes.len(),
            self.quarantine.len()
        )
    }

    /// The one order every backend exports in, so two snapshots of the same state are equal.
    /// Backends give resources (within an event) and steps in the order they were written;
    /// the sorts here are stable and keep it.
    pub fn normalize(&mut self) {
        self.deployments.sort_by(|a, b| a.event.cmp(&b.event));
        self.resources.sort_by(|a, b| a.event.cmp(&b.event));
        self.steps.sort_by_key(|s| s.at);
        self.overrides.sort_by(|a, b| a.event.cmp(&b.event));
        self.known_windows.sort_by(|a, b| a.event.cmp(&b.event));
        self.audit.sort_by_key(|a| a.id);
        self.alerts.sort_by_key(|a| a.id);
        self.requests.sort_by_key(|r| r.id);
        self.seen.sort_by(|a, b| a.key.cmp(&b.key));
        self.envelopes.sort_by(|a, b| a.key.cmp(&b.key));
        self.quarantine.sort_by(|a, b| a.source.cmp(&b.source));
    }

    /// Every event a record names: those whose leases must be free for an import.
    pub fn events(&self) -> BTreeSet<&str> {
        let mut e = BTreeSet::new();
        e.extend(self.deployments.iter().map(|d| d.event.as_str()));
        e.extend(self.resources.iter().map(|r| r.event.as_str()));
        e.extend(self.steps.iter().map(|s| s.event.as_str()));
        e.extend(self.overrides.iter().map(|o| o.event.as_str()));
        e.extend(self.alerts.iter().map(|a| a.event.as_str()));
        e
    }

    /// A snapshot import can take: its format, and no record twice.
    pub fn check(&self) -> std::result::Result<(), TransferError> {
        if self.format != FORMAT {
            return Err(TransferError::Format(self.format));
        }
        fn unique<'a>(
            what: &'static str,
            keys: impl Iterator<Item = String> + 'a,
        ) -> std::result::Result<(), TransferError> {
            let mut seen = HashSet::new();
            for k in keys {
                if !seen.insert(k.clone()) {
                    return Err(TransferError::Duplicate { what, key: k });
                }
            }
            Ok(())
        }
        unique("deployment", self.deployments.iter().map(|d| d.event.clone()))?;
        unique("resource", self.resources.iter().map(|r| format!("{}/{}", r.event, r.key)))?;
        unique("override of", self.overrides.iter().map(|o| o.event.clone()))?;
        unique("known windows of", self.known_windows.iter().map(|w| w.event.clone()))?;
        unique("audit row", self.audit.iter().map(|a| a.key.clone()))?;
        unique("audit id", self.audit.iter().map(|a| a.id.to_string()))?;
        unique("alert", self.alerts.iter().map(|a| a.id.to_string()))?;
        unique("request", self.requests.iter().map(|r| r.id.to_string()))?;
        unique("seen key", self.seen.iter().map(|s| s.key.clone()))?;
        unique("envelope id", self.envelopes.iter().map(|s| s.key.clone()))?;
        unique("quarantined source", self.quarantine.iter().map(|q| q.source.clone()))
    }
}

/// serde_json's error as line, column and message (its text ends with the position: kept
/// apart so the caller can put the file name in front).
fn json_error(e: serde_json::Error) -> SnapshotError {
    let (line, column) = (e.line(), e.column());
    let text = e.to_string();
    let message = text.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&text).to_string();
    SnapshotError::Json { line, column, message }
}

/// A store's records in and out (see the module doc).
pub trait Transfer: Leases + Send + Sync {
    /// Every durable record, once the writes queued so far are committed.
    fn export(&self) -> Result<Snapshot>;

    /// Write `changes` as they are (what [`Transfer::import`] decided): upserts by each
    /// record's key, no fence. All or nothing where the backend can.
    fn apply(&self, changes: Changes) -> Write<()>;

    /// Bring `s` into this store (see the module doc): refused while any of its events is
    /// leased; an upsert of what is missing or older here, nothing written when nothing is.
    fn import<'a>(&'a self, s: &'a Snapshot) -> BoxFuture<'a, std::result::Result<Imported, TransferError>> {
        Box::pin(async move {
            s.check()?;
            let events = s.events();
            let busy: Vec<HeldLease> = self
                .leases()?
                .into_iter()
                .filter(|l| !l.is_free() && events.contains(l.event.as_str()))
                .map(|l| HeldLease { event: l.event, holder: l.holder, doing: l.doing })
                .collect();
            if !busy.is_empty() {
                return Err(TransferError::LeaseHeld(busy));
            }
            let here = self.export()?;
            let (changes, imported) = merge(&here, s)?;
            if !changes.is_empty() {
                self.apply(changes).await?;
            }
            Ok(imported)
        })
    }
}

/// How an event's resources follow its deployment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// Another deployment replaced the destination's: its resources replace the old ones.
    Replace,
    /// The same deployment (or none in the snapshot): row by row, the newer wins.
    Merge,
    /// The destination's deployment is newer: its resources stay as they are.
    Keep,
}

/// Newer-wins for a record with an instant: (count, write it?).
fn newer<T: PartialEq>(here: Option<&T>, there: &T, at: impl Fn(&T) -> DateTime<Utc>, n: &mut Count) -> bool {
    match here {
        None => {
            n.new += 1;
            true
        }
        Some(h) if h == there => {
            n.unchanged += 1;
            false
        }
        Some(h) if at(there) > at(h) => {
            n.updated += 1;
            true
        }
        Some(_) => {
            n.kept += 1;
            false
        }
    }
}

/// Present here: kept as is; absent: written (dedupe keys, quarantine).
fn absent<T: PartialEq>(here: Option<&T>, there: &T, n: &mut Count) -> bool {
    match here {
        None => {
            n.new += 1;
            true
        }
        Some(h) if h == there => {
            n.unchanged += 1;
            false
        }
        Some(_) => {
            n.kept += 1;
            false
        }
    }
}

/// An alert with every mark either side made: a claim (told, acted) once made stays made.
fn merge_alert(h: &AlertRecord, a: &AlertRecord) -> AlertRecord {
    let later = a.last_time > h.last_time;
    let (acked_by, acked_at) =
        if h.acked_by.is_some() { (h.acked_by.clone(), h.acked_at) } else { (a.acked_by.clone(), a.acked_at) };
    let (action, acted_at) =
        if h.acted_at.is_some() { (h.action.clone(), h.acted_at) } else { (a.action.clone(), a.acted_at) };
    AlertRecord {
        message: if later { a.message.clone() } else { h.message.clone() },
        last_time: h.last_time.max(a.last_time),
        cleared_at: h.cleared_at.or(a.cleared_at),
        notified_at: h.notified_at.or(a.notified_at),
        cleared_notified: h.cleared_notified || a.cleared_notified,
        acked_by,
        acked_at,
        action,
        acted_at,
        ..h.clone()
    }
}

/// Decide what importing `there` into a store holding `here` writes, and count it.
pub fn merge(here: &Snapshot, there: &Snapshot) -> std::result::Result<(Changes, Imported), TransferError> {
    let mut out = Snapshot::empty(there.exported_at);
    let mut n = Imported::default();

    let have: HashMap<&str, &DeploymentRecord> = here.deployments.iter().map(|d| (d.event.as_str(), d)).collect();
    let mut follow: HashMap<&str, Follow> = HashMap::new();
    for d in &there.deployments {
        let h = have.get(d.event.as_str()).copied();
        let f = match h {
            None => Follow::Replace,
            Some(h) if h == d => Follow::Merge,
            Some(h) if d.updated_at > h.updated_at && h.nonce == d.nonce => Follow::Merge,
            Some(h) if d.updated_at > h.updated_at => Follow::Replace,
            Some(_) => Follow::Keep,
        };
        if newer(h, d, |d| d.updated_at, &mut n.deployments) {
            out.deployments.push(d.clone());
        }
        follow.insert(d.event.as_str(), f);
    }

    let have: HashMap<(&str, &str), &ResourceRecord> =
        here.resources.iter().map(|r| ((r.event.as_str(), r.key.as_str()), r)).collect();
    let mut replaced = BTreeSet::new();
    for r in &there.resources {
        let h = have.get(&(r.event.as_str(), r.key.as_str())).copied();
        match follow.get(r.event.as_str()).copied().unwrap_or(Follow::Merge) {
            Follow::Merge => {
                if newer(h, r, |r| r.updated_at, &mut n.resources) {
                    out.resources.push(r.clone());
                }
            }
            Follow::Keep => {
                if h == Some(r) {
                    n.resources.unchanged += 1
                } else {
                    n.resources.kept += 1
                }
            }
            Follow::Replace => {
                match h {
                    None => n.resources.new += 1,
                    Some(h) if h == r => n.resources.unchanged += 1,
                    Some(_) => n.resources.updated += 1,
                }
                // Written again in the snapshot's order, after the event's rows are cleared.
                out.resources.push(r.clone());
                replaced.insert(r.event.as_str());
            }
        }
    }
    for (event, f) in &follow {
        if *f != Follow::Replace {
            continue;
        }
        let theirs: HashSet<&str> =
            there.resources.iter().filter(|r| r.event == *event).map(|r| r.key.as_str()).collect();
        let stale = here.resources.iter().filter(|r| r.event == *event && !theirs.contains(r.key.as_str())).count();
        n.resources.removed += stale;
        if stale > 0 {
            replaced.insert(event);
        }
    }

    // Rows with the same content are the same rows: add the copies missing here.
    let mut have: HashMap<&StepRecord, usize> = HashMap::new();
    for s in &here.steps {
        *have.entry(s).or_default() += 1;
    }
    for s in &there.steps {
        match have.get_mut(s) {
            Some(left) if *left > 0 => {
                *left -= 1;
                n.steps.unchanged += 1;
            }
            _ => {
                n.steps.new += 1;
                out.steps.push(s.clone());
            }
        }
    }

    let have: HashMap<&str, &OverrideRecord> = here.overrides.iter().map(|o| (o.event.as_str(), o)).collect();
    for o in &there.overrides {
        if newer(have.get(o.event.as_str()).copied(), o, |o| o.set_at, &mut n.overrides) {
            out.overrides.push(o.clone());
        }
    }
    let have: HashMap<&str, &WindowsRecord> = here.known_windows.iter().map(|w| (w.event.as_str(), w)).collect();
    for w in &there.known_windows {
        if newer(have.get(w.event.as_str()).copied(), w, |w| w.recorded_at, &mut n.known_windows) {
            out.known_windows.push(w.clone());
        }
    }
    for (k, v) in &there.meta {
        match here.meta.get(k) {
            None => n.meta.new += 1,
            Some(h) if h == v => {
                n.meta.unchanged += 1;
                continue;
            }
            Some(_) => n.meta.updated += 1,
        }
        out.meta.insert(k.clone(), v.clone());
    }

    // Audit rows by key. A row keeps its id unless the destination gave it to another row.
    let have: HashMap<&str, &AuditRecord> = here.audit.iter().map(|a| (a.key.as_str(), a)).collect();
    let mut taken: HashSet<i64> = here.audit.iter().map(|a| a.id).collect();
    let top = |s: &Snapshot| s.audit.iter().map(|a| a.id).max().unwrap_or(0).max(s.counters.audit);
    let mut next_id = top(here).max(top(there)) + 1;
    for a in &there.audit {
        match have.get(a.key.as_str()) {
            None => {
                let mut a = a.clone();
                if !taken.insert(a.id) {
                    a.id = next_id;
                    next_id += 1;
                    taken.insert(a.id);
                }
                n.audit.new += 1;
                out.audit.push(a);
            }
            Some(h) if AuditRecord { id: h.id, ..a.clone() } == **h => n.audit.unchanged += 1,
            Some(h) if h.result.is_none() && a.result.is_some() => {
                n.audit.updated += 1;
                out.audit.push(AuditRecord { id: h.id, ..a.clone() });
            }
            Some(_) => n.audit.kept += 1,
        }
    }

    let have: HashMap<i64, &AlertRecord> = here.alerts.iter().map(|a| (a.id, a)).collect();
    for a in &there.alerts {
        let Some(h) = have.get(&a.id) else {
            n.alerts.new += 1;
            out.alerts.push(a.clone());
            continue;
        };
        let same = (&h.event, &h.channel_id, h.pipeline, &h.alarm_id, h.set_at)
            == (&a.event, &a.channel_id, a.pipeline, &a.alarm_id, a.set_at);
        if !same {
            let why = format!(
                "{} {}#{}#{} set at {} here",
                h.event,
                h.channel_id,
                h.pipeline,
                h.alarm_id,
                super::time_str(h.set_at)
            );
            return Err(TransferError::Conflict { what: "alert", id: a.id, why });
        }
        let merged = merge_alert(h, a);
        if merged == **h {
            if *h == a {
                n.alerts.unchanged += 1
            } else {
                n.alerts.kept += 1
            }
        } else {
            n.alerts.updated += 1;
            out.alerts.push(merged);
        }
    }

    let have: HashMap<i64, &RequestRecord> = here.requests.iter().map(|r| (r.id, r)).collect();
    for r in &there.requests {
        let Some(h) = have.get(&r.id) else {
            n.requests.new += 1;
            out.requests.push(r.clone());
            continue;
        };
        if (h.kind, &h.requester, &h.channel, &h.command, h.created_at)
            != (r.kind, &r.requester, &r.channel, &r.command, r.created_at)
        {
            let why = format!("`{}` by {} at {} here", h.command, h.requester, super::time_str(h.created_at));
            return Err(TransferError::Conflict { what: "chat request", id: r.id, why });
        }
        if *h == r {
            n.requests.unchanged += 1;
        } else if h.state == RequestState::Pending && r.state != RequestState::Pending {
            n.requests.updated += 1;
            out.requests.push(r.clone());
        } else {
            n.requests.kept += 1;
        }
    }

    for (mine, theirs, into, count) in [
        (&here.seen, &there.seen, &mut out.seen, &mut n.seen),
        (&here.envelopes, &there.envelopes, &mut out.envelopes, &mut n.envelopes),
    ] {
        let have: HashMap<&str, &Sighting> = mine.iter().map(|s| (s.key.as_str(), s)).collect();
        for s in theirs {
            if absent(have.get(s.key.as_str()).copied(), s, count) {
                into.push(s.clone());
            }
        }
    }
    let have: HashMap<&str, &Quarantined> = here.quarantine.iter().map(|q| (q.source.as_str(), q)).collect();
    for q in &there.quarantine {
        if absent(have.get(q.source.as_str()).copied(), q, &mut n.quarantine) {
            out.quarantine.push(q.clone());
        }
    }

    // Every counter above every id it may meet: here, in the snapshot, and as written.
    let max_id = |ids: &mut dyn Iterator<Item = i64>| ids.max().unwrap_or(0);
    let need = Counters {
        alert: there.counters.alert.max(max_id(&mut there.alerts.iter().map(|a| a.id))),
        request: there.counters.request.max(max_id(&mut there.requests.iter().map(|r| r.id))),
        audit: there.counters.audit.max(max_id(&mut out.audit.iter().map(|a| a.id))),
    };
    let c = here.counters;
    let counters = (need.alert > c.alert || need.request > c.request || need.audit > c.audit).then_some(Counters {
        alert: need.alert.max(c.alert),
        request: need.request.max(c.request),
        audit: need.audit.max(c.audit),
    });
    n.counters_raised = counters.is_some();
    let replace_resources_of = replaced.into_iter().map(str::to_string).collect();
    Ok((Changes { records: out, replace_resources_of, counters }, n))
}

#[cfg(test)]
mod tests;
