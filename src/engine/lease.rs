//! An event's lease as the engine holds it while it works: taken (or taken over from a holder
//! that stopped renewing), renewed in the background, and given back when the work is done.
//! The decisions are [`crate::lease`]'s; the records are the store's.
//!
//! Who bounds what: the renewal task belongs to its [`Lease`] and is aborted when the lease is
//! dropped (the work is over, or cancelled). When renewal fails past the renew deadline, or the
//! store says the lease has moved on, [`Lease::run`] cancels the work at once: nothing acting
//! under a lost lease goes on. A kill -9 leaves the record behind; others take it over after
//! one lease duration.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Engine, EngineError, Result};
use crate::lease::{contend, Contend, Held, LeaseSettings, Watch};
use crate::store::{Fence, Holder, Store};

/// The least time an irreversible call is given (plus the renewal margin) before it starts.
const MIN_CALL: Duration = Duration::from_secs(1);

/// Leases this process holds now (`ottd_leases_held`).
pub static HELD: AtomicI64 = AtomicI64::new(0);
/// Leases this process took over from a holder that stopped renewing (`ottd_lease_takeovers_total`).
pub static TAKEOVERS: AtomicU64 = AtomicU64::new(0);

/// How long an operation waits for a live holder's lease before it answers "busy" (a holder
/// that stopped renewing is waited for until the takeover, at most one lease duration).
fn patience(s: &LeaseSettings) -> Duration {
    s.duration + 2 * s.retry
}

/// What this process has seen of other holders' leases, by event: the version and since when,
/// on its own clock. Bounded by the number of events; an entry goes when the lease is taken.
#[derive(Default)]
pub struct Watches(Mutex<HashMap<String, (Watch, Duration)>>);

impl Watches {
    fn get(&self, event: &str) -> Option<(Watch, Duration)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(event).cloned()
    }

    fn set(&self, event: &str, w: Watch, d: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(event.to_string(), (w, d));
    }

    fn forget(&self, event: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(event);
    }
}

/// An event's lease, held while an operation works on the event.
pub struct Lease {
    fence: Fence,
    doing: String,
    held: Arc<Mutex<Held>>,
    lost: CancellationToken,
    renewer: tokio::task::JoinHandle<()>,
    store: Arc<Store>,
}

impl Lease {
    /// What every write of the event's state carries.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Run the work under the lease: it is dropped the moment the lease is lost.
    pub async fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            () = self.lost.cancelled() => Err(self.lost_error()),
            r = work => r,
        }
    }

    /// An irreversible AWS call (stop, delete, restart, input switch) under the lease: started
    /// only if more than a second and the renewal margin of the lease is surely left on this
    /// process's clock, and given no longer than what is left, so the call never outlives the
    /// lease. (A call that times out may still have been applied; the next holder's reconcile
    /// describes and sees.)
    pub async fn bounded<T>(&self, step: &str, call: impl Future<Output = T>) -> Result<T> {
        let held = *self.held.lock().unwrap_or_else(|p| p.into_inner());
        let margin = held.settings.retry;
        if self.lost.is_cancelled() || !held.may_start(Instant::now(), MIN_CALL) {
            tracing::warn!(event = %self.fence.event, term = self.fence.term, "not starting {step}: the lease may run out during it");
            return Err(self.lost_error());
        }
        let budget = held.left(Instant::now()).saturating_sub(margin);
        tokio::time::timeout(budget, call).await.map_err(|_| EngineError::Timeout {
            what: step.to_string(),
            want: "an answer within the lease",
            after: budget,
            last: "no answer".to_string(),
        })
    }

    fn lost_error(&self) -> EngineError {
        EngineError::LeaseLost { event: self.fence.event.clone(), term: self.fence.term, doing: self.doing.clone() }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        HELD.fetch_sub(1, Ordering::Relaxed);
        if !self.lost.is_cancelled() {
            // Queued, not waited for: the next holder need not wait out the lease.
            self.store.release_lease(&self.fence).detach();
        }
    }
}

/// Renew every `retry` until aborted; cancel `lost` when the lease has moved on or has not
/// been renewed within the renew deadline.
async fn renew(store: Arc<Store>, fence: Fence, held: Arc<Mutex<Held>>, lost: CancellationToken) {
    let s = held.lock().unwrap_or_else(|p| p.into_inner()).settings;
    loop {
        tokio::time::sleep(s.retry).await;
        let last = *held.lock().unwrap_or_else(|p| p.into_inner());
        let give_up_at = last.renewed + s.renew_deadline;
        let sent = Instant::now();
        if sent >= give_up_at {
            tracing::error!(event = %fence.event, term = fence.term, "lost the lease of {} at term {}: not renewed within {:?}; stopping its work", fence.event, fence.term, s.renew_deadline);
            lost.cancel();
            return;
        }
        match tokio::time::timeout_at(give_up_at, store.renew_lease(&fence).into_future()).await {
            Ok(Ok(Some(_))) => held.lock().unwrap_or_else(|p| p.into_inner()).renewed = sent,
            Ok(Ok(None)) => {
                let now = store.lease(&fence.event).ok().flatten();
                tracing::error!(
                    event = %fence.event, term = fence.term,
                    "lost the lease of {} at term {}: now {}; stopping its work",
                    fence.event, fence.term,
                    now.map(|r| format!("held by {} at term {}", r.holder, r.term)).unwrap_or_else(|| "gone".into())
                );
                lost.cancel();
                return;
            }
            Ok(Err(e)) => tracing::warn!(event = %fence.event, term = fence.term, "lease renewal failed: {e}"),
            Err(_) => {}
        }
    }
}

impl Engine {
    /// One holder at a time works on an event (daemons of a group, a CLI command, two tasks of
    /// one daemon). A free lease is taken at once; a held one is waited for, and taken over
    /// once its holder has not renewed it for a whole lease duration.
    pub(crate) async fn lease(&self, event: &str, doing: &str) -> Result<Lease> {
        let s = self.settings.lease;
        let started = Instant::now();
        let me = Holder::new(doing);
        loop {
            let now = Instant::now();
            let seen = self.watches.get(event).and_then(|(w, d)| match contend(Some(&w), &w.version, d, now) {
                Contend::TakeOver { seen } => Some(seen),
                Contend::Wait { .. } => None,
            });
            match self.store.acquire_lease(event, &me, s.duration, seen.as_deref()).await? {
                Ok(grant) => {
                    self.watches.forget(event);
                    if let Some(from) = &grant.took_over {
                        TAKEOVERS.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            event,
                            term = grant.fence.term,
                            "took over the lease of {event} from {from} (not renewed for {:?}) at term {}",
                            s.duration,
                            grant.fence.term
                        );
                    }
                    HELD.fetch_add(1, Ordering::Relaxed);
                    let held = Arc::new(Mutex::new(Held { renewed: now, settings: s }));
                    let lost = CancellationToken::new();
                    let renewer =
                        tokio::spawn(renew(self.store.clone(), grant.fence.clone(), held.clone(), lost.clone()));
                    return Ok(Lease {
                        fence: grant.fence,
                        doing: doing.to_string(),
                        held,
                        lost,
                        renewer,
                        store: self.store.clone(),
                    });
                }
                Err(record) => {
                    let d = Duration::from_millis(record.duration_ms).max(Duration::from_millis(1));
                    let before = self.watches.get(event).map(|(w, _)| w);
                    let now = Instant::now();
                    let (after, stalled) = match contend(before.as_ref(), &record.version, d, now) {
                        Contend::TakeOver { .. } => (Duration::ZERO, true),
                        Contend::Wait { after, watch } => {
                            // Not renewed for two of our retries: its holder looks gone, and
                            // the takeover is due within `after`; keep waiting for it.
                            let stalled = now.saturating_duration_since(watch.since) >= 2 * s.retry;
                            self.watches.set(event, watch, d);
                            (after, stalled)
                        }
                    };
                    if started.elapsed() >= patience(&s) && !stalled {
                        return Err(EngineError::Busy {
                            event: event.to_string(),
                            holder: record.instance().to_string(),
                            doing: record.doing,
                            term: record.term,
                        });
                    }
                    tokio::time::sleep(after.min(s.retry)).await;
                }
            }
        }
    }
}
