//! The shared backend: one DynamoDB table for a group of daemons on several hosts, with the
//! same behaviour as [`super::sqlite`] (the conformance suite, `tests/store_conformance.rs`,
//! runs the same scenarios on both).
//!
//! # Table
//! One table, string keys `pk` (partition) and `sk` (sort), on-demand billing, point-in-time
//! recovery, TTL on the Number attribute `expires_at` (epoch seconds). TTL deletes late or
//! never (within days on AWS; never on the emulator), so reads treat an item whose
//! `expires_at` has passed as absent.
//!
//! | pk | sk | holds |
//! |---|---|---|
//! | `DEPLOYMENT` | event | nonce, phase, phase_since, last_error, updated_at (small: read often) |
//! | `PLAN` | event | plan_json (kilobytes: read when a deployment is read whole) |
//! | `RESOURCE#<event>` | resource key | kind, name, status, aws_id, arn, attrs (JSON), updated_at, `seq` (first write: the SQL rowid's order) |
//! | `STEP#<len>#<event>#<step>` | micros·1000 + n, 20 digits (the order written) | event, step, outcome, detail, duration_ms, at (`len`: the event id's length, so no id can make two partitions one) |
//! | `LEASE` | event | holder (empty once released), doing, term, version, duration_ms, renewed_at |
//! | `OVERRIDE` | event | kind, set_at, until, by |
//! | `WINDOWS` | event | windows (JSON), recorded_at |
//! | `AUDIT#<yyyy-mm-dd>` | `<micros, 20 digits>#<audit key>` | the audit row; `id` from the `audit` counter (the SQL id's order); day buckets so no partition grows without end |
//! | `ALERT` | id, 20 digits | the alert row, `last_time`; `id` from the `alert` counter |
//! | `ALERTKEY` | `<channel>#<pipeline>#<alarm id>` | `id`: the latest alert of that key (what a new SET or CLEARED is compared with) |
//! | `ENVELOPE` | envelope id | at, `expires_at` (7 days) |
//! | `QUARANTINE` | source | at, body, error |
//! | `REQUEST` | id, 20 digits | the chat request (its expiry as `expires_at_time`: `expires_at` would have TTL delete it); `id` from the `request` counter |
//! | `SEEN` | key | at, `expires_at` (at + [`super::seen::SEEN_TTL`]) |
//! | `CHANNEL` | MediaLive channel id | event, key: the resource that last recorded it (what an alert's channel belongs to) |
//! | `LIVE#<len>#<event>#<nonce>` | counter, 10 digits | a live-control command: event, nonce, counter, state, body, by, at, updated_at, detail |
//! | `LIVECOUNTER` | `<len>#<event>#<nonce>` | event, nonce, `n`: the last counter value that deployment's commands took (set by compare-and-set in the command's fenced transaction) |
//! | `META` | key | value |
//! | `COUNTER` | name | `n`, grown by an atomic ADD |
//!
//! # Reads and writes
//! Every read that decides anything is strongly consistent; queries and scans are paginated.
//! Writes go through ordered [`lanes`]: writes of one event (or one key) apply in the order
//! they were issued, detached or not; [`Meta::flush`] waits for every lane. Lease renewals
//! alone skip the lanes: one due before its deadline must not wait behind other events'
//! writes, and it needs no order (its fence comes from a grant already applied; a release
//! queued before it still applies after it, leaving the lease released). The fenced writes
//! are transactions whose first action checks the event's lease item (holder and term): a
//! deposed holder writes nothing and gets [`StoreError::Fenced`].
//!
//! The SDK runs on a small runtime of this backend's own, so the sync reads of the store's
//! interface can block on it from any thread, inside another runtime or not (a current-thread
//! runtime included), without `block_on` of the caller's runtime (which panics there).
//!
//! Layout: [`items`] (keys, attributes, shared calls), [`lanes`] (ordered writes), one file
//! per trait: [`leases`], [`deployments`] (and the step log), [`overrides`], [`audit`],
//! [`alerts`], [`requests`], [`seen`], [`live`]; [`transfer`] (`ottd state export` / `import`).

pub mod alerts;
pub mod audit;
pub mod deployments;
pub mod items;
pub mod lanes;
pub mod leases;
pub mod live;
pub mod overrides;
pub mod requests;
pub mod seen;
pub mod transfer;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use futures::channel::oneshot;

use self::items::{get_s, s, Db};
use self::lanes::Lanes;
use super::{Backend, Meta, Result, StoreError, Write};

/// How long a dropped backend waits for its queued writes.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);
/// How long `create_table` waits for a new table to become ACTIVE.
const ACTIVE_LIMIT: Duration = Duration::from_secs(300);

/// The DynamoDB backend (see the module doc).
pub struct Dynamo {
    db: Arc<Db>,
    lanes: Lanes,
    /// Runs every SDK call. Shut down in the background on drop: dropping a runtime inside
    /// another one's async context panics.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Dynamo {
    /// The backend on `table`, which `ottd bootstrap` created ([`create_table`]).
    pub async fn open(conf: &aws_config::SdkConfig, table: &str) -> Result<Dynamo> {
        let dynamo = Dynamo::start(conf, table)?;
        let db = dynamo.db.clone();
        let described = dynamo.run(async move {
            match db.client.describe_table().table_name(&db.table).send().await {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => Err(StoreError::Dynamo {
                    table: db.table.clone(),
                    message: "no such table: run `ottd bootstrap` to create it".to_string(),
                }),
                Err(e) => Err(db.err("DescribeTable", &e)),
            }
        });
        described.await?;
        Ok(dynamo)
    }

    /// The backend's runtime, client and lanes, before anything is sent.
    fn start(conf: &aws_config::SdkConfig, table: &str) -> Result<Dynamo> {
        let fail = |what: &str, e: std::io::Error| StoreError::Dynamo {
            table: table.to_string(),
            message: format!("cannot start the backend's {what}: {e}"),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ottd-dynamo")
            .enable_all()
            .build()
            .map_err(|e| fail("runtime", e))?;
        let lanes = match Lanes::start(runtime.handle().clone()) {
            Ok(l) => l,
            Err(e) => {
                runtime.shutdown_background();
                return Err(fail("write lanes", e));
            }
        };
        let db = Arc::new(Db { client: Client::new(conf), table: table.to_string() });
        Ok(Dynamo { db, lanes, runtime: Some(runtime) })
    }

    /// Run `fut` on the backend's runtime; the answer can be awaited from any runtime.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        if let Some(rt) = &self.runtime {
            rt.spawn(async move {
                let _ = tx.send(fut.await);
            });
        }
        // A oneshot, not the JoinHandle: awaiting that inside another runtime's task spends
        // that task's coop budget, and a blocked thread could spin on an empty one.
        async move { rx.await.unwrap_or(Err(StoreError::WriterGone)) }
    }

    /// A read for the store's sync interface: run on the backend's runtime, this thread waits.
    fn read<T: Send + 'static, F: Future<Output = Result<T>> + Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Db>) -> F,
    ) -> Result<T> {
        futures::executor::block_on(self.run(f(self.db.clone())))
    }

    /// A write on the lane of `lane_key`, applied after every write queued there before it.
    fn write<T: Send + 'static, F: Future<Output = Result<T>> + Send + 'static>(
        &self,
        lane_key: &str,
        f: impl FnOnce(Arc<Db>) -> F + Send + 'static,
    ) -> Write<T> {
        let (tx, rx) = oneshot::channel();
        let db = self.db.clone();
        let job: lanes::Job = Box::new(move || {
            Box::pin(async move {
                let r = f(db).await;
                match &r {
                    Err(e @ StoreError::Fenced { .. }) => tracing::debug!("state write refused: {e}"),
                    Err(e) => tracing::warn!("state write failed: {e}"),
                    Ok(_) => {}
                }
                let _ = tx.send(r);
            })
        });
        if self.lanes.submit(lane_key, job) {
            Write::pending(rx)
        } else {
            Write::failed(StoreError::WriterGone)
        }
    }

    /// A write that must not wait behind queued ones (a lease renewal, due before its
    /// deadline whatever the lanes hold): run at once, in no order with other writes.
    fn write_now<T: Send + 'static>(&self, fut: impl Future<Output = Result<T>> + Send + 'static) -> Write<T> {
        let (tx, rx) = oneshot::channel();
        let Some(rt) = &self.runtime else { return Write::failed(StoreError::WriterGone) };
        rt.spawn(async move {
            let r = fut.await;
            if let Err(e) = &r {
                tracing::warn!("state write failed: {e}");
            }
            let _ = tx.send(r);
        });
        Write::pending(rx)
    }
}

impl Drop for Dynamo {
    fn drop(&mut self) {
        self.lanes.close(CLOSE_LIMIT);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Create the table ottd's group shares, if missing (`ottd bootstrap`): on-demand billing,
/// keys `pk`/`sk`, then point-in-time recovery and TTL on `expires_at`. `true` if it created
/// it. Safe to run again, and by two at once.
pub async fn create_table(conf: &aws_config::SdkConfig, table: &str) -> Result<bool> {
    let db = Db { client: Client::new(conf), table: table.to_string() };
    let c = &db.client;
    let created = match c.describe_table().table_name(table).send().await {
        Ok(_) => false,
        Err(e) if e.code() == Some("ResourceNotFoundException") => {
            let attr = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| db.build_err("CreateTable", e))
            };
            let key = |name: &str, kind| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .map_err(|e| db.build_err("CreateTable", e))
            };
            let sent = c
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr("pk")?)
                .attribute_definitions(attr("sk")?)
                .key_schema(key("pk", KeyType::Hash)?)
                .key_schema(key("sk", KeyType::Range)?)
                .send()
                .await;
            match sent {
                Ok(_) => true,
                // Another bootstrap created it meanwhile.
                Err(e) if e.code() == Some("ResourceInUseException") => false,
                Err(e) => return Err(db.err("CreateTable", &e)),
            }
        }
        Err(e) => return Err(db.err("DescribeTable", &e)),
    };
    let until = std::time::Instant::now() + ACTIVE_LIMIT;
    loop {
        let d = c.describe_table().table_name(table).send().await.map_err(|e| db.err("DescribeTable", &e))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        if std::time::Instant::now() > until {
            return Err(StoreError::Dynamo {
                table: table.to_string(),
                message: format!("not ACTIVE after {ACTIVE_LIMIT:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(|e| db.build_err("UpdateContinuousBackups", e))?;
    c.update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .map_err(|e| db.err("UpdateContinuousBackups", &e))?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires_at")
        .build()
        .map_err(|e| db.build_err("UpdateTimeToLive", e))?;
    match c.update_time_to_live().table_name(table).time_to_live_specification(ttl).send().await {
        Ok(_) => {}
        // TTL already on (or being turned on: AWS refuses a second change within the hour).
        Err(e) if e.code() == Some("ValidationException") => {}
        Err(e) => return Err(db.err("UpdateTimeToLive", &e)),
    }
    Ok(created)
}

impl Meta for Dynamo {
    fn flush(&self) -> Write<()> {
        let (tx, rx) = oneshot::channel::<Result<()>>();
        // The last lane to reach its marker answers.
        let left = Arc::new(Mutex::new((self.lanes.count(), Some(tx))));
        let sent = self.lanes.on_every_lane(|| {
            let left = left.clone();
            Box::new(move || {
                Box::pin(async move {
                    let mut l = left.lock().unwrap_or_else(|p| p.into_inner());
                    l.0 = l.0.saturating_sub(1);
                    if l.0 == 0 {
                        if let Some(tx) = l.1.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                })
            })
        });
        if sent {
            Write::pending(rx)
        } else {
            Write::failed(StoreError::WriterGone)
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(|db| async move {
            db.get("META", &key).await?.map(|item| get_s(&item, "value", "meta.value")).transpose()
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Write<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(&format!("META#{key}"), move |db| async move {
            let mut item = items::key("META", &key);
            item.insert("value".into(), s(value));
            db.client
                .put_item()
                .table_name(&db.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| db.err("PutItem (meta)", &e))?;
            Ok(())
        })
    }

    fn meta_or_insert(&self, key: &str, value: &str) -> Write<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(&format!("META#{key}"), move |db| async move {
            let mut item = items::key("META", &key);
            item.insert("value".into(), s(value.clone()));
            let put = db
                .client
                .put_item()
                .table_name(&db.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match put {
                Ok(_) => Ok(value),
                // Another process wrote it first: theirs stands.
                Err(e) if Db::condition_failed(&e) => match db.get("META", &key).await? {
                    Some(item) => get_s(&item, "value", "meta.value"),
                    None => Err(StoreError::Corrupt { what: "meta", value: format!("{key} vanished after a write") }),
                },
                Err(e) => Err(db.err("PutItem (meta)", &e)),
            }
        })
    }
}

/// How often a daemon on the table looks for overrides other daemons wrote and refreshes its
/// phase metrics: two queries each time, for every daemon of the group.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(30);

impl Backend for Dynamo {
    fn poll_interval(&self) -> std::time::Duration {
        POLL
    }
}
