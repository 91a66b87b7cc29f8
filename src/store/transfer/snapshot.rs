//! The snapshot: format 1 of every durable record (see [`super`]), read and written as JSON.
//! Enums travel as the words the stores keep; a word naming nothing, an instant that is not
//! RFC 3339, a missing or unknown field are errors at their line and column.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TransferError;
use crate::lifecycle::{OverrideKind, Phase, Status};
use crate::plan::Kind;
use crate::store::requests::{Kind as RequestKind, State as RequestState};
use crate::store::{KnownWindow, LiveState};

/// The snapshot format this ottd writes and reads.
pub const FORMAT: u32 = 1;

/// How long an EventBridge envelope id is remembered (as the DynamoDB backend keeps it): an
/// older one protects nothing and is not exported.
pub fn envelope_window() -> chrono::Duration {
    chrono::Duration::days(crate::store::dynamo::alerts::ENVELOPE_DAYS)
}

/// How long a chat or SNS request key is remembered.
pub fn seen_window() -> chrono::Duration {
    chrono::Duration::from_std(crate::store::seen::SEEN_TTL).unwrap_or(chrono::Duration::days(1))
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
words!(live_state_word, LiveState, "a live command state", LiveState::as_str, LiveState::word);

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
    /// Live-control commands, by event, deployment and counter. Absent from a snapshot of an
    /// ottd from before them: none.
    #[serde(default)]
    pub live: Vec<LiveCommandRecord>,
    /// The last counter value each deployment's live commands took, never below its highest
    /// command (a command's record may go, its value stays taken).
    #[serde(default)]
    pub live_counters: Vec<LiveCounterRecord>,
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

/// A live-control command (see [`crate::store::live`]): (event, nonce, counter) is its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveCommandRecord {
    pub event: String,
    pub nonce: String,
    pub counter: u32,
    #[serde(with = "live_state_word")]
    pub state: LiveState,
    pub body: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub detail: Option<String>,
}

impl From<crate::store::LiveRecord> for LiveCommandRecord {
    fn from(r: crate::store::LiveRecord) -> LiveCommandRecord {
        let crate::store::LiveRecord { event, nonce, counter, state, body, by, at, updated_at, detail } = r;
        LiveCommandRecord { event, nonce, counter, state, body, by, at, updated_at, detail }
    }
}

impl From<LiveCommandRecord> for crate::store::LiveRecord {
    fn from(r: LiveCommandRecord) -> crate::store::LiveRecord {
        let LiveCommandRecord { event, nonce, counter, state, body, by, at, updated_at, detail } = r;
        crate::store::LiveRecord { event, nonce, counter, state, body, by, at, updated_at, detail }
    }
}

/// The last value a deployment's live-command counter handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveCounterRecord {
    pub event: String,
    pub nonce: String,
    pub last: u32,
}

/// Each deployment's counter as a backend keeps it, raised to its highest command recorded
/// (so an export never hands on a counter a command is above), by event and nonce.
pub fn counters_covering(stored: Vec<LiveCounterRecord>, live: &[LiveCommandRecord]) -> Vec<LiveCounterRecord> {
    let mut last: BTreeMap<(String, String), u32> = BTreeMap::new();
    for c in stored {
        let n = last.entry((c.event, c.nonce)).or_default();
        *n = (*n).max(c.last);
    }
    for r in live {
        let n = last.entry((r.event.clone(), r.nonce.clone())).or_default();
        *n = (*n).max(r.counter);
    }
    last.into_iter().map(|((event, nonce), last)| LiveCounterRecord { event, nonce, last }).collect()
}

/// A snapshot that could not be read; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("snapshot format {found} is not one this ottd reads (it reads format {FORMAT})")]
    Format { found: String },
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
            live: Vec::new(),
            live_counters: Vec::new(),
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
             {} audit rows, {} alerts, {} chat requests, {} seen keys, {} envelope ids, {} quarantined, \
             {} live commands",
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
            self.quarantine.len(),
            self.live.len()
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
        self.live.sort_by(|a, b| (&a.event, &a.nonce, a.counter).cmp(&(&b.event, &b.nonce, b.counter)));
        self.live_counters.sort_by(|a, b| (&a.event, &a.nonce).cmp(&(&b.event, &b.nonce)));
    }

    /// Every event a record names: those whose leases must be free for an import.
    pub fn events(&self) -> BTreeSet<&str> {
        let mut e = BTreeSet::new();
        e.extend(self.deployments.iter().map(|d| d.event.as_str()));
        e.extend(self.resources.iter().map(|r| r.event.as_str()));
        e.extend(self.steps.iter().map(|s| s.event.as_str()));
        e.extend(self.overrides.iter().map(|o| o.event.as_str()));
        e.extend(self.alerts.iter().map(|a| a.event.as_str()));
        e.extend(self.live.iter().map(|l| l.event.as_str()));
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
        unique("quarantined source", self.quarantine.iter().map(|q| q.source.clone()))?;
        unique("live command", self.live.iter().map(|l| format!("{} {} #{}", l.event, l.nonce, l.counter)))?;
        unique("live counter of", self.live_counters.iter().map(|c| format!("{} {}", c.event, c.nonce)))
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
