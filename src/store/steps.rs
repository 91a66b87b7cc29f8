//! The step log: one row per engine step with its outcome and duration (the adaptive
//! lead-time check reads it), and the state file's upkeep.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::sqlite::Sqlite;
use super::{now, time_str, Fence, Result, Write};

/// The step log (durations for estimates) and the state's upkeep.
pub trait Steps {
    /// Log a step of the event `fence` holds the lease of.
    fn log_step(&self, fence: &Fence, step: &str, outcome: &str, detail: Option<&str>, ms: u128) -> Write<()>;
    /// Durations (ms) of the last `limit` successful runs of `step` for `event`, newest first.
    fn step_durations(&self, event: &str, step: &str, limit: usize) -> Result<Vec<u64>>;
    /// Forget step log rows from before `before`, except each event's latest `keep` successful
    /// runs of each step (the adaptive lead-time check reads those). Returns how many went.
    fn prune_step_log(&self, before: DateTime<Utc>, keep: usize) -> Write<usize>;
    /// Fold the write-ahead log into the database file and refresh the query planner's
    /// statistics.
    fn checkpoint(&self) -> Write<()>;
}

impl Steps for Sqlite {
    fn log_step(&self, fence: &Fence, step: &str, outcome: &str, detail: Option<&str>, ms: u128) -> Write<()> {
        let (event, step, outcome, detail) =
            (fence.event.clone(), step.to_string(), outcome.to_string(), detail.map(str::to_string));
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self.write_fenced(fence, move |c| {
            c.prepare_cached(
                "INSERT INTO step_log (event, step, outcome, detail, duration_ms, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![event, step, outcome, detail, ms, now()])
            .map(drop)
        })
    }

    fn step_durations(&self, event: &str, step: &str, limit: usize) -> Result<Vec<u64>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT duration_ms FROM step_log WHERE event = ?1 AND step = ?2 AND outcome = 'ok'
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(params![event, step, limit as i64], |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|v| v.max(0) as u64)).collect()
        })
    }

    fn prune_step_log(&self, before: DateTime<Utc>, keep: usize) -> Write<usize> {
        let before = time_str(before);
        self.write(move |c| {
            c.execute(
                "DELETE FROM step_log WHERE at < ?1 AND id NOT IN (
                     SELECT id FROM (
                         SELECT id, ROW_NUMBER() OVER (PARTITION BY event, step ORDER BY id DESC) AS n
                         FROM step_log WHERE outcome = 'ok'
                     ) WHERE n <= ?2
                 )",
                params![before, keep as i64],
            )
        })
    }

    fn checkpoint(&self) -> Write<()> {
        self.write_alone(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            c.execute_batch("PRAGMA optimize")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    #[test]
    fn upkeep_prunes_old_step_log_rows_but_keeps_the_latest_successes_of_each_step() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("ottd.db")).expect("open");
        for i in 0..5 {
            store.log_step(&store.test_fence("final"), "start", "ok", None, 1000 + i).wait().expect("log");
        }
        store.log_step(&store.test_fence("final"), "start", "error", Some("boom"), 5).wait().expect("log");
        store.log_step(&store.test_fence("final"), "deploy", "ok", None, 9000).wait().expect("log");
        store.log_step(&store.test_fence("semi"), "start", "ok", None, 2000).wait().expect("log");
        let count =
            || store.sqlite().with(|c| c.query_row("SELECT COUNT(*) FROM step_log", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count().expect("n"), 8);
        // Nothing is older than an hour ago.
        assert_eq!(store.prune_step_log(Utc::now() - chrono::Duration::hours(1), 2).wait().expect("prune"), 0);
        // Everything is older than an hour from now: keep the latest 2 successes per step.
        assert_eq!(store.prune_step_log(Utc::now() + chrono::Duration::hours(1), 2).wait().expect("prune"), 4);
        assert_eq!(store.step_durations("final", "start", 20).expect("q").len(), 2);
        let mut kept = store.step_durations("final", "start", 20).expect("q");
        kept.sort_unstable();
        assert_eq!(kept, vec![1003, 1004], "the latest two starts stay");
        assert_eq!(store.step_durations("final", "deploy", 20).expect("q"), vec![9000]);
        assert_eq!(store.step_durations("semi", "start", 20).expect("q"), vec![2000]);
        store.checkpoint().wait().expect("checkpoint");
        assert_eq!(count().expect("n"), 4);
    }
}
