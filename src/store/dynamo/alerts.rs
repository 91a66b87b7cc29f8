//! Alerts on DynamoDB: one item per alert (`ALERT` / id, ids from the `alert` counter), an
//! index item per (channel, pipeline, alarm id) naming its latest alert (`ALERTKEY`), the
//! envelope ids taken (`ENVELOPE`, kept 7 days: EventBridge redelivers within a day), and the
//! quarantine (`QUARANTINE` / source).
//!
//! Recording an alert event is one transaction: the envelope id (put only if new), the alert
//! written, and the index checked (or moved) against what the decision read. A concurrent
//! recorder that moved the index first makes this one read and decide again; a known
//! envelope makes it a duplicate that changed nothing.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::items::{expires_at, get_bool, get_i64, get_s, get_time, key, n, opt_s, opt_time, s, Db, Item, Tx};
use super::Dynamo;
use crate::lifecycle::{AlarmState, Alert};
use crate::store::alerts::{AlertRow, Recorded};
use crate::store::{now, time_str, Alerts, Meta, Result, StoreError, Write};

pub(super) const PK: &str = "ALERT";
pub(super) const INDEX: &str = "ALERTKEY";
pub(super) const ENVELOPE: &str = "ENVELOPE";
pub(super) const QUARANTINE: &str = "QUARANTINE";

/// How long an envelope id is remembered.
pub(crate) const ENVELOPE_DAYS: i64 = 7;
/// Reads and decisions of one alert event before giving up (each lost race means another
/// recorder changed the same alert meanwhile).
const RACES: usize = 5;

fn sk(id: i64) -> String {
    format!("{id:020}")
}

fn row(item: &Item) -> Result<AlertRow> {
    Ok(AlertRow {
        id: get_i64(item, "id", "alerts.id")?,
        event: get_s(item, "event", "alerts.event")?,
        channel_id: get_s(item, "channel_id", "alerts.channel_id")?,
        pipeline: u8::try_from(get_i64(item, "pipeline", "alerts.pipeline")?).unwrap_or(0),
        alarm_id: get_s(item, "alarm_id", "alerts.alarm_id")?,
        alert_type: get_s(item, "alert_type", "alerts.alert_type")?,
        message: get_s(item, "message", "alerts.message")?,
        set_at: get_time(item, "set_at", "alerts.set_at")?,
        cleared_at: opt_time(item, "cleared_at", "alerts.cleared_at")?,
        notified_at: opt_time(item, "notified_at", "alerts.notified_at")?,
        cleared_notified: get_bool(item, "cleared_notified", "alerts.cleared_notified")?,
        acked_by: opt_s(item, "acked_by", "alerts.acked_by")?,
        acked_at: opt_time(item, "acked_at", "alerts.acked_at")?,
        action: opt_s(item, "action", "alerts.action")?,
        acted_at: opt_time(item, "acted_at", "alerts.acted_at")?,
    })
}

/// The envelope id, put only if new (or expired): a transaction's first action.
fn envelope_put(db: &Db, id: &str) -> Result<TransactWriteItem> {
    let at = Utc::now();
    let mut item = key(ENVELOPE, id);
    item.insert("at".into(), s(time_str(at)));
    item.insert("expires_at".into(), expires_at(at + chrono::Duration::days(ENVELOPE_DAYS)));
    let p = aws_sdk_dynamodb::types::Put::builder()
        .table_name(&db.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
        .expression_attribute_values(":now", n(at.timestamp()))
        .build()
        .map_err(|e| db.build_err("Put", e))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// The index still names `latest` (or nothing).
fn index_check(db: &Db, index: &str, latest: Option<i64>) -> Result<TransactWriteItem> {
    let c = ConditionCheck::builder().table_name(&db.table).set_key(Some(key(INDEX, index)));
    let c = match latest {
        None => c.condition_expression("attribute_not_exists(pk)"),
        Some(id) => c
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", n(id)),
    };
    Ok(TransactWriteItem::builder().condition_check(c.build().map_err(|e| db.build_err("ConditionCheck", e))?).build())
}

/// The index moved from `latest` to `id`.
fn index_move(db: &Db, index: &str, latest: Option<i64>, id: i64) -> Result<TransactWriteItem> {
    let mut item = key(INDEX, index);
    item.insert("id".into(), n(id));
    let p = aws_sdk_dynamodb::types::Put::builder().table_name(&db.table).set_item(Some(item));
    let p = match latest {
        None => p.condition_expression("attribute_not_exists(pk)"),
        Some(old) => p
            .condition_expression("#id = :old")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":old", n(old)),
    };
    Ok(TransactWriteItem::builder().put(p.build().map_err(|e| db.build_err("Put", e))?).build())
}

async fn record(
    db: &Db,
    envelope: &str,
    time: DateTime<Utc>,
    event: &str,
    channel: &str,
    a: &Alert,
) -> Result<Recorded> {
    let index = format!("{channel}#{}#{}", a.pipeline, a.alarm_id);
    let at = time_str(time);
    for _ in 0..RACES {
        let latest_id = match db.get(INDEX, &index).await? {
            Some(i) => Some(get_i64(&i, "id", "alerts.index")?),
            None => None,
        };
        // The alert the index names may have been pruned: then there is no latest.
        let latest = match latest_id {
            Some(id) => db.get(PK, &sk(id)).await?.map(|i| {
                Ok::<_, StoreError>((
                    id,
                    get_s(&i, "last_time", "alerts.last_time")?,
                    opt_s(&i, "cleared_at", "alerts.cleared_at")?,
                ))
            }),
            None => None,
        }
        .transpose()?;
        let mut actions = vec![envelope_put(db, envelope)?];
        let insert = |id: i64, cleared: Option<&str>| -> Result<TransactWriteItem> {
            let mut item = key(PK, sk(id));
            item.insert("id".into(), n(id));
            item.insert("event".into(), s(event));
            item.insert("channel_id".into(), s(channel));
            item.insert("pipeline".into(), n(a.pipeline));
            item.insert("alarm_id".into(), s(&a.alarm_id));
            item.insert("alert_type".into(), s(&a.alert_type));
            item.insert("message".into(), s(&a.message));
            item.insert("set_at".into(), s(&at));
            item.insert("last_time".into(), s(&at));
            item.insert("cleared_notified".into(), AttributeValue::Bool(false));
            super::items::put_opt(&mut item, "cleared_at", cleared);
            db.tx_put(item, None)
        };
        let outcome = match (&latest, a.state) {
            // Stored times are fixed-width RFC 3339 UTC: they compare as text.
            (Some((_, last, _)), _) if at < *last => {
                actions.push(index_check(db, &index, latest_id)?);
                Recorded::Stale
            }
            (Some((id, _, None)), AlarmState::Set) => {
                actions.push(db.tx_update(
                    key(PK, sk(*id)),
                    "SET #last = :at, #message = :message",
                    None,
                    &[("#last", "last_time"), ("#message", "message")],
                    vec![(":at", s(&at)), (":message", s(&a.message))],
                )?);
                actions.push(index_check(db, &index, latest_id)?);
                Recorded::StillOpen { id: *id }
            }
            (_, AlarmState::Set) => {
                let id = db.next_id("alert").await?;
                actions.push(insert(id, None)?);
                actions.push(index_move(db, &index, latest_id, id)?);
                Recorded::Opened { id }
            }
            (Some((id, _, None)), AlarmState::Cleared) => {
                actions.push(db.tx_update(
                    key(PK, sk(*id)),
                    "SET #cleared = :at, #last = :at",
                    None,
                    &[("#cleared", "cleared_at"), ("#last", "last_time")],
                    vec![(":at", s(&at))],
                )?);
                actions.push(index_check(db, &index, latest_id)?);
                Recorded::Cleared { id: *id }
            }
            (Some((id, _, Some(_))), AlarmState::Cleared) => {
                actions.push(index_check(db, &index, latest_id)?);
                Recorded::AlreadyCleared { id: *id }
            }
            (None, AlarmState::Cleared) => {
                let id = db.next_id("alert").await?;
                actions.push(insert(id, Some(&at))?);
                actions.push(index_move(db, &index, latest_id, id)?);
                Recorded::ClearedUnseen { id }
            }
        };
        match db.transact(actions).await? {
            Tx::Applied => return Ok(outcome),
            Tx::Refused(0) => return Ok(Recorded::Duplicate),
            Tx::Refused(_) => continue,
        }
    }
    Err(StoreError::Dynamo {
        table: db.table.clone(),
        message: format!("alert {index}: changed under every one of {RACES} writes"),
    })
}

/// Set `set` on alert `id` if it exists; `false` if there is no such alert.
async fn update_alert(
    db: &Db,
    id: i64,
    set: &str,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Result<bool> {
    db.update("UpdateItem (alert)", key(PK, sk(id)), set, Some("attribute_exists(pk)"), names, values).await
}

/// A claim on an alert (told, told cleared, acted): set only where `unclaimed` holds, so of
/// every daemon sharing the table exactly one gets `true`.
async fn claim_alert(
    db: &Db,
    id: i64,
    set: &str,
    unclaimed: &str,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Result<bool> {
    let condition = format!("attribute_exists(pk) AND ({unclaimed})");
    let claimed = db.update("UpdateItem (claim alert)", key(PK, sk(id)), set, Some(&condition), names, values).await?;
    if claimed {
        reindex(db, id).await?;
    }
    Ok(claimed)
}

/// Alerts recovery has not settled, one small item each (`UNDECIDED` / id → event): the sweep
/// at every resync reads these instead of every alert ever kept (a query is billed on the
/// items it reads, and settled alerts are kept for months).
pub const UNDECIDED: &str = "UNDECIDED";

/// Not settled: people not told yet, open and not acted on, or cleared after an action and not
/// told so (the SQLite backend's query says the same).
pub fn undecided(a: &AlertRow) -> bool {
    a.notified_at.is_none()
        || (a.cleared_at.is_none() && a.acted_at.is_none())
        || (a.cleared_at.is_some() && a.acted_at.is_some() && !a.cleared_notified)
}

/// Bring alert `id`'s entry in [`UNDECIDED`] in line with the alert as it stands (run after
/// every write that may settle or unsettle it, on the alerts' lane, so in order).
async fn reindex(db: &Db, id: i64) -> Result<()> {
    let entry = key(UNDECIDED, sk(id));
    match db.get(PK, &sk(id)).await? {
        Some(item) => {
            let a = row(&item)?;
            if undecided(&a) {
                let mut item = entry;
                item.insert("event".into(), s(&a.event));
                db.put("PutItem (undecided alert)", item, None, Vec::new()).await?;
                return Ok(());
            }
            db.delete_keys(vec![entry]).await.map(drop)
        }
        None => db.delete_keys(vec![entry]).await.map(drop),
    }
}

/// The alert a recording touched, if any.
fn touched(r: &Recorded) -> Option<i64> {
    match r {
        Recorded::Duplicate | Recorded::Stale => None,
        Recorded::Opened { id }
        | Recorded::StillOpen { id }
        | Recorded::Cleared { id }
        | Recorded::ClearedUnseen { id }
        | Recorded::AlreadyCleared { id } => Some(*id),
    }
}

async fn all_alerts(db: &Db) -> Result<Vec<AlertRow>> {
    db.query(PK, |q| q).await?.iter().map(row).collect()
}

/// Items of partition `pk` whose `at` is before `before`, deleted; how many.
async fn prune_by_at(db: &Db, pk: &str, before: &str) -> Result<usize> {
    let items =
        db.query(pk, |q| q.projection_expression("pk, sk, #at").expression_attribute_names("#at", "at")).await?;
    let mut gone = Vec::new();
    for item in items {
        if get_s(&item, "at", "seen_envelopes.at")?.as_str() < before {
            gone.push(key(pk, get_s(&item, "sk", "seen_envelopes.id")?));
        }
    }
    db.delete_keys(gone).await
}

impl Alerts for Dynamo {
    fn record_alert(
        &self,
        envelope_id: &str,
        time: DateTime<Utc>,
        event: &str,
        channel_id: &str,
        alert: &Alert,
    ) -> Write<Recorded> {
        let (envelope, event, channel, a) =
            (envelope_id.to_string(), event.to_string(), channel_id.to_string(), alert.clone());
        self.write(PK, move |db| async move {
            let recorded = record(&db, &envelope, time, &event, &channel, &a).await?;
            if let Some(id) = touched(&recorded) {
                reindex(&db, id).await?;
            }
            Ok(recorded)
        })
    }

    fn quarantine(&self, source: &str, body: &str, error: &str) -> Write<()> {
        let (source, body, error) = (source.to_string(), body.to_string(), error.to_string());
        self.write(QUARANTINE, move |db| async move {
            let mut item = key(QUARANTINE, &source);
            item.insert("at".into(), s(now()));
            item.insert("body".into(), s(body));
            item.insert("error".into(), s(error));
            // Once per source: a redelivery is not kept twice.
            db.put("PutItem (quarantine)", item, Some("attribute_not_exists(pk)"), vec![]).await.map(drop)
        })
    }

    fn quarantined(&self) -> Result<u64> {
        self.read(|db| async move { Ok(db.query(QUARANTINE, |q| q.projection_expression("sk")).await?.len() as u64) })
    }

    fn alerts(&self, event: Option<&str>, all: bool) -> Result<Vec<AlertRow>> {
        let event = event.map(str::to_string);
        self.read(|db| async move {
            Ok(all_alerts(&db)
                .await?
                .into_iter()
                .filter(|a| event.as_ref().is_none_or(|e| *e == a.event) && (all || a.is_open()))
                .collect())
        })
    }

    fn alert(&self, id: i64) -> Result<Option<AlertRow>> {
        self.read(|db| async move { db.get(PK, &sk(id)).await?.as_ref().map(row).transpose() })
    }

    fn ack_alert(&self, id: i64, by: &str) -> Write<bool> {
        let by = by.to_string();
        self.write(PK, move |db| async move {
            update_alert(
                &db,
                id,
                "SET #by = :by, #at = :at",
                &[("#by", "acked_by"), ("#at", "acked_at")],
                vec![(":by", s(by)), (":at", s(now()))],
            )
            .await
        })
    }

    fn alert_notified(&self, id: i64) -> Write<bool> {
        self.write(PK, move |db| async move {
            claim_alert(
                &db,
                id,
                "SET #at = :at",
                "attribute_not_exists(#at)",
                &[("#at", "notified_at")],
                vec![(":at", s(now()))],
            )
            .await
        })
    }

    fn close_alerts_of(&self, event: &str, at: DateTime<Utc>) -> Write<usize> {
        let (event, at) = (event.to_string(), time_str(at));
        self.write(PK, move |db| async move {
            let mut closed = 0;
            for item in db.query(PK, |q| q).await? {
                if get_s(&item, "event", "alerts.event")? != event
                    || opt_s(&item, "cleared_at", "alerts.cleared_at")?.is_some()
                {
                    continue;
                }
                let last = get_s(&item, "last_time", "alerts.last_time")?;
                let id = get_i64(&item, "id", "alerts.id")?;
                // Only if still open (a CLEARED may have come meanwhile).
                let done = db
                    .update(
                        "UpdateItem (close alert)",
                        key(PK, sk(id)),
                        "SET #cleared = :at, #last = :last, #told = :true",
                        Some("attribute_exists(pk) AND attribute_not_exists(#cleared)"),
                        &[("#cleared", "cleared_at"), ("#last", "last_time"), ("#told", "cleared_notified")],
                        vec![
                            (":at", s(&at)),
                            (":last", s(last.max(at.clone()))),
                            (":true", AttributeValue::Bool(true)),
                        ],
                    )
                    .await?;
                if done {
                    reindex(&db, id).await?;
                }
                closed += usize::from(done);
            }
            Ok(closed)
        })
    }

    fn alert_cleared_notified(&self, id: i64) -> Write<bool> {
        self.write(PK, move |db| async move {
            claim_alert(
                &db,
                id,
                "SET #told = :true",
                "attribute_not_exists(#told) OR #told = :false",
                &[("#told", "cleared_notified")],
                vec![(":true", AttributeValue::Bool(true)), (":false", AttributeValue::Bool(false))],
            )
            .await
        })
    }

    fn alert_acted(&self, id: i64, action: &str, at: DateTime<Utc>) -> Write<bool> {
        let action = action.to_string();
        self.write(PK, move |db| async move {
            claim_alert(
                &db,
                id,
                "SET #action = :action, #at = :at",
                "attribute_not_exists(#at)",
                &[("#action", "action"), ("#at", "acted_at")],
                vec![(":action", s(action)), (":at", s(time_str(at)))],
            )
            .await
        })
    }

    fn recovery_actions<'a>(
        &'a self,
        event: &'a str,
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<DateTime<Utc>>>> {
        let db = self.db.clone();
        let event = event.to_string();
        Box::pin(async move {
            self.flush().await?;
            let rows = self.run(async move { super::audit::rows_since(&db, Some(since)).await }).await?;
            Ok(rows
                .into_iter()
                .filter(|(r, changes)| {
                    *changes
                        && r.event.as_deref() == Some(event.as_str())
                        && r.actor == "recovery"
                        && r.decision != "refused"
                })
                .map(|(r, _)| r.at)
                .collect())
        })
    }

    fn events_with_undecided_alerts(&self) -> Result<Vec<String>> {
        self.read(|db| async move {
            let mut events = BTreeSet::new();
            for item in db.query(UNDECIDED, |q| q).await? {
                events.insert(get_s(&item, "event", "undecided.event")?);
            }
            Ok(events.into_iter().collect())
        })
    }

    fn first_sight(&self, envelope_id: &str) -> Write<bool> {
        let id = envelope_id.to_string();
        self.write(PK, move |db| async move {
            super::seen::first(&db, ENVELOPE, &id, Utc::now(), chrono::Duration::days(ENVELOPE_DAYS)).await
        })
    }

    /// The index names the resource that last recorded the channel id; it counts only while
    /// that resource still has it (a new deployment forgets its old resources).
    fn event_of_channel(&self, channel_id: &str) -> Result<Option<String>> {
        let channel = channel_id.to_string();
        self.read(|db| async move {
            let Some(index) = db.get(super::deployments::CHANNEL, &channel).await? else { return Ok(None) };
            let event = get_s(&index, "event", "channels.event")?;
            let k = get_s(&index, "key", "channels.key")?;
            let Some(res) = db.get(&format!("RESOURCE#{event}"), &k).await? else { return Ok(None) };
            let still = get_s(&res, "kind", "resources.kind")? == "channel"
                && opt_s(&res, "aws_id", "resources.aws_id")?.as_deref() == Some(channel.as_str());
            Ok(still.then_some(event))
        })
    }

    fn prune_alerts(&self, before: DateTime<Utc>) -> Write<usize> {
        let before = time_str(before);
        self.write(PK, move |db| async move {
            let mut gone = Vec::new();
            for item in db.query(PK, |q| q).await? {
                let cleared = opt_s(&item, "cleared_at", "alerts.cleared_at")?.is_some();
                if cleared && get_s(&item, "last_time", "alerts.last_time")? < before {
                    let id = get_s(&item, "sk", "alerts.id")?;
                    gone.push(key(PK, &id));
                    gone.push(key(UNDECIDED, id));
                }
            }
            let alerts = db.delete_keys(gone).await? / 2;
            let envelopes = prune_by_at(&db, ENVELOPE, &before).await?;
            let quarantined = prune_by_at(&db, QUARANTINE, &before).await?;
            Ok(alerts + envelopes + quarantined)
        })
    }
}
