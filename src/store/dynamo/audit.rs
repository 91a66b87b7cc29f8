//! The audit trail on DynamoDB: one item per row in day buckets (`AUDIT#<yyyy-mm-dd>` /
//! `<micros>#<audit key>`), so no partition grows without end and a read of recent rows
//! queries a few days only. The row's `id` comes from a counter, so rows read back in the
//! order they were written, as the SQL ids give them. An [`AuditKey`] carries its instant, so
//! closing a row finds its bucket without a lookup.

use chrono::{DateTime, Duration, Utc};

use super::items::{get_bool, get_i64, get_s, get_time, key, n, opt_i64, opt_s, put_opt, s, Db, Item};
use super::Dynamo;
use crate::store::{
    instance, time_str, Audit, AuditEnd, AuditEntry, AuditKey, AuditRow, Meta, Result, StoreError, Write,
};

/// Reads from further back than this scan the whole table instead of querying day by day.
const QUERY_DAYS: i64 = 62;

fn bucket(at: DateTime<Utc>) -> String {
    format!("AUDIT#{}", at.format("%Y-%m-%d"))
}

/// The row's key in the table, from its audit key.
fn item_key(k: &AuditKey) -> Option<super::items::Item> {
    let micros = k.at_micros()?;
    let at = DateTime::from_timestamp_micros(micros)?;
    Some(key(bucket(at), format!("{micros:020}#{}", k.as_str())))
}

/// The key in the table of a row known by its audit key's text (an imported row): the same
/// as [`item_key`]'s; a key that carries no instant files the row under `at`.
pub(super) fn item_key_of(k: &str, at: DateTime<Utc>) -> Item {
    let micros = k.rsplit('-').nth(1).and_then(|m| m.parse::<i64>().ok()).unwrap_or(at.timestamp_micros());
    let day = DateTime::from_timestamp_micros(micros).unwrap_or(at);
    key(bucket(day), format!("{micros:020}#{k}"))
}

fn row(item: &Item) -> Result<AuditRow> {
    let args = get_s(item, "args", "audit.args")?;
    Ok(AuditRow {
        id: get_i64(item, "id", "audit.id")?,
        at: get_time(item, "at", "audit.at")?,
        actor: get_s(item, "actor", "audit.actor")?,
        event: opt_s(item, "event", "audit.event")?,
        operation: get_s(item, "operation", "audit.operation")?,
        args: serde_json::from_str(&args)
            .map_err(|_| StoreError::Corrupt { what: "audit.args", value: args.clone() })?,
        decision: get_s(item, "decision", "audit.decision")?,
        result: opt_s(item, "result", "audit.result")?,
        duration_ms: opt_i64(item, "duration_ms", "audit.duration_ms")?.map(|m| m.max(0) as u64),
        error: opt_s(item, "error", "audit.error")?,
        instance: opt_s(item, "instance", "audit.instance")?.unwrap_or_default(),
    })
}

/// A new row (open, or already ended), with the next id.
async fn insert(db: &Db, e: AuditEntry, k: AuditKey, end: Option<AuditEnd>) -> Result<()> {
    let Some(mut item) = item_key(&k) else {
        return Err(StoreError::Corrupt { what: "audit.key", value: k.as_str().to_string() });
    };
    item.insert("id".into(), n(db.next_id("audit").await?));
    item.insert("at".into(), s(time_str(e.at)));
    item.insert("actor".into(), s(e.actor));
    put_opt(&mut item, "event", e.event);
    item.insert("operation".into(), s(e.operation));
    item.insert("args".into(), s(e.args));
    item.insert("decision".into(), s(e.decision));
    item.insert("changes".into(), aws_sdk_dynamodb::types::AttributeValue::Bool(e.changes));
    item.insert("key".into(), s(k.as_str()));
    item.insert("instance".into(), s(instance()));
    if let Some(end) = end {
        item.insert("result".into(), s(end.result));
        item.insert("duration_ms".into(), n(end.duration_ms));
        put_opt(&mut item, "error", end.error);
    }
    db.put("PutItem (audit)", item, None, vec![]).await.map(drop)
}

/// Close an open row; `refuse` also turns its decision to `refused`. A key with no row is
/// no-op, as an UPDATE of no row.
async fn close(db: &Db, k: AuditKey, end: AuditEnd, refuse: bool) -> Result<()> {
    let Some(item_key) = item_key(&k) else {
        return Err(StoreError::Corrupt { what: "audit.key", value: k.as_str().to_string() });
    };
    let (error, remove) = match &end.error {
        Some(_) => (", #error = :error", ""),
        None => ("", " REMOVE #error"),
    };
    let decision = if refuse { ", #decision = :refused" } else { "" };
    let mut names = vec![("#result", "result"), ("#ms", "duration_ms"), ("#error", "error")];
    let mut values = vec![(":result", s(end.result)), (":ms", n(end.duration_ms))];
    if let Some(e) = end.error {
        values.push((":error", s(e)));
    }
    if refuse {
        names.push(("#decision", "decision"));
        values.push((":refused", s("refused")));
    }
    db.update(
        "UpdateItem (audit)",
        item_key,
        &format!("SET #result = :result, #ms = :ms{error}{decision}{remove}"),
        Some("attribute_exists(pk)"),
        &names,
        values,
    )
    .await
    .map(drop)
}

/// Every row at or after `since` (all rows without one), ordered by id, with whether its
/// operation changes anything (which the row as read does not carry).
pub(super) async fn rows_since(db: &Db, since: Option<DateTime<Utc>>) -> Result<Vec<(AuditRow, bool)>> {
    let now = Utc::now();
    let items = match since {
        Some(from) if from > now - Duration::days(QUERY_DAYS) => {
            // Rows are stamped by their writers' clocks: a day past today covers any skew.
            let mut items = Vec::new();
            let last = (now + Duration::days(1)).date_naive();
            let mut day = from.date_naive();
            while day <= last {
                items.extend(db.query(&format!("AUDIT#{}", day.format("%Y-%m-%d")), |q| q).await?);
                match day.succ_opt() {
                    Some(next) => day = next,
                    None => break,
                }
            }
            items
        }
        _ => db.scan_prefix("AUDIT#", |q| q).await?,
    };
    let since = since.map(time_str).unwrap_or_default();
    let mut rows = Vec::with_capacity(items.len());
    for item in &items {
        // Stored instants are fixed-width RFC 3339 UTC: they compare as text, as in SQLite.
        if get_s(item, "at", "audit.at")? >= since {
            rows.push((row(item)?, get_bool(item, "changes", "audit.changes")?));
        }
    }
    rows.sort_by_key(|(r, _)| r.id);
    Ok(rows)
}

impl Audit for Dynamo {
    fn audit_open(&self, e: &AuditEntry) -> AuditKey {
        let k = AuditKey::new(e.at);
        let (e, key) = (e.clone(), k.clone());
        self.write(k.as_str(), move |db| async move { insert(&db, e, key, None).await }).detach();
        k
    }

    fn audit_close(&self, key: &AuditKey, end: AuditEnd) {
        let k = key.clone();
        self.write(key.as_str(), move |db| async move { close(&db, k, end, false).await }).detach();
    }

    fn audit_refuse(&self, key: &AuditKey, end: AuditEnd) {
        let k = key.clone();
        self.write(key.as_str(), move |db| async move { close(&db, k, end, true).await }).detach();
    }

    fn audit_record(&self, e: &AuditEntry, end: AuditEnd) {
        let k = AuditKey::new(e.at);
        let (e, lane) = (e.clone(), k.as_str().to_string());
        self.write(&lane, move |db| async move { insert(&db, e, k, Some(end)).await }).detach();
    }

    fn audit(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        self.flush().wait()?;
        self.audit_committed(event, since, reads, limit)
    }

    fn audit_committed(
        &self,
        event: Option<&str>,
        since: Option<DateTime<Utc>>,
        reads: bool,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        let event = event.map(str::to_string);
        self.read(|db| async move {
            let mut rows: Vec<AuditRow> = rows_since(&db, since)
                .await?
                .into_iter()
                .filter(|(r, changes)| {
                    (reads || *changes) && event.as_ref().is_none_or(|e| r.event.as_ref() == Some(e))
                })
                .map(|(r, _)| r)
                .collect();
            // The latest `limit`, oldest first.
            let skip = rows.len().saturating_sub(limit);
            Ok(rows.split_off(skip))
        })
    }

    fn prune_audit(&self, before: DateTime<Utc>) -> Write<usize> {
        let before = time_str(before);
        self.write("AUDIT", move |db| async move {
            let items = db
                .scan_prefix("AUDIT#", |q| {
                    q.projection_expression("#pk, sk, #at").expression_attribute_names("#at", "at")
                })
                .await?;
            let mut gone = Vec::new();
            for item in items {
                if get_s(&item, "at", "audit.at")? < before {
                    gone.push(key(get_s(&item, "pk", "audit.pk")?, get_s(&item, "sk", "audit.sk")?));
                }
            }
            db.delete_keys(gone).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_key_finds_its_rows_day_bucket() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T23:59:59.999999Z").expect("t").with_timezone(&Utc);
        let k = AuditKey::new(at);
        assert_eq!(k.at_micros(), Some(at.timestamp_micros()));
        let item = item_key(&k).expect("a key");
        assert_eq!(item_key_of(k.as_str(), Utc::now()), item, "an imported row lands where its own would");
        assert_eq!(item.get("pk"), Some(&s("AUDIT#2026-11-30")));
        let sk = get_s(&item, "sk", "sk").expect("sk");
        assert!(
            sk.ends_with(&format!("#{}", k.as_str())) && sk.starts_with(&format!("{:020}#", at.timestamp_micros())),
            "{sk}"
        );
    }
}
