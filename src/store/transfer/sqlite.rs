//! [`Transfer`] on the SQLite file: an export is one read transaction (a consistent picture
//! even beside a writer), an import one write transaction (all or nothing). Ids are written
//! as they are; `sqlite_sequence` (what AUTOINCREMENT hands out next) holds the counters,
//! `live_counters` the live commands' per-deployment ones.

use chrono::Utc;
use rusqlite::{params, Connection};

use super::{
    counters_covering, envelope_window, seen_window, AlertRecord, AuditRecord, Changes, Counters, DeploymentRecord,
    LiveCounterRecord, OverrideRecord, Quarantined, RequestRecord, ResourceRecord, Sighting, Snapshot, StepRecord,
    Transfer, WindowsRecord,
};
use crate::lifecycle::{OverrideKind, Phase, Status};
use crate::store::live::{self, counter_of};
use crate::store::requests::{Kind as RequestKind, State as RequestState};
use crate::store::sqlite::Sqlite;
use crate::store::{parse_time, time_str, Meta, Result, StoreError, Write};

/// The AUTOINCREMENT tables behind each counter.
const COUNTERS: [(&str, &str); 3] = [("alert", "alerts"), ("request", "chat_requests"), ("audit", "audit")];

fn time(s: String, what: &'static str) -> Result<chrono::DateTime<Utc>> {
    parse_time(&s, what)
}

fn opt_time(s: Option<String>, what: &'static str) -> Result<Option<chrono::DateTime<Utc>>> {
    s.map(|s| parse_time(&s, what)).transpose()
}

fn json<T: serde::de::DeserializeOwned>(s: String, what: &'static str) -> Result<T> {
    serde_json::from_str(&s).map_err(|_| StoreError::Corrupt { what, value: s })
}

fn word<T>(s: String, what: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(&s).ok_or(StoreError::Corrupt { what, value: s })
}

/// Rows of `sql` as `T` (tuples of columns), before any of them is interpreted.
fn rows<T: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Vec<T>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(p, |r| T::try_from(r))?;
    rows.collect()
}

type RawDeployment = (String, String, String, String, String, Option<String>, String);
type RawResource = (String, String, String, String, String, Option<String>, Option<String>, String, String);
type RawStep = (String, String, String, Option<String>, i64, String);
type RawOverride = (String, String, String, Option<String>, String);
type RawAudit = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
);
type RawAlert = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type RawRequest = (i64, String, String, String, String, String, String, String, String, Option<String>, Option<String>);

/// Every record, read in the caller's (read) transaction.
fn read_all(c: &Connection) -> Result<Snapshot> {
    let now = Utc::now();
    let mut s = Snapshot::empty(now);
    let raw: Vec<RawDeployment> = rows(
        c,
        "SELECT event, nonce, phase, phase_since, plan_json, last_error, updated_at FROM deployments ORDER BY event",
        [],
    )?;
    for (event, nonce, phase, since, plan_json, last_error, updated) in raw {
        s.deployments.push(DeploymentRecord {
            event,
            nonce,
            phase: word(phase, "deployments.phase", Phase::parse)?,
            phase_since: time(since, "deployments.phase_since")?,
            plan_json,
            last_error,
            updated_at: time(updated, "deployments.updated_at")?,
        });
    }
    let raw: Vec<RawResource> = rows(
        c,
        "SELECT event, key, kind, name, status, aws_id, arn, attrs, updated_at FROM resources ORDER BY event, rowid",
        [],
    )?;
    for (event, key, kind, name, status, aws_id, arn, attrs, updated) in raw {
        s.resources.push(ResourceRecord {
            event,
            key,
            kind: word(kind, "resources.kind", crate::store::dynamo::deployments::kind_of)?,
            name,
            status: word(status, "resources.status", Status::parse)?,
            aws_id,
            arn,
            attrs: json(attrs, "resources.attrs")?,
            updated_at: time(updated, "resources.updated_at")?,
        });
    }
    let raw: Vec<RawStep> =
        rows(c, "SELECT event, step, outcome, detail, duration_ms, at FROM step_log ORDER BY id", [])?;
    for (event, step, outcome, detail, duration_ms, at) in raw {
        s.steps.push(StepRecord { event, step, outcome, detail, duration_ms, at: time(at, "step_log.at")? });
    }
    let raw: Vec<RawOverride> = rows(c, "SELECT event, kind, set_at, until, by FROM overrides ORDER BY event", [])?;
    for (event, kind, set_at, until, by) in raw {
        s.overrides.push(OverrideRecord {
            event,
            kind: word(kind, "overrides.kind", OverrideKind::parse)?,
            set_at: time(set_at, "overrides.set_at")?,
            until: opt_time(until, "overrides.until")?,
            by,
        });
    }
    let raw: Vec<(String, String, String)> =
        rows(c, "SELECT event, windows, recorded_at FROM known_windows ORDER BY event", [])?;
    for (event, windows, recorded_at) in raw {
        s.known_windows.push(WindowsRecord {
            event,
            windows: json(windows, "known_windows.windows")?,
            recorded_at: time(recorded_at, "known_windows.recorded_at")?,
        });
    }
    let raw: Vec<(String, String)> = rows(c, "SELECT key, value FROM meta", [])?;
    s.meta = raw.into_iter().collect();
    let raw: Vec<RawAudit> = rows(
        c,
        "SELECT id, key, at, actor, event, operation, args, decision, changes, result, duration_ms, error, instance
         FROM audit ORDER BY id",
        [],
    )?;
    for (id, key, at, actor, event, operation, args, decision, changes, result, duration_ms, error, instance) in raw {
        s.audit.push(AuditRecord {
            id,
            key,
            at: time(at, "audit.at")?,
            actor,
            event,
            operation,
            args: json(args, "audit.args")?,
            decision,
            changes,
            result,
            duration_ms,
            error,
            instance,
        });
    }
    let raw: Vec<RawAlert> = rows(
        c,
        "SELECT id, event, channel_id, pipeline, alarm_id, alert_type, message, set_at, cleared_at, last_time,
             notified_at, cleared_notified, acked_by, acked_at, action, acted_at
         FROM alerts ORDER BY id",
        [],
    )?;
    for r in raw {
        s.alerts.push(AlertRecord {
            id: r.0,
            event: r.1,
            channel_id: r.2,
            pipeline: r.3,
            alarm_id: r.4,
            alert_type: r.5,
            message: r.6,
            set_at: time(r.7, "alerts.set_at")?,
            cleared_at: opt_time(r.8, "alerts.cleared_at")?,
            last_time: time(r.9, "alerts.last_time")?,
            notified_at: opt_time(r.10, "alerts.notified_at")?,
            cleared_notified: r.11,
            acked_by: r.12,
            acked_at: opt_time(r.13, "alerts.acked_at")?,
            action: r.14,
            acted_at: opt_time(r.15, "alerts.acted_at")?,
        });
    }
    let raw: Vec<RawRequest> = rows(
        c,
        "SELECT id, kind, requester, requester_groups, channel, command, created_at, expires_at, state, decided_by,
             decided_at
         FROM chat_requests ORDER BY id",
        [],
    )?;
    for (id, kind, requester, groups, channel, command, created, expires, state, decided_by, decided_at) in raw {
        s.requests.push(RequestRecord {
            id,
            kind: word(kind, "chat_requests.kind", RequestKind::parse)?,
            requester,
            requester_groups: json(groups, "chat_requests.requester_groups")?,
            channel,
            command,
            created_at: time(created, "chat_requests.created_at")?,
            expires_at: time(expires, "chat_requests.expires_at")?,
            state: word(state, "chat_requests.state", RequestState::parse)?,
            decided_by,
            decided_at: opt_time(decided_at, "chat_requests.decided_at")?,
        });
    }
    for (table, since, into) in [
        ("seen_requests", now - seen_window(), &mut s.seen),
        ("seen_envelopes", now - envelope_window(), &mut s.envelopes),
    ] {
        let col = if table == "seen_requests" { "key" } else { "id" };
        let raw: Vec<(String, String)> =
            rows(c, &format!("SELECT {col}, at FROM {table} WHERE at >= ?1 ORDER BY {col}"), [time_str(since)])?;
        for (key, at) in raw {
            into.push(Sighting { key, at: time(at, "seen.at")? });
        }
    }
    let raw: Vec<(String, String, String, String)> =
        rows(c, "SELECT source, at, body, error FROM quarantine ORDER BY source", [])?;
    for (source, at, body, error) in raw {
        s.quarantine.push(Quarantined { source, at: time(at, "quarantine.at")?, body, error });
    }
    let raw: Vec<live::Raw> =
        rows(c, &format!("SELECT {} FROM live_commands ORDER BY event, nonce, counter", live::COLUMNS), [])?;
    for r in raw {
        s.live.push(live::typed(r)?.into());
    }
    let raw: Vec<(String, String, i64)> = rows(c, "SELECT event, nonce, last FROM live_counters", [])?;
    let stored = raw
        .into_iter()
        .map(|(event, nonce, last)| {
            Ok(LiveCounterRecord { event, nonce, last: counter_of(last, "live_counters.last")? })
        })
        .collect::<Result<Vec<_>>>()?;
    s.live_counters = counters_covering(stored, &s.live);
    let seq: Vec<(String, i64)> = rows(c, "SELECT name, seq FROM sqlite_sequence", [])?;
    let last = |table: &str| seq.iter().find(|(n, _)| n == table).map_or(0, |(_, v)| *v);
    s.counters = Counters {
        alert: last("alerts").max(s.alerts.iter().map(|a| a.id).max().unwrap_or(0)),
        request: last("chat_requests").max(s.requests.iter().map(|r| r.id).max().unwrap_or(0)),
        audit: last("audit").max(s.audit.iter().map(|a| a.id).max().unwrap_or(0)),
    };
    s.normalize();
    Ok(s)
}

/// Write `changes` in the writer's transaction.
fn write_all(c: &Connection, changes: Changes) -> rusqlite::Result<()> {
    let r = changes.records;
    for d in r.deployments {
        c.execute(
            "INSERT OR REPLACE INTO deployments (event, nonce, phase, phase_since, plan_json, last_error, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                d.event,
                d.nonce,
                d.phase.as_str(),
                time_str(d.phase_since),
                d.plan_json,
                d.last_error,
                time_str(d.updated_at)
            ],
        )?;
    }
    for event in changes.replace_resources_of {
        c.execute("DELETE FROM resources WHERE event = ?1", params![event])?;
    }
    for x in r.resources {
        c.execute(
            "INSERT INTO resources (event, key, kind, name, status, aws_id, arn, attrs, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (event, key) DO UPDATE SET kind = excluded.kind, name = excluded.name,
                status = excluded.status, aws_id = excluded.aws_id, arn = excluded.arn, attrs = excluded.attrs,
                updated_at = excluded.updated_at",
            params![
                x.event,
                x.key,
                crate::store::dynamo::deployments::kind_str(x.kind),
                x.name,
                x.status.as_str(),
                x.aws_id,
                x.arn,
                x.attrs.to_string(),
                time_str(x.updated_at)
            ],
        )?;
    }
    for s in r.steps {
        c.execute(
            "INSERT INTO step_log (event, step, outcome, detail, duration_ms, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![s.event, s.step, s.outcome, s.detail, s.duration_ms, time_str(s.at)],
        )?;
    }
    for o in r.overrides {
        c.execute(
            "INSERT OR REPLACE INTO overrides (event, kind, set_at, until, by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![o.event, o.kind.as_str(), time_str(o.set_at), o.until.map(time_str), o.by],
        )?;
    }
    for w in r.known_windows {
        let windows = serde_json::to_string(&w.windows).unwrap_or_else(|_| "[]".into());
        c.execute(
            "INSERT OR REPLACE INTO known_windows (event, windows, recorded_at) VALUES (?1, ?2, ?3)",
            params![w.event, windows, time_str(w.recorded_at)],
        )?;
    }
    for (k, v) in r.meta {
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![k, v])?;
    }
    for a in r.audit {
        c.execute(
            "INSERT INTO audit (id, key, at, actor, event, operation, args, decision, changes, result, duration_ms,
                 error, instance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (key) DO UPDATE SET at = excluded.at, actor = excluded.actor, event = excluded.event,
                operation = excluded.operation, args = excluded.args, decision = excluded.decision,
                changes = excluded.changes, result = excluded.result, duration_ms = excluded.duration_ms,
                error = excluded.error, instance = excluded.instance",
            params![
                a.id,
                a.key,
                time_str(a.at),
                a.actor,
                a.event,
                a.operation,
                a.args.to_string(),
                a.decision,
                a.changes,
                a.result,
                a.duration_ms,
                a.error,
                a.instance
            ],
        )?;
    }
    for a in r.alerts {
        c.execute(
            "INSERT OR REPLACE INTO alerts (id, event, channel_id, pipeline, alarm_id, alert_type, message, set_at,
                 cleared_at, last_time, notified_at, cleared_notified, acked_by, acked_at, action, acted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                a.id,
                a.event,
                a.channel_id,
                a.pipeline,
                a.alarm_id,
                a.alert_type,
                a.message,
                time_str(a.set_at),
                a.cleared_at.map(time_str),
                time_str(a.last_time),
                a.notified_at.map(time_str),
                a.cleared_notified,
                a.acked_by,
                a.acked_at.map(time_str),
                a.action,
                a.acted_at.map(time_str)
            ],
        )?;
    }
    for q in r.requests {
        let groups = serde_json::to_string(&q.requester_groups).unwrap_or_else(|_| "[]".into());
        c.execute(
            "INSERT OR REPLACE INTO chat_requests (id, kind, requester, requester_groups, channel, command,
                 created_at, expires_at, state, decided_by, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                q.id,
                q.kind.as_str(),
                q.requester,
                groups,
                q.channel,
                q.command,
                time_str(q.created_at),
                time_str(q.expires_at),
                q.state.as_str(),
                q.decided_by,
                q.decided_at.map(time_str)
            ],
        )?;
    }
    for s in r.seen {
        c.execute("INSERT OR REPLACE INTO seen_requests (key, at) VALUES (?1, ?2)", params![s.key, time_str(s.at)])?;
    }
    for s in r.envelopes {
        c.execute("INSERT OR REPLACE INTO seen_envelopes (id, at) VALUES (?1, ?2)", params![s.key, time_str(s.at)])?;
    }
    for q in r.quarantine {
        c.execute(
            "INSERT OR IGNORE INTO quarantine (at, source, body, error) VALUES (?1, ?2, ?3, ?4)",
            params![time_str(q.at), q.source, q.body, q.error],
        )?;
    }
    for l in r.live {
        c.execute(
            "INSERT INTO live_commands (event, nonce, counter, state, body, by, at, updated_at, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (event, nonce, counter) DO UPDATE SET state = excluded.state, body = excluded.body,
                by = excluded.by, at = excluded.at, updated_at = excluded.updated_at, detail = excluded.detail",
            params![
                l.event,
                l.nonce,
                l.counter,
                l.state.as_str(),
                l.body,
                l.by,
                time_str(l.at),
                time_str(l.updated_at),
                l.detail
            ],
        )?;
    }
    for k in r.live_counters {
        c.execute(
            "INSERT INTO live_counters (event, nonce, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (event, nonce) DO UPDATE SET last = MAX(last, excluded.last)",
            params![k.event, k.nonce, k.last],
        )?;
    }
    if let Some(counters) = changes.counters {
        for (name, table) in COUNTERS {
            let want = match name {
                "alert" => counters.alert,
                "request" => counters.request,
                _ => counters.audit,
            };
            let n = c.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?2) WHERE name = ?1", params![table, want])?;
            if n == 0 && want > 0 {
                c.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)", params![table, want])?;
            }
        }
    }
    Ok(())
}

impl Transfer for Sqlite {
    fn export(&self) -> Result<Snapshot> {
        self.flush().wait()?;
        self.with(|c| {
            // One read transaction: every table as of one commit, whatever is written meanwhile.
            let tx = c.unchecked_transaction()?;
            let s = read_all(&tx);
            tx.finish()?;
            Ok(s)
        })?
    }

    fn apply(&self, changes: Changes) -> Write<()> {
        self.write(move |c| write_all(c, changes))
    }
}
