//! The daemon's cron jobs, run by tokio-cron-scheduler: today the state file's upkeep at a
//! cron time (UTC). A job only tells the main loop; the loop does the work, so nothing here
//! touches the scheduler or the state file. Running one twice is harmless.
//!
//! What tokio-cron-scheduler does not do here, and why (its 0.15 source and issue tracker):
//! - phase boundaries: it looks at its jobs every 500 ms, and a boundary must fire within
//!   milliseconds; the scheduler's own timer queue does that, with croner (the cron engine
//!   tokio-cron-scheduler uses) reading the schedules' expressions in their IANA zones;
//! - the resync: a repeated job can stop for good when its next tick falls into the past under
//!   load (issue #113), and the resync is the safety net; it is a tokio interval in the loop.
//!
//! Jobs are in UTC because a time-zoned job keeps the offset it was created with (#107).

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// What a job asks of the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chore {
    /// Prune the step log, checkpoint the state file.
    Upkeep,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the daemon's periodic jobs: {0}")]
pub struct HousekeepingError(#[from] JobSchedulerError);

pub struct Housekeeping {
    jobs: JobScheduler,
    chores: mpsc::Receiver<Chore>,
}

/// A job that sends `chore` and never waits: a main loop that is busy misses nothing it
/// would not do at the next chore of the same kind anyway.
fn send(tx: &mpsc::Sender<Chore>, chore: Chore) -> impl std::future::Future<Output = ()> + Send + 'static {
    let tx = tx.clone();
    async move {
        let _ = tx.try_send(chore);
    }
}

impl Housekeeping {
    /// Start the jobs: the upkeep at the cron expression `upkeep` (6 fields, UTC; checked
    /// when the settings were read).
    pub async fn start(upkeep: &str) -> Result<Housekeeping, HousekeepingError> {
        let (tx, chores) = mpsc::channel(4);
        let jobs = JobScheduler::new().await?;
        jobs.add(Job::new_async_tz(upkeep, chrono::Utc, move |_, _| Box::pin(send(&tx, Chore::Upkeep)))?).await?;
        jobs.start().await?;
        Ok(Housekeeping { jobs, chores })
    }

    /// The next chore; cancel-safe, so the main loop `select!`s it.
    pub async fn next(&mut self) -> Option<Chore> {
        self.chores.recv().await
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.jobs.shutdown().await {
            tracing::warn!("stopping the periodic jobs: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    #[tokio::test]
    async fn the_upkeep_job_fires_at_its_cron_times() {
        let mut hk = Housekeeping::start("* * * * * *").await.expect("jobs start");
        for _ in 0..2 {
            let chore = tokio::time::timeout(Duration::from_secs(5), hk.next()).await.expect("a chore within 5 s");
            assert_eq!(chore, Some(Chore::Upkeep));
        }
        hk.stop().await;
    }

    #[tokio::test]
    async fn the_upkeep_job_waits_for_its_time() {
        // 1 January at midnight: not during this test.
        let mut hk = Housekeeping::start("0 0 0 1 1 *").await.expect("jobs start");
        assert!(tokio::time::timeout(Duration::from_millis(1500), hk.next()).await.is_err(), "no chore yet");
        hk.stop().await;
    }
}
