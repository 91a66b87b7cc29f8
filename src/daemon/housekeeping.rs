//! The daemon's periodic jobs, run by tokio-cron-scheduler: the resync (every event reconciled
//! whatever the timer queue says, the safety net of a level-triggered daemon) and the state
//! file's upkeep at a cron time. A job only tells the main loop; the loop does the work, so
//! nothing here touches the scheduler or the state file.
//!
//! Phase boundaries are not jobs here: tokio-cron-scheduler looks at its jobs every 500 ms,
//! and a boundary must fire within milliseconds. The scheduler's own timer queue does that
//! (with croner, the same cron engine, reading the schedules' expressions).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// What a job asks of the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chore {
    /// Reconcile every event.
    Resync,
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
    /// Start the jobs: a resync every `resync`, the upkeep at the cron expression `upkeep`
    /// (6 fields, UTC; checked when the settings were read).
    pub async fn start(resync: Duration, upkeep: &str) -> Result<Housekeeping, HousekeepingError> {
        let (tx, chores) = mpsc::channel(4);
        let jobs = JobScheduler::new().await?;
        let resync_tx = tx.clone();
        jobs.add(Job::new_repeated_async(resync, move |_, _| Box::pin(send(&resync_tx, Chore::Resync)))?).await?;
        let upkeep_tx = tx;
        jobs.add(Job::new_async_tz(upkeep, chrono::Utc, move |_, _| Box::pin(send(&upkeep_tx, Chore::Upkeep)))?)
            .await?;
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

    #[tokio::test]
    async fn the_resync_job_asks_again_and_again_and_the_upkeep_waits_for_its_time() {
        // Upkeep on 1 January at midnight: not during this test.
        let mut hk = Housekeeping::start(Duration::from_secs(1), "0 0 0 1 1 *").await.expect("jobs start");
        for _ in 0..2 {
            let chore = tokio::time::timeout(Duration::from_secs(5), hk.next()).await.expect("a chore within 5 s");
            assert_eq!(chore, Some(Chore::Resync));
        }
        hk.stop().await;
    }

    #[tokio::test]
    async fn the_upkeep_job_fires_at_its_cron_time() {
        let mut hk = Housekeeping::start(Duration::from_secs(3600), "* * * * * *").await.expect("jobs start");
        let chore = tokio::time::timeout(Duration::from_secs(5), hk.next()).await.expect("a chore within 5 s");
        assert_eq!(chore, Some(Chore::Upkeep));
        hk.stop().await;
    }
}
