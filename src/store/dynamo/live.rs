//! Live-control commands on DynamoDB: one item per command (`LIVE#<len>#<event>#<nonce>` /
//! counter, 10 digits, so a query backwards is newest first), and one counter item per
//! deployment (`LIVECOUNTER` / `<len>#<event>#<nonce>`: `n`, the last value taken, with the
//! event and nonce). `len` is the event id's length, so no id can make two partitions one.
//!
//! Taking a value is a compare-and-set inside the fenced transaction: read `n` (consistently),
//! then in one transaction check the lease, set `n` to `n + 1` only if it is still `n`, and put
//! the record only if no record holds that value. A racer that took the value first fails the
//! second action: this one reads again and tries the next (DynamoDB answers no new value from
//! a transaction, so an atomic ADD could not name the record it must write in the same one).
//! A deposed holder fails the first action and takes nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::items::{backoff, get_i64, get_s, get_time, key, n, opt_s, put_opt, s, Db, Item, Tx};
use super::Dynamo;
use crate::store::live::{counter_of, unknown};
use crate::store::{time_str, Fence, Live, LiveRecord, LiveState, Result, StoreError, Write};

/// The prefix of every partition of commands.
pub(super) const PREFIX: &str = "LIVE#";
/// The partition of the per-deployment counters.
pub(super) const COUNTERS: &str = "LIVECOUNTER";

/// Reads and transactions of one command before giving up: each lost race means another
/// writer took a value meanwhile (on one store a deployment's writes go one after the other
/// on its event's lane, so only other stores race here).
const RACES: u32 = 8;

/// The partition of (event, nonce)'s commands.
pub(super) fn records_pk(event: &str, nonce: &str) -> String {
    format!("{PREFIX}{}#{event}#{nonce}", event.len())
}

/// The sort key of (event, nonce)'s counter.
pub(super) fn counter_sk(event: &str, nonce: &str) -> String {
    format!("{}#{event}#{nonce}", event.len())
}

pub(super) fn sk(counter: u32) -> String {
    format!("{counter:010}")
}

pub(super) fn record(item: &Item) -> Result<LiveRecord> {
    Ok(LiveRecord {
        event: get_s(item, "event", "live_commands.event")?,
        nonce: get_s(item, "nonce", "live_commands.nonce")?,
        counter: counter_of(get_i64(item, "counter", "live_commands.counter")?, "live_commands.counter")?,
        state: LiveState::parse(&get_s(item, "state", "live_commands.state")?)?,
        body: get_s(item, "body", "live_commands.body")?,
        by: get_s(item, "by", "live_commands.by")?,
        at: get_time(item, "at", "live_commands.at")?,
        updated_at: get_time(item, "updated_at", "live_commands.updated_at")?,
        detail: opt_s(item, "detail", "live_commands.detail")?,
    })
}

/// A command's item, as recorded and as imported.
pub(super) fn item_of(r: &LiveRecord) -> Item {
    let mut item = key(records_pk(&r.event, &r.nonce), sk(r.counter));
    item.insert("event".into(), s(&r.event));
    item.insert("nonce".into(), s(&r.nonce));
    item.insert("counter".into(), n(r.counter));
    item.insert("state".into(), s(r.state.as_str()));
    item.insert("body".into(), s(&r.body));
    item.insert("by".into(), s(&r.by));
    item.insert("at".into(), s(time_str(r.at)));
    item.insert("updated_at".into(), s(time_str(r.updated_at)));
    put_opt(&mut item, "detail", r.detail.clone());
    item
}

/// The last value (event, nonce)'s counter handed out (0: none yet), read consistently.
async fn last(db: &Db, event: &str, nonce: &str) -> Result<i64> {
    let item = db.get_some(COUNTERS, &counter_sk(event, nonce), "#n", &[("#n", "n")]).await?;
    Ok(item.map(|i| get_i64(&i, "n", "live_counters.last")).transpose()?.unwrap_or(0))
}

async fn intent(db: &Db, fence: &Fence, nonce: &str, body: &str, by: &str, at: DateTime<Utc>) -> Result<u32> {
    let event = &fence.event;
    for attempt in 0..RACES {
        let last = last(db, event, nonce).await?;
        let next = counter_of(last.saturating_add(1), "live_counters.last")?;
        let bump = db.tx_update(
            key(COUNTERS, counter_sk(event, nonce)),
            "SET #n = :next, #event = :event, #nonce = :nonce",
            Some("attribute_not_exists(#n) OR #n = :last"),
            &[("#n", "n"), ("#event", "event"), ("#nonce", "nonce")],
            vec![(":next", n(next)), (":last", n(last)), (":event", s(event)), (":nonce", s(nonce))],
        )?;
        let record = LiveRecord {
            event: event.clone(),
            nonce: nonce.to_string(),
            counter: next,
            state: LiveState::Intent,
            body: body.to_string(),
            by: by.to_string(),
            at,
            updated_at: at,
            detail: None,
        };
        let put = db.tx_put(item_of(&record), Some("attribute_not_exists(pk)"))?;
        match db.fenced(fence, vec![bump, put]).await? {
            Tx::Applied => return Ok(next),
            // Another store took this value first: read again, take the next.
            Tx::Refused(0) => tokio::time::sleep(backoff(attempt).min(std::time::Duration::from_millis(200))).await,
            // The counter says `next` is free, a record says it is not: refused, never overwritten.
            Tx::Refused(_) => {
                return Err(StoreError::Corrupt {
                    what: "live_counters.last",
                    value: format!("{last} for {event} deployment {nonce}, but command #{next} is recorded"),
                })
            }
        }
    }
    Err(StoreError::Dynamo {
        table: db.table.clone(),
        message: format!(
            "live counter of {event} deployment {nonce}: taken by others under every one of {RACES} tries"
        ),
    })
}

/// The newest `limit` items of `pk` (sort key descending), reading no more pages than needed.
async fn newest(db: &Db, pk: &str, limit: usize) -> Result<Vec<Item>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut pages = db
        .client
        .query()
        .table_name(&db.table)
        .consistent_read(true)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_values(":pk", s(pk))
        .scan_index_forward(false)
        .limit(i32::try_from(limit).unwrap_or(i32::MAX))
        .into_paginator()
        .send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        items.extend(page.map_err(|e| db.err("Query", &e))?.items.unwrap_or_default());
        if items.len() >= limit {
            break;
        }
    }
    items.truncate(limit);
    Ok(items)
}

impl Live for Dynamo {
    fn live_intent(&self, fence: &Fence, nonce: &str, body: &str, by: &str, at: DateTime<Utc>) -> Write<u32> {
        let fence = fence.clone();
        let (nonce, body, by) = (nonce.to_string(), body.to_string(), by.to_string());
        self.write(&fence.event.clone(), move |db| async move { intent(&db, &fence, &nonce, &body, &by, at).await })
    }

    fn live_update(
        &self,
        fence: &Fence,
        nonce: &str,
        counter: u32,
        state: LiveState,
        body: Option<&str>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Write<()> {
        let fence = fence.clone();
        let (nonce, body, detail) = (nonce.to_string(), body.map(str::to_string), detail.map(str::to_string));
        self.write(&fence.event.clone(), move |db| async move {
            let mut set = vec!["#state = :state", "#updated = :at"];
            let mut names = vec![("#state", "state"), ("#updated", "updated_at")];
            let mut values: Vec<(&str, AttributeValue)> = vec![(":state", s(state.as_str())), (":at", s(time_str(at)))];
            if let Some(b) = body {
                set.push("#body = :body");
                names.push(("#body", "body"));
                values.push((":body", s(b)));
            }
            if let Some(d) = detail {
                set.push("#detail = :detail");
                names.push(("#detail", "detail"));
                values.push((":detail", s(d)));
            }
            let update = db.tx_update(
                key(records_pk(&fence.event, &nonce), sk(counter)),
                &format!("SET {}", set.join(", ")),
                Some("attribute_exists(pk)"),
                &names,
                values,
            )?;
            match db.fenced(&fence, vec![update]).await? {
                Tx::Applied => Ok(()),
                Tx::Refused(_) => Err(unknown(&fence.event, &nonce, counter)),
            }
        })
    }

    fn live_records(&self, event: &str, nonce: &str, limit: usize) -> Result<Vec<LiveRecord>> {
        let pk = records_pk(event, nonce);
        self.read(|db| async move { newest(&db, &pk, limit).await?.iter().map(record).collect() })
    }
}
