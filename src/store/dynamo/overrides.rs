//! Operator overrides (`OVERRIDE` / event) and known windows (`WINDOWS` / event) on DynamoDB.

use aws_sdk_dynamodb::types::{PutRequest, ReturnValue, WriteRequest};

use super::items::{get_s, get_time, key, opt_time, put_opt, s, Item};
use super::Dynamo;
use crate::lifecycle::OverrideKind;
use crate::store::{now, time_str, KnownWindow, Overrides, Result, StoreError, StoredOverride, Write};

pub(super) const PK: &str = "OVERRIDE";
pub(super) const WINDOWS: &str = "WINDOWS";

fn typed(item: &Item) -> Result<StoredOverride> {
    let kind = get_s(item, "kind", "overrides.kind")?;
    Ok(StoredOverride {
        event: get_s(item, "sk", "overrides.event")?,
        kind: OverrideKind::parse(&kind).ok_or(StoreError::Corrupt { what: "overrides.kind", value: kind })?,
        set_at: get_time(item, "set_at", "overrides.set_at")?,
        until: opt_time(item, "until", "overrides.until")?,
        by: get_s(item, "by", "overrides.by")?,
    })
}

impl Overrides for Dynamo {
    fn set_override(&self, o: &StoredOverride) -> Write<()> {
        let o = o.clone();
        self.write(&o.event.clone(), move |db| async move {
            let mut item = key(PK, &o.event);
            item.insert("kind".into(), s(o.kind.as_str()));
            item.insert("set_at".into(), s(time_str(o.set_at)));
            put_opt(&mut item, "until", o.until.map(time_str));
            item.insert("by".into(), s(o.by));
            db.put("PutItem (override)", item, None, vec![]).await.map(drop)
        })
    }

    fn clear_override(&self, event: &str) -> Write<bool> {
        let event = event.to_string();
        self.write(&event.clone(), move |db| async move {
            let out = db
                .client
                .delete_item()
                .table_name(&db.table)
                .set_key(Some(key(PK, &event)))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| db.err("DeleteItem (override)", &e))?;
            Ok(out.attributes.is_some_and(|a| !a.is_empty()))
        })
    }

    fn overrides(&self) -> Result<Vec<StoredOverride>> {
        self.read(|db| async move { db.query(PK, |q| q).await?.iter().map(typed).collect() })
    }

    fn override_of(&self, event: &str) -> Result<Option<StoredOverride>> {
        let event = event.to_string();
        self.read(|db| async move { db.get(PK, &event).await?.as_ref().map(typed).transpose() })
    }

    fn set_known_windows(&self, windows: Vec<(String, Vec<KnownWindow>)>) -> Write<()> {
        let at = now();
        self.write(WINDOWS, move |db| async move {
            let mut requests = Vec::with_capacity(windows.len());
            for (event, w) in &windows {
                let mut item = key(WINDOWS, event);
                item.insert("windows".into(), s(serde_json::to_string(w).unwrap_or_else(|_| "[]".into())));
                item.insert("recorded_at".into(), s(&at));
                let put =
                    PutRequest::builder().set_item(Some(item)).build().map_err(|e| db.build_err("PutRequest", e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            // One item per event: puts of one event never share a batch (BatchWriteItem
            // refuses two requests for one key), the last one given wins.
            let mut last: std::collections::HashMap<String, WriteRequest> = Default::default();
            for (r, (event, _)) in requests.into_iter().zip(&windows) {
                last.insert(event.clone(), r);
            }
            db.put_batch(last.into_values().collect()).await
        })
    }

    fn known_windows(&self, event: &str) -> Result<Vec<KnownWindow>> {
        let event = event.to_string();
        self.read(|db| async move {
            match db.get(WINDOWS, &event).await? {
                None => Ok(Vec::new()),
                Some(item) => {
                    let j = get_s(&item, "windows", "known_windows.windows")?;
                    serde_json::from_str(&j)
                        .map_err(|_| StoreError::Corrupt { what: "known_windows.windows", value: j })
                }
            }
        })
    }
}
