//! Deployments and their resources: what the engine created for each event, with each
//! resource's ids and status, written before and after every AWS create and delete.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sqlite::Sqlite;
use super::{now, parse_time, Fence, Result, StoreError, Write};
use crate::lifecycle::{Phase, Status};
use crate::plan::Kind;

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

#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// A stored `deployments.phase`; anything else means the file was edited or is damaged.
fn stored_phase(text: String) -> Result<Phase> {
    Phase::parse(&text).ok_or(StoreError::Corrupt { what: "deployments.phase", value: text })
}

fn stored_status(text: String) -> Result<Status> {
    Status::parse(&text).ok_or(StoreError::Corrupt { what: "resources.status", value: text })
}

/// Each event's deployment: its phase, plan and resources. Writes are fenced by the event's lease.
pub trait Deployments {
    fn deployment(&self, event: &str) -> Result<Option<Deployment>>;
    /// The event's phase and since when, without the rest of the row: what the scheduler
    /// reads on every reconcile.
    fn phase(&self, event: &str) -> Result<Option<(Phase, DateTime<Utc>)>>;
    /// The phase (and since when) of each of `events` that has a deployment: one query for a
    /// crowd of events instead of one each.
    fn phases_of(&self, events: &[&str]) -> Result<Vec<(String, Phase, DateTime<Utc>)>>;
    /// Every deployment's phase (and since when), by event: what a sweep over all events
    /// needs, without their plans.
    fn phases(&self) -> Result<Vec<(String, Phase, DateTime<Utc>)>>;
    fn deployments(&self) -> Result<Vec<Deployment>>;
    /// Start a new deployment: forget the rows of a torn-down one and record the nonce.
    fn begin_deployment(&self, fence: &Fence, nonce: &str, plan_json: &str) -> Write<()>;
    fn update_plan(&self, fence: &Fence, plan_json: &str) -> Write<()>;
    fn set_phase(&self, fence: &Fence, phase: Phase, error: Option<&str>) -> Write<()>;
    fn set_error(&self, fence: &Fence, error: Option<&str>) -> Write<()>;
    fn resources(&self, event: &str) -> Result<Vec<ResourceRow>>;
    fn resource(&self, event: &str, key: &str) -> Result<Option<ResourceRow>>;
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        fence: &Fence,
        key: &str,
        kind: Kind,
        name: &str,
        status: Status,
        aws_id: Option<&str>,
        arn: Option<&str>,
        attrs: Option<&serde_json::Value>,
    ) -> Write<()>;
}

impl Deployments for Sqlite {
    fn deployment(&self, event: &str) -> Result<Option<Deployment>> {
        let row = self.with(|c| {
            c.prepare_cached(
                "SELECT event, nonce, phase, plan_json, last_error, updated_at, phase_since FROM deployments WHERE event = ?1",
            )?
            .query_row(
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
                phase_since: parse_time(&since, "deployments.phase_since")?,
                plan_json,
                last_error,
                updated_at: parse_time(&updated, "deployments.updated_at")?,
            })
        })
        .transpose()
    }

    fn phase(&self, event: &str) -> Result<Option<(Phase, DateTime<Utc>)>> {
        let row = self.with(|c| {
            c.prepare_cached("SELECT phase, phase_since FROM deployments WHERE event = ?1")?
                .query_row(params![event], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .optional()
        })?;
        row.map(|(phase, since)| Ok((stored_phase(phase)?, parse_time(&since, "deployments.phase_since")?))).transpose()
    }

    fn phases(&self) -> Result<Vec<(String, Phase, DateTime<Utc>)>> {
        let rows: Vec<(String, String, String)> = self.with(|c| {
            let mut st = c.prepare_cached("SELECT event, phase, phase_since FROM deployments ORDER BY event")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(event, phase, since)| {
                Ok((event, stored_phase(phase)?, parse_time(&since, "deployments.phase_since")?))
            })
            .collect()
    }

    fn phases_of(&self, events: &[&str]) -> Result<Vec<(String, Phase, DateTime<Utc>)>> {
        let mut out = Vec::with_capacity(events.len());
        // SQLite takes at most 32766 parameters; a crowd's slice is far below that.
        for chunk in events.chunks(16_000) {
            let rows: Vec<(String, String, String)> = self.with(|c| {
                let sql = format!(
                    "SELECT event, phase, phase_since FROM deployments WHERE event IN ({})",
                    vec!["?"; chunk.len()].join(",")
                );
                let mut st = c.prepare(&sql)?;
                let rows =
                    st.query_map(rusqlite::params_from_iter(chunk.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            })?;
            for (event, phase, since) in rows {
                out.push((event, stored_phase(phase)?, parse_time(&since, "deployments.phase_since")?));
            }
        }
        Ok(out)
    }

    fn deployments(&self) -> Result<Vec<Deployment>> {
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

    fn begin_deployment(&self, fence: &Fence, nonce: &str, plan_json: &str) -> Write<()> {
        let (event, nonce, plan_json) = (fence.event.clone(), nonce.to_string(), plan_json.to_string());
        self.write_fenced(fence, move |c| {
            c.execute("DELETE FROM resources WHERE event = ?1", params![event])?;
            c.prepare_cached(
                "INSERT OR REPLACE INTO deployments (event, nonce, phase, phase_since, plan_json, last_error, updated_at)
                 VALUES (?1, ?2, 'deploying', ?4, ?3, NULL, ?4)",
            )?
            .execute(params![event, nonce, plan_json, now()])
            .map(drop)
        })
    }

    fn update_plan(&self, fence: &Fence, plan_json: &str) -> Write<()> {
        let (event, plan_json) = (fence.event.clone(), plan_json.to_string());
        self.write_fenced(fence, move |c| {
            c.execute(
                "UPDATE deployments SET plan_json = ?2, updated_at = ?3 WHERE event = ?1",
                params![event, plan_json, now()],
            )
            .map(drop)
        })
    }

    fn set_phase(&self, fence: &Fence, phase: Phase, error: Option<&str>) -> Write<()> {
        let (event, error) = (fence.event.clone(), error.map(str::to_string));
        self.write_fenced(fence, move |c| {
            c.prepare_cached(
                "UPDATE deployments SET phase_since = CASE WHEN phase = ?2 THEN phase_since ELSE ?4 END,
                    phase = ?2, last_error = ?3, updated_at = ?4 WHERE event = ?1",
            )?
            .execute(params![event, phase.as_str(), error, now()])
            .map(drop)
        })
    }

    fn set_error(&self, fence: &Fence, error: Option<&str>) -> Write<()> {
        let (event, error) = (fence.event.clone(), error.map(str::to_string));
        self.write_fenced(fence, move |c| {
            c.execute(
                "UPDATE deployments SET last_error = ?2, updated_at = ?3 WHERE event = ?1",
                params![event, error, now()],
            )
            .map(drop)
        })
    }

    fn resources(&self, event: &str) -> Result<Vec<ResourceRow>> {
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
                    status: stored_status(status)?,
                    aws_id,
                    arn,
                    attrs: serde_json::from_str(&attrs)
                        .map_err(|_| StoreError::Corrupt { what: "resources.attrs", value: attrs.clone() })?,
                    updated_at: parse_time(&updated, "resources.updated_at")?,
                })
            })
            .collect()
    }

    fn resource(&self, event: &str, key: &str) -> Result<Option<ResourceRow>> {
        Ok(self.resources(event)?.into_iter().find(|r| r.key == key))
    }

    /// Record a resource's status and what is known of it (None keeps the stored value).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        fence: &Fence,
        key: &str,
        kind: Kind,
        name: &str,
        status: Status,
        aws_id: Option<&str>,
        arn: Option<&str>,
        attrs: Option<&serde_json::Value>,
    ) -> Write<()> {
        let attrs = attrs.map(|a| a.to_string());
        let (event, key, name) = (fence.event.clone(), key.to_string(), name.to_string());
        let (aws_id, arn) = (aws_id.map(str::to_string), arn.map(str::to_string));
        self.write_fenced(fence, move |c| {
            c.prepare_cached(
                "INSERT INTO resources (event, key, kind, name, status, aws_id, arn, attrs, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, '{}'), ?9)
                 ON CONFLICT (event, key) DO UPDATE SET
                    status = excluded.status,
                    name = excluded.name,
                    aws_id = COALESCE(excluded.aws_id, resources.aws_id),
                    arn = COALESCE(excluded.arn, resources.arn),
                    attrs = CASE WHEN ?8 IS NULL THEN resources.attrs ELSE excluded.attrs END,
                    updated_at = excluded.updated_at",
            )?
            .execute(params![event, key, kind_str(kind), name, status.as_str(), aws_id, arn, attrs, now()])
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::OverrideKind;
    use crate::store::StoredOverride;
    use crate::store::*;

    #[test]
    fn record_keeps_known_ids_when_a_later_write_omits_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("s/ottd.db")).expect("open");
        store.begin_deployment(&store.test_fence("final"), "abcd1234", "{}").wait().expect("begin");
        store
            .record(&store.test_fence("final"), "input", Kind::Input, "n", Status::Creating, None, None, None)
            .wait()
            .expect("intent");
        let attrs = serde_json::json!({"url": "x"});
        store
            .record(
                &store.test_fence("final"),
                "input",
                Kind::Input,
                "n",
                Status::Created,
                Some("123"),
                Some("arn:1"),
                Some(&attrs),
            )
            .wait()
            .expect("done");
        store
            .record(&store.test_fence("final"), "input", Kind::Input, "n", Status::Deleting, None, None, None)
            .wait()
            .expect("deleting");
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
            store.begin_deployment(&store.test_fence(event), "abcd1234", "{}").wait().expect("begin");
            store.set_phase(&store.test_fence(event), phase, None).wait().expect("phase");
        }
        let d = store.deployment("final").expect("q").expect("row");
        assert_eq!(store.phase("final").expect("q"), Some((Phase::Running, d.phase_since)));
        let phases: Vec<(String, Phase)> =
            store.phases().expect("phases").into_iter().map(|(e, p, _)| (e, p)).collect();
        assert_eq!(phases.iter().filter(|(_, p)| *p == Phase::Running).count(), 2);
        assert_eq!(phases.iter().filter(|(_, p)| *p == Phase::Stopped).count(), 1);

        assert_eq!(store.override_of("semi").expect("q"), None);
        let o = StoredOverride {
            event: "semi".into(),
            kind: OverrideKind::Hold,
            set_at: parse_time("2026-11-26T10:00:00Z", "t").expect("t"),
            until: None,
            by: "ops".into(),
        };
        store.set_override(&o).wait().expect("set");
        assert_eq!(store.override_of("semi").expect("q"), Some(o));
        assert_eq!(store.override_of("final").expect("q"), None);
    }
}
