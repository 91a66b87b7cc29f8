//! Requests already taken from the outside, by a key naming their source and id, so that a
//! replay or a redelivery does nothing twice, even across a restart: Slack request signatures,
//! trigger ids and Socket Mode envelope ids, Discord interaction ids, SNS MessageIds. A key is
//! kept for [`SEEN_TTL`], far longer than any window in which its request is still accepted
//! (5 minutes for chat, an hour for SNS), so pruning never lets a replay through.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::sqlite::Sqlite;
use super::{time_str, Result, Write};

/// How long a key is kept (the daily upkeep prunes older ones).
pub const SEEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Requests already taken (see the module doc).
pub trait Seen {
    /// Note `key` as taken at `at`: `true` the first time, `false` when it was already taken
    /// (a replay). One atomic insert, so of two copies arriving at once exactly one is first.
    fn first_sighting(&self, key: &str, at: DateTime<Utc>) -> Write<bool>;
    /// Whether `key` was taken.
    fn sighted(&self, key: &str) -> Result<bool>;
    /// Forget keys taken more than [`SEEN_TTL`] before `now` (the daily upkeep).
    fn sightings_prune(&self, now: DateTime<Utc>) -> Write<usize>;
}

impl Seen for Sqlite {
    fn first_sighting(&self, key: &str, at: DateTime<Utc>) -> Write<bool> {
        let key = key.to_string();
        self.write(move |c| {
            let n = c
                .prepare_cached("INSERT OR IGNORE INTO seen_requests (key, at) VALUES (?1, ?2)")?
                .execute(params![key, time_str(at)])?;
            Ok(n == 1)
        })
    }

    fn sighted(&self, key: &str) -> Result<bool> {
        let found: Option<i64> = self.with(|c| {
            c.prepare_cached("SELECT 1 FROM seen_requests WHERE key = ?1")?
                .query_row(params![key], |r| r.get(0))
                .optional()
        })?;
        Ok(found.is_some())
    }

    fn sightings_prune(&self, now: DateTime<Utc>) -> Write<usize> {
        let before = now - chrono::Duration::from_std(SEEN_TTL).unwrap_or(chrono::Duration::days(1));
        self.write(move |c| c.execute("DELETE FROM seen_requests WHERE at < ?1", params![time_str(before)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    #[tokio::test]
    async fn a_key_is_first_once_and_pruned_after_its_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("s.db")).expect("store");
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert!(store.first_sighting("slack:sig:v0=ab", now).await.expect("first"));
        assert!(!store.first_sighting("slack:sig:v0=ab", now).await.expect("again"), "a replay");
        assert!(store.sighted("slack:sig:v0=ab").expect("read"));
        assert!(!store.sighted("discord:1").expect("read"));
        let day = chrono::Duration::days(1);
        assert_eq!(store.sightings_prune(now + day).await.expect("prune"), 0, "kept for a day");
        assert_eq!(store.sightings_prune(now + day + chrono::Duration::seconds(1)).await.expect("prune"), 1);
        assert!(!store.sighted("slack:sig:v0=ab").expect("read"));
    }
}
