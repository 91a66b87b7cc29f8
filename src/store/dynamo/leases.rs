//! Leases on DynamoDB: one item per event (`LEASE` / event). A grant is decided exactly as the
//! SQLite backend decides it, on a consistent read, and written only if the item is still what
//! was read (absent, or the same version): a contender that lost the race reads again and
//! decides again. Renewal and release are updates conditioned on the holder (and term).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{get_i64, get_s, get_time, key, n, s, Db, Item};
use super::Dynamo;
use crate::store::leases::new_version;
use crate::store::{now, Fence, Grant, Holder, LeaseRecord, Leases, Result, StoreError, Write};

pub const PK: &str = "LEASE";

/// Reads and decisions before a grant gives up: each lost race means another holder wrote
/// the record, and the next read usually refuses anyway.
const RACES: usize = 5;

fn record(item: &Item) -> Result<LeaseRecord> {
    let term = get_i64(item, "term", "leases.term")?;
    Ok(LeaseRecord {
        event: get_s(item, "sk", "leases.event")?,
        holder: get_s(item, "holder", "leases.holder")?,
        doing: get_s(item, "doing", "leases.doing")?,
        term: u64::try_from(term).map_err(|_| StoreError::Corrupt { what: "leases.term", value: term.to_string() })?,
        version: get_s(item, "version", "leases.version")?,
        duration_ms: u64::try_from(get_i64(item, "duration_ms", "leases.duration_ms")?).unwrap_or(0),
        renewed_at: get_time(item, "renewed_at", "leases.renewed_at")?,
    })
}

async fn read(db: &Db, event: &str) -> Result<Option<LeaseRecord>> {
    db.get(PK, event).await?.as_ref().map(record).transpose()
}

/// Grant `me` the lease on a consistent read, written only if the record is unchanged since.
async fn acquire(
    db: &Db,
    event: String,
    me: Holder,
    ms: u64,
    seen: Option<String>,
) -> Result<std::result::Result<Grant, LeaseRecord>> {
    let mut last = None;
    for _ in 0..RACES {
        let row = read(db, &event).await?;
        let (term, took_over) = match &row {
            None => (1, None),
            Some(r) if r.holder == me.id => (r.term, None),
            Some(r) if r.is_free() => (r.term + 1, None),
            Some(r) if seen.as_deref() == Some(r.version.as_str()) => (r.term + 1, Some(r.holder.clone())),
            Some(r) => return Ok(Err(r.clone())),
        };
        let version = new_version();
        let mut item = key(PK, &event);
        item.insert("holder".into(), s(&me.id));
        item.insert("doing".into(), s(&me.doing));
        item.insert("term".into(), n(term));
        item.insert("version".into(), s(&version));
        item.insert("duration_ms".into(), n(ms));
        item.insert("renewed_at".into(), s(now()));
        let put = db.client.put_item().table_name(&db.table).set_item(Some(item));
        let put = match &row {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(r) => put
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", AttributeValue::S(r.version.clone())),
        };
        match put.send().await {
            Ok(_) => return Ok(Ok(Grant { fence: Fence { event, holder: me.id, term }, version, took_over })),
            Err(e) if Db::condition_failed(&e) => last = row,
            Err(e) => return Err(db.err("PutItem (lease)", &e)),
        }
    }
    // Lost every race: someone else keeps writing it, so it is theirs.
    match read(db, &event).await? {
        Some(r) => Ok(Err(r)),
        None => Err(StoreError::Dynamo {
            table: db.table.clone(),
            message: format!("lease of {event}: lost {RACES} races to write it (last read {last:?})"),
        }),
    }
}

impl Leases for Dynamo {
    fn lease(&self, event: &str) -> Result<Option<LeaseRecord>> {
        let event = event.to_string();
        self.read(|db| async move { read(&db, &event).await })
    }

    fn leases(&self) -> Result<Vec<LeaseRecord>> {
        self.read(|db| async move { db.query(PK, |q| q).await?.iter().map(record).collect() })
    }

    fn acquire_lease(
        &self,
        event: &str,
        me: &Holder,
        duration: Duration,
        seen: Option<&str>,
    ) -> Write<std::result::Result<Grant, LeaseRecord>> {
        let (event, me, seen) = (event.to_string(), me.clone(), seen.map(str::to_string));
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.write(&event.clone(), move |db| async move { acquire(&db, event, me, ms, seen).await })
    }

    fn renew_lease(&self, fence: &Fence) -> Write<Option<String>> {
        let (fence, db) = (fence.clone(), self.db.clone());
        self.write_now(async move {
            let version = new_version();
            let sent = db
                .client
                .update_item()
                .table_name(&db.table)
                .set_key(Some(key(PK, &fence.event)))
                .update_expression("SET #version = :version, #renewed = :now")
                .condition_expression("#holder = :holder AND #term = :term")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#renewed", "renewed_at")
                .expression_attribute_names("#holder", "holder")
                .expression_attribute_names("#term", "term")
                .expression_attribute_values(":version", s(&version))
                .expression_attribute_values(":now", s(now()))
                .expression_attribute_values(":holder", s(&fence.holder))
                .expression_attribute_values(":term", n(fence.term))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Some(version)),
                Err(e) if Db::condition_failed(&e) => Ok(None),
                Err(e) => Err(db.err("UpdateItem (renew lease)", &e)),
            }
        })
    }

    fn release_lease(&self, fence: &Fence) -> Write<()> {
        let fence = fence.clone();
        self.write(&fence.event.clone(), move |db| async move {
            let sent = db
                .client
                .update_item()
                .table_name(&db.table)
                .set_key(Some(key(PK, &fence.event)))
                .update_expression("SET #holder = :empty, #version = :version, #renewed = :now")
                .condition_expression("#holder = :holder")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#renewed", "renewed_at")
                .expression_attribute_names("#holder", "holder")
                .expression_attribute_values(":empty", s(""))
                .expression_attribute_values(":version", s(new_version()))
                .expression_attribute_values(":now", s(now()))
                .expression_attribute_values(":holder", s(&fence.holder))
                .send()
                .await;
            match sent {
                // Not ours (any more): nothing to give back, as with SQLite.
                Ok(_) => Ok(()),
                Err(e) if Db::condition_failed(&e) => Ok(()),
                Err(e) => Err(db.err("UpdateItem (release lease)", &e)),
            }
        })
    }
}
