//! Starting reconciles: one task each, or a crowd run from one task per worker thread; and
//! one event's serialized passes, safe from a panic in any of them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use tracing::Instrument;

use super::{lock, Scheduler, Start, CROWD, SLICE};
use crate::daemon::actuator::Actuator;
use crate::ops::{ErrorKind, OpError};

impl<A: Actuator> Scheduler<A> {
    /// Start reconciles, each in a task of its own; a crowd from one task per worker thread,
    /// which runs every reconcile up to its first action, then every follow-up, and gives a
    /// task of its own only to those still waiting (on the engine): thousands of tasks that
    /// finish at once cost more than their work, mostly in the runtime's shared queues.
    pub(super) fn start_all(self: &Arc<Self>, start: Vec<Start>) {
        if start.len() < CROWD {
            for s in start {
                self.tracker.spawn(self.clone().run(s, false));
            }
            return;
        }
        let workers = tokio::runtime::Handle::current().metrics().num_workers().max(1);
        let chunk = start.len().div_ceil(workers).max(CROWD);
        let mut start = start;
        while !start.is_empty() {
            let rest = start.split_off(chunk.min(start.len()));
            let batch = std::mem::replace(&mut start, rest);
            let this = self.clone();
            self.tracker.spawn(async move {
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                // A reconcile that panics is reported by the panic hook and ends, as a task would.
                let mut poll = |task: &mut Pin<Box<dyn Future<Output = ()> + Send>>| {
                    std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx)))
                        .unwrap_or(Poll::Ready(()))
                };
                // A slice at a time, so a reload of thousands of events holds few futures at once.
                let mut batch = batch.into_iter().peekable();
                let mut waiting = Vec::with_capacity(SLICE);
                while batch.peek().is_some() {
                    let mut slice: Vec<Start> = batch.by_ref().take(SLICE).collect();
                    // One read of the slice's records instead of two per event.
                    let ids: Vec<&str> = slice.iter().map(|s| s.cell.id.as_str()).collect();
                    if let Some(mut seen) = this.actuator.read_many(&ids) {
                        for s in &mut slice {
                            s.seen = seen.remove(&s.cell.id);
                        }
                    }
                    for s in slice {
                        let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(this.clone().run(s, true));
                        if poll(&mut task).is_pending() {
                            waiting.push(task);
                        }
                    }
                    for mut task in waiting.drain(..) {
                        if poll(&mut task).is_pending() {
                            // Its first poll in the task registers the task's own waker.
                            this.tracker.spawn(task);
                        }
                    }
                }
            });
        }
    }

    /// One event's reconciles, serialized: again while another pass was asked for meanwhile.
    /// `crowd`: pause once after the first actions (see `start_all`).
    fn run(self: Arc<Self>, start: Start, crowd: bool) -> impl Future<Output = ()> + Send + 'static {
        let span = tracing::info_span!("reconcile", event = %start.cell.id);
        async move {
            let Start { cell, mut boundary, mut prepared, mut seen } = start;
            let mut pause = crowd;
            loop {
                let pass = self.reconcile_once(
                    &cell,
                    boundary.take(),
                    prepared.take(),
                    seen.take(),
                    std::mem::take(&mut pause),
                );
                // A panic in one pass must not leave the event marked running for good (it
                // would never be reconciled again): report it and retry as a failure.
                if let Err(panic) = AssertUnwindSafe(pass).catch_unwind().await {
                    let text = panic_text(&*panic);
                    tracing::error!("reconcile panicked: {text}");
                    self.decided(&cell);
                    let event = lock(&self.events).map.get(&cell.id).cloned();
                    match event {
                        Some(event) => {
                            let error = OpError::new(ErrorKind::Transient, format!("internal error (panic): {text}"));
                            self.failed(&cell, &event, "reconcile", &error, None);
                        }
                        None => self.schedule_at(&cell, None, false),
                    }
                }
                let mut slot = lock(&cell.slot);
                if slot.dirty {
                    slot.dirty = false;
                    boundary = slot.missed.take();
                    continue;
                }
                slot.missed = None;
                slot.running = false;
                break;
            }
        }
        .instrument(span)
    }
}

/// What a panic said, when it said something.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

/// Pending once (waking its task at once), then ready: lets the rest of a crowd act first.
pub(super) struct PauseOnce(pub(super) bool);

impl Future for PauseOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
