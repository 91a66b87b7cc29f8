//! The table as every concept uses it: keys, attribute values written and read back (a value
//! of the wrong type or missing is [`StoreError::Corrupt`] naming the attribute, as a damaged
//! SQLite column is), SDK errors as [`StoreError::Dynamo`] with the operation and AWS error
//! code, and the calls every concept shares: a consistent get, paginated queries and scans,
//! batched deletes, counters, and (fenced) transactions.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, ReturnValue, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use crate::store::{parse_time, Fence, Result, StoreError};

/// One item as the SDK carries it.
pub type Item = HashMap<String, AttributeValue>;

/// Most actions DynamoDB takes in one transaction.
pub const MAX_TRANSACTION: usize = 100;

/// Tries of a transaction another one conflicted with (`TransactionConflict`), and of a
/// batch's unprocessed items: the SDK retries throttling, not these.
const TRIES: u32 = 6;

/// The client and the table it writes: what every call needs.
pub struct Db {
    pub client: Client,
    pub table: String,
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// `s(v)` for a present value, nothing for an absent one (an absent attribute is SQL's NULL).
pub fn put_opt(item: &mut Item, name: &str, v: Option<impl Into<String>>) {
    if let Some(v) = v {
        item.insert(name.to_string(), s(v));
    }
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// An item's epoch seconds after which it counts as gone (DynamoDB's TTL deletes it later,
/// best effort, so reads filter on it too).
pub fn expires_at(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp())
}

/// Whether an item's `expires_at` has passed (an item without one never expires).
pub fn expired(item: &Item) -> bool {
    match item.get("expires_at").map(AttributeValue::as_n) {
        Some(Ok(v)) => v.parse::<i64>().is_ok_and(|at| at <= Utc::now().timestamp()),
        _ => false,
    }
}

fn corrupt(what: &'static str, v: Option<&AttributeValue>) -> StoreError {
    StoreError::Corrupt { what, value: v.map(|v| format!("{v:?}")).unwrap_or_else(|| "missing".to_string()) }
}

pub fn get_s(item: &Item, name: &str, what: &'static str) -> Result<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        other => Err(corrupt(what, other)),
    }
}

/// A string attribute that may be absent (or NULL).
pub fn opt_s(item: &Item, name: &str, what: &'static str) -> Result<Option<String>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        other => Err(corrupt(what, other)),
    }
}

pub fn get_i64(item: &Item, name: &str, what: &'static str) -> Result<i64> {
    opt_i64(item, name, what)?.ok_or_else(|| corrupt(what, None))
}

pub fn opt_i64(item: &Item, name: &str, what: &'static str) -> Result<Option<i64>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| corrupt(what, item.get(name))),
        other => Err(corrupt(what, other)),
    }
}

/// A flag; absent is `false` (as a SQL column's default 0).
pub fn get_bool(item: &Item, name: &str, what: &'static str) -> Result<bool> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(false),
        Some(AttributeValue::Bool(v)) => Ok(*v),
        other => Err(corrupt(what, other)),
    }
}

pub fn get_time(item: &Item, name: &str, what: &'static str) -> Result<DateTime<Utc>> {
    parse_time(&get_s(item, name, what)?, what)
}

pub fn opt_time(item: &Item, name: &str, what: &'static str) -> Result<Option<DateTime<Utc>>> {
    opt_s(item, name, what)?.map(|t| parse_time(&t, what)).transpose()
}

/// How a transaction ended when it was not applied for a reason of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    Applied,
    /// The action at this index failed its own condition: nothing was written.
    Refused(usize),
}

impl Db {
    /// A failed SDK call: the operation, the AWS error code and the whole error chain.
    pub fn err<E, R>(&self, op: &str, e: &SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = e.code().unwrap_or("no error code");
        StoreError::Dynamo {
            table: self.table.clone(),
            message: format!("{op} failed ({code}): {}", DisplayErrorContext(e)),
        }
    }

    /// A request this code could not even build (a missing required field: a bug, not data).
    pub fn build_err(&self, op: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Dynamo { table: self.table.clone(), message: format!("{op}: cannot build the request: {e}") }
    }

    /// Whether a call failed only because its condition did not hold.
    pub fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
        e.code() == Some("ConditionalCheckFailedException")
    }

    /// The item at (`pk`, `sk`), read consistently.
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("GetItem", &e))?;
        Ok(out.item)
    }

    /// The named attributes of the item at (`pk`, `sk`), read consistently (a narrow read of a
    /// wide item).
    pub async fn get_some(
        &self,
        pk: &str,
        sk: &str,
        projection: &str,
        name_list: &[(&str, &str)],
    ) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .projection_expression(projection)
            .set_expression_attribute_names(names(name_list))
            .send()
            .await
            .map_err(|e| self.err("GetItem", &e))?;
        Ok(out.item)
    }

    /// Every item of partition `pk`, in sort key order, read consistently; `more` adds to the
    /// query (a projection, a filter with its names and values, the direction).
    pub async fn query(
        &self,
        pk: &str,
        more: impl FnOnce(
            aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":pk", s(pk));
        let mut pages = more(q).into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(|e| self.err("Query", &e))?.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// Every item whose partition key starts with `prefix` (a scan of the whole table: for
    /// upkeep and the rare read across partitions), read consistently. `more` may add a
    /// projection, never a filter (this one is the scan's).
    pub async fn scan_prefix(
        &self,
        prefix: &str,
        more: impl FnOnce(
            aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    ) -> Result<Vec<Item>> {
        let q = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("begins_with(#pk, :prefix)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":prefix", s(prefix));
        let mut pages = more(q).into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(|e| self.err("Scan", &e))?.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// Delete these keys (25 to a BatchWriteItem, unprocessed ones again); how many were sent.
    pub async fn delete_keys(&self, keys: Vec<Item>) -> Result<usize> {
        let total = keys.len();
        let requests = keys
            .into_iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| self.build_err("BatchWriteItem", e))
            })
            .collect::<Result<Vec<_>>>()?;
        self.put_batch(requests).await?;
        Ok(total)
    }

    /// Apply these puts and deletes, 25 to a BatchWriteItem, sending unprocessed ones again.
    /// Not atomic: for writes each of which stands alone.
    pub async fn put_batch(&self, all: Vec<WriteRequest>) -> Result<()> {
        for chunk in all.chunks(25) {
            let mut requests = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| self.err("BatchWriteItem", &e))?;
                requests = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt + 1 >= TRIES {
                    return Err(StoreError::Dynamo {
                        table: self.table.clone(),
                        message: format!(
                            "BatchWriteItem left {} writes unprocessed after {TRIES} tries",
                            requests.len()
                        ),
                    });
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Ok(())
    }

    /// The next value of counter `name` (1, 2, …): an atomic ADD, so no two writers anywhere
    /// get the same one.
    pub async fn next_id(&self, name: &str) -> Result<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key("COUNTER", name)))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| self.err("UpdateItem (counter)", &e))?;
        get_i64(&out.attributes.unwrap_or_default(), "n", "counter.n")
    }

    /// Apply `actions` all or nothing. A transaction another one conflicted with is tried
    /// again; one whose action failed its own condition is [`Tx::Refused`] with that index.
    ///
    /// No `ClientRequestToken` is set here: the SDK makes one per call (the model marks it as
    /// an idempotency token) and sends the same one on its own retries, so a retry of a
    /// transaction that was applied but whose answer was lost is not applied twice.
    pub async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<Tx> {
        for attempt in 0.. {
            let sent = self.client.transact_write_items().set_transact_items(Some(actions.clone())).send().await;
            let e = match sent {
                Ok(_) => return Ok(Tx::Applied),
                Err(e) => e,
            };
            let reasons: Vec<Option<String>> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
                    t.cancellation_reasons().iter().map(|r| r.code().map(str::to_string)).collect()
                }
                _ => return Err(self.err("TransactWriteItems", &e)),
            };
            if let Some(i) = reasons.iter().position(|c| c.as_deref() == Some("ConditionalCheckFailed")) {
                return Ok(Tx::Refused(i));
            }
            let conflict =
                reasons.iter().any(|c| matches!(c.as_deref(), Some("TransactionConflict" | "ThrottlingError")));
            if !conflict || attempt + 1 >= TRIES {
                return Err(StoreError::Dynamo {
                    table: self.table.clone(),
                    message: format!("TransactWriteItems cancelled: {reasons:?}: {}", DisplayErrorContext(&e)),
                });
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        unreachable!("the loop returns")
    }

    /// Apply `actions` only while `fence` holds its event's lease: the lease check is the
    /// transaction's first action. Refused by the lease: [`StoreError::Fenced`], naming what
    /// the lease is now; refused by an action's own condition: `Refused(i)`, `i` counting
    /// `actions` from 0.
    pub async fn fenced(&self, fence: &Fence, actions: Vec<TransactWriteItem>) -> Result<Tx> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(super::leases::PK, &fence.event)))
            .condition_expression("#holder = :holder AND #term = :term")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#term", "term")
            .expression_attribute_values(":holder", s(&fence.holder))
            .expression_attribute_values(":term", n(fence.term))
            .build()
            .map_err(|e| self.build_err("ConditionCheck", e))?;
        let mut all = Vec::with_capacity(actions.len() + 1);
        all.push(TransactWriteItem::builder().condition_check(check).build());
        all.extend(actions);
        match self.transact(all).await? {
            Tx::Applied => Ok(Tx::Applied),
            Tx::Refused(0) => Err(self.fenced_error(fence).await),
            Tx::Refused(i) => Ok(Tx::Refused(i - 1)),
        }
    }

    /// Why `fence` no longer holds its lease, in the words of the SQLite backend.
    pub async fn fenced_error(&self, fence: &Fence) -> StoreError {
        let now = match self.get(super::leases::PK, &fence.event).await {
            Err(e) => format!("unreadable ({e})"),
            Ok(None) => "gone".to_string(),
            Ok(Some(item)) => {
                let holder = get_s(&item, "holder", "leases.holder").unwrap_or_default();
                let term = get_i64(&item, "term", "leases.term").unwrap_or_default();
                if holder.is_empty() {
                    format!("released at term {term}")
                } else {
                    format!("held by {holder} at term {term}")
                }
            }
        };
        StoreError::Fenced { event: fence.event.clone(), term: fence.term, now }
    }
}

/// 20 ms, 40 ms, … at most about a second.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(20u64 << attempt.min(6))
}

/// Expression attribute names and values, as the SDK takes them (`None` when empty: DynamoDB
/// refuses an empty map).
type Names = Option<HashMap<String, String>>;
type Values = Option<HashMap<String, AttributeValue>>;

fn names(list: &[(&str, &str)]) -> Names {
    (!list.is_empty()).then(|| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn values(list: Vec<(&str, AttributeValue)>) -> Values {
    (!list.is_empty()).then(|| list.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

impl Db {
    /// A transaction's update of the item at `key`.
    pub fn tx_update(
        &self,
        key: Item,
        update: &str,
        condition: Option<&str>,
        name_list: &[(&str, &str)],
        value_list: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem> {
        let u = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(names(name_list))
            .set_expression_attribute_values(values(value_list))
            .build()
            .map_err(|e| self.build_err("Update", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// A transaction's put of `item`.
    pub fn tx_put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem> {
        let p = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(|e| self.build_err("Put", e))?;
        Ok(TransactWriteItem::builder().put(p).build())
    }

    /// A transaction's delete of the item at `key`.
    pub fn tx_delete(&self, key: Item) -> Result<TransactWriteItem> {
        let d = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(|e| self.build_err("Delete", e))?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    /// Update the item at `key`; `false` when `condition` did not hold (nothing written).
    pub async fn update(
        &self,
        op: &str,
        key: Item,
        update: &str,
        condition: Option<&str>,
        name_list: &[(&str, &str)],
        value_list: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(names(name_list))
            .set_expression_attribute_values(values(value_list))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if Db::condition_failed(&e) => Ok(false),
            Err(e) => Err(self.err(op, &e)),
        }
    }

    /// Put `item`; `false` when `condition` did not hold (nothing written).
    pub async fn put(
        &self,
        op: &str,
        item: Item,
        condition: Option<&str>,
        value_list: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values(value_list))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if Db::condition_failed(&e) => Ok(false),
            Err(e) => Err(self.err(op, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn db() -> Db {
        let conf = aws_sdk_dynamodb::Config::builder().behavior_version_latest().build();
        Db { client: Client::from_conf(conf), table: "ottd".into() }
    }

    fn service_error(e: PutItemError) -> SdkError<PutItemError, Response> {
        let raw = Response::new(StatusCode::try_from(400).expect("status"), SdkBody::empty());
        SdkError::service_error(e, raw)
    }

    #[test]
    fn an_sdk_error_names_the_table_the_operation_and_the_aws_code() {
        let meta = ErrorMetadata::builder().code("ConditionalCheckFailedException").message("no").build();
        let e = service_error(PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().message("no").meta(meta).build(),
        ));
        assert!(Db::condition_failed(&e));
        let err = db().err("PutItem (lease)", &e);
        let text = err.to_string();
        assert!(matches!(&err, StoreError::Dynamo { table, .. } if table == "ottd"), "{text}");
        assert!(text.contains("PutItem (lease) failed (ConditionalCheckFailedException)"), "{text}");
        let other = service_error(PutItemError::generic(ErrorMetadata::builder().code("ThrottlingException").build()));
        assert!(!Db::condition_failed(&other), "only a failed condition is a refusal");
    }

    #[test]
    fn an_attribute_of_the_wrong_type_or_missing_is_corrupt_and_named() {
        let item: Item = HashMap::from([("term".to_string(), s("three")), ("phase".to_string(), n(1))]);
        let e = get_i64(&item, "term", "leases.term").expect_err("a string is no number");
        assert!(matches!(e, StoreError::Corrupt { what: "leases.term", .. }));
        assert!(matches!(
            get_s(&item, "phase", "deployments.phase"),
            Err(StoreError::Corrupt { what: "deployments.phase", .. })
        ));
        let e = get_s(&item, "nonce", "deployments.nonce").expect_err("missing");
        assert!(matches!(&e, StoreError::Corrupt { value, .. } if value == "missing"));
        assert_eq!(opt_s(&item, "last_error", "x").expect("absent is None"), None);
        assert!(!get_bool(&item, "cleared_notified", "x").expect("absent is false"));
        let t = get_time(&HashMap::from([("at".to_string(), s("yesterday"))]), "at", "audit.at");
        assert!(matches!(t, Err(StoreError::Corrupt { what: "audit.at", .. })), "never 1970");
    }

    #[test]
    fn an_item_past_its_expires_at_counts_as_gone() {
        let now = Utc::now().timestamp();
        let with = |at: i64| -> Item { HashMap::from([("expires_at".to_string(), n(at))]) };
        assert!(expired(&with(now - 1)));
        assert!(!expired(&with(now + 60)));
        assert!(!expired(&HashMap::new()), "no expires_at: kept");
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::from_millis(20));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(40), backoff(6), "bounded");
    }
}
