//! Deployments, their resources and the step log on DynamoDB. Every write here is fenced (a
//! transaction that checks the event's lease first) and goes on the event's lane, so one
//! event's writes apply in the order they were issued.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::channel::oneshot;

use super::items::{get_i64, get_s, get_time, key, n, opt_i64, opt_s, s, Db, Item, Tx, MAX_TRANSACTION};
use super::Dynamo;
use crate::lifecycle::{Phase, Status};
use crate::plan::Kind;
use crate::store::{now, time_str, Deployment, Deployments, Fence, ResourceRow, Result, Steps, StoreError, Write};

pub const PK: &str = "DEPLOYMENT";
/// Each deployment's plan (JSON, kilobytes), apart from its row: the scheduler and the
/// metrics read every row of `DEPLOYMENT` often, and a query is billed on the size of the
/// items it reads, whatever it projects.
pub const PLANS: &str = "PLAN";
/// Index of MediaLive channel ids: `CHANNEL` / channel id → event and resource key.
pub const CHANNEL: &str = "CHANNEL";

/// Tries of a phase change whose read went stale (the phase changed between read and write).
const TRIES: usize = 5;

pub(super) fn resources_pk(event: &str) -> String {
    format!("RESOURCE#{event}")
}

/// The step log partition of one event's step. The event id's length makes it unambiguous
/// whatever either name holds.
pub(super) fn steps_pk(event: &str, step: &str) -> String {
    format!("STEP#{}#{event}#{step}", event.len())
}

/// An ever growing number for this process: micros since the epoch, then a counter, so items
/// written by one process sort in the order it wrote them (as SQL row ids do).
pub(super) fn seq() -> i64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = (NEXT.fetch_add(1, Ordering::Relaxed) % 1000) as i64;
    Utc::now().timestamp_micros().saturating_mul(1000).saturating_add(n)
}

// The SQLite backend's words for resource kinds (private there): the two must agree.
const KINDS: [(Kind, &str); 8] = [
    (Kind::Channel, "channel"),
    (Kind::Input, "input"),
    (Kind::SecurityGroup, "security-group"),
    (Kind::Distribution, "distribution"),
    (Kind::LogBucket, "log-bucket"),
    (Kind::Endpoint, "endpoint"),
    (Kind::PackageChannel, "package-channel"),
    (Kind::Secret, "secret"),
];

pub(crate) fn kind_str(k: Kind) -> &'static str {
    KINDS.iter().find(|(kind, _)| *kind == k).map(|(_, s)| *s).unwrap_or("unknown")
}

/// The kind a stored word names, if any.
pub(crate) fn kind_of(text: &str) -> Option<Kind> {
    KINDS.iter().find(|(_, s)| *s == text).map(|(k, _)| *k)
}

fn parse_kind(text: String) -> Result<Kind> {
    KINDS
        .iter()
        .find(|(_, s)| *s == text)
        .map(|(k, _)| *k)
        .ok_or(StoreError::Corrupt { what: "resources.kind", value: text })
}

fn stored_phase(text: String) -> Result<Phase> {
    Phase::parse(&text).ok_or(StoreError::Corrupt { what: "deployments.phase", value: text })
}

/// A deployment from its row and its plan's item (an empty plan if that item is missing).
fn deployment(item: &Item, plan: Option<&Item>) -> Result<Deployment> {
    Ok(Deployment {
        event: get_s(item, "sk", "deployments.event")?,
        nonce: get_s(item, "nonce", "deployments.nonce")?,
        phase: stored_phase(get_s(item, "phase", "deployments.phase")?)?,
        phase_since: get_time(item, "phase_since", "deployments.phase_since")?,
        plan_json: plan.map(|p| get_s(p, "plan_json", "deployments.plan_json")).transpose()?.unwrap_or_default(),
        updated_at: get_time(item, "updated_at", "deployments.updated_at")?,
        last_error: opt_s(item, "last_error", "deployments.last_error")?,
    })
}

fn phase_of(item: &Item) -> Result<(String, Phase, DateTime<Utc>)> {
    Ok((
        get_s(item, "sk", "deployments.event")?,
        stored_phase(get_s(item, "phase", "deployments.phase")?)?,
        get_time(item, "phase_since", "deployments.phase_since")?,
    ))
}

fn resource(item: &Item) -> Result<ResourceRow> {
    let attrs = get_s(item, "attrs", "resources.attrs")?;
    let status = get_s(item, "status", "resources.status")?;
    Ok(ResourceRow {
        event: get_s(item, "event", "resources.event")?,
        key: get_s(item, "sk", "resources.key")?,
        kind: parse_kind(get_s(item, "kind", "resources.kind")?)?,
        name: get_s(item, "name", "resources.name")?,
        status: Status::parse(&status).ok_or(StoreError::Corrupt { what: "resources.status", value: status })?,
        aws_id: opt_s(item, "aws_id", "resources.aws_id")?,
        arn: opt_s(item, "arn", "resources.arn")?,
        attrs: serde_json::from_str(&attrs)
            .map_err(|_| StoreError::Corrupt { what: "resources.attrs", value: attrs.clone() })?,
        updated_at: get_time(item, "updated_at", "resources.updated_at")?,
    })
}

/// `SET last_error = :error` or `REMOVE last_error` (an absent attribute is SQL's NULL).
fn error_clause(error: &Option<String>) -> (&'static str, &'static str) {
    match error {
        Some(_) => (", #error = :error", ""),
        None => ("", " REMOVE #error"),
    }
}

async fn resources_of(db: &Db, event: &str) -> Result<Vec<ResourceRow>> {
    let mut items = db.query(&resources_pk(event), |q| q).await?;
    items.sort_by_key(|i| opt_i64(i, "seq", "resources.seq").ok().flatten().unwrap_or(i64::MAX));
    items.iter().map(resource).collect()
}

impl Deployments for Dynamo {
    fn deployment(&self, event: &str) -> Result<Option<Deployment>> {
        let event = event.to_string();
        self.read(|db| async move {
            let Some(row) = db.get(PK, &event).await? else { return Ok(None) };
            let plan = db.get(PLANS, &event).await?;
            deployment(&row, plan.as_ref()).map(Some)
        })
    }

    fn phase(&self, event: &str) -> Result<Option<(Phase, DateTime<Utc>)>> {
        let event = event.to_string();
        self.read(|db| async move {
            let names = [("#phase", "phase"), ("#since", "phase_since")];
            let item = db.get_some(PK, &event, "sk, #phase, #since", &names).await?;
            item.as_ref().map(|i| phase_of(i).map(|(_, p, since)| (p, since))).transpose()
        })
    }

    fn phases_of(&self, events: &[&str]) -> Result<Vec<(String, Phase, DateTime<Utc>)>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: std::collections::HashSet<String> = events.iter().map(|e| e.to_string()).collect();
        self.read(|db| async move {
            let items = db
                .query(PK, |q| {
                    q.projection_expression("sk, #phase, #since")
                        .expression_attribute_names("#phase", "phase")
                        .expression_attribute_names("#since", "phase_since")
                })
                .await?;
            let mut out = Vec::new();
            for item in &items {
                if wanted.contains(&get_s(item, "sk", "deployments.event")?) {
                    out.push(phase_of(item)?);
                }
            }
            Ok(out)
        })
    }

    fn phases(&self) -> Result<Vec<(String, Phase, DateTime<Utc>)>> {
        self.read(|db| async move {
            let items = db
                .query(PK, |q| {
                    q.projection_expression("sk, #phase, #since")
                        .expression_attribute_names("#phase", "phase")
                        .expression_attribute_names("#since", "phase_since")
                })
                .await?;
            items.iter().map(phase_of).collect()
        })
    }

    fn deployments(&self) -> Result<Vec<Deployment>> {
        self.read(|db| async move {
            let mut plans: HashMap<String, Item> = HashMap::new();
            for p in db.query(PLANS, |q| q).await? {
                plans.insert(get_s(&p, "sk", "deployments.event")?, p);
            }
            db.query(PK, |q| q)
                .await?
                .iter()
                .map(|row| deployment(row, plans.get(&get_s(row, "sk", "deployments.event")?)))
                .collect()
        })
    }

    fn begin_deployment(&self, fence: &Fence, nonce: &str, plan_json: &str) -> Write<()> {
        let (fence, nonce, plan_json) = (fence.clone(), nonce.to_string(), plan_json.to_string());
        self.write(&fence.event.clone(), move |db| async move {
            let old = db.query(&resources_pk(&fence.event), |q| q.projection_expression("pk, sk")).await?;
            let mut actions = old.into_iter().map(|k| db.tx_delete(k)).collect::<Result<Vec<_>>>()?;
            // One transaction takes 100 actions, the lease check, the row and its plan among them.
            while actions.len() > MAX_TRANSACTION - 3 {
                let rest = actions.split_off(MAX_TRANSACTION - 3);
                db.fenced(&fence, std::mem::replace(&mut actions, rest)).await?;
            }
            let at = now();
            let mut item = key(PK, &fence.event);
            item.insert("nonce".into(), s(nonce));
            item.insert("phase".into(), s(Phase::Deploying.as_str()));
            item.insert("phase_since".into(), s(&at));
            item.insert("updated_at".into(), s(at));
            actions.push(db.tx_put(item, None)?);
            let mut plan = key(PLANS, &fence.event);
            plan.insert("plan_json".into(), s(plan_json));
            actions.push(db.tx_put(plan, None)?);
            db.fenced(&fence, actions).await.map(drop)
        })
    }

    fn update_plan(&self, fence: &Fence, plan_json: &str) -> Write<()> {
        let (fence, plan_json) = (fence.clone(), plan_json.to_string());
        self.write(&fence.event.clone(), move |db| async move {
            let row = db.tx_update(
                key(PK, &fence.event),
                "SET #updated = :now",
                Some("attribute_exists(pk)"),
                &[("#updated", "updated_at")],
                vec![(":now", s(now()))],
            )?;
            let mut plan = key(PLANS, &fence.event);
            plan.insert("plan_json".into(), s(plan_json));
            // No deployment: nothing to update, as an UPDATE of no row (the row's condition
            // fails and the plan's put goes with it).
            db.fenced(&fence, vec![row, db.tx_put(plan, None)?]).await.map(drop)
        })
    }

    fn set_phase(&self, fence: &Fence, phase: Phase, error: Option<&str>) -> Write<()> {
        let (fence, error) = (fence.clone(), error.map(str::to_string));
        self.write(&fence.event.clone(), move |db| async move {
            for _ in 0..TRIES {
                // phase_since moves only when the phase does: decided on the phase read,
                // written only if it is still that phase.
                let read = db.get_some(PK, &fence.event, "#phase", &[("#phase", "phase")]).await?;
                let old = read.map(|i| get_s(&i, "phase", "deployments.phase")).transpose()?;
                let at = now();
                let (set_error, remove) = error_clause(&error);
                let since = if old.as_deref() == Some(phase.as_str()) { "" } else { ", #since = :now" };
                let mut values =
                    vec![(":phase", s(phase.as_str())), (":now", s(&at)), (":old", s(old.clone().unwrap_or_default()))];
                if let Some(e) = &error {
                    values.push((":error", s(e)));
                }
                // DynamoDB refuses a name the expressions do not use.
                let mut names = vec![("#phase", "phase"), ("#updated", "updated_at"), ("#error", "last_error")];
                if !since.is_empty() {
                    names.push(("#since", "phase_since"));
                }
                let update = db.tx_update(
                    key(PK, &fence.event),
                    &format!("SET #phase = :phase, #updated = :now{since}{set_error}{remove}"),
                    Some("attribute_exists(pk) AND #phase = :old"),
                    &names,
                    values,
                )?;
                match db.fenced(&fence, vec![update]).await? {
                    Tx::Applied => return Ok(()),
                    // No deployment (an UPDATE of no row), or the phase moved: read again.
                    Tx::Refused(_) if old.is_none() => return Ok(()),
                    Tx::Refused(_) => continue,
                }
            }
            Err(StoreError::Dynamo {
                table: db.table.clone(),
                message: format!("phase of {}: changed under every one of {TRIES} writes", fence.event),
            })
        })
    }

    fn set_error(&self, fence: &Fence, error: Option<&str>) -> Write<()> {
        let (fence, error) = (fence.clone(), error.map(str::to_string));
        self.write(&fence.event.clone(), move |db| async move {
            let (set_error, remove) = error_clause(&error);
            let mut values = vec![(":now", s(now()))];
            if let Some(e) = &error {
                values.push((":error", s(e)));
            }
            let update = db.tx_update(
                key(PK, &fence.event),
                &format!("SET #updated = :now{set_error}{remove}"),
                Some("attribute_exists(pk)"),
                &[("#updated", "updated_at"), ("#error", "last_error")],
                values,
            )?;
            db.fenced(&fence, vec![update]).await.map(drop)
        })
    }

    fn resources(&self, event: &str) -> Result<Vec<ResourceRow>> {
        let event = event.to_string();
        self.read(|db| async move { resources_of(&db, &event).await })
    }

    fn resource(&self, event: &str, key: &str) -> Result<Option<ResourceRow>> {
        let (event, k) = (event.to_string(), key.to_string());
        self.read(|db| async move { db.get(&resources_pk(&event), &k).await?.as_ref().map(resource).transpose() })
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
        let fence = fence.clone();
        let (k, name, aws_id, arn) =
            (key.to_string(), name.to_string(), aws_id.map(str::to_string), arn.map(str::to_string));
        let attrs = attrs.map(|a| a.to_string());
        self.write(&fence.event.clone(), move |db| async move {
            let mut set = vec![
                "#event = :event",
                "#kind = :kind",
                "#name = :name",
                "#status = :status",
                "#updated = :now",
                "#seq = if_not_exists(#seq, :seq)",
            ];
            let mut values = vec![
                (":event", s(&fence.event)),
                (":kind", s(kind_str(kind))),
                (":name", s(name)),
                (":status", s(status.as_str())),
                (":now", s(now())),
                (":seq", n(seq())),
            ];
            if let Some(id) = &aws_id {
                set.push("#aws_id = :aws_id");
                values.push((":aws_id", s(id)));
            }
            if let Some(arn) = arn {
                set.push("#arn = :arn");
                values.push((":arn", s(arn)));
            }
            match attrs {
                Some(a) => {
                    set.push("#attrs = :attrs");
                    values.push((":attrs", s(a)));
                }
                None => {
                    set.push("#attrs = if_not_exists(#attrs, :attrs)");
                    values.push((":attrs", s("{}")));
                }
            }
            let names = [
                ("#event", "event"),
                ("#kind", "kind"),
                ("#name", "name"),
                ("#status", "status"),
                ("#updated", "updated_at"),
                ("#seq", "seq"),
                ("#attrs", "attrs"),
            ];
            let mut names = names.to_vec();
            if set.iter().any(|c| c.starts_with("#aws_id")) {
                names.push(("#aws_id", "aws_id"));
            }
            if set.iter().any(|c| c.starts_with("#arn")) {
                names.push(("#arn", "arn"));
            }
            let channel = aws_id.as_ref().filter(|_| kind == Kind::Channel).cloned();
            let mut actions = vec![db.tx_update(
                super::items::key(resources_pk(&fence.event), &k),
                &format!("SET {}", set.join(", ")),
                None,
                &names,
                values,
            )?];
            if let Some(id) = channel {
                // What an alert's channel belongs to, without a scan (see `event_of_channel`).
                let mut index = super::items::key(CHANNEL, id);
                index.insert("event".into(), s(&fence.event));
                index.insert("key".into(), s(&k));
                actions.push(db.tx_put(index, None)?);
            }
            db.fenced(&fence, actions).await.map(drop)
        })
    }
}

impl Steps for Dynamo {
    fn log_step(&self, fence: &Fence, step: &str, outcome: &str, detail: Option<&str>, ms: u128) -> Write<()> {
        let fence = fence.clone();
        let (step, outcome, detail) = (step.to_string(), outcome.to_string(), detail.map(str::to_string));
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self.write(&fence.event.clone(), move |db| async move {
            let mut item = key(steps_pk(&fence.event, &step), format!("{:020}", seq()));
            item.insert("event".into(), s(&fence.event));
            item.insert("step".into(), s(step));
            item.insert("outcome".into(), s(outcome));
            super::items::put_opt(&mut item, "detail", detail);
            item.insert("duration_ms".into(), n(ms));
            item.insert("at".into(), s(now()));
            let put = db.tx_put(item, None)?;
            db.fenced(&fence, vec![put]).await.map(drop)
        })
    }

    fn step_durations(&self, event: &str, step: &str, limit: usize) -> Result<Vec<u64>> {
        let pk = steps_pk(event, step);
        self.read(|db| async move {
            let items = db.query(&pk, |q| q.scan_index_forward(false)).await?;
            let mut out = Vec::new();
            for item in items.iter().filter(|i| get_s(i, "outcome", "step_log.outcome").is_ok_and(|o| o == "ok")) {
                if out.len() >= limit {
                    break;
                }
                out.push(get_i64(item, "duration_ms", "step_log.duration_ms")?.max(0) as u64);
            }
            Ok(out)
        })
    }

    fn prune_step_log(&self, before: DateTime<Utc>, keep: usize) -> Write<usize> {
        let before = time_str(before);
        self.write("STEP", move |db| async move {
            let items = db
                .scan_prefix("STEP#", |q| {
                    q.projection_expression("#pk, sk, #outcome, #at")
                        .expression_attribute_names("#outcome", "outcome")
                        .expression_attribute_names("#at", "at")
                })
                .await?;
            let mut by_step: HashMap<String, Vec<Item>> = HashMap::new();
            for item in items {
                by_step.entry(get_s(&item, "pk", "step_log.pk")?).or_default().push(item);
            }
            let mut gone = Vec::new();
            for (_, mut rows) in by_step {
                // Newest first; the latest `keep` successes stay whatever their age.
                rows.sort_by(|a, b| {
                    get_s(b, "sk", "step_log.sk")
                        .unwrap_or_default()
                        .cmp(&get_s(a, "sk", "step_log.sk").unwrap_or_default())
                });
                let mut kept = 0;
                for row in rows {
                    if get_s(&row, "outcome", "step_log.outcome")? == "ok" && kept < keep {
                        kept += 1;
                        continue;
                    }
                    if get_s(&row, "at", "step_log.at")? < before {
                        gone.push(key(get_s(&row, "pk", "step_log.pk")?, get_s(&row, "sk", "step_log.sk")?));
                    }
                }
            }
            db.delete_keys(gone).await
        })
    }

    /// Nothing to fold on DynamoDB.
    fn checkpoint(&self) -> Write<()> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        Write::pending(rx)
    }
}
