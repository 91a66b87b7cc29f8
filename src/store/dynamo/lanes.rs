//! Ordered write lanes: a write is a job sent to one of a few lanes, chosen by hashing what it
//! writes (the event, the key), and each lane applies its jobs one after the other. So two
//! writes of one item apply in the order they were issued, even detached (an audit row's
//! open then its close), while writes of different events go side by side.
//!
//! A lane is a plain thread that drives each job on the backend's runtime
//! ([`tokio::runtime::Handle::block_on`] is allowed there: the thread is in no runtime). Its
//! queue is bounded: a writer this far behind makes whoever writes next wait for room, so
//! memory stays bounded and nothing is dropped, as with the SQLite writer. Closing the lanes
//! applies everything queued, within a time limit.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;

/// How many lanes: enough for a crowd of events to write side by side, few enough that each
/// stays a cheap thread.
pub const LANES: usize = 8;
/// Jobs queued per lane at most.
pub const QUEUED_PER_LANE: usize = 1024;

/// A write, ready to run on the backend's runtime.
pub type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

pub struct Lanes {
    senders: Vec<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Jobs sent and not yet done: what a drop that runs out of time reports as lost.
    queued: Arc<AtomicUsize>,
    /// Set once closing ran out of time: the lanes drop what is left instead of applying it.
    abandon: Arc<AtomicBool>,
}

impl Lanes {
    pub fn start(rt: tokio::runtime::Handle) -> std::io::Result<Lanes> {
        let queued = Arc::new(AtomicUsize::new(0));
        let abandon = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::with_capacity(LANES);
        let mut threads = Vec::with_capacity(LANES);
        for i in 0..LANES {
            let (tx, rx) = sync_channel::<Job>(QUEUED_PER_LANE);
            let (rt, queued, abandon) = (rt.clone(), queued.clone(), abandon.clone());
            let thread = std::thread::Builder::new().name(format!("ottd-dynamo-lane-{i}")).spawn(move || {
                while let Ok(job) = rx.recv() {
                    if !abandon.load(Ordering::Relaxed) {
                        // A job that panics fails alone (its caller sees the writer gone).
                        if rt.block_on(AssertUnwindSafe(job()).catch_unwind()).is_err() {
                            tracing::error!("a DynamoDB write panicked");
                        }
                    }
                    queued.fetch_sub(1, Ordering::Relaxed);
                }
            })?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(Lanes { senders, threads, queued, abandon })
    }

    /// Queue `job` on the lane of `lane_key`; `false` if the lanes are closed.
    pub fn submit(&self, lane_key: &str, job: Job) -> bool {
        let mut h = DefaultHasher::new();
        lane_key.hash(&mut h);
        let lane = (h.finish() % self.senders.len().max(1) as u64) as usize;
        let Some(tx) = self.senders.get(lane) else { return false };
        self.queued.fetch_add(1, Ordering::Relaxed);
        if tx.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Queue one job per lane (each made by `make`): it runs once everything queued on its lane
    /// before it has been applied. `false` if the lanes are closed.
    pub fn on_every_lane(&self, mut make: impl FnMut() -> Job) -> bool {
        for tx in &self.senders {
            self.queued.fetch_add(1, Ordering::Relaxed);
            if tx.send(make()).is_err() {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }

    pub fn count(&self) -> usize {
        self.senders.len()
    }

    /// Apply everything queued, waiting at most `limit`; then give up on the rest and say
    /// how many writes were left.
    pub fn close(&mut self, limit: Duration) {
        self.senders.clear();
        let until = Instant::now() + limit;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.threads.iter().all(|t| t.is_finished()) {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
            return;
        }
        self.abandon.store(true, Ordering::Relaxed);
        tracing::error!(
            left = self.queued.load(Ordering::Relaxed),
            "DynamoDB writes still queued after {limit:?} at close: not applied"
        );
    }
}
