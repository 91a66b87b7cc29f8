//! Requests already taken (`SEEN` / key) on DynamoDB: a conditional put, so of two copies
//! arriving at once (at two daemons, even) exactly one is first. Each key carries
//! `expires_at` = its time + [`SEEN_TTL`]; an expired key counts as absent whether or not
//! DynamoDB's TTL has deleted it yet.

use chrono::{DateTime, Utc};

use super::items::{expired, expires_at, get_s, key, n, s, Db};
use super::Dynamo;
use crate::store::seen::SEEN_TTL;
use crate::store::{time_str, Result, Seen, Write};

pub(super) const PK: &str = "SEEN";

/// Put `pk`/`sk` (with `at` and `expires_at`) unless a live one is there: `true` if put.
pub(super) async fn first(db: &Db, pk: &str, sk: &str, at: DateTime<Utc>, ttl: chrono::Duration) -> Result<bool> {
    let mut item = key(pk, sk);
    item.insert("at".into(), s(time_str(at)));
    item.insert("expires_at".into(), expires_at(at + ttl));
    db.put(
        "PutItem (first sighting)",
        item,
        Some("attribute_not_exists(pk) OR expires_at <= :now"),
        vec![(":now", n(Utc::now().timestamp()))],
    )
    .await
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(SEEN_TTL).unwrap_or(chrono::Duration::days(1))
}

impl Seen for Dynamo {
    fn first_sighting(&self, key: &str, at: DateTime<Utc>) -> Write<bool> {
        let k = key.to_string();
        self.write(&format!("{PK}#{k}"), move |db| async move { first(&db, PK, &k, at, ttl()).await })
    }

    fn sighted(&self, key: &str) -> Result<bool> {
        let k = key.to_string();
        self.read(|db| async move { Ok(db.get(PK, &k).await?.is_some_and(|i| !expired(&i))) })
    }

    fn sightings_prune(&self, now: DateTime<Utc>) -> Write<usize> {
        let before = time_str(now - ttl());
        self.write(PK, move |db| async move {
            let items = db
                .query(PK, |q| q.projection_expression("pk, sk, #at").expression_attribute_names("#at", "at"))
                .await?;
            let mut gone = Vec::new();
            for item in items {
                if get_s(&item, "at", "seen.at")? < before {
                    gone.push(key(PK, get_s(&item, "sk", "seen.key")?));
                }
            }
            db.delete_keys(gone).await
        })
    }
}
