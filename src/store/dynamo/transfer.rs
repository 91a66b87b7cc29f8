//! [`Transfer`] on DynamoDB: an export reads every partition (the per-event ones with a scan
//! by prefix), an import writes items as the other concepts of this backend write them,
//! with their indexes: a channel's `CHANNEL` item, an alert's `ALERTKEY` item naming the
//! latest alert of its key, counters (live commands' per-deployment ones too) raised with a
//! conditional update. Batched, not one
//! transaction: an import cut short is finished by running it again (it is idempotent).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::Utc;

use super::items::{
    expired, expires_at, get_bool, get_i64, get_s, get_time, key, n, opt_i64, opt_s, opt_time, put_opt, s, Db, Item,
};
use super::{alerts, audit, deployments, live, overrides, requests, seen, Dynamo};
use crate::lifecycle::{OverrideKind, Phase, Status};
use crate::plan::Kind;
use crate::store::live::counter_of;
use crate::store::requests::{Kind as RequestKind, State as RequestState};
use crate::store::transfer::{
    counters_covering, envelope_window, seen_window, AlertRecord, AuditRecord, Changes, Counters, DeploymentRecord,
    LiveCounterRecord, OverrideRecord, Quarantined, RequestRecord, ResourceRecord, Sighting, Snapshot, StepRecord,
    Transfer, WindowsRecord,
};
use crate::store::{time_str, LiveRecord, Meta, Result, StoreError, Write};

const COUNTER: &str = "COUNTER";

fn word<T>(item: &Item, name: &str, what: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    let text = get_s(item, name, what)?;
    parse(&text).ok_or(StoreError::Corrupt { what, value: text })
}

fn json<T: serde::de::DeserializeOwned>(item: &Item, name: &str, what: &'static str) -> Result<T> {
    let text = get_s(item, name, what)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt { what, value: text })
}

async fn read_all(db: &Db) -> Result<Snapshot> {
    let now = Utc::now();
    let mut out = Snapshot::empty(now);
    // Plans live apart from the rows (see `deployments::PLANS`).
    let mut plans = std::collections::HashMap::new();
    for p in db.query(deployments::PLANS, |q| q).await? {
        plans.insert(get_s(&p, "sk", "deployments.event")?, get_s(&p, "plan_json", "deployments.plan_json")?);
    }
    for item in db.query(deployments::PK, |q| q).await? {
        let event = get_s(&item, "sk", "deployments.event")?;
        out.deployments.push(DeploymentRecord {
            plan_json: plans.remove(&event).unwrap_or_default(),
            event,
            nonce: get_s(&item, "nonce", "deployments.nonce")?,
            phase: word(&item, "phase", "deployments.phase", Phase::parse)?,
            phase_since: get_time(&item, "phase_since", "deployments.phase_since")?,
            last_error: opt_s(&item, "last_error", "deployments.last_error")?,
            updated_at: get_time(&item, "updated_at", "deployments.updated_at")?,
        });
    }
    let mut items = db.scan_prefix("RESOURCE#", |q| q).await?;
    // By event, then in the order first written (`seq`), as `resources` answers.
    items.sort_by_key(|i| {
        (
            get_s(i, "event", "resources.event").unwrap_or_default(),
            opt_i64(i, "seq", "resources.seq").ok().flatten().unwrap_or(i64::MAX),
        )
    });
    for item in &items {
        out.resources.push(ResourceRecord {
            event: get_s(item, "event", "resources.event")?,
            key: get_s(item, "sk", "resources.key")?,
            kind: word(item, "kind", "resources.kind", deployments::kind_of)?,
            name: get_s(item, "name", "resources.name")?,
            status: word(item, "status", "resources.status", Status::parse)?,
            aws_id: opt_s(item, "aws_id", "resources.aws_id")?,
            arn: opt_s(item, "arn", "resources.arn")?,
            attrs: json(item, "attrs", "resources.attrs")?,
            updated_at: get_time(item, "updated_at", "resources.updated_at")?,
        });
    }
    let mut items = db.scan_prefix("STEP#", |q| q).await?;
    // The order written (sort keys are write sequence numbers); `normalize` orders by time.
    items.sort_by_key(|i| get_s(i, "sk", "step_log.sk").unwrap_or_default());
    for item in &items {
        out.steps.push(StepRecord {
            event: get_s(item, "event", "step_log.event")?,
            step: get_s(item, "step", "step_log.step")?,
            outcome: get_s(item, "outcome", "step_log.outcome")?,
            detail: opt_s(item, "detail", "step_log.detail")?,
            duration_ms: get_i64(item, "duration_ms", "step_log.duration_ms")?,
            at: get_time(item, "at", "step_log.at")?,
        });
    }
    for item in db.query(overrides::PK, |q| q).await? {
        out.overrides.push(OverrideRecord {
            event: get_s(&item, "sk", "overrides.event")?,
            kind: word(&item, "kind", "overrides.kind", OverrideKind::parse)?,
            set_at: get_time(&item, "set_at", "overrides.set_at")?,
            until: opt_time(&item, "until", "overrides.until")?,
            by: get_s(&item, "by", "overrides.by")?,
        });
    }
    for item in db.query(overrides::WINDOWS, |q| q).await? {
        out.known_windows.push(WindowsRecord {
            event: get_s(&item, "sk", "known_windows.event")?,
            windows: json(&item, "windows", "known_windows.windows")?,
            recorded_at: get_time(&item, "recorded_at", "known_windows.recorded_at")?,
        });
    }
    for item in db.query("META", |q| q).await? {
        out.meta.insert(get_s(&item, "sk", "meta.key")?, get_s(&item, "value", "meta.value")?);
    }
    for item in db.scan_prefix("AUDIT#", |q| q).await? {
        out.audit.push(AuditRecord {
            id: get_i64(&item, "id", "audit.id")?,
            key: get_s(&item, "key", "audit.key")?,
            at: get_time(&item, "at", "audit.at")?,
            actor: get_s(&item, "actor", "audit.actor")?,
            event: opt_s(&item, "event", "audit.event")?,
            operation: get_s(&item, "operation", "audit.operation")?,
            args: json(&item, "args", "audit.args")?,
            decision: get_s(&item, "decision", "audit.decision")?,
            changes: get_bool(&item, "changes", "audit.changes")?,
            result: opt_s(&item, "result", "audit.result")?,
            duration_ms: opt_i64(&item, "duration_ms", "audit.duration_ms")?,
            error: opt_s(&item, "error", "audit.error")?,
            instance: opt_s(&item, "instance", "audit.instance")?.unwrap_or_default(),
        });
    }
    for item in db.query(alerts::PK, |q| q).await? {
        out.alerts.push(AlertRecord {
            id: get_i64(&item, "id", "alerts.id")?,
            event: get_s(&item, "event", "alerts.event")?,
            channel_id: get_s(&item, "channel_id", "alerts.channel_id")?,
            pipeline: get_i64(&item, "pipeline", "alerts.pipeline")?,
            alarm_id: get_s(&item, "alarm_id", "alerts.alarm_id")?,
            alert_type: get_s(&item, "alert_type", "alerts.alert_type")?,
            message: get_s(&item, "message", "alerts.message")?,
            set_at: get_time(&item, "set_at", "alerts.set_at")?,
            cleared_at: opt_time(&item, "cleared_at", "alerts.cleared_at")?,
            last_time: get_time(&item, "last_time", "alerts.last_time")?,
            notified_at: opt_time(&item, "notified_at", "alerts.notified_at")?,
            cleared_notified: get_bool(&item, "cleared_notified", "alerts.cleared_notified")?,
            acked_by: opt_s(&item, "acked_by", "alerts.acked_by")?,
            acked_at: opt_time(&item, "acked_at", "alerts.acked_at")?,
            action: opt_s(&item, "action", "alerts.action")?,
            acted_at: opt_time(&item, "acted_at", "alerts.acted_at")?,
        });
    }
    for item in db.query(requests::PK, |q| q).await? {
        out.requests.push(RequestRecord {
            id: get_i64(&item, "id", "chat_requests.id")?,
            kind: word(&item, "kind", "chat_requests.kind", RequestKind::parse)?,
            requester: get_s(&item, "requester", "chat_requests.requester")?,
            requester_groups: json(&item, "requester_groups", "chat_requests.requester_groups")?,
            channel: get_s(&item, "channel", "chat_requests.channel")?,
            command: get_s(&item, "command", "chat_requests.command")?,
            created_at: get_time(&item, "created_at", "chat_requests.created_at")?,
            expires_at: get_time(&item, "expires_at_time", "chat_requests.expires_at")?,
            state: word(&item, "state", "chat_requests.state", RequestState::parse)?,
            decided_by: opt_s(&item, "decided_by", "chat_requests.decided_by")?,
            decided_at: opt_time(&item, "decided_at", "chat_requests.decided_at")?,
        });
    }
    // Dedupe keys inside their window only (as the SQLite side exports them): an expired
    // one counts as gone here whether or not TTL has deleted it.
    for (pk, since, into) in [
        (seen::PK, now - seen_window(), &mut out.seen),
        (alerts::ENVELOPE, now - envelope_window(), &mut out.envelopes),
    ] {
        for item in db.query(pk, |q| q).await? {
            let at = get_time(&item, "at", "seen.at")?;
            if !expired(&item) && at >= since {
                into.push(Sighting { key: get_s(&item, "sk", "seen.key")?, at });
            }
        }
    }
    for item in db.query(alerts::QUARANTINE, |q| q).await? {
        out.quarantine.push(Quarantined {
            source: get_s(&item, "sk", "quarantine.source")?,
            at: get_time(&item, "at", "quarantine.at")?,
            body: get_s(&item, "body", "quarantine.body")?,
            error: get_s(&item, "error", "quarantine.error")?,
        });
    }
    for item in db.scan_prefix(live::PREFIX, |q| q).await? {
        out.live.push(live::record(&item)?.into());
    }
    let mut stored = Vec::new();
    for item in db.query(live::COUNTERS, |q| q).await? {
        stored.push(LiveCounterRecord {
            event: get_s(&item, "event", "live_counters.event")?,
            nonce: get_s(&item, "nonce", "live_counters.nonce")?,
            last: counter_of(get_i64(&item, "n", "live_counters.last")?, "live_counters.last")?,
        });
    }
    out.live_counters = counters_covering(stored, &out.live);
    let mut counters = HashMap::new();
    for item in db.query(COUNTER, |q| q).await? {
        counters.insert(get_s(&item, "sk", "counter.name")?, opt_i64(&item, "n", "counter.n")?.unwrap_or(0));
    }
    let last = |name: &str| counters.get(name).copied().unwrap_or(0);
    out.counters = Counters {
        alert: last("alert").max(out.alerts.iter().map(|a| a.id).max().unwrap_or(0)),
        request: last("request").max(out.requests.iter().map(|r| r.id).max().unwrap_or(0)),
        audit: last("audit").max(out.audit.iter().map(|a| a.id).max().unwrap_or(0)),
    };
    out.normalize();
    Ok(out)
}

fn put(db: &Db, item: Item) -> Result<WriteRequest> {
    let p = PutRequest::builder().set_item(Some(item)).build().map_err(|e| db.build_err("PutRequest", e))?;
    Ok(WriteRequest::builder().put_request(p).build())
}

/// Resource items, with the `seq` that keeps their order: a row already stored keeps its own,
/// a new one takes the next, in the snapshot's order.
async fn resource_items(db: &Db, rows: &[ResourceRecord], puts: &mut Vec<WriteRequest>) -> Result<()> {
    let events: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.event.as_str()).collect();
    let mut seqs: HashMap<(String, String), i64> = HashMap::new();
    for event in events {
        let pk = deployments::resources_pk(event);
        let items =
            db.query(&pk, |q| q.projection_expression("sk, #seq").expression_attribute_names("#seq", "seq")).await?;
        for item in items {
            if let Some(seq) = opt_i64(&item, "seq", "resources.seq")? {
                seqs.insert((event.to_string(), get_s(&item, "sk", "resources.key")?), seq);
            }
        }
    }
    // One index item per channel id: the last resource given wins (BatchWriteItem refuses two
    // writes of one key).
    let mut channels: BTreeMap<String, Item> = BTreeMap::new();
    for r in rows {
        let mut item = key(deployments::resources_pk(&r.event), &r.key);
        item.insert("event".into(), s(&r.event));
        item.insert("kind".into(), s(deployments::kind_str(r.kind)));
        item.insert("name".into(), s(&r.name));
        item.insert("status".into(), s(r.status.as_str()));
        put_opt(&mut item, "aws_id", r.aws_id.clone());
        put_opt(&mut item, "arn", r.arn.clone());
        item.insert("attrs".into(), s(r.attrs.to_string()));
        item.insert("updated_at".into(), s(time_str(r.updated_at)));
        let seq = seqs.get(&(r.event.clone(), r.key.clone())).copied().unwrap_or_else(deployments::seq);
        item.insert("seq".into(), n(seq));
        puts.push(put(db, item)?);
        if let (Kind::Channel, Some(id)) = (r.kind, &r.aws_id) {
            let mut index = key(deployments::CHANNEL, id);
            index.insert("event".into(), s(&r.event));
            index.insert("key".into(), s(&r.key));
            channels.insert(id.clone(), index);
        }
    }
    for index in channels.into_values() {
        puts.push(put(db, index)?);
    }
    Ok(())
}

/// Step items: sort keys from each row's instant, one past any taken in its partition, so
/// rows of one instant keep the snapshot's order.
async fn step_items(db: &Db, rows: &[StepRecord], puts: &mut Vec<WriteRequest>) -> Result<()> {
    let mut taken: HashMap<String, HashSet<String>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let pk = deployments::steps_pk(&r.event, &r.step);
        if !taken.contains_key(&pk) {
            let items = db.query(&pk, |q| q.projection_expression("sk")).await?;
            let sks = items.iter().map(|i| get_s(i, "sk", "step_log.sk")).collect::<Result<HashSet<_>>>()?;
            taken.insert(pk.clone(), sks);
        }
        let used = taken.entry(pk.clone()).or_default();
        let mut seq = r.at.timestamp_micros().saturating_mul(1000).saturating_add((i % 1000) as i64);
        while used.contains(&format!("{seq:020}")) {
            seq += 1;
        }
        let sk = format!("{seq:020}");
        used.insert(sk.clone());
        let mut item = key(pk, sk);
        item.insert("event".into(), s(&r.event));
        item.insert("step".into(), s(&r.step));
        item.insert("outcome".into(), s(&r.outcome));
        put_opt(&mut item, "detail", r.detail.clone());
        item.insert("duration_ms".into(), n(r.duration_ms));
        item.insert("at".into(), s(time_str(r.at)));
        puts.push(put(db, item)?);
    }
    Ok(())
}

fn audit_item(a: &AuditRecord) -> Item {
    let mut item = audit::item_key_of(&a.key, a.at);
    item.insert("id".into(), n(a.id));
    item.insert("at".into(), s(time_str(a.at)));
    item.insert("actor".into(), s(&a.actor));
    put_opt(&mut item, "event", a.event.clone());
    item.insert("operation".into(), s(&a.operation));
    item.insert("args".into(), s(a.args.to_string()));
    item.insert("decision".into(), s(&a.decision));
    item.insert("changes".into(), AttributeValue::Bool(a.changes));
    item.insert("key".into(), s(&a.key));
    item.insert("instance".into(), s(&a.instance));
    put_opt(&mut item, "result", a.result.clone());
    if let Some(ms) = a.duration_ms {
        item.insert("duration_ms".into(), n(ms));
    }
    put_opt(&mut item, "error", a.error.clone());
    item
}

fn alert_item(a: &AlertRecord) -> Item {
    let mut item = key(alerts::PK, format!("{:020}", a.id));
    item.insert("id".into(), n(a.id));
    item.insert("event".into(), s(&a.event));
    item.insert("channel_id".into(), s(&a.channel_id));
    item.insert("pipeline".into(), n(a.pipeline));
    item.insert("alarm_id".into(), s(&a.alarm_id));
    item.insert("alert_type".into(), s(&a.alert_type));
    item.insert("message".into(), s(&a.message));
    item.insert("set_at".into(), s(time_str(a.set_at)));
    put_opt(&mut item, "cleared_at", a.cleared_at.map(time_str));
    item.insert("last_time".into(), s(time_str(a.last_time)));
    put_opt(&mut item, "notified_at", a.notified_at.map(time_str));
    item.insert("cleared_notified".into(), AttributeValue::Bool(a.cleared_notified));
    put_opt(&mut item, "acked_by", a.acked_by.clone());
    put_opt(&mut item, "acked_at", a.acked_at.map(time_str));
    put_opt(&mut item, "action", a.action.clone());
    put_opt(&mut item, "acted_at", a.acted_at.map(time_str));
    item
}

fn request_item(r: &RequestRecord) -> Item {
    let mut item = key(requests::PK, format!("{:020}", r.id));
    item.insert("id".into(), n(r.id));
    item.insert("kind".into(), s(r.kind.as_str()));
    item.insert("requester".into(), s(&r.requester));
    item.insert("channel".into(), s(&r.channel));
    item.insert("command".into(), s(&r.command));
    item.insert("created_at".into(), s(time_str(r.created_at)));
    // `expires_at` is the table's TTL attribute: a request's expiry has a name of its own.
    item.insert("expires_at_time".into(), s(time_str(r.expires_at)));
    item.insert("state".into(), s(r.state.as_str()));
    item.insert("requester_groups".into(), s(serde_json::to_string(&r.requester_groups).unwrap_or_default()));
    put_opt(&mut item, "decided_by", r.decided_by.clone());
    put_opt(&mut item, "decided_at", r.decided_at.map(time_str));
    item
}

async fn write_all(db: &Db, changes: Changes) -> Result<()> {
    let r = &changes.records;
    for event in &changes.replace_resources_of {
        let old = db.query(&deployments::resources_pk(event), |q| q.projection_expression("pk, sk")).await?;
        db.delete_keys(old).await?;
    }
    let mut puts = Vec::new();
    for d in &r.deployments {
        let mut item = key(deployments::PK, &d.event);
        item.insert("nonce".into(), s(&d.nonce));
        item.insert("phase".into(), s(d.phase.as_str()));
        item.insert("phase_since".into(), s(time_str(d.phase_since)));
        put_opt(&mut item, "last_error", d.last_error.clone());
        item.insert("updated_at".into(), s(time_str(d.updated_at)));
        puts.push(put(db, item)?);
        let mut plan = key(deployments::PLANS, &d.event);
        plan.insert("plan_json".into(), s(&d.plan_json));
        puts.push(put(db, plan)?);
    }
    resource_items(db, &r.resources, &mut puts).await?;
    step_items(db, &r.steps, &mut puts).await?;
    for o in &r.overrides {
        let mut item = key(overrides::PK, &o.event);
        item.insert("kind".into(), s(o.kind.as_str()));
        item.insert("set_at".into(), s(time_str(o.set_at)));
        put_opt(&mut item, "until", o.until.map(time_str));
        item.insert("by".into(), s(&o.by));
        puts.push(put(db, item)?);
    }
    for w in &r.known_windows {
        let mut item = key(overrides::WINDOWS, &w.event);
        item.insert("windows".into(), s(serde_json::to_string(&w.windows).unwrap_or_else(|_| "[]".into())));
        item.insert("recorded_at".into(), s(time_str(w.recorded_at)));
        puts.push(put(db, item)?);
    }
    for (k, v) in &r.meta {
        let mut item = key("META", k);
        item.insert("value".into(), s(v));
        puts.push(put(db, item)?);
    }
    for a in &r.audit {
        puts.push(put(db, audit_item(a))?);
    }
    for a in &r.alerts {
        puts.push(put(db, alert_item(a))?);
        // The sweep's index of alerts not settled (see `alerts::UNDECIDED`).
        let unsettled = a.notified_at.is_none()
            || (a.cleared_at.is_none() && a.acted_at.is_none())
            || (a.cleared_at.is_some() && a.acted_at.is_some() && !a.cleared_notified);
        if unsettled {
            let mut entry = key(alerts::UNDECIDED, format!("{:020}", a.id));
            entry.insert("event".into(), s(&a.event));
            puts.push(put(db, entry)?);
        }
    }
    for q in &r.requests {
        puts.push(put(db, request_item(q))?);
    }
    for (pk, ttl, rows) in [(seen::PK, seen_window(), &r.seen), (alerts::ENVELOPE, envelope_window(), &r.envelopes)] {
        for x in rows {
            let mut item = key(pk, &x.key);
            item.insert("at".into(), s(time_str(x.at)));
            item.insert("expires_at".into(), expires_at(x.at + ttl));
            puts.push(put(db, item)?);
        }
    }
    for q in &r.quarantine {
        let mut item = key(alerts::QUARANTINE, &q.source);
        item.insert("at".into(), s(time_str(q.at)));
        item.insert("body".into(), s(&q.body));
        item.insert("error".into(), s(&q.error));
        puts.push(put(db, item)?);
    }
    for l in &r.live {
        puts.push(put(db, live::item_of(&LiveRecord::from(l.clone())))?);
    }
    db.put_batch(puts).await?;

    // Each alert key's index names its latest alert (the highest id), as a SET would leave it.
    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    for a in &r.alerts {
        let idx = format!("{}#{}#{}", a.channel_id, a.pipeline, a.alarm_id);
        let id = latest.entry(idx).or_insert(a.id);
        *id = (*id).max(a.id);
    }
    for (idx, id) in latest {
        db.update(
            "UpdateItem (alert index)",
            key(alerts::INDEX, idx),
            "SET #id = :id",
            Some("attribute_not_exists(pk) OR #id < :id"),
            &[("#id", "id")],
            vec![(":id", n(id))],
        )
        .await?;
    }
    for k in &r.live_counters {
        db.update(
            "UpdateItem (live counter)",
            key(live::COUNTERS, live::counter_sk(&k.event, &k.nonce)),
            "SET #n = :n, #event = :event, #nonce = :nonce",
            Some("attribute_not_exists(#n) OR #n < :n"),
            &[("#n", "n"), ("#event", "event"), ("#nonce", "nonce")],
            vec![(":n", n(k.last)), (":event", s(&k.event)), (":nonce", s(&k.nonce))],
        )
        .await?;
    }
    if let Some(c) = changes.counters {
        for (name, want) in [("alert", c.alert), ("request", c.request), ("audit", c.audit)] {
            db.update(
                "UpdateItem (counter)",
                key(COUNTER, name),
                "SET #n = :n",
                Some("attribute_not_exists(#n) OR #n < :n"),
                &[("#n", "n")],
                vec![(":n", n(want))],
            )
            .await?;
        }
    }
    Ok(())
}

impl Transfer for Dynamo {
    fn export(&self) -> Result<Snapshot> {
        self.flush().wait()?;
        self.read(|db| async move { read_all(&db).await })
    }

    fn apply(&self, changes: Changes) -> Write<()> {
        self.write("TRANSFER", move |db| async move { write_all(&db, changes).await })
    }
}
